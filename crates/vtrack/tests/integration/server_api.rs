//! The server-side API through the real binary, on the embedded store and on Kafka + ClickHouse: a backend
//! identifies a visitor and her earlier and later sessions count for her company; a wrong, missing or
//! revoked secret gets 401 and stores nothing; a server page view naming the client's address resolves it;
//! a conversion is on the account's timeline, in SQL and in the score.

use crate::common;

use common::prod::{shared_clickhouse, shared_kafka, Pipeline};
use common::{Server, TOKEN};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use vtrack_model::time::now_ms;

const SECRET: &str = "backend-secret-0123456789abcdef";
const NEW_SECRET: &str = "rotated-secret-0123456789abcdef";
const HOME_ISP: &str = "198.18.0.10"; // Example Broadband (fixtures/asn.csv): isp
const ACME: &str = "198.51.100.7"; // Acme Robotics (fixtures/companies.csv)
const MIN: i64 = 60_000;

/// The config: site `s1` with `secrets`, the dashboard token, a conversion weight, no per-visitor bound.
fn config(secrets: &[&str]) -> String {
    format!(
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[[sites]]\nkey = \"s1\"\nsecrets = {}\n\
         [dashboard]\ntoken = \"{TOKEN}\"\n[scoring]\nmax_visitor_day_points = 0\nevent_weights = {{ trial_started = 30 }}\n",
        json!(secrets)
    )
}

fn start(dir: &Path, secrets: &[&str]) -> Server {
    let path = dir.join("vtrack.toml");
    std::fs::write(&path, config(secrets)).unwrap();
    Server::start_in(&dir.join("data"), &["--config", path.to_str().unwrap()])
}

fn server_post(s: &Server, auth: Option<&str>, body: &Value) -> common::Response {
    let bearer = auth.map(|a| format!("bearer {a}"));
    let mut headers = vec![("content-type", "application/json"), ("user-agent", "node-fetch/1.0")];
    if let Some(b) = &bearer {
        headers.push(("authorization", b));
    }
    s.request("POST", "/v1/server/events", &headers, body.to_string().as_bytes()).expect("POST")
}

fn page(eid: &str, vid: &str, path: &str, ts: i64) -> Value {
    json!({ "site": "s1", "type": "pageview", "url": format!("https://www.s1.example{path}"), "vid": vid,
            "eid": eid, "ts": ts })
}

#[test]
fn a_backend_identifies_a_visitor_and_her_sessions_before_and_after_count_for_her_company() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &[SECRET]);
    let now = now_ms();
    // Jane browses from home (an ISP: no account), then fills in a form the backend handles.
    assert_eq!(s.post_events(HOME_ISP, &page("j-1", "v-jane", "/pricing", now - 120 * MIN).to_string()).status, 202);
    s.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"] == 1);
    let identify = json!({ "type": "identify", "vid": "v-jane", "email": "jane@brightwater.example",
                           "eid": "j-id", "ts": now - 110 * MIN });
    let r = server_post(&s, Some(SECRET), &identify);
    assert_eq!(r.status, 202, "{}", r.json());
    // An hour later, from the same home network: a new session.
    assert_eq!(s.post_events(HOME_ISP, &page("j-2", "v-jane", "/demo", now - 30 * MIN).to_string()).status, 202);
    let sessions = s.wait_for(
        "SELECT company_domain, count(*) AS n FROM sessions WHERE visitor_id = 'v-jane' GROUP BY company_domain",
        |r| {
            r.as_array()
                .is_some_and(|a| a.len() == 1 && a[0]["n"] == 2 && a[0]["company_domain"] == "brightwater.example")
        },
    );
    assert_eq!(sessions[0]["company_domain"], "brightwater.example");
    let account = s
        .wait_for("SELECT sessions, id_source FROM accounts WHERE company_domain = 'brightwater.example'", |r| {
            r.as_array().is_some_and(|a| a.len() == 1)
        });
    assert_eq!((&account[0]["sessions"], &account[0]["id_source"]), (&json!(2), &json!("contact")));
}

#[test]
fn wrong_missing_or_revoked_secrets_get_401_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let event = json!({ "type": "trial_started", "vid": "v-x", "eid": "x-1" });
    {
        // Two secrets while the backends move from the old to the new.
        let s = start(dir.path(), &[SECRET, NEW_SECRET]);
        for auth in [None, Some("not-the-secret-0123456789abcdef"), Some("short")] {
            let r = server_post(&s, auth, &event);
            assert_eq!(r.status, 401, "{auth:?}: {}", r.json());
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
        assert_eq!(
            server_post(&s, Some(NEW_SECRET), &json!({ "type": "trial_started", "vid": "v-x", "eid": "x-0" })).status,
            202
        );
        s.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"] == 1);
    }
    // The old secret revoked: only the new one in the config.
    let s = start(dir.path(), &[NEW_SECRET]);
    assert_eq!(server_post(&s, Some(SECRET), &event).status, 401, "a revoked secret");
    // An event of another site, even with a good secret, is refused.
    let other = json!({ "site": "s2", "type": "trial_started", "vid": "v-x", "eid": "x-2" });
    assert_eq!(server_post(&s, Some(NEW_SECRET), &other).status, 400);
    std::thread::sleep(Duration::from_millis(500));
    let ids = s.sql("SELECT event_id FROM events ORDER BY event_id");
    assert_eq!(ids, json!([{ "event_id": "x-0" }]), "nothing refused was stored");
}

#[test]
fn a_server_page_view_resolves_the_clients_address_and_a_conversion_counts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &[SECRET]);
    let now = now_ms();
    // A server-rendered page view, naming the client's address (Acme's range); the backend's own address
    // (loopback) is never resolved.
    let view = json!({ "type": "pageview", "vid": "v-acme", "eid": "a-1", "url": "https://www.s1.example/pricing",
                       "ip": ACME, "ts": now - 5 * MIN });
    assert_eq!(server_post(&s, Some(SECRET), &view).status, 202);
    let before = s.wait_for("SELECT score FROM accounts WHERE company_domain = 'acme-robotics.example'", |r| {
        r.as_array().is_some_and(|a| a.len() == 1)
    })[0]["score"]
        .as_f64()
        .unwrap();
    // The trial she started, a minute later: same visitor, same session, worth 30 points.
    let trial = json!({ "type": "trial_started", "vid": "v-acme", "eid": "a-2", "ts": now - 4 * MIN,
                        "props": { "plan": "pro" } });
    assert_eq!(server_post(&s, Some(SECRET), &trial).status, 202);
    let events = s.wait_for(
        "SELECT event_id, type, company_domain FROM events WHERE visitor_id = 'v-acme' ORDER BY event_id",
        |r| r.as_array().is_some_and(|a| a.len() == 2),
    );
    assert_eq!(events[0]["company_domain"], "acme-robotics.example", "{events}");
    assert_eq!(events[1]["type"], "trial_started");
    let after = s.wait_for("SELECT score FROM accounts WHERE company_domain = 'acme-robotics.example'", |r| {
        r[0]["score"].as_f64().is_some_and(|x| x > before + 25.0)
    })[0]["score"]
        .as_f64()
        .unwrap();
    assert!(after - before >= 29.0 && after - before <= 30.5, "the conversion's 30 points: {before} -> {after}");
    // On the account's timeline.
    let detail = common::api(&s, TOKEN, "GET", "/api/accounts/acme-robotics.example?site=s1", "").json();
    assert!(detail.to_string().contains("trial_started"), "the timeline shows the conversion: {detail}");
}

#[test]
fn on_kafka_and_clickhouse_a_backend_identifies_and_converts() {
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let extra = format!("[[sites]]\nkey = \"s1\"\nsecrets = [\"{SECRET}\"]\n[scoring]\nmax_visitor_day_points = 0\nevent_weights = {{ trial_started = 30 }}\n");
    let _process = p.process(&extra);
    let ingest = p.ingest(&extra);
    let now = now_ms();
    assert_eq!(
        ingest.post(HOME_ISP, &page("k-1", "v-kim", "/pricing", now - 10 * MIN).to_string()).unwrap().status,
        202
    );
    let post = |body: &Value, auth: &str| {
        common::http(
            ingest.addr,
            "POST",
            "/v1/server/events",
            &[("content-type", "application/json"), ("authorization", &format!("Bearer {auth}"))],
            body.to_string().as_bytes(),
        )
        .unwrap()
    };
    assert_eq!(
        post(&json!({ "type": "trial_started", "vid": "v-kim", "eid": "k-0" }), "wrong-secret-0123456789abcdef").status,
        401
    );
    let identify =
        json!({ "type": "identify", "vid": "v-kim", "email": "kim@globex.example", "eid": "k-2", "ts": now - 9 * MIN });
    assert_eq!(post(&identify, SECRET).status, 202);
    let trial = json!({ "type": "trial_started", "vid": "v-kim", "eid": "k-3", "ts": now - 8 * MIN });
    assert_eq!(post(&trial, SECRET).status, 202);
    let rows = common::poll(
        "the account of Kim's company with her trial",
        Duration::from_secs(60),
        || p.sql("SELECT company_domain, score, id_source FROM accounts FINAL WHERE company_domain = 'globex.example'"),
        |r| r.as_array().is_some_and(|a| a.len() == 1 && a[0]["score"].as_f64().is_some_and(|s| s >= 30.0)),
    );
    assert_eq!(rows[0]["id_source"], "contact");
    let ids = p.sql("SELECT event_id FROM events FINAL WHERE site = 's1' ORDER BY event_id");
    assert!(!ids.to_string().contains("k-0"), "the refused event is not stored: {ids}");
}
