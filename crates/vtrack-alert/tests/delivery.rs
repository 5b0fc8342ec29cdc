//! The delivery loop against a real HTTP receiver on loopback, over an in-memory outbox.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use vtrack_alert::{run_deliveries, verify, Backoff, Delivery, DeliveryMetrics, DeliveryOptions, Outbox, Sender};
use vtrack_model::alert::{Campaign, PageContribution};
use vtrack_model::config::{WebhookConfig, WebhookFormat};
use vtrack_model::owners::Receiver;
use vtrack_model::{Alert, AlertKind, NetworkClass};

const SECRET: &str = "whsec_test_secret";

/// What the receiver answers, in order; the last reply repeats.
#[derive(Clone)]
struct Reply {
    status: u16,
    retry_after: Option<&'static str>,
    delay: Duration,
}

fn reply(status: u16) -> Reply {
    Reply { status, retry_after: None, delay: Duration::ZERO }
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    headers: http::HeaderMap,
    body: Bytes,
    status: u16,
}

/// A hyper server on 127.0.0.1 that answers from a script and records every request.
async fn receiver(script: Vec<Reply>) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let script = Arc::new(script);
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (log, script) = (Arc::clone(&log), Arc::clone(&script));
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (log, script) = (Arc::clone(&log), Arc::clone(&script));
                async move {
                    let at = Instant::now();
                    let headers = req.headers().clone();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let r = {
                        let mut log = log.lock().unwrap();
                        let r = script[log.len().min(script.len() - 1)].clone();
                        log.push(Seen { at, headers, body, status: r.status });
                        r
                    };
                    tokio::time::sleep(r.delay).await;
                    let mut resp = hyper::Response::builder().status(r.status);
                    if let Some(ra) = r.retry_after {
                        resp = resp.header("retry-after", ra);
                    }
                    Ok::<_, std::convert::Infallible>(
                        resp.body(Full::new(Bytes::from_static(b"{\"ok\":false}"))).unwrap(),
                    )
                }
            });
            tokio::spawn(async move {
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    (addr, seen)
}

/// The outbox state of one delivery, as a store would keep it.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Pending { next_ms: i64 },
    Delivered { status: u16 },
    Failed { error: String },
}

#[derive(Debug, Clone)]
struct Row {
    delivery: Delivery,
    state: State,
    /// Every outcome recorded, in order: (attempts, what).
    history: Vec<(u32, String)>,
}

/// Test-only outbox in memory, shared so the test can look inside while the loop owns a clone.
#[derive(Clone, Default)]
struct MemOutbox(Arc<Mutex<HashMap<String, Row>>>);

impl MemOutbox {
    fn with(deliveries: Vec<Delivery>) -> MemOutbox {
        let rows = deliveries
            .into_iter()
            .map(|d| {
                (d.delivery_id.clone(), Row { delivery: d, state: State::Pending { next_ms: 0 }, history: vec![] })
            })
            .collect();
        MemOutbox(Arc::new(Mutex::new(rows)))
    }

    fn row(&self, id: &str) -> Row {
        self.0.lock().unwrap()[id].clone()
    }

    fn record(&mut self, id: &str, attempts: u32, state: State, what: String) -> Result<(), String> {
        let mut rows = self.0.lock().unwrap();
        let row = rows.get_mut(id).ok_or_else(|| format!("no delivery {id}"))?;
        assert_eq!(attempts, row.delivery.attempts + 1, "attempts count up by one");
        assert!(matches!(row.state, State::Pending { .. }), "outcome recorded for a finished delivery");
        row.delivery.attempts = attempts;
        row.state = state;
        row.history.push((attempts, what));
        Ok(())
    }
}

impl Outbox for MemOutbox {
    fn due(&mut self, webhooks: std::ops::Range<usize>, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, String> {
        let rows = self.0.lock().unwrap();
        let mut due: Vec<Delivery> = rows
            .values()
            .filter(|r| webhooks.contains(&r.delivery.webhook))
            .filter(|r| matches!(r.state, State::Pending { next_ms } if next_ms <= now_ms))
            .map(|r| r.delivery.clone())
            .collect();
        due.sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
        due.truncate(limit);
        Ok(due)
    }

    fn delivered(&mut self, id: &str, attempts: u32, status: u16, _now_ms: i64) -> Result<(), String> {
        self.record(id, attempts, State::Delivered { status }, format!("delivered {status}"))
    }

    fn retry_at(&mut self, id: &str, attempts: u32, next_ms: i64, error: &str) -> Result<(), String> {
        let wait = next_ms - vtrack_model::time::now_ms();
        self.record(id, attempts, State::Pending { next_ms }, format!("retry in {wait} ms: {error}"))
    }

    fn failed(&mut self, id: &str, attempts: u32, error: &str) -> Result<(), String> {
        self.record(id, attempts, State::Failed { error: error.into() }, format!("failed: {error}"))
    }
}

fn alert(id: &str) -> Alert {
    Alert {
        alert_id: id.into(),
        kind: AlertKind::BecameHot,
        site: "acme-web".into(),
        company_domain: "acme-robotics.example".into(),
        company_name: "Acme Robotics".into(),
        network_class: NetworkClass::Business,
        class_confidence: 90,
        country: "DE".into(),
        score: 55.0,
        stage: "hot".into(),
        raised_ms: 1_795_000_000_000,
        visitors: 2,
        sessions: 4,
        top_pages: vec![PageContribution { path: "/pricing".into(), views: 3, points: 30.0 }],
        recent_pages: vec!["/pricing".into()],
        campaigns: vec![Campaign { source: "google".into(), medium: "cpc".into(), campaign: "brand".into() }],
        contacts: vec![],
        owner: String::new(),
        digest: None,
    }
}

fn delivery(id: &str, webhook: usize) -> Delivery {
    Delivery { delivery_id: format!("d-{id}"), alert: alert(id), webhook, attempts: 0, due_ms: 0 }
}

fn hook(addr: SocketAddr, format: WebhookFormat, max_attempts: u32, timeout: Duration) -> WebhookConfig {
    WebhookConfig {
        name: None,
        url: format!("http://{addr}/hook"),
        secret: SECRET.into(),
        format,
        cooldown: Duration::from_secs(3600),
        max_attempts,
        timeout,
    }
}

/// The receivers of `hooks`, named `r0`, `r1`, ….
fn receivers(hooks: Vec<WebhookConfig>) -> Vec<Receiver> {
    hooks
        .into_iter()
        .enumerate()
        .map(|(i, hook)| Receiver { name: format!("r{i}"), hook, owner: None, escalation: false })
        .collect()
}

/// Tiny backoffs so retries take milliseconds; a long poll so only scheduled retries wake the loop.
fn fast() -> DeliveryOptions {
    DeliveryOptions {
        poll: Duration::from_secs(30),
        backoff: Backoff { base: Duration::from_millis(10), cap: Duration::from_millis(40) },
        ..DeliveryOptions::default()
    }
}

/// Runs the loop until `done` holds for the outbox (or 10 s pass), then stops it and waits for it to return.
async fn run_until(
    outbox: &MemOutbox,
    hooks: Vec<WebhookConfig>,
    opts: DeliveryOptions,
    done: impl Fn(&MemOutbox) -> bool,
) {
    run_until_then(outbox, hooks, opts, done, Duration::ZERO).await
}

/// [`run_until`], but the loop keeps running for `linger` once `done` holds, so a wrong retry would show.
async fn run_until_then(
    outbox: &MemOutbox,
    hooks: Vec<WebhookConfig>,
    opts: DeliveryOptions,
    done: impl Fn(&MemOutbox) -> bool,
    linger: Duration,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_deliveries(
        outbox.clone(),
        receivers(hooks),
        Sender::new().unwrap(),
        opts,
        DeliveryMetrics::default(),
        Arc::new(Notify::new()),
        stop_rx,
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(outbox) {
        assert!(Instant::now() < deadline, "timed out; outbox: {:?}", outbox.0.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(linger).await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("the loop stops when told").unwrap();
}

fn finished(id: &'static str) -> impl Fn(&MemOutbox) -> bool {
    move |o| !matches!(o.row(id).state, State::Pending { .. })
}

fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
    seen.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_503s_then_delivered_exactly_once() {
    let (addr, seen) = receiver(vec![reply(503), reply(503), reply(200)]).await;
    let outbox = MemOutbox::with(vec![delivery("a1", 0)]);
    run_until(&outbox, vec![hook(addr, WebhookFormat::Json, 5, Duration::from_secs(5))], fast(), finished("d-a1"))
        .await;

    let row = outbox.row("d-a1");
    assert_eq!(row.state, State::Delivered { status: 200 });
    assert_eq!(row.delivery.attempts, 3);
    assert!(row.history[0].1.contains("HTTP 503"), "{:?}", row.history);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let accepted: Vec<&Seen> = seen.iter().filter(|s| s.status == 200).collect();
    assert_eq!(accepted.len(), 1, "exactly one accepted request");
    let ok = accepted[0];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!(verify(SECRET, header(ok, "x-vtrack-signature"), &ok.body, now, 300), "signature verifies");
    assert!(!verify("another secret", header(ok, "x-vtrack-signature"), &ok.body, now, 300));
    assert_eq!(header(ok, "idempotency-key"), "a1");
    assert_eq!(header(ok, "content-type"), "application/json");
    assert!(header(ok, "user-agent").starts_with("vtrack/"));
    let body: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(body["type"], "vtrack.alert");
    assert_eq!(body["alert_id"], "a1");
    for s in &seen {
        assert_eq!(s.body, ok.body, "every attempt sends the same body");
        assert_eq!(header(s, "idempotency-key"), "a1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_failures_still_delivers_once() {
    let (addr, seen) = receiver(vec![reply(503), reply(503), reply(200)]).await;
    let outbox = MemOutbox::with(vec![delivery("r1", 0)]);
    let hooks = vec![hook(addr, WebhookFormat::Json, 5, Duration::from_secs(5))];
    // First process: stops after the first failure is recorded. Its retry is scheduled far enough out that a
    // busy machine cannot fit a second attempt in before the stop.
    let slow_retry = DeliveryOptions {
        backoff: Backoff { base: Duration::from_millis(500), cap: Duration::from_millis(500) },
        ..fast()
    };
    run_until(&outbox, hooks.clone(), slow_retry, |o| o.row("d-r1").delivery.attempts >= 1).await;
    assert!(matches!(outbox.row("d-r1").state, State::Pending { .. }));
    // Second process over the same outbox picks up from there. It knows nothing of the retry scheduled by the
    // first, so it finds it by polling.
    let polling = DeliveryOptions { poll: Duration::from_millis(20), ..fast() };
    run_until(&outbox, hooks, polling, finished("d-r1")).await;
    let row = outbox.row("d-r1");
    assert_eq!(row.state, State::Delivered { status: 200 });
    assert_eq!(row.delivery.attempts, 3);
    assert_eq!(seen.lock().unwrap().iter().filter(|s| s.status == 200).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_on_429() {
    let limited = Reply { status: 429, retry_after: Some("1"), delay: Duration::ZERO };
    let (addr, seen) = receiver(vec![limited, reply(204)]).await;
    let outbox = MemOutbox::with(vec![delivery("l1", 0)]);
    run_until(&outbox, vec![hook(addr, WebhookFormat::Slack, 5, Duration::from_secs(5))], fast(), finished("d-l1"))
        .await;

    assert_eq!(outbox.row("d-l1").state, State::Delivered { status: 204 });
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(950), "waited {gap:?}, not the 1 s Retry-After (backoff alone is 10 ms)");
    let body: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert!(body["text"].is_string() && body["blocks"].is_array(), "a Slack message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_permanent() {
    let (addr, seen) = receiver(vec![reply(400), reply(200)]).await;
    let outbox = MemOutbox::with(vec![delivery("p1", 0)]);
    // The loop polls every 20 ms and backs off 10-40 ms: in 200 ms more, a wrong retry would show up.
    let polling = DeliveryOptions { poll: Duration::from_millis(20), ..fast() };
    let hooks = vec![hook(addr, WebhookFormat::Json, 5, Duration::from_secs(5))];
    run_until_then(&outbox, hooks, polling, finished("d-p1"), Duration::from_millis(200)).await;

    let row = outbox.row("d-p1");
    assert!(matches!(&row.state, State::Failed { error } if error.starts_with("HTTP 400")), "{row:?}");
    assert_eq!(row.delivery.attempts, 1);
    assert_eq!(seen.lock().unwrap().len(), 1, "no retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_is_retried() {
    let slow = Reply { status: 200, retry_after: None, delay: Duration::from_secs(2) };
    let (addr, seen) = receiver(vec![slow, reply(200)]).await;
    let outbox = MemOutbox::with(vec![delivery("t1", 0)]);
    let started = Instant::now();
    run_until(&outbox, vec![hook(addr, WebhookFormat::Json, 5, Duration::from_millis(200))], fast(), finished("d-t1"))
        .await;

    let row = outbox.row("d-t1");
    assert_eq!(row.state, State::Delivered { status: 200 });
    assert_eq!(row.delivery.attempts, 2);
    assert!(row.history[0].1.contains("timed out"), "{:?}", row.history);
    assert!(started.elapsed() < Duration::from_secs(2), "did not wait for the slow receiver");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_max_attempts() {
    let (addr, seen) = receiver(vec![reply(500)]).await;
    let outbox = MemOutbox::with(vec![delivery("m1", 0)]);
    run_until(&outbox, vec![hook(addr, WebhookFormat::Json, 3, Duration::from_secs(5))], fast(), finished("d-m1"))
        .await;

    let row = outbox.row("d-m1");
    assert!(matches!(&row.state, State::Failed { error } if error.contains("after 3 attempts")), "{row:?}");
    assert_eq!(row.delivery.attempts, 3);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_retried_and_unknown_webhooks_fail() {
    // A port nothing listens on: bind, note it, close.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let outbox = MemOutbox::with(vec![delivery("c1", 0), delivery("u1", 7)]);
    let hooks = vec![hook(closed, WebhookFormat::Json, 2, Duration::from_secs(2))];
    run_until(&outbox, hooks, fast(), |o| finished("d-c1")(o) && finished("d-u1")(o)).await;

    let refused = outbox.row("d-c1");
    assert_eq!(refused.delivery.attempts, 2, "{refused:?}");
    assert!(refused.history[0].1.starts_with("retry in"), "{:?}", refused.history);
    let unknown = outbox.row("d-u1");
    assert!(matches!(&unknown.state, State::Failed { error } if error.contains("#7")), "{unknown:?}");
    assert_eq!(unknown.delivery.attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_sends_new_deliveries_without_waiting_for_the_poll() {
    let (addr, seen) = receiver(vec![reply(200)]).await;
    let outbox = MemOutbox::default();
    let wake = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let hooks = vec![hook(addr, WebhookFormat::Json, 3, Duration::from_secs(2))];
    let task = tokio::spawn(run_deliveries(
        outbox.clone(),
        receivers(hooks),
        Sender::new().unwrap(),
        fast(),
        DeliveryMetrics::default(),
        Arc::clone(&wake),
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_millis(100)).await; // the loop polled an empty outbox and sleeps 30 s
    let d = delivery("w1", 0);
    outbox
        .0
        .lock()
        .unwrap()
        .insert(d.delivery_id.clone(), Row { delivery: d, state: State::Pending { next_ms: 0 }, history: vec![] });
    wake.notify_one();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !finished("d-w1")(&outbox) {
        assert!(Instant::now() < deadline, "woken loop did not send");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_urls_go_through_tls() {
    // A plain-http receiver behind an https:// url: the client must attempt a TLS handshake (and fail it,
    // retryably), not send the signed body in clear or refuse the scheme.
    let (addr, seen) = receiver(vec![reply(200)]).await;
    let mut h = hook(addr, WebhookFormat::Json, 3, Duration::from_secs(2));
    h.url = format!("https://{addr}/hook");
    let outcome = Sender::new().unwrap().send(&h, "s1", b"{}").await;
    assert!(matches!(&outcome, vtrack_alert::Outcome::Retry { .. }), "{outcome:?}");
    assert!(seen.lock().unwrap().is_empty(), "no HTTP request got through");
}

/// A receiver that hangs until its timeout holds back its own deliveries only: another receiver's delivery,
/// queued while the slow one is in flight, goes out at once; the slow receiver's lag shows in the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_delays_no_other() {
    let hang = Reply { status: 200, retry_after: None, delay: Duration::from_secs(30) };
    let (slow, _) = receiver(vec![hang]).await;
    let (quick, quick_seen) = receiver(vec![reply(200)]).await;
    let outbox = MemOutbox::with(vec![delivery("s1", 0), delivery("q1", 1)]);
    let hooks = vec![
        hook(slow, WebhookFormat::Json, 3, Duration::from_secs(8)),
        hook(quick, WebhookFormat::Json, 3, Duration::from_secs(8)),
    ];
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = DeliveryMetrics::register(&mut registry);
    let wake = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_deliveries(
        outbox.clone(),
        receivers(hooks),
        Sender::new().unwrap(),
        fast(),
        metrics,
        Arc::clone(&wake),
        stop_rx,
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !finished("d-q1")(&outbox) {
        assert!(Instant::now() < deadline, "the quick receiver's first delivery");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The slow receiver's first delivery is in flight for 8 s; a new alert for the quick one goes out now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let d = delivery("q2", 1);
    outbox
        .0
        .lock()
        .unwrap()
        .insert(d.delivery_id.clone(), Row { delivery: d, state: State::Pending { next_ms: 0 }, history: vec![] });
    let queued = Instant::now();
    wake.notify_one();
    while !finished("d-q2")(&outbox) {
        assert!(queued.elapsed() < Duration::from_secs(1), "the quick receiver waited on the slow one");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(quick_seen.lock().unwrap().len(), 2);
    assert!(matches!(outbox.row("d-s1").state, State::Pending { .. }), "the slow one is still in flight");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let lag = |name: &str| -> f64 {
        let series = format!("vtrack_webhook_lag_seconds{{receiver=\"{name}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&series)).and_then(|v| v.parse().ok()).unwrap_or(-1.0)
    };
    assert!(lag("r0") >= 1.0, "the slow receiver's lag: {text}");
    assert_eq!(lag("r1"), 0.0, "the quick receiver has nothing waiting: {text}");
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(15), task).await.unwrap().unwrap();
}
