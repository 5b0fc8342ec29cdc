//! The production path through real parts: `vtrack ingest` → Kafka (tansu) → `vtrack process` →
//! ClickHouse (Debian's 18.16 server), and the faults it must survive without losing or double-counting
//! an event: each run ends with `count()` and `uniqExact(event_id)` of `events FINAL` equal to the events
//! answered 2xx, and with the same account scores as an undisturbed run of the same workload.

use crate::common;

use common::prod::{
    post_all, shared_clickhouse, shared_kafka, undisturbed, workload, Pipeline, PrivateClickHouse, PrivateKafka,
    SMALL_BATCHES,
};
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(180);

/// How long the two stores may take to answer alike once both hold the events (ClickHouse merges).
const SAME: Duration = Duration::from_secs(30);

#[test]
fn beacons_reach_clickhouse_through_kafka_with_their_companies() {
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let _process = p.process("");
    let ingest = p.ingest("");
    let visits = [
        ("198.51.100.9", "acme-robotics.example", "business"),
        ("2001:db8:a000::5", "acme-robotics.example", "business"),
        ("198.51.100.70", "globex.example", "business"),
        ("203.0.113.10", "as64504", "education"),
        ("192.0.2.10", "hooli.example", "business"),
        ("198.18.0.1", "", "isp"),
        ("198.19.0.1", "", "hosting"),
    ];
    for (i, (ip, _, _)) in visits.iter().enumerate() {
        let body = json!({ "site": "s1", "type": "pageview", "url": "https://www.example.com/pricing",
                           "vid": format!("v{i}"), "eid": format!("e{i}") });
        let r = ingest.post(ip, &body.to_string()).expect("post");
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let (counts, _) = p.settle(visits.len() as u64, SETTLE);
    assert_eq!(counts, (7, 7));
    let rows = p.sql("SELECT event_id, company_domain, network_class FROM events FINAL ORDER BY event_id");
    for (i, (ip, domain, class)) in visits.iter().enumerate() {
        let row = &rows[i];
        assert_eq!(row["event_id"], format!("e{i}"));
        assert_eq!(row["network_class"], *class, "{ip}");
        if !domain.is_empty() {
            assert_eq!(row["company_domain"], *domain, "{ip}");
        }
    }
    // Accounts only for the classes that make one.
    let accounts = p.sql("SELECT company_domain FROM accounts FINAL ORDER BY company_domain");
    let domains: Vec<&str> =
        accounts.as_array().unwrap().iter().map(|r| r["company_domain"].as_str().unwrap()).collect();
    assert_eq!(domains, ["acme-robotics.example", "as64504", "globex.example", "hooli.example"]);
    let acme = p.sql("SELECT session_id FROM sessions FINAL WHERE company_domain = 'acme-robotics.example'");
    assert_eq!(acme.as_array().unwrap().len(), 2, "two visitors, one session each");
}

/// The migrated ClickHouse schema holds exactly the columns of `vtrack_store::columns` (with its own
/// `version` on `accounts`), as the SQLite schema does (a unit test of vtrack-store).
#[test]
fn the_clickhouse_schema_holds_the_column_lists() {
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    for (table, list) in [("sessions", vtrack_store::columns::SESSIONS), ("accounts", vtrack_store::columns::ACCOUNTS)]
    {
        let rows = p.sql(&format!(
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '{table}' ORDER BY name"
        ));
        let mut got: Vec<String> =
            rows.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect();
        got.retain(|c| !(table == "accounts" && c == "version"));
        let mut want: Vec<String> = list.iter().map(|c| c.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{table}");
    }
}

#[test]
fn sql_on_clickhouse_is_read_only() {
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let out = std::process::Command::new(common::bin())
        .args(["sql", "--clickhouse", &p.clickhouse, "DROP TABLE events"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("readonly"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(p.event_counts(), (0, 0), "the table is still there");
}

#[test]
fn clickhouse_and_the_embedded_store_agree_on_every_account() {
    let expected = undisturbed(workload());
    assert!(expected.as_array().is_some_and(|a| a.len() == 6), "six accounts in the workload: {expected}");
    let server = common::Server::start(&["--site", "s1", "--trusted-proxy", "127.0.0.1/32"]);
    for r in workload() {
        assert_eq!(server.post_events(&r.ip, &r.body).status, 202);
    }
    let query =
        "SELECT company_domain, company_name, network_class, country, visitors, sessions, pageviews, engaged_ms,
                   return_visits, round(score, 6) AS score, stage, first_seen, last_seen, topics, top_pages, campaigns
                 FROM accounts ORDER BY company_domain";
    let total = workload().iter().map(|r| r.events as u64).sum::<u64>();
    server.wait_for("SELECT count(*) AS n FROM events", |rows| rows[0]["n"] == total);
    // SQLite and ClickHouse hold the same accounts for the same events.
    server.wait_for_rows(query, expected, common::WAIT);
}

#[test]
fn two_processors_send_one_signed_alert_per_hot_account_through_the_clickhouse_outbox() {
    const SECRET: &str = "ch-secret";
    let (port, log) = common::webhook::receiver(2);
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    // Umbrella's class rests on its name alone (nothing here shows its network): the outbox is under test,
    // so it alerts on the name as the others do on their ranges and names.
    let config = format!(
        "[scoring]\nexclude_domains = [\"initech.example\"]\n[alerts]\nmin_class_confidence = 0\n\
         [[alerts.webhooks]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{SECRET}\"\ncooldown = \"24h\"\n"
    );
    let _first = p.process(&config);
    let _second = p.process(&config);
    let ingest = p.ingest("");
    post_all(&ingest, workload(), |_| {});

    // Every account of the workload turns hot except the excluded one; ISP and cloud visitors never alert.
    let hot = ["acme-robotics.example", "as64504", "as64505", "as64506", "globex.example"];
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let delivered = p.sql("SELECT count() AS n FROM alert_deliveries FINAL WHERE status = 'delivered'");
        if delivered[0]["n"] == hot.len() as u64 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "deliveries did not complete: {delivered}");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3)); // room for a duplicate to show up, were there one
    let received = log.lock().unwrap().clone();
    let accepted: Vec<_> = received.iter().filter(|r| r.answered == 200).collect();
    let mut domains: Vec<String> = accepted
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["account"]["domain"].as_str().unwrap().into()
        })
        .collect();
    domains.sort();
    assert_eq!(domains, hot, "one accepted alert per hot account, none for the excluded company");
    assert_eq!(received.len(), hot.len() + 2, "two refused attempts, then one each");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    for r in &accepted {
        let sig = r.header("x-vtrack-signature").expect("signed");
        assert!(vtrack_alert::verify(SECRET, sig, &r.body, now, 300), "signature {sig} does not verify");
        assert!(r.header("idempotency-key").is_some_and(|k| k.contains(":became_hot:")));
    }
    let alerts = p.sql("SELECT uniqExact(alert_id) AS n, count() AS rows FROM alerts FINAL");
    if alerts != json!([{ "n": hot.len(), "rows": hot.len() }]) {
        let rows = p.sql("SELECT alert_id, kind, stage, score FROM alerts FINAL ORDER BY alert_id");
        panic!("one alert per crossing, got {alerts}: {rows}");
    }
    // `vtrack alerts --clickhouse` shows them delivered.
    let out = std::process::Command::new(common::bin())
        .args(["alerts", "--clickhouse", &p.clickhouse, "--format", "json"])
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("alerts prints JSON");
    let statuses: Vec<&str> = shown.as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["delivered"; hot.len()]);
}

#[test]
fn missed_follow_up_deadlines_raise_one_alert_each_through_the_clickhouse_outbox() {
    let (port, log) = common::webhook::receiver(0);
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    // Every hot account of the workload turned hot hours ago: each deadline has passed.
    // Umbrella's class rests on its name alone: the deadline is under test, so its crossing counts.
    let config = format!(
        "[scoring]\nexclude_domains = [\"initech.example\"]\n[alerts]\nmin_class_confidence = 0\n\
         [sla]\nhot_followup = \"2s\"\nescalation = {{ url = \"http://127.0.0.1:{port}/lead\", secret = \"lead\" }}\n"
    );
    let _process = p.process(&config);
    let ingest = p.ingest("");
    let accepted = post_all(&ingest, workload(), |_| {});
    p.settle(accepted, SETTLE);
    let hot = ["acme-robotics.example", "as64504", "as64505", "as64506", "globex.example"];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while log.lock().unwrap().len() < hot.len() {
        assert!(std::time::Instant::now() < deadline, "escalations did not arrive: {}", log.lock().unwrap().len());
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(4)); // several more checks: nothing is raised twice
    let got = common::webhook::kinds(&log);
    let expected: Vec<(String, String)> = hot.iter().map(|d| ("sla_missed".to_string(), d.to_string())).collect();
    assert_eq!(got, expected, "one escalation per hot account, only missed deadlines");
    let alerts = p.sql("SELECT count() AS n FROM alerts FINAL WHERE kind = 'sla_missed'");
    assert_eq!(alerts, json!([{ "n": hot.len() }]));
}

#[test]
fn the_dashboard_api_answers_the_same_from_clickhouse_as_from_the_embedded_store() {
    const TOKEN: &str = "tok";
    let auth = format!("Bearer {TOKEN}");
    // Owners too: the team rule assigns every account, the same way in both stores.
    let dashboard = format!(
        "[dashboard]\ntoken = \"{TOKEN}\"\n[[owners]]\nname = \"ana\"\n[[owners]]\nname = \"bo\"\n\
         [[assign]]\nteam = [\"ana\", \"bo\"]\n"
    );
    // ClickHouse: the workload through Kafka, then `vtrack api` on the result.
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let _process = p.process(&dashboard);
    let ingest = p.ingest("");
    let accepted = post_all(&ingest, workload(), |_| {});
    p.settle(accepted, SETTLE);
    let api = p.api(&dashboard);
    // SQLite: the same workload through `vtrack serve`.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vtrack.toml");
    std::fs::write(
        &config,
        format!("[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[[sites]]\nkey = \"s1\"\n{dashboard}"),
    )
    .unwrap();
    let serve = common::Server::start_in(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    for r in workload() {
        assert_eq!(serve.post_events(&r.ip, &r.body).status, 202);
    }
    serve.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"] == accepted);

    let get = |addr: std::net::SocketAddr, path: &str| -> serde_json::Value {
        let r = common::http(addr, "GET", path, &[("authorization", &auth)], b"").unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.json()
    };
    let both = |path: &str| (get(api.addr, path), get(serve.addr, path));
    let same = |(ch, lite): &(Value, Value)| ch == lite;
    let (ch, _) = common::poll("/api/accounts to answer the same from both", SAME, || both("/api/accounts"), same);
    assert_eq!(ch["accounts"].as_array().map(Vec::len), Some(6), "{ch}");
    for path in ["/api/accounts/acme-robotics.example", "/api/campaigns", "/api/accounts?q=glob&class=business"] {
        let (mut ch, mut lite) = both(path);
        // Which event crosses into hot depends on how events were batched, so alert ids and times may
        // differ between the runs; there is one alert per account in both.
        for v in [&mut ch, &mut lite] {
            if let Some(alerts) = v.as_object_mut().and_then(|o| o.remove("alerts")) {
                assert_eq!(alerts.as_array().map(Vec::len), Some(1), "{path}: {alerts}");
            }
        }
        assert_eq!(ch, lite, "{path}");
    }
    let (ch, lite) = both("/api/live?minutes=60");
    assert_eq!(ch["visits"].as_array().map(Vec::len), Some(200));
    assert_eq!(lite["visits"].as_array().map(Vec::len), Some(200));

    let set = |addr| {
        let body = br#"{"status":"qualified","note":"demo booked","by":"kim"}"#;
        let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
        let r = common::http(addr, "POST", "/api/accounts/globex.example/status", &headers, body).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    };
    set(api.addr);
    set(serve.addr);
    let (ch, lite) = both("/api/accounts?status=qualified");
    assert_eq!(ch["accounts"][0]["domain"], "globex.example");
    assert_eq!(ch["accounts"], lite["accounts"]);
    let r = common::http(
        api.addr,
        "POST",
        "/api/accounts/nobody.example/status",
        &[("authorization", &auth), ("content-type", "application/json")],
        br#"{"status":"won"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(common::http(api.addr, "GET", "/api/accounts", &[], b"").unwrap().status, 401);

    // A reassignment by hand, recorded alike (only its time differs).
    let before = both("/api/accounts/globex.example").0["account"]["owner"].clone();
    assert!(before == "ana" || before == "bo", "{before}");
    let other = if before == "ana" { "bo" } else { "ana" };
    let reassign = |addr| {
        let body = format!(r#"{{"owner":"{other}","by":"kim"}}"#);
        let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
        let r = common::http(addr, "POST", "/api/accounts/globex.example/owner", &headers, body.as_bytes()).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    };
    reassign(api.addr);
    reassign(serve.addr);
    let (mut ch, mut lite) = both("/api/accounts/globex.example");
    for v in [&mut ch, &mut lite] {
        assert_eq!(v["account"]["owner"], other);
        let history = v["owner_history"].as_array_mut().unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!((&history[0]["changed_by"], &history[0]["previous"]), (&json!("kim"), &before));
        history[0]["changed_at"] = Value::Null;
    }
    assert_eq!(ch["owner_history"], lite["owner_history"]);
    let (ch, lite) = both("/api/accounts");
    assert_eq!(ch["accounts"], lite["accounts"], "owners on the list");

    // The funnel, per week and per month: the same counts from both stores. The hours from hot to contact
    // depend on when each store's crossing was raised and when the status was set, seconds apart.
    for period in ["week", "month"] {
        let (mut ch, mut lite) = both(&format!("/api/funnel?period={period}"));
        for v in [&mut ch, &mut lite] {
            for row in v["rows"].as_array_mut().unwrap() {
                let hours = row["median_hours_to_contact"].take();
                assert_eq!(hours.is_null(), row["contacted"] == 0 || row["hot"] == 0, "{row}");
            }
        }
        assert!(ch["rows"].as_array().is_some_and(|r| r.len() > 1), "{ch}");
        assert_eq!(ch, lite, "/api/funnel?period={period}");
    }
}

#[test]
fn processor_killed_mid_stream_and_restarted_loses_and_doubles_nothing() {
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let ingest = p.ingest("");
    let (accepted, _last) = p.kill_processors_mid_batch(&ingest);
    p.assert_same_as_undisturbed(accepted, SETTLE);
}

#[test]
fn the_only_processor_killed_and_restarted_2s_later_resumes() {
    // As systemd's Restart=always would do it: the new member joins while the dead one is still in the
    // group (the broker evicts it only after the session timeout, 10 s), so it may be assigned nothing at
    // first; it must notice the stalled partitions and rejoin once the dead member is gone.
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let ingest = p.ingest("");
    let (backlog, rest) = workload().split_at(workload().len() / 2);
    let mut accepted = post_all(&ingest, backlog, |_| {});
    let mut process = p.process(SMALL_BATCHES);
    p.wait_more_rows(0);
    process.kill9();
    std::thread::sleep(Duration::from_secs(2));
    let restarted = p.process(SMALL_BATCHES);
    accepted += post_all(&ingest, rest, |_| {});
    // Generous: without the rejoin nothing is processed for good.
    let (counts, _) = p.settle(accepted, Duration::from_secs(90));
    assert_eq!(counts, (accepted, accepted), "every event stored once after the restart");
    assert!(restarted.metric("vtrack_process_events_stored_total") > 0.0, "the restarted member stored them");
    p.assert_same_as_undisturbed(accepted, SETTLE);
}

#[test]
fn clickhouse_down_for_20_seconds_mid_stream_loses_and_doubles_nothing() {
    let ch = PrivateClickHouse::start();
    let p = Pipeline::new(shared_kafka(), &ch.url);
    let process = p.process("");
    let ingest = p.ingest("");
    let requests = workload();
    let accepted = post_all(&ingest, requests, |i| {
        if i == requests.len() / 3 {
            std::thread::sleep(Duration::from_millis(1000));
            ch.server.down();
        }
        if i == requests.len() / 2 {
            std::thread::sleep(Duration::from_secs(20));
            ch.server.up();
        }
    });
    p.assert_same_as_undisturbed(accepted, SETTLE);
    assert!(process.metric("vtrack_process_store_errors_total") > 0.0, "the outage was seen and retried");
}

#[test]
fn one_of_two_processors_killed_mid_stream_rebalances_and_loses_nothing() {
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let ingest = p.ingest("");
    let (backlog, rest) = workload().split_at(workload().len() / 2);
    let mut accepted = post_all(&ingest, backlog, |_| {});
    let mut first = p.process(SMALL_BATCHES);
    let second = p.process(SMALL_BATCHES);
    p.wait_more_rows(0);
    first.kill9();
    accepted += post_all(&ingest, rest, |_| {});
    // tansu 0.6 evicts a dead member after the session timeout (10 s) but keeps the group's generation and
    // its assignment, so the survivor alone would never get the dead member's partitions (Kafka would hand
    // them over). A replacement joining after the eviction, as an orchestrator would start, makes the
    // rebalance that moves them; the survivor keeps working throughout.
    std::thread::sleep(Duration::from_secs(12));
    let _replacement = p.process(SMALL_BATCHES);
    p.assert_same_as_undisturbed(accepted, SETTLE);
    assert!(second.metric("vtrack_process_events_stored_total") > 0.0, "the survivor kept storing");
}

#[test]
fn kafka_down_makes_ingest_answer_503_never_2xx_and_it_recovers_by_itself() {
    let kafka = PrivateKafka::start();
    let p = Pipeline::new(&kafka.brokers, shared_clickhouse());
    let _process = p.process("");
    let ingest = p.ingest("max_in_flight = 50\ndelivery_timeout = \"2s\"");
    let body = |i: usize| {
        json!({ "site": "s1", "type": "pageview", "url": "https://www.example.com/", "vid": "v", "eid": format!("k{i}") })
            .to_string()
    };
    let mut accepted = 0u64;
    for i in 0..5 {
        assert_eq!(ingest.post("198.51.100.9", &body(i)).unwrap().status, 202);
        accepted += 1;
    }
    kafka.server.down();
    // With the broker gone nothing can be acknowledged: every request is answered 503, at once past the
    // producer's bound (max_in_flight = 50), else once its events time out. Never a 2xx that could be lost.
    let clients: Vec<_> = (0..80)
        .map(|c| {
            let addr = ingest.addr;
            let b = body(1000 + c);
            std::thread::spawn(move || {
                let r = common::http(
                    addr,
                    "POST",
                    "/v1/events",
                    &[("user-agent", common::BROWSER_UA), ("x-forwarded-for", "198.51.100.9")],
                    b.as_bytes(),
                )
                .expect("post");
                (r.status, r.header("retry-after").is_some())
            })
        })
        .collect();
    let answers: Vec<(u16, bool)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(answers.iter().all(|&(status, retry)| status == 503 && retry), "503 with Retry-After: {answers:?}");
    assert!(ingest.metric("vtrack_ingest_events_dropped_total{reason=\"full\"}") >= 30.0, "the bound held");
    let health = common::http(ingest.addr, "GET", "/healthz", &[], b"").unwrap();
    assert_eq!(health.status, 503, "not ready while the broker does not acknowledge: {}", health.body);
    kafka.server.up();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut i = 2000;
    loop {
        let r = ingest.post("198.51.100.9", &body(i)).unwrap();
        i += 1;
        if r.status == 202 {
            accepted += 1;
            break;
        }
        assert!(std::time::Instant::now() < deadline, "ingest did not recover after Kafka returned");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(common::http(ingest.addr, "GET", "/healthz", &[], b"").unwrap().status, 200, "ready again");
    // Refused events may still have reached the broker before it went (a 503 is "maybe"); what got a 202
    // is there, once.
    let deadline = std::time::Instant::now() + SETTLE;
    let want: Vec<String> = (0..5).chain([i - 1]).map(|i| format!("k{i}")).collect();
    loop {
        let stored = p.sql("SELECT event_id FROM events FINAL");
        let have: Vec<&str> = stored.as_array().unwrap().iter().map(|r| r["event_id"].as_str().unwrap()).collect();
        if want.iter().all(|id| have.contains(&id.as_str())) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "events answered 202 never arrived: {want:?} in {have:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (n, u) = p.event_counts();
    assert_eq!(n, u, "no event stored twice");
    assert!(u >= accepted);
}

#[test]
fn kill_9_of_ingest_during_a_burst_loses_nothing_answered_2xx() {
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let _process = p.process("");
    let mut ingest = p.ingest("");
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let addr = ingest.addr;
    let ips = ["198.51.100.10", "198.51.100.70", "198.51.100.100", "203.0.113.10"];
    let clients: Vec<_> = (0..4)
        .map(|w| {
            let accepted = accepted.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    let ids: Vec<String> = (0..5).map(|j| format!("b-w{w}-{i}-{j}")).collect();
                    let events: Vec<serde_json::Value> = ids
                        .iter()
                        .map(|eid| {
                            json!({ "site": "s1", "type": "pageview", "url": "https://www.example.com/pricing",
                                           "vid": format!("v{w}-{}", i % 10), "eid": eid })
                        })
                        .collect();
                    let headers = [("user-agent", common::BROWSER_UA), ("x-forwarded-for", ips[w])];
                    let body = serde_json::Value::Array(events).to_string();
                    match common::http(addr, "POST", "/v1/events", &headers, body.as_bytes()) {
                        Ok(r) if r.status == 202 => accepted.lock().unwrap().extend(ids),
                        Ok(_) => {}
                        Err(_) => return, // ingest is gone
                    }
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while accepted.lock().unwrap().len() < 5_000 {
        assert!(std::time::Instant::now() < deadline, "the burst did not get going");
        std::thread::sleep(Duration::from_millis(10));
    }
    ingest.kill9();
    for c in clients {
        c.join().unwrap();
    }
    let accepted = std::mem::take(&mut *accepted.lock().unwrap());
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let stored = p.sql("SELECT event_id FROM events FINAL");
        let have: std::collections::HashSet<&str> =
            stored.as_array().unwrap().iter().map(|r| r["event_id"].as_str().unwrap()).collect();
        let missing = accepted.iter().filter(|id| !have.contains(id.as_str())).count();
        if missing == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{missing} of {} events answered 202 never reached ClickHouse",
            accepted.len()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (n, u) = p.event_counts();
    assert_eq!(n, u, "no event stored twice");
    p.assert_sessions_match_events();
}
