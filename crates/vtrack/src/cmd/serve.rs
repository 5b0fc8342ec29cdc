//! `vtrack serve`: the whole pipeline in one process — ingest, an in-process queue, processing and the
//! embedded SQLite store.

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
use vtrack_store::SqliteStore;

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
    runtime()?.block_on(serve(config, HashMap::new(), None, shutdown_signal()))
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

/// Runs everything until `shutdown`, then drains. `ready` gets the bound address once beacons can be sent.
pub async fn serve(
    config: Config,
    static_files: HashMap<String, StaticFile>,
    ready: Option<oneshot::Sender<SocketAddr>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if config.sites.is_empty() {
        bail!("no site is configured, so every beacon would be refused: pass --site KEY or add [[sites]] to the config file");
    }
    let data_dir = config.server.data_dir.clone();
    let store =
        SqliteStore::open(&data_dir).with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
    let resolver =
        Arc::new(ResolverLookup::new(config.resolve.clone()).context("cannot load the IP → company sources")?);

    let mut registry = prometheus_client::registry::Registry::default();
    let ingest_metrics = IngestMetrics::register(&mut registry);
    let process_metrics = ProcessMetrics::register(&mut registry);
    resolver.register_metrics(&mut registry);
    let (publisher, subscriber) = vtrack_bus::memory::channel(config.server.queue_capacity);

    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;

    let ingest = Arc::new(Ingest::new(
        IngestConfig {
            sites: config.sites.clone(),
            trusted_proxies: config.server.trusted_proxies.clone(),
            body_limit: config.server.body_limit,
            client_clock_window: config.server.client_clock_window,
            tracker_js: bytes::Bytes::from_static(TRACKER_JS),
            static_files,
        },
        publisher,
        resolver.clone(),
        ingest_metrics,
        Arc::new(registry),
    ));

    let (stop_tx, stop_rx) = watch::channel(false);
    let wake = Arc::new(tokio::sync::Notify::new());
    let rules = pipeline::Rules::from_config(&config, wake.clone());
    let processor = tokio::spawn(pipeline::run(subscriber, store, rules, process_metrics, stop_rx.clone()));
    let deliveries = if config.alerts.webhooks.is_empty() {
        None
    } else {
        let outbox = crate::alerts::StoreOutbox(SqliteStore::open(&data_dir)?);
        let sender = vtrack_alert::Sender::new().context("cannot set up the webhook client")?;
        Some(tokio::spawn(vtrack_alert::run_deliveries(
            outbox,
            config.alerts.webhooks.clone(),
            sender,
            vtrack_alert::DeliveryOptions::default(),
            wake,
            stop_rx.clone(),
        )))
    };
    let reloader = tokio::spawn(crate::resolver::watch(resolver, Duration::from_secs(5), stop_rx));

    tracing::info!(%addr, data_dir = %data_dir.display(), "vtrack serving: beacons at http://{addr}/v1/events, script at http://{addr}/t.js");
    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }
    vtrack_ingest::serve(listener, ingest, shutdown).await;
    let _ = stop_tx.send(true);
    processor.await.context("the processing task failed")?;
    if let Some(d) = deliveries {
        d.await.context("the webhook delivery task failed")?;
    }
    reloader.abort();
    tracing::info!("stopped");
    Ok(())
}
