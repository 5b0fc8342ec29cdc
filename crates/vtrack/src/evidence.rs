//! Glue between what is found about networks and the resolver (issue 22): an AS organisation's class is
//! decided again, here, where the AS data is, with its network's evidence, and answered from memory.
//!
//! - Reverse DNS of a network (enrichment, `vtrack_enrich::network`) arrives through the enrichment sink
//!   ([`Keeper::found`]).
//! - Its traffic (processing's `network_traffic` sets) and what other processes found are read from the
//!   store every [`crate::enrich::RELOAD_EVERY`].
//!
//! Each network's decision (`Table::decide_network`, the class model with the evidence) is swapped into the
//! resolver's evidence layer, so the next visit from the network is answered with it, and stored in
//! `network_evidence`, so that a restart, every other ingest and processing (which relabels the network's
//! stored events) have it too. Nothing here is on the hot path: lookups read the swapped layer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::{watch, Notify};
use vtrack_enrich::{Enricher, NetworkPtr};
use vtrack_model::evidence::{estimate, PtrCounts, TrafficCounts};
use vtrack_model::time::now_ms;
use vtrack_model::NetworkEvidence;
use vtrack_resolve::{EvidenceLayer, Resolver};
use vtrack_store::TrafficSets;

use crate::enrich::RELOAD_EVERY;
use crate::wiring::drain::Tasks;
use vtrack_store::Learned as LearnedStore;

/// Findings that arrive together are decided together.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Days of traffic decided with: today and yesterday (a network's spread over one day is the signal).
const TRAFFIC_DAYS: i64 = 2;

/// What is known about one network.
#[derive(Debug, Clone, Default, PartialEq)]
struct Known {
    ptr: PtrCounts,
    ptr_domain: String,
    /// When the PTR evidence is looked up again (0: never looked up).
    ptr_expires_ms: i64,
    traffic: TrafficCounts,
}

/// The networks this process knows about, and their decisions.
pub struct Keeper {
    resolver: Arc<Resolver>,
    state: Mutex<State>,
    fresh: Mutex<Vec<NetworkPtr>>,
    wake: Notify,
    /// How long reverse DNS of a network stands (`[enrich] learned_ttl`).
    ttl: Duration,
    /// Networks the resolver answers with a decision.
    in_memory: Gauge,
}

#[derive(Default)]
struct State {
    known: HashMap<u32, Known>,
    decided: HashMap<u32, NetworkEvidence>,
}

impl Keeper {
    /// A keeper deciding with `resolver`'s table and swapping its decisions into it.
    pub fn new(resolver: Arc<Resolver>, ttl: Duration, registry: &mut Registry) -> Arc<Keeper> {
        let in_memory = Gauge::default();
        registry.register(
            "vtrack_network_evidence",
            "AS networks whose class the resolver answers as decided with their reverse DNS or traffic",
            in_memory.clone(),
        );
        Arc::new(Keeper {
            resolver,
            state: Mutex::new(State::default()),
            fresh: Mutex::new(Vec::new()),
            wake: Notify::new(),
            ttl,
            in_memory,
        })
    }

    /// Reverse DNS of a network, from the enrichment stage: decided on at once (after [`DEBOUNCE`]).
    pub fn found(&self, found: NetworkPtr) {
        if let Ok(mut fresh) = self.fresh.lock() {
            fresh.push(found);
        }
        self.wake.notify_one();
    }

    /// Merges what the store holds (other processes' findings, the traffic of the last days) into what is
    /// known; a finding of this process newer than the store's stays.
    fn merge_stored(&self, stored: Vec<NetworkEvidence>, traffic: Vec<TrafficSets>) {
        let Ok(mut state) = self.state.lock() else { return };
        for n in stored {
            let k = state.known.entry(n.asn).or_default();
            if n.expires_ms > k.ptr_expires_ms && n.ptr.looked_up > 0 {
                k.ptr = n.ptr;
                k.ptr_domain = n.ptr_domain.clone();
                k.ptr_expires_ms = n.expires_ms;
            }
            // Traffic evidence stands once seen: the sets read back are the last days' only, and a network
            // re-classed as an access network is no longer counted.
            k.traffic = stronger(k.traffic, n.traffic);
            state.decided.entry(n.asn).or_insert(n);
        }
        for (asn, counts) in strongest(&traffic) {
            let k = state.known.entry(asn).or_default();
            k.traffic = stronger(k.traffic, counts);
        }
    }

    /// Decides every known network again; returns the decisions that changed (to store).
    fn decide(&self, now: i64) -> Vec<NetworkEvidence> {
        let table = self.resolver.load();
        let Ok(mut state) = self.state.lock() else { return Vec::new() };
        let State { known, decided } = &mut *state;
        let mut changed = Vec::new();
        for (&asn, k) in known.iter() {
            // Traffic that says nothing yet (a few visitors) is not worth a row; a looked-at network is, so
            // that a restart does not look again.
            let says = vtrack_resolve::evidence::evidence_of(&k.ptr, &k.traffic).iter().any(|e| e.weights().is_some());
            if k.ptr.looked_up == 0 && !says && !decided.contains_key(&asn) {
                continue;
            }
            let Some(d) = table.decide_network(asn, k.ptr, &k.ptr_domain, k.traffic, now, k.ptr_expires_ms) else {
                continue;
            };
            let same = decided
                .get(&asn)
                .is_some_and(|old| NetworkEvidence { decided_ms: old.decided_ms, ..d.clone() } == *old);
            if !same {
                decided.insert(asn, d.clone());
                changed.push(d);
            }
        }
        changed.sort_by_key(|n| n.asn);
        changed
    }

    /// Swaps every decision into the resolver.
    fn swap_in(&self) {
        let Ok(state) = self.state.lock() else { return };
        let layer = EvidenceLayer::build(state.decided.values().cloned());
        self.in_memory.set(layer.len() as i64);
        self.resolver.set_evidence(layer);
    }

    /// Takes the findings that arrived since the last call into what is known.
    fn take_fresh(&self, now: i64) -> usize {
        let fresh = self.fresh.lock().map(|mut f| std::mem::take(&mut *f)).unwrap_or_default();
        let Ok(mut state) = self.state.lock() else { return 0 };
        let expires = now.saturating_add(i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX));
        for f in &fresh {
            let k = state.known.entry(f.asn).or_default();
            k.ptr = f.ptr;
            k.ptr_domain.clone_from(&f.domain);
            k.ptr_expires_ms = expires;
        }
        fresh.len()
    }

    /// Tells the enrichment stage which networks the store already has reverse DNS for, so a restart does
    /// not look at them again before their evidence expires.
    fn tell_stage(&self, enricher: &Enricher) {
        let Ok(state) = self.state.lock() else { return };
        let now_ms = now_ms();
        let now = Instant::now();
        for (asn, k) in &state.known {
            if k.ptr_expires_ms > now_ms {
                let left = Duration::from_millis(u64::try_from(k.ptr_expires_ms - now_ms).unwrap_or(0));
                enricher.network_known(*asn, now + left);
            }
        }
    }
}

/// Each network's strongest site-day among `sets` ([`stronger`]).
fn strongest(sets: &[TrafficSets]) -> HashMap<u32, TrafficCounts> {
    let mut out: HashMap<u32, TrafficCounts> = HashMap::new();
    for s in sets {
        let c = TrafficCounts {
            visitors: estimate(s.visitors),
            networks: estimate(s.prefixes),
            cities: estimate(s.cities),
        };
        let best = out.entry(s.asn).or_default();
        *best = stronger(*best, c);
    }
    out
}

/// Of two site-days of a network's traffic, the more spread: the most distinct /24s, then cities, then
/// visitors.
fn stronger(a: TrafficCounts, b: TrafficCounts) -> TrafficCounts {
    if (b.networks, b.cities, b.visitors) > (a.networks, a.cities, a.visitors) {
        b
    } else {
        a
    }
}

/// Loads what the store knows and keeps deciding: fresh findings as they come, the store's every
/// [`RELOAD_EVERY`]. `enricher` (when reverse DNS runs here) is told which networks need no new look.
pub async fn start(
    keeper: Arc<Keeper>,
    store: Option<LearnedStore>,
    enricher: Option<Arc<Enricher>>,
    tasks: &mut Tasks,
) {
    if let Some(store) = &store {
        reload(&keeper, store).await;
        if let Some(e) = &enricher {
            keeper.tell_stage(e);
        }
    }
    tasks.spawn_aborted(keep(keeper, store, tasks.stop()));
}

/// Reads the store's evidence and recent traffic, decides, stores what changed and swaps the layer in.
async fn reload(keeper: &Arc<Keeper>, store: &LearnedStore) {
    let today = vtrack_model::evidence::day_of(now_ms());
    match (store.load_evidence().await, store.load_traffic(today - (TRAFFIC_DAYS - 1)).await) {
        (Ok(stored), Ok(traffic)) => keeper.merge_stored(stored, traffic),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "network evidence: cannot read the store; deciding with what is in memory");
        }
    }
    decide_and_keep(keeper, Some(store)).await;
}

/// Decides on a blocking thread, swaps the layer in, stores the decisions that changed.
async fn decide_and_keep(keeper: &Arc<Keeper>, store: Option<&LearnedStore>) {
    let k = keeper.clone();
    let changed = tokio::task::spawn_blocking(move || {
        let changed = k.decide(now_ms());
        if !changed.is_empty() {
            k.swap_in();
        }
        changed
    })
    .await
    .unwrap_or_default();
    for n in changed.iter().filter(|n| n.class != n.base_class || n.key != n.as_key()) {
        tracing::info!(
            asn = n.asn,
            name = %n.name,
            from = %n.base_class,
            to = %n.class,
            confidence = n.class_confidence,
            key = %n.key,
            signals = %n.signals,
            "network evidence: an AS organisation re-classed"
        );
    }
    if let (Some(store), false) = (store, changed.is_empty()) {
        if let Err(e) = store.save_evidence(changed).await {
            tracing::warn!(error = %e, "network evidence: cannot store decisions; they stay in memory");
        }
    }
}

async fn keep(keeper: Arc<Keeper>, store: Option<LearnedStore>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(RELOAD_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            () = keeper.wake.notified() => {
                tokio::time::sleep(DEBOUNCE).await;
                if keeper.take_fresh(now_ms()) > 0 {
                    decide_and_keep(&keeper, store.as_ref()).await;
                }
            }
            _ = tick.tick() => {
                if let Some(store) = &store {
                    reload(&keeper, store).await;
                }
            }
            () = crate::shutdown::stopped(&mut stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_day_is_the_most_spread() {
        let sets = [
            TrafficSets { asn: 1, day: 10, visitors: 0b1, prefixes: 0b1, cities: 0b1 },
            TrafficSets { asn: 1, day: 11, visitors: 0xff, prefixes: 0xfff, cities: 0b11111 },
            TrafficSets { asn: 2, day: 11, visitors: 0b111, prefixes: 0b1, cities: 0b1 },
        ];
        let s = strongest(&sets);
        assert_eq!(s[&1].networks, estimate(0xfff));
        assert_eq!(s[&1].cities, 5);
        assert_eq!(s[&2], TrafficCounts { visitors: 3, networks: 1, cities: 1 });
    }
}
