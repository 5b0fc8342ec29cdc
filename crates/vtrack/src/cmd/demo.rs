//! `vtrack demo`: `serve` with fixture data and a replay of realistic synthetic traffic, so a newcomer sees
//! identified companies within seconds.
//!
//! The traffic is deterministic (seeded), including its event ids: running the demo twice on the same
//! data dir de-duplicates instead of doubling.

use crate::client::HttpClient;
use crate::wiring::{self, edge, Roles};
use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vtrack_ingest::StaticFile;
use vtrack_model::config::{Config, SiteConfig};
use vtrack_model::time::now_ms;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, value_name = "ADDR", help = super::with_default("Address to serve on", Config::default().server.listen))]
    pub listen: Option<SocketAddr>,
    /// Where the demo's store lives.
    #[arg(long, value_name = "DIR", default_value = "./vtrack-demo")]
    pub data_dir: PathBuf,
    /// Exit after the replay and the summary instead of serving until Ctrl-C.
    #[arg(long)]
    pub once: bool,
}

const COMPANIES_CSV: &str = include_str!("../../../../fixtures/companies.csv");
const ASN_CSV: &str = include_str!("../../../../fixtures/asn.csv");
const DEMO_MMDB: &[u8] = include_bytes!("../../../../fixtures/demo.mmdb");

const APP_HTML: &str = include_str!("../../../../tracker-js/demo/app.html");

/// The demo site that embeds the real tracker, by path.
const DEMO_PAGES: &[(&str, &str)] = &[
    ("/demo/", include_str!("../../../../tracker-js/demo/index.html")),
    ("/demo/index", include_str!("../../../../tracker-js/demo/index.html")),
    ("/demo/pricing", include_str!("../../../../tracker-js/demo/pricing.html")),
    ("/demo/docs", include_str!("../../../../tracker-js/demo/docs.html")),
    ("/demo/app", APP_HTML),
    // The single-page app's own routes, so a reload on one of them works.
    ("/demo/app/pipelines", APP_HTML),
    ("/demo/app/reports", APP_HTML),
    ("/demo/app/settings", APP_HTML),
];

pub fn run(args: Args) -> anyhow::Result<()> {
    let fixtures = args.data_dir.join("fixtures");
    write_fixtures(&fixtures)?;
    let mut config = Config::default();
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    config.server.data_dir = args.data_dir.clone();
    // The replay posts from loopback on behalf of its fictional visitors.
    config.server.trusted_proxies = vec!["127.0.0.0/8".parse()?, "::1/128".parse()?];
    // Replayed history spans the last weeks; accept those client times.
    config.server.client_clock_window = Duration::from_secs(35 * 86_400);
    config.sites = vec![SiteConfig { key: "demo".into(), ..SiteConfig::default() }];
    config.dashboard.token = Some(DASHBOARD_TOKEN.into());
    // One person per role, so the roles can be tried: bo (of the owners) in sales, and a viewer.
    config.dashboard.users = DEMO_USERS
        .iter()
        .map(|(name, token, role)| vtrack_model::users::DashboardUser {
            name: (*name).into(),
            token: Some((*token).into()),
            role: *role,
            sites: Vec::new(),
        })
        .collect();
    // Replayed weeks of traffic score higher than one day's; the demo's company is the customer itself.
    config.scoring.stages = [("warm".to_string(), 40.0), ("hot".to_string(), 150.0)].into_iter().collect();
    config.scoring.exclude_domains = vec!["vtrack-demo.example".into()];
    config.scoring.topics = [
        ("Fleet tracking", &["/products/fleet*"][..]),
        ("Cold chain", &["/products/cold-chain*", "/case-studies/pharma*"][..]),
        ("Pricing", &["/pricing*"][..]),
        ("Developers", &["/docs*"][..]),
    ]
    .into_iter()
    .map(|(t, ps)| (t.to_string(), ps.iter().map(|p| p.to_string()).collect()))
    .collect();
    // Three reps: the DACH territory to one, everything else in turn to the other two.
    let owner = |name: &str| vtrack_model::owners::OwnerConfig {
        name: name.into(),
        email: Some(format!("{name}@vtrack-demo.example")),
        webhook: None,
        slack: None,
        secret: None,
    };
    config.owners = vec![owner("ana"), owner("bo"), owner("cy")];
    config.assign = vec![
        vtrack_model::owners::AssignRule {
            countries: vec!["DE".into(), "AT".into(), "CH".into()],
            owner: Some("ana".into()),
            ..Default::default()
        },
        vtrack_model::owners::AssignRule { team: vec!["bo".into(), "cy".into()], ..Default::default() },
    ];
    // A follow-up deadline of an hour: the hot account turned hot two to three hours before the replay ends
    // and nobody has called it, so the dashboard shows it overdue.
    config.sla.hot_followup = Some(Duration::from_secs(3600));
    config.resolve.companies = vec![fixtures.join("companies.csv")];
    config.resolve.mmdb = vec![fixtures.join("demo.mmdb")];
    config.resolve.asn_csv = vec![fixtures.join("asn.csv")];
    let pages: HashMap<String, StaticFile> = DEMO_PAGES
        .iter()
        .map(|(path, html)| {
            (
                path.to_string(),
                StaticFile {
                    content_type: "text/html; charset=utf-8",
                    body: bytes::Bytes::from_static(html.as_bytes()),
                },
            )
        })
        .collect();

    let rt = super::runtime()?;
    rt.block_on(async move {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let once = args.once;
        let shutdown = async move {
            if once {
                let _ = done_rx.await;
            } else {
                crate::shutdown::signal().await;
            }
        };
        let extras = edge::Extras { static_files: pages, ready: Some(ready_tx) };
        let server = tokio::spawn(wiring::serve(config, Roles::ALL, extras, shutdown));
        let addr = match ready_rx.await {
            Ok(addr) => addr,
            Err(_) => return server.await.context("the server task failed")?,
        };
        let sent = replay(addr).await?;
        sales_work(addr, &args.data_dir).await?;
        // Let processing catch up before the summary.
        tokio::time::sleep(Duration::from_millis(500)).await;
        print_summary(&args.data_dir, addr, sent)?;
        let _ = done_tx.send(());
        server.await.context("the server task failed")?
    })
}

fn write_fixtures(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, bytes) in
        [("companies.csv", COMPANIES_CSV.as_bytes()), ("asn.csv", ASN_CSV.as_bytes()), ("demo.mmdb", DEMO_MMDB)]
    {
        std::fs::write(dir.join(name), bytes).with_context(|| format!("cannot write {}", dir.join(name).display()))?;
    }
    Ok(())
}

/// The demo's dashboard token (a real deployment sets its own in `[dashboard] token`).
pub const DASHBOARD_TOKEN: &str = "demo";

/// The demo's people (`[[dashboard.users]]`): name, token, role.
pub const DEMO_USERS: [(&str, &str, vtrack_model::users::Role); 3] = [
    ("ana", "demo-admin", vtrack_model::users::Role::Admin),
    ("bo", "demo-sales", vtrack_model::users::Role::Sales),
    ("val", "demo-viewer", vtrack_model::users::Role::Viewer),
];

/// A fictional organisation and how its people behave.
struct Persona {
    /// Addresses inside the organisation's range: the first three octets, and the span of the last.
    net: &'static str,
    hosts: (u8, u8),
    visitors: u32,
    visits_each: u32,
    pages: &'static [&'static str],
    campaign: Option<(&'static str, &'static str, &'static str)>,
    email_domain: Option<&'static str>,
}

const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
];
const BOTS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
];

const PERSONAS: &[Persona] = &[
    Persona {
        net: "198.51.100",
        hosts: (1, 60),
        visitors: 4,
        visits_each: 4,
        pages: &["/", "/pricing", "/demo", "/products/fleet", "/docs/api", "/pricing/enterprise"],
        campaign: Some(("linkedin", "paid-social", "q4-fleet-launch")),
        email_domain: Some("acme-robotics.example"),
    },
    Persona {
        net: "198.51.100",
        hosts: (65, 94),
        visitors: 2,
        visits_each: 2,
        pages: &["/blog/route-planning", "/blog/ev-fleets", "/products/fleet"],
        campaign: Some(("newsletter", "email", "november-digest")),
        email_domain: None,
    },
    Persona {
        net: "198.51.100",
        hosts: (97, 110),
        visitors: 2,
        visits_each: 2,
        pages: &["/careers", "/pricing", "/about"],
        campaign: None,
        email_domain: None,
    },
    Persona {
        net: "203.0.113",
        hosts: (1, 126),
        visitors: 3,
        visits_each: 2,
        pages: &["/docs", "/docs/api", "/docs/sdk", "/blog/research"],
        campaign: Some(("google", "cpc", "edu-program")),
        email_domain: None,
    },
    Persona {
        net: "203.0.113",
        hosts: (129, 190),
        visitors: 1,
        visits_each: 2,
        pages: &["/", "/security", "/pricing"],
        campaign: None,
        email_domain: None,
    },
    Persona {
        net: "203.0.113",
        hosts: (193, 254),
        visitors: 2,
        visits_each: 3,
        pages: &["/products/cold-chain", "/pricing", "/demo", "/case-studies/pharma"],
        campaign: Some(("google", "cpc", "cold-chain")),
        email_domain: None,
    },
    Persona {
        net: "192.0.2",
        hosts: (1, 126),
        visitors: 1,
        visits_each: 1,
        pages: &["/", "/about"],
        campaign: None,
        email_domain: None,
    },
    Persona {
        net: "198.51.100",
        hosts: (241, 254),
        visitors: 2,
        visits_each: 2,
        pages: &["/", "/pricing"],
        campaign: None,
        email_domain: None,
    },
    Persona {
        net: "198.18.7",
        hosts: (1, 254),
        visitors: 12,
        visits_each: 1,
        pages: &["/", "/blog/route-planning", "/careers"],
        campaign: Some(("twitter", "social", "brand")),
        email_domain: None,
    },
    Persona {
        net: "198.19.200",
        hosts: (1, 254),
        visitors: 6,
        visits_each: 1,
        pages: &["/", "/blog/ev-fleets"],
        campaign: None,
        email_domain: None,
    },
];

/// Posts the synthetic history through the real beacon endpoint; returns how many events were accepted.
async fn replay(addr: SocketAddr) -> anyhow::Result<usize> {
    let client = HttpClient::default();
    let url = format!("http://{addr}/v1/events");
    let mut rng = StdRng::seed_from_u64(20261123);
    let now = now_ms();
    let mut accepted = 0usize;
    let mut n = 0u64;
    for (p, persona) in PERSONAS.iter().enumerate() {
        for v in 0..persona.visitors {
            let ip = format!("{}.{}", persona.net, rng.random_range(persona.hosts.0..=persona.hosts.1));
            let ua = BROWSERS[rng.random_range(0..BROWSERS.len())];
            let vid = format!("demo-{p}-{v}");
            for visit in 0..persona.visits_each {
                // Visits spread over the last three weeks, the latest today.
                let days_ago = (persona.visits_each - 1 - visit) as i64 * 6 + rng.random_range(0..2);
                // Start early enough that a whole visit ends before now.
                let mut ts = now - days_ago * 86_400_000 - rng.random_range(2 * 3_600_000..3 * 3_600_000);
                let pages = rng.random_range(2..=persona.pages.len().max(2));
                let mut referrer = String::from("https://www.google.com/");
                for i in 0..pages {
                    let page = persona.pages[(v as usize + visit as usize + i) % persona.pages.len()];
                    let mut page_url = format!("https://www.vtrack-demo.example{page}");
                    if let (0, Some((source, medium, campaign))) = (i, persona.campaign) {
                        page_url.push_str(&format!("?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"));
                    }
                    let title = format!(
                        "{} — Vtrack Demo",
                        page.trim_start_matches('/').split('/').next_back().unwrap_or("home")
                    );
                    let mut events = vec![serde_json::json!({
                        "site": "demo", "type": "pageview", "url": page_url, "ref": referrer, "title": title,
                        "vid": vid, "eid": format!("demo-{n}"), "ts": ts,
                    })];
                    n += 1;
                    let engaged = rng.random_range(5_000..120_000u64);
                    events.push(serde_json::json!({
                        "site": "demo", "type": "engagement", "url": page_url, "vid": vid, "eid": format!("demo-{n}"),
                        "ts": ts + engaged as i64, "eng_ms": engaged,
                    }));
                    n += 1;
                    if let (Some(domain), true) = (persona.email_domain, page == "/demo" && v == 0) {
                        events.push(serde_json::json!({
                            "site": "demo", "type": "identify", "url": page_url, "vid": vid, "eid": format!("demo-{n}"),
                            "ts": ts + engaged as i64, "email": format!("jordan.lee@{domain}"),
                        }));
                        n += 1;
                    }
                    let count = events.len();
                    let body = serde_json::Value::Array(events).to_string();
                    let (status, _) = client
                        .post(
                            &url,
                            &[("content-type", "text/plain"), ("user-agent", ua), ("x-forwarded-for", &ip)],
                            body,
                        )
                        .await
                        .context("demo replay: the server did not answer")?;
                    if status == 202 {
                        accepted += count;
                    }
                    referrer = page_url;
                    ts += engaged as i64 + 2_000;
                }
            }
        }
    }
    // Crawlers from a cloud range: answered like everyone, never stored.
    for (i, ua) in BOTS.iter().cycle().take(20).enumerate() {
        let body = serde_json::json!({ "site": "demo", "type": "pageview", "url": "https://www.vtrack-demo.example/", "vid": format!("bot-{i}") }).to_string();
        let ip = format!("198.19.0.{}", 10 + i);
        client
            .post(&url, &[("content-type", "text/plain"), ("user-agent", ua), ("x-forwarded-for", &ip)], body)
            .await?;
    }
    Ok(accepted)
}

/// What sales did with the demo's warm accounts, through the API as bo (the demo's sales rep), so the
/// funnel has contacted and qualified accounts and the histories name who set them. The hot account is
/// left `new`: overdue. Done once: a demo started again on its data directory keeps what is there.
async fn sales_work(addr: SocketAddr, data_dir: &Path) -> anyhow::Result<()> {
    let store = vtrack_store::SqliteStore::open_read_only(data_dir)?;
    let done = store.query("SELECT count(*) AS n FROM account_status")?;
    if done.rows.first().and_then(|r| r.first()).is_some_and(|n| *n != vtrack_store::Value::Int(0)) {
        return Ok(());
    }
    let client = HttpClient::default();
    let bo = DEMO_USERS.iter().find(|(name, _, _)| *name == "bo").map_or("", |(_, token, _)| *token);
    let auth = format!("Bearer {bo}");
    let steps = [
        ("initech.example", "contacted", "intro call booked"),
        ("globex.example", "contacted", "asked for the cold-chain case study"),
        ("globex.example", "qualified", "pilot with two depots"),
    ];
    for (domain, status, note) in steps {
        let url = format!("http://{addr}/api/accounts/{domain}/status");
        let body = serde_json::json!({ "status": status, "note": note }).to_string();
        // The account exists once processing has stored the replay's batch: wait for it, briefly.
        let mut answer = (0, bytes::Bytes::new());
        for _ in 0..100 {
            answer = client
                .post(&url, &[("content-type", "application/json"), ("authorization", &auth)], body.clone())
                .await
                .context("demo: the dashboard API did not answer")?;
            if answer.0 != 404 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if answer.0 != 200 {
            anyhow::bail!(
                "demo: setting {domain} to {status} answered {}: {}",
                answer.0,
                String::from_utf8_lossy(&answer.1)
            );
        }
    }
    Ok(())
}

fn print_summary(data_dir: &Path, addr: SocketAddr, sent: usize) -> anyhow::Result<()> {
    let store = vtrack_store::SqliteStore::open_read_only(data_dir)?;
    let accounts = store.query(
        "SELECT company_name, company_domain, network_class AS class, country, stage, score, visitors, sessions,
           pageviews, json_extract(topics, '$[0].topic') AS top_topic, json_extract(campaigns, '$[0].campaign') AS campaign
         FROM accounts WHERE excluded = 0 ORDER BY score DESC, company_domain",
    )?;
    let traffic = store.query(
        "SELECT network_class AS class, count(DISTINCT visitor_id) AS visitors, sum(type = 'pageview') AS pageviews
         FROM events GROUP BY network_class ORDER BY pageviews DESC",
    )?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    writeln!(
        out,
        "\nvtrack demo: replayed {sent} events through http://{addr}/v1/events (bots were sent too, and dropped)\n"
    )?;
    writeln!(out, "Companies identified (accounts), by interest score:")?;
    crate::cmd::sql::write_table(&mut out, &accounts)?;
    writeln!(out, "\nAll traffic by network class (ISPs and clouds are not accounts):")?;
    crate::cmd::sql::write_table(&mut out, &traffic)?;
    writeln!(
        out,
        "\nDashboard: http://{addr}/?token={DASHBOARD_TOKEN}\n  as a person: {people}\n\nTry:  vtrack sql --data-dir {dir} \"SELECT * FROM sessions ORDER BY started_at DESC LIMIT 10\"\n      open http://{addr}/demo/ (a demo site with the real tracker)   metrics: http://{addr}/metrics",
        dir = data_dir.display(),
        people = DEMO_USERS
            .iter()
            .map(|(name, token, role)| format!("{name} ({}) ?token={token}", role.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(())
}
