//! The embedded store at scale: what writing an event costs as `events` grows, and how fast the dashboard's
//! reads and `docs/tables.md`'s example queries answer at 1 M and 10 M events.
//!
//!   cargo run --release -p vtrack-benches --example store-scale -- [--sizes 1000000,10000000]
//!       [--data-dir DIR] [--runs 5]
//!
//! Writes events through the batch write (`vtrack_process::Processor`, batches of 10,000, as `serve` does)
//! into a SQLite store in `--data-dir` (a temporary directory unless given; given, a store already filled to
//! a size is continued from there). The traffic is a site's: 200,000 visitors of 20,000 organisations (60 %
//! businesses, the rest ISPs and hosting), visits of 1 to 8 page views and engagement events a minute
//! apart, 15 % of visits from a campaign, event ids random UUIDs as the tracker makes them, time running
//! over the last 60 days up to now. At each size it prints the CPU time (user + system, this process) and
//! wall time per event written since the previous size, then times each read `--runs` times: median and
//! range, in ms.

use anyhow::Context;
use std::time::{Duration, Instant};
use vtrack_model::event::{CompanyInfo, Utm};
use vtrack_model::{Config, EnrichedEvent, NetworkClass};
use vtrack_process::{BatchRules, Processor, Scorer};
use vtrack_store::dashboard::{AccountFilter, DashboardReads, SqliteDashboard};
use vtrack_store::SqliteStore;

const BATCH: usize = 10_000;
const VISITORS: u64 = 200_000;
const ORGS: u64 = 20_000;
const SPAN_MS: i64 = 60 * 86_400_000;
const SITE: &str = "s1";
const PAGES: &[(&str, &str)] = &[
    ("/", "Home"),
    ("/pricing", "Pricing"),
    ("/docs/setup", "Setup"),
    ("/docs/api", "API reference"),
    ("/blog/fleet-tracking", "Fleet tracking in 2026"),
    ("/demo", "Book a demo"),
    ("/products/fleet", "Fleet"),
    ("/careers", "Careers"),
    ("/about", "About us"),
];
const CAMPAIGNS: &[(&str, &str, &str)] =
    &[("linkedin", "paid", "q3-launch"), ("google", "cpc", "brand"), ("newsletter", "email", "march")];

/// A small, fast, deterministic generator (SplitMix64): the same traffic on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

fn company(visitor: u64) -> CompanyInfo {
    let org = visitor % ORGS;
    let (class, domain, name) = match org % 10 {
        0..=5 => (NetworkClass::Business, format!("org{org}.example"), format!("Organisation {org}")),
        6..=8 => (NetworkClass::Isp, format!("as{}", 64_000 + org % 300), format!("Telecom {}", org % 300)),
        _ => (NetworkClass::Hosting, format!("as{}", 65_000 + org % 50), format!("Cloud {}", org % 50)),
    };
    CompanyInfo {
        company_name: name,
        company_domain: domain,
        asn: (64_000 + org % 1000) as u32,
        network_class: class,
        country: ["DE", "FR", "US", "GB", "NL"][(org % 5) as usize].into(),
        city: "Springfield".into(),
        ..Default::default()
    }
}

/// The traffic: visits in time order, spread evenly over [`SPAN_MS`] up to `end_ms` for `total` events.
struct Traffic {
    rng: Rng,
    made: u64,
    total: u64,
    end_ms: i64,
}

impl Traffic {
    /// The next visit's events.
    fn visit(&mut self) -> Vec<EnrichedEvent> {
        let visitor = self.rng.below(VISITORS);
        let start = self.end_ms - SPAN_MS + (self.made as i128 * SPAN_MS as i128 / self.total as i128) as i64;
        let pages = 1 + self.rng.below(8) as usize;
        let utm = if self.rng.below(100) < 15 {
            let (s, m, c) = CAMPAIGNS[self.rng.below(CAMPAIGNS.len() as u64) as usize];
            Utm { source: s.into(), medium: m.into(), campaign: c.into(), ..Default::default() }
        } else {
            Utm::default()
        };
        let company = company(visitor);
        let mut out = Vec::with_capacity(pages);
        for i in 0..pages {
            let (path, title) = PAGES[self.rng.below(PAGES.len() as u64) as usize];
            let engaged = i > 0 && self.rng.below(5) == 0;
            let ts = start + i as i64 * 60_000;
            let query = if i == 0 && !utm.source.is_empty() {
                format!("?utm_source={}&utm_medium={}&utm_campaign={}", utm.source, utm.medium, utm.campaign)
            } else {
                String::new()
            };
            out.push(EnrichedEvent {
                event_id: self.rng.uuid(),
                site: SITE.into(),
                ts_ms: ts,
                received_ms: ts + 40,
                kind: if engaged { "engagement".into() } else { "pageview".into() },
                visitor_id: format!("v-{visitor}"),
                url: format!("https://www.example.com{path}{query}"),
                path: path.into(),
                referrer: if i == 0 { "https://www.google.com/".into() } else { String::new() },
                title: title.into(),
                utm: if i == 0 { utm.clone() } else { Utm::default() },
                eng_ms: if engaged { 5_000 + self.rng.below(60_000) } else { 0 },
                company: company.clone(),
                ..Default::default()
            });
        }
        self.made += out.len() as u64;
        out
    }
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn rules() -> BatchRules {
    let config = Config::default();
    BatchRules {
        scorer: Scorer::new(&config.scoring, &config.alerts),
        webhooks: Vec::new(),
        owners: Default::default(),
    }
}

fn stored(dir: &std::path::Path) -> anyhow::Result<u64> {
    let store = SqliteStore::open_read_only(dir)?;
    let r = store.query("SELECT count(*) FROM events")?;
    Ok(match r.rows.first().and_then(|row| row.first()) {
        Some(vtrack_store::Value::Int(n)) => *n as u64,
        _ => 0,
    })
}

/// Times `f` `runs` times; the median and range in ms.
async fn time<T, F: std::future::Future<Output = anyhow::Result<T>>>(
    runs: usize,
    mut f: impl FnMut() -> F,
) -> anyhow::Result<(f64, f64, f64, T)> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f().await?);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let out = last.context("no runs")?;
    Ok((times[times.len() / 2], times[0], times[times.len() - 1], out))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let sizes: Vec<u64> = flag("--sizes")
        .unwrap_or_else(|| "1000000,10000000".into())
        .split(',')
        .map(|s| s.trim().parse().context("--sizes takes numbers"))
        .collect::<anyhow::Result<_>>()?;
    let runs: usize = flag("--runs").map(|r| r.parse()).transpose()?.unwrap_or(5);
    let tmp = tempfile::tempdir()?;
    let dir = flag("--data-dir").map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    let total = *sizes.iter().max().context("no sizes")?;
    // Time ends now, so `live` finds the newest visits; a store continued later keeps its own clock.
    let end_ms = vtrack_model::time::now_ms();
    let mut traffic = Traffic { rng: Rng(20_261_206), made: 0, total, end_ms };
    let mut have = if dir.join("vtrack.db").exists() { stored(&dir)? } else { 0 };
    // Continue the same traffic where a kept store stopped (its ids were drawn from the same sequence).
    while traffic.made < have {
        traffic.visit();
    }
    let rules = rules();
    let mut store = SqliteStore::open(&dir)?;
    if let Some(sql) = flag("--exec") {
        // Scratch experiments: statements run on the store before writing (e.g. `DROP INDEX …`).
        let conn = rusqlite::Connection::open(dir.join("vtrack.db"))?;
        conn.execute_batch(&sql)?;
    }
    let mut processor = Processor::new(Duration::from_secs(1800));
    println!("| events | written: CPU µs/event | wall µs/event | read | median ms (range of {runs}) |");
    println!("| ---: | ---: | ---: | --- | ---: |");
    for &size in &sizes {
        let (cpu0, wall0, from) = (cpu_secs(), Instant::now(), have);
        while have < size {
            let mut batch = Vec::with_capacity(BATCH + 8);
            while batch.len() < BATCH {
                batch.extend(traffic.visit());
            }
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(processor.write(&mut store, &rules, &batch, &[]))
            })?;
            have += batch.len() as u64;
            if have % 1_000_000 < batch.len() as u64 {
                eprintln!("  {have} events stored");
            }
        }
        let written = (have - from).max(1) as f64;
        let (cpu, wall) = ((cpu_secs() - cpu0) * 1e6 / written, wall0.elapsed().as_secs_f64() * 1e6 / written);
        let written_cells = if have > from { format!("{cpu:.1} | {wall:.1}") } else { "(kept) | (kept)".to_string() };
        let reads = SqliteDashboard::new(SqliteStore::open(&dir)?);
        let now = vtrack_model::time::now_ms();
        let filter = AccountFilter { limit: 1000, ..Default::default() };
        let mut rows = Vec::new();
        let (m, lo, hi, accounts) = time(runs, || async { Ok(reads.accounts(SITE, &filter, now).await?) }).await?;
        rows.push(("accounts (the list, 1,000)".to_string(), m, lo, hi));
        let campaign = AccountFilter { campaign: "q3-launch".into(), limit: 1000, ..Default::default() };
        let (m, lo, hi, _) = time(runs, || async { Ok(reads.accounts(SITE, &campaign, now).await?) }).await?;
        rows.push(("accounts of a campaign".to_string(), m, lo, hi));
        let top = accounts.first().map(|a| a.domain.clone()).unwrap_or_default();
        let (m, lo, hi, _) = time(runs, || async { Ok(reads.account(SITE, &top, now).await?) }).await?;
        rows.push(("account detail (the top account)".to_string(), m, lo, hi));
        let (m, lo, hi, _) = time(runs, || async { Ok(reads.campaigns(SITE).await?) }).await?;
        rows.push(("campaigns".to_string(), m, lo, hi));
        let (m, lo, hi, _) = time(runs, || async { Ok(reads.live(SITE, now - 300_000).await?) }).await?;
        rows.push(("live (last 5 minutes)".to_string(), m, lo, hi));
        let (m, lo, hi, _) = time(runs, || async { Ok(reads.funnel_facts(SITE).await?) }).await?;
        rows.push(("funnel facts".to_string(), m, lo, hi));
        let ro = SqliteStore::open_read_only(&dir)?;
        for (name, sql) in [
            (
                "tables.md: pricing views by company, 7 days",
                "SELECT company_name, count(*) AS views FROM events
                 WHERE path LIKE '/pricing%' AND network_class = 'business' AND ts >= datetime('now', '-7 days')
                 GROUP BY company_name ORDER BY views DESC",
            ),
            (
                "tables.md: campaigns that brought accounts",
                "SELECT utm_campaign, count(DISTINCT company_domain) AS accounts FROM sessions
                 WHERE company_domain != '' AND utm_campaign != '' GROUP BY utm_campaign ORDER BY accounts DESC",
            ),
        ] {
            let (m, lo, hi, _) = time(runs, || async { Ok(ro.query(sql)?) }).await?;
            rows.push((name.to_string(), m, lo, hi));
        }
        for (i, (name, m, lo, hi)) in rows.iter().enumerate() {
            let (e, w) =
                if i == 0 { (format!("{have}"), written_cells.clone()) } else { (String::new(), " | ".into()) };
            println!("| {e} | {w} | {name} | {m:.1} ({lo:.1}–{hi:.1}) |");
        }
    }
    let db = std::fs::metadata(dir.join("vtrack.db")).map(|m| m.len()).unwrap_or(0);
    println!("\nThe database file: {:.0} MiB for {have} events.", db as f64 / (1 << 20) as f64);
    Ok(())
}
