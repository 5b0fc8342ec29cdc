//! Step 3, the edge: the listening port, until shutdown. A process that ingests serves beacons and the
//! tracker there, and the dashboard too when it also holds the store; one that only processes serves
//! `/healthz` and `/metrics`.

use super::drain::Tasks;
use super::{Pieces, Roles};
use crate::resolver::ResolverLookup;
use anyhow::Context;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use vtrack_bus::Publisher;
use vtrack_edge::ExtraRoutes;
use vtrack_ingest::{Ingest, IngestConfig, IngestMetrics, StaticFile};
use vtrack_model::Config;

/// The tracker script served at `/t.js`, built from `tracker-js/` and checked in.
pub const TRACKER_JS: &[u8] = include_bytes!("../../../../tracker-js/dist/t.js");

/// What a caller adds to the edge: more files to serve (the demo's pages), and a channel told the bound
/// address once it serves.
#[derive(Default)]
pub struct Extras {
    pub static_files: HashMap<String, StaticFile>,
    pub ready: Option<oneshot::Sender<SocketAddr>>,
}

/// Serves until `shutdown`, and until requests in flight are answered; hands back the tasks to drain.
/// `store` says where processing stores, for the log.
pub async fn serve(
    config: &Config,
    roles: Roles,
    publisher: Option<Publisher>,
    store: &str,
    pieces: Pieces,
    extras: Extras,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Tasks> {
    let (listener, addr) = bind(config).await?;
    let Pieces { mut registry, health, mut tasks } = pieces;
    match publisher {
        Some(publisher) if roles.ingest => {
            let plan = crate::resolver::Plan::new(config);
            let resolver = Arc::new(ResolverLookup::new(&plan).context("cannot load the IP → company sources")?);
            let ingest_metrics = IngestMetrics::register(&mut registry);
            resolver.register_metrics(&mut registry);
            let learned_store = learned_store(config, roles).await?;
            let keeper = crate::evidence::Keeper::new(resolver.resolver(), config.enrich.learned_ttl, &mut registry);
            let enricher = crate::enrich::start(
                config,
                resolver.resolver(),
                learned_store.clone(),
                publisher.clone(),
                keeper.clone(),
                &mut registry,
                &mut tasks,
            )
            .await?;
            crate::evidence::start(keeper, learned_store, enricher.clone(), &mut tasks).await;
            if let Some(enricher) = enricher {
                resolver.enrich_with(enricher);
            }
            if let Some(every) = config.resolve.auto_update {
                let updater = crate::auto_update::AutoUpdate::new(&config.server.data_dir, every, &mut registry);
                tasks.spawn_aborted(updater.run(tasks.stop()));
            }
            // An ingest-only process is the public edge and holds no store: `vtrack api` serves the dashboard.
            let dashboard =
                if roles.process { Some(dashboard(config, plan.data_snapshot.is_some()).await?) } else { None };
            let ingest = Arc::new(Ingest::new(
                IngestConfig {
                    static_files: extras.static_files,
                    extra: dashboard,
                    health,
                    ..IngestConfig::from_config(config, bytes::Bytes::from_static(TRACKER_JS))
                },
                publisher,
                resolver.clone(),
                ingest_metrics,
                Arc::new(registry),
            ));
            tasks.spawn_aborted(crate::resolver::watch(resolver, Duration::from_secs(5), tasks.stop()));
            let bus = super::bus::describe(config);
            tracing::info!(%addr, %bus, %store, "vtrack ingest: beacons at http://{addr}/v1/events, script at http://{addr}/t.js");
            if let Some(ready) = extras.ready {
                let _ = ready.send(addr);
            }
            vtrack_ingest::serve(listener, ingest, shutdown).await;
        }
        _ => {
            tracing::info!(%addr, %store, "vtrack process: metrics at http://{addr}/metrics");
            if let Some(ready) = extras.ready {
                let _ = ready.send(addr);
            }
            crate::status_http::serve(listener, &config.server, &config.limits, registry, health, None, shutdown).await;
        }
    }
    Ok(tasks)
}

/// Where learned ranges are kept: ClickHouse when configured, the embedded store when this process holds
/// it, else nowhere but memory.
async fn learned_store(config: &Config, roles: Roles) -> anyhow::Result<Option<vtrack_store::Learned>> {
    if config.clickhouse.is_none() && !roles.process {
        return Ok(None);
    }
    Ok(Some(super::store::open(config).await?.learned()?))
}

/// Listens on `[server] listen`; returns the bound address too (the configured port may be 0).
pub async fn bind(config: &Config) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listen = config.server.listen;
    let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    Ok((listener, addr))
}

/// The dashboard and API, reading the configured store (SQLite or ClickHouse). `ip_data` says the resolver
/// uses the data dir's snapshot, whose licences ask for the credit in the footer.
pub async fn dashboard(config: &Config, ip_data: bool) -> anyhow::Result<Arc<dyn ExtraRoutes>> {
    Ok(dashboard_over(super::store::open(config).await?.dashboard()?, config, ip_data))
}

/// The dashboard and API over one store's reads.
fn dashboard_over<R: vtrack_store::dashboard::DashboardReads + 'static>(
    reads: R,
    config: &Config,
    ip_data: bool,
) -> Arc<dyn ExtraRoutes> {
    let loopback = config.server.listen.ip().is_loopback();
    let d = &config.dashboard;
    // Checked at load (`Config::check`): a configured header is a valid name.
    let proxy_header =
        d.proxy_user_header.as_deref().and_then(|h| hyper::header::HeaderName::from_bytes(h.as_bytes()).ok());
    let access = vtrack_api::auth::Access::new(d.token.clone(), &d.users, proxy_header.is_some(), loopback);
    if matches!(access, vtrack_api::auth::Access::Closed) {
        tracing::warn!(
            "dashboard: closed, because no [dashboard] token, users or proxy_user_header is set and the listen \
             address is not loopback"
        );
    }
    let sites = config.sites.iter().map(|s| s.key.clone()).collect();
    let stages = std::iter::once(config.scoring.base_stage.clone())
        .chain(config.scoring.stages_ascending().into_iter().map(|(name, _)| name))
        .collect();
    let public_url = config.dashboard.public_url.as_deref();
    let security =
        vtrack_api::Security {
            sign_in: match proxy_header {
                Some(h) => vtrack_api::auth::SignIn::new(access, d.session_ttl, config.limits.sign_in_failures)
                    .with_proxy(h, &d.users, d.proxy_default_role, &d.proxy_default_sites),
                None => vtrack_api::auth::SignIn::new(access, d.session_ttl, config.limits.sign_in_failures),
            },
            hosts: vtrack_api::guard::Hosts::new(public_url, config.server.listen),
            https: public_url.is_some_and(|u| u.starts_with("https://")),
        };
    let owners = config.owners.iter().map(|o| o.name.clone()).collect();
    let receivers = vtrack_api::ReceiverNames::new(config.receivers().into_iter().map(|r| (r.hook.url, r.name)));
    let mut dashboard =
        vtrack_api::Dashboard::new(reads, security, sites, stages).with_owners(owners).with_receivers(receivers);
    // `Config::check` refused a deadline it cannot apply, so `Err` cannot happen here.
    if let Ok(Some(followup)) = config.sla.followup() {
        let top = config.scoring.stages_ascending().last().map(|(name, _)| name.clone()).unwrap_or_default();
        dashboard = dashboard.with_followup(followup, top);
    }
    if !ip_data {
        return Arc::new(dashboard);
    }
    // Read on each page load, so an update (or the first one) shows without a restart.
    let attribution = vtrack_data::attribution_path(&config.server.data_dir);
    Arc::new(dashboard.with_footer(move || {
        vtrack_data::Attribution::read(&attribution).ok().flatten().map(|a| a.footer_html()).unwrap_or_default()
    }))
}
