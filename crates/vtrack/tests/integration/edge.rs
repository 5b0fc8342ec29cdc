//! The hardened edge through the real binary: slow and idle connections are closed at the configured
//! timeouts, connections past the bound get 503, floods get 429, and the dashboard refuses what a hostile
//! page or host name can make a browser send.

use crate::common;

use common::{Response, Server, BROWSER_UA};
use serde_json::json;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const TOKEN: &str = "t0ken-for-edge-tests";

/// `vtrack serve` with a config file: one site, 127.0.0.1 as trusted proxy, a token, and `extra`.
fn start(dir: &std::path::Path, extra: &str) -> Server {
    let config = dir.join("vtrack.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n{extra}\n[[sites]]\nkey = \"s1\"\n\
             [dashboard]\ntoken = \"{TOKEN}\"\n"
        ),
    )
    .unwrap();
    Server::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

/// Reads until the server closes the connection; the client gives up only after `patience`, which is far
/// longer than the server's timeouts in these tests: an `Err` means the server did not close it.
fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> std::io::Result<String> {
    stream.set_read_timeout(Some(patience))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(String::from_utf8_lossy(&raw).into_owned()),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(String::from_utf8_lossy(&raw).into_owned()),
            Err(e) => return Err(e),
        }
    }
}

fn beacon(eid: &str) -> String {
    json!({ "site": "s1", "type": "pageview", "url": "https://w.example/pricing", "vid": "v1", "eid": eid }).to_string()
}

#[test]
fn slow_bodies_and_idle_connections_are_closed_at_the_timeouts_while_normal_requests_pass() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "request_timeout = \"1s\"\nheader_timeout = \"1s\"");
    // 20 connections that promise 100 bytes and send 4.
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            let head = format!(
                "POST /v1/events HTTP/1.1\r\nhost: {}\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n{{\"si",
                s.addr
            );
            c.write_all(head.as_bytes()).unwrap();
            c
        })
        .collect();
    // One chunked body at a byte at a time, from a thread that keeps sending until the server hangs up.
    let addr = s.addr;
    let trickle = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        let head = format!("POST /v1/events HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\n\r\n");
        c.write_all(head.as_bytes()).unwrap();
        let mut reader = c.try_clone().unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if c.write_all(b"1\r\nx\r\n").is_err() {
                break;
            }
            reader.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let mut buf = [0u8; 512];
            match reader.read(&mut buf) {
                Ok(n) if n > 0 => return String::from_utf8_lossy(&buf[..n]).into_owned(),
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
        String::new()
    });
    // An idle keep-alive connection that never sends a request.
    let mut idle = TcpStream::connect(s.addr).unwrap();

    // Normal requests are served meanwhile.
    let r = s.post_events("198.51.100.10", &beacon("e1"));
    assert_eq!(r.status, 202, "{}", r.body);

    for c in &mut slow {
        let answer = read_until_closed(c, Duration::from_secs(20)).expect("the server closes a slow body");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
    }
    let answer = trickle.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "a body trickling in is cut too: {answer:?}");
    let idle_answer = read_until_closed(&mut idle, Duration::from_secs(20)).expect("the server closes an idle one");
    assert!(!idle_answer.contains("HTTP/1.1 2"), "{idle_answer}");

    assert_eq!(s.post_events("198.51.100.10", &beacon("e2")).status, 202);
    let metrics = s.request("GET", "/metrics", &[], b"").unwrap().body;
    assert!(metrics.contains("vtrack_http_request_timeouts_total 21"), "{metrics}");
}

/// A keep-alive connection that has been served once, so the server holds it. Connections the test closed
/// just before may still hold their slots for a moment (503 then): it tries again until served.
fn held(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).ends_with("ok\n") {
            match c.read(&mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        if text.starts_with("HTTP/1.1 200") {
            return c;
        }
        assert!(text.starts_with("HTTP/1.1 503") && Instant::now() < deadline, "{text}");
    }
}

#[test]
fn connections_past_the_bound_get_a_clear_503() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "max_connections = 3\nheader_timeout = \"60s\"");
    let mut open: Vec<TcpStream> = (0..3).map(|_| held(s.addr)).collect();
    let r = s.request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["error"].as_str().unwrap().contains("max_connections"));
    // One hangs up: its slot is free again once the server notices.
    drop(open.pop());
    let health = || s.request("GET", "/healthz", &[], b"").map(|r| r.status).unwrap_or(0);
    common::poll("a free slot once a connection hung up", common::WAIT, health, |status| *status == 200);
    drop(open);
    let refused = || metric(&s, "vtrack_http_connections_refused_total");
    common::poll("the refused connection counted", common::WAIT, refused, |n| n.is_some_and(|n| n >= 1.0));
}

fn metric(s: &Server, name: &str) -> Option<f64> {
    let body = s.request("GET", "/metrics", &[], b"").ok()?.body;
    body.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn a_flood_from_one_address_gets_429s_other_addresses_pass_and_the_score_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // 20 at once, then one every 1000 s: the test never waits for a refill.
    let s = start(dir.path(), "[limits]\nper_address = { rate = 0.001, burst = 20 }");
    let mut statuses = Vec::new();
    for i in 0..60 {
        let r = s.post_events("198.51.100.10", &beacon(&format!("f{i}")));
        if r.status == 429 {
            let secs: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
            assert!(secs >= 1, "{secs}");
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 20, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 40);
    let pixel = s
        .request(
            "GET",
            "/v1/p.gif?site=s1&url=https%3A%2F%2Fw.example%2F",
            &[("user-agent", BROWSER_UA), ("x-forwarded-for", "198.51.100.10")],
            b"",
        )
        .unwrap();
    assert_eq!(pixel.status, 429, "the pixel shares the address's bucket");
    assert_eq!(s.post_events("198.51.100.11", &beacon("other")).status, 202, "another address is not limited");
    s.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"] == 21);
    assert_eq!(s.sql("SELECT count(*) AS n FROM events")[0]["n"], 21);
    assert_eq!(metric(&s, "vtrack_ingest_rate_limited_total{scope=\"address\"}"), Some(41.0));
    // What got through, 21 /pricing views of one visitor id (210 points unbounded), counts as at most
    // scoring.max_visitor_day_points (25) plus the visit (2) and the new visitor (5): not hot.
    let account = s.wait_for("SELECT score, stage, pageviews FROM accounts", |r| r[0]["pageviews"] == 21);
    assert_eq!(account[0]["pageviews"], 21, "{account}");
    assert!(account[0]["score"].as_f64().unwrap() <= 32.0, "{account}");
    assert_eq!(account[0]["stage"], "warm", "{account}");
}

#[test]
fn a_site_past_its_event_rate_gets_429() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "[limits]\nper_site = { rate = 0.001, burst = 5 }");
    let batch: Vec<serde_json::Value> = (0..4)
        .map(|i| json!({ "site": "s1", "type": "pageview", "url": "https://w.example/", "eid": format!("b{i}") }))
        .collect();
    assert_eq!(s.post_events("198.51.100.10", &json!(batch).to_string()).status, 202);
    let r = s.post_events("198.51.100.11", &json!(batch).to_string());
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert_eq!(metric(&s, "vtrack_ingest_rate_limited_total{scope=\"site\"}"), Some(1.0));
}

fn sign_in(s: &Server, token: &str, headers: &[(&str, &str)]) -> Response {
    s.request("GET", &format!("/?token={token}"), headers, b"").unwrap()
}

#[test]
fn the_session_cookie_is_not_the_token_and_carries_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let r = sign_in(&s, TOKEN, &[]);
    assert_eq!(r.status, 303);
    let set = r.header("set-cookie").unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(!set.contains("Secure"), "plain http on loopback: {set}");
    assert!(!set.contains(TOKEN), "the cookie is a session id, not the token: {set}");
    let cookie = set.split(';').next().unwrap().to_string();
    assert_eq!(s.request("GET", "/api/campaigns", &[("cookie", &cookie)], b"").unwrap().status, 200);
    let forged = format!("vtrack_session={TOKEN}");
    assert_eq!(s.request("GET", "/api/campaigns", &[("cookie", &forged)], b"").unwrap().status, 401);
    // Behind a trusted proxy that terminated https, the cookie is Secure.
    let r = sign_in(&s, TOKEN, &[("x-forwarded-proto", "https"), ("x-forwarded-for", "198.51.100.4")]);
    assert!(r.header("set-cookie").unwrap().contains("; Secure"), "{:?}", r.headers);
}

#[test]
fn wrong_tokens_are_throttled_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "[limits]\nsign_in_failures = { rate = 0.001, burst = 5 }");
    let me = [("x-forwarded-for", "198.51.100.20")];
    for i in 0..5 {
        assert_eq!(sign_in(&s, &format!("guess{i}"), &me).status, 401);
    }
    let r = sign_in(&s, "guess5", &me);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert_eq!(sign_in(&s, TOKEN, &me).status, 429, "even the right token waits: guessing cannot be confirmed");
    let bearer = format!("Bearer {TOKEN}");
    let api = s.request("GET", "/api/accounts", &[me[0], ("authorization", &bearer)], b"").unwrap();
    assert_eq!(api.status, 429, "Bearer guesses share the bucket");
    assert_eq!(sign_in(&s, TOKEN, &[("x-forwarded-for", "198.51.100.21")]).status, 303, "others sign in");
}

#[test]
fn the_dashboard_refuses_rebinding_hosts_cross_origin_writes_and_framing() {
    let dir = tempfile::tempdir().unwrap();
    // No token on loopback: the open dashboard the attacks of the issue went after.
    let config = dir.path().join("vtrack.toml");
    std::fs::write(&config, "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[[sites]]\nkey = \"s1\"\n").unwrap();
    let s = Server::start_in(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    assert_eq!(s.post_events("198.51.100.10", &beacon("d1")).status, 202);
    s.wait_for("SELECT count(*) AS n FROM accounts", |r| r[0]["n"] == 1);
    let domain = "acme-robotics.example";
    let status_path = format!("/api/accounts/{domain}/status");

    // DNS rebinding: a page on evil.test that resolves to 127.0.0.1.
    for path in ["/", "/api/accounts", "/ui/app.js"] {
        let r = s.request("GET", path, &[("host", "evil.test:8080")], b"").unwrap();
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(!r.body.contains(domain));
    }
    let r = s.request("GET", "/api/accounts", &[("host", "localhost")], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    // A cross-site page's auto-submitted form, and a sibling page's.
    let form = br#"{"status":"lost"}"#;
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let r = s.request("POST", &status_path, &[("content-type", ct), ("origin", "http://evil.test")], form).unwrap();
        assert_eq!(r.status, 415, "{ct}: {}", r.body);
    }
    let json_ct = ("content-type", "application/json");
    for bad in [("origin", "http://evil.test"), ("origin", "null"), ("sec-fetch-site", "same-site")] {
        let r = s.request("POST", &status_path, &[json_ct, bad], form).unwrap();
        assert_eq!(r.status, 403, "{bad:?}: {}", r.body);
    }
    let r = s.request("GET", "/api/accounts", &[("sec-fetch-site", "cross-site")], b"").unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(s.sql("SELECT count(*) AS n FROM account_status")[0]["n"], 0, "no write got through");
    // The dashboard's own page may write.
    let origin = format!("http://{}", s.addr);
    let r = s.request("POST", &status_path, &[json_ct, ("origin", &origin)], form).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    // Headers.
    let page = s.request("GET", "/", &[], b"").unwrap();
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let api = s.request("GET", "/api/accounts", &[], b"").unwrap();
    assert_eq!(api.header("cache-control"), Some("no-store"));
    assert_eq!(api.header("x-content-type-options"), Some("nosniff"));
    let metrics = s.request("GET", "/metrics", &[("origin", "http://evil.test")], b"").unwrap();
    assert_eq!(metrics.status, 200);
    assert_eq!(metrics.header("access-control-allow-origin"), None, "/metrics is not for other origins");
    let beacon_answer = s
        .request(
            "POST",
            "/v1/events",
            &[("origin", "https://w.example"), ("user-agent", BROWSER_UA), ("x-forwarded-for", "198.51.100.10")],
            beacon("d2").as_bytes(),
        )
        .unwrap();
    assert_eq!(beacon_answer.header("access-control-allow-origin"), Some("https://w.example"));
}

#[test]
fn metrics_can_ask_for_their_own_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "metrics_token = \"m3trics\"");
    let r = s.request("GET", "/metrics", &[], b"").unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!r.body.contains("vtrack_ingest"));
    assert_eq!(s.request("GET", "/metrics", &[("authorization", "Bearer wrong")], b"").unwrap().status, 401);
    let r = s.request("GET", "/metrics", &[("authorization", "Bearer m3trics")], b"").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("vtrack_ingest_requests"));
    assert_eq!(s.request("GET", "/healthz", &[], b"").unwrap().status, 200, "only /metrics asks");
}

#[test]
fn status_codes_say_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    assert_eq!(s.request("GET", "/ui/nope.js", &[], b"").unwrap().status, 404);
    let r = s.request("PUT", "/", &[], b"").unwrap();
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    let r = s.request("DELETE", "/v1/events", &[], b"").unwrap();
    assert_eq!((r.status, r.header("allow")), (405, Some("POST, OPTIONS")));
    let r = s.request("HEAD", "/v1/p.gif?site=s1&url=%2F", &[("user-agent", BROWSER_UA)], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/gif"));
}

#[test]
fn beacon_text_fields_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "");
    let post = |v: serde_json::Value| s.post_events("198.51.100.10", &v.to_string());
    let base = json!({ "site": "s1", "type": "pageview", "url": "https://w.example/", "vid": "v" });
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let r = post(with("email", json!("jo@acme.example")));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("identify"), "{}", r.body);
    assert_eq!(post(with("title", json!("a\u{0}b"))).status, 400);
    assert_eq!(post(with("url", json!("https://w.example/\u{1b}]0;pwned\u{7}"))).status, 400);
    assert_eq!(post(with("url", json!("//evil.example/x"))).status, 400);
    let mut ok = with("ref", json!("javascript:alert(1)"));
    ok["eid"] = json!("kept");
    assert_eq!(post(ok).status, 202);
    let rows = s.wait_for("SELECT referrer FROM events", |r| r.as_array().unwrap().len() == 1);
    assert_eq!(rows[0]["referrer"], "", "a non-http referrer is dropped: {rows}");
}

/// Bytes a request line may carry as they are; everything else is percent-encoded.
fn url_safe(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn arbitrary_beacons_and_pixel_queries_get_a_4xx_or_2xx_never_a_5xx() {
    use proptest::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "[limits]\nper_address = { rate = 0, burst = 1 }\nper_site = { rate = 0, burst = 1 }");
    let ok = |status: u16| (200..300).contains(&status) || [400, 403, 404, 413].contains(&status);
    let fields = proptest::collection::vec(
        (prop_oneof!["site", "type", "url", "ref", "title", "vid", "eid", "email", "props", "[a-z]{1,5}"], ".{0,60}"),
        0..8,
    );
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 150,
        failure_persistence: None,
        ..Default::default()
    });
    let strategy = (proptest::collection::vec(any::<u8>(), 0..300), fields, ".{0,120}", any::<bool>());
    runner
        .run(&strategy, |(bytes, fields, query, site)| {
            let headers = [("content-type", "text/plain"), ("user-agent", BROWSER_UA)];
            let r = s.request("POST", "/v1/events", &headers, &bytes).unwrap();
            prop_assert!(ok(r.status), "bytes {:?}: {} {}", bytes, r.status, r.body);
            let mut obj: serde_json::Map<String, serde_json::Value> =
                fields.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
            if site {
                obj.insert("site".into(), json!("s1"));
            }
            let body = serde_json::Value::Object(obj).to_string();
            let r = s.request("POST", "/v1/events", &headers, body.as_bytes()).unwrap();
            prop_assert!(ok(r.status), "{}: {} {}", body, r.status, r.body);
            let path = format!("/v1/p.gif?{}{}", if site { "site=s1&" } else { "" }, url_safe(&query));
            let r = s.request("GET", &path, &headers[1..], b"").unwrap();
            prop_assert!(ok(r.status), "{}: {} {}", path, r.status, r.body);
            Ok(())
        })
        .unwrap();
    // The server is still up and serving.
    assert_eq!(s.post_events("198.51.100.10", &beacon("after")).status, 202);
}
