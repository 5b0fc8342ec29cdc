//! The weekly digest through the real `vtrack serve`: the configured weekday and hour are "now" in Tokyo
//! (computed here), so site `s1`'s digest is due at start; `s2` in New York has its latest digest time
//! within the past week, so its digest is due too (a missed digest is sent late within its week). Each
//! site gets one digest, signed, in JSON and in Slack's format; `s1`'s funnel numbers are `/api/funnel`'s
//! for last week, with the account that turned hot last week (by client time), its owner, and it overdue;
//! more rounds and a restart send none again.

mod common;

use common::webhook::{receiver, Received};
use common::{api, wait_until, Server};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "t0ken-for-tests";
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A page view on `site` at client time `ts_ms` (within the configured clock window), answered 202.
fn view_at(s: &Server, site: &str, ip: &str, vid: &str, eid: &str, path: &str, ts_ms: i64) {
    let body = json!({
        "site": site, "type": "pageview", "url": format!("https://w.example{path}"), "vid": vid, "eid": eid,
        "ts": ts_ms,
    });
    assert_eq!(s.post_events(ip, &body.to_string()).status, 202);
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

#[test]
fn one_digest_per_site_at_the_configured_hour_with_the_funnels_numbers_and_none_again_after_a_restart() {
    let (json_port, json_log) = receiver(0);
    let (slack_port, slack_log) = receiver(0);
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap());
    let weekday = format!("{:?}", now.weekday()).to_ascii_lowercase();
    let hour = now.hour();
    // Tokyo is a whole number of hours from UTC: its hour starts when the UTC hour does.
    let now_ms = now.timestamp().as_millisecond();
    let scheduled_ms = now_ms - now_ms.rem_euclid(HOUR_MS);
    // Friday noon UTC of the funnel week before the one holding the digest time.
    let days = (scheduled_ms - 7 * DAY_MS).div_euclid(DAY_MS);
    let last_monday_ms = (days - (days + 3).rem_euclid(7)) * DAY_MS;
    let friday_ms = last_monday_ms + 4 * DAY_MS + 12 * HOUR_MS;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vtrack.toml");
    let write_config = |digest: bool| {
        std::fs::write(
            &config,
            format!(
                "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\nclient_clock_window = \"30d\"\n\
                 [[sites]]\nkey = \"s1\"\ntimezone = \"Asia/Tokyo\"\n[[sites]]\nkey = \"s2\"\ntimezone = \"America/New_York\"\n\
                 [dashboard]\ntoken = \"{TOKEN}\"\n\
                 [[alerts.webhooks]]\nurl = \"http://127.0.0.1:{json_port}/hook\"\nsecret = \"site\"\n\
                 [[alerts.webhooks]]\nurl = \"http://127.0.0.1:{slack_port}/slack\"\nsecret = \"slack\"\nformat = \"slack\"\n\
                 [[owners]]\nname = \"ana\"\n[[assign]]\nteam = [\"ana\"]\n\
                 [sla]\nhot_followup = \"24h\"\n\
                 [digest]\nenabled = {digest}\nweekday = \"{weekday}\"\nhour = {hour}\n"
            ),
        )
        .unwrap();
    };
    let data = dir.path().join("data");
    let args = ["--config", config.to_str().unwrap()];

    // Last week (by client time), before digests are on: Acme turns hot, owned by ana, and is never
    // contacted; Globex stays cold.
    write_config(false);
    let mut s = Server::start_in(&data, &args);
    let ts = |m: i64| friday_ms + m * 60_000;
    view_at(&s, "s1", "198.51.100.10", "alex", "a1", "/pricing", ts(0));
    view_at(&s, "s1", "198.51.100.10", "alex", "a2", "/demo", ts(1));
    view_at(&s, "s1", "198.51.100.11", "sam", "b1", "/demo", ts(2));
    view_at(&s, "s1", "198.51.100.70", "gia", "g1", "/blog", ts(3));
    wait_until("Acme hot", 20, || {
        s.sql("SELECT count(*) AS n FROM alerts WHERE kind = 'became_hot'") == json!([{ "n": 1 }])
    });
    assert!(s.terminate().success());

    // Digests on: both sites' are due at start.
    write_config(true);
    let mut s = Server::start_in(&data, &args);
    wait_until("the digests", 20, || digests(&json_log, false).len() == 2 && digests(&slack_log, true).len() == 2);
    let first = digests(&json_log, false);
    let mut sites: Vec<&str> = first.iter().map(|d| d["site"].as_str().unwrap()).collect();
    sites.sort();
    assert_eq!(sites, ["s1", "s2"], "one per site");
    let s1 = first.iter().find(|d| d["site"] == "s1").unwrap().clone();
    assert_eq!(s1["timezone"], "Asia/Tokyo");
    assert_eq!(s1["scheduled_at"], vtrack_model::time::format_ms(scheduled_ms), "at the configured hour");
    assert_eq!(s1["digest_id"], format!("s1:digest:{}", now.date()));
    let s2 = first.iter().find(|d| d["site"] == "s2").unwrap();
    let s2_at = vtrack_model::time::parse_secs(s2["scheduled_at"].as_str().unwrap()).unwrap() * 1000;
    assert!(s2_at <= now_ms + 60_000 && s2_at > now_ms - 7 * DAY_MS, "{s2}: its latest time, within the week");
    assert_eq!(s2["last_week"]["identified"], 0, "s2 had no visits");

    // s1's numbers are the funnel's for last week and the week before.
    let funnel = api(&s, TOKEN, "GET", "/api/funnel?site=s1&period=week", "").json();
    let rows = funnel["rows"].as_array().unwrap();
    let total = |week: &Value| rows.iter().find(|r| r["period"] == *week && r["campaign"].is_null());
    let row = total(&s1["last_week"]["week"]).unwrap_or_else(|| panic!("no funnel row for {s1}: {funnel}"));
    for k in ["identified", "warm", "hot", "contacted", "qualified", "won", "lost", "followed_up_in_time"] {
        assert_eq!(s1["last_week"][k], row[k], "{k}");
    }
    assert_eq!((&s1["last_week"]["identified"], &s1["last_week"]["hot"]), (&json!(2), &json!(1)));
    assert_eq!(s1["last_week"]["week"], vtrack_model::time::format_ms(last_monday_ms)[..10]);
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
    assert!(s1["overdue"][0]["overdue_hours"].as_i64().unwrap() >= 24, "{s1}");

    // Signed like alerts, with the digest id as the idempotency key; Slack gets its own format.
    let received = json_log.lock().unwrap().clone();
    let r = received.iter().find(|r| {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v["type"] == "vtrack.digest" && v["site"] == "s1"
    });
    let r = r.unwrap();
    let sig = r.header("x-vtrack-signature").unwrap_or_default().to_string();
    assert!(vtrack_alert::verify("site", &sig, &r.body, now_ms / 1000 + 60, 600));
    assert_eq!(r.header("idempotency-key"), s1["digest_id"].as_str());
    let slack = digests(&slack_log, true).iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    assert!(slack.contains("owner ana") && slack.contains("identified 2 (+2)"), "{slack}");

    // More rounds, then a restart: nothing is sent again this week.
    std::thread::sleep(Duration::from_secs(2));
    assert!(s.terminate().success());
    let s = Server::start_in(&data, &args);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(digests(&json_log, false).len(), 2, "none again after a restart");
    assert_eq!(digests(&slack_log, true).len(), 2);
    assert_eq!(s.sql("SELECT count(*) AS n FROM alerts WHERE kind = 'weekly_digest'"), json!([{ "n": 2 }]));
}
