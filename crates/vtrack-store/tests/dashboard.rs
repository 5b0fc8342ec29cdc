//! The dashboard's typed reads on the embedded store, through the same trait the API uses.

mod common;

use common::block_on;
use std::time::Duration;
use vtrack_model::config::{AlertsConfig, ScoringConfig};
use vtrack_model::event::{CompanyInfo, Utm};
use vtrack_model::time::{format_ms, now_ms};
use vtrack_model::Status;
use vtrack_model::{EnrichedEvent, NetworkClass};
use vtrack_process::{BatchRules, Processor, Scorer};
use vtrack_store::dashboard::{AccountFilter, Campaign, DashboardReads, SqliteDashboard, StatusUpdate, ACTIVITY_DAYS};
use vtrack_store::SqliteStore;

const DAY_MS: i64 = 86_400_000;

fn view(id: &str, vid: &str, ts_ms: i64, company: (&str, NetworkClass), campaign: &str) -> EnrichedEvent {
    EnrichedEvent {
        event_id: id.into(),
        site: "s".into(),
        ts_ms,
        received_ms: ts_ms,
        kind: "pageview".into(),
        visitor_id: vid.into(),
        url: "https://x.example/pricing".into(),
        path: "/pricing".into(),
        title: "Pricing".into(),
        utm: if campaign.is_empty() {
            Utm::default()
        } else {
            Utm { source: "news".into(), medium: "email".into(), campaign: campaign.into(), ..Utm::default() }
        },
        company: CompanyInfo {
            company_name: company.0.into(),
            company_domain: company.0.to_lowercase() + ".example",
            network_class: company.1,
            country: "DE".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn accounts_detail_status_campaigns_and_live_read_as_typed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    // Noon today, so that a minute either way stays within the day whenever the test runs.
    let now = now_ms().div_euclid(DAY_MS) * DAY_MS + DAY_MS / 2;
    let (acme, globex, isp) =
        (("Acme", NetworkClass::Business), ("Globex", NetworkClass::Business), ("Broadband", NetworkClass::Isp));
    let evs = [
        view("e1", "v1", now - DAY_MS - 60_000, acme, "nov"),
        view("e2", "v1", now - DAY_MS, acme, "nov"),
        view("e3", "v2", now - 30_000, acme, ""),
        view("e4", "v3", now - 20_000, globex, "nov"),
        view("e5", "v4", now - 10_000, isp, "nov"),
    ];
    let rules = BatchRules {
        scorer: Scorer::new(&ScoringConfig::default(), &AlertsConfig::default()),
        webhooks: vec![],
        owners: Default::default(),
    };
    block_on(Processor::new(Duration::from_secs(1800)).write(&mut store, &rules, &evs, &[])).unwrap();
    let reads = SqliteDashboard::new(store);
    let rt = runtime();

    let all = AccountFilter { limit: 10, ..AccountFilter::default() };
    let accounts = rt.block_on(reads.accounts("s", &all, now)).unwrap();
    let domains: Vec<&str> = accounts.iter().map(|a| a.domain.as_str()).collect();
    assert_eq!(domains, ["acme.example", "globex.example"], "highest score first, no ISP");
    let a = &accounts[0];
    assert_eq!((a.sessions, a.pageviews, a.visitors, a.status.as_str()), (2, 3, 2, "new"));
    assert_eq!(a.activity.len(), ACTIVITY_DAYS);
    assert_eq!(a.activity[ACTIVITY_DAYS - 2..], [2, 1], "yesterday's two views, today's one");
    assert_eq!(a.top_pages[0].path, "/pricing");
    let nov = Campaign { source: "news".into(), medium: "email".into(), campaign: "nov".into() };
    assert_eq!(a.campaigns, vec![nov]);

    let update = StatusUpdate { status: Status::Won, note: "signed".into(), set_by: "sam".into() };
    let change = rt.block_on(reads.set_status("s", "globex.example", &update, now)).unwrap().unwrap();
    assert_eq!((change.status.as_str(), change.set_at.clone()), ("won", format_ms(now)));
    let later = StatusUpdate { status: Status::Lost, ..update.clone() };
    rt.block_on(reads.set_status("s", "globex.example", &later, now)).unwrap();
    assert_eq!(rt.block_on(reads.set_status("s", "nobody.example", &update, now)).unwrap(), None);
    let lost = AccountFilter { status: Some(Status::Lost), ..all.clone() };
    let only: Vec<String> =
        rt.block_on(reads.accounts("s", &lost, now)).unwrap().into_iter().map(|a| a.domain).collect();
    assert_eq!(only, ["globex.example"]);

    let detail = rt.block_on(reads.account("s", "globex.example", now)).unwrap().unwrap();
    assert_eq!(detail.account.status, Status::Lost, "the latest change, within the same second too");
    let history: Vec<&str> = detail.status_history.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(history, ["lost", "won"], "newest first");
    let detail = rt.block_on(reads.account("s", "acme.example", now)).unwrap().unwrap();
    let pages: Vec<usize> = detail.sessions.iter().map(|s| s.pages.len()).collect();
    assert_eq!(pages, [1, 2], "newest session first, each with its events");
    assert_eq!(detail.sessions[1].pages[0].kind, "pageview");
    assert!(rt.block_on(reads.account("s", "nobody.example", now)).unwrap().is_none());

    let campaigns = rt.block_on(reads.campaigns("s")).unwrap();
    assert_eq!(campaigns.len(), 1);
    let c = &campaigns[0];
    assert_eq!((c.campaign.as_str(), c.accounts, c.sessions, c.lost, c.won), ("nov", 2, 2, 1, 0));

    let live = rt.block_on(reads.live("s", now - 60_000)).unwrap();
    let ids: Vec<&str> = live.iter().map(|v| v.visitor_id.as_str()).collect();
    assert_eq!(ids, ["v4", "v3", "v2"], "the last minute's page views, newest first");
}
