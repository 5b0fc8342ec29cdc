//! The processing loop: bus → sessionizer → store, acknowledging only what is stored.
//!
//! The loop is the same for every bus and store; [`Sink`] holds the store-specific write.

mod clickhouse;
mod sqlite;

use std::time::Duration;
use tokio::sync::watch;
use vtrack_bus::{Batch, Subscriber};
use vtrack_process::Sessionizer;
use vtrack_store::{ClickHouseStore, SqliteStore, StoreError};

/// Where processing writes.
pub enum Sink {
    /// The embedded store: one transaction per batch.
    Sqlite(SqliteStore),
    /// ClickHouse: ordered, idempotent steps per batch (see `vtrack_store::clickhouse`), with the sessions
    /// and accounts being followed kept in memory.
    ClickHouse(Box<ClickHouseStore>, Box<clickhouse::Warm>),
}

/// What one batch write did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub stored: usize,
    pub duplicates: usize,
    pub deliveries: usize,
}

impl Sink {
    async fn write(&mut self, sessions: &mut Sessionizer, rules: &Rules, batch: &Batch) -> Result<Written, StoreError> {
        match self {
            Sink::Sqlite(store) => tokio::task::block_in_place(|| sqlite::write(store, sessions, rules, &batch.events)),
            Sink::ClickHouse(store, warm) => clickhouse::write(store, warm, sessions, rules, batch).await,
        }
    }

    /// Writes to ClickHouse.
    pub fn clickhouse(store: ClickHouseStore) -> Sink {
        Sink::ClickHouse(Box::new(store), Box::default())
    }

    /// Drops what is held in memory about sessions and accounts: after a rebalance or a failed write it
    /// may be behind the store.
    fn forget(&mut self) {
        if let Sink::ClickHouse(_, warm) = self {
            warm.forget();
        }
    }
}

/// How often visitors whose session closed are dropped from memory (a scan of every visitor held).
const EVICT_EVERY: Duration = Duration::from_secs(10);

/// What processing decides with: sessions, scoring, and where alerts go.
pub struct Rules {
    pub session_timeout: Duration,
    pub batch_max: usize,
    pub batch_linger: Duration,
    pub scorer: vtrack_process::Scorer,
    pub webhooks: Vec<vtrack_store::DeliveryTarget>,
    /// Notified when a batch queued webhook deliveries, so they go out at once.
    pub deliveries_queued: std::sync::Arc<tokio::sync::Notify>,
}

impl Rules {
    pub fn from_config(config: &vtrack_model::Config, deliveries_queued: std::sync::Arc<tokio::sync::Notify>) -> Rules {
        Rules {
            session_timeout: config.sessions.timeout,
            batch_max: config.process.batch_max,
            batch_linger: config.process.batch_linger,
            scorer: vtrack_process::Scorer::new(&config.scoring, &config.alerts),
            webhooks: config
                .alerts
                .webhooks
                .iter()
                .map(|w| vtrack_store::DeliveryTarget {
                    url: w.url.clone(),
                    cooldown_secs: w.cooldown.as_secs() as i64,
                    recontact_margin: config.alerts.recontact_margin,
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
    mut sink: Sink,
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
            bus.next_batch(rules.batch_max, rules.batch_linger).await
        } else {
            tokio::select! {
                b = bus.next_batch(rules.batch_max, rules.batch_linger) => b,
                () = crate::resolver::stopped(&mut stop) => {
                    tracing::info!("processing: draining the queue");
                    bus.close();
                    closing = true;
                    continue;
                }
            }
        };
        let Some(batch) = batch else { break };
        if bus.take_rebalanced() {
            // Another member may have moved these visitors on while it held their partitions.
            sessions = Sessionizer::new(timeout);
            sink.forget();
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match sink.write(&mut sessions, &rules, &batch).await {
                Ok(w) => {
                    if w.deliveries > 0 {
                        rules.deliveries_queued.notify_one();
                    }
                    metrics.stored.inc_by(w.stored as u64);
                    metrics.duplicates.inc_by(w.duplicates as u64);
                    metrics.batches.inc();
                    break;
                }
                Err(e) => {
                    // Keep the batch and try again: dropping it would lose events that got a 2xx.
                    metrics.store_errors.inc();
                    tracing::error!(error = %e, retry_in = ?backoff, "processing: could not store a batch");
                    sessions = Sessionizer::new(timeout);
                    sink.forget();
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
