//! What a batch costs against the account's history: 20,000 new events for one account that already has
//! 1,000, 100,000 or 1,000,000 events, written by the batch write (`vtrack_process::Processor`) into SQLite
//! and into ClickHouse.
//!
//!   cargo run --release -p vtrack-benches --example history-cost -- [--sizes 1000,100000,1000000]
//!       [--store sqlite|clickhouse|both] [--runs 3]
//!
//! Each size gets a fresh store (a temporary SQLite file; a new ClickHouse database on the server that
//! `deploy/clickhouse.sh` starts). The history is written through the same batch write, in batches of
//! 10,000, as two years of visits by 200 people. Then the 20,000 new events (two batches of 10,000, visits
//! of the same people after the history) are timed `--runs` times, each run with a new `Processor`, as
//! after a restart: it holds nothing in memory and reads what it needs from the store. Reported: the
//! median and the range, and each size's median against the smallest size's.
//!
//! Beside each size runs its baseline: the same store size, but the history belongs to another account
//! and the 20,000 events go to an account seen for the first time. What the store's size costs (deeper
//! B-trees, checkpoints of a larger file) shows in both; what the account's history costs shows only in
//! the difference between the two.

use anyhow::Context;
use std::time::{Duration, Instant};
use vtrack_model::event::{CompanyInfo, Utm};
use vtrack_model::{Config, EnrichedEvent, NetworkClass};
use vtrack_process::{BatchRules, BatchStore, DeliveryTarget, Processor, Scorer};
use vtrack_store::{ClickHouseStore, ClickHouseUrl, SqliteStore};

const CLICKHOUSE: &str = "http://127.0.0.1:18123";
const BATCH: usize = 10_000;
const NEW: usize = 20_000;
const PATHS: &[&str] = &["/", "/pricing", "/docs/setup", "/docs/api", "/blog/post", "/demo", "/products/fleet"];
const DAY_MS: i64 = 86_400_000;

/// Events `from..from+n` of an account's life: visits of 5 page views a minute apart by 200 people,
/// spread evenly over `span_days` ending at `end_ms`. `other` gives them to another account.
fn events(from: usize, n: usize, end_ms: i64, span_days: i64, total: usize, other: bool) -> Vec<EnrichedEvent> {
    let (name, domain, people) =
        if other { ("Globex", "globex.example", "g") } else { ("Acme Robotics", "acme-robotics.example", "v") };
    let step = (span_days * DAY_MS) / (total as i64 / 5).max(1);
    (from..from + n)
        .map(|i| {
            let visit = i / 5;
            let path = PATHS[(i * 7 + visit) % PATHS.len()];
            EnrichedEvent {
                event_id: format!("hc-{i:08}"),
                site: "s1".into(),
                ts_ms: end_ms - span_days * DAY_MS + visit as i64 * step + (i % 5) as i64 * 60_000,
                received_ms: end_ms,
                kind: "pageview".into(),
                visitor_id: format!("{people}{}", visit % 200),
                url: format!("https://www.example.com{path}"),
                path: path.into(),
                utm: if visit % 50 == 0 {
                    Utm { source: "linkedin".into(), ..Default::default() }
                } else {
                    Utm::default()
                },
                company: CompanyInfo {
                    company_name: name.into(),
                    company_domain: domain.into(),
                    network_class: NetworkClass::Business,
                    country: "DE".into(),
                    ..Default::default()
                },
                ..Default::default()
            }
        })
        .collect()
}

fn rules() -> BatchRules {
    let config = Config::default();
    BatchRules {
        scorer: Scorer::new(&config.scoring, &config.alerts),
        webhooks: vec![DeliveryTarget {
            url: "http://127.0.0.1:9/".into(),
            cooldown_secs: 3600,
            recontact_margin: 20.0,
            owner: None,
            escalation: false,
        }],
        owners: Default::default(),
    }
}

async fn write_all<S: BatchStore>(
    store: &mut S,
    p: &mut Processor,
    rules: &BatchRules,
    events: &[EnrichedEvent],
) -> anyhow::Result<()>
where
    S::Error: Send + Sync + 'static,
{
    for chunk in events.chunks(BATCH) {
        p.write(store, rules, chunk, &[]).await?;
    }
    Ok(())
}

/// Fills the history (of another account when `other`), then times the account's new events `runs` times;
/// returns the times in seconds.
async fn measure<S: BatchStore>(store: &mut S, history: usize, other: bool, runs: usize) -> anyhow::Result<Vec<f64>>
where
    S::Error: Send + Sync + 'static,
{
    let rules = rules();
    let now = vtrack_model::time::now_ms();
    let span_days = 730;
    let history_end = now - (runs as i64 + 1) * DAY_MS;
    let filled = Instant::now();
    let mut p = Processor::new(Duration::from_secs(1800));
    for chunk_from in (0..history).step_by(100_000) {
        let n = (history - chunk_from).min(100_000);
        write_all(store, &mut p, &rules, &events(chunk_from, n, history_end, span_days, history, other)).await?;
    }
    eprintln!("  {history} events of history written in {:.1} s", filled.elapsed().as_secs_f64());
    let mut times = Vec::new();
    for run in 0..runs {
        // A day of new visits per run, after the history.
        let new = events(history + run * NEW, NEW, history_end + (run as i64 + 1) * DAY_MS, 1, NEW, false);
        let mut p = Processor::new(Duration::from_secs(1800));
        let t = Instant::now();
        write_all(store, &mut p, &rules, &new).await?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(times)
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let sizes: Vec<usize> = flag("--sizes")
        .unwrap_or_else(|| "1000,100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().context("--sizes takes numbers"))
        .collect::<anyhow::Result<_>>()?;
    let runs: usize = flag("--runs").map(|r| r.parse()).transpose()?.unwrap_or(3);
    let which = flag("--store").unwrap_or_else(|| "both".into());
    let mut report = Vec::new();
    for backend in ["sqlite", "clickhouse"] {
        if which != "both" && which != backend {
            continue;
        }
        let mut smallest = None;
        for &size in &sizes {
            for other in [false, true] {
                let whose = if other { "another account's" } else { "the account's own" };
                eprintln!("{backend}: {size} events of {whose} history");
                let times = if backend == "sqlite" {
                    let dir = tempfile::tempdir()?;
                    let mut store = SqliteStore::open(dir.path())?;
                    tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(measure(&mut store, size, other, runs))
                    })?
                } else {
                    let db = format!("vtrack_history_{size}_{}_{}", u8::from(other), std::process::id());
                    let url: ClickHouseUrl = format!("{CLICKHOUSE}/{db}").parse()?;
                    let mut store = ClickHouseStore::new(&url);
                    store.migrate().await.context("ClickHouse on 127.0.0.1:18123 (bash deploy/clickhouse.sh start)")?;
                    let times = measure(&mut store, size, other, runs).await;
                    store.drop_database().await?;
                    times?
                };
                let m = median(&times);
                let (lo, hi) = times.iter().fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
                let base = *smallest.get_or_insert(m);
                report.push(format!(
                    "| {backend} | {size} | {whose} | {:.0} ms ({:.0}–{:.0}) | {:.2}× |",
                    m * 1000.0,
                    lo * 1000.0,
                    hi * 1000.0,
                    m / base
                ));
            }
        }
    }
    println!(
        "| store | events stored before | whose | 20,000 new events: median (range of {runs}) | against the first row |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for line in report {
        println!("{line}");
    }
    Ok(())
}
