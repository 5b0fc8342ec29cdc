//! The operator's terminal and spreadsheet, through the real binary: what visitors typed cannot run as a
//! formula in a CSV or as an escape sequence in a table, and `vtrack sql` stops runaway queries and
//! creates no files.

use crate::common;

use common::{bin, Server};
use serde_json::json;
use std::process::{Command, Output};

fn vtrack(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("run vtrack")
}

#[test]
fn csv_and_table_output_is_defused() {
    let s = Server::start(&["--site", "s1", "--trusted-proxy", "127.0.0.1/32"]);
    // A visitor's campaign tag carrying an OSC sequence (percent-encoded in the URL, decoded when stored).
    let url = "https://w.example/pricing?utm_source=%1b%5d0%3bpwned%07&utm_campaign=%3dHYPERLINK(%22http%3a%2f%2fx%22)";
    let body = json!({ "site": "s1", "type": "pageview", "url": url, "vid": "v1", "eid": "e1", "title": "+SUM(A1)" });
    assert_eq!(s.post_events("198.51.100.10", &body.to_string()).status, 202);
    s.wait_for("SELECT count(*) AS n FROM accounts", |r| r[0]["n"] == 1);
    let dir = s.data_dir.to_str().unwrap();

    let q = "SELECT utm_source, utm_campaign, title, -2 AS n FROM events";
    let table = vtrack(&["sql", "--data-dir", dir, q]);
    assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
    assert!(!table.stdout.iter().any(|b| *b == 0x1b || *b == 0x07), "no ESC or BEL reaches the terminal");
    assert!(String::from_utf8_lossy(&table.stdout).contains("\u{FFFD}]0;pwned\u{FFFD}"));

    let csv = String::from_utf8(vtrack(&["sql", "--data-dir", dir, "--format", "csv", q]).stdout).unwrap();
    let row = csv.lines().nth(1).unwrap();
    assert!(row.contains("\"'=HYPERLINK("), "{row}");
    assert!(row.contains(",'+SUM(A1),-2"), "text defused, numbers kept: {row}");

    let accounts = String::from_utf8(vtrack(&["accounts", "--data-dir", dir, "--format", "csv"]).stdout).unwrap();
    assert!(accounts.contains("'=HYPERLINK("), "`accounts` defuses the same way: {accounts}");
    assert!(!accounts.lines().skip(1).any(|l| l.split(',').any(|c| c.starts_with('='))), "{accounts}");
}

#[test]
fn sql_stops_runaway_queries_and_leaves_no_file_behind() {
    let s = Server::start(&["--site", "s1"]);
    let dir = s.data_dir.to_str().unwrap();
    let runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let out = vtrack(&["sql", "--data-dir", dir, "--timeout", "1s", runaway]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("took longer than 1s"), "{err}");

    let copy = s.data_dir.join("copy.db");
    let out = vtrack(&["sql", "--data-dir", dir, &format!("VACUUM INTO '{}'", copy.display())]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!copy.exists(), "no file, not even an empty one");
    let attach = vtrack(&["sql", "--data-dir", dir, &format!("ATTACH '{}' AS x", copy.display())]);
    assert!(!attach.status.success());
    assert!(!copy.exists());
}
