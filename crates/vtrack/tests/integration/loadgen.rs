//! A smoke run (a second) of `vtrack loadgen` against a real `vtrack serve`, so the load harness keeps
//! working; the measurements themselves live in `benches/`, never in the test suite.

use crate::common;

use common::Server;
use std::process::Command;

#[test]
fn loadgen_drives_serve_and_reports_what_it_stored() {
    let s = Server::start(&["--site", "demo", "--trusted-proxy", "127.0.0.1/32"]);
    let out = Command::new(common::bin())
        .args(["loadgen", "--target", &format!("http://{}/v1/events", s.addr), "--site", "demo"])
        .args(["--connections", "4", "--requests", "400", "--events-per-request", "2", "--format", "json"])
        .output()
        .expect("run vtrack loadgen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["requests"], 400);
    let accepted = report["accepted"].as_u64().unwrap();
    assert!(accepted > 0 && report["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{report}");
    // Every event answered 2xx is stored (bots aside: loadgen sends browser user agents only).
    let want = accepted * 2;
    let rows = s.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"].as_u64() == Some(want));
    assert_eq!(rows[0]["n"].as_u64(), Some(want));
}
