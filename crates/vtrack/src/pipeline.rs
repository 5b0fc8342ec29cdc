//! The processing loop of `vtrack serve`: bus → sessionizer → store, acknowledging only what is stored.

use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::watch;
use vtrack_bus::Subscriber;
use vtrack_model::EnrichedEvent;
use vtrack_process::{Sessionizer, VisitorState};
use vtrack_store::{EventRow, SqliteStore, StoreError};

/// Largest batch written in one transaction.
pub const BATCH_MAX: usize = 2_000;
/// How long a batch waits to fill once it has its first event.
pub const BATCH_LINGER: Duration = Duration::from_millis(20);

/// How often visitors whose session closed are dropped from memory (a scan of every visitor held).
const EVICT_EVERY: Duration = Duration::from_secs(10);

/// What processing decides with: sessions, scoring, and where alerts go.
pub struct Rules {
    pub session_timeout: Duration,
    pub scorer: vtrack_process::Scorer,
    pub webhooks: Vec<vtrack_store::DeliveryTarget>,
    /// Notified when a batch queued webhook deliveries, so they go out at once.
    pub deliveries_queued: std::sync::Arc<tokio::sync::Notify>,
}

impl Rules {
    pub fn from_config(config: &vtrack_model::Config, deliveries_queued: std::sync::Arc<tokio::sync::Notify>) -> Rules {
        Rules {
            session_timeout: config.sessions.timeout,
            scorer: vtrack_process::Scorer::new(&config.scoring, &config.alerts),
            webhooks: config
                .alerts
                .webhooks
                .iter()
                .map(|w| vtrack_store::DeliveryTarget {
                    url: w.url.clone(),
                    cooldown_secs: w.cooldown.as_secs() as i64,
                })
                .collect(),
            deliveries_queued,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Clone, Default, Debug)]
pub struct ProcessMetrics {
    pub stored: prometheus_client::metrics::counter::Counter,
    pub duplicates: prometheus_client::metrics::counter::Counter,
    pub batches: prometheus_client::metrics::counter::Counter,
    pub store_errors: prometheus_client::metrics::counter::Counter,
    pub visitors_in_memory: prometheus_client::metrics::gauge::Gauge,
}

impl ProcessMetrics {
    pub fn register(registry: &mut prometheus_client::registry::Registry) -> ProcessMetrics {
        let m = ProcessMetrics::default();
        registry.register("vtrack_process_events_stored", "New events written to the store", m.stored.clone());
        registry.register(
            "vtrack_process_duplicates",
            "Events skipped because the store had them",
            m.duplicates.clone(),
        );
        registry.register("vtrack_process_batches", "Batches written", m.batches.clone());
        registry.register("vtrack_process_store_errors", "Failed batch writes (retried)", m.store_errors.clone());
        registry.register(
            "vtrack_process_visitors_in_memory",
            "Visitors whose session state is held in memory",
            m.visitors_in_memory.clone(),
        );
        m
    }
}

/// Consumes until the bus is closed and drained. When `stop` turns true the bus is closed to new events
/// and everything already queued is still written: a graceful shutdown loses nothing that got a 2xx.
pub async fn run(
    mut bus: Subscriber,
    mut store: SqliteStore,
    rules: Rules,
    metrics: ProcessMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let timeout = rules.session_timeout;
    let mut sessions = Sessionizer::new(timeout);
    let mut closing = false;
    let mut last_eviction = std::time::Instant::now();
    loop {
        let batch = if closing {
            bus.next_batch(BATCH_MAX, BATCH_LINGER).await
        } else {
            tokio::select! {
                b = bus.next_batch(BATCH_MAX, BATCH_LINGER) => b,
                () = crate::resolver::stopped(&mut stop) => {
                    tracing::info!("processing: draining the queue");
                    bus.close();
                    closing = true;
                    continue;
                }
            }
        };
        let Some(batch) = batch else { break };
        let mut backoff = Duration::from_millis(100);
        loop {
            match tokio::task::block_in_place(|| write(&mut store, &mut sessions, &rules, &batch.events)) {
                Ok((stored, dups, deliveries)) => {
                    if deliveries > 0 {
                        rules.deliveries_queued.notify_one();
                    }
                    metrics.stored.inc_by(stored as u64);
                    metrics.duplicates.inc_by(dups as u64);
                    metrics.batches.inc();
                    break;
                }
                Err(e) => {
                    // Keep the batch and try again: dropping it would lose events that got a 2xx.
                    metrics.store_errors.inc();
                    tracing::error!(error = %e, retry_in = ?backoff, "processing: could not store a batch");
                    sessions = Sessionizer::new(timeout);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        if last_eviction.elapsed() >= EVICT_EVERY {
            sessions.evict_idle();
            last_eviction = std::time::Instant::now();
        }
        metrics.visitors_in_memory.set(sessions.len() as i64);
        if let Err(e) = bus.ack(batch).await {
            tracing::warn!(error = %e, "processing: ack failed; the batch may be delivered again");
        }
    }
    tracing::info!("processing: queue drained");
}

/// Sessionizes the events the store does not have yet and writes them with their scores and alerts;
/// returns (stored, duplicates, webhook deliveries queued).
fn write(
    store: &mut SqliteStore,
    sessions: &mut Sessionizer,
    rules: &Rules,
    events: &[EnrichedEvent],
) -> Result<(usize, usize, usize), StoreError> {
    let existing = store.existing_ids(events.iter().map(|e| e.event_id.as_str()))?;
    let mut seen = HashSet::new();
    let mut fresh: Vec<&EnrichedEvent> =
        events.iter().filter(|e| !existing.contains(&e.event_id) && seen.insert(e.event_id.as_str())).collect();
    // Sessions depend on order; event time makes it the same on every replay.
    fresh.sort_by_key(|e| e.ts_ms);
    for key in sessions.unknown_visitors(fresh.iter().copied()) {
        let state = store.last_visit(&key.0, &key.1)?.map(|v| VisitorState {
            last_ts: v.ts_secs,
            session_id: v.session_id,
            is_return: v.is_return,
        });
        sessions.prime(key, state);
    }
    let assigned: Vec<_> = fresh.iter().map(|e| sessions.assign(e)).collect();
    let rows: Vec<EventRow<'_>> = fresh
        .iter()
        .zip(&assigned)
        .map(|(e, a)| EventRow { event: e, session_id: &a.session_id, is_return: a.is_return })
        .collect();
    let report = store.write_batch(&rows, &mut |h| rules.scorer.score(h), &rules.webhooks)?;
    Ok((report.inserted, events.len() - report.inserted, report.deliveries))
}
