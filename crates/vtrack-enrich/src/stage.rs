//! The enrichment stage: a bounded, de-duplicated queue of addresses beside ingest, looked up with bounded
//! concurrency, with every answer cached for as long as it deserves.
//!
//! Ingest calls [`Enricher::offer`] per request; it never waits: the call is a map lookup and, for a new
//! address, a `try_send` (a full queue drops the address and counts it). Workers look addresses up and
//! hand what they learn to a [`Learn`] sink (the resolver's learned layer and the store).
//!
//! The cache decides how soon an address is looked up again:
//! - learned: until the learned range expires (the sink answers from memory meanwhile);
//! - no PTR (NXDOMAIN) or a name the rules refuse: [`StageConfig::negative_ttl`];
//! - a failure (SERVFAIL, REFUSED, timeout): [`StageConfig::retry_after`], doubling per failure up to the
//!   negative TTL, so a broken server is not hammered.
//!
//! Addresses live only in this process's memory, and only as long as their cache entry; they are never
//! logged or stored.
//!
//! An AS organisation's network is looked at once too, when it is first seen ([`crate::network`]): the
//! PTR names of a few addresses of the visitor's block, counted by what they show. Networks are cached by
//! AS number for [`StageConfig::learned_ttl`] (and at most [`MAX_NETWORKS`] of them), and the counts go to
//! the sink, which decides the network's class again with them.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, Semaphore};
use vtrack_model::event::CompanyInfo;
use vtrack_model::LearnedRange;

use crate::network::{self, NetworkPtr};
use crate::reverse_dns::{investigate, worth_a_lookup, Lookups, Outcome};

/// How the stage runs: `[enrich]`'s settings, and the cache rules that are not settings.
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// Addresses waiting for a lookup; beyond it new addresses are dropped (and counted).
    pub queue: usize,
    /// Lookups at once.
    pub concurrency: usize,
    /// How long a learned range answers before it is looked up again.
    pub learned_ttl: Duration,
    /// How long "no PTR" or "no usable name" stands: a day, so an office that adds its PTR is found the
    /// next day, and a home line costs one lookup a day.
    pub negative_ttl: Duration,
    /// The first wait after a failure; doubled per further failure, up to `negative_ttl`.
    pub retry_after: Duration,
    /// Addresses remembered at most; beyond it, expired entries are dropped first, then new ones are not
    /// looked up (and counted as queue drops).
    pub max_cached: usize,
}

impl From<&vtrack_model::config::EnrichConfig> for StageConfig {
    fn from(c: &vtrack_model::config::EnrichConfig) -> StageConfig {
        StageConfig {
            queue: c.queue,
            concurrency: c.concurrency,
            learned_ttl: c.learned_ttl,
            negative_ttl: Duration::from_secs(86_400),
            retry_after: Duration::from_secs(30),
            max_cached: 1_000_000,
        }
    }
}

/// Where learned ranges go: the resolver's learned layer, the store, and the visits waiting for them.
pub trait Learn: Send + Sync + 'static {
    /// Called once per learned range, from a worker task; must not block for long. `visits` are the
    /// visitors seen on the address while it was looked up, and `company` what their events now count for.
    fn learned(&self, range: LearnedRange, visits: Visits);

    /// Called once per network looked at ([`crate::network::look`]), from a worker task; must not block.
    fn network(&self, _found: NetworkPtr) {}
}

/// AS networks remembered at most: beyond it, expired ones are dropped first, then new ones are not
/// looked at (and counted as queue drops).
pub const MAX_NETWORKS: usize = 100_000;

/// What a worker looks up.
enum Job {
    /// An address, for the organisation behind it.
    Address(IpAddr, CompanyInfo),
    /// The network of an address, for what its names show about it.
    Network(IpAddr, CompanyInfo),
}

/// The visitors seen on an address while its lookup ran: their first events went on under the network's
/// name, and count for the learned organisation once it is found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Visits {
    /// The address's account key before (`as<N>`, or empty when unknown).
    pub network_key: String,
    /// The learned organisation with the network's AS number and place.
    pub company: CompanyInfo,
    /// (site, visitor id, time of the visitor's first event seen on the address).
    pub visitors: Vec<(String, String, i64)>,
}

/// Visitors remembered per pending address: a lookup takes seconds, an office's traffic in that time is
/// a handful of people.
const MAX_PENDING_VISITORS: usize = 32;

#[derive(Debug, Clone)]
enum Entry {
    /// Queued or being looked up, with the visitors seen on the address meanwhile.
    Pending(Vec<(String, String, i64)>),
    /// Not looked up again before `until`; `failures` counts consecutive failures (for the backoff).
    Done { until: Instant, failures: u32 },
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// The stage's counters at `/metrics`.
#[derive(Clone, Default)]
struct Metrics {
    offered: Counter,
    cache_hits: Counter,
    queue_drops: Counter,
    lookups: Counter,
    learned: Counter,
    rejected: Family<ReasonLabel, Counter>,
    queued: Gauge,
    networks: Counter,
}

/// The enrichment stage. Cheap to share: clone the `Arc`.
pub struct Enricher {
    cfg: StageConfig,
    cache: DashMap<IpAddr, Entry>,
    /// AS numbers whose network was looked at, until when it is not looked at again.
    networks: DashMap<u32, Instant>,
    /// Reverse DNS is on: networks can be looked at.
    rdns: bool,
    tx: mpsc::Sender<Job>,
    metrics: Metrics,
}

impl Enricher {
    /// Starts the stage's workers on the current tokio runtime; they stop when the enricher is dropped.
    pub fn start(cfg: StageConfig, lookups: Lookups, sink: Arc<dyn Learn>) -> Arc<Enricher> {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let rdns = lookups.dns.is_some();
        let enricher = Arc::new(Enricher {
            cfg,
            cache: DashMap::new(),
            networks: DashMap::new(),
            rdns,
            tx,
            metrics: Metrics::default(),
        });
        tokio::spawn(run(Arc::downgrade(&enricher), rx, lookups, sink));
        enricher
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        let m = &self.metrics;
        let r = registry.sub_registry_with_prefix("vtrack_enrich");
        r.register("offered", "Addresses ingest offered for enrichment (ISP, unknown or AS-only)", m.offered.clone());
        r.register(
            "cache_hits",
            "Offers answered by the cache (pending, learned, negative or backing off)",
            m.cache_hits.clone(),
        );
        r.register("queue_drops", "Addresses dropped because the enrichment queue was full", m.queue_drops.clone());
        r.register("lookups", "Reverse DNS investigations run", m.lookups.clone());
        r.register("learned", "Addresses whose organisation reverse DNS found", m.learned.clone());
        r.register("rejected", "Investigations that found no organisation, by reason", m.rejected.clone());
        r.register("queued", "Addresses waiting for a lookup", m.queued.clone());
        r.register("networks", "AS networks whose addresses' PTR names were looked at", m.networks.clone());
    }

    /// Records that AS `asn`'s network was looked at (by this process or, as the store says, another) and
    /// is not to be looked at again before `until`.
    pub fn network_known(&self, asn: u32, until: Instant) {
        self.networks.insert(asn, until);
    }

    /// Offers the network of `ip` (which resolved to `network`) to be looked at, when it is an AS
    /// organisation's not looked at yet. Never waits.
    fn offer_network(&self, ip: IpAddr, network: &CompanyInfo) {
        if !self.rdns || !network::worth_a_look(network) {
            return;
        }
        let now = Instant::now();
        if self.networks.get(&network.asn).is_some_and(|until| *until > now) {
            return;
        }
        if self.networks.len() >= MAX_NETWORKS {
            self.networks.retain(|_, until| *until > now);
            if self.networks.len() >= MAX_NETWORKS {
                self.metrics.queue_drops.inc();
                return;
            }
        }
        // Only the caller that claims the network queues it.
        let mut claimed = false;
        self.networks
            .entry(network.asn)
            .and_modify(|until| {
                if *until <= now {
                    *until = now + self.cfg.learned_ttl;
                    claimed = true;
                }
            })
            .or_insert_with(|| {
                claimed = true;
                now + self.cfg.learned_ttl
            });
        if !claimed {
            return;
        }
        match self.tx.try_send(Job::Network(ip, network.clone())) {
            Ok(()) => {
                self.metrics.queued.inc();
            }
            Err(_) => {
                self.networks.remove(&network.asn);
                self.metrics.queue_drops.inc();
            }
        }
    }

    /// Offers the address of an event whose organisation the hot path answered with `network`, sent by
    /// `visitor_id` of `site` at `ts_ms`. Never waits: addresses not worth a lookup, or already known to the
    /// cache, return at once. While the address is looked up, its visitors are remembered, so that their
    /// events count for what the lookup finds.
    pub fn offer(&self, ip: IpAddr, network: &CompanyInfo, site: &str, visitor_id: &str, ts_ms: i64) {
        let ip = crate::reverse_dns::host_network(ip).ip();
        self.offer_network(ip, network);
        if worth_a_lookup(network).is_err() {
            return;
        }
        self.metrics.offered.inc();
        let now = Instant::now();
        let note = |visitors: &mut Vec<(String, String, i64)>| {
            let known = visitors.iter().any(|(s, v, _)| s == site && v == visitor_id);
            if !known && visitors.len() < MAX_PENDING_VISITORS {
                visitors.push((site.to_string(), visitor_id.to_string(), ts_ms));
            }
        };
        {
            // The guard is dropped before the entry below is taken (same shard).
            if let Some(mut entry) = self.cache.get_mut(&ip) {
                match &mut *entry {
                    Entry::Pending(visitors) => {
                        note(visitors);
                        self.metrics.cache_hits.inc();
                        return;
                    }
                    Entry::Done { until, .. } if *until > now => {
                        self.metrics.cache_hits.inc();
                        return;
                    }
                    Entry::Done { .. } => {}
                }
            }
        }
        if self.cache.len() >= self.cfg.max_cached {
            self.cache.retain(|_, e| {
                matches!(e, Entry::Pending(_)) || matches!(e, Entry::Done { until, .. } if *until > now)
            });
            if self.cache.len() >= self.cfg.max_cached {
                self.metrics.queue_drops.inc();
                return;
            }
        }
        // Only the caller that turns the entry into `Pending` queues the address.
        let mut queued_here = false;
        let first = || vec![(site.to_string(), visitor_id.to_string(), ts_ms)];
        self.cache
            .entry(ip)
            .and_modify(|e| match e {
                Entry::Done { until, .. } if *until <= now => {
                    *e = Entry::Pending(first());
                    queued_here = true;
                }
                Entry::Pending(visitors) => note(visitors),
                Entry::Done { .. } => {}
            })
            .or_insert_with(|| {
                queued_here = true;
                Entry::Pending(first())
            });
        if !queued_here {
            self.metrics.cache_hits.inc();
            return;
        }
        match self.tx.try_send(Job::Address(ip, network.clone())) {
            Ok(()) => {
                self.metrics.queued.inc();
            }
            Err(_) => {
                self.cache.remove(&ip);
                self.metrics.queue_drops.inc();
            }
        }
    }

    /// The visitors seen on `ip` while it was pending.
    fn pending_visitors(&self, ip: IpAddr) -> Vec<(String, String, i64)> {
        match self.cache.get(&ip).map(|e| e.clone()) {
            Some(Entry::Pending(v)) => v,
            _ => Vec::new(),
        }
    }

    fn settle(&self, ip: IpAddr, outcome: &Outcome) {
        let now = Instant::now();
        let failures = match self.cache.get(&ip).map(|e| e.clone()) {
            Some(Entry::Done { failures, .. }) => failures,
            _ => 0,
        };
        let entry = match outcome {
            Outcome::Learned(_) => Entry::Done { until: now + self.cfg.learned_ttl, failures: 0 },
            Outcome::NotFound | Outcome::Refused(_) => Entry::Done { until: now + self.cfg.negative_ttl, failures: 0 },
            Outcome::Failed(_) | Outcome::RdapFailed(_) => {
                let wait = self.cfg.retry_after.saturating_mul(1 << failures.min(16)).min(self.cfg.negative_ttl);
                Entry::Done { until: now + wait, failures: failures.saturating_add(1) }
            }
        };
        self.cache.insert(ip, entry);
    }
}

async fn run(enricher: std::sync::Weak<Enricher>, mut rx: mpsc::Receiver<Job>, lookups: Lookups, sink: Arc<dyn Learn>) {
    let limit = Arc::new(Semaphore::new(enricher.upgrade().map(|e| e.cfg.concurrency.max(1)).unwrap_or(1)));
    while let Some(job) = rx.recv().await {
        let Ok(permit) = limit.clone().acquire_owned().await else { return };
        let Some(e) = enricher.upgrade() else { return };
        e.metrics.queued.dec();
        let (lookups, sink) = (lookups.clone(), sink.clone());
        let (ip, network) = match job {
            Job::Address(ip, network) => (ip, network),
            Job::Network(ip, network) => {
                let Some(dns) = lookups.dns.clone() else { continue };
                tokio::spawn(async move {
                    let _permit = permit;
                    e.metrics.networks.inc();
                    let found = network::look(&dns, ip, &network).await;
                    tracing::debug!(asn = found.asn, ptr = ?found.ptr, domain = %found.domain, "a network's PTR names looked at");
                    sink.network(found);
                });
                continue;
            }
        };
        tokio::spawn(async move {
            let _permit = permit;
            e.metrics.lookups.inc();
            let now_ms = vtrack_model::time::now_ms();
            let finding = investigate(&lookups, ip, &network, now_ms, e.cfg.learned_ttl).await;
            let reason = match &finding.outcome {
                Outcome::Learned(range) => {
                    e.metrics.learned.inc();
                    tracing::debug!(domain = %range.company_domain, evidence = %range.evidence, "reverse DNS found an organisation");
                    let company = CompanyInfo {
                        company_name: range.company_name.clone(),
                        company_domain: range.company_domain.clone(),
                        network_class: range.network_class,
                        id_source: range.source,
                        id_confidence: range.confidence,
                        class_confidence: vtrack_model::learned::LEARNED_CLASS_CONFIDENCE,
                        ..network.clone()
                    };
                    let visitors = e.pending_visitors(ip);
                    sink.learned(
                        range.clone(),
                        Visits { network_key: network.company_domain.clone(), company, visitors },
                    );
                    None
                }
                Outcome::Refused(reason) => Some(*reason),
                Outcome::NotFound => Some("nxdomain"),
                Outcome::Failed(f) => Some(f.label()),
                Outcome::RdapFailed(f) => Some(f.label()),
            };
            if let Some(reason) = reason {
                e.metrics.rejected.get_or_create(&ReasonLabel { reason: reason.to_string() }).inc();
            }
            e.settle(ip, &finding.outcome);
        });
    }
}
