//! The weekly digest through the real binary, on the embedded store and on Kafka + ClickHouse, with the same
//! content. Both run on a test clock (`common::TestClock`): Monday 2 March 2026 at 00:30 UTC, 09:30 in
//! Tokyo, whatever day the test is run on. The digest is set for Mondays at 9, so site `s1`'s (Tokyo) is due
//! at start; `s2`'s (New York, where it is still Sunday evening) was due last Monday and is sent late within
//! its week. Each site gets one digest, signed, in JSON and in Slack's format; `s1`'s funnel numbers are
//! `/api/funnel`'s for last week, with the account that turned hot last week (by client time), its owner,
//! and how late its follow-up is; more rounds and a restart send none again.

use crate::common;

use common::prod::{shared_clickhouse, shared_kafka, Pipeline, Proc};
use common::webhook::{receiver, Received};
use common::{api, poll, Server, TestClock};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vtrack_model::time::parse_secs;

const TOKEN: &str = "t0ken-for-tests";

/// The clock's start: a Monday, in the hour after 00:00 UTC (when the digest test once failed, for it took
/// its times from the wall clock).
const NOW: &str = "2026-03-02 00:30:00";

/// Last Friday noon UTC, in the funnel week before the one holding the digest time: when Acme turns hot.
const LAST_FRIDAY: &str = "2026-02-27 12:00:00";

/// How long until the digests arrive (on Kafka, once the processor joined its group and holds partition 0).
const DIGESTS_WITHIN: Duration = Duration::from_secs(60);

fn ms(utc: &str) -> i64 {
    parse_secs(utc).expect("a UTC time") * 1000
}

/// The config of every process: two sites in their time zones, a JSON and a Slack webhook, the owner ana
/// for every account, a 24 h follow-up deadline, and the digest on Mondays at 9 when `digest` is set.
fn config(json_port: u16, slack_port: u16, digest: bool) -> String {
    format!(
        "[[sites]]\nkey = \"s1\"\ntimezone = \"Asia/Tokyo\"\n[[sites]]\nkey = \"s2\"\ntimezone = \"America/New_York\"\n\
         [dashboard]\ntoken = \"{TOKEN}\"\n\
         [[alerts.webhooks]]\nurl = \"http://127.0.0.1:{json_port}/hook\"\nsecret = \"site\"\n\
         [[alerts.webhooks]]\nurl = \"http://127.0.0.1:{slack_port}/slack\"\nsecret = \"slack\"\nformat = \"slack\"\n\
         [[owners]]\nname = \"ana\"\n[[assign]]\nteam = [\"ana\"]\n\
         [sla]\nhot_followup = \"24h\"\n\
         [digest]\nenabled = {digest}\nweekday = \"monday\"\nhour = 9\n"
    )
}

/// Last week's page views by client time (within the 30-day clock window): Alex and Sam of Acme Robotics
/// make it hot; Gia of Globex leaves it cold. `post` sends one beacon from an address.
fn last_weeks_visits(mut post: impl FnMut(&str, &str)) {
    let views = [
        ("198.51.100.10", "alex", "a1", "/pricing"),
        ("198.51.100.10", "alex", "a2", "/demo"),
        ("198.51.100.11", "sam", "b1", "/demo"),
        ("198.51.100.70", "gia", "g1", "/blog"),
    ];
    for (minute, (ip, vid, eid, path)) in views.into_iter().enumerate() {
        let beacon = json!({
            "site": "s1", "type": "pageview", "url": format!("https://w.example{path}"), "vid": vid, "eid": eid,
            "ts": ms(LAST_FRIDAY) + minute as i64 * 60_000,
        });
        post(ip, &beacon.to_string());
    }
}

/// The digest bodies a receiver got, as JSON, in arrival order.
fn digests(log: &Arc<Mutex<Vec<Received>>>, slack: bool) -> Vec<Value> {
    let bodies: Vec<Value> = log.lock().unwrap().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    bodies
        .into_iter()
        .filter(|v| match slack {
            false => v["type"] == "vtrack.digest",
            true => v["text"].as_str().is_some_and(|t| t.starts_with("📊 Weekly digest")),
        })
        .collect()
}

/// The two receivers: JSON and Slack.
struct Receivers {
    json: (u16, Arc<Mutex<Vec<Received>>>),
    slack: (u16, Arc<Mutex<Vec<Received>>>),
}

impl Receivers {
    fn start() -> Receivers {
        Receivers { json: receiver(0), slack: receiver(0) }
    }

    fn config(&self, digest: bool) -> String {
        config(self.json.0, self.slack.0, digest)
    }

    /// Both sites' digests in both formats, once they all arrived.
    fn wait_for_digests(&self) -> Vec<Value> {
        let counts = || (digests(&self.json.1, false).len(), digests(&self.slack.1, true).len());
        poll("two digests to each receiver (JSON, Slack)", DIGESTS_WITHIN, counts, |n| *n == (2, 2));
        digests(&self.json.1, false)
    }

    /// After more rounds and a restart: still only the first two of each.
    fn assert_none_again(&self) {
        assert_eq!(digests(&self.json.1, false).len(), 2, "none again after a restart");
        assert_eq!(digests(&self.slack.1, true).len(), 2);
    }
}

/// What both stores must send, `funnel` being `/api/funnel?site=s1&period=week` from the same store.
fn assert_the_digests(receivers: &Receivers, first: &[Value], funnel: &Value, clock: &TestClock) {
    let mut sites: Vec<&str> = first.iter().map(|d| d["site"].as_str().unwrap()).collect();
    sites.sort();
    assert_eq!(sites, ["s1", "s2"], "one per site");
    let s1 = first.iter().find(|d| d["site"] == "s1").unwrap();
    assert_eq!(s1["timezone"], "Asia/Tokyo");
    assert_eq!(s1["scheduled_at"], "2026-03-02 00:00:00", "Monday 09:00 in Tokyo");
    assert_eq!(s1["digest_id"], "s1:digest:2026-03-02");
    let s2 = first.iter().find(|d| d["site"] == "s2").unwrap();
    assert_eq!(s2["scheduled_at"], "2026-02-23 14:00:00", "{s2}: last Monday 09:00 in New York, sent late");
    assert_eq!(s2["digest_id"], "s2:digest:2026-02-23");
    assert_eq!(s2["last_week"]["identified"], 0, "s2 had no visits");

    // s1's numbers are the funnel's for last week and the week before.
    let rows = funnel["rows"].as_array().unwrap();
    let total = |week: &Value| rows.iter().find(|r| r["period"] == *week && r["campaign"].is_null());
    let row = total(&s1["last_week"]["week"]).unwrap_or_else(|| panic!("no funnel row for {s1}: {funnel}"));
    for k in ["identified", "warm", "hot", "contacted", "qualified", "won", "lost", "followed_up_in_time"] {
        assert_eq!(s1["last_week"][k], row[k], "{k}");
    }
    assert_eq!((&s1["last_week"]["identified"], &s1["last_week"]["hot"]), (&json!(2), &json!(1)));
    assert_eq!(s1["last_week"]["week"], "2026-02-23");
    assert!(total(&s1["week_before"]["week"]).is_none() && s1["week_before"]["identified"] == 0);
    assert_eq!(
        (&s1["new_hot"][0]["domain"], &s1["new_hot"][0]["owner"]),
        (&json!("acme-robotics.example"), &json!("ana"))
    );
    assert_eq!(s1["new_hot"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&s1["overdue"][0]["domain"], &s1["overdue"][0]["owner"]),
        (&json!("acme-robotics.example"), &json!("ana"))
    );
    // Hot on Friday just after noon, due 24 h later; 36 hours late at 00:30 on Monday.
    assert_eq!(s1["overdue"][0]["overdue_hours"], 36, "{s1}");

    // Signed like alerts, with the digest id as the idempotency key; Slack gets its own format.
    let received = receivers.json.1.lock().unwrap().clone();
    let r = received.iter().find(|r| {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v["type"] == "vtrack.digest" && v["site"] == "s1"
    });
    let r = r.unwrap();
    let sig = r.header("x-vtrack-signature").unwrap_or_default().to_string();
    assert!(vtrack_alert::verify("site", &sig, &r.body, clock.now_ms() / 1000, 600), "signed at the clock's time");
    assert_eq!(r.header("idempotency-key"), s1["digest_id"].as_str());
    let slack = digests(&receivers.slack.1, true).iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    assert!(slack.contains("owner ana") && slack.contains("identified 2 (+2)"), "{slack}");
}

#[test]
fn one_digest_per_site_at_the_configured_hour_with_the_funnels_numbers_and_none_again_after_a_restart() {
    let receivers = Receivers::start();
    let clock = TestClock::at(ms(NOW));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vtrack.toml");
    let write_config = |digest: bool| {
        let server = "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\nclient_clock_window = \"30d\"\n";
        std::fs::write(&config, format!("{server}{}", receivers.config(digest))).unwrap();
    };
    let data = dir.path().join("data");
    let args = ["--config", config.to_str().unwrap()];
    let start = || Server::start_in_env(&data, &args, &[clock.env()]);

    // Last week's visits, before digests are on: Acme turns hot, owned by ana, and is never contacted.
    write_config(false);
    let mut s = start();
    last_weeks_visits(|ip, body| assert_eq!(s.post_events(ip, body).status, 202));
    s.wait_for_rows("SELECT count(*) AS n FROM alerts WHERE kind = 'became_hot'", &json!([{ "n": 1 }]), common::WAIT);
    assert!(s.terminate().success());

    // Digests on: both sites' are due at start.
    write_config(true);
    let mut s = start();
    let first = receivers.wait_for_digests();
    let funnel = api(&s, TOKEN, "GET", "/api/funnel?site=s1&period=week", "").json();
    assert_the_digests(&receivers, &first, &funnel, &clock);

    // More rounds, then a restart: nothing is sent again this week.
    std::thread::sleep(Duration::from_secs(2));
    assert!(s.terminate().success());
    let s = start();
    std::thread::sleep(Duration::from_secs(4));
    receivers.assert_none_again();
    assert_eq!(s.sql("SELECT count(*) AS n FROM alerts WHERE kind = 'weekly_digest'"), json!([{ "n": 2 }]));
}

#[test]
fn the_same_digests_through_kafka_and_clickhouse() {
    let receivers = Receivers::start();
    let clock = TestClock::at(ms(NOW));
    let p = Pipeline::new(shared_kafka(), shared_clickhouse()).with_clock(&clock);
    let ingest = p.ingest("[server]\nclient_clock_window = \"30d\"\n");

    // Last week's visits, before digests are on.
    let mut process = p.process(&receivers.config(false));
    last_weeks_visits(|ip, body| assert_eq!(ingest.post(ip, body).expect("POST").status, 202));
    let hot = "SELECT count() AS n FROM alerts FINAL WHERE kind = 'became_hot'";
    poll("Acme hot in ClickHouse", Duration::from_secs(60), || p.sql(hot), |rows| *rows == json!([{ "n": 1 }]));
    process.terminate();

    // Digests on: both sites' are due at start (once the processor holds partition 0).
    let mut process = p.process(&receivers.config(true));
    let first = receivers.wait_for_digests();
    // The dashboard API with the same config (the funnel's in-time follow-ups need `[sla]`).
    let api_role: Proc = p.api(&receivers.config(true));
    let auth = format!("Bearer {TOKEN}");
    let funnel =
        common::http(api_role.addr, "GET", "/api/funnel?site=s1&period=week", &[("authorization", &auth)], b"")
            .expect("GET /api/funnel")
            .json();
    assert_the_digests(&receivers, &first, &funnel, &clock);

    // More rounds, then a restart: nothing is sent again this week. The restarted processor is the group's
    // only member once it stores a new event, so it holds partition 0 and has had its digest rounds.
    std::thread::sleep(Duration::from_secs(2));
    process.terminate();
    let _process = p.process(&receivers.config(true));
    let beacon = r#"{"site":"s1","type":"pageview","url":"https://w.example/","vid":"dana","eid":"after-restart"}"#;
    assert_eq!(ingest.post("198.51.100.12", beacon).expect("POST").status, 202);
    let stored = "SELECT count() AS n FROM events FINAL WHERE event_id = 'after-restart'";
    poll(
        "an event stored by the restarted processor",
        Duration::from_secs(60),
        || p.sql(stored),
        |rows| *rows == json!([{ "n": 1 }]),
    );
    std::thread::sleep(Duration::from_secs(4));
    receivers.assert_none_again();
    let stored = p.sql("SELECT count() AS n FROM alerts FINAL WHERE kind = 'weekly_digest'");
    assert_eq!(stored, json!([{ "n": 2 }]));
}
