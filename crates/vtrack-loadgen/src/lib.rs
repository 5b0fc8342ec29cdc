//! A load generator for the beacon endpoint, and a bare-hyper server to compare against.
//!
//! A benchmark of ingest is only as good as its client. This one:
//!
//! - sends what browsers send: the tracker's JSON as `text/plain`, desktop user agents, a stable pool of
//!   visitors with addresses in `X-Forwarded-For` drawn from real AS ranges (or the fixture ranges), so
//!   bot filtering, the resolver and processing do their real work ([`beacon`]);
//! - keeps each connection alive and sends one request at a time on it, like browsers behind a proxy;
//! - at `--rate` runs open loop: requests are due on a fixed schedule and their latency counts from when
//!   they were due, so a stall shows up in the percentiles instead of silently lowering the rate
//!   (coordinated omission); without it, closed loop as fast as the server answers;
//! - records latencies in an HDR histogram at microsecond resolution, and spends little per request: the
//!   bodies are rendered before the run and only get fresh ids and timestamps.
//!
//! It refuses targets off this machine unless told otherwise, since a load test aimed at the wrong host is
//! an attack. [`baseline::serve`] is the yardstick: HTTP handling set up like ingest, and nothing else.

pub mod baseline;
mod beacon;
mod ips;
mod report;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use tokio::net::TcpStream;

pub use report::{Errors, Latency, Report};

use beacon::Traffic;
use ips::IpRanges;

/// A request without an answer after this long counts as a transport error and its connection is
/// replaced: long enough for any sane server, short enough that a wedged one cannot hang the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed connect in closed loop, so a dead server is not hammered with SYNs.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(50);
/// Latencies above this are recorded as this (microseconds); the request timeout keeps them below it.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Options of `vtrack loadgen`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The beacon endpoint to load.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080/v1/events")]
    pub target: Uri,
    /// Site key put in every event.
    #[arg(long, value_name = "KEY", default_value = "demo")]
    pub site: String,
    /// Keep-alive connections, each sending one request at a time.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub connections: u32,
    /// Requests per second over all connections, on a fixed schedule (latency counts from when each request
    /// was due); without it, as fast as the server answers.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// How long to run, e.g. `10s`, `2m`.
    #[arg(long, value_name = "D", default_value = "10s", value_parser = humantime::parse_duration, conflicts_with = "requests")]
    pub duration: Duration,
    /// Stop after this many requests instead of after `--duration`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Events per request; more than one sends a JSON array, as the tracker's batches do.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub events_per_request: u32,
    /// Spread the client clocks over this long before now (`30d`): each request at a moment of it drawn from
    /// the request's number, so a run fills a history of sessions instead of one long visit per visitor.
    /// Ingest keeps a client's time only within its `[server] client_clock_window`: raise that to match.
    #[arg(long, value_name = "D", value_parser = humantime::parse_duration)]
    pub backdate: Option<Duration>,
    /// `@ip-location-db/asn` IPv4 CSV (`start,end,asn,org`) to draw client addresses from; without it, the
    /// fixture ranges (198.51.100.0/24, 203.0.113.0/24, 198.18.0.0/15, 192.0.2.0/24).
    #[arg(long, value_name = "FILE")]
    pub asn_csv: Option<PathBuf>,
    /// Allow a target that is not on this machine (loopback or `localhost`).
    #[arg(long)]
    pub allow_remote: bool,
    /// How to print the report.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

impl Default for Args {
    /// The command line's defaults, so that code and tests start from what a user gets.
    fn default() -> Args {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        <Cli as clap::Parser>::parse_from(["loadgen"]).args
    }
}

/// The table is for reading; JSON is what scripts such as `benches/ingest.sh` parse.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// Why a run did not start. Each message names the option to fix; failures during a run are not errors
/// but counts in the [`Report`].
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    #[error("--target {target}: {reason}")]
    Target { target: String, reason: String },
    #[error(
        "--target {target}: {host} is not a loopback address or `localhost`; load is only sent to this machine \
         unless you pass --allow-remote (for a server of your own)"
    )]
    Remote { target: String, host: String },
    #[error("--target {target}: cannot resolve {host}: {source}")]
    Resolve { target: String, host: String, source: std::io::Error },
    #[error("cannot connect to {addr} (is the server running?): {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("cannot read --asn-csv {}: {source}", path.display())]
    AsnCsv { path: PathBuf, source: std::io::Error },
    #[error("--asn-csv {} line {line}: {reason}", path.display())]
    AsnCsvLine { path: PathBuf, line: usize, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Where the requests go, checked before anything is sent.
#[derive(Debug)]
struct Target {
    addr: SocketAddr,
    host_header: HeaderValue,
    path: Uri,
}

/// Checks the target's scheme and host; without `allow_remote`, only loopback literals and `localhost`
/// pass. Returns the host and port to connect to and the path to post to.
fn check_target(target: &Uri, allow_remote: bool) -> Result<(String, u16, Uri), LoadgenError> {
    let bad = |reason: &str| LoadgenError::Target { target: target.to_string(), reason: reason.to_string() };
    match target.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(bad("https is not supported; load the server behind the TLS proxy")),
        _ => return Err(bad("expected an http:// URL")),
    }
    let host = target.host().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let local = bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !local && !allow_remote {
        return Err(LoadgenError::Remote { target: target.to_string(), host: host.to_string() });
    }
    let path = target.path_and_query().map_or("/", |p| p.as_str());
    let path = path.parse::<Uri>().map_err(|e| bad(&e.to_string()))?;
    Ok((bare.to_string(), target.port_u16().unwrap_or(80), path))
}

async fn resolve_target(args: &Args) -> Result<Target, LoadgenError> {
    let (host, port, path) = check_target(&args.target, args.allow_remote)?;
    let resolve_err = |source| LoadgenError::Resolve { target: args.target.to_string(), host: host.clone(), source };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port)).await.map_err(resolve_err)?.collect();
    // A name that resolves elsewhere than loopback must not slip past the check above.
    let usable: Vec<SocketAddr> = addrs.into_iter().filter(|a| args.allow_remote || a.ip().is_loopback()).collect();
    // `localhost` is often ::1 first while the server listens on 127.0.0.1 only: take the first that answers.
    let mut refused = None;
    let mut addr = None;
    for a in &usable {
        match Client::connect(*a).await {
            Ok(_) => {
                addr = Some(*a);
                break;
            }
            Err(e) => refused = refused.or(Some((*a, e))),
        }
    }
    let addr = match (addr, refused) {
        (Some(a), _) => a,
        (None, Some((addr, reason))) => return Err(LoadgenError::Connect { addr, reason }),
        (None, None) => {
            return Err(resolve_err(std::io::Error::new(std::io::ErrorKind::NotFound, "no usable address")))
        }
    };
    let authority = args.target.authority().map_or(host.as_str(), |a| a.as_str());
    let host_header = HeaderValue::from_str(authority)
        .map_err(|e| LoadgenError::Target { target: args.target.to_string(), reason: e.to_string() })?;
    Ok(Target { addr, host_header, path })
}

/// When requests are sent.
#[derive(Clone, Copy)]
enum Plan {
    /// Each connection sends its next request as soon as the previous one is answered.
    Closed,
    /// Request `n` (over all connections) is due `n × interval` after the start.
    Open { interval_ns: f64 },
}

/// What every connection shares.
struct Shared {
    traffic: Traffic,
    target: Target,
    plan: Plan,
    connections: u64,
    events_per_request: u64,
    /// `None` with `--requests`.
    duration: Option<Duration>,
    max_requests: Option<u64>,
    /// Closed loop with `--requests`: the next request number to claim.
    claimed: AtomicU64,
    /// `--backdate` in milliseconds (0: the client clock is now).
    backdate_ms: u64,
}

impl Shared {
    /// When request `n` is due: `None` when it is past the end of the run, `Some(None)` in closed loop (as
    /// soon as the connection is free), else the time.
    fn due(&self, n: u64, start: Instant) -> Option<Option<Instant>> {
        if self.max_requests.is_some_and(|max| n >= max) {
            return None;
        }
        match self.plan {
            Plan::Closed => Some(None),
            Plan::Open { interval_ns } => {
                let offset = Duration::from_nanos((n as f64 * interval_ns) as u64);
                if self.duration.is_some_and(|d| offset >= d) {
                    return None;
                }
                Some(Some(start + offset))
            }
        }
    }
}

/// One connection's tally, merged into the report at the end.
struct Tally {
    latency_us: Histogram<u64>,
    requests: u64,
    accepted: u64,
    events: u64,
    status: BTreeMap<u16, u64>,
    transport: u64,
    unsent: u64,
}

impl Tally {
    fn new() -> Result<Tally, LoadgenError> {
        Ok(Tally {
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .map_err(|e| LoadgenError::Invalid(format!("histogram: {e}")))?,
            requests: 0,
            accepted: 0,
            events: 0,
            status: BTreeMap::new(),
            transport: 0,
            unsent: 0,
        })
    }
}

/// One keep-alive connection, driven by the task that sends on it. hyper's usual pattern spawns the
/// connection as a task of its own, which costs two task hand-offs per request; polled here instead, the
/// generator spends its CPU on requests, which matters when it and the server get one core each.
struct Client {
    sender: SendRequest<Full<Bytes>>,
    conn: Pin<Box<Connection<TokioIo<TcpStream>, Full<Bytes>>>>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = match tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(connected) => connected.map_err(|e| e.to_string())?,
            Err(_) => return Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
        };
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        Ok(Client { sender, conn: Box::pin(conn) })
    }

    /// Whether the server closed the connection while it was idle (nothing polls it between requests), so
    /// that it is replaced without counting an error.
    async fn closed_while_idle(&mut self) -> bool {
        let conn = &mut self.conn;
        std::future::poll_fn(|cx| Poll::Ready(conn.as_mut().poll(cx).is_ready())).await || self.sender.is_closed()
    }

    /// Sends one request and reads the whole answer, so the connection is ready for the next one.
    async fn exchange(&mut self, req: Request<Full<Bytes>>) -> Result<StatusCode, ()> {
        let Client { sender, conn } = self;
        let request = async {
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            resp.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        };
        tokio::select! {
            // An answer that is complete counts even if the server closed the connection right after it.
            biased;
            answer = request => answer.map_err(|_| ()),
            // Ends only when the connection does, before the answer: an error either way.
            _ = conn.as_mut() => Err(()),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The client clock of request `n` of connection `conn`: now, or with `--backdate` a moment of the last
/// `backdate_ms` drawn from the request's numbers (splitmix64), so the spread is uniform and the same on
/// every run.
fn client_ms(backdate_ms: u64, conn: u64, n: u64) -> u64 {
    let now = now_ms();
    if backdate_ms == 0 {
        return now;
    }
    let mut z = (conn << 40 ^ n).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    now.saturating_sub(z % backdate_ms)
}

/// One connection: connects, reports in, waits for the start, then sends until the plan says stop.
async fn drive(
    shared: Arc<Shared>,
    conn: u64,
    ready: tokio::sync::mpsc::Sender<Result<(), String>>,
    mut start_rx: tokio::sync::watch::Receiver<Option<Instant>>,
) -> Result<Tally, LoadgenError> {
    let mut tally = Tally::new()?;
    let mut client = match Client::connect(shared.target.addr).await {
        Ok(s) => {
            let _ = ready.send(Ok(())).await;
            Some(s)
        }
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            None
        }
    };
    drop(ready);
    let start = match start_rx.wait_for(Option::is_some).await {
        Ok(s) => s.unwrap_or_else(Instant::now),
        Err(_) => return Ok(tally), // the run was called off
    };
    let deadline = shared.duration.map(|d| start + d);
    let templates = &shared.traffic.templates;
    let mut event_seq: u64 = 0;
    let mut k: u64 = 0;
    // When this connection's previous answer arrived: a due time before it was missed because of the
    // server, a due time after it only by the timer's slack.
    let mut prev_done = start;
    loop {
        let n = match shared.plan {
            Plan::Closed if shared.max_requests.is_some() => shared.claimed.fetch_add(1, Ordering::Relaxed),
            _ => k * shared.connections + conn,
        };
        k += 1;
        let Some(due) = shared.due(n, start) else { break };
        if let Some(at) = due {
            tokio::time::sleep_until(at.into()).await;
        }
        if deadline.is_some_and(|end| Instant::now() >= end) {
            match due {
                None => break,
                // Due before the end, and only the timer's slack made it late: it still goes.
                Some(at) if prev_done <= at => {}
                // Due before the end but held up by earlier answers until after it: count this one and
                // every later one of ours as never sent.
                Some(_) => {
                    let mut m = n;
                    while shared.due(m, start).is_some() {
                        tally.unsent += 1;
                        m += shared.connections;
                    }
                    break;
                }
            }
        }
        let idle_closed = match client.as_mut() {
            Some(c) => c.closed_while_idle().await,
            None => true,
        };
        if idle_closed {
            match Client::connect(shared.target.addr).await {
                Ok(c) => client = Some(c),
                Err(_) => {
                    client = None;
                    tally.transport += 1;
                    if due.is_none() {
                        tokio::time::sleep(RECONNECT_BACKOFF).await;
                    }
                    continue;
                }
            }
        }
        let Some(c) = client.as_mut() else { continue };

        let tpl = &templates[(n % templates.len() as u64) as usize];
        let visitor = &shared.traffic.visitors[tpl.visitor];
        let id_base = conn << 48;
        let body = tpl.render(
            || {
                event_seq += 1;
                id_base | event_seq
            },
            client_ms(shared.backdate_ms, conn, n),
        );
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = shared.target.path.clone();
        let h = req.headers_mut();
        h.insert(header::HOST, shared.target.host_header.clone());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain;charset=UTF-8"));
        h.insert(header::USER_AGENT, visitor.user_agent.clone());
        h.insert(header::ORIGIN, HeaderValue::from_static(beacon::ORIGIN));
        h.insert("x-forwarded-for", visitor.ip.clone());

        let sent = Instant::now();
        let from = match due {
            Some(at) if prev_done > at => at,
            _ => sent,
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, c.exchange(req)).await {
            Ok(Ok(status)) => {
                let done = Instant::now();
                prev_done = done;
                let us = done.duration_since(from).as_micros().min(u128::from(MAX_LATENCY_US)) as u64;
                tally.latency_us.saturating_record(us.max(1));
                tally.requests += 1;
                if status.is_success() {
                    tally.accepted += 1;
                    tally.events += shared.events_per_request;
                } else {
                    *tally.status.entry(status.as_u16()).or_default() += 1;
                }
            }
            Ok(Err(_)) | Err(_) => {
                prev_done = Instant::now();
                tally.transport += 1;
                client = None;
            }
        }
    }
    Ok(tally)
}

fn validate(args: &Args) -> Result<(), LoadgenError> {
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(LoadgenError::Invalid(format!("--rate {rate}: expected a positive number of requests/s")));
        }
    }
    if args.requests.is_none() && args.duration.is_zero() {
        return Err(LoadgenError::Invalid("--duration must be more than zero".into()));
    }
    if args.requests == Some(0) {
        return Err(LoadgenError::Invalid("--requests must be more than zero".into()));
    }
    if args.connections == 0 || args.events_per_request == 0 || args.events_per_request > 100 {
        return Err(LoadgenError::Invalid(
            "--connections must be at least 1 and --events-per-request 1 to 100 (ingest's batch limit)".into(),
        ));
    }
    Ok(())
}

/// Runs the load described by `args` and returns what it measured; it stops by itself after `--duration`
/// or `--requests`. Fails before sending anything when the target is refused or cannot be reached, so a
/// typo does not produce a report full of connection errors.
pub async fn run(args: &Args) -> Result<Report, LoadgenError> {
    validate(args)?;
    let target = resolve_target(args).await?;
    let ips = match &args.asn_csv {
        Some(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || IpRanges::load(&path))
                .await
                .map_err(|e| LoadgenError::Invalid(format!("reading --asn-csv: {e}")))??
        }
        None => IpRanges::fixtures(),
    };
    let run_id: u32 = rand::random();
    // The traffic's shape is the same on every run; only the event ids differ.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x76_74_72_61_63_6b);
    let site = args.site.clone();
    let per_request = args.events_per_request as usize;
    let traffic = tokio::task::spawn_blocking(move || Traffic::generate(&site, per_request, &ips, run_id, &mut rng))
        .await
        .map_err(|e| LoadgenError::Invalid(format!("generating beacons: {e}")))?;

    let addr = target.addr;
    let shared = Arc::new(Shared {
        traffic,
        target,
        plan: match args.rate {
            Some(rate) => Plan::Open { interval_ns: 1e9 / rate },
            None => Plan::Closed,
        },
        connections: u64::from(args.connections),
        events_per_request: u64::from(args.events_per_request),
        duration: if args.requests.is_some() { None } else { Some(args.duration) },
        max_requests: args.requests,
        claimed: AtomicU64::new(0),
        backdate_ms: args.backdate.map_or(0, |d| d.as_millis().min(u128::from(u64::MAX)) as u64),
    });

    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(args.connections as usize);
    let (start_tx, start_rx) = tokio::sync::watch::channel(None);
    let tasks: Vec<_> = (0..shared.connections)
        .map(|conn| tokio::spawn(drive(shared.clone(), conn, ready_tx.clone(), start_rx.clone())))
        .collect();
    drop(ready_tx);
    // Connect everything first, so that set-up is not measured and an unreachable target fails at once.
    while let Some(connected) = ready_rx.recv().await {
        if let Err(reason) = connected {
            drop(start_tx);
            for t in &tasks {
                t.abort();
            }
            return Err(LoadgenError::Connect { addr, reason });
        }
    }
    let start = Instant::now();
    let cpu_at_start = report::process_cpu_time();
    let _ = start_tx.send(Some(start));

    let mut latency_us = Tally::new()?.latency_us;
    let mut errors = Errors::default();
    let (mut requests, mut accepted, mut events, mut unsent) = (0, 0, 0, 0);
    for task in tasks {
        let tally = task.await.map_err(|e| LoadgenError::Invalid(format!("a connection task failed: {e}")))??;
        latency_us.add(&tally.latency_us).map_err(|e| LoadgenError::Invalid(format!("histogram: {e}")))?;
        requests += tally.requests;
        accepted += tally.accepted;
        events += tally.events;
        unsent += tally.unsent;
        errors.transport += tally.transport;
        for (status, count) in tally.status {
            *errors.status.entry(status).or_default() += count;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let client_cpu_cores = match (cpu_at_start, report::process_cpu_time()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() / secs),
        _ => None,
    };
    Ok(Report {
        target: args.target.to_string(),
        mode: if args.rate.is_some() { "fixed-rate" } else { "max-rate" },
        target_rate: args.rate,
        connections: args.connections,
        events_per_request: args.events_per_request,
        requests,
        accepted,
        events,
        duration_secs: secs,
        requests_per_sec: requests as f64 / secs,
        accepted_per_sec: accepted as f64 / secs,
        events_per_sec: events as f64 / secs,
        latency_ms: Latency::from_histogram(&latency_us),
        errors,
        unsent,
        client_cpu_cores,
    })
}

/// [`run`] on a runtime of its own, for a `main` that has none: multi-threaded like the servers', so the
/// generator uses every core it is given (pin it with `taskset`).
pub fn run_blocking(args: &Args) -> Result<Report, LoadgenError> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(LoadgenError::Runtime)?;
    rt.block_on(run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, allow_remote: bool) -> Result<(String, u16, Uri), LoadgenError> {
        check_target(&url.parse().expect("URL"), allow_remote)
    }

    #[test]
    fn only_this_machine_without_allow_remote() {
        for url in
            ["http://127.0.0.1:8080/v1/events", "http://localhost/v1/events", "http://[::1]:9/x", "http://127.8.9.1/"]
        {
            assert!(target(url, false).is_ok(), "{url}");
        }
        for url in ["http://10.0.0.1:8080/v1/events", "http://vtrack.example.com/v1/events", "http://[2001:db8::1]/"] {
            let err = target(url, false).expect_err(url);
            assert!(matches!(err, LoadgenError::Remote { .. }), "{url}: {err}");
            assert!(err.to_string().contains("--allow-remote"), "{err}");
            assert!(target(url, true).is_ok(), "{url}");
        }
        assert!(matches!(target("https://127.0.0.1/v1/events", false), Err(LoadgenError::Target { .. })));
        let (host, port, path) = target("http://[::1]:9/v1/events?x=1", false).expect("valid");
        assert_eq!((host.as_str(), port, path.to_string().as_str()), ("::1", 9, "/v1/events?x=1"));
    }

    #[tokio::test]
    async fn run_refuses_a_remote_target_before_sending() {
        let args = Args { target: "http://192.0.2.1:8080/v1/events".parse().expect("URL"), ..Args::default() };
        assert!(matches!(run(&args).await, Err(LoadgenError::Remote { .. })));
    }

    #[test]
    fn backdated_clocks_spread_over_the_window_and_repeat() {
        let day = 86_400_000;
        assert!(client_ms(0, 3, 7).abs_diff(now_ms()) < 1_000, "no --backdate: now");
        let now = now_ms();
        let offsets: Vec<u64> = (0..10_000).map(|n| now.saturating_sub(client_ms(30 * day, n % 32, n))).collect();
        assert!(offsets.iter().all(|&o| o <= 30 * day + 1_000), "within the window");
        let per_decile = offsets.iter().fold([0u32; 10], |mut d, &o| {
            d[((o * 10 / (30 * day)) as usize).min(9)] += 1;
            d
        });
        assert!(per_decile.iter().all(|&c| (800..1_200).contains(&c)), "uniform: {per_decile:?}");
        let again = now_ms().saturating_sub(client_ms(30 * day, 5, 5));
        assert!(again.abs_diff(offsets[5]) < 1_000, "the same request gets the same moment");
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let a = Args::default();
        assert_eq!(a.target.to_string(), "http://127.0.0.1:8080/v1/events");
        assert_eq!((a.site.as_str(), a.connections, a.events_per_request), ("demo", 32, 1));
        assert_eq!((a.duration, a.requests, a.rate), (Duration::from_secs(10), None, None));
        assert!(!a.allow_remote && a.format == Format::Table && a.asn_csv.is_none() && a.backdate.is_none());
    }
}
