//! Who did what, through the real `vtrack serve`: per-person tokens with roles (`[[dashboard.users]]`) and
//! the person a trusted reverse proxy names (`[dashboard] proxy_user_header`). A `sales` token's status and
//! reassignment are recorded under its name whatever the body's `by` says; a `viewer` is refused every
//! write and nothing changes; the proxy's header is believed only from a trusted peer.

use crate::common;

use common::{api, view, Server};
use serde_json::{json, Value};

const ACME: &str = "/api/accounts/acme-robotics.example";

/// A server on site `s1` with owners ana and bo, sam (sales), vic (viewer) and pat (sales, proxy only),
/// the proxy header `X-Forwarded-Email`, and `trusted` as `[server] trusted_proxies`.
fn start(dir: &std::path::Path, trusted: &str) -> Server {
    let config = dir.join("vtrack.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntrusted_proxies = [\"{trusted}\"]\n[[sites]]\nkey = \"s1\"\n\
             [dashboard]\ntoken = \"shared-admin-token\"\nproxy_user_header = \"X-Forwarded-Email\"\n\
             [[dashboard.users]]\nname = \"sam\"\ntoken = \"sam-token\"\nrole = \"sales\"\n\
             [[dashboard.users]]\nname = \"vic\"\ntoken = \"vic-token\"\nrole = \"viewer\"\n\
             [[dashboard.users]]\nname = \"pat@ourco.example\"\nrole = \"sales\"\n\
             [[owners]]\nname = \"ana\"\n[[owners]]\nname = \"bo\"\n"
        ),
    )
    .unwrap();
    let s = Server::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()]);
    // Acme's view, stored with its account in one batch; behind an untrusted proxy it is loopback's and
    // makes no account.
    view(&s, "198.51.100.10", "alex", "a1", "/pricing");
    s.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"] == 1);
    s
}

/// A request as whoever the proxy header names, with no token.
fn as_proxy_user(s: &Server, who: &str, method: &str, path: &str, body: &str) -> common::Response {
    s.request(method, path, &[("x-forwarded-email", who), ("content-type", "application/json")], body.as_bytes())
        .unwrap()
}

fn history(s: &Server) -> Value {
    json!({
        "status": s.sql("SELECT status, set_by FROM account_status ORDER BY rowid"),
        "owner": s.sql("SELECT owner, changed_by FROM account_owner_history WHERE reason = 'manual' ORDER BY rowid"),
    })
}

#[test]
fn sales_writes_under_their_own_name_and_a_viewer_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "127.0.0.1/32");

    let me = api(&s, "sam-token", "GET", "/api/me", "").json();
    assert_eq!(me, json!({ "name": "sam", "role": "sales", "can_write": true, "sites": ["s1"] }));
    assert_eq!(
        api(&s, "vic-token", "GET", "/api/me", "").json(),
        json!({ "name": "vic", "role": "viewer", "can_write": false, "sites": ["s1"] })
    );
    assert_eq!(api(&s, "wrong-token", "GET", "/api/me", "").status, 401);

    // The body's `by` cannot put the change in someone else's name.
    let r = api(&s, "sam-token", "POST", &format!("{ACME}/status"), r#"{"status":"contacted","by":"mallory"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["set_by"], "sam");
    let r = api(&s, "sam-token", "POST", &format!("{ACME}/owner"), r#"{"owner":"bo","by":"mallory"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["changed_by"], "sam");
    let detail = api(&s, "vic-token", "GET", ACME, "").json();
    assert_eq!(detail["status"]["set_by"], "sam", "the viewer reads who did it: {detail}");
    assert_eq!(detail["owner_history"][0]["changed_by"], "sam");

    // A viewer: 403 with a JSON reason on every write, and the history is as it was.
    let before = history(&s);
    for (path, body) in [("status", r#"{"status":"won"}"#), ("owner", r#"{"owner":"ana"}"#)] {
        let r = api(&s, "vic-token", "POST", &format!("{ACME}/{path}"), body);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains("viewer"), "{}", r.body);
    }
    assert_eq!(api(&s, "wrong-token", "POST", &format!("{ACME}/status"), r#"{"status":"won"}"#).status, 401);
    assert_eq!(history(&s), before);
    assert_eq!(before["status"], json!([{ "status": "contacted", "set_by": "sam" }]));

    // The shared token still works, as admin, and still takes `by` (it names no one).
    assert_eq!(
        api(&s, "shared-admin-token", "GET", "/api/me", "").json(),
        json!({ "name": null, "role": "admin", "can_write": true, "sites": ["s1"] })
    );
    let r = api(&s, "shared-admin-token", "POST", &format!("{ACME}/status"), r#"{"status":"qualified","by":"lee"}"#);
    assert_eq!(r.json()["set_by"], "lee");

    // A browser session carries its person.
    let r = s.request("GET", "/?token=vic-token", &[], b"").unwrap();
    assert_eq!(r.status, 303);
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let r = s.request("GET", "/api/me", &[("cookie", &cookie)], b"").unwrap();
    assert_eq!(r.json()["name"], "vic");
}

#[test]
fn the_proxy_header_is_believed_from_a_trusted_peer() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "127.0.0.1/32");
    assert_eq!(
        as_proxy_user(&s, "pat@ourco.example", "GET", "/api/me", "").json(),
        json!({ "name": "pat@ourco.example", "role": "sales", "can_write": true, "sites": ["s1"] })
    );
    let r = as_proxy_user(&s, "pat@ourco.example", "POST", &format!("{ACME}/status"), r#"{"status":"contacted"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.sql("SELECT set_by FROM account_status"), json!([{ "set_by": "pat@ourco.example" }]));
    // Someone the proxy signed in who is not listed gets the default role, viewer.
    let r = as_proxy_user(&s, "lee@ourco.example", "GET", "/api/me", "");
    assert_eq!(r.json(), json!({ "name": "lee@ourco.example", "role": "viewer", "can_write": false, "sites": ["s1"] }));
    assert_eq!(
        as_proxy_user(&s, "lee@ourco.example", "POST", &format!("{ACME}/status"), r#"{"status":"won"}"#).status,
        403
    );
}

#[test]
fn the_proxy_header_from_an_untrusted_peer_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "10.0.0.0/8");
    let r = as_proxy_user(&s, "pat@ourco.example", "GET", "/api/me", "");
    assert_eq!(r.status, 401, "without a token the header alone is nobody: {}", r.body);
    let r = as_proxy_user(&s, "pat@ourco.example", "POST", &format!("{ACME}/status"), r#"{"status":"contacted"}"#);
    assert_eq!(r.status, 401);
    // With a token, the token says who it is, not the header.
    let r = s
        .request(
            "GET",
            "/api/me",
            &[("x-forwarded-email", "pat@ourco.example"), ("authorization", "Bearer vic-token")],
            b"",
        )
        .unwrap();
    assert_eq!(r.json()["name"], "vic");
    assert_eq!(s.sql("SELECT count(*) AS n FROM account_status"), json!([{ "n": 0 }]));
}
