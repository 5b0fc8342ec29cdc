//! `vtrack serve` end to end: real HTTP in, real SQLite out, read back through `vtrack sql`.

use crate::common;

use common::{Server, BROWSER_UA};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn pageview(eid: &str, vid: &str, url: &str) -> String {
    json!({ "site": "s1", "type": "pageview", "url": url, "vid": vid, "eid": eid, "title": "t" }).to_string()
}

fn by_key(rows: &Value, key: &str) -> std::collections::HashMap<String, Value> {
    rows.as_array().unwrap().iter().map(|r| (r[key].as_str().unwrap().to_string(), r.clone())).collect()
}

#[test]
fn page_views_become_events_sessions_and_accounts_with_the_right_companies() {
    let s = Server::start(&["--site", "s1", "--trusted-proxy", "127.0.0.1/32"]);
    let posts = [
        (
            "198.51.100.10",
            pageview("e1", "acme-1", "https://w.example/pricing?utm_source=linkedin&utm_medium=paid&utm_campaign=q4"),
        ),
        ("198.51.100.11", pageview("e2", "acme-2", "https://w.example/demo")),
        ("2001:db8:a000::7", pageview("e3", "acme-3", "https://w.example/")),
        ("198.51.100.70", pageview("e4", "globex-1", "https://w.example/blog/x")),
        ("203.0.113.200", pageview("e5", "umbrella-1", "https://w.example/")),
        ("192.0.2.5", pageview("e6", "hooli-1", "https://w.example/")),
        ("198.18.4.4", pageview("e7", "home-1", "https://w.example/")),
        ("203.0.113.5", pageview("e8", "uni-1", "https://w.example/docs")),
    ];
    for (ip, body) in &posts {
        let r = s.post_events(ip, body);
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.json()["accepted"], 1);
    }
    // A crawler from inside Acme is answered but never counted.
    let bot = s
        .request(
            "POST",
            "/v1/events",
            &[("user-agent", "Mozilla/5.0 (compatible; Googlebot/2.1)"), ("x-forwarded-for", "198.51.100.12")],
            pageview("bot1", "crawler", "https://w.example/").as_bytes(),
        )
        .unwrap();
    assert_eq!(bot.status, 202);

    let rows = s.wait_for("SELECT * FROM events ORDER BY event_id", |r| r.as_array().unwrap().len() >= 8);
    assert_eq!(rows.as_array().unwrap().len(), 8, "the bot's event must not be stored: {rows}");
    let ev = by_key(&rows, "event_id");
    let company = |id: &str| {
        let e = &ev[id];
        (e["company_domain"].as_str().unwrap().to_string(), e["network_class"].as_str().unwrap().to_string())
    };
    assert_eq!(company("e1"), ("acme-robotics.example".into(), "business".into()));
    assert_eq!(company("e3"), ("acme-robotics.example".into(), "business".into()), "IPv6 customer range");
    assert_eq!(company("e4"), ("globex.example".into(), "business".into()));
    assert_eq!(company("e5"), ("as64506".into(), "business".into()), "known only by its AS");
    assert_eq!(company("e6").1, "business");
    assert_eq!(ev["e6"]["company_name"], "Hooli", "known only from the MMDB");
    assert_eq!(company("e7").1, "isp");
    assert_eq!(company("e8").1, "education");
    assert_eq!(ev["e1"]["country"], "DE");
    assert_eq!(ev["e1"]["company_name"], "Acme Robotics");
    assert_eq!(
        (ev["e1"]["utm_source"].as_str(), ev["e1"]["utm_medium"].as_str(), ev["e1"]["utm_campaign"].as_str()),
        (Some("linkedin"), Some("paid"), Some("q4"))
    );
    assert_eq!(ev["e1"]["path"], "/pricing");

    let accounts = s.wait_for("SELECT * FROM accounts", |r| r.as_array().unwrap().len() >= 5);
    let acc = by_key(&accounts, "company_domain");
    assert_eq!(acc["acme-robotics.example"]["visitors"], 3);
    assert_eq!(acc["acme-robotics.example"]["pageviews"], 3);
    assert_eq!(acc["globex.example"]["sessions"], 1);
    assert!(acc.contains_key("as64506") && acc.contains_key("hooli.example"), "{accounts}");
    assert!(!acc.values().any(|a| a["network_class"] == "isp"), "an ISP is not an account: {accounts}");
    let sessions = s.sql("SELECT count(*) AS n FROM sessions");
    assert_eq!(sessions[0]["n"], 8);
}

#[test]
fn a_visit_after_thirty_quiet_minutes_is_a_return_visit() {
    let s = Server::start(&["--site", "s1", "--trusted-proxy", "127.0.0.1/32"]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let at = |eid: &str, minutes_ago: i64| {
        json!({ "site": "s1", "type": "pageview", "url": "https://w.example/p", "vid": "v1", "eid": eid, "ts": now - minutes_ago * 60_000 }).to_string()
    };
    for (eid, ago) in [("a", 120), ("b", 110), ("c", 20), ("d", 5)] {
        assert_eq!(s.post_events("198.51.100.20", &at(eid, ago)).status, 202);
        // One at a time, so each is processed after the one before.
        s.wait_for(&format!("SELECT 1 FROM events WHERE event_id = '{eid}'"), |r| !r.as_array().unwrap().is_empty());
    }
    let rows = s.sql("SELECT session_id, pageviews, is_return FROM sessions ORDER BY started_at");
    assert_eq!(
        rows,
        json!([{"session_id": "a", "pageviews": 2, "is_return": 0}, {"session_id": "c", "pageviews": 2, "is_return": 1}])
    );
    assert_eq!(s.sql("SELECT visitors, sessions FROM accounts"), json!([{"visitors": 1, "sessions": 2}]));
}

#[test]
fn forwarded_for_is_ignored_from_untrusted_peers() {
    let s = Server::start(&["--site", "s1"]);
    assert_eq!(s.post_events("198.51.100.10", &pageview("x1", "v", "https://w.example/")).status, 202);
    let rows = s.wait_for("SELECT company_domain, network_class FROM events", |r| !r.as_array().unwrap().is_empty());
    assert_eq!(rows, json!([{"company_domain": "", "network_class": "unknown"}]), "loopback is not Acme");
}

#[test]
fn cookieless_visits_get_a_derived_daily_id_and_the_pixel_works() {
    let s = Server::start(&["--site", "s1", "--trusted-proxy", "127.0.0.1/32"]);
    let body = json!({ "site": "s1", "type": "pageview", "url": "https://w.example/a" }).to_string();
    assert_eq!(s.post_events("198.51.100.30", &body).status, 202);
    assert_eq!(s.post_events("198.51.100.30", &body).status, 202);
    let px = s
        .request(
            "GET",
            "/v1/p.gif?site=s1&url=https%3A%2F%2Fw.example%2Fnoscript&vid=px1",
            &[("user-agent", BROWSER_UA)],
            b"",
        )
        .unwrap();
    assert_eq!((px.status, px.header("content-type")), (200, Some("image/gif")));
    let rows = s.wait_for("SELECT visitor_id, path, length(event_id) AS idlen FROM events ORDER BY path", |r| {
        r.as_array().unwrap().len() >= 3
    });
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["visitor_id"], rows[1]["visitor_id"], "same person, same day, same id");
    assert!(rows[0]["visitor_id"].as_str().unwrap().starts_with("d-"));
    assert_eq!(rows[0]["idlen"], 36, "ingest made a UUID event id");
    assert_eq!((rows[2]["path"].as_str(), rows[2]["visitor_id"].as_str()), (Some("/noscript"), Some("px1")));
}

#[test]
fn bad_input_gets_a_clear_error_and_loses_nothing_already_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vtrack.toml");
    std::fs::write(
        &config,
        "[server]\nbody_limit = 2048\nqueue_capacity = 4\n[[sites]]\nkey = \"s1\"\n[[sites]]\nkey = \"locked\"\norigins = [\"https://www.locked.example\"]\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let s = Server::start_in(&data, &["--config", config.to_str().unwrap()]);
    assert_eq!(s.post_events("1.2.3.4", &pageview("keep", "v", "https://w.example/")).status, 202);

    // (method, extra headers, body, expected status, words the error must contain)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("POST", vec![], "{\"site\": \"s1\", ".into(), 400, "malformed JSON"),
        ("POST", vec![], "".into(), 400, "empty body"),
        ("POST", vec![], json!({"site": "s1", "type": "pageview"}).to_string(), 400, "missing field `url`"),
        (
            "POST",
            vec![],
            json!([{"site": "s1", "type": "pageview", "url": "/a"}, {"site": "s1", "url": "/b"}]).to_string(),
            400,
            "event 1: missing field `type`",
        ),
        (
            "POST",
            vec![],
            json!({"site": "s1", "type": "pageview", "url": "/a", "vid": "a b"}).to_string(),
            400,
            "`vid`",
        ),
        ("POST", vec![], json!({"site": "nope", "type": "pageview", "url": "/a"}).to_string(), 403, "unknown site key"),
        (
            "POST",
            vec![("origin", "https://evil.example")],
            json!({"site": "locked", "type": "pageview", "url": "/a"}).to_string(),
            403,
            "may not post",
        ),
        ("POST", vec![], format!("[{}]", vec![pageview("big", "v", "https://w.example/"); 30].join(",")), 413, "limit"),
        ("GET", vec![], String::new(), 405, "not allowed"),
    ];
    for (method, headers, body, status, needle) in cases {
        let mut h = vec![("user-agent", BROWSER_UA)];
        h.extend(headers);
        let r = s.request(method, "/v1/events", &h, body.as_bytes()).unwrap();
        assert_eq!(r.status, status, "{body:.80}: {}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains(needle), "{needle:?} not in {}", r.body);
    }
    // More events in one request than the queue can ever hold: refused whole, with a retry hint.
    let five: Vec<String> = (0..5).map(|i| pageview(&format!("q{i}"), "v", "https://w.example/")).collect();
    let full = s.post_events("1.2.3.4", &format!("[{}]", five.join(",")));
    assert_eq!((full.status, full.header("retry-after")), (503, Some("1")), "{}", full.body);

    // The allowed origin works and gets CORS headers.
    let ok = s
        .request(
            "POST",
            "/v1/events",
            &[("user-agent", BROWSER_UA), ("origin", "https://www.locked.example")],
            json!({"site": "locked", "type": "pageview", "url": "/x", "eid": "locked-ok"}).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!((ok.status, ok.header("access-control-allow-origin")), (202, Some("https://www.locked.example")));
    let pre = s
        .request(
            "OPTIONS",
            "/v1/events",
            &[("origin", "https://www.locked.example"), ("access-control-request-method", "POST")],
            b"",
        )
        .unwrap();
    assert_eq!(pre.status, 204);
    assert!(pre.header("access-control-allow-methods").unwrap().contains("POST"));

    let rows = s.wait_for("SELECT event_id FROM events ORDER BY event_id", |r| r.as_array().unwrap().len() >= 2);
    assert_eq!(rows, json!([{"event_id": "keep"}, {"event_id": "locked-ok"}]));
    let metrics = s.request("GET", "/metrics", &[], b"").unwrap().body;
    assert!(metrics.contains("vtrack_ingest_events_dropped_total{reason=\"invalid\"}"), "{metrics}");
    assert!(metrics.contains("vtrack_process_events_stored_total 2"), "{metrics}");
}

/// `vtrack_ingest_events_dropped_total{reason=…}` from `/metrics`.
fn dropped(s: &Server, reason: &str) -> u64 {
    let metrics = s.request("GET", "/metrics", &[], b"").unwrap().body;
    let series = format!("vtrack_ingest_events_dropped_total{{reason=\"{reason}\"}} ");
    let line = metrics.lines().find_map(|l| l.strip_prefix(series.as_str()));
    line.unwrap_or_else(|| panic!("no {series} in {metrics}")).trim().parse().unwrap()
}

#[test]
fn events_the_tracker_saw_driven_by_automation_are_answered_like_a_bot_and_dropped() {
    let s = Server::start(&["--site", "s1"]);
    let driven = |eid: &str, auto: u32| json!({ "site": "s1", "type": "pageview", "url": "https://w.example/", "vid": "v1", "eid": eid, "auto": auto });
    assert_eq!(dropped(&s, "automation"), 0, "the reason is there from the start");
    // A desktop user agent passes the bot filter; the tracker's `auto` does not.
    let r = s.post_events("1.2.3.4", &driven("auto1", 1).to_string());
    assert_eq!((r.status, r.json()), (202, json!({"accepted": 1})), "answered as a bot is");
    // In a batch only the driven events go; `auto: 0` is a person's.
    let batch = json!([
        driven("auto2", 2),
        driven("person1", 0),
        json!({"site": "s1", "type": "pageview", "url": "/p", "eid": "person2"})
    ]);
    let r = s.post_events("1.2.3.4", &batch.to_string());
    assert_eq!((r.status, r.json()), (202, json!({"accepted": 3})));
    let bad = s.post_events("1.2.3.4", &driven("auto3", 256).to_string());
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("`auto`"), "{}", bad.body);

    let rows = s.wait_for("SELECT event_id FROM events ORDER BY event_id", |r| r.as_array().unwrap().len() >= 2);
    assert_eq!(rows, json!([{"event_id": "person1"}, {"event_id": "person2"}]));
    assert_eq!(dropped(&s, "automation"), 2);
    assert_eq!(dropped(&s, "bot"), 0);

    // The test-only switch keeps them (the browser tests drive Chromium with Playwright).
    let kept = Server::start(&["--site", "s1", "--keep-automated"]);
    assert_eq!(kept.post_events("1.2.3.4", &driven("auto4", 1).to_string()).status, 202);
    kept.wait_for("SELECT event_id FROM events", |r| r.as_array().unwrap().len() == 1);
    assert_eq!(dropped(&kept, "automation"), 0);
}

#[test]
fn the_tracker_and_health_are_served() {
    let s = Server::start(&["--site", "s1"]);
    let js = s.request("GET", "/t.js", &[], b"").unwrap();
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").unwrap().starts_with("application/javascript"));
    assert!(js.body.contains("/v1/events"), "the tracker posts to the beacon endpoint");
    assert_eq!(s.request("GET", "/nope", &[], b"").unwrap().status, 404);
}

#[test]
fn sigterm_during_a_burst_loses_no_event_that_got_a_2xx() {
    let mut s = Server::start(&["--site", "s1", "--trusted-proxy", "127.0.0.1/32"]);
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let addr = s.addr;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let accepted = accepted.clone();
            std::thread::spawn(move || {
                for i in 0..100_000 {
                    let batch: Vec<String> = (0..5)
                        .map(|j| pageview(&format!("w{w}-{i}-{j}"), &format!("v{w}"), "https://w.example/"))
                        .collect();
                    let body = format!("[{}]", batch.join(","));
                    let headers = [("user-agent", BROWSER_UA), ("x-forwarded-for", "198.51.100.10")];
                    match common::http(addr, "POST", "/v1/events", &headers, body.as_bytes()) {
                        Ok(r) if r.status == 202 => {
                            let mut a = accepted.lock().unwrap();
                            a.extend((0..5).map(|j| format!("w{w}-{i}-{j}")));
                        }
                        Ok(_) => {}
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let status = s.terminate();
    for w in workers {
        w.join().unwrap();
    }
    assert!(status.success(), "vtrack exited with {status}");
    let accepted = accepted.lock().unwrap();
    assert!(accepted.len() > 100, "the burst was too small to mean anything: {}", accepted.len());
    let stored: HashSet<String> = common::sql(&s.data_dir, "SELECT event_id FROM events")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<_> = accepted.iter().filter(|id| !stored.contains(*id)).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} of {} accepted events missing, e.g. {missing:?}",
        accepted.iter().filter(|id| !stored.contains(*id)).count(),
        accepted.len()
    );
}
