//! What a viewer, a third-party page and a slow receiver could still do (issue 24), closed and checked
//! through the real binary: on `vtrack serve` (SQLite) and, where the store is involved, on Kafka +
//! ClickHouse (`vtrack ingest`, `vtrack process`, `vtrack api`).
//!
//! - Receivers are shown by name: a viewer's answers hold no webhook or Slack URL, an admin's only a
//!   redacted one, and `vtrack alerts` redacts unless asked.
//! - A receiver that hangs does not delay another receiver's delivery by more than a second.
//! - The pixel honours `[[sites]] origins` by `Referer`: a foreign page's pixel stores nothing.
//! - The same event id on two sites is stored for both.
//! - A person limited to one site gets 403 for another site's accounts, funnel, live view and exports.
//! - `identify` emails: the odd ones refused with the reason, Unicode and punycode spellings one account.
//! - `bearer` in lower case, two `Host` headers, wrong `/metrics` tokens, `HEAD` on the API.

use crate::common;

use common::prod::{shared_clickhouse, shared_kafka, Pipeline};
use common::webhook::receiver;
use common::{api, http, view, wait_until, Server, BROWSER_UA, TOKEN};
use serde_json::{json, Value};
use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// `vtrack serve` on `dir/data` with exactly `toml` as its config file.
fn start_with(dir: &std::path::Path, toml: &str) -> Server {
    let config = dir.join("vtrack.toml");
    std::fs::write(&config, toml).unwrap();
    Server::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

/// A webhook receiver that takes each request and never answers; each connection is let go after 40 s.
fn hanging_receiver() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(40)));
                let mut sink = [0u8; 4096];
                let until = Instant::now() + Duration::from_secs(40);
                while Instant::now() < until {
                    match stream.read(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    port
}

/// A Slack-style path whose last part is the credential.
const SLACK_SECRET: &str = "T00000000/B00000000/s3cretPathToken24chars";

fn receivers_toml(slow: u16, quick: u16) -> String {
    format!(
        "[[alerts.webhooks]]\nname = \"slow\"\nurl = \"http://127.0.0.1:{slow}/hang\"\nsecret = \"a\"\ntimeout = \"20s\"\n\
         [[alerts.webhooks]]\nname = \"sales slack\"\nurl = \"http://127.0.0.1:{quick}/services/{SLACK_SECRET}\"\n\
         secret = \"b\"\n"
    )
}

/// Acme hot (2 + 5 + 10 + 15 and 2 + 5 + 5 + 15: 59, see tests/alerts.rs), then Globex the same way.
fn acme_hot(post: &dyn Fn(&str, &str, &str, &str)) {
    post("198.51.100.10", "alex", "a1", "/pricing");
    post("198.51.100.10", "alex", "a2", "/demo");
    post("198.51.100.11", "sam", "b1", "/demo");
}

fn globex_hot(post: &dyn Fn(&str, &str, &str, &str)) {
    post("198.51.100.70", "gia", "g1", "/pricing");
    post("198.51.100.70", "gia", "g2", "/demo");
    post("198.51.100.71", "gus", "h1", "/demo");
}

/// Waits for Globex's alert to be raised (`raised`), then measures how long the quick receiver takes to get
/// it while the slow one hangs on Acme's.
fn quick_delay(raised: impl Fn() -> bool, quick_got: impl Fn() -> usize) -> Duration {
    wait_until("globex's alert", 60, &raised);
    let at = Instant::now();
    while quick_got() < 2 && at.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(quick_got(), 2, "the quick receiver got both alerts");
    at.elapsed()
}

#[test]
fn a_hanging_receiver_delays_no_other_and_receivers_are_shown_by_name() {
    let slow = hanging_receiver();
    let (quick, quick_log) = receiver(0);
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_site(
        dir.path(),
        &format!(
            "[[dashboard.users]]\nname = \"vic\"\ntoken = \"vic-token\"\nrole = \"viewer\"\n{}",
            receivers_toml(slow, quick)
        ),
    );
    let post = |ip: &str, vid: &str, eid: &str, path: &str| view(&s, ip, vid, eid, path);
    acme_hot(&post);
    wait_until("acme's alert at the quick receiver", 30, || quick_log.lock().unwrap().len() == 1);
    // The slow receiver now holds Acme's delivery for 20 s; Globex's alert must not wait for it.
    globex_hot(&post);
    let raised = || s.sql("SELECT count(*) AS n FROM alerts WHERE company_domain = 'globex.example'")[0]["n"] == 1;
    let delay = quick_delay(raised, || quick_log.lock().unwrap().len());
    assert!(delay < Duration::from_secs(1), "the quick receiver waited {delay:?} on the hanging one");
    let metrics = s.request("GET", "/metrics", &[], b"").unwrap().body;
    let lag = metrics
        .lines()
        .find_map(|l| l.strip_prefix("vtrack_webhook_lag_seconds{receiver=\"slow\"} "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(lag.is_some_and(|l| l > 0.0), "the slow receiver's lag shows: {metrics}");
    assert!(metrics.contains("vtrack_webhook_lag_seconds{receiver=\"sales slack\"}"));
    assert!(!metrics.contains(SLACK_SECRET) && !metrics.contains(&format!("127.0.0.1:{quick}")));

    // A viewer reads every answer without a receiver's URL; the deliveries name their receivers.
    for path in [
        "/api/accounts",
        "/api/accounts?format=csv",
        "/api/accounts/acme-robotics.example",
        "/api/accounts/globex.example",
        "/api/live?minutes=60",
        "/api/campaigns",
        "/api/funnel",
        "/api/me",
    ] {
        let r = api(&s, "vic-token", "GET", path, "");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        for url in [format!("127.0.0.1:{quick}"), format!("127.0.0.1:{slow}"), SLACK_SECRET.to_string()] {
            assert!(!r.body.contains(&url), "{path} shows a viewer {url}: {}", r.body);
        }
    }
    let detail = api(&s, "vic-token", "GET", "/api/accounts/acme-robotics.example", "").json();
    let deliveries = &detail["alerts"][0]["deliveries"];
    let names: Vec<&str> = deliveries.as_array().unwrap().iter().filter_map(|d| d["receiver"].as_str()).collect();
    assert_eq!(names, ["slow", "sales slack"], "{detail}");
    assert!(deliveries.as_array().unwrap().iter().all(|d| d["webhook"].is_null()), "{deliveries}");
    // An admin sees the URL redacted: scheme, host and the path's last characters.
    let admin = api(&s, TOKEN, "GET", "/api/accounts/acme-robotics.example", "");
    assert!(!admin.body.contains(SLACK_SECRET), "{}", admin.body);
    assert_eq!(admin.json()["alerts"][0]["deliveries"][1]["webhook"], format!("http://127.0.0.1:{quick}/…hars"));

    // The CLI redacts the same way unless asked.
    let alerts = |extra: &[&str]| {
        let out = std::process::Command::new(common::bin())
            .args(["alerts", "--data-dir"])
            .arg(&s.data_dir)
            .arg("--config")
            .arg(dir.path().join("vtrack.toml"))
            .args(["--format", "json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let redacted = alerts(&[]);
    assert!(!redacted.contains(SLACK_SECRET) && redacted.contains("sales slack"), "{redacted}");
    assert!(alerts(&["--show-webhook-urls"]).contains(SLACK_SECRET));
}

#[test]
fn on_kafka_and_clickhouse_a_hanging_receiver_delays_no_other() {
    let slow = hanging_receiver();
    let (quick, quick_log) = receiver(0);
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let _process = p.process(&receivers_toml(slow, quick));
    let ingest = p.ingest("");
    let post = |ip: &str, vid: &str, eid: &str, path: &str| {
        let body = json!({ "site": "s1", "type": "pageview", "url": format!("https://w.example{path}"), "vid": vid,
                           "eid": eid });
        assert_eq!(ingest.post(ip, &body.to_string()).unwrap().status, 202);
    };
    acme_hot(&post);
    wait_until("acme's alert at the quick receiver", 60, || quick_log.lock().unwrap().len() == 1);
    globex_hot(&post);
    let raised = || p.sql("SELECT count() AS n FROM alerts FINAL WHERE company_domain = 'globex.example'")[0]["n"] == 1;
    let delay = quick_delay(raised, || quick_log.lock().unwrap().len());
    assert!(delay < Duration::from_secs(1), "the quick receiver waited {delay:?} on the hanging one");
}

/// A pixel request for `site` with `referer` (none when empty); its status.
fn pixel(addr: std::net::SocketAddr, site: &str, eid: &str, referer: &str) -> u16 {
    let path = format!("/v1/p.gif?site={site}&eid={eid}&vid=px&url=https%3A%2F%2Fwww.s1.example%2Fp");
    let mut headers = vec![("user-agent", BROWSER_UA), ("x-forwarded-for", "198.51.100.10")];
    if !referer.is_empty() {
        headers.push(("referer", referer));
    }
    http(addr, "GET", &path, &headers, b"").unwrap().status
}

/// The pixel refusals shared by both stores: site `r` is restricted to `https://www.s1.example`, site `open`
/// is not. Returns the event ids that must be stored and those that must not.
fn pixel_requests(addr: std::net::SocketAddr) -> (Vec<&'static str>, Vec<&'static str>) {
    assert_eq!(pixel(addr, "r", "px-foreign", "https://evil.example/page"), 403, "a foreign page");
    assert_eq!(pixel(addr, "r", "px-none", ""), 403, "no Referer on a restricted site");
    assert_eq!(pixel(addr, "r", "px-own", "https://www.s1.example/pricing?x=1"), 200);
    assert_eq!(pixel(addr, "open", "px-open", ""), 200, "a site without origins takes any page");
    (vec!["px-open", "px-own"], vec!["px-foreign", "px-none"])
}

const PIXEL_SITES: &str = "[[sites]]\nkey = \"r\"\norigins = [\"https://www.s1.example\"]\n\
                           [[sites]]\nkey = \"open\"\n";

#[test]
fn the_pixel_honours_origins_through_referer() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(dir.path(), &format!("[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n{PIXEL_SITES}"));
    let (kept, refused) = pixel_requests(s.addr);
    let q = "SELECT event_id FROM events WHERE event_id LIKE 'px-%' ORDER BY event_id";
    let rows = s.wait_for(q, |r| r.as_array().is_some_and(|a| a.len() == 2));
    let ids: Vec<&str> = rows.as_array().unwrap().iter().filter_map(|r| r["event_id"].as_str()).collect();
    assert_eq!(ids, kept);
    assert!(refused.iter().all(|id| !ids.contains(id)));
}

/// Beacons whose event ids repeat across sites `s1` and `s2`: in one request, and in requests apart.
fn same_ids_on_two_sites(post: &dyn Fn(&str) -> u16) {
    let b = |site: &str, eid: &str, vid: &str| json!({ "site": site, "type": "pageview", "url": "https://w.example/p", "vid": vid, "eid": eid });
    assert_eq!(post(&json!([b("s1", "dup-1", "v1"), b("s2", "dup-1", "v2")]).to_string()), 202);
    assert_eq!(post(&b("s1", "dup-2", "v3").to_string()), 202);
    assert_eq!(post(&b("s2", "dup-2", "v4").to_string()), 202);
    // A replay is still one event.
    assert_eq!(post(&b("s2", "dup-2", "v4").to_string()), 202);
}

fn expected_duplicates() -> Value {
    json!([
        { "site": "s1", "event_id": "dup-1" }, { "site": "s1", "event_id": "dup-2" },
        { "site": "s2", "event_id": "dup-1" }, { "site": "s2", "event_id": "dup-2" },
    ])
}

#[test]
fn the_same_event_id_on_two_sites_is_stored_for_both() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_site(dir.path(), "[[sites]]\nkey = \"s2\"\n");
    same_ids_on_two_sites(&|body| s.post_events("198.51.100.10", body).status);
    let q = "SELECT site, event_id FROM events WHERE event_id LIKE 'dup-%' ORDER BY site, event_id";
    let rows = s.wait_for(q, |r| r.as_array().is_some_and(|a| a.len() == 4));
    assert_eq!(rows, expected_duplicates());
    // Each site's session starts at its own event.
    let sessions = s.sql("SELECT site, session_id AS event_id FROM sessions ORDER BY site, session_id");
    assert_eq!(sessions, expected_duplicates());
}

/// Sites `s1` (Acme) and `s2` (Globex), cli1 limited to `s1`, a sales person limited to `s1`, and people the
/// proxy names limited to `s2` by default.
const SITE_USERS: &str = "[[dashboard.users]]\nname = \"cli1\"\ntoken = \"cli1-token\"\nsites = [\"s1\"]\n\
                          [[dashboard.users]]\nname = \"sal\"\ntoken = \"sal-token\"\nrole = \"sales\"\nsites = [\"s1\"]\n";

/// What a person limited to `s1` may and may not read on `addr` (a `vtrack serve` or `vtrack api`).
fn limited_to_one_site(addr: std::net::SocketAddr, with_proxy: bool) {
    let get = |token: &str, path: &str| {
        http(addr, "GET", path, &[("authorization", &format!("Bearer {token}"))], b"").unwrap()
    };
    let me = get("cli1-token", "/api/me").json();
    assert_eq!(me["sites"], json!(["s1"]), "{me}");
    let list = get("cli1-token", "/api/accounts");
    assert_eq!((list.status, &list.json()["site"]), (200, &json!("s1")), "the default is their site: {}", list.body);
    for path in [
        "/api/accounts?site=s2",
        "/api/accounts?site=s2&format=csv",
        "/api/accounts/globex.example?site=s2",
        "/api/funnel?site=s2",
        "/api/funnel?site=s2&format=csv",
        "/api/live?site=s2",
        "/api/campaigns?site=s2",
        "/api/accounts?site=no-such-site",
    ] {
        let r = get("cli1-token", path);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(!r.body.contains("globex"), "{path}: {}", r.body);
    }
    let write = http(
        addr,
        "POST",
        "/api/accounts/globex.example/status?site=s2",
        &[("authorization", "Bearer sal-token"), ("content-type", "application/json")],
        br#"{"status":"contacted"}"#,
    )
    .unwrap();
    assert_eq!(write.status, 403, "{}", write.body);
    let mut all: Vec<Value> = get(TOKEN, "/api/me").json()["sites"].as_array().cloned().unwrap_or_default();
    all.sort_by_key(|s| s.to_string());
    assert_eq!(all, [json!("s1"), json!("s2")], "the shared token sees every site");
    assert_eq!(get(TOKEN, "/api/accounts?site=s2").status, 200);
    if with_proxy {
        let r = http(addr, "GET", "/api/me", &[("x-forwarded-email", "lee@ourco.example")], b"").unwrap();
        assert_eq!(r.json()["sites"], json!(["s2"]), "proxy_default_sites: {}", r.body);
        let r = http(addr, "GET", "/api/accounts?site=s1", &[("x-forwarded-email", "lee@ourco.example")], b"").unwrap();
        assert_eq!(r.status, 403);
    }
}

#[test]
fn a_person_limited_to_one_site_gets_403_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_site(
        dir.path(),
        &format!(
            "proxy_user_header = \"X-Forwarded-Email\"\nproxy_default_sites = [\"s2\"]\n{SITE_USERS}\
             [[sites]]\nkey = \"s2\"\n"
        ),
    );
    view(&s, "198.51.100.10", "alex", "a1", "/pricing");
    let globex = json!({ "site": "s2", "type": "pageview", "url": "https://g.example/p", "vid": "gia", "eid": "g1" });
    assert_eq!(s.post_events("198.51.100.70", &globex.to_string()).status, 202);
    s.wait_for("SELECT count(*) AS n FROM accounts", |r| r[0]["n"] == 2);
    limited_to_one_site(s.addr, true);
}

/// The odd emails of issue 24, each refused with its reason.
const ODD_EMAILS: [(&str, &str); 6] = [
    ("a@@b.example", "not an email address"),
    ("jo@-acme.example", "invalid domain"),
    ("jo@[10.0.0.1]", "address literal"),
    ("jo@[IPv6:2001:db8::1]", "address literal"),
    ("jo@acme\u{202E}elpmaxe.example", "bidirectional"),
    ("jo\u{200B}@acme.example", "invisible"),
];

fn identify(vid: &str, eid: &str, email: &str) -> String {
    json!({ "site": "s1", "type": "identify", "url": "https://w.example/demo", "vid": vid, "eid": eid,
            "email": email })
    .to_string()
}

/// Posts the odd emails (each 400, saying why) and two spellings of one domain (202 each).
fn emails(post: &dyn Fn(&str) -> (u16, String)) {
    for (i, (email, why)) in ODD_EMAILS.iter().enumerate() {
        let (status, body) = post(&identify("odd", &format!("odd-{i}"), email));
        assert_eq!(status, 400, "{email:?}: {body}");
        assert!(body.contains(why), "{email:?}: {body} does not say {why:?}");
    }
    assert_eq!(post(&identify("v-jane", "bu-1", "Jane@Bücher.example")).0, 202);
    assert_eq!(post(&identify("v-joe", "bu-2", "joe@XN--BCHER-KVA.example")).0, 202);
}

const ONE_ACCOUNT: &str = "xn--bcher-kva.example";

#[test]
fn odd_emails_are_refused_and_two_spellings_of_a_domain_make_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::start_site(dir.path(), "");
    emails(&|body| {
        let r = s.post_events("198.18.0.10", body);
        (r.status, r.body)
    });
    let q = "SELECT company_domain FROM accounts WHERE company_domain LIKE '%bcher%'";
    let accounts = s.wait_for(q, |r| r.as_array().is_some_and(|a| !a.is_empty()));
    s.wait_for("SELECT count(*) AS n FROM events WHERE event_id LIKE 'bu-%'", |r| r[0]["n"] == 2);
    assert_eq!(accounts, json!([{ "company_domain": ONE_ACCOUNT }]));
    let stored = s.sql("SELECT email FROM events WHERE event_id LIKE 'bu-%' ORDER BY event_id");
    assert_eq!(stored, json!([{ "email": "Jane@xn--bcher-kva.example" }, { "email": "joe@xn--bcher-kva.example" }]));
    assert_eq!(s.sql("SELECT count(*) AS n FROM events WHERE event_id LIKE 'odd-%'"), json!([{ "n": 0 }]));
}

#[test]
fn bearer_in_lower_case_one_host_metrics_throttled_and_head_on_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(
        dir.path(),
        &format!(
            "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\nmetrics_token = \"m-token\"\n[[sites]]\nkey = \"s1\"\n\
             [dashboard]\ntoken = \"{TOKEN}\"\n[limits]\nsign_in_failures = {{ rate = 0.001, burst = 3 }}\n"
        ),
    );
    let lower = format!("bearer {TOKEN}");
    let r = s.request("GET", "/api/me", &[("authorization", &lower)], b"").unwrap();
    assert_eq!(r.status, 200, "RFC 9110: the scheme is case-insensitive: {}", r.body);
    let r = s.request("GET", "/metrics", &[("authorization", "BEARER m-token")], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    let two_hosts = [("host", "127.0.0.1"), ("host", "evil.example")];
    let r = s.request("GET", "/api/me", &[two_hosts[0], two_hosts[1], ("authorization", &lower)], b"").unwrap();
    assert_eq!(r.status, 400, "two Host headers: {}", r.body);
    assert_eq!(s.request("GET", "/healthz", &two_hosts, b"").unwrap().status, 400);

    // HEAD answers as GET does, without a body.
    let get = s.request("GET", "/api/accounts", &[("authorization", &lower)], b"").unwrap();
    let head = s.request("HEAD", "/api/accounts", &[("authorization", &lower)], b"").unwrap();
    assert_eq!((head.status, head.body.as_str()), (200, ""), "{head:?}");
    assert_eq!(head.header("content-type"), get.header("content-type"));

    // Wrong /metrics tokens: three, then 429 for this address, the right token included.
    for _ in 0..3 {
        let r = s.request("GET", "/metrics", &[("authorization", "Bearer guess")], b"").unwrap();
        assert_eq!(r.status, 401);
    }
    let r = s.request("GET", "/metrics", &[("authorization", "Bearer guess")], b"").unwrap();
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let r = s.request("GET", "/metrics", &[("authorization", "Bearer m-token")], b"").unwrap();
    assert_eq!(r.status, 429, "guessing cannot be sped up by a right guess");
}

/// The store-side items on Kafka + ClickHouse: event ids per site, emails' one account, the pixel's
/// refusals, and a person limited to one site on `vtrack api`.
#[test]
fn on_kafka_and_clickhouse_ids_per_site_emails_the_pixel_and_site_limits() {
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let _process = p.process("");
    let ingest = p.ingest(&format!("[[sites]]\nkey = \"s2\"\n{PIXEL_SITES}"));
    same_ids_on_two_sites(&|body| ingest.post("198.51.100.10", body).unwrap().status);
    emails(&|body| {
        let r = ingest.post("198.18.0.10", body).unwrap();
        (r.status, r.body)
    });
    let (kept, refused) = pixel_requests(ingest.addr);
    let globex = json!({ "site": "s2", "type": "pageview", "url": "https://g.example/p", "vid": "gia", "eid": "g1" });
    assert_eq!(ingest.post("198.51.100.70", &globex.to_string()).unwrap().status, 202);
    view_ch(&ingest, "198.51.100.10", "alex", "a1");

    let stored = |q: &str, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = p.sql(q);
            if rows.as_array().is_some_and(|a| a.len() >= n) || Instant::now() > deadline {
                return rows;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let dups = stored("SELECT site, event_id FROM events FINAL WHERE event_id LIKE 'dup-%' ORDER BY site, event_id", 4);
    assert_eq!(dups, expected_duplicates());
    let px = stored("SELECT event_id FROM events FINAL WHERE event_id LIKE 'px-%' ORDER BY event_id", 2);
    let ids: Vec<&str> = px.as_array().unwrap().iter().filter_map(|r| r["event_id"].as_str()).collect();
    assert_eq!(ids, kept);
    assert!(refused.iter().all(|id| !ids.contains(id)));
    stored("SELECT event_id FROM events FINAL WHERE event_id LIKE 'bu-%'", 2);
    let accounts = stored("SELECT company_domain FROM accounts FINAL WHERE company_domain LIKE '%bcher%'", 1);
    assert_eq!(accounts, json!([{ "company_domain": ONE_ACCOUNT }]));
    let emails = p.sql("SELECT email FROM events FINAL WHERE event_id LIKE 'bu-%' ORDER BY event_id");
    assert_eq!(emails, json!([{ "email": "Jane@xn--bcher-kva.example" }, { "email": "joe@xn--bcher-kva.example" }]));
    stored(
        "SELECT company_domain FROM accounts FINAL WHERE company_domain IN ('globex.example', 'acme-robotics.example')",
        2,
    );

    let api = p.api(&format!("[[sites]]\nkey = \"s2\"\n[dashboard]\ntoken = \"{TOKEN}\"\n{SITE_USERS}"));
    limited_to_one_site(api.addr, false);
}

fn view_ch(ingest: &common::prod::Proc, ip: &str, vid: &str, eid: &str) {
    let body = json!({ "site": "s1", "type": "pageview", "url": "https://w.example/pricing", "vid": vid, "eid": eid });
    assert_eq!(ingest.post(ip, &body.to_string()).unwrap().status, 202);
}
