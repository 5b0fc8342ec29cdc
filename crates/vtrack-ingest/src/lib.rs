//! Ingest: the public edge of vtrack.
//!
//! It answers fast and honestly: 202 once the bus has taken the events, 4xx with a reason a developer can
//! act on, 503 with `Retry-After` when processing is behind. Everything it needs per request — the site
//! list, the company lookup — is in memory; it never waits on storage. It serves through the shared edge
//! (`vtrack_edge`): connections, limits and the client address (found once, at the connection, through the
//! trusted proxies) are the edge's; the beacon routes are ingest's own.

pub mod bot;
pub mod metrics;
mod routes;
mod server_api;

pub use metrics::IngestMetrics;

use bytes::Bytes;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use vtrack_bus::Publisher;
use vtrack_edge::{conn, limit, ExtraRoutes, Health};
use vtrack_model::config::{Config, LimitsConfig, SiteConfig};
use vtrack_model::event::CompanyInfo;

/// Resolves a client address to the organisation behind it; must not block (it runs per request).
pub trait CompanyLookup: Send + Sync + 'static {
    fn company(&self, ip: IpAddr) -> CompanyInfo;

    /// Told of each accepted event: its address, what [`CompanyLookup::company`] answered, its visitor and
    /// time. Enrichment looks up addresses the answer names no organisation for, and remembers their
    /// visitors meanwhile. Must not block.
    fn seen(&self, _ip: IpAddr, _company: &CompanyInfo, _site: &str, _visitor_id: &str, _ts_ms: i64) {}
}

/// A file served as it is (the tracker, demo pages).
#[derive(Clone, Debug)]
pub struct StaticFile {
    pub content_type: &'static str,
    pub body: Bytes,
}

/// Everything ingest is told at start.
pub struct IngestConfig {
    pub sites: Vec<SiteConfig>,
    pub body_limit: usize,
    pub client_clock_window: Duration,
    /// Served at `GET /t.js`.
    pub tracker_js: Bytes,
    /// Extra files by exact path (e.g. `/demo/pricing`).
    pub static_files: HashMap<String, StaticFile>,
    /// The dashboard and API, when this process serves them.
    pub extra: Option<Arc<dyn ExtraRoutes>>,
    /// What the other parts of the process report for `/healthz`.
    pub health: Health,
    /// Timeouts, the connection bound and the trusted proxies of the port.
    pub conn: conn::ConnLimits,
    /// Rate limits per address and per site.
    pub limits: LimitsConfig,
    /// Keep events whose tracker reported automation (`[server] keep_automated`, for browser tests only).
    pub keep_automated: bool,
}

impl IngestConfig {
    /// Ingest's part of the config file (`[server]` and `[[sites]]`), serving `tracker_js` and nothing else.
    pub fn from_config(config: &Config, tracker_js: Bytes) -> IngestConfig {
        IngestConfig {
            sites: config.sites.clone(),
            body_limit: config.server.body_limit,
            client_clock_window: config.server.client_clock_window,
            tracker_js,
            static_files: HashMap::new(),
            extra: None,
            health: Health::default(),
            conn: conn::ConnLimits::from_config(&config.server, &config.limits),
            limits: config.limits.clone(),
            keep_automated: config.server.keep_automated,
        }
    }
}

/// Shared, read-only state of every connection.
pub struct Ingest {
    sites: HashMap<String, SiteConfig>,
    /// When any site accepts every origin, a preflight cannot refuse one (it does not know the site yet).
    any_origin: bool,
    body_limit: usize,
    clock_window_ms: i64,
    tracker_js: Bytes,
    static_files: HashMap<String, StaticFile>,
    extra: Option<Arc<dyn ExtraRoutes>>,
    health: Health,
    publisher: Publisher,
    companies: Arc<dyn CompanyLookup>,
    metrics: IngestMetrics,
    registry: Arc<Registry>,
    /// Keys the daily visitor id of cookieless visits; random per process so ids cannot be reversed.
    cookieless_key: std::hash::RandomState,
    conn: conn::ConnLimits,
    /// Beacon requests per client address (keyed by [`limit::AddressKey`]).
    per_address: limit::Buckets<u64>,
    address_key: limit::AddressKey,
    /// Events per site.
    per_site: limit::Buckets<String>,
    /// Server-side API events per secret.
    per_secret: limit::Buckets<server_api::SecretKey>,
    keep_automated: bool,
}

impl Ingest {
    pub fn new(
        config: IngestConfig,
        publisher: Publisher,
        companies: Arc<dyn CompanyLookup>,
        metrics: IngestMetrics,
        registry: Arc<Registry>,
    ) -> Ingest {
        let any_origin = config.sites.iter().any(|s| s.origins.is_empty());
        if config.keep_automated {
            tracing::warn!("server.keep_automated is on: events from automated browsers are kept (for tests only)");
        }
        Ingest {
            sites: config.sites.into_iter().map(|s| (s.key.clone(), s)).collect(),
            any_origin,
            body_limit: config.body_limit,
            clock_window_ms: config.client_clock_window.as_millis().min(i64::MAX as u128) as i64,
            tracker_js: config.tracker_js,
            static_files: config.static_files,
            extra: config.extra,
            health: config.health,
            publisher,
            companies,
            metrics,
            registry,
            cookieless_key: std::hash::RandomState::new(),
            conn: config.conn,
            per_address: limit::Buckets::new(config.limits.per_address),
            address_key: limit::AddressKey::default(),
            per_site: limit::Buckets::new(config.limits.per_site),
            per_secret: limit::Buckets::new(config.limits.per_secret),
            keep_automated: config.keep_automated,
        }
    }
}

pub use vtrack_edge::SHUTDOWN_GRACE;

/// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish (up to
/// [`SHUTDOWN_GRACE`]) and returns. Once it returns and `ingest` is dropped, the bus has no publisher left.
pub async fn serve(listener: TcpListener, ingest: Arc<Ingest>, shutdown: impl Future<Output = ()>) {
    let limits = ingest.conn.clone();
    let metrics = ingest.metrics.conn.clone();
    let handler = move |client, req| {
        let ingest = ingest.clone();
        async move { routes::handle(&ingest, client, req).await }
    };
    conn::serve(listener, limits, metrics, handler, shutdown).await;
}
