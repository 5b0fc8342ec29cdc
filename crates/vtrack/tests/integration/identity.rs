//! First-party identity through the real binary, on the embedded store and on Kafka + ClickHouse, with the
//! same results: a visitor who identifies with a business email counts for her company from any network,
//! her earlier session included; free mail makes no account; an AS-only organisation learns its domain
//! from its people's emails.

use crate::common;

use common::prod::{shared_clickhouse, shared_kafka, Pipeline};
use common::Server;
use serde_json::{json, Value};
use std::time::Duration;
use vtrack_model::time::now_ms;

/// The fixtures' networks (see `fixtures/asn.csv`).
const HOME_ISP: &str = "198.18.0.10"; // Example Broadband, AS64500: isp
const HOME_ISP_2: &str = "198.18.0.11";
const MOBILE: &str = "198.19.200.5"; // Example Mobile Telecom, AS64502: isp
const UMBRELLA: [&str; 3] = ["203.0.113.200", "203.0.113.201", "203.0.113.210"]; // AS64506, known by its AS only

const MIN: i64 = 60_000;

fn beacon(eid: &str, vid: &str, kind: &str, path: &str, ts: i64, email: Option<&str>) -> Value {
    let mut b = json!({ "site": "s1", "type": kind, "url": format!("https://www.vtrack-demo.example{path}"),
                        "vid": vid, "eid": eid, "ts": ts, "title": "t" });
    if let Some(e) = email {
        b["email"] = json!(e);
    }
    b
}

/// The scenario, as (client address, JSON array of beacons), in the order a browser would send them.
fn scenario(now: i64) -> Vec<(&'static str, String)> {
    let s1 = now - 180 * MIN;
    let s2 = now - 60 * MIN;
    let list = |v: Vec<Value>| Value::Array(v).to_string();
    vec![
        // Jane reads from home, then fills in a form with her work email.
        (
            HOME_ISP,
            list(vec![
                beacon("jane-1", "v-jane", "pageview", "/pricing", s1, None),
                beacon("jane-2", "v-jane", "pageview", "/pricing/enterprise", s1 + MIN, None),
                beacon("jane-3", "v-jane", "pageview", "/demo", s1 + 2 * MIN, None),
            ]),
        ),
        (
            HOME_ISP,
            list(vec![beacon("jane-4", "v-jane", "identify", "/demo", s1 + 3 * MIN, Some("jane@brightwater.example"))]),
        ),
        // Two hours later, on her phone: a new session from a mobile network.
        (
            MOBILE,
            list(vec![
                beacon("jane-5", "v-jane", "pageview", "/demo", s2, None),
                beacon("jane-6", "v-jane", "pageview", "/pricing", s2 + MIN, None),
            ]),
        ),
        // Bob gives a free-mail address: a person, not a company.
        (
            HOME_ISP_2,
            list(vec![
                beacon("bob-1", "v-bob", "pageview", "/pricing", s1, None),
                beacon("bob-2", "v-bob", "identify", "/pricing", s1 + MIN, Some("bob.smith@gmail.com")),
            ]),
        ),
        // Two people on Umbrella's own network identify with their company's domain...
        (UMBRELLA[0], list(vec![beacon("umb-1", "v-u1", "pageview", "/docs", s1, None)])),
        (
            UMBRELLA[0],
            list(vec![beacon("umb-2", "v-u1", "identify", "/docs", s1 + MIN, Some("ana@umbrella-pharma.example"))]),
        ),
        (
            UMBRELLA[1],
            list(vec![beacon("umb-3", "v-u2", "identify", "/", s1 + 5 * MIN, Some("li@Umbrella-Pharma.example"))]),
        ),
        // ...so a colleague who never identified counts for that domain too.
        (UMBRELLA[2], list(vec![beacon("umb-4", "v-u3", "pageview", "/pricing", s2, None)])),
    ]
}

const UNBOUNDED: &str = "[scoring]\nmax_visitor_day_points = 0\n";

const ACCOUNTS: &str = "SELECT company_domain, network_class, id_source, id_confidence,
    sessions, visitors, stage FROM accounts ORDER BY company_domain";
const EVENTS: &str = "SELECT event_id, company_domain, network_class, id_source, id_confidence
    FROM events ORDER BY event_id";
const SESSIONS: &str = "SELECT visitor_id, company_domain, id_source, pageviews FROM sessions
    ORDER BY visitor_id, company_domain";
const ALERTS: &str = "SELECT company_domain, kind FROM alerts ORDER BY company_domain, kind";

/// What both stores must hold once the scenario is processed.
fn check(what: &str, accounts: &Value, events: &Value, alerts: &Value) {
    let find = |rows: &Value, key: &str, value: &str| -> Option<Value> {
        rows.as_array()?.iter().find(|r| r[key] == value).cloned()
    };
    let bw = find(accounts, "company_domain", "brightwater.example")
        .unwrap_or_else(|| panic!("{what}: an account for Jane's company: {accounts}"));
    assert_eq!((&bw["id_source"], &bw["id_confidence"]), (&json!("contact"), &json!(95)), "{what}: {bw}");
    assert_eq!(bw["sessions"], 2, "{what}: her home session and her mobile session both count: {bw}");
    assert_eq!(bw["stage"], "hot", "{what}: together they make the account hot: {bw}");
    assert!(find(alerts, "company_domain", "brightwater.example").is_some(), "{what}: its alert: {alerts}");
    for id in ["jane-1", "jane-2", "jane-3", "jane-4", "jane-5", "jane-6"] {
        let e = find(events, "event_id", id).unwrap_or_else(|| panic!("{what}: event {id}"));
        assert_eq!(
            (&e["company_domain"], &e["network_class"], &e["id_source"]),
            (&json!("brightwater.example"), &json!("business"), &json!("contact")),
            "{what}: {e}"
        );
    }
    assert!(find(accounts, "company_domain", "gmail.com").is_none(), "{what}: free mail makes no account");
    let bob = find(events, "event_id", "bob-2").expect("bob's identify");
    assert_eq!((&bob["company_domain"], &bob["network_class"]), (&json!("as64500"), &json!("isp")), "{what}");
    assert!(find(accounts, "company_domain", "as64506").is_none(), "{what}: the AS key is gone: {accounts}");
    let umbrella = find(accounts, "company_domain", "umbrella-pharma.example")
        .unwrap_or_else(|| panic!("{what}: Umbrella learned its domain: {accounts}"));
    assert_eq!(umbrella["visitors"], 3, "{what}: all three people, the one who never identified too: {umbrella}");
    let colleague = find(events, "event_id", "umb-4").expect("the colleague's page view");
    assert_eq!(
        (&colleague["company_domain"], &colleague["id_source"]),
        (&json!("umbrella-pharma.example"), &json!("asn")),
        "{what}: known by its network, under the learned key"
    );
}

/// Reads accounts, events and alerts with `read` until [`settled`]; panics after a minute with the last read.
fn wait(read: impl FnMut() -> (Value, Value, Value)) -> (Value, Value, Value) {
    common::poll("every event stored and the learned key applied", Duration::from_secs(60), read, |(a, e, _)| {
        settled(a, e)
    })
}

/// Settled: every event stored, and the learned key applied.
fn settled(accounts: &Value, events: &Value) -> bool {
    events.as_array().is_some_and(|e| e.len() == 12)
        && accounts.as_array().is_some_and(|a| a.iter().any(|r| r["company_domain"] == "umbrella-pharma.example"))
        && !accounts.as_array().is_some_and(|a| a.iter().any(|r| r["company_domain"] == "as64506"))
}

#[test]
fn identified_visitors_count_for_their_company_on_both_stores() {
    let now = now_ms();
    // Jane alone makes her company hot: this is about identity, so the bound on what one visitor adds per
    // day (`max_visitor_day_points`, which would stop her at warm) is off.
    let unbounded = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(unbounded.path(), UNBOUNDED).unwrap();
    let config = unbounded.path().to_str().unwrap();
    let server = Server::start(&["--site", "s1", "--trusted-proxy", "127.0.0.1/32", "--config", config]);
    // One request at a time, each stored before the next is sent: the earlier events are stored under
    // their networks before the identities arrive, so these must relabel them.
    let mut sent = 0;
    for (ip, body) in scenario(now) {
        assert_eq!(server.post_events(ip, &body).status, 202, "{body}");
        sent += serde_json::from_str::<Value>(&body).map_or(0, |v| v.as_array().map_or(0, Vec::len));
        server.wait_for("SELECT count(*) AS n FROM events", |rows| rows[0]["n"] == sent);
    }
    let (accounts, events, alerts) = wait(|| (server.sql(ACCOUNTS), server.sql(EVENTS), server.sql(ALERTS)));
    check("SQLite", &accounts, &events, &alerts);
    let sessions = server.sql(SESSIONS);

    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let _process = p.process(UNBOUNDED);
    let ingest = p.ingest("");
    let mut sent = 0;
    for (ip, body) in scenario(now) {
        assert_eq!(ingest.post(ip, &body).expect("POST").status, 202, "{body}");
        sent += serde_json::from_str::<Value>(&body).map_or(0, |v| v.as_array().map_or(0, Vec::len));
        common::poll(
            &format!("{sent} events in ClickHouse"),
            Duration::from_secs(60),
            || p.event_counts(),
            |c| c.1 >= sent as u64,
        );
    }
    let final_ = |q: &str| {
        p.sql(
            &q.replace("FROM accounts", "FROM accounts FINAL")
                .replace("FROM events", "FROM events FINAL")
                .replace("FROM sessions", "FROM sessions FINAL"),
        )
    };
    let (ch_accounts, ch_events, ch_alerts) = wait(|| (final_(ACCOUNTS), final_(EVENTS), final_(ALERTS)));
    check("ClickHouse", &ch_accounts, &ch_events, &ch_alerts);
    assert_eq!(ch_accounts, accounts, "the same accounts on both stores");
    assert_eq!(ch_events, events, "the same attribution of every event on both stores");
    // The relabelled sessions' old rows go in a background mutation.
    common::poll("the same sessions on both stores", Duration::from_secs(30), || final_(SESSIONS), |s| *s == sessions);
    let kinds =
        |rows: &Value| rows.as_array().map(|a| a.iter().map(|r| r["company_domain"].clone()).collect::<Vec<_>>());
    assert_eq!(kinds(&ch_alerts), kinds(&alerts), "alerts for the same accounts");
}
