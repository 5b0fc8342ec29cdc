//! The follow-up deadline through the real `vtrack serve`, with a 2 s deadline: a hot account left `new`
//! raises one `sla_missed` alert — to its owner and the escalation webhook, not the site's — not one per
//! poll and not again after a restart; an account whose status is set in time raises none; the accounts
//! list puts the overdue account first and says how late it is.

use crate::common;

use common::webhook::{kinds, receiver};
use common::{start_site, view, Server, TOKEN};
use serde_json::{json, Value};
use std::time::Duration;

fn pair(kind: &str, domain: &str) -> (String, String) {
    (kind.to_string(), domain.to_string())
}

#[test]
fn a_missed_deadline_raises_one_alert_to_the_owner_and_the_escalation_and_none_when_worked_in_time() {
    let (site_port, site_log) = receiver(0);
    let (ana_port, ana_log) = receiver(0);
    let (lead_port, lead_log) = receiver(0);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[alerts.webhooks]]\nurl = \"http://127.0.0.1:{site_port}/hook\"\nsecret = \"site\"\n\
             [[owners]]\nname = \"ana\"\nwebhook = \"http://127.0.0.1:{ana_port}/ana\"\nsecret = \"ana\"\n\
             [[assign]]\nteam = [\"ana\"]\n\
             [sla]\nhot_followup = \"2s\"\nescalation = {{ url = \"http://127.0.0.1:{lead_port}/lead\", secret = \"lead\" }}\n"
    );
    let mut s = start_site(dir.path(), &config);

    // Globex (81 points) and Acme (59): both hot.
    view(&s, "198.51.100.70", "gia", "g1", "/pricing");
    view(&s, "198.51.100.70", "gia", "g2", "/demo");
    view(&s, "198.51.100.71", "hal", "g3", "/demo");
    view(&s, "198.51.100.72", "ivy", "g4", "/pricing");
    view(&s, "198.51.100.10", "alex", "a1", "/pricing");
    view(&s, "198.51.100.10", "alex", "a2", "/demo");
    view(&s, "198.51.100.11", "sam", "b1", "/demo");
    s.wait_for_rows("SELECT count(*) AS n FROM alerts WHERE kind = 'became_hot'", &json!([{ "n": 2 }]), common::WAIT);
    // Sales picks Globex up within its deadline.
    let r = s
        .request(
            "POST",
            "/api/accounts/globex.example/status",
            &[("authorization", &format!("Bearer {TOKEN}")), ("content-type", "application/json")],
            br#"{"status":"contacted","by":"ana"}"#,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    s.wait_for_rows(
        "SELECT count(*) AS n FROM alert_deliveries d JOIN alerts a USING (alert_id)
           WHERE a.kind = 'sla_missed' AND d.status = 'delivered'",
        &json!([{ "n": 2 }]),
        Duration::from_secs(20),
    );
    std::thread::sleep(Duration::from_secs(4)); // several more polls: nothing more is raised
    let missed = s.sql("SELECT company_domain, raised_at > (SELECT raised_at FROM alerts h WHERE h.kind = 'became_hot'
                          AND h.company_domain = m.company_domain) AS after_hot FROM alerts m WHERE kind = 'sla_missed'");
    assert_eq!(missed, json!([{ "company_domain": "acme-robotics.example", "after_hot": 1 }]));
    assert_eq!(kinds(&lead_log), [pair("sla_missed", "acme-robotics.example")]);
    assert_eq!(
        kinds(&ana_log),
        [
            pair("became_hot", "acme-robotics.example"),
            pair("became_hot", "globex.example"),
            pair("sla_missed", "acme-robotics.example"),
        ]
    );
    assert_eq!(kinds(&site_log), [pair("became_hot", "acme-robotics.example"), pair("became_hot", "globex.example")]);
    let sla: Value = serde_json::from_slice(&lead_log.lock().unwrap()[0].body).unwrap();
    assert_eq!(sla["owner"], "ana");
    let sig = lead_log.lock().unwrap()[0].header("x-vtrack-signature").unwrap_or_default().to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(vtrack_alert::verify("lead", &sig, &lead_log.lock().unwrap()[0].body, now, 300));

    // Overdue first, with how late; the account worked in time has no deadline.
    let list = |s: &Server| -> Value {
        let r = s.request("GET", "/api/accounts", &[("authorization", &format!("Bearer {TOKEN}"))], b"").unwrap();
        r.json()
    };
    let accounts = list(&s)["accounts"].clone();
    assert_eq!(accounts[0]["domain"], "acme-robotics.example", "overdue first, above a higher score");
    assert!(accounts[0]["overdue"].as_i64().unwrap() >= 4, "{}", accounts[0]);
    assert!(accounts[0]["followup_due"].is_string());
    assert_eq!((&accounts[1]["domain"], &accounts[1]["overdue"]), (&json!("globex.example"), &json!(0)));
    assert_eq!(accounts[1]["followup_due"], Value::Null);

    // A restart raises it no second time.
    assert!(s.terminate().success());
    let s = start_site(dir.path(), &config);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(s.sql("SELECT count(*) AS n FROM alerts WHERE kind = 'sla_missed'"), json!([{ "n": 1 }]));
    assert_eq!(lead_log.lock().unwrap().len(), 1);
    assert_eq!(list(&s)["accounts"][0]["domain"], "acme-robotics.example");
}
