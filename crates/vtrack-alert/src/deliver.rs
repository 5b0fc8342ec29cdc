//! The durable delivery loop: due deliveries from the outbox are sent and their outcome written back.
//!
//! Each receiver has a queue of its own: a task that polls the outbox for that receiver's due deliveries,
//! sends up to [`DeliveryOptions::batch`] of them at once and records each outcome. A receiver that hangs
//! until its timeout, or fails and backs off, holds back only its own deliveries; before, one loop sent every
//! receiver's deliveries in rounds, and a round ended when its slowest request did, so one tarpitting endpoint
//! delayed every team's alerts. Deliveries to a receiver no longer configured are failed by a queue of their
//! own. `vtrack_webhook_lag_seconds{receiver}` says how long each receiver's oldest due delivery has waited.
//!
//! The loop keeps no state of its own between polls — attempts and the next due time live in the outbox —
//! so a restart (or a second process over the same store) picks up exactly where the last one stopped.

use crate::backoff::Backoff;
use crate::payload::payload;
use crate::send::{Outcome, Sender};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::ops::Range;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use vtrack_model::config::WebhookConfig;
use vtrack_model::owners::Receiver;
use vtrack_model::time::now_ms;
use vtrack_model::Alert;

/// One alert on its way to one webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub delivery_id: String,
    pub alert: Alert,
    /// Index into the configured receivers.
    pub webhook: usize,
    /// Attempts made so far.
    pub attempts: u32,
    /// When its next attempt fell due, Unix ms: how long it has waited is its receiver's lag.
    pub due_ms: i64,
}

/// Where deliveries wait and their outcomes are recorded: the store, in vtrack. Methods are synchronous
/// (SQLite); the loop calls them on the blocking pool.
pub trait Outbox: Send + 'static {
    /// Deliveries to the receivers at `webhooks` (indexes into the configured receivers) whose next attempt
    /// is due at `now_ms`, the longest due first, at most `limit`.
    fn due(&mut self, webhooks: Range<usize>, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, String>;
    /// Accepted with `status` by the receiver on attempt number `attempts`.
    fn delivered(&mut self, delivery_id: &str, attempts: u32, status: u16, now_ms: i64) -> Result<(), String>;
    /// Attempt number `attempts` failed with `error`; try again at `next_ms`.
    fn retry_at(&mut self, delivery_id: &str, attempts: u32, next_ms: i64, error: &str) -> Result<(), String>;
    /// Given up after `attempts` attempts: a permanent error, or `max_attempts` reached.
    fn failed(&mut self, delivery_id: &str, attempts: u32, error: &str) -> Result<(), String>;
}

/// How the loop paces itself.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryOptions {
    /// How often the outbox is polled when nothing wakes the loop sooner.
    pub poll: Duration,
    /// Deliveries taken (and sent concurrently) per poll, per receiver.
    pub batch: usize,
    /// Waits between attempts.
    pub backoff: Backoff,
    /// A receiver's `Retry-After` is honoured up to this long, so a bogus one cannot park a delivery forever.
    pub max_retry_after: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            poll: Duration::from_secs(5),
            batch: 16,
            backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiverLabels {
    /// The receiver's name (`Receiver::name`), never its URL.
    receiver: String,
}

/// The delivery loop's metrics: each receiver's lag.
#[derive(Clone, Debug, Default)]
pub struct DeliveryMetrics {
    lag: Family<ReceiverLabels, Gauge<f64, AtomicU64>>,
}

impl DeliveryMetrics {
    /// Registers `vtrack_webhook_lag_seconds`.
    pub fn register(registry: &mut Registry) -> DeliveryMetrics {
        let m = DeliveryMetrics::default();
        registry.register(
            "vtrack_webhook_lag_seconds",
            "How long each receiver's oldest due delivery has waited (0: none waiting), by receiver name",
            m.lag.clone(),
        );
        m
    }
}

/// What to write into the outbox after an attempt.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    Delivered { status: u16 },
    RetryAt { next_ms: i64, error: String },
    Failed { error: String },
}

/// Decides the record for `outcome` of attempt number `attempt` (1-based). Pure apart from the jitter draw.
fn decide(outcome: Outcome, attempt: u32, max_attempts: u32, now_ms: i64, opts: &DeliveryOptions) -> Record {
    match outcome {
        Outcome::Delivered(status) => Record::Delivered { status },
        Outcome::Permanent(error) => Record::Failed { error },
        Outcome::Retry { reason, .. } if attempt >= max_attempts => {
            Record::Failed { error: format!("gave up after {attempt} attempts: {reason}") }
        }
        Outcome::Retry { reason, retry_after } => {
            let wait = match retry_after {
                Some(d) => d.min(opts.max_retry_after),
                None => opts.backoff.delay(attempt, rand::random::<f64>()),
            };
            let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
            Record::RetryAt { next_ms: now_ms.saturating_add(wait_ms), error: reason }
        }
    }
}

/// Runs a synchronous outbox call on the blocking pool, so SQLite never stalls the runtime's workers.
async fn call<O: Outbox, T: Send + 'static>(
    outbox: &Arc<Mutex<O>>,
    f: impl FnOnce(&mut O) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let outbox = Arc::clone(outbox);
    let joined = tokio::task::spawn_blocking(move || match outbox.lock() {
        Ok(mut o) => f(&mut o),
        Err(_) => Err("outbox lock poisoned by an earlier panic".to_string()),
    })
    .await;
    joined.map_err(|e| format!("outbox call did not finish: {e}"))?
}

/// Sends the outbox's deliveries to `receivers` (in `Config::receivers` order, which the outbox's indexes
/// follow), each receiver through a queue of its own (see the module doc). Every queue polls every
/// `opts.poll`, and at once when `wake` is notified (e.g. right after an alert is written). Returns when
/// `stop` turns true (or its sender is dropped), after the batches in flight have been recorded: each send is
/// bounded by its webhook's timeout, and finishing it saves a duplicate on restart.
pub async fn run_deliveries(
    outbox: impl Outbox,
    receivers: Vec<Receiver>,
    sender: Sender,
    opts: DeliveryOptions,
    metrics: DeliveryMetrics,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let outbox = Arc::new(Mutex::new(outbox));
    let hooks: Arc<Vec<WebhookConfig>> = Arc::new(receivers.iter().map(|r| r.hook.clone()).collect());
    let mut queues = JoinSet::new();
    let mut wakes = Vec::new();
    let mut spawn = |webhooks: Range<usize>, lag: Option<Gauge<f64, AtomicU64>>| {
        let woken = Arc::new(Notify::new());
        wakes.push(Arc::clone(&woken));
        let q = Queue {
            outbox: Arc::clone(&outbox),
            hooks: Arc::clone(&hooks),
            webhooks,
            lag,
            sender: sender.clone(),
            opts,
        };
        queues.spawn(q.run(woken, stop.clone()));
    };
    for (i, r) in receivers.iter().enumerate() {
        spawn(i..i + 1, Some(metrics.lag.get_or_create(&ReceiverLabels { receiver: r.name.clone() }).clone()));
    }
    // Deliveries queued for receivers since removed from the config: recorded as failed, apart from the rest.
    spawn(receivers.len()..usize::MAX, None);
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        tokio::select! {
            _ = wake.notified() => wakes.iter().for_each(|w| w.notify_one()),
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
    while queues.join_next().await.is_some() {}
}

/// One receiver's queue (or the queue of deliveries to receivers no longer configured).
struct Queue<O> {
    outbox: Arc<Mutex<O>>,
    hooks: Arc<Vec<WebhookConfig>>,
    /// The receivers whose deliveries it sends: one, or every index past the configured ones.
    webhooks: Range<usize>,
    /// Its receiver's `vtrack_webhook_lag_seconds`.
    lag: Option<Gauge<f64, AtomicU64>>,
    sender: Sender,
    opts: DeliveryOptions,
}

impl<O: Outbox> Queue<O> {
    /// Polls, sends what is due — a batch concurrently — and records each outcome, until `stop`.
    async fn run(self, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        let batch = self.opts.batch.max(1);
        loop {
            if *stop.borrow_and_update() {
                return;
            }
            let now = now_ms();
            let webhooks = self.webhooks.clone();
            let (full, soonest) = match call(&self.outbox, move |o| o.due(webhooks, now, batch)).await {
                Ok(due) => {
                    let full = due.len() >= batch;
                    let done = self.deliver_batch(due).await;
                    // Unrecorded outcomes come back as due at once: wait for the poll rather than resend in a loop.
                    (full && done.all_recorded, done.soonest)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the alert outbox");
                    (false, None)
                }
            };
            if full {
                continue; // more may be due already
            }
            self.set_lag(None);
            // Sleep until the next poll, or sooner when a retry scheduled just now falls due first.
            let mut until = Instant::now() + self.opts.poll;
            if let Some(next_ms) = soonest {
                let wait = Duration::from_millis(u64::try_from(next_ms.saturating_sub(now_ms())).unwrap_or(0));
                until = until.min(Instant::now() + wait);
            }
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = wake.notified() => {}
                changed = stop.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Sets the lag to how long the delivery due at `oldest_due_ms` has waited, or to 0.
    fn set_lag(&self, oldest_due_ms: Option<i64>) {
        if let Some(lag) = &self.lag {
            let waited = oldest_due_ms.map_or(0, |due| now_ms().saturating_sub(due).max(0));
            lag.set(waited as f64 / 1000.0);
        }
    }
}

/// What a batch left behind for the loop's pacing.
struct BatchDone {
    /// The earliest retry it scheduled, Unix ms, so the loop can wake for it.
    soonest: Option<i64>,
    /// Whether every outcome was written to the outbox.
    all_recorded: bool,
}

impl<O: Outbox> Queue<O> {
    /// Sends a batch concurrently and records each outcome as it arrives; the lag is kept current (every
    /// second) while the batch waits on its receiver.
    async fn deliver_batch(&self, due: Vec<Delivery>) -> BatchDone {
        let oldest = due.iter().map(|d| d.due_ms).min();
        let mut sends = JoinSet::new();
        for d in due {
            let (hooks, sender, opts) = (Arc::clone(&self.hooks), self.sender.clone(), self.opts);
            sends.spawn(async move {
                let attempt = d.attempts.saturating_add(1);
                let Some(hook) = hooks.get(d.webhook) else {
                    let error = format!("webhook #{} is no longer configured", d.webhook);
                    return (d.delivery_id, attempt, Record::Failed { error });
                };
                let body = payload(&d.alert, hook.format);
                let outcome = sender.send(hook, &d.alert.alert_id, &body).await;
                (d.delivery_id, attempt, decide(outcome, attempt, hook.max_attempts.max(1), now_ms(), &opts))
            });
        }
        let mut done = BatchDone { soonest: None, all_recorded: true };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let joined = tokio::select! {
                joined = sends.join_next() => match joined {
                    Some(j) => j,
                    None => break,
                },
                _ = tick.tick() => {
                    self.set_lag(oldest);
                    continue;
                }
            };
            let Ok((id, attempt, record)) = joined else {
                tracing::error!("a webhook send panicked; its delivery stays due");
                done.all_recorded = false;
                continue;
            };
            log(&id, attempt, &record);
            if let Record::RetryAt { next_ms, .. } = record {
                done.soonest = Some(done.soonest.map_or(next_ms, |s| s.min(next_ms)));
            }
            let now = now_ms();
            let written = call(&self.outbox, move |o| match &record {
                Record::Delivered { status } => o.delivered(&id, attempt, *status, now),
                Record::RetryAt { next_ms, error } => o.retry_at(&id, attempt, *next_ms, error),
                Record::Failed { error } => o.failed(&id, attempt, error),
            })
            .await;
            if let Err(e) = written {
                // The delivery stays due and is sent again; receivers de-duplicate on Idempotency-Key.
                tracing::warn!(error = %e, "cannot record a webhook delivery in the outbox");
                done.all_recorded = false;
            }
        }
        done
    }
}

/// One log line per attempt: delivered and given-up at info/warn, retries at debug-free warn with the reason.
fn log(delivery_id: &str, attempt: u32, record: &Record) {
    match record {
        Record::Delivered { status } => tracing::info!(delivery_id, attempt, status, "webhook delivered"),
        Record::RetryAt { next_ms, error } => {
            tracing::warn!(delivery_id, attempt, retry_in_ms = next_ms - now_ms(), error = %error, "webhook failed; will retry")
        }
        Record::Failed { error } => tracing::warn!(delivery_id, attempt, error = %error, "webhook delivery given up"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let opts = DeliveryOptions {
            backoff: Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(8) },
            max_retry_after: Duration::from_secs(60),
            ..DeliveryOptions::default()
        };
        let retry = |after: Option<u64>| Outcome::Retry {
            reason: "HTTP 503".into(),
            retry_after: after.map(Duration::from_secs),
        };
        assert_eq!(decide(Outcome::Delivered(204), 1, 3, 0, &opts), Record::Delivered { status: 204 });
        assert_eq!(
            decide(Outcome::Permanent("HTTP 400".into()), 1, 3, 0, &opts),
            Record::Failed { error: "HTTP 400".into() }
        );
        match decide(retry(None), 2, 3, 1_000, &opts) {
            Record::RetryAt { next_ms, error } => {
                assert!((1_000..=3_000).contains(&next_ms), "{next_ms}");
                assert_eq!(error, "HTTP 503");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide(retry(Some(30)), 1, 3, 1_000, &opts),
            Record::RetryAt { next_ms: 31_000, error: "HTTP 503".into() }
        );
        assert_eq!(
            decide(retry(Some(7_200)), 1, 3, 0, &opts),
            Record::RetryAt { next_ms: 60_000, error: "HTTP 503".into() }
        );
        assert_eq!(
            decide(retry(None), 3, 3, 0, &opts),
            Record::Failed { error: "gave up after 3 attempts: HTTP 503".into() }
        );
    }
}
