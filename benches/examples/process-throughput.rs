//! Processing throughput, Kafka → ClickHouse: `vtrack process` against a raw consume-and-insert baseline built
//! from the same parts (the same consumer, the same ClickHouse insert of `events`, commit after insert), on
//! the same pre-filled topic.
//!
//!   cargo build --release -p vtrack
//!   cargo run --release -p vtrack-benches --example process-throughput -- [--events 200000]
//!
//! Starts tansu and ClickHouse with `deploy/`, fills a topic with enriched events (visitors and companies
//! drawn from the fixture networks, business and ISP alike), then times each consumer in its steady state:
//! from the moment a fifth of the events are stored to the last one. The first fifth is left out for both
//! because it is dominated by start-up: joining the group and tansu's first fetches of a large backlog
//! (about 2 s for the first 40,000 events, whatever the consumer does with them). The baseline does no
//! sessionizing, no session or account recomputation and no scoring: the ratio is what vtrack's processing
//! costs on top of moving the events.

use anyhow::{bail, Context};
use std::time::{Duration, Instant};
use vtrack_model::event::{CompanyInfo, Utm};
use vtrack_model::{EnrichedEvent, NetworkClass};
use vtrack_process::{EventRow, EventStore};
use vtrack_store::{ClickHouseStore, ClickHouseUrl};

const BROKERS: &str = "127.0.0.1:19092";
const CLICKHOUSE: &str = "http://127.0.0.1:18123";

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script(name: &str) -> anyhow::Result<()> {
    let ok = std::process::Command::new("bash").arg(root().join("deploy").join(name)).arg("start").status()?;
    if !ok.success() {
        bail!("deploy/{name} start failed");
    }
    Ok(())
}

/// A deterministic stream: 2,000 visitors, each on one network, with page views a few seconds apart.
fn events(n: usize, now_ms: i64) -> Vec<EnrichedEvent> {
    let companies = [
        ("Acme Robotics", "acme-robotics.example", NetworkClass::Business),
        ("Globex", "globex.example", NetworkClass::Business),
        ("Initech", "initech.example", NetworkClass::Business),
        ("Northwind University", "as64504", NetworkClass::Education),
        ("Example Broadband", "as64500", NetworkClass::Isp),
        ("Example Cloud", "as64501", NetworkClass::Hosting),
    ];
    let paths = ["/", "/pricing", "/docs/setup", "/blog/post", "/demo", "/products/fleet"];
    (0..n)
        .map(|i| {
            let v = i % 2_000;
            let (name, domain, class) = companies[v % companies.len()];
            let path = paths[i % paths.len()];
            EnrichedEvent {
                event_id: format!("pt-{i}"),
                site: "s1".into(),
                ts_ms: now_ms - 3_600_000 + (i as i64) * 10,
                received_ms: now_ms,
                kind: "pageview".into(),
                visitor_id: format!("v{v}"),
                url: format!("https://www.example.com{path}"),
                path: path.into(),
                title: "T".into(),
                utm: Utm::default(),
                company: CompanyInfo {
                    company_name: name.into(),
                    company_domain: domain.into(),
                    network_class: class,
                    country: "DE".into(),
                    ..Default::default()
                },
                ..Default::default()
            }
        })
        .collect()
}

async fn fill(topic: &str, events: Vec<EnrichedEvent>) -> anyhow::Result<()> {
    let publisher = vtrack_bus::kafka::publisher(&vtrack_bus::kafka::ProducerOptions {
        brokers: BROKERS.into(),
        topic: topic.into(),
        max_in_flight: 1_000_000,
        delivery_timeout: Duration::from_secs(60),
    })?;
    for chunk in events.chunks(1_000) {
        loop {
            match publisher.publish_all(chunk.to_vec()).await {
                Ok(()) => break,
                Err(vtrack_bus::PublishError::Full) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => bail!("publish: {e}"),
            }
        }
    }
    if let vtrack_bus::Publisher::Kafka(p) = &publisher {
        let p = p.clone();
        let left = tokio::task::spawn_blocking(move || p.close_and_flush(Duration::from_secs(120))).await?;
        if left > 0 {
            bail!("{left} events not delivered to the topic");
        }
    }
    Ok(())
}

/// Consume-and-insert: the same consumer and ClickHouse insert vtrack uses, nothing else.
async fn baseline(topic: &str, db: &str, n: usize) -> anyhow::Result<f64> {
    let url: ClickHouseUrl = format!("{CLICKHOUSE}/{db}").parse()?;
    let mut store = ClickHouseStore::new(&url);
    store.migrate().await?;
    let mut bus = vtrack_bus::kafka::subscriber(&vtrack_bus::kafka::ConsumerOptions {
        brokers: BROKERS.into(),
        topic: topic.into(),
        group: format!("{db}-raw"),
    })?;
    let (mut seen, mut start) = (0, None);
    while seen < n {
        let Some(batch) = bus.next_batch(10_000, Duration::from_millis(100)).await else { break };
        let rows: Vec<EventRow<'_>> =
            batch.events.iter().map(|e| EventRow { event: e, session_id: &e.event_id, is_return: false }).collect();
        store.insert_events(&rows).await?;
        seen += batch.events.len();
        bus.ack(batch).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if seen >= steady_from(n) && start.is_none() {
            start = Some((Instant::now(), seen));
        }
    }
    Ok(start.map_or(f64::NAN, |(at, from)| (n - from) as f64 / at.elapsed().as_secs_f64()))
}

/// How many events are stored before the clock starts.
fn steady_from(n: usize) -> usize {
    n / 5
}

/// `vtrack process` from its first stored event to its last, read from its `/metrics`.
fn vtrack(topic: &str, db: &str, n: usize) -> anyhow::Result<f64> {
    let bin = root().join("target/release/vtrack");
    let ch = format!("{CLICKHOUSE}/{db}");
    let ok = std::process::Command::new(&bin).args(["migrate", "--clickhouse", &ch]).status()?;
    if !ok.success() {
        bail!("vtrack migrate failed");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut child = std::process::Command::new(&bin)
        .args(["process", "--kafka", BROKERS, "--topic", topic, "--group", &format!("{db}-vtrack")])
        .args(["--clickhouse", &ch, "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("start vtrack process")?;
    let stored = || -> u64 {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return 0 };
        use std::io::{Read, Write};
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text.lines()
            .find_map(|l| l.strip_prefix("vtrack_process_events_stored_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut start = None;
    let result = loop {
        let n_now = stored();
        if n_now >= steady_from(n) as u64 && start.is_none() {
            start = Some((Instant::now(), n_now));
        }
        if n_now >= n as u64 {
            break Ok(start.map_or(f64::NAN, |(at, from)| (n as u64 - from) as f64 / at.elapsed().as_secs_f64()));
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!("vtrack process stored {n_now} of {n} in 10 minutes"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = match args.iter().position(|a| a == "--events") {
        Some(i) => args.get(i + 1).context("--events N")?.parse()?,
        None => 200_000,
    };
    script("clickhouse.sh")?;
    script("kafka.sh")?;
    let name = format!("pt_{}", std::process::id());
    let topic = format!("{name}.events");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    rt.block_on(async {
        vtrack_bus::kafka::ensure_topic(BROKERS, &topic, 6, 1).await?;
        fill(&topic, events(n, now_ms)).await
    })?;
    let raw = rt.block_on(baseline(&topic, &format!("{name}_raw"), n))?;
    let ours = vtrack(&topic, &format!("{name}_vtrack"), n)?;
    // Left behind, the databases would keep ClickHouse merging through the next run.
    rt.block_on(async {
        for db in [format!("{name}_raw"), format!("{name}_vtrack")] {
            ClickHouseStore::new(&format!("{CLICKHOUSE}/{db}").parse()?).drop_database().await?;
        }
        anyhow::Ok(())
    })?;
    println!(
        "\n{n} events on a 6-partition topic, one consumer each, ClickHouse 18.16 on loopback; \
         steady state (the first {} stored are not timed)\n",
        steady_from(n)
    );
    println!("| consumer | events/s | vs baseline |\n| --- | ---: | ---: |");
    println!("| raw consume-and-insert (baseline) | {raw:.0} | 1.00× |");
    println!("| vtrack process (sessions, accounts, scores) | {ours:.0} | {:.2}× |", ours / raw);
    Ok(())
}
