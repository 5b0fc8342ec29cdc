//! Step 1, the bus: the in-process queue, or Kafka with the halves this process's roles use.

use super::{Pieces, Roles};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use vtrack_bus::journal::SyncMode;
use vtrack_bus::kafka::{ConsumerOptions, KafkaPublisher, ProducerOptions, ProducerStats};
use vtrack_bus::{Publisher, Subscriber};
use vtrack_model::config::Durability;
use vtrack_model::Config;

/// The bus as this process holds it.
pub struct Bus {
    /// Ingest's half; `None` for a Kafka process that does not ingest.
    pub publisher: Option<Publisher>,
    /// Processing's half; `None` for a Kafka process that does not process.
    pub subscriber: Option<Subscriber>,
    /// The Kafka producer behind `publisher`, kept to flush it when draining.
    pub producer: Option<KafkaPublisher>,
}

/// Opens the configured bus. A Kafka producer's counters go to `/metrics`.
pub fn connect(config: &Config, roles: Roles, pieces: &mut Pieces) -> anyhow::Result<Bus> {
    let Some(k) = &config.kafka else {
        let capacity = config.server.queue_capacity;
        let mode = match config.server.durability {
            Durability::Memory => {
                let (publisher, subscriber) = vtrack_bus::memory::channel(capacity);
                return Ok(Bus { publisher: Some(publisher), subscriber: Some(subscriber), producer: None });
            }
            Durability::Fsync => SyncMode::Fsync,
            Durability::Write => SyncMode::Write,
        };
        let dir = journal_dir(config);
        let (publisher, subscriber) = vtrack_bus::journal::open(&dir, capacity, mode)?;
        if let Publisher::Journal(j) = &publisher {
            let stop = pieces.tasks.stop();
            pieces.tasks.spawn_aborted(journal_metrics(j.stats(), &mut pieces.registry, stop));
        }
        return Ok(Bus { publisher: Some(publisher), subscriber: Some(subscriber), producer: None });
    };
    let publisher = roles.ingest.then(|| vtrack_bus::kafka::publisher(&ProducerOptions::from(k))).transpose()?;
    let subscriber = roles.process.then(|| vtrack_bus::kafka::subscriber(&ConsumerOptions::from(k))).transpose()?;
    let producer = match &publisher {
        Some(Publisher::Kafka(p)) => Some(p.clone()),
        _ => None,
    };
    if let Some(p) = &producer {
        let stop = pieces.tasks.stop();
        pieces.tasks.spawn("kafka metrics", producer_metrics(p.stats().clone(), &mut pieces.registry, stop));
    }
    Ok(Bus { publisher, subscriber, producer })
}

/// Where `serve` keeps the journal of accepted events: beside the store, on the same disk.
pub fn journal_dir(config: &Config) -> std::path::PathBuf {
    config.server.data_dir.join("journal")
}

/// The configured bus, for the log.
pub fn describe(config: &Config) -> String {
    match (&config.kafka, config.server.durability) {
        (Some(k), _) => format!("kafka {} topic {}", k.brokers, k.topic),
        (None, Durability::Memory) => "in-process queue (in memory only)".into(),
        (None, Durability::Fsync) => format!("journal in {} (fsync)", journal_dir(config).display()),
        (None, Durability::Write) => format!("journal in {} (write)", journal_dir(config).display()),
    }
}

/// Mirrors the journal's counters into `/metrics` once a second, until `stop`.
fn journal_metrics(
    stats: vtrack_bus::journal::JournalStats,
    registry: &mut Registry,
    mut stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> {
    use prometheus_client::metrics::counter::Counter;
    let (commits, failures) = (Counter::<u64>::default(), Counter::<u64>::default());
    registry.register(
        "vtrack_journal_commits",
        "Group commits of the journal (one write and one flush for every request meanwhile)",
        commits.clone(),
    );
    registry.register(
        "vtrack_journal_failures",
        "Journal appends that failed (disk full or read-only); their requests got 503",
        failures.clone(),
    );
    async move {
        loop {
            commits.inc_by(stats.commits().saturating_sub(commits.get()));
            failures.inc_by(stats.failures().saturating_sub(failures.get()));
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = crate::shutdown::stopped(&mut stop) => return,
            }
        }
    }
}

/// Mirrors the producer's counters into `/metrics` once a second, until `stop`.
fn producer_metrics(
    stats: Arc<ProducerStats>,
    registry: &mut Registry,
    mut stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> {
    use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
    use std::sync::atomic::Ordering::Relaxed;
    let (in_flight, delivered, failed) =
        (Gauge::<i64>::default(), Counter::<u64>::default(), Counter::<u64>::default());
    registry.register("vtrack_kafka_in_flight", "Events accepted and not yet acknowledged by Kafka", in_flight.clone());
    registry.register("vtrack_kafka_delivered", "Events Kafka acknowledged", delivered.clone());
    registry.register(
        "vtrack_kafka_delivery_failed",
        "Accepted events Kafka refused for good (logged)",
        failed.clone(),
    );
    async move {
        loop {
            in_flight.set(stats.in_flight.load(Relaxed) as i64);
            delivered.inc_by(stats.delivered.load(Relaxed).saturating_sub(delivered.get()));
            failed.inc_by(stats.failed.load(Relaxed).saturating_sub(failed.get()));
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = crate::shutdown::stopped(&mut stop) => return,
            }
        }
    }
}
