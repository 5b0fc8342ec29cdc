//! `vtrack rescore` after a change of the scoring config gives the accounts a fresh replay with the new
//! config gives, and `serve` notices the change at start.

use crate::common;

use common::prod::workload;
use common::{sql, Server};
use std::path::Path;

const ACCOUNTS: &str = "SELECT site, company_domain, company_name, network_class, country, first_seen, last_seen,
    visitors, sessions, pageviews, engaged_ms, score, score_at, stage, return_visits, topics, top_pages, campaigns,
    contacts, is_target, excluded, scoring FROM accounts ORDER BY site, company_domain";

fn config(dir: &Path, name: &str, scoring: &str) -> String {
    let path = dir.join(name);
    // No traffic evidence: a network's class decided again (after 30 s) would relabel its events and
    // recompute accounts beside the one whose scoring changed.
    let text = format!(
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[[sites]]\nkey = \"s1\"\n[process]\nnetwork_traffic = false\n{scoring}"
    );
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Runs the workload through `serve` with `config` into `data`, and stops it.
fn replay(data: &Path, config: &str) -> serde_json::Value {
    let mut s = Server::start_in(data, &["--config", config]);
    let total: usize = workload().iter().map(|r| r.events).sum();
    for r in workload() {
        assert_eq!(s.post_events(&r.ip, &r.body).status, 202);
    }
    s.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"] == total as u64);
    assert!(s.terminate().success());
    sql(data, ACCOUNTS)
}

fn rescore(data: &Path, config: &str) -> std::process::Output {
    let out = std::process::Command::new(common::bin())
        .args(["rescore", "--config", config, "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn rescore_after_a_weight_change_equals_a_fresh_replay_with_the_new_weights() {
    let dir = tempfile::tempdir().unwrap();
    let old = config(dir.path(), "old.toml", "");
    let new = config(
        dir.path(),
        "new.toml",
        "[scoring]\nvisit_weight = 7.0\nhalf_life_days = 3.0\ndefault_page_weight = 2.0\n\
         [scoring.topics]\nPricing = [\"/pricing*\"]\n",
    );
    let before = replay(&dir.path().join("a"), &old);
    let fresh = replay(&dir.path().join("b"), &new);
    assert_eq!(before.as_array().map(Vec::len), Some(6), "six accounts in the workload: {before}");
    assert_ne!(before, fresh, "the new weights change the scores");

    let out = rescore(&dir.path().join("a"), &new);
    assert!(String::from_utf8_lossy(&out.stderr).contains("rescored 6 accounts"));
    assert_eq!(sql(&dir.path().join("a"), ACCOUNTS), fresh);

    // Rescoring again with the same config changes nothing.
    rescore(&dir.path().join("a"), &new);
    assert_eq!(sql(&dir.path().join("a"), ACCOUNTS), fresh);
}

#[test]
fn serve_says_at_start_when_accounts_were_scored_with_another_config() {
    let dir = tempfile::tempdir().unwrap();
    let old = config(dir.path(), "old.toml", "");
    let new = config(dir.path(), "new.toml", "[scoring]\nvisit_weight = 7.0\n");
    let data = dir.path().join("data");
    replay(&data, &old);
    let log = dir.path().join("serve.log");
    let child = std::process::Command::new(common::bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{}", common::free_port()), "--config", &new, "--data-dir"])
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let _serve = common::Killed(child);
    let text = common::poll(
        "serve to say the accounts need `vtrack rescore`",
        std::time::Duration::from_secs(20),
        || std::fs::read_to_string(&log).unwrap_or_default(),
        |text| text.contains("vtrack rescore"),
    );
    assert!(text.contains("accounts=6") && text.contains("vtrack rescore"), "{text}");
}

#[test]
fn an_account_scored_with_another_config_is_recomputed_when_it_next_gets_events() {
    let dir = tempfile::tempdir().unwrap();
    let old = config(dir.path(), "old.toml", "");
    let new = config(dir.path(), "new.toml", "[scoring]\nvisit_weight = 7.0\n");
    let data = dir.path().join("data");
    replay(&data, &old);
    let scorings = "SELECT count(DISTINCT scoring) AS n FROM accounts";
    assert_eq!(sql(&data, scorings)[0]["n"], 1);

    let mut s = Server::start_in(&data, &["--config", &new]);
    // One more visit of the first workload visitor (an account network), with new event ids.
    let r = &workload()[0];
    assert_eq!(s.post_events(&r.ip, &r.body.replace("\"ev-", "\"again-")).status, 202);
    let total: usize = workload().iter().map(|r| r.events).sum::<usize>() + r.events;
    s.wait_for("SELECT count(*) AS n FROM events", |rows| rows[0]["n"] == total as u64);
    s.wait_for(scorings, |rows| rows[0]["n"] == 2);
    let metrics = s.request("GET", "/metrics", &[], b"").unwrap().body;
    assert!(metrics.lines().any(|l| l == "vtrack_process_accounts_recomputed_total 1"), "{metrics}");
    assert!(s.terminate().success());
}
