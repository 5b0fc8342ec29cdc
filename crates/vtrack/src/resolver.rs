//! Glue between the resolver and ingest: which sources a process uses, lookups per request, reloads on
//! SIGHUP or a changed source file.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use vtrack_model::config::ResolveConfig;
use vtrack_model::event::CompanyInfo;
use vtrack_model::Config;
use vtrack_resolve::Resolver;

/// The resolver as ingest sees it, and the enrichment stage it offers ISP addresses to.
pub struct ResolverLookup {
    resolver: Arc<Resolver>,
    enricher: std::sync::OnceLock<Arc<vtrack_enrich::Enricher>>,
    reloads: Counter,
    reload_failures: Counter,
}

/// The sources a process resolves with: the configured ones, else the snapshot `vtrack data update` keeps
/// in the data dir (`data_snapshot` is then its path).
#[derive(Debug, Clone)]
pub struct Plan {
    pub cfg: ResolveConfig,
    pub data_snapshot: Option<PathBuf>,
}

impl Plan {
    /// Sources named in the config file or by flags win; without any, the data dir's snapshot is used, and
    /// waited for when it is not there yet. Logs which, and how to get data when there is none.
    pub fn new(config: &Config) -> Plan {
        let data_dir = &config.server.data_dir;
        if config.resolve.has_source() {
            if config.resolve.auto_update.is_some() {
                tracing::warn!(
                    "[resolve] auto_update keeps {} up to date, but this process resolves with the sources it was \
                     given; drop them (or point --db at that file) to use the updated data",
                    vtrack_data::snapshot_path(data_dir).display()
                );
            }
            return Plan { cfg: config.resolve.clone(), data_snapshot: None };
        }
        let snapshot = vtrack_data::snapshot_path(data_dir);
        if snapshot.is_file() {
            let credit = vtrack_data::Attribution::read(&vtrack_data::attribution_path(data_dir))
                .ok()
                .flatten()
                .map(|a| a.text())
                .unwrap_or_default();
            tracing::info!(snapshot = %snapshot.display(), "IP data from `vtrack data update`. {credit}");
        } else if config.resolve.auto_update.is_some() {
            tracing::warn!(
                "no IP data yet: every visitor resolves as unknown until [resolve] auto_update, starting now, has \
                 fetched it into {}",
                snapshot.display()
            );
        } else {
            tracing::warn!(
                "no IP data: every visitor resolves as unknown. Run `vtrack data update --data-dir {}` to fetch the \
                 free AS and country data (this process picks it up), or set [resolve] auto_update = \"7d\", or \
                 pass --asn-csv, --mmdb, --companies or --db",
                data_dir.display()
            );
        }
        let cfg = ResolveConfig { db: Some(snapshot.clone()), ..config.resolve.clone() };
        Plan { cfg, data_snapshot: Some(snapshot) }
    }
}

impl ResolverLookup {
    /// Builds the table. The data dir's snapshot may be absent: the lookup then answers "unknown" until it
    /// appears, and [`watch`] loads it.
    pub fn new(plan: &Plan) -> Result<ResolverLookup, vtrack_resolve::ResolveError> {
        let resolver = match &plan.data_snapshot {
            Some(path) if !path.exists() => Resolver::pending(plan.cfg.clone()),
            _ => Resolver::new(plan.cfg.clone())?,
        };
        Ok(ResolverLookup {
            resolver: Arc::new(resolver),
            enricher: std::sync::OnceLock::new(),
            reloads: Counter::default(),
            reload_failures: Counter::default(),
        })
    }

    /// The resolver, for the enrichment stage to swap its learned layer into.
    pub fn resolver(&self) -> Arc<Resolver> {
        self.resolver.clone()
    }

    /// From now on, addresses the hot path cannot name an organisation for are offered to `enricher`.
    pub fn enrich_with(&self, enricher: Arc<vtrack_enrich::Enricher>) {
        let _ = self.enricher.set(enricher);
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "vtrack_resolver_reloads",
            "Successful reloads of the IP → company table",
            self.reloads.clone(),
        );
        registry.register(
            "vtrack_resolver_reload_failures",
            "Reloads that failed (the previous table stays in use)",
            self.reload_failures.clone(),
        );
    }

    fn reload(&self, why: &str) {
        match self.resolver.reload() {
            Ok(()) => {
                self.reloads.inc();
                tracing::info!(why, "IP → company table reloaded");
            }
            Err(e) => {
                self.reload_failures.inc();
                tracing::error!(why, error = %e, "reload failed; keeping the previous table");
            }
        }
    }
}

impl vtrack_ingest::CompanyLookup for ResolverLookup {
    fn company(&self, ip: IpAddr) -> CompanyInfo {
        self.resolver.company(ip)
    }

    fn seen(&self, ip: IpAddr, company: &CompanyInfo, site: &str, visitor_id: &str, ts_ms: i64) {
        if let Some(enricher) = self.enricher.get() {
            enricher.offer(ip, company, site, visitor_id, ts_ms);
        }
    }
}

/// Reloads on SIGHUP and when a source file changes (polled every `every`), until `stop` turns true.
pub async fn watch(lookup: Arc<ResolverLookup>, every: Duration, mut stop: watch::Receiver<bool>) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(every);
    loop {
        #[cfg(unix)]
        let hup_recv = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup_recv = std::future::pending::<()>();
        tokio::select! {
            () = hup_recv => {
                let l = lookup.clone();
                let _ = tokio::task::spawn_blocking(move || l.reload("SIGHUP")).await;
            }
            _ = tick.tick() => {
                if lookup.resolver.sources_changed() {
                    let l = lookup.clone();
                    let _ = tokio::task::spawn_blocking(move || l.reload("a source file changed")).await;
                }
            }
            () = crate::shutdown::stopped(&mut stop) => return,
        }
    }
}
