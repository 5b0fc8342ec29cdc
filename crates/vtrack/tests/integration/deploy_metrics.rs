//! The Prometheus alert rules and the Grafana dashboard in `deploy/` name only metrics vtrack exports: each
//! `vtrack_*` name in them is checked against the `/metrics` of a real `serve` (journal, SQLite, webhooks)
//! and of a real `ingest` and `process` on Kafka and ClickHouse.

use crate::common;

use common::prod::{shared_clickhouse, shared_kafka, Pipeline};
use common::Server;
use std::collections::BTreeSet;

/// Metric families a `/metrics` text declares (`# TYPE name kind`).
fn families(addr: std::net::SocketAddr) -> BTreeSet<(String, String)> {
    let r = common::http(addr, "GET", "/metrics", &[], b"").expect("GET /metrics");
    assert_eq!(r.status, 200);
    r.body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.trim().to_string()))
        .collect()
}

/// The sample names a family of `kind` exposes.
fn samples(name: &str, kind: &str) -> Vec<String> {
    let suffixes: &[&str] = match kind {
        "counter" => &["_total"],
        "histogram" => &["_bucket", "_sum", "_count"],
        _ => &[""],
    };
    suffixes.iter().map(|s| format!("{name}{s}")).collect()
}

/// Every `vtrack_…` word in `text`.
fn named(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("vtrack_") {
        let start = i + at;
        let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = start
            + text[start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len() - start);
        if boundary {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}

#[test]
fn every_metric_the_alert_rules_and_the_dashboard_name_exists() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vtrack.toml");
    std::fs::write(&config, "[[alerts.webhooks]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"s\"\n").unwrap();
    let serve = Server::start(&["--site", "s1", "--config", config.to_str().unwrap()]);
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let process = p.process("");
    let ingest = p.ingest("");
    // The lag comes with librdkafka's statistics, every 5 s, once the member has consumed from its partitions.
    let beacon = r#"{"site":"s1","type":"pageview","url":"https://www.example.com/","vid":"v","eid":"m1"}"#;
    assert_eq!(ingest.post("198.51.100.9", beacon).unwrap().status, 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !families(process.addr).iter().any(|(n, _)| n == "vtrack_kafka_consumer_lag") {
        assert!(std::time::Instant::now() < deadline, "the processor never reported its consumer lag");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut exported = BTreeSet::new();
    for addr in [serve.addr, process.addr, ingest.addr] {
        for (name, kind) in families(addr) {
            exported.extend(samples(&name, &kind));
        }
    }
    let root = common::repo_root().join("deploy");
    let dashboard = std::fs::read_to_string(root.join("grafana/vtrack-dashboard.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON");
    let rules = std::fs::read_to_string(root.join("prometheus/vtrack-alerts.yml")).unwrap();
    for (file, text) in [("vtrack-dashboard.json", &dashboard), ("vtrack-alerts.yml", &rules)] {
        let names = named(text);
        assert!(names.len() >= 8, "{file} names vtrack's metrics: {names:?}");
        let unknown: Vec<_> = names.iter().filter(|n| !exported.contains(*n)).collect();
        assert!(unknown.is_empty(), "{file} names metrics vtrack does not export: {unknown:?}\nexported: {exported:?}");
    }
    // What operators alert on is there.
    for must in [
        "vtrack_ingest_request_duration_seconds_bucket",
        "vtrack_process_batch_write_duration_seconds_bucket",
        "vtrack_kafka_consumer_lag",
        "vtrack_webhook_attempts_total",
        "vtrack_journal_failures_total",
    ] {
        assert!(rules.contains(must), "the alert rules use {must}");
    }
}
