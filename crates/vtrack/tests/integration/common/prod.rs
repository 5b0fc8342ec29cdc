//! Harness for the production path: a real Kafka-protocol broker (tansu) and a real ClickHouse server,
//! started by the project's own `deploy/` scripts, and `vtrack ingest` / `vtrack process` as processes.
//!
//! Tests share one broker and one server (each test gets its own topic, group and database); tests that
//! stop a server start a private one on free ports.

use super::{bin, fixture_sources, free_port, http, poll_every, repo_root, sql_json, Response, BROWSER_UA};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A name no other test in this run uses (topics, groups, databases).
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn run_script(script: &str, args: &[&str], env: &[(&str, String)]) {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("deploy").join(script)).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run a deploy script");
    assert!(
        out.status.success(),
        "deploy/{script} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port the `deploy/` scripts take from the environment (inherited by them), else their default.
pub fn env_port(var: &str, default: u16) -> u16 {
    std::env::var(var).ok().and_then(|p| p.parse().ok()).unwrap_or(default)
}

/// The shared ClickHouse server's HTTP endpoint (started once per test binary; reused if already up), on
/// `CLICKHOUSE_HTTP_PORT` as `deploy/clickhouse.sh` reads it.
pub fn shared_clickhouse() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        run_script("clickhouse.sh", &["start"], &[]);
        format!("http://127.0.0.1:{}", env_port("CLICKHOUSE_HTTP_PORT", 18123))
    })
}

/// The shared broker's bootstrap address, on `KAFKA_PORT` as `deploy/kafka.sh` reads it.
pub fn shared_kafka() -> &'static str {
    static BROKERS: OnceLock<String> = OnceLock::new();
    BROKERS.get_or_init(|| {
        run_script("kafka.sh", &["start"], &[]);
        format!("127.0.0.1:{}", env_port("KAFKA_PORT", 19092))
    })
}

/// A server that a `deploy/` script runs in a directory of its own, on ports given in `env`; the test
/// may stop and start it, and it stops when dropped.
pub struct PrivateServer {
    script: &'static str,
    dir: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
}

impl PrivateServer {
    fn start(script: &'static str, env: Vec<(&'static str, String)>) -> PrivateServer {
        let server = PrivateServer { script, dir: tempfile::tempdir().expect("temp dir"), env };
        server.up();
        server
    }

    pub fn up(&self) {
        run_script(self.script, &["start", self.dir.path().to_str().unwrap()], &self.env);
    }

    pub fn down(&self) {
        run_script(self.script, &["stop", self.dir.path().to_str().unwrap()], &self.env);
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.down();
    }
}

/// A ClickHouse server of one test's own.
pub struct PrivateClickHouse {
    pub url: String,
    pub server: PrivateServer,
}

impl PrivateClickHouse {
    pub fn start() -> PrivateClickHouse {
        let (http_port, tcp_port) = (free_port(), free_port());
        let env = vec![("CLICKHOUSE_HTTP_PORT", http_port.to_string()), ("CLICKHOUSE_TCP_PORT", tcp_port.to_string())];
        PrivateClickHouse {
            url: format!("http://127.0.0.1:{http_port}"),
            server: PrivateServer::start("clickhouse.sh", env),
        }
    }
}

/// A broker of one test's own.
pub struct PrivateKafka {
    pub brokers: String,
    pub server: PrivateServer,
}

impl PrivateKafka {
    pub fn start() -> PrivateKafka {
        let port = free_port();
        PrivateKafka {
            brokers: format!("127.0.0.1:{port}"),
            server: PrivateServer::start("kafka.sh", vec![("KAFKA_PORT", port.to_string())]),
        }
    }
}

/// Where one pipeline run lives: a topic, a consumer group and a database.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    /// `http://host:port/database`.
    pub clickhouse: String,
    /// The clock its processes run on: the real one unless a test set one ([`Pipeline::with_clock`]).
    pub clock: Option<super::TestClock>,
    /// The ClickHouse cluster the database is on (`common::cluster`), passed to every command.
    pub cluster: Option<String>,
}

impl Pipeline {
    /// A fresh topic (4 partitions), group and database, created with `vtrack migrate`.
    pub fn new(brokers: &str, clickhouse: &str) -> Pipeline {
        let name = unique("t");
        let p = Pipeline {
            brokers: brokers.to_string(),
            topic: format!("{name}.events"),
            group: format!("{name}-process"),
            clickhouse: format!("{clickhouse}/{name}"),
            clock: None,
            cluster: None,
        };
        let out = Command::new(bin())
            .args(["migrate", "--clickhouse", &p.clickhouse, "--kafka", &p.brokers, "--topic", &p.topic])
            .args(["--partitions", "4"])
            .output()
            .expect("run vtrack migrate");
        assert!(out.status.success(), "vtrack migrate failed: {}", String::from_utf8_lossy(&out.stderr));
        p
    }

    /// This pipeline with its processes on `clock`.
    pub fn with_clock(mut self, clock: &super::TestClock) -> Pipeline {
        self.clock = Some(clock.clone());
        self
    }

    /// The clock's variable for a process about to start, if the pipeline has a clock.
    fn clock_env(&self) -> Vec<(&'static str, String)> {
        self.clock.iter().map(super::TestClock::env).collect()
    }

    /// Starts `vtrack ingest` for this pipeline with the fixtures; `config` is extra TOML (plain keys go to
    /// `[kafka]`).
    pub fn ingest(&self, config: &str) -> Proc {
        let cfg = self.config_file(config);
        let port = free_port();
        let mut cmd = Command::new(bin());
        fixture_sources(cmd.arg("ingest").arg("--config").arg(cfg.path()));
        if !config.contains("[enrich]") {
            // Reverse DNS is tested on its own, against a DNS server the test runs; nothing here asks the
            // system's servers about the fixtures' documentation addresses.
            cmd.arg("--no-rdns");
        }
        let child = cmd
            .args(["--listen", &format!("127.0.0.1:{port}"), "--site", "s1", "--trusted-proxy", "127.0.0.1/32"])
            .env("RUST_LOG", "warn,librdkafka=off,rdkafka=off")
            .envs(self.clock_env())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vtrack ingest");
        Proc::wait_up(child, port, cfg)
    }

    /// Starts a `vtrack process` member of this pipeline's group; `config` is extra TOML.
    pub fn process(&self, config: &str) -> Proc {
        let cfg = self.config_file(config);
        let port = free_port();
        let child = Command::new(bin())
            .arg("process")
            .arg("--config")
            .arg(cfg.path())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--clickhouse", &self.clickhouse])
            .args(self.cluster_args())
            .env("RUST_LOG", "warn,librdkafka=off,rdkafka=off")
            .envs(self.clock_env())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vtrack process");
        Proc::wait_up(child, port, cfg)
    }

    /// Starts `vtrack api` on this pipeline's ClickHouse; `config` is extra TOML.
    pub fn api(&self, config: &str) -> Proc {
        let cfg = self.config_file(config);
        let port = free_port();
        let child = Command::new(bin())
            .arg("api")
            .arg("--config")
            .arg(cfg.path())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--clickhouse", &self.clickhouse, "--site", "s1"])
            .args(self.cluster_args())
            .env("RUST_LOG", "warn")
            .envs(self.clock_env())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vtrack api");
        Proc::wait_up(child, port, cfg)
    }

    fn config_file(&self, extra: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().expect("temp config");
        // `extra`'s plain keys land in [kafka]; its own tables follow.
        let text = format!(
            "[kafka]\nbrokers = \"{}\"\ntopic = \"{}\"\ngroup = \"{}\"\n{extra}\n",
            self.brokers, self.topic, self.group
        );
        std::fs::write(f.path(), text).expect("write config");
        f
    }

    /// `--clickhouse-cluster NAME` when the database is on a cluster.
    pub fn cluster_args(&self) -> Vec<&str> {
        self.cluster.as_deref().map(|c| vec!["--clickhouse-cluster", c]).unwrap_or_default()
    }

    /// `vtrack sql --clickhouse … --format json`.
    pub fn sql(&self, query: &str) -> Value {
        let mut args: Vec<&std::ffi::OsStr> = vec!["--clickhouse".as_ref(), self.clickhouse.as_ref()];
        args.extend(self.cluster_args().into_iter().map(std::ffi::OsStr::new));
        sql_json(&args, query)
    }

    /// Asserts that every `sessions` row is what its stored events make of it: the processor builds the
    /// rows in memory, batch by batch, and this recomputes them from scratch.
    pub fn assert_sessions_match_events(&self) {
        let stored = self.sql(
            "SELECT session_id, visitor_id, company_domain, company_name, network_class, country, started_at,
               ended_at, pageviews, events, engaged_ms, is_return, entry_path, referrer, utm_source, utm_medium,
               utm_campaign
             FROM sessions FINAL ORDER BY session_id",
        );
        let derived = self.sql(
            "SELECT session_id, v AS visitor_id,
               if(c IN ('business', 'education', 'government'), d, '') AS company_domain, n AS company_name,
               c AS network_class, k AS country, t0 AS started_at, t1 AS ended_at, pv AS pageviews,
               ev AS events, eng AS engaged_ms, ret AS is_return, p AS entry_path, r AS referrer,
               us AS utm_source, um AS utm_medium, uc AS utm_campaign
             FROM (SELECT session_id, any(visitor_id) AS v, anyIf(company_domain, event_id = session_id) AS d,
                     anyIf(company_name, event_id = session_id) AS n,
                     anyIf(network_class, event_id = session_id) AS c,
                     anyIf(country, event_id = session_id) AS k, min(ts) AS t0, max(ts) AS t1,
                     toUInt32(countIf(type = 'pageview')) AS pv, toUInt32(count()) AS ev, sum(eng_ms) AS eng,
                     max(is_return) AS ret, anyIf(path, event_id = session_id) AS p,
                     anyIf(referrer, event_id = session_id) AS r, anyIf(utm_source, event_id = session_id) AS us,
                     anyIf(utm_medium, event_id = session_id) AS um,
                     anyIf(utm_campaign, event_id = session_id) AS uc
                   FROM (SELECT * FROM events FINAL) GROUP BY session_id)
             ORDER BY session_id",
        );
        assert!(stored.as_array().is_some_and(|a| !a.is_empty()), "sessions were written: {stored}");
        assert_eq!(stored, derived, "the sessions table equals the sessions recomputed from the events");
    }

    /// `count()` and `uniqExact(event_id)` of `events FINAL`.
    pub fn event_counts(&self) -> (u64, u64) {
        let rows = self.sql("SELECT count() AS n, uniqExact(event_id) AS u FROM events FINAL");
        (rows[0]["n"].as_u64().unwrap_or(0), rows[0]["u"].as_u64().unwrap_or(0))
    }

    /// Events stored so far (copies included).
    pub fn raw_event_count(&self) -> u64 {
        self.sql("SELECT count() AS n FROM events")[0]["n"].as_u64().unwrap_or(0)
    }

    /// Posts the first half of the workload, then starts a processor with small batches three times and
    /// `kill -9`s each at a different point of a batch's round of writes (between receiving and inserting,
    /// between inserting and deriving, before the commit), then starts the last one and posts the rest.
    /// Returns the events answered 2xx and the last processor, which must outlive the checks.
    pub fn kill_processors_mid_batch(&self, ingest: &Proc) -> (u64, Proc) {
        let (backlog, rest) = workload().split_at(workload().len() / 2);
        let mut accepted = post_all(ingest, backlog, |_| {});
        let mut stored = 0;
        for delay_ms in [0, 35, 70] {
            let mut process = self.process(SMALL_BATCHES);
            if stored >= accepted {
                // A fast processor may be through the backlog before a kill: the remaining kills then land
                // while it waits for events, which must lose nothing either.
                process.kill9();
                continue;
            }
            stored = self.wait_more_rows(stored);
            std::thread::sleep(Duration::from_millis(delay_ms));
            process.kill9();
        }
        let last = self.process(SMALL_BATCHES);
        accepted += post_all(ingest, rest, |_| {});
        (accepted, last)
    }

    /// After a fault: every event answered 2xx stored exactly once within `within`, the accounts equal to
    /// those of an undisturbed single-server run, the sessions consistent with the events.
    pub fn assert_same_as_undisturbed(&self, accepted: u64, within: Duration) {
        let (counts, accounts) = self.settle(accepted, within);
        assert_eq!(counts, (accepted, accepted), "count() and uniqExact(event_id) equal the events answered 2xx");
        let expected = undisturbed(workload());
        assert!(expected.as_array().is_some_and(|a| a.len() == 6), "six accounts in the workload: {expected}");
        assert_eq!(&accounts, expected, "account scores equal those of an undisturbed single-server run");
        self.assert_sessions_match_events();
    }

    /// Blocks until more than `than` rows are stored and returns how many: a processor is then mid-stream.
    pub fn wait_more_rows(&self, than: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let n = self.raw_event_count();
            if n > than {
                return n;
            }
            assert!(Instant::now() < deadline, "nothing more was stored within a minute ({n} rows)");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every account's aggregates and score, rounded to survive float printing.
    pub fn accounts(&self) -> Value {
        self.sql(
            "SELECT company_domain, company_name, network_class, country, visitors, sessions, pageviews, engaged_ms,
               return_visits, round(score, 6) AS score, stage, toString(first_seen) AS first_seen,
               toString(last_seen) AS last_seen, topics, top_pages, campaigns
             FROM accounts FINAL ORDER BY company_domain",
        )
    }

    /// Waits until the store holds `expected` distinct events and the accounts stop changing (equal in two
    /// reads 700 ms apart); panics after `within` with the counts and accounts last read.
    pub fn settle(&self, expected: u64, within: Duration) -> ((u64, u64), Value) {
        let mut last = Value::Null;
        let (counts, accounts, _) = poll_every(
            &format!("{expected} distinct events and accounts that stop changing"),
            within,
            Duration::from_millis(700),
            || {
                let (counts, accounts) = (self.event_counts(), self.accounts());
                let stable = accounts == last;
                last = accounts.clone();
                (counts, accounts, stable)
            },
            |(counts, _, stable)| counts.1 == expected && *stable,
        );
        (counts, accounts)
    }
}

/// Runs read-only SQL through `vtrack sql --clickhouse`.
pub fn clickhouse_sql(url: &str, query: &str) -> Value {
    sql_json(&["--clickhouse".as_ref(), url.as_ref()], query)
}

/// A running vtrack process, killed when dropped.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    _config: tempfile::NamedTempFile,
}

impl Proc {
    fn wait_up(child: Child, port: u16, config: tempfile::NamedTempFile) -> Proc {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut p = Proc { child, addr, _config: config };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("vtrack exited at start: {status}");
            }
            if http(addr, "GET", "/healthz", &[], b"").is_ok_and(|r| r.status == 200) {
                return p;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("vtrack did not come up on {addr}");
    }

    /// SIGTERM, and waits for a clean exit (a processor leaves its group).
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        let status = self.child.wait().expect("wait for vtrack");
        assert!(status.success(), "vtrack exited with {status} on SIGTERM");
    }

    /// `kill -9`: no drain, no commit.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// POSTs a request's events as a browser behind the trusted proxy with client address `ip`.
    pub fn post(&self, ip: &str, body: &str) -> std::io::Result<Response> {
        http(
            self.addr,
            "POST",
            "/v1/events",
            &[("content-type", "text/plain;charset=UTF-8"), ("user-agent", BROWSER_UA), ("x-forwarded-for", ip)],
            body.as_bytes(),
        )
    }

    /// A Prometheus counter or gauge from `/metrics` (0 when absent).
    pub fn metric(&self, name: &str) -> f64 {
        let Ok(r) = http(self.addr, "GET", "/metrics", &[], b"") else { return 0.0 };
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One request of the workload: a client address and a JSON array of beacons.
#[derive(Clone, Debug)]
pub struct Request {
    pub ip: String,
    pub body: String,
    pub events: usize,
}

/// The fault tests' workload: 80 people from the fixture networks (companies of every class, an ISP,
/// a cloud), each making 4 visits two hours apart of 5 page views 30 s apart: 1,600 events in 320
/// requests. Event times are explicit, so every run stores the same events and scores.
/// Many small batches, so a fault lands between a batch's writes and its commit.
pub const SMALL_BATCHES: &str = "[process]\nbatch_max = 40";

pub fn workload() -> &'static [Request] {
    static W: OnceLock<Vec<Request>> = OnceLock::new();
    W.get_or_init(|| {
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        // Inside the client-clock window (24 h) for every visit.
        let base = now_ms - 20 * 3600 * 1000;
        let networks = [
            "198.51.100.{}",   // Acme Robotics (customer range)
            "198.51.100.7{}",  // Globex
            "198.51.100.10{}", // Initech
            "203.0.113.20{}",  // Umbrella (business AS)
            "203.0.113.1{}",   // Northwind University (education)
            "203.0.113.13{}",  // City of Springfield (government)
            "198.18.3.{}",     // Example Broadband (ISP)
            "198.19.5.{}",     // a cloud (hosting)
        ];
        let paths = ["/", "/pricing", "/docs/setup", "/blog/post", "/demo", "/careers", "/products/fleet"];
        let (visitors, visits, pages) = (80usize, 4usize, 5usize);
        let mut out = Vec::new();
        for visit in 0..visits {
            for v in 0..visitors {
                let ip = networks[v % networks.len()].replace("{}", &(v / networks.len() % 10).to_string());
                let start = base + visit as i64 * 2 * 3600 * 1000 + v as i64 * 1000;
                let beacons: Vec<Value> = (0..pages)
                    .map(|p| {
                        json!({
                            "site": "s1", "type": "pageview", "vid": format!("vis-{v}"),
                            "eid": format!("ev-{v}-{visit}-{p}"),
                            "url": format!("https://www.example.com{}", paths[(v + visit + p) % paths.len()]),
                            "ts": start + p as i64 * 30_000, "eng_ms": 20_000,
                        })
                    })
                    .collect();
                out.push(Request { ip, body: Value::Array(beacons).to_string(), events: pages });
            }
        }
        out
    })
}

/// Posts every request, retrying one that is refused (503) or cannot connect, as the tracker would;
/// `during` is called after each request with its index (to inject faults). Returns the events answered 2xx.
pub fn post_all(ingest: &Proc, requests: &[Request], mut during: impl FnMut(usize)) -> u64 {
    let mut accepted = 0;
    for (i, r) in requests.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match ingest.post(&r.ip, &r.body) {
                Ok(resp) if resp.status == 202 => {
                    assert_eq!(resp.json()["accepted"], r.events as u64, "{}", resp.body);
                    accepted += r.events as u64;
                    break;
                }
                Ok(resp) if resp.status == 503 => {}
                Ok(resp) => panic!("unexpected answer {}: {}", resp.status, resp.body),
                Err(_) => {}
            }
            assert!(Instant::now() < deadline, "request {i} was refused for a minute");
            std::thread::sleep(Duration::from_millis(100));
        }
        during(i);
    }
    accepted
}

/// The same workload through an undisturbed pipeline on the shared servers: what every fault run must
/// end with. Computed once per test binary.
pub fn undisturbed(requests: &'static [Request]) -> &'static Value {
    static RESULT: OnceLock<Value> = OnceLock::new();
    RESULT.get_or_init(|| {
        let p = Pipeline::new(shared_kafka(), shared_clickhouse());
        let _process = p.process("");
        let ingest = p.ingest("");
        let accepted = post_all(&ingest, requests, |_| {});
        let (counts, accounts) = p.settle(accepted, Duration::from_secs(120));
        assert_eq!(counts, (accepted, accepted), "the undisturbed run stored every event once");
        p.assert_sessions_match_events();
        accounts
    })
}
