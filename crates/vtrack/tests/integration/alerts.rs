//! The hot-account webhook end to end: a real receiver on loopback that fails twice, a restart of
//! `vtrack serve` between the failures, and exactly one accepted, correctly signed delivery.

use crate::common;

use common::webhook::receiver;
use common::{view, wait_until, Server};
use serde_json::json;
use std::time::Duration;

const SECRET: &str = "s3cret-for-tests";

#[test]
fn one_signed_alert_survives_failures_and_a_restart_and_isps_never_alert() {
    let (port, log) = receiver(2);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vtrack.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[[sites]]\nkey = \"s1\"\n\
             [scoring]\nexclude_domains = [\"vtrack-demo.example\"]\n\
             [[alerts.webhooks]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{SECRET}\"\ncooldown = \"1h\"\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = ["--config", config.to_str().unwrap()];
    let mut s = Server::start_in(&data, &args);

    // Heavy ISP and hosting traffic, and the customer's own company: never an alert.
    for i in 0..40 {
        view(&s, &format!("198.18.0.{}", i % 5 + 1), &format!("home-{}", i % 5), &format!("isp-{i}"), "/demo");
        view(&s, "198.19.0.7", "cloud", &format!("cloud-{i}"), "/pricing");
        view(&s, "198.51.100.241", &format!("own-{}", i % 3), &format!("own-{i}"), "/demo");
    }
    // Acme: 2+5+10 = 17, +15 = 32; a colleague: 2+5+5+15 = 27 → 59, hot.
    view(&s, "198.51.100.10", "alex", "a1", "/pricing");
    view(&s, "198.51.100.10", "alex", "a2", "/demo");
    view(&s, "198.51.100.11", "sam", "b1", "/demo");

    wait_until("the first delivery attempt", 20, || !log.lock().unwrap().is_empty());
    // Restart between the two failures: the outbox is durable.
    assert!(s.terminate().success());
    let s = Server::start_in(&data, &args);
    s.wait_for_rows(
        "SELECT status FROM alert_deliveries",
        &json!([{ "status": "delivered" }]),
        Duration::from_secs(30),
    );

    let received = log.lock().unwrap().clone();
    assert_eq!(received.iter().map(|r| r.answered).collect::<Vec<_>>(), [503, 503, 200], "exactly one accepted");
    let ids: Vec<&str> = received
        .iter()
        .map(|r| r.headers.iter().find(|(k, _)| k == "idempotency-key").map(|(_, v)| v.as_str()).unwrap_or(""))
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0] && id.starts_with("s1:acme-robotics.example:became_hot:")), "{ids:?}");
    let accepted = &received[2];
    let sig = accepted.headers.iter().find(|(k, _)| k == "x-vtrack-signature").map(|(_, v)| v.clone()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(vtrack_alert::verify(SECRET, &sig, &accepted.body, now, 300), "signature {sig} does not verify");
    assert!(!vtrack_alert::verify("wrong secret", &sig, &accepted.body, now, 300));
    let payload: serde_json::Value = serde_json::from_slice(&accepted.body).unwrap();
    assert_eq!(payload["account"]["domain"], "acme-robotics.example");
    assert_eq!(payload["stage"], "hot");
    assert_eq!(payload["score"], 59.0);

    assert_eq!(
        s.sql("SELECT company_domain, kind FROM alerts"),
        json!([{ "company_domain": "acme-robotics.example", "kind": "became_hot" }])
    );
    assert_eq!(
        s.sql("SELECT attempts, http_status FROM alert_deliveries"),
        json!([{ "attempts": 3, "http_status": 200 }])
    );
    let stages = s.sql("SELECT company_domain, stage, excluded FROM accounts ORDER BY company_domain");
    assert_eq!(
        stages,
        json!([
            { "company_domain": "acme-robotics.example", "stage": "hot", "excluded": 0 },
            { "company_domain": "vtrack-demo.example", "stage": "cold", "excluded": 1 },
        ])
    );
}
