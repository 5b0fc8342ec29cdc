//! The dashboard API through the real binary: access, every endpoint, bad input, and sales' status —
//! persisted across a restart, visible in SQL, and quieting alerts until the score rises again.

use crate::common;

use common::{start_site, Response, Server, TOKEN};
use serde_json::{json, Value};
use std::time::Duration;

fn get(s: &Server, path: &str) -> Response {
    s.request("GET", path, &[("authorization", &format!("Bearer {TOKEN}"))], b"").unwrap()
}

fn post_status(s: &Server, domain: &str, body: &str) -> Response {
    s.request(
        "POST",
        &format!("/api/accounts/{domain}/status"),
        &[("authorization", &format!("Bearer {TOKEN}")), ("content-type", "application/json")],
        body.as_bytes(),
    )
    .unwrap()
}

fn view(s: &Server, ip: &str, vid: &str, eid: &str, url: &str) {
    let body = json!({ "site": "s1", "type": "pageview", "url": url, "vid": vid, "eid": eid, "title": "T" });
    assert_eq!(s.post_events(ip, &body.to_string()).status, 202);
}

/// Acme (two people, a campaign), Globex (one visit), an ISP visitor.
fn traffic(s: &Server) {
    view(
        s,
        "198.51.100.10",
        "alex",
        "a1",
        "https://w.example/pricing?utm_source=linkedin&utm_medium=paid&utm_campaign=launch",
    );
    view(s, "198.51.100.10", "alex", "a2", "https://w.example/demo");
    view(s, "198.51.100.11", "sam", "a3", "https://w.example/docs/setup");
    view(s, "198.51.100.70", "gia", "g1", "https://w.example/blog/post");
    view(s, "198.18.0.5", "home", "i1", "https://w.example/pricing");
    s.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"] == 5);
    s.wait_for("SELECT count(*) AS n FROM accounts", |r| r[0]["n"] == 2);
}

#[test]
fn the_api_needs_the_token_and_the_dashboard_page_offers_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_site(dir.path(), "");
    let r = s.request("GET", "/api/accounts", &[], b"").unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("token"));
    let r = s.request("GET", "/api/accounts", &[("authorization", "Bearer wrong")], b"").unwrap();
    assert_eq!(r.status, 401);
    let r = s.request("GET", "/", &[], b"").unwrap();
    assert_eq!(r.status, 401);
    assert!(r.body.contains("<form"), "a login form: {}", r.body);
    let r = s.request("GET", &format!("/?token={TOKEN}"), &[], b"").unwrap();
    assert_eq!(r.status, 303);
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    assert!(r.header("set-cookie").unwrap().contains("HttpOnly"));
    let r = s.request("GET", "/", &[("cookie", &cookie)], b"").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("/ui/app.js"), "the dashboard page loads its script");
    assert_eq!(s.request("GET", "/api/campaigns", &[("cookie", &cookie)], b"").unwrap().status, 200);
    // The beacon endpoints stay public.
    assert_eq!(s.request("GET", "/t.js", &[], b"").unwrap().status, 200);
}

#[test]
fn accounts_filters_csv_detail_campaigns_and_live() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_site(dir.path(), "");
    traffic(&s);

    let list = get(&s, "/api/accounts").json();
    let domains: Vec<&str> =
        list["accounts"].as_array().unwrap().iter().map(|a| a["domain"].as_str().unwrap()).collect();
    assert_eq!(domains, ["acme-robotics.example", "globex.example"], "ranked by score; the ISP is no account");
    let acme = &list["accounts"][0];
    assert_eq!(acme["visitors"], 2);
    assert_eq!(acme["status"], "new");
    assert_eq!(acme["first_campaign"], json!({ "source": "linkedin", "medium": "paid", "campaign": "launch" }));
    let activity = acme["activity"].as_array().unwrap();
    assert_eq!(activity.len(), 30);
    assert_eq!(activity[29], 3, "three page views today");
    assert_eq!(list["stages"], json!(["cold", "warm", "hot"]));

    let only = |q: &str| -> Vec<String> {
        let v = get(&s, &format!("/api/accounts?{q}")).json();
        v["accounts"].as_array().unwrap().iter().map(|a| a["domain"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(only("q=glob"), ["globex.example"]);
    assert_eq!(only("q=ACME"), ["acme-robotics.example"]);
    assert_eq!(only("campaign=launch"), ["acme-robotics.example"]);
    assert_eq!(only("country=de&class=business").len(), 2);
    assert_eq!(only("country=gb"), Vec::<String>::new());
    assert_eq!(only("stage=hot"), Vec::<String>::new(), "nobody is hot yet");
    assert_eq!(only("status=won"), Vec::<String>::new());
    assert_eq!(get(&s, "/api/accounts?limit=0").status, 400);
    assert_eq!(get(&s, "/api/accounts?status=maybe").status, 400);
    assert_eq!(get(&s, "/api/accounts?site=other").status, 400);

    let csv = get(&s, "/api/accounts?format=csv");
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.header("content-disposition").unwrap().contains("attachment"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("domain,name,class"));
    assert!(lines[1].starts_with("acme-robotics.example,Acme Robotics,business"), "{}", lines[1]);
    assert_eq!(lines.len(), 3);

    let detail = get(&s, "/api/accounts/acme-robotics.example").json();
    assert_eq!(detail["account"]["name"], "Acme Robotics");
    let sessions = detail["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "one session per person");
    let paths: Vec<&str> =
        sessions.iter().flat_map(|s| s["pages"].as_array().unwrap()).map(|p| p["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/pricing") && paths.contains(&"/demo") && paths.contains(&"/docs/setup"), "{paths:?}");
    let pages: Vec<&str> =
        detail["breakdown"]["pages"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(pages[0], "/demo", "the heaviest page leads the breakdown: {pages:?}");
    assert_eq!(detail["breakdown"]["visitors"], 2);
    assert_eq!(detail["status"], Value::Null);
    assert_eq!(get(&s, "/api/accounts/nobody.example").status, 404);

    let campaigns = get(&s, "/api/campaigns").json();
    assert_eq!(
        campaigns["campaigns"],
        json!([{ "source": "linkedin", "medium": "paid", "campaign": "launch", "sessions": 1, "accounts": 1,
                 "by_stage": { acme["stage"].as_str().unwrap(): 1 }, "won": 0, "lost": 0 }])
    );

    let live = get(&s, "/api/live?minutes=5").json();
    assert_eq!(live["visits"].as_array().unwrap().len(), 5, "every page view just received, bots aside");
    assert_eq!(get(&s, "/api/live?minutes=0").status, 400);
    assert_eq!(get(&s, "/api/nothing").status, 404);
    assert_eq!(
        s.request("DELETE", "/api/accounts", &[("authorization", &format!("Bearer {TOKEN}"))], b"").unwrap().status,
        405
    );
}

#[test]
fn sales_status_is_checked_persists_across_a_restart_and_quiets_alerts_until_the_score_rises() {
    let dir = tempfile::tempdir().unwrap();
    // Every /demo visit is a hot-page alert; the receiver does not exist, so deliveries stay pending — we count
    // what was queued.
    let alerts = "[alerts]\nhot_pages = [\"/demo*\"]\nrecontact_margin = 20\n\
                  [[alerts.webhooks]]\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"x\"\ncooldown = \"1s\"\n";
    let mut s = start_site(dir.path(), alerts);
    traffic(&s);
    let queued = |s: &Server| s.sql("SELECT count(*) AS n FROM alert_deliveries")[0]["n"].as_i64().unwrap();
    s.wait_for("SELECT count(*) AS n FROM alert_deliveries", |r| r[0]["n"] == 1);
    assert_eq!(queued(&s), 1, "the first /demo visit alerted");

    assert_eq!(post_status(&s, "acme-robotics.example", r#"{"status":"maybe"}"#).status, 400);
    assert_eq!(post_status(&s, "acme-robotics.example", "not json").status, 400);
    assert_eq!(post_status(&s, "acme-robotics.example", r#"{"status":"won","note":5}"#).status, 400);
    assert_eq!(post_status(&s, "nobody.example", r#"{"status":"won"}"#).status, 404);
    let r = post_status(&s, "acme-robotics.example", r#"{"status":"contacted","note":"called Alex","by":"sam"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["set_by"], "sam");

    // A /demo visit now: the score rises by less than the margin, so sales is not pinged again.
    std::thread::sleep(Duration::from_millis(1100));
    view(&s, "198.51.100.10", "alex", "a4", "https://w.example/demo");
    s.wait_for("SELECT count(*) AS n FROM alerts", |r| r[0]["n"] == 2);
    assert_eq!(queued(&s), 1, "a contacted account is not re-alerted for a small rise");
    // Much more interest: past the margin, alerts flow again.
    for i in 0..4 {
        view(&s, "198.51.100.12", "kim", &format!("k{i}"), "https://w.example/pricing");
    }
    std::thread::sleep(Duration::from_millis(1100));
    view(&s, "198.51.100.12", "kim", "k9", "https://w.example/demo");
    s.wait_for("SELECT count(*) AS n FROM alert_deliveries", |r| r[0]["n"] == 2);
    assert_eq!(queued(&s), 2, "re-alerted once the score rose by the margin");

    assert!(s.terminate().success());
    let s = start_site(dir.path(), alerts);
    let detail = get(&s, "/api/accounts/acme-robotics.example").json();
    assert_eq!(detail["status"]["status"], "contacted");
    assert_eq!(detail["status"]["note"], "called Alex");
    assert_eq!(get(&s, "/api/accounts?status=contacted").json()["accounts"][0]["domain"], "acme-robotics.example");
    assert_eq!(
        s.sql("SELECT company_domain, status, set_by FROM account_status"),
        json!([{ "company_domain": "acme-robotics.example", "status": "contacted", "set_by": "sam" }])
    );
}
