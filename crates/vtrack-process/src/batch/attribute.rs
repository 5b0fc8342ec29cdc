//! Step 1: who the visitors are. The identities a batch brings (a business email), the account keys they
//! teach (an AS-only network whose people name one domain), what enrichment found about the networks
//! visitors were on, and what the networks' own evidence decided about their class
//! ([`super::networks`]), applied to the batch's events and to the stored events they change.
//!
//! Stored events that now count for another organisation are relabelled here, and their sessions' rows
//! rebuilt; the accounts they left and joined are marked for recomputation from history. The identities
//! and keys themselves are saved last ([`save`]), so a replay after a failure finds them missing and
//! relabels again.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use vtrack_model::event::CompanyInfo;
use vtrack_model::{EnrichedEvent, NetworkEvidence};

use super::store::{EventStore, IdentityStore, Scope, ScopedEvent, SessionStore};
use super::warm::{Known, SiteWarm, WARM_TTL};
use super::{distinct, Batched};
use crate::identity::{attribute as identity_attribute, learned_domain, Identity};
use crate::network_finding::{upgrade, NetworkFinding};
use crate::SessionRow;

/// The batch's events as attributed, and what they changed.
pub(super) struct Attributed<'e> {
    pub events: Vec<Batched<Cow<'e, EnrichedEvent>>>,
    /// Accounts whose stored events were relabelled: recomputed from their history.
    pub recompute: BTreeSet<String>,
    /// What is saved after the batch.
    pub learned: Learned,
    /// Stored events relabelled.
    pub relabelled: usize,
}

/// What the batch taught: identities that are new or changed, and keys learned (AS-only key, domain, when).
#[derive(Default)]
pub(super) struct Learned {
    pub identities: Vec<Identity>,
    pub keys: Vec<(String, String, i64)>,
}

/// Decides the organisation an event counts for: its network's evidence first (the decided class and key
/// of an AS organisation), then the network finding of its visitor, then her identity and the learned keys
/// ([`identity_attribute`]). One rule for the batch's events and stored ones.
struct Attribution<'a> {
    networks: &'a HashMap<u32, NetworkEvidence>,
    findings: HashMap<&'a str, Vec<NetworkFinding>>,
    standing: HashMap<String, Identity>,
    keys: HashMap<String, String>,
}

impl Attribution<'_> {
    /// The organisation `e` now counts for, or `None` when its own answer stands.
    fn company_for(&self, e: &EnrichedEvent) -> Option<CompanyInfo> {
        match self.networks.get(&e.company.asn).and_then(|n| n.label(&e.company)) {
            Some(labelled) => {
                let probe = EnrichedEvent { company: labelled.clone(), ..e.clone() };
                Some(self.person_for(&probe).unwrap_or(labelled))
            }
            None => self.person_for(e),
        }
    }

    /// What the visitor's network finding and identity make of `e`, or `None` when its answer stands.
    fn person_for(&self, e: &EnrichedEvent) -> Option<CompanyInfo> {
        let v = e.visitor_id.as_str();
        let alias = |k: &str| self.keys.get(k).cloned();
        match self.findings.get(v).and_then(|f| upgrade(e, f)) {
            Some(up) => {
                let probe = EnrichedEvent { company: up.clone(), ..e.clone() };
                Some(identity_attribute(&probe, self.standing.get(v), alias).unwrap_or(up))
            }
            None => identity_attribute(e, self.standing.get(v), alias),
        }
    }
}

/// Identities and keys another processor stored since this one last read them.
#[derive(Default)]
struct Elsewhere {
    identities: Vec<Identity>,
    keys: Vec<String>,
}

/// Step 1 (see the module doc). `networks` is every network's evidence ([`super::networks::refresh`]);
/// `min_confidence` the class confidence alerts wait for.
pub(super) async fn attribute<'e, S: EventStore + SessionStore + IdentityStore>(
    store: &mut S,
    warm: &mut SiteWarm,
    site: &str,
    events: &[Batched<&'e EnrichedEvent>],
    networks: &HashMap<u32, NetworkEvidence>,
    min_confidence: u8,
) -> Result<Attributed<'e>, S::Error> {
    // What enrichment learned about the networks visitors were on (never stored themselves).
    let mut findings: HashMap<&str, Vec<NetworkFinding>> = HashMap::new();
    for s in events {
        if let Some(f) = NetworkFinding::of(s.event) {
            findings.entry(s.event.visitor_id.as_str()).or_default().push(f);
        }
    }
    let events: Vec<Batched<&'e EnrichedEvent>> =
        events.iter().copied().filter(|s| s.event.kind != vtrack_model::event::LEARNED_KIND).collect();
    let elsewhere = refresh_known(store, warm, site).await?;
    let known = warm.known.get_or_insert_with(|| Known::new(HashMap::new(), HashMap::new()));
    let (standing, identities) = standing(known, &events, &elsewhere.identities);
    let keys_learned = learn_keys(known, &identities);
    let mut keys = known.learned.clone();
    keys.extend(keys_learned.iter().map(|(from, to, _)| (from.clone(), to.clone())));
    let rules = Attribution { networks, findings, standing, keys };
    let out = events
        .iter()
        .map(|s| {
            let e = match rules.company_for(s.event) {
                Some(company) => Cow::Owned(EnrichedEvent { company, ..s.event.clone() }),
                None => Cow::Borrowed(s.event),
            };
            Batched { event: e, partition: s.partition }
        })
        .collect();
    let scopes: Vec<Scope<'_>> = identities
        .iter()
        .chain(&elsewhere.identities)
        .map(|i| Scope::Visitor(&i.visitor_id))
        .chain(keys_learned.iter().map(|(from, _, _)| Scope::Key(from)))
        .chain(elsewhere.keys.iter().map(|from| Scope::Key(from)))
        .chain(rules.findings.keys().map(|v| Scope::Visitor(v)))
        .collect();
    let stale = super::networks::stale(networks, warm, min_confidence);
    let scopes: Vec<Scope<'_>> = scopes.into_iter().chain(stale.iter().map(|n| Scope::Network(n))).collect();
    let (recompute, relabelled) = relabel(store, warm, site, &|e| rules.company_for(e), &scopes).await?;
    for n in stale {
        warm.applied.insert(n.asn, super::networks::applied(n));
    }
    Ok(Attributed { events: out, recompute, learned: Learned { identities, keys: keys_learned }, relabelled })
}

/// Reads the site's identities and learned keys whole every [`WARM_TTL`] (identities are few: form
/// fills); returns what another processor stored since the last read, to relabel here too, so an identity
/// reaches every processor's events within [`WARM_TTL`].
async fn refresh_known<S: IdentityStore>(
    store: &mut S,
    warm: &mut SiteWarm,
    site: &str,
) -> Result<Elsewhere, S::Error> {
    let mut elsewhere = Elsewhere::default();
    if warm.known.as_ref().is_some_and(|k| k.read.elapsed() < WARM_TTL) {
        return Ok(elsewhere);
    }
    let identities: HashMap<String, Identity> =
        store.site_identities(site).await?.into_iter().map(|i| (i.visitor_id.clone(), i)).collect();
    let learned = store.learned_keys(site).await?;
    if let Some(old) = &warm.known {
        elsewhere
            .identities
            .extend(identities.values().filter(|i| old.identities.get(&i.visitor_id) != Some(*i)).cloned());
        elsewhere.keys.extend(learned.keys().filter(|k| !old.learned.contains_key(*k)).cloned());
    }
    warm.known = Some(Known::new(identities, learned));
    Ok(elsewhere)
}

/// Each visitor's identity as it stands after the batch (stored, newer given, or stored elsewhere), and
/// those that are new or changed.
fn standing(
    known: &Known,
    events: &[Batched<&EnrichedEvent>],
    elsewhere: &[Identity],
) -> (HashMap<String, Identity>, Vec<Identity>) {
    // The identities the batch gives, the newest per visitor.
    let mut given: BTreeMap<&str, Identity> = BTreeMap::new();
    for s in events {
        if let Some(id) = Identity::of(s.event) {
            let merged = match given.remove(s.event.visitor_id.as_str()) {
                Some(old) => old.newer(id),
                None => id,
            };
            given.insert(s.event.visitor_id.as_str(), merged);
        }
    }
    let mut standing: HashMap<String, Identity> = HashMap::new();
    let mut newly: Vec<Identity> = Vec::new();
    for v in distinct(events.iter().map(|s| s.event.visitor_id.as_str())) {
        let stored = known.identities.get(v).cloned();
        let now = match (stored.clone(), given.remove(v)) {
            (Some(a), Some(b)) => Some(a.newer(b)),
            (a, b) => a.or(b),
        };
        if let Some(id) = now {
            if stored.as_ref() != Some(&id) {
                newly.push(id.clone());
            }
            standing.insert(v.to_string(), id);
        }
    }
    for id in elsewhere {
        standing.entry(id.visitor_id.clone()).or_insert_with(|| id.clone());
    }
    (standing, newly)
}

/// The keys the new identities teach: each network key not learned yet whose identified visitors name one
/// domain ([`learned_domain`]), with when.
fn learn_keys(known: &Known, newly: &[Identity]) -> Vec<(String, String, i64)> {
    let networks: BTreeSet<&str> = newly
        .iter()
        .map(|i| i.network_key.as_str())
        .filter(|k| !k.is_empty() && !known.learned.contains_key(*k))
        .collect();
    let mut learned = Vec::new();
    for key in networks {
        let mut by_visitor: BTreeMap<&str, &str> = known
            .identities
            .values()
            .filter(|i| i.network_key == key)
            .map(|i| (i.visitor_id.as_str(), i.company_domain.as_str()))
            .collect();
        let mut at = 0;
        // A visitor stored with another domain counts once, with her newest.
        for id in newly.iter().filter(|i| i.network_key == key) {
            by_visitor.insert(&id.visitor_id, &id.company_domain);
            at = at.max(id.identified_ms);
        }
        if let Some(domain) = learned_domain(by_visitor.values().copied()) {
            learned.push((key.to_string(), domain, at));
        }
    }
    learned
}

/// Relabels the stored events of `scopes` that now count for another organisation (`company_for`: the
/// organisation an event counts for, `None` when its own stands) and rebuilds their sessions' rows; returns
/// the accounts to recompute and how many events were relabelled. The one relabelling: the batch's
/// attribution and the account-key migration ([`super::rekey`]) both go through it.
pub(super) async fn relabel<S: EventStore + SessionStore>(
    store: &mut S,
    warm: &mut SiteWarm,
    site: &str,
    company_for: &(dyn Fn(&EnrichedEvent) -> Option<CompanyInfo> + Sync),
    scopes: &[Scope<'_>],
) -> Result<(BTreeSet<String>, usize), S::Error> {
    let mut recompute: BTreeSet<String> = BTreeSet::new();
    let mut relabelled = 0;
    for &scope in scopes {
        let mut stored = store.scope_events(site, scope).await?;
        let mut changed: Vec<usize> = Vec::new();
        for (i, s) in stored.iter_mut().enumerate() {
            let Some(company) = company_for(&s.event) else { continue };
            let old = &s.event.company;
            if old.network_class.is_account() && !old.company_domain.is_empty() {
                recompute.insert(old.company_domain.clone());
            }
            if company.network_class.is_account() {
                recompute.insert(company.company_domain.clone());
            }
            s.event.company = company;
            changed.push(i);
        }
        if changed.is_empty() {
            continue;
        }
        let rows: Vec<&ScopedEvent> = changed.iter().map(|&i| &stored[i]).collect();
        store.relabel_events(site, &rows).await?;
        relabelled += rows.len();
        // Their sessions' rows, rebuilt from the relabelled events.
        let mut sessions: BTreeMap<&str, SessionRow> = BTreeMap::new();
        for s in &stored {
            let row = sessions
                .entry(s.session_id.as_str())
                .or_insert_with(|| SessionRow::new(site, &s.session_id, &s.event.visitor_id));
            row.add(&s.event, s.is_return);
        }
        let rows: Vec<&SessionRow> = sessions.values().collect();
        store.write_sessions(&rows).await?;
        for row in sessions.into_values() {
            warm.hold_session(row);
        }
    }
    for domain in &recompute {
        warm.accounts.remove(domain);
    }
    Ok((recompute, relabelled))
}

/// The last step: saves what the batch taught and holds it in memory.
pub(super) async fn save<S: IdentityStore>(
    store: &mut S,
    warm: &mut SiteWarm,
    site: &str,
    learned: Learned,
) -> Result<usize, S::Error> {
    let identities: Vec<&Identity> = learned.identities.iter().collect();
    store.save_identities(&identities).await?;
    for (from, to, at) in &learned.keys {
        store.save_learned_key(site, from, to, *at).await?;
    }
    let n = identities.len();
    if let Some(known) = warm.known.as_mut() {
        for id in learned.identities {
            known.identities.insert(id.visitor_id.clone(), id);
        }
        known.learned.extend(learned.keys.into_iter().map(|(from, to, _)| (from, to)));
    }
    Ok(n)
}
