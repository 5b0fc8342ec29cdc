//! The processing loop: bus → batch write → acknowledge, only what is stored.
//!
//! The loop is the same for every bus and store; the batch write itself is `vtrack_process::Processor`,
//! over the configured [`Store`].

use anyhow::Context;
use std::time::Duration;
use tokio::sync::watch;
use vtrack_bus::Subscriber;
use vtrack_process::{BatchRules, DeliveryTarget, Processor};
use vtrack_store::Store;

/// How often visitors whose session closed are dropped from memory (a scan of every visitor held).
const EVICT_EVERY: Duration = Duration::from_secs(10);

/// What processing decides with: batching, sessions, scoring, and where alerts go.
pub struct Rules {
    pub session_timeout: Duration,
    pub batch_max: usize,
    pub batch_linger: Duration,
    /// Count each AS network's traffic sets (`[process] network_traffic`).
    pub network_traffic: bool,
    pub batch: BatchRules,
    /// Notified when a batch queued webhook deliveries, so they go out at once.
    pub deliveries_queued: std::sync::Arc<tokio::sync::Notify>,
}

impl Rules {
    pub fn from_config(
        config: &vtrack_model::Config,
        deliveries_queued: std::sync::Arc<tokio::sync::Notify>,
    ) -> anyhow::Result<Rules> {
        Ok(Rules {
            session_timeout: config.sessions.timeout,
            batch_max: config.process.batch_max,
            batch_linger: config.process.batch_linger,
            network_traffic: config.process.network_traffic,
            batch: batch_rules(config)?,
            deliveries_queued,
        })
    }
}

/// The scorer, every alert receiver (site webhooks, owners', the escalation) and the owner rules of the
/// config; reads the rules' target lists (`domains_file`), once per process: the deadline check and the
/// digests share the processing loop's copy.
pub fn batch_rules(config: &vtrack_model::Config) -> anyhow::Result<BatchRules> {
    let mut owners = vtrack_process::OwnerRules::default();
    for (i, rule) in config.assign.iter().enumerate() {
        let listed = match &rule.domains_file {
            Some(path) => read_domain_list(path)
                .with_context(|| format!("assign rule {}: cannot read domains_file {}", i + 1, path.display()))?,
            None => Vec::new(),
        };
        owners.rules.push(vtrack_process::OwnerRule::from_config(rule, &listed));
    }
    Ok(BatchRules {
        scorer: vtrack_process::Scorer::new(&config.scoring, &config.alerts),
        webhooks: config
            .receivers()
            .into_iter()
            .map(|r| DeliveryTarget {
                url: r.hook.url,
                cooldown_secs: r.hook.cooldown.as_secs() as i64,
                recontact_margin: config.alerts.recontact_margin,
                owner: r.owner,
                escalation: r.escalation,
            })
            .collect(),
        owners,
    })
}

/// A target list: one domain a line; blank lines and `#` comments are skipped.
fn read_domain_list(path: &std::path::Path) -> std::io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Counters for `/metrics`.
#[derive(Clone, Debug)]
pub struct ProcessMetrics {
    pub stored: prometheus_client::metrics::counter::Counter,
    pub duplicates: prometheus_client::metrics::counter::Counter,
    pub batches: prometheus_client::metrics::counter::Counter,
    pub store_errors: prometheus_client::metrics::counter::Counter,
    /// Accounts whose state was rebuilt from their history (a changed scoring config, or a replay on
    /// ClickHouse) instead of continued.
    pub accounts_recomputed: prometheus_client::metrics::counter::Counter,
    /// Visitors newly identified by a business email (`identify`).
    pub visitors_identified: prometheus_client::metrics::counter::Counter,
    /// Stored events moved to another organisation by an identity or a learned key.
    pub events_relabelled: prometheus_client::metrics::counter::Counter,
    pub visitors_in_memory: prometheus_client::metrics::gauge::Gauge,
    /// How long each batch write took (failed ones too): what operators alert on when the store slows.
    pub batch_write: prometheus_client::metrics::histogram::Histogram,
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
        ProcessMetrics {
            stored: Default::default(),
            duplicates: Default::default(),
            batches: Default::default(),
            store_errors: Default::default(),
            accounts_recomputed: Default::default(),
            visitors_identified: Default::default(),
            events_relabelled: Default::default(),
            visitors_in_memory: Default::default(),
            // 1 ms to about 30 s, doubling.
            batch_write: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        }
    }
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
            "vtrack_process_accounts_recomputed",
            "Accounts whose scoring state was rebuilt from their history instead of continued",
            m.accounts_recomputed.clone(),
        );
        registry.register(
            "vtrack_process_visitors_identified",
            "Visitors newly identified by an email at a business domain",
            m.visitors_identified.clone(),
        );
        registry.register(
            "vtrack_process_events_relabelled",
            "Stored events that now count for another organisation (an identity or a learned account key)",
            m.events_relabelled.clone(),
        );
        registry.register(
            "vtrack_process_batch_write_duration_seconds",
            "Time to write one batch to the store (failed attempts too)",
            m.batch_write.clone(),
        );
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
    mut store: Store,
    rules: Rules,
    metrics: ProcessMetrics,
    health: vtrack_edge::Health,
    mut stop: watch::Receiver<bool>,
) {
    let mut processor = Processor::new(rules.session_timeout).counting_traffic(rules.network_traffic);
    let mut closing = false;
    let mut last_eviction = std::time::Instant::now();
    loop {
        let batch = if closing {
            bus.next_batch(rules.batch_max, rules.batch_linger).await
        } else {
            // A stop drops the batch being collected; `next_batch` is cancel-safe (what it took from the
            // queue is handed on by the next call), so the drain below still writes it.
            tokio::select! {
                b = bus.next_batch(rules.batch_max, rules.batch_linger) => b,
                () = crate::shutdown::stopped(&mut stop) => {
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
            processor.forget();
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = std::time::Instant::now();
            let written = store
                .run(async |store| processor.write(store, &rules.batch, &batch.events, &batch.partitions).await)
                .await;
            metrics.batch_write.observe(started.elapsed().as_secs_f64());
            match written {
                Ok(w) => {
                    if w.deliveries > 0 {
                        rules.deliveries_queued.notify_one();
                    }
                    metrics.stored.inc_by(w.stored as u64);
                    metrics.duplicates.inc_by(w.duplicates as u64);
                    metrics.batches.inc();
                    metrics.accounts_recomputed.inc_by(w.recomputed as u64);
                    metrics.visitors_identified.inc_by(w.identified as u64);
                    metrics.events_relabelled.inc_by(w.relabelled as u64);
                    health.set("store", None);
                    break;
                }
                Err(e) => {
                    // Keep the batch and try again: dropping it would lose events that got a 2xx.
                    metrics.store_errors.inc();
                    health.set("store", Some(format!("cannot store a batch: {e}")));
                    tracing::error!(error = %e, retry_in = ?backoff, "processing: could not store a batch");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
        if last_eviction.elapsed() >= EVICT_EVERY {
            processor.evict_idle();
            last_eviction = std::time::Instant::now();
        }
        metrics.visitors_in_memory.set(processor.visitors() as i64);
        if let Err(e) = bus.ack(batch).await {
            tracing::warn!(error = %e, "processing: ack failed; the batch may be delivered again");
        }
    }
    tracing::info!("processing: queue drained");
}
