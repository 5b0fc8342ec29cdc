//! Processing throughput, Kafka → ClickHouse: `vtrack process` against a raw consume-and-insert baseline built
//! from the same parts (the same consumer, the same ClickHouse insert of `events`, commit after insert), on
//! the same pre-filled topic.
//!
//!   cargo build --release -p vtrack
//!   cargo run --release -p vtrack-benches --example process-throughput -- [--events 200000]
//!       [--bin target/release/vtrack] [--processors 1] [--clickhouse http://127.0.0.1:18123 [--cluster NAME]]
//!
//! `--bin` times another build of vtrack against the same baseline (before and after a change, side by
//! side); `--processors N` runs N members of one consumer group and reports their sum; `--clickhouse`
//! with `--cluster` writes a ClickHouse cluster (`deploy/clickhouse-cluster.sh`) through its Distributed
//! tables, the baseline too.
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

/// The broker and server `deploy/kafka.sh` and `deploy/clickhouse.sh` start: their default ports, or the
/// `KAFKA_PORT` and `CLICKHOUSE_HTTP_PORT` they read.
fn brokers() -> String {
    format!("127.0.0.1:{}", std::env::var("KAFKA_PORT").unwrap_or_else(|_| "19092".into()))
}

fn default_clickhouse() -> String {
    format!("http://127.0.0.1:{}", std::env::var("CLICKHOUSE_HTTP_PORT").unwrap_or_else(|_| "18123".into()))
}

/// Where and what to run, from the command line.
struct Opts {
    events: usize,
    clickhouse: String,
    cluster: Option<String>,
    bin: std::path::PathBuf,
    processors: usize,
}

impl Opts {
    fn parse() -> anyhow::Result<Opts> {
        let args: Vec<String> = std::env::args().collect();
        let value = |name: &str| -> anyhow::Result<Option<&String>> {
            match args.iter().position(|a| a == name) {
                Some(i) => Ok(Some(args.get(i + 1).with_context(|| format!("{name} needs a value"))?)),
                None => Ok(None),
            }
        };
        Ok(Opts {
            events: value("--events")?.map(|v| v.parse()).transpose()?.unwrap_or(200_000),
            clickhouse: value("--clickhouse")?.cloned().unwrap_or_else(default_clickhouse),
            cluster: value("--cluster")?.cloned(),
            bin: value("--bin")?.map(Into::into).unwrap_or_else(|| root().join("target/release/vtrack")),
            processors: value("--processors")?.map(|v| v.parse()).transpose()?.unwrap_or(1),
        })
    }

    /// The store for database `db`, in cluster mode with `--cluster`.
    fn store(&self, db: &str) -> anyhow::Result<ClickHouseStore> {
        let url: ClickHouseUrl = format!("{}/{db}", self.clickhouse).parse()?;
        let store = ClickHouseStore::new(&url);
        Ok(match &self.cluster {
            Some(c) => store.on_cluster(c)?,
            None => store,
        })
    }
}

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
        brokers: brokers(),
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
async fn baseline(opts: &Opts, topic: &str, db: &str, n: usize) -> anyhow::Result<f64> {
    let mut store = opts.store(db)?;
    store.migrate().await?;
    let mut bus = vtrack_bus::kafka::subscriber(&vtrack_bus::kafka::ConsumerOptions {
        brokers: brokers(),
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

/// `vtrack process` (`--processors` members of one group) from the first stored event to the last, read
/// from their `/metrics`.
fn vtrack(opts: &Opts, topic: &str, db: &str, n: usize) -> anyhow::Result<f64> {
    let bin = &opts.bin;
    let ch = format!("{}/{db}", opts.clickhouse);
    let cluster: Vec<&str> = opts.cluster.as_deref().map(|c| vec!["--clickhouse-cluster", c]).unwrap_or_default();
    let ok = std::process::Command::new(bin).args(["migrate", "--clickhouse", &ch]).args(&cluster).status()?;
    if !ok.success() {
        bail!("vtrack migrate failed");
    }
    let mut children = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..opts.processors {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = std::process::Command::new(bin)
            .args(["process", "--kafka", &brokers(), "--topic", topic, "--group", &format!("{db}-vtrack")])
            .args(["--clickhouse", &ch, "--listen", &format!("127.0.0.1:{port}")])
            .args(&cluster)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("start vtrack process")?;
        children.push(child);
        ports.push(port);
    }
    let stored_by = |port: u16| -> u64 {
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
    let stored = || -> u64 { ports.iter().map(|&p| stored_by(p)).sum() };
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
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

fn main() -> anyhow::Result<()> {
    let opts = Opts::parse()?;
    let n = opts.events;
    match &opts.cluster {
        Some(_) => script("clickhouse-cluster.sh")?,
        None if opts.clickhouse == default_clickhouse() => script("clickhouse.sh")?,
        None => {}
    }
    script("kafka.sh")?;
    let name = format!("pt_{}", std::process::id());
    let topic = format!("{name}.events");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
    rt.block_on(async {
        vtrack_bus::kafka::ensure_topic(&brokers(), &topic, 6, 1).await?;
        fill(&topic, events(n, now_ms)).await
    })?;
    let raw = rt.block_on(baseline(&opts, &topic, &format!("{name}_raw"), n))?;
    let ours = vtrack(&opts, &topic, &format!("{name}_vtrack"), n)?;
    // Left behind, the databases would keep ClickHouse merging through the next run.
    rt.block_on(async {
        for db in [format!("{name}_raw"), format!("{name}_vtrack")] {
            opts.store(&db)?.drop_database().await?;
        }
        anyhow::Ok(())
    })?;
    let store = match &opts.cluster {
        Some(c) => format!("the ClickHouse 18.16 cluster {c} (Distributed tables, synchronous inserts)"),
        None => "ClickHouse 18.16 on loopback".to_string(),
    };
    println!(
        "\n{n} events on a 6-partition topic, {store}, vtrack {}; steady state (the first {} stored are not timed)\n",
        opts.bin.display(),
        steady_from(n)
    );
    println!("| consumer | events/s | vs baseline |\n| --- | ---: | ---: |");
    println!("| raw consume-and-insert (baseline, one consumer) | {raw:.0} | 1.00× |");
    println!("| vtrack process × {} (sessions, accounts, scores) | {ours:.0} | {:.2}× |", opts.processors, ours / raw);
    Ok(())
}
