//! What processing does with what is known about networks beyond their names (`vtrack_model::evidence`):
//!
//! - it reads every network's evidence and decided class ([`refresh`]), which the resolver's side (ingest,
//!   where the AS data is) writes, every [`NETWORKS_TTL`]; the attribute step then labels the batch's events
//!   of those networks with the decided class, confidence and key, and relabels their stored events once per
//!   processor and site ([`stale`]) when the evidence changes what they say enough to matter
//!   (`NetworkEvidence::relabels`): another class (a "company" that is a carrier), another key (an AS-only
//!   organisation that learned its domain), or a confidence on the other side of the alert threshold;
//! - it counts, per AS network, site and day, the distinct /24s, cities and visitors of the events the AS
//!   layer answered with an account class ([`count_traffic`]), as 64-bit sets of hashed buckets: the traffic
//!   evidence the resolver's side decides with.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use vtrack_model::evidence::{day_of, text_bucket};
use vtrack_model::{IdSource, NetworkEvidence};

use super::events::Placed;
use super::store::{NetworkStore, TrafficRow};
use super::warm::{Applied, Networks, SiteWarm};

/// How long the networks' evidence read from the store is used before it is read again: a decision the
/// resolver's side stores reaches processing within this.
pub const NETWORKS_TTL: Duration = Duration::from_secs(10);

/// Reads every network's evidence when what is held is older than [`NETWORKS_TTL`].
pub(super) async fn refresh<'w, S: NetworkStore>(
    store: &mut S,
    held: &'w mut Option<Networks>,
) -> Result<&'w HashMap<u32, NetworkEvidence>, S::Error> {
    if held.as_ref().is_none_or(|n| n.read.elapsed() >= NETWORKS_TTL) {
        let by_asn = store.network_evidence().await?.into_iter().map(|n| (n.asn, n)).collect();
        *held = Some(Networks { by_asn, read: Instant::now() });
    }
    Ok(&held.get_or_insert_with(|| Networks { by_asn: HashMap::new(), read: Instant::now() }).by_asn)
}

/// The label a network's evidence gives its events.
pub(super) fn applied(n: &NetworkEvidence) -> Applied {
    (n.key.clone(), n.class, n.class_confidence)
}

/// The networks whose stored events on this site are to be relabelled: those whose evidence relabels and
/// that this processor has not relabelled to their current label yet, in AS order.
pub(super) fn stale<'n>(
    networks: &'n HashMap<u32, NetworkEvidence>,
    warm: &SiteWarm,
    min_confidence: u8,
) -> Vec<&'n NetworkEvidence> {
    let mut out: Vec<&NetworkEvidence> = networks
        .values()
        .filter(|n| n.relabels(min_confidence) && warm.applied.get(&n.asn) != Some(&applied(n)))
        .collect();
    out.sort_by_key(|n| n.asn);
    out
}

/// Adds the batch's events of AS-layer organisations with an account class to their network's traffic sets
/// and writes the sets that grew. Returns how many rows were written.
pub(super) async fn count_traffic<S: NetworkStore>(
    store: &mut S,
    warm: &mut SiteWarm,
    site: &str,
    placed: &[Placed<'_>],
) -> Result<usize, S::Error> {
    let mut grown: HashMap<(u32, i64), [u64; 3]> = HashMap::new();
    for p in placed {
        let e = p.event;
        let c = &e.company;
        let Some(prefix) = e.prefix_bucket else { continue };
        if c.id_source != IdSource::Asn || c.asn == 0 || !c.network_class.is_account() {
            continue;
        }
        let key = (c.asn, day_of(e.ts_ms));
        let held = warm.traffic.get(&key).copied().unwrap_or_default();
        let sets = grown.entry(key).or_insert(held);
        sets[0] |= 1 << text_bucket(&e.visitor_id);
        sets[1] |= 1 << prefix;
        if !c.city.is_empty() {
            sets[2] |= 1 << text_bucket(&c.city);
        }
    }
    grown.retain(|key, sets| warm.traffic.get(key) != Some(sets));
    if grown.is_empty() {
        return Ok(0);
    }
    let mut rows: Vec<TrafficRow<'_>> = grown
        .iter()
        .map(|(&(asn, day), s)| TrafficRow { site, asn, day, visitors: s[0], prefixes: s[1], cities: s[2] })
        .collect();
    rows.sort_by_key(|r| (r.asn, r.day));
    store.add_traffic(&rows).await?;
    let n = rows.len();
    warm.traffic.extend(grown);
    Ok(n)
}
