//! Glue between the resolver and ingest: lookups per request, reloads on SIGHUP or a changed source file.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use vtrack_model::config::ResolveConfig;
use vtrack_model::event::CompanyInfo;
use vtrack_resolve::Resolver;

/// The resolver as ingest sees it.
pub struct ResolverLookup {
    resolver: Resolver,
    reloads: Counter,
    reload_failures: Counter,
}

impl ResolverLookup {
    pub fn new(config: ResolveConfig) -> Result<ResolverLookup, vtrack_resolve::ResolveError> {
        Ok(ResolverLookup {
            resolver: Resolver::new(config)?,
            reloads: Counter::default(),
            reload_failures: Counter::default(),
        })
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
        let table = self.resolver.load();
        table.resolve(ip).info.clone()
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
