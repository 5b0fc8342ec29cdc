//! Glue between ingest, the enrichment stage and the learned layer: what reverse DNS learns is swapped into
//! the resolver (so the next request from that network resolves in memory) and kept in the store (so a
//! restart, and every other ingest process, answers it too).
//!
//! Where learned ranges are kept: ClickHouse when `[clickhouse]` is set (every `ingest` reads what any of
//! them learned, every [`RELOAD_EVERY`]); the embedded SQLite store when this process holds it (`serve`);
//! else only this process's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnetwork::IpNetwork;
use prometheus_client::registry::Registry;
use tokio::sync::{watch, Notify};
use vtrack_bus::Publisher;
use vtrack_enrich::{Bootstrap, Dns, Enricher, Learn, Lookups, NetworkPtr, Rdap, StageConfig, Visits};
use vtrack_model::time::now_ms;
use vtrack_model::{Config, LearnedRange};
use vtrack_process::NetworkFinding;
use vtrack_resolve::{LearnedLayer, Resolver};
use vtrack_store::Learned as LearnedStore;

use crate::wiring::drain::Tasks;

/// How often learned ranges are read back from the store: what other processes learned, and expiries.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// Findings that arrive together are swapped in together: one rebuild per this much time at most.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// The ranges this process knows, and the ones not yet swapped in or stored.
pub struct LearnedRanges {
    resolver: Arc<Resolver>,
    /// Learned ranges the resolver answers from memory now.
    in_memory: prometheus_client::metrics::gauge::Gauge,
    known: Mutex<HashMap<IpNetwork, LearnedRange>>,
    fresh: Mutex<Vec<(LearnedRange, Visits)>>,
    wake: Notify,
    /// Where the visits that were under way when a range was learned are told of it.
    publisher: Publisher,
    /// Where what a network's own PTR names showed goes.
    networks: Arc<crate::evidence::Keeper>,
}

impl Learn for LearnedRanges {
    fn learned(&self, range: LearnedRange, visits: Visits) {
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.push((range, visits));
        }
        self.wake.notify_one();
    }

    fn network(&self, found: NetworkPtr) {
        self.networks.found(found);
    }
}

impl LearnedRanges {
    /// Merges `ranges` into what is known (a later finding for a network replaces the earlier) and swaps
    /// the rebuilt layer into the resolver.
    fn merge_and_swap(&self, ranges: &[LearnedRange]) {
        let now = now_ms();
        let layer = {
            let Ok(mut known) = self.known.lock() else { return };
            for r in ranges {
                let newer = known.get(&r.network).is_none_or(|old| old.found_ms <= r.found_ms);
                if newer {
                    known.insert(r.network, r.clone());
                }
            }
            known.retain(|_, r| r.expires_ms > now);
            LearnedLayer::build(known.values(), now)
        };
        tracing::debug!(ranges = layer.len(), "learned layer swapped in");
        self.in_memory.set(layer.len() as i64);
        self.resolver.set_learned(layer);
    }

    /// Tells processing, through the bus, of the visits that were under way on the learned addresses: their
    /// events from then on count for the organisation, the first page view included.
    async fn publish_findings(&self, visits: &[Visits]) {
        let events: Vec<_> = visits
            .iter()
            .flat_map(|v| {
                v.visitors.iter().map(|(site, visitor, since)| {
                    NetworkFinding::event(site, visitor, *since, &v.network_key, v.company.clone())
                })
            })
            .collect();
        if events.is_empty() {
            return;
        }
        if let Err(e) = self.publisher.publish_all(events).await {
            tracing::warn!(error = %e, "enrichment: cannot tell processing of the visits under way; later visits still count");
        }
    }
}

/// Starts reverse DNS beside ingest when `[enrich] rdns` is on: returns the stage ingest offers addresses
/// to. Learned ranges already in `store` are loaded first.
pub async fn start(
    config: &Config,
    resolver: Arc<Resolver>,
    store: Option<LearnedStore>,
    publisher: Publisher,
    networks: Arc<crate::evidence::Keeper>,
    registry: &mut Registry,
    tasks: &mut Tasks,
) -> anyhow::Result<Option<Arc<Enricher>>> {
    let cfg = &config.enrich;
    let Some(lookups) = lookups(cfg)? else {
        tracing::info!("enrichment: off ([enrich] rdns = false, rdap = false)");
        return Ok(None);
    };
    let ranges = Arc::new(LearnedRanges {
        resolver,
        in_memory: Default::default(),
        known: Mutex::new(HashMap::new()),
        fresh: Mutex::new(Vec::new()),
        wake: Notify::new(),
        publisher,
        networks,
    });
    if let Some(store) = &store {
        match store.load(now_ms()).await {
            Ok(loaded) => {
                tracing::info!(ranges = loaded.len(), "enrichment: learned ranges loaded");
                swap_in(&ranges, loaded).await;
            }
            Err(e) => tracing::warn!(error = %e, "enrichment: cannot read learned ranges; starting without them"),
        }
    }
    let enricher = Enricher::start(StageConfig::from(cfg), lookups, ranges.clone());
    enricher.register_metrics(registry);
    registry.register(
        "vtrack_enrich_ranges",
        "Learned ranges the resolver answers from memory",
        ranges.in_memory.clone(),
    );
    tasks.spawn_aborted(keep(ranges, store, tasks.stop()));
    Ok(Some(enricher))
}

/// The lookups `[enrich]` turns on, each announced in the log; `None` when none is.
pub fn lookups(cfg: &vtrack_model::config::EnrichConfig) -> anyhow::Result<Option<Lookups>> {
    let mut lookups = Lookups::default();
    if cfg.rdns {
        lookups.dns = Some(Dns::new(&cfg.dns_servers, cfg.timeout)?);
        let servers = if cfg.dns_servers.is_empty() {
            "the system's".to_string()
        } else {
            cfg.dns_servers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        };
        tracing::info!(dns = %servers, "enrichment: reverse DNS on (forward-confirmed PTR names)");
    }
    if cfg.rdap {
        let bootstrap = match &cfg.rdap_server {
            Some(url) => Bootstrap::single(url)?,
            None => Bootstrap::iana()?,
        };
        lookups.rdap = Some(Arc::new(Rdap::new(bootstrap, cfg.rdap_timeout)?));
        tracing::warn!(
            "enrichment: RDAP on. ARIN's and RIPE's terms of use forbid using their registry data for marketing; \
             check each registry's terms before you use what it returns"
        );
    } else if cfg.rdap_server.is_some() {
        anyhow::bail!(
            "[enrich] rdap_server (--rdap-server) is set but RDAP is off: turn it on with rdap = true (--rdap)"
        );
    }
    Ok((lookups.dns.is_some() || lookups.rdap.is_some()).then_some(lookups))
}

/// Merges `found` and swaps the rebuilt layer in on a blocking thread: a rebuild with a million ranges
/// takes a good part of a second (the `learned_layer` benchmark), which no runtime thread should spend.
async fn swap_in(ranges: &Arc<LearnedRanges>, found: Vec<LearnedRange>) -> Vec<LearnedRange> {
    let ranges = ranges.clone();
    tokio::task::spawn_blocking(move || {
        ranges.merge_and_swap(&found);
        found
    })
    .await
    .unwrap_or_default()
}

/// Swaps findings in as they come, stores them, and reads back what other processes stored.
async fn keep(ranges: Arc<LearnedRanges>, store: Option<LearnedStore>, mut stop: watch::Receiver<bool>) {
    let mut reload = tokio::time::interval(RELOAD_EVERY);
    reload.tick().await;
    loop {
        tokio::select! {
            () = ranges.wake.notified() => {
                tokio::time::sleep(DEBOUNCE).await;
                let fresh = ranges.fresh.lock().map(|mut f| std::mem::take(&mut *f)).unwrap_or_default();
                let (found, visits): (Vec<LearnedRange>, Vec<Visits>) = fresh.into_iter().unzip();
                let found = swap_in(&ranges, found).await;
                ranges.publish_findings(&visits).await;
                if let Some(store) = &store {
                    if let Err(e) = store.save(found).await {
                        tracing::warn!(error = %e, "enrichment: cannot store learned ranges; they stay in memory");
                    }
                }
            }
            _ = reload.tick() => {
                if let Some(store) = &store {
                    match store.load(now_ms()).await {
                        Ok(loaded) => {
                            swap_in(&ranges, loaded).await;
                        }
                        Err(e) => tracing::warn!(error = %e, "enrichment: cannot read learned ranges"),
                    }
                }
            }
            () = crate::shutdown::stopped(&mut stop) => return,
        }
    }
}
