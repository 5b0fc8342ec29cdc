//! Test harness: a real `vtrack serve` process, a raw HTTP client and `vtrack sql`.
#![allow(dead_code)]

pub mod cluster;
pub mod dns;
pub mod prod;
pub mod rdap;
pub mod webhook;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BROWSER_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vtrack")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A running `vtrack serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `vtrack serve` on a free port with a temp data dir, the fixtures and `extra` flags.
    pub fn start(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut s = Server::start_in(tmp.path(), extra);
        s._tmp = Some(tmp);
        s
    }

    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_in_env(data_dir, extra, &[])
    }

    /// [`Server::start_in`] with more environment variables (a [`TestClock`]'s).
    pub fn start_in_env(data_dir: &Path, extra: &[&str], env: &[(&str, String)]) -> Server {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = Command::new(bin());
        fixture_sources(cmd.arg("serve").args(["--listen", &addr.to_string()]));
        if !extra.contains(&"--rdns-server") && !extra.contains(&"--no-rdns") {
            // Reverse DNS is tested on its own, against a DNS server the test runs; nothing else asks the
            // system's servers about the fixtures' documentation addresses.
            cmd.arg("--no-rdns");
        }
        let child = cmd
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vtrack serve");
        let server = Server { child, addr, data_dir: data_dir.to_path_buf(), _tmp: None };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = server.request("GET", "/healthz", &[], b"") {
                if r.status == 200 {
                    return server;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("vtrack serve did not come up on {addr}");
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        http(self.addr, method, path, headers, body)
    }

    /// POSTs JSON events as a browser behind the trusted proxy 127.0.0.1 with client address `ip`.
    pub fn post_events(&self, ip: &str, body: &str) -> Response {
        self.request(
            "POST",
            "/v1/events",
            &[("content-type", "text/plain;charset=UTF-8"), ("user-agent", BROWSER_UA), ("x-forwarded-for", ip)],
            body.as_bytes(),
        )
        .expect("POST /v1/events")
    }

    pub fn sql(&self, query: &str) -> serde_json::Value {
        sql(&self.data_dir, query)
    }

    /// Polls `query` until `done` holds for its rows (processing is asynchronous) and returns them; panics
    /// after [`WAIT`] with the query and the rows last read.
    pub fn wait_for(&self, query: &str, done: impl FnMut(&serde_json::Value) -> bool) -> serde_json::Value {
        self.wait_for_within(query, WAIT, done)
    }

    /// Polls `query` until it reads `expected`; panics after `within` with both and the rows last read.
    pub fn wait_for_rows(&self, query: &str, expected: &serde_json::Value, within: Duration) {
        poll(&format!("`{query}` to read {expected}"), within, || self.sql(query), |rows| rows == expected);
    }

    /// [`Server::wait_for`] with a timeout of the caller's.
    pub fn wait_for_within(
        &self,
        query: &str,
        within: Duration,
        done: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        poll(query, within, || self.sql(query), done)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        self.child.wait().expect("wait for vtrack")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when dropped, so a failed assertion does not leave it running.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A test's clock for the processes it starts: each reads `vtrack_model::time::now_ms()` as `start_ms` plus
/// the real time since the clock was made, through the binary's test-only `VTRACK_TEST_NOW_MS`
/// (`crates/vtrack/src/clock.rs`). Processes started later, restarts included, go on from where the earlier
/// ones are, so a test can run on a day and hour of its choosing whenever it is run.
#[derive(Clone, Debug)]
pub struct TestClock {
    start_ms: i64,
    made: Instant,
}

impl TestClock {
    /// A clock that reads `start_ms` now.
    pub fn at(start_ms: i64) -> TestClock {
        TestClock { start_ms, made: Instant::now() }
    }

    /// What the clock reads now, Unix ms.
    pub fn now_ms(&self) -> i64 {
        self.start_ms + self.made.elapsed().as_millis() as i64
    }

    /// The variable that starts a process on this clock.
    pub fn env(&self) -> (&'static str, String) {
        ("VTRACK_TEST_NOW_MS", self.now_ms().to_string())
    }
}

/// Runs `vtrack sql --format json` and parses its output.
pub fn sql(data_dir: &Path, query: &str) -> serde_json::Value {
    sql_json(&["--data-dir".as_ref(), data_dir.as_os_str()], query)
}

/// Runs `vtrack sql STORE-ARGS --format json QUERY` and parses its output.
pub fn sql_json(store: &[&std::ffi::OsStr], query: &str) -> serde_json::Value {
    let out =
        Command::new(bin()).arg("sql").args(store).args(["--format", "json", query]).output().expect("run vtrack sql");
    assert!(out.status.success(), "vtrack sql failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("vtrack sql prints JSON")
}

/// Adds the fixture sources (customer ranges, MMDB, AS ranges) to a vtrack command.
pub fn fixture_sources(cmd: &mut Command) -> &mut Command {
    let fixtures = repo_root().join("fixtures");
    cmd.arg("--companies").arg(fixtures.join("companies.csv"));
    cmd.arg("--mmdb").arg(fixtures.join("demo.mmdb"));
    cmd.arg("--asn-csv").arg(fixtures.join("asn.csv"))
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on its own connection, written by hand so tests control every byte.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    // The address is the Host unless the test names another (the dashboard checks it).
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // The server may answer (413) before reading a large body; a broken pipe then is fine.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Ok(Response { status, headers, body: body.to_string() })
}

/// How long a wait lasts unless the caller says otherwise.
pub const WAIT: Duration = Duration::from_secs(10);

/// The one way these tests wait: reads with `read` until `done` holds for what it returned, and returns
/// that. On timeout it panics with `what` it waited for and the value last read, so no wait can run out
/// quietly and let the test go on to assert on whatever was there. Polls about 200 times within `within`
/// (every 20-500 ms).
pub fn poll<T: std::fmt::Debug>(
    what: &str,
    within: Duration,
    read: impl FnMut() -> T,
    done: impl FnMut(&T) -> bool,
) -> T {
    let every = (within / 200).clamp(Duration::from_millis(20), Duration::from_millis(500));
    poll_every(what, within, every, read, done)
}

/// [`poll`], reading every `every`.
pub fn poll_every<T: std::fmt::Debug>(
    what: &str,
    within: Duration,
    every: Duration,
    mut read: impl FnMut() -> T,
    mut done: impl FnMut(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let value = read();
        if done(&value) {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for {what}; last seen: {value:?}");
        }
        std::thread::sleep(every);
    }
}

/// Waits until `done` holds, up to `secs` seconds, and panics naming `what` when it does not: [`poll`] for a
/// condition with no value worth showing (prefer [`poll`] when there is one).
pub fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    poll(what, Duration::from_secs(secs), &mut done, |ok| *ok);
}

/// The one wait that may end either way, named so: waits up to `within` for `done` and answers whether it
/// held. Only for a test that acts at a point it would like to reach but can do without (a kill "well into a
/// burst" on a slow machine); it must check afterwards what it needs.
pub fn wait_at_most(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// A page view on site `s1` at `https://w.example{path}` from `ip`, answered 202.
pub fn view(s: &Server, ip: &str, vid: &str, eid: &str, path: &str) {
    let body = serde_json::json!({
        "site": "s1", "type": "pageview", "url": format!("https://w.example{path}"), "vid": vid, "eid": eid
    });
    assert_eq!(s.post_events(ip, &body.to_string()).status, 202);
}

/// A dashboard API request with the bearer `token`, as JSON.
pub fn api(s: &Server, token: &str, method: &str, path: &str, body: &str) -> Response {
    let auth = format!("Bearer {token}");
    s.request(method, path, &[("authorization", &auth), ("content-type", "application/json")], body.as_bytes()).unwrap()
}

/// The dashboard token [`start_site`]'s config sets.
pub const TOKEN: &str = "t0ken-for-tests";

/// `vtrack serve` on `dir/data` with a config file, `dir/vtrack.toml`: site `s1` behind a trusted loopback
/// proxy, the dashboard token [`TOKEN`], then `extra` (more TOML). Called again on the same `dir`, it
/// restarts on the same data.
pub fn start_site(dir: &Path, extra: &str) -> Server {
    let config = dir.join("vtrack.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n[[sites]]\nkey = \"s1\"\n[dashboard]\ntoken = \"{TOKEN}\"\n{extra}"
        ),
    )
    .unwrap();
    Server::start_in(&dir.join("data"), &["--config", config.to_str().unwrap()])
}
