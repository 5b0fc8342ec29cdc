//! Owners through the real `vtrack serve`: the rules assign an account when it is first seen, its alert
//! reaches the owner's own webhook (signed with the owner's secret) and the site's webhook, and a
//! reassignment by hand is in the history with who made it.

use crate::common;

use common::webhook::{receiver, Received};
use common::{api, start_site, view, TOKEN};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SITE_SECRET: &str = "site-secret";
const ANA_SECRET: &str = "ana-secret";

fn only(log: &Arc<Mutex<Vec<Received>>>) -> Received {
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "exactly one delivery");
    got[0].clone()
}

fn verified(r: &Received, secret: &str) -> Value {
    let sig = r.header("x-vtrack-signature").unwrap_or_default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(vtrack_alert::verify(secret, sig, &r.body, now, 300), "signature {sig} does not verify with {secret}");
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn an_alert_reaches_the_owner_and_the_site_and_a_reassignment_is_in_the_history() {
    let (site_port, site_log) = receiver(0);
    let (ana_port, ana_log) = receiver(0);
    let (bo_port, bo_log) = receiver(0);
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.txt");
    std::fs::write(&targets, "# named accounts\nACME-robotics.example\n\n").unwrap();
    let s = start_site(
        dir.path(),
        &format!(
            "[[alerts.webhooks]]\nurl = \"http://127.0.0.1:{site_port}/hook\"\nsecret = \"{SITE_SECRET}\"\n\
             [[owners]]\nname = \"ana\"\nemail = \"ana@ourco.example\"\nwebhook = \"http://127.0.0.1:{ana_port}/ana\"\n\
             secret = \"{ANA_SECRET}\"\n\
             [[owners]]\nname = \"bo\"\nwebhook = \"http://127.0.0.1:{bo_port}/bo\"\nsecret = \"bo-secret\"\n\
             [[owners]]\nname = \"cy\"\n\
             [[assign]]\ndomains_file = {:?}\nowner = \"ana\"\n\
             [[assign]]\nteam = [\"bo\", \"cy\"]\n",
            targets.to_str().unwrap()
        ),
    );

    // Globex: one visit, warm at most; it is assigned by the team rule.
    view(&s, "198.51.100.70", "gia", "g1", "/blog/post");
    // Acme: hot (see tests/alerts.rs), on the target list.
    view(&s, "198.51.100.10", "alex", "a1", "/pricing");
    view(&s, "198.51.100.10", "alex", "a2", "/demo");
    view(&s, "198.51.100.11", "sam", "b1", "/demo");

    let delivered = "SELECT count(*) AS n FROM alert_deliveries WHERE status = 'delivered'";
    s.wait_for_rows(delivered, &json!([{ "n": 2 }]), Duration::from_secs(30));
    let to_site = verified(&only(&site_log), SITE_SECRET);
    let to_ana = verified(&only(&ana_log), ANA_SECRET);
    assert_eq!(to_site, to_ana, "the same alert");
    assert_eq!(to_ana["account"]["domain"], "acme-robotics.example");
    assert_eq!(to_ana["kind"], "became_hot");
    assert_eq!(to_ana["owner"], "ana");
    assert!(bo_log.lock().unwrap().is_empty(), "bo does not own acme");

    let owners = s.sql(
        "SELECT company_domain, owner, previous_owner, changed_by, reason FROM account_owner_history ORDER BY company_domain",
    );
    let globex_owner = owners[1]["owner"].as_str().unwrap_or_default().to_string();
    assert!(globex_owner == "bo" || globex_owner == "cy", "{owners}");
    assert_eq!(
        owners,
        json!([
            { "company_domain": "acme-robotics.example", "owner": "ana", "previous_owner": "", "changed_by": "rules", "reason": "rule" },
            { "company_domain": "globex.example", "owner": globex_owner, "previous_owner": "", "changed_by": "rules", "reason": "rule" },
        ])
    );

    // By hand: unknown owners and bad bodies are refused, a known one is recorded with who asked.
    assert_eq!(api(&s, TOKEN, "POST", "/api/accounts/acme-robotics.example/owner", r#"{"owner":"zed"}"#).status, 400);
    assert_eq!(
        api(&s, TOKEN, "POST", "/api/accounts/acme-robotics.example/owner", r#"{"owner":"bo","by":7}"#).status,
        400
    );
    assert_eq!(api(&s, TOKEN, "POST", "/api/accounts/nobody.example/owner", r#"{"owner":"bo"}"#).status, 404);
    let form = s
        .request(
            "POST",
            "/api/accounts/acme-robotics.example/owner",
            &[("authorization", &format!("Bearer {TOKEN}")), ("content-type", "text/plain")],
            br#"{"owner":"bo"}"#,
        )
        .unwrap();
    assert_eq!(form.status, 415, "JSON only, as for a status");
    let r = api(&s, TOKEN, "POST", "/api/accounts/acme-robotics.example/owner", r#"{"owner":"bo","by":"sam"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let change = r.json();
    assert_eq!(
        (&change["owner"], &change["previous"], &change["changed_by"], &change["reason"]),
        (&json!("bo"), &json!("ana"), &json!("sam"), &json!("manual"))
    );
    assert_eq!(
        s.sql(
            "SELECT owner, previous_owner, changed_by, reason FROM account_owner_history
             WHERE company_domain = 'acme-robotics.example' ORDER BY rowid"
        ),
        json!([
            { "owner": "ana", "previous_owner": "", "changed_by": "rules", "reason": "rule" },
            { "owner": "bo", "previous_owner": "ana", "changed_by": "sam", "reason": "manual" },
        ])
    );
    assert_eq!(
        s.sql("SELECT owner, changed_by FROM account_owners WHERE company_domain = 'acme-robotics.example'"),
        json!([{ "owner": "bo", "changed_by": "sam" }])
    );

    // The API shows the owner on the list and the account, with its history.
    let list = api(&s, TOKEN, "GET", "/api/accounts", "").json();
    let acme = list["accounts"].as_array().unwrap().iter().find(|a| a["domain"] == "acme-robotics.example").unwrap();
    assert_eq!(acme["owner"], "bo");
    let detail = api(&s, TOKEN, "GET", "/api/accounts/acme-robotics.example", "").json();
    assert_eq!(detail["account"]["owner"], "bo");
    assert_eq!(detail["owner_history"][0]["changed_by"], "sam");
    assert_eq!(detail["owner_history"][1]["reason"], "rule");
    let csv = api(&s, TOKEN, "GET", "/api/accounts?format=csv", "").body;
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",owner,followup_due,overdue"));
    assert!(csv.lines().any(|l| l.starts_with("acme-robotics.example,") && l.ends_with(",bo,,0")), "{csv}");
}
