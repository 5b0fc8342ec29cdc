//! `vtrack serve`: the whole pipeline in one process — ingest, an in-process queue, processing and the
//! embedded SQLite store — and the same code split into roles for `vtrack ingest` and `vtrack process`.
//! `--kafka` swaps the queue for Kafka and `--clickhouse` the store for ClickHouse, each on its own.

use crate::pipeline::{self, ProcessMetrics};
use crate::resolver::ResolverLookup;
use anyhow::{bail, Context};
use ipnetwork::IpNetwork;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use vtrack_ingest::{Ingest, IngestConfig, IngestMetrics, StaticFile};
use vtrack_model::config::{Config, SiteConfig};
use vtrack_store::{ClickHouseStore, ClickHouseUrl, SqliteStore};

/// The tracker script served at `/t.js`, built from `tracker-js/` and checked in.
pub const TRACKER_JS: &[u8] = include_bytes!("../../../../tracker-js/dist/t.js");

/// Flags of `serve`; each has a config-file key. Single values replace the file's, repeated flags add to its lists.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct Args {
    /// TOML config file (see README, "Configuration").
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Where the embedded store lives [default: ./vtrack-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A proxy allowed to set X-Forwarded-For (repeatable).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<IpNetwork>,
    #[command(flatten)]
    pub sources: crate::cmd::sources::SourceArgs,
    /// A snapshot from `vtrack build-db`, instead of the sources.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// A site key allowed to send beacons, from any origin (repeatable; origins go in the config file).
    #[arg(long = "site", value_name = "KEY")]
    pub sites: Vec<String>,
    #[command(flatten)]
    pub backends: BackendArgs,
}

/// Flags that switch the queue to Kafka and the store to ClickHouse (config sections `[kafka]`, `[clickhouse]`).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct BackendArgs {
    /// Kafka bootstrap brokers (host:port,…): carry events over Kafka instead of the in-process queue.
    #[arg(long, value_name = "BROKERS")]
    pub kafka: Option<String>,
    /// Kafka topic [default: vtrack.events].
    #[arg(long, value_name = "NAME")]
    pub topic: Option<String>,
    /// Kafka consumer group of processors [default: vtrack-process].
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// ClickHouse, http://[user[:password]@]host:port[/database]: store there instead of SQLite.
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// Drop whole days of ClickHouse events and sessions older than this (checked hourly).
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<u32>,
}

impl BackendArgs {
    /// Applies the flags over the config file's sections.
    pub fn add_to(&self, config: &mut Config) -> anyhow::Result<()> {
        if let Some(brokers) = &self.kafka {
            config.kafka.get_or_insert_with(Default::default).brokers = brokers.clone();
        }
        if self.topic.is_some() || self.group.is_some() {
            let Some(k) = config.kafka.as_mut() else {
                bail!("--topic and --group need --kafka (or a [kafka] section in the config file)");
            };
            if let Some(t) = &self.topic {
                k.topic = t.clone();
            }
            if let Some(g) = &self.group {
                k.group = g.clone();
            }
        }
        if let Some(url) = &self.clickhouse {
            config.clickhouse.get_or_insert_with(Default::default).url = url.clone();
        }
        if let Some(days) = self.retention_days {
            let Some(c) = config.clickhouse.as_mut() else {
                bail!("--retention-days applies to ClickHouse: add --clickhouse URL");
            };
            c.retention_days = days;
        }
        Ok(())
    }
}

impl Args {
    /// The config file (if any) with these flags applied on top.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.server.data_dir = dir.clone();
        }
        config.server.trusted_proxies.extend(self.trusted_proxies.iter().copied());
        self.sources.add_to(&mut config.resolve);
        if self.db.is_some() {
            config.resolve.db = self.db.clone();
        }
        self.backends.add_to(&mut config)?;
        for key in &self.sites {
            if !config.sites.iter().any(|s| &s.key == key) {
                config.sites.push(SiteConfig { key: key.clone(), origins: Vec::new() });
            }
        }
        config.check()?;
        Ok(config)
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.to_config()?;
    runtime()?.block_on(serve(config, Roles::ALL, HashMap::new(), None, shutdown_signal()))
}

/// Which parts of the pipeline a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub ingest: bool,
    pub process: bool,
}

impl Roles {
    pub const ALL: Roles = Roles { ingest: true, process: true };
    pub const INGEST: Roles = Roles { ingest: true, process: false };
    pub const PROCESS: Roles = Roles { ingest: false, process: true };
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing requests, then draining the queue into the store");
}

/// Runs the `roles` until `shutdown`, then drains. `ready` gets the bound address once it serves.
pub async fn serve(
    config: Config,
    roles: Roles,
    static_files: HashMap<String, StaticFile>,
    ready: Option<oneshot::Sender<SocketAddr>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if roles.ingest && config.sites.is_empty() {
        bail!("no site is configured, so every beacon would be refused: pass --site KEY or add [[sites]] to the config file");
    }
    if roles != Roles::ALL && config.kafka.is_none() {
        bail!("`vtrack ingest` and `vtrack process` meet at Kafka: pass --kafka BROKERS (or use `vtrack serve`)");
    }
    let mut registry = prometheus_client::registry::Registry::default();

    // The bus: the in-process queue, or Kafka.
    let (publisher, subscriber) = match &config.kafka {
        None => {
            let (p, s) = vtrack_bus::memory::channel(config.server.queue_capacity);
            (Some(p), Some(s))
        }
        Some(k) => {
            let publisher = if roles.ingest {
                Some(vtrack_bus::kafka::publisher(&vtrack_bus::kafka::ProducerOptions {
                    brokers: k.brokers.clone(),
                    topic: k.topic.clone(),
                    max_in_flight: k.max_in_flight,
                })?)
            } else {
                None
            };
            let subscriber = if roles.process {
                Some(vtrack_bus::kafka::subscriber(&vtrack_bus::kafka::ConsumerOptions {
                    brokers: k.brokers.clone(),
                    topic: k.topic.clone(),
                    group: k.group.clone(),
                })?)
            } else {
                None
            };
            (publisher, subscriber)
        }
    };

    // Processing and webhook delivery.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut where_stored = String::from("none (ingest only)");
    if let Some(subscriber) = subscriber {
        let process_metrics = ProcessMetrics::register(&mut registry);
        let wake = Arc::new(tokio::sync::Notify::new());
        let rules = pipeline::Rules::from_config(&config, wake.clone());
        let owned = subscriber.owned_partitions();
        let (mut sink, outbox) = open_store(&config, owned).await?;
        where_stored = match &sink {
            pipeline::Sink::Sqlite(_) => format!("sqlite in {}", config.server.data_dir.display()),
            pipeline::Sink::ClickHouse(c) => format!("clickhouse at {} ({})", c.url().endpoint, c.url().database),
        };
        warn_if_scoring_changed(&mut sink, &rules).await?;
        if let (pipeline::Sink::ClickHouse(store), Some(ch)) = (&sink, &config.clickhouse) {
            if ch.retention_days > 0 {
                tasks.push((
                    "retention",
                    tokio::spawn(crate::retention::run((**store).clone(), ch.retention_days, stop_rx.clone())),
                ));
            }
        }
        tasks.push((
            "processing",
            tokio::spawn(pipeline::run(subscriber, sink, rules, process_metrics, stop_rx.clone())),
        ));
        if !config.alerts.webhooks.is_empty() {
            let sender = vtrack_alert::Sender::new().context("cannot set up the webhook client")?;
            let hooks = config.alerts.webhooks.clone();
            let opts = vtrack_alert::DeliveryOptions::default();
            let stop = stop_rx.clone();
            let task = match outbox {
                Outbox::Sqlite(o) => tokio::spawn(vtrack_alert::run_deliveries(o, hooks, sender, opts, wake, stop)),
                Outbox::ClickHouse(o) => {
                    tokio::spawn(vtrack_alert::run_deliveries(*o, hooks, sender, opts, wake, stop))
                }
            };
            tasks.push(("webhook delivery", task));
        }
    }

    // Ingest, or just /healthz and /metrics for a processor.
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    let mut reloader = None;
    let kafka_producer = match &publisher {
        Some(vtrack_bus::Publisher::Kafka(p)) => Some(p.clone()),
        _ => None,
    };
    if let Some(p) = &kafka_producer {
        tasks.push(("kafka metrics", tokio::spawn(kafka_metrics(p.stats().clone(), &mut registry, stop_rx.clone()))));
    }
    if let (true, Some(publisher)) = (roles.ingest, publisher) {
        let resolver =
            Arc::new(ResolverLookup::new(config.resolve.clone()).context("cannot load the IP → company sources")?);
        let ingest_metrics = IngestMetrics::register(&mut registry);
        resolver.register_metrics(&mut registry);
        let ingest = Arc::new(Ingest::new(
            IngestConfig {
                sites: config.sites.clone(),
                trusted_proxies: config.server.trusted_proxies.clone(),
                body_limit: config.server.body_limit,
                client_clock_window: config.server.client_clock_window,
                tracker_js: bytes::Bytes::from_static(TRACKER_JS),
                static_files,
                // An ingest-only process is the public edge and holds no store: `vtrack api` serves the dashboard.
                extra: if roles.process { Some(dashboard(&config).await?) } else { None },
            },
            publisher,
            resolver.clone(),
            ingest_metrics,
            Arc::new(registry),
        ));
        reloader = Some(tokio::spawn(crate::resolver::watch(resolver, Duration::from_secs(5), stop_rx)));
        let bus = match &config.kafka {
            Some(k) => format!("kafka {} topic {}", k.brokers, k.topic),
            None => "in-process queue".into(),
        };
        tracing::info!(%addr, %bus, store = %where_stored, "vtrack ingest: beacons at http://{addr}/v1/events, script at http://{addr}/t.js");
        if let Some(ready) = ready {
            let _ = ready.send(addr);
        }
        vtrack_ingest::serve(listener, ingest, shutdown).await;
    } else {
        tracing::info!(%addr, store = %where_stored, "vtrack process: metrics at http://{addr}/metrics");
        if let Some(ready) = ready {
            let _ = ready.send(addr);
        }
        crate::status_http::serve(listener, Arc::new(registry), None, shutdown).await;
    }

    // Drain: what ingest accepted reaches the bus, then processing finishes what it holds.
    if let Some(p) = kafka_producer {
        let left = tokio::task::spawn_blocking(move || p.close_and_flush(KAFKA_FLUSH))
            .await
            .context("the Kafka flush task failed")?;
        if left > 0 {
            tracing::error!(undelivered = left, "kafka: events accepted but not delivered before shutdown");
        }
    }
    let _ = stop_tx.send(true);
    for (name, task) in tasks {
        task.await.with_context(|| format!("the {name} task failed"))?;
    }
    if let Some(r) = reloader {
        r.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Mirrors the producer's counters into `/metrics` once a second, until `stop`.
fn kafka_metrics(
    stats: Arc<vtrack_bus::kafka::ProducerStats>,
    registry: &mut prometheus_client::registry::Registry,
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
                () = crate::resolver::stopped(&mut stop) => return,
            }
        }
    }
}

/// The dashboard and API, reading the configured store (SQLite or ClickHouse).
pub async fn dashboard(config: &Config) -> anyhow::Result<Arc<dyn vtrack_ingest::ExtraRoutes>> {
    Ok(match &config.clickhouse {
        Some(c) => dashboard_over(open_clickhouse(c).await?, config),
        None => dashboard_over(vtrack_store::dashboard::SqliteDashboard::new(open_sqlite(config)?), config),
    })
}

/// The dashboard and API over one store's reads.
fn dashboard_over<R: vtrack_store::dashboard::DashboardReads + 'static>(
    reads: R,
    config: &Config,
) -> Arc<dyn vtrack_ingest::ExtraRoutes> {
    let loopback = config.server.listen.ip().is_loopback();
    let access = vtrack_api::auth::Access::new(config.dashboard.token.clone(), loopback);
    if matches!(access, vtrack_api::auth::Access::Closed) {
        tracing::warn!(
            "dashboard: closed, because [dashboard] token is not set and the listen address is not loopback"
        );
    }
    let sites = config.sites.iter().map(|s| s.key.clone()).collect();
    let stages = std::iter::once(config.scoring.base_stage.clone())
        .chain(config.scoring.stages_ascending().into_iter().map(|(name, _)| name))
        .collect();
    Arc::new(vtrack_api::Dashboard::new(reads, access, sites, stages))
}

/// How long a stopping ingest waits for Kafka to take what it accepted.
const KAFKA_FLUSH: Duration = Duration::from_secs(30);

/// The webhook outbox that goes with the store.
enum Outbox {
    Sqlite(crate::alerts::StoreOutbox),
    ClickHouse(Box<crate::alerts::ClickHouseOutbox>),
}

/// Opens the configured store for processing, and a second handle on it as the webhook outbox.
async fn open_store(
    config: &Config,
    owned: Option<vtrack_bus::kafka::OwnedPartitions>,
) -> anyhow::Result<(pipeline::Sink, Outbox)> {
    match &config.clickhouse {
        None => Ok((
            pipeline::Sink::Sqlite(open_sqlite(config)?),
            Outbox::Sqlite(crate::alerts::StoreOutbox(open_sqlite(config)?)),
        )),
        Some(c) => {
            let store = open_clickhouse(c).await?;
            let outbox = crate::alerts::ClickHouseOutbox::new(store.clone(), owned);
            Ok((pipeline::Sink::ClickHouse(Box::new(store)), Outbox::ClickHouse(Box::new(outbox))))
        }
    }
}

/// Says so when accounts in the store were scored with another scoring config than this one: processing
/// recomputes each from its history when it next gets events; `vtrack rescore` does them all at once.
async fn warn_if_scoring_changed(sink: &mut pipeline::Sink, rules: &pipeline::Rules) -> anyhow::Result<()> {
    let fingerprint = rules.batch.scorer.fingerprint();
    let stale = sink.accounts_scored_otherwise(fingerprint).await.context("cannot read the accounts' scoring")?;
    if stale > 0 {
        tracing::warn!(
            accounts = stale,
            scoring = fingerprint,
            "the scoring config changed since these accounts were scored: each is rescored from its history \
             when it next gets events; run `vtrack rescore` to rescore them all now"
        );
    }
    Ok(())
}

/// Opens (creating and migrating as needed) the embedded store in the data directory.
fn open_sqlite(config: &Config) -> anyhow::Result<SqliteStore> {
    let dir = &config.server.data_dir;
    SqliteStore::open(dir).with_context(|| format!("cannot open the store in {}", dir.display()))
}

/// Connects to ClickHouse and checks that `vtrack migrate` has brought its schema up to date.
async fn open_clickhouse(c: &vtrack_model::config::ClickHouseConfig) -> anyhow::Result<ClickHouseStore> {
    let url: ClickHouseUrl = c.url.parse()?;
    let store = ClickHouseStore::new(&url);
    store
        .check_schema()
        .await
        .with_context(|| format!("ClickHouse at {} is not ready", vtrack_store::clickhouse::redact(&c.url)))?;
    Ok(store)
}
