//! The batch write, once for every store.
//!
//! A batch of events goes through the same steps whatever the store: (1) find which of its events are
//! stored already; (2) sessionize the rest; (3) read the rows of the sessions they continue that are not in
//! memory; (4) insert the events; (5) continue each touched session's row ([`SessionRow::add`]) and write it;
//! (6) continue each touched account's state ([`Scorer::apply`]) and draw its verdict; (7) record the
//! alerts and queue their deliveries ([`crate::outbox`]); (8) write the accounts. The steps do no I/O of
//! their own: they call a [`BatchStore`].
//!
//! SQLite implements the store inside one transaction ([`BatchStore::ATOMIC`]): a stored event was fully
//! processed, so a replayed one is skipped. ClickHouse has no transactions; its steps are ordered and
//! idempotent instead, and a stored event may lack its derived rows (a crash between two steps). Such an
//! event, when its session is not in memory, marks its account for recomputation from the stored history
//! ([`Scorer::recompute`]), which heals whatever the crash left behind; alerts are written before the
//! accounts, so the replay raises the same alert ids again, which the store keeps once.
//!
//! What processing follows is held in memory ([`Warm`]): session rows and account states, so a batch
//! usually reads neither. Anything not held (after a start, a rebalance, a failed write, an eviction, or
//! [`WARM_TTL`] after it was read) is read from the store first.

use crate::account::{AccountEvent, AccountHistory, AccountScore, AccountState, SessionChange};
use crate::identity::{attribute, learned_domain, Identity};
use crate::network_finding::{upgrade, NetworkFinding};
use crate::outbox::{cooldown_since, hears, quiet_for_sales, Delivery, DeliveryTarget};
use crate::owners::{AccountFacts, OwnerChange, OwnerRules};
use crate::sla::HotFollowup;
use crate::{Assignment, Scorer, SessionRow, Sessionizer, VisitorState};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};
use vtrack_model::{Alert, EnrichedEvent};

/// An event with what processing added: the session it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    pub event: &'a EnrichedEvent,
    /// The `event_id` of the session's first event: stable across replays.
    pub session_id: &'a str,
    /// The visitor had an earlier session.
    pub is_return: bool,
}

/// A stored event of the batch: the session it was given when first written, so a replay keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorEvent {
    pub session_id: String,
    pub is_return: bool,
}

/// The primitives the batch write needs from a store, in the order it calls them. Times are Unix seconds
/// unless a name says otherwise.
#[allow(async_fn_in_trait)]
pub trait BatchStore {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The store writes a batch atomically (between `begin` and `commit`): an event it has was fully
    /// processed, and a failed batch leaves nothing behind.
    const ATOMIC: bool;

    async fn begin(&mut self) -> Result<(), Self::Error>;
    async fn commit(&mut self) -> Result<(), Self::Error>;
    /// Undoes what an atomic store wrote since `begin`; nothing for the others.
    async fn rollback(&mut self);

    /// Which of `events` (events of `visitors` on `site`) are stored, by `event_id`, with their sessions.
    async fn stored_events(
        &mut self,
        site: &str,
        visitors: &[&str],
        events: &[&EnrichedEvent],
    ) -> Result<HashMap<String, PriorEvent>, Self::Error>;

    /// Where each of `visitors` on `site` stands: their latest stored event.
    async fn last_visits(
        &mut self,
        site: &str,
        visitors: &[&str],
    ) -> Result<HashMap<String, VisitorState>, Self::Error>;

    /// The stored rows of `session_ids` (sessions of `visitors` on `site`), as they count the stored events.
    async fn session_rows(
        &mut self,
        site: &str,
        visitors: &[&str],
        session_ids: &[&str],
    ) -> Result<Vec<SessionRow>, Self::Error>;

    async fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<(), Self::Error>;

    /// Writes whole session rows, replacing what was stored.
    async fn write_sessions(&mut self, rows: &[&SessionRow]) -> Result<(), Self::Error>;

    /// The stored state of each of `domains` on `site` that has an account row. A row written before states
    /// were stored comes back with an empty `scoring` (so it is recomputed) and its last verdict.
    async fn account_states(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountState>, Self::Error>;

    /// The stored sessions and events of each of `domains` on `site`, events in time order.
    async fn account_histories(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountHistory>, Self::Error>;

    /// Records alerts; one id is one alert however often it is written.
    async fn insert_alerts(&mut self, alerts: &[&Alert]) -> Result<(), Self::Error>;

    /// The score at which sales set the account's latest status, when that status is not `new`.
    async fn worked_score(&mut self, site: &str, domain: &str) -> Result<Option<f64>, Self::Error>;

    /// Whether the delivery's webhook has another delivery for the same account created after `since`.
    async fn delivered_since(&mut self, d: &Delivery<'_>, since: i64) -> Result<bool, Self::Error>;

    /// Queues a delivery (once per id); returns whether it was new.
    async fn queue_delivery(&mut self, d: &Delivery<'_>) -> Result<bool, Self::Error>;

    /// Writes each account's row: aggregates, verdict and state.
    async fn save_accounts(&mut self, accounts: &[(&AccountState, &AccountScore)]) -> Result<(), Self::Error>;

    /// Every account, as (site, domain): what `vtrack rescore` walks.
    async fn all_accounts(&mut self) -> Result<Vec<(String, String)>, Self::Error>;

    /// Every stored identity of `site`'s visitors.
    async fn site_identities(&mut self, site: &str) -> Result<Vec<Identity>, Self::Error>;

    /// Records identities, one per visitor and site: a later one replaces what is stored.
    async fn save_identities(&mut self, identities: &[&Identity]) -> Result<(), Self::Error>;

    /// The account keys `site` has learned: AS-only key → the domain its people gave.
    async fn learned_keys(&mut self, site: &str) -> Result<HashMap<String, String>, Self::Error>;

    /// Records a learned key (once; the first learned stands).
    async fn save_learned_key(&mut self, site: &str, from: &str, to: &str, learned_ms: i64) -> Result<(), Self::Error>;

    /// Every stored event of the sessions in `scope`, with its session, in time order.
    async fn scope_events(&mut self, site: &str, scope: Scope<'_>) -> Result<Vec<ScopedEvent>, Self::Error>;

    /// Rewrites the organisation of stored events: name, domain, class and identification.
    async fn relabel_events(&mut self, site: &str, events: &[&ScopedEvent]) -> Result<(), Self::Error>;

    /// Removes the rows of accounts left without sessions (their events now count for another account).
    async fn drop_accounts(&mut self, site: &str, domains: &[&str]) -> Result<(), Self::Error>;

    /// The current owner of each of `domains` on `site` that has one.
    async fn account_owners(&mut self, site: &str, domains: &[&str]) -> Result<HashMap<String, String>, Self::Error>;

    /// Records owner changes: the current owner and a line of history each. A change written again (a
    /// replay) is kept once.
    async fn save_owners(&mut self, changes: &[OwnerChange]) -> Result<(), Self::Error>;

    /// Every account's latest `became_hot` alert, with its stage, status and owner now and whether that
    /// crossing raised its `sla_missed` alert: what the follow-up deadline check reads.
    async fn hot_followups(&mut self) -> Result<Vec<HotFollowup>, Self::Error>;
}

/// Which stored events [`BatchStore::scope_events`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Every event of one visitor.
    Visitor(&'a str),
    /// Every event of the sessions with an event keyed by this account key.
    Key(&'a str),
}

/// A stored event as a relabelling reads and rewrites it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedEvent {
    /// The fields sessions and attribution need: time, type, visitor, path, referrer, campaign, engaged
    /// time, email and the organisation.
    pub event: EnrichedEvent,
    pub session_id: String,
    pub is_return: bool,
}

/// What decides where a batch's events go and who hears of the alerts.
#[derive(Debug, Clone)]
pub struct BatchRules {
    pub scorer: Scorer,
    /// Every receiver, in the order of `Config::receivers` (the outbox stores the index).
    pub webhooks: Vec<DeliveryTarget>,
    /// Who follows up a new account.
    pub owners: OwnerRules,
}

/// What one batch write did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// New events stored.
    pub stored: usize,
    /// Events skipped as already stored or repeated within the batch.
    pub duplicates: usize,
    /// Sessions whose rows were written.
    pub sessions: usize,
    /// Accounts scored.
    pub accounts: usize,
    /// Of those, recomputed from their history.
    pub recomputed: usize,
    pub alerts: usize,
    /// Webhook deliveries queued.
    pub deliveries: usize,
    /// Visitors newly identified by a business email.
    pub identified: usize,
    /// Stored events that now count for another organisation (an identity or a learned key).
    pub relabelled: usize,
}

/// How long a session row or account state read from the store is continued in memory before it is read
/// again. Events of one session or account normally reach one processor (the Kafka key), but a visitor who
/// changes networks mid-session sends some to another; this bounds how long memory can miss what another
/// processor wrote to the session.
pub const WARM_TTL: Duration = Duration::from_secs(30);

/// Account state held in memory at most, in [`AccountState::weight`] entries over all accounts; past it
/// the accounts least recently touched are dropped (and read again when they next get events).
const WARM_WEIGHT_MAX: usize = 1_000_000;

/// Batches between two sweeps of sessions that can no longer grow.
const SWEEP_EVERY: u64 = 32;

/// The sessions and accounts a processor follows, per site.
#[derive(Default)]
struct Warm {
    sites: HashMap<String, SiteWarm>,
    batches: u64,
    /// The latest event time seen: sessions idle for long before it are swept.
    newest_secs: i64,
}

#[derive(Default)]
struct SiteWarm {
    /// Each row with when it was read from the store.
    sessions: HashMap<String, (SessionRow, Instant)>,
    accounts: HashMap<String, WarmAccount>,
    /// The site's identities and learned keys.
    known: Option<Known>,
}

/// Everything a site's visitors told it: each identified visitor's identity and the keys learned from them.
struct Known {
    identities: HashMap<String, Identity>,
    learned: HashMap<String, String>,
    read: Instant,
}

struct WarmAccount {
    state: AccountState,
    /// When it was read from the store.
    read: Instant,
    last_batch: u64,
}

impl Warm {
    /// Sweeps sessions idle for over twice the session timeout (no new event can join them) and, past
    /// [`WARM_WEIGHT_MAX`], the accounts least recently touched.
    fn sweep(&mut self, timeout_secs: i64) {
        self.batches += 1;
        if self.batches.is_multiple_of(SWEEP_EVERY) {
            let horizon = self.newest_secs.saturating_sub(timeout_secs.saturating_mul(2));
            for site in self.sites.values_mut() {
                site.sessions.retain(|_, (row, _)| row.ended_at >= horizon);
            }
        }
        let weight: usize = self.sites.values().flat_map(|s| s.accounts.values()).map(|a| a.state.weight()).sum();
        if weight <= WARM_WEIGHT_MAX {
            return;
        }
        let mut by_age: Vec<(u64, String, String, usize)> = self
            .sites
            .iter()
            .flat_map(|(site, s)| {
                s.accounts.iter().map(move |(d, a)| (a.last_batch, site.clone(), d.clone(), a.state.weight()))
            })
            .collect();
        by_age.sort();
        let mut held = weight;
        for (_, site, domain, w) in by_age {
            if held <= WARM_WEIGHT_MAX * 3 / 4 {
                break;
            }
            if let Some(s) = self.sites.get_mut(&site) {
                s.accounts.remove(&domain);
            }
            held -= w;
        }
    }
}

/// The state of one processing loop: the sessionizer and what it follows in memory.
pub struct Processor {
    sessions: Sessionizer,
    warm: Warm,
    timeout_secs: i64,
}

impl Processor {
    pub fn new(session_timeout: Duration) -> Processor {
        Processor {
            sessions: Sessionizer::new(session_timeout),
            warm: Warm::default(),
            timeout_secs: session_timeout.as_secs() as i64,
        }
    }

    /// Drops everything held: after a rebalance or a failed write, memory may be behind the store.
    pub fn forget(&mut self) {
        self.sessions = Sessionizer::new(Duration::from_secs(self.timeout_secs as u64));
        self.warm = Warm::default();
    }

    /// Forgets visitors whose session has closed; returns how many are still held.
    pub fn evict_idle(&mut self) -> usize {
        self.sessions.evict_idle();
        self.sessions.len()
    }

    /// Visitors held in memory.
    pub fn visitors(&self) -> usize {
        self.sessions.len()
    }

    /// Writes one batch (`partitions[i]` is the Kafka partition of `events[i]`, or absent). On failure,
    /// an atomic store is rolled back and everything held in memory is dropped: the batch can be written
    /// again as it is.
    pub async fn write<S: BatchStore>(
        &mut self,
        store: &mut S,
        rules: &BatchRules,
        events: &[EnrichedEvent],
        partitions: &[i32],
    ) -> Result<Written, S::Error> {
        let result = async {
            store.begin().await?;
            let w = self.write_sites(store, rules, events, partitions).await?;
            store.commit().await?;
            Ok(w)
        }
        .await;
        if result.is_err() {
            store.rollback().await;
            self.forget();
        }
        result
    }

    async fn write_sites<S: BatchStore>(
        &mut self,
        store: &mut S,
        rules: &BatchRules,
        events: &[EnrichedEvent],
        partitions: &[i32],
    ) -> Result<Written, S::Error> {
        // One copy of each event, in event-time order: sessions depend on order, and time makes it the
        // same on every replay.
        let mut seen = HashSet::new();
        let mut ordered: Vec<(&EnrichedEvent, i32)> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| seen.insert(e.event_id.as_str()))
            .map(|(i, e)| (e, partitions.get(i).copied().unwrap_or(-1)))
            .collect();
        ordered.sort_by_key(|(e, _)| e.ts_ms);
        let mut by_site: BTreeMap<&str, Vec<(&EnrichedEvent, i32)>> = BTreeMap::new();
        for (e, p) in ordered {
            self.warm.newest_secs = self.warm.newest_secs.max(e.ts_ms.div_euclid(1000));
            by_site.entry(e.site.as_str()).or_default().push((e, p));
        }
        let mut total = Written::default();
        for (site, events) in by_site {
            let w = self.write_site(store, rules, site, &events).await?;
            total.stored += w.stored;
            total.sessions += w.sessions;
            total.accounts += w.accounts;
            total.recomputed += w.recomputed;
            total.alerts += w.alerts;
            total.deliveries += w.deliveries;
            total.identified += w.identified;
            total.relabelled += w.relabelled;
        }
        total.duplicates = events.len() - total.stored;
        self.warm.sweep(self.timeout_secs);
        Ok(total)
    }

    async fn write_site<S: BatchStore>(
        &mut self,
        store: &mut S,
        rules: &BatchRules,
        site: &str,
        events: &[(&EnrichedEvent, i32)],
    ) -> Result<Written, S::Error> {
        // 0. Who the visitors said they are: the batch's events count for their companies, and so do the
        // stored events of newly identified visitors and of newly learned keys.
        let attributed = self.attribute(store, site, events).await?;
        let refs: Vec<(&EnrichedEvent, i32)> = attributed.events.iter().map(|(e, p)| (e.as_ref(), *p)).collect();
        let mut written = self.write_attributed(store, rules, site, &refs, &attributed.recompute).await?;
        // Last, so that a replay after a failure finds them missing and relabels again.
        let identities: Vec<&Identity> = attributed.identities.iter().collect();
        store.save_identities(&identities).await?;
        written.identified = identities.len();
        written.relabelled = attributed.relabelled;
        for (from, to, at) in &attributed.learned {
            store.save_learned_key(site, from, to, *at).await?;
        }
        if let Some(known) = self.warm.sites.get_mut(site).and_then(|w| w.known.as_mut()) {
            for id in attributed.identities {
                known.identities.insert(id.visitor_id.clone(), id);
            }
            known.learned.extend(attributed.learned.into_iter().map(|(from, to, _)| (from, to)));
        }
        Ok(written)
    }

    /// Step 0: the identities the batch brings and the keys they teach, applied to the batch's events and
    /// to the stored events they change (see [`crate::identity`]).
    async fn attribute<'e, S: BatchStore>(
        &mut self,
        store: &mut S,
        site: &str,
        events: &[(&'e EnrichedEvent, i32)],
    ) -> Result<Attributed<'e>, S::Error> {
        let warm = self.warm.sites.entry(site.to_string()).or_default();
        // What enrichment learned about the networks visitors were on (never stored themselves).
        let mut findings: HashMap<&str, Vec<NetworkFinding>> = HashMap::new();
        for (e, _) in events {
            if let Some(f) = NetworkFinding::of(e) {
                findings.entry(e.visitor_id.as_str()).or_default().push(f);
            }
        }
        let events: Vec<(&'e EnrichedEvent, i32)> =
            events.iter().copied().filter(|(e, _)| e.kind != vtrack_model::event::LEARNED_KIND).collect();
        let events = events.as_slice();
        // The identities the batch gives, the newest per visitor.
        let mut given: BTreeMap<&str, Identity> = BTreeMap::new();
        for (e, _) in events {
            if let Some(id) = Identity::of(e) {
                let merged = match given.remove(e.visitor_id.as_str()) {
                    Some(old) => old.newer(id),
                    None => id,
                };
                given.insert(e.visitor_id.as_str(), merged);
            }
        }
        // What the site's visitors told it, read whole every WARM_TTL (identities are few: form fills). What
        // another processor stored since the last read is relabelled here too, so an identity reaches every
        // processor's events within WARM_TTL.
        let mut elsewhere: Vec<Identity> = Vec::new();
        let mut learned_elsewhere: Vec<String> = Vec::new();
        if warm.known.as_ref().is_none_or(|k| k.read.elapsed() >= WARM_TTL) {
            let identities: HashMap<String, Identity> =
                store.site_identities(site).await?.into_iter().map(|i| (i.visitor_id.clone(), i)).collect();
            let learned = store.learned_keys(site).await?;
            if let Some(old) = &warm.known {
                elsewhere
                    .extend(identities.values().filter(|i| old.identities.get(&i.visitor_id) != Some(*i)).cloned());
                learned_elsewhere.extend(learned.keys().filter(|k| !old.learned.contains_key(*k)).cloned());
            }
            warm.known = Some(Known { identities, learned, read: Instant::now() });
        }
        let known = warm.known.get_or_insert_with(|| Known {
            identities: HashMap::new(),
            learned: HashMap::new(),
            read: Instant::now(),
        });
        let visitors: Vec<&str> = distinct(events.iter().map(|(e, _)| e.visitor_id.as_str()));
        let mut standing: HashMap<&str, Identity> = HashMap::new();
        let mut newly: Vec<Identity> = Vec::new();
        for v in &visitors {
            let stored = known.identities.get(*v).cloned();
            let now = match (stored.clone(), given.remove(v)) {
                (Some(a), Some(b)) => Some(a.newer(b)),
                (a, b) => a.or(b),
            };
            if let Some(id) = now {
                if stored.as_ref() != Some(&id) {
                    newly.push(id.clone());
                }
                standing.insert(v, id);
            }
        }
        for id in &elsewhere {
            standing.entry(id.visitor_id.as_str()).or_insert_with(|| id.clone());
        }
        // The keys learned before, and those the new identities teach.
        let mut learned_keys = known.learned.clone();
        let mut learned: Vec<(String, String, i64)> = Vec::new();
        let networks: BTreeSet<&str> = newly
            .iter()
            .map(|i| i.network_key.as_str())
            .filter(|k| !k.is_empty() && !learned_keys.contains_key(*k))
            .collect();
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
                learned_keys.insert(key.to_string(), domain.clone());
                learned.push((key.to_string(), domain, at));
            }
        }

        // The batch's events.
        let alias = |k: &str| learned_keys.get(k).cloned();
        let out: Vec<(Cow<'e, EnrichedEvent>, i32)> = events
            .iter()
            .map(|&(e, p)| {
                let v = e.visitor_id.as_str();
                let base: Cow<'e, EnrichedEvent> = match findings.get(v).and_then(|f| upgrade(e, f)) {
                    Some(company) => Cow::Owned(EnrichedEvent { company, ..e.clone() }),
                    None => Cow::Borrowed(e),
                };
                match attribute(&base, standing.get(v), alias) {
                    Some(company) => (Cow::Owned(EnrichedEvent { company, ..base.into_owned() }), p),
                    None => (base, p),
                }
            })
            .collect();

        // The stored events they change.
        let mut recompute: BTreeSet<String> = BTreeSet::new();
        let mut relabelled = 0;
        let scopes: Vec<Scope<'_>> = newly
            .iter()
            .chain(&elsewhere)
            .map(|i| Scope::Visitor(&i.visitor_id))
            .chain(learned.iter().map(|(from, _, _)| Scope::Key(from)))
            .chain(learned_elsewhere.iter().map(|from| Scope::Key(from)))
            .chain(findings.keys().map(|v| Scope::Visitor(v)))
            .collect();
        for scope in scopes {
            let mut stored = store.scope_events(site, scope).await?;
            let mut changed: Vec<usize> = Vec::new();
            for (i, s) in stored.iter_mut().enumerate() {
                let v = s.event.visitor_id.as_str();
                let upgraded = findings.get(v).and_then(|f| upgrade(&s.event, f));
                let company = match upgraded {
                    Some(up) => {
                        let probe = EnrichedEvent { company: up.clone(), ..s.event.clone() };
                        Some(attribute(&probe, standing.get(v), alias).unwrap_or(up))
                    }
                    None => attribute(&s.event, standing.get(v), alias),
                };
                if let Some(company) = company {
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
                warm.sessions.insert(row.session_id.clone(), (row, Instant::now()));
            }
        }
        for domain in &recompute {
            warm.accounts.remove(domain);
        }
        Ok(Attributed { events: out, recompute, identities: newly, learned, relabelled })
    }

    async fn write_attributed<S: BatchStore>(
        &mut self,
        store: &mut S,
        rules: &BatchRules,
        site: &str,
        events: &[(&EnrichedEvent, i32)],
        relabelled: &BTreeSet<String>,
    ) -> Result<Written, S::Error> {
        let mut written = Written::default();
        let batch_no = self.warm.batches;
        // 1. What is stored already.
        let visitors: Vec<&str> = distinct(events.iter().map(|(e, _)| e.visitor_id.as_str()));
        let all: Vec<&EnrichedEvent> = events.iter().map(|(e, _)| *e).collect();
        let prior = store.stored_events(site, &visitors, &all).await?;

        // 2. Sessionize the rest.
        let fresh: Vec<&EnrichedEvent> =
            events.iter().map(|(e, _)| *e).filter(|e| !prior.contains_key(&e.event_id)).collect();
        let unknown = self.sessions.unknown_visitors(fresh.iter().copied());
        if !unknown.is_empty() {
            let names: Vec<&str> = unknown.iter().map(|k| k.1.as_str()).collect();
            let found = store.last_visits(site, &names).await?;
            for key in unknown {
                let state = found.get(&key.1).cloned();
                self.sessions.prime(key, state);
            }
        }
        let mut placed = Vec::with_capacity(events.len());
        for &(event, partition) in events {
            match prior.get(&event.event_id) {
                // Fully processed when the store is atomic; else it may lack its derived rows.
                Some(_) if S::ATOMIC => {}
                Some(p) => placed.push(Placed {
                    event,
                    partition,
                    session_id: p.session_id.clone(),
                    is_return: p.is_return,
                    fresh: false,
                }),
                None => {
                    let Assignment { session_id, is_return, .. } = self.sessions.assign(event);
                    placed.push(Placed { event, partition, session_id, is_return, fresh: true });
                }
            }
        }
        if placed.is_empty() && relabelled.is_empty() {
            return Ok(written);
        }

        // 3. The rows of the sessions the batch continues, as stored before it, when not in memory.
        let warm = self.warm.sites.entry(site.to_string()).or_default();
        let opened: HashSet<&str> = placed
            .iter()
            .filter(|p| p.fresh && p.event.event_id == p.session_id)
            .map(|p| p.session_id.as_str())
            .collect();
        let touched: Vec<&str> = distinct(placed.iter().map(|p| p.session_id.as_str()));
        let cold: Vec<&str> = touched
            .iter()
            .copied()
            .filter(|sid| !opened.contains(sid) && warm.sessions.get(*sid).is_none_or(|(_, r)| r.elapsed() >= WARM_TTL))
            .collect();
        if !cold.is_empty() {
            for row in store.session_rows(site, &visitors, &cold).await? {
                warm.sessions.insert(row.session_id.clone(), (row, Instant::now()));
            }
        }
        // A stored event whose session memory did not hold may lack its derived rows: its account is
        // recomputed from the stored history.
        let cold: HashSet<&str> = cold.into_iter().collect();
        let healing: HashSet<&str> = placed
            .iter()
            .filter(|p| !p.fresh && cold.contains(p.session_id.as_str()))
            .map(|p| p.session_id.as_str())
            .collect();

        // 4. Insert the new events.
        let rows: Vec<EventRow<'_>> = placed
            .iter()
            .filter(|p| p.fresh)
            .map(|p| EventRow { event: p.event, session_id: &p.session_id, is_return: p.is_return })
            .collect();
        store.insert_events(&rows).await?;
        written.stored = rows.len();

        // 5. Continue the session rows and write them.
        let mut before: HashMap<&str, SessionRow> = HashMap::new();
        let mut visitor_of: HashMap<&str, &str> = HashMap::new();
        for p in &placed {
            visitor_of.entry(p.session_id.as_str()).or_insert(p.event.visitor_id.as_str());
        }
        for &sid in &touched {
            match warm.sessions.get(sid) {
                Some((row, _)) if !opened.contains(sid) && !row.is_empty() => {
                    before.insert(sid, row.clone());
                }
                _ => {
                    let row = SessionRow::new(site, sid, visitor_of.get(sid).copied().unwrap_or_default());
                    warm.sessions.insert(sid.to_string(), (row, Instant::now()));
                }
            }
        }
        for p in placed.iter().filter(|p| p.fresh) {
            if let Some((row, _)) = warm.sessions.get_mut(&p.session_id) {
                row.add(p.event, p.is_return);
            }
        }
        let after: Vec<&SessionRow> =
            touched.iter().filter_map(|sid| warm.sessions.get(*sid).map(|(r, _)| r)).collect();
        store.write_sessions(&after).await?;
        written.sessions = after.len();

        // 6. The touched accounts: those of the sessions the batch added to.
        let mut accounts: BTreeMap<&str, Touched<'_>> = BTreeMap::new();
        for p in &placed {
            let Some((row, _)) = warm.sessions.get(&p.session_id) else { continue };
            if row.company_domain.is_empty() {
                continue;
            }
            let t = accounts.entry(row.company_domain.as_str()).or_insert_with(|| Touched::new(p.partition));
            if healing.contains(p.session_id.as_str()) {
                t.recompute = true;
            }
            if p.fresh {
                t.events.push(AccountEvent::of(p.event, true));
                if t.sessions.insert(p.session_id.as_str()) {
                    t.changes.push((p.session_id.as_str(), row));
                }
            }
        }
        // Accounts a relabelling changed; their deliveries go out from a partition this processor holds.
        let held_partition = events.first().map_or(-1, |(_, p)| *p);
        for domain in relabelled {
            accounts.entry(domain.as_str()).or_insert_with(|| Touched::new(held_partition)).recompute = true;
        }
        let domains: Vec<&str> = accounts.keys().copied().collect();
        let held = |d: &str| warm.accounts.get(d).is_some_and(|a| a.read.elapsed() < WARM_TTL);
        let missing: Vec<&str> = domains.iter().copied().filter(|d| !held(d)).collect();
        // Accounts with no stored row: seen for the first time, and given an owner below.
        let mut first_seen: BTreeSet<&str> =
            missing.iter().copied().filter(|d| !warm.accounts.contains_key(*d)).collect();
        for state in store.account_states(site, &missing).await? {
            first_seen.remove(state.company_domain.as_str());
            let domain = state.company_domain.clone();
            warm.accounts.insert(domain, WarmAccount { state, read: Instant::now(), last_batch: 0 });
        }
        let scorer = &rules.scorer;
        for (domain, t) in accounts.iter_mut() {
            let stale = warm.accounts.get(*domain).is_some_and(|a| a.state.scoring != scorer.fingerprint());
            t.recompute |= stale;
        }
        let recompute: Vec<&str> = accounts.iter().filter(|(_, t)| t.recompute).map(|(d, _)| *d).collect();
        let histories = store.account_histories(site, &recompute).await?;
        // New activity only: on an atomic store a replayed event raised its alerts when it was first
        // written (and is not placed); on the others it is placed, and raises the same alert ids again.
        let batch_ids: HashSet<&str> = placed.iter().map(|p| p.event.event_id.as_str()).collect();
        let mut verdicts: Vec<(String, AccountScore)> = Vec::with_capacity(accounts.len());
        let mut emptied: Vec<&str> = Vec::new();
        for mut h in histories {
            if h.sessions.is_empty() {
                // Every session it had now counts for another account.
                if let Some((d, _)) = accounts.get_key_value(h.company_domain.as_str()) {
                    emptied.push(d);
                }
                warm.accounts.remove(&h.company_domain);
                continue;
            }
            for e in &mut h.events {
                e.is_new = batch_ids.contains(e.event_id.as_str());
            }
            let previous = warm.accounts.get(&h.company_domain).and_then(|a| a.state.last.clone());
            let (state, verdict) = scorer.recompute(&h, previous);
            let domain = h.company_domain.clone();
            warm.accounts.insert(domain.clone(), WarmAccount { state, read: Instant::now(), last_batch: 0 });
            verdicts.push((domain, verdict));
            written.recomputed += 1;
        }
        store.drop_accounts(site, &emptied).await?;
        for (domain, t) in accounts.iter().filter(|(_, t)| !t.recompute) {
            let a = warm.accounts.entry(domain.to_string()).or_insert_with(|| WarmAccount {
                state: AccountState::new(site, domain),
                read: Instant::now(),
                last_batch: 0,
            });
            let changes: Vec<SessionChange<'_>> = t
                .changes
                .iter()
                .map(|(sid, row)| SessionChange { before: before.get(sid), after: row, is_new: opened.contains(sid) })
                .collect();
            verdicts.push((domain.to_string(), scorer.apply(&mut a.state, &changes, &t.events)));
        }
        for (domain, _) in &verdicts {
            if let Some(a) = warm.accounts.get_mut(domain) {
                a.last_batch = batch_no;
            }
        }
        written.accounts = verdicts.len();

        // 6b. Owners: each account seen for the first time gets one by the rules, once (an owner already
        // stored, by a replay or a person, stands).
        let mut owners: HashMap<String, String> = HashMap::new();
        let new_accounts: Vec<&str> =
            verdicts.iter().map(|(d, _)| d.as_str()).filter(|d| first_seen.contains(d)).collect();
        if !rules.owners.is_empty() && !new_accounts.is_empty() {
            owners = store.account_owners(site, &new_accounts).await?;
            let mut changes = Vec::new();
            for d in new_accounts {
                let Some(a) = warm.accounts.get(d).filter(|_| !owners.contains_key(d)) else { continue };
                let facts = AccountFacts { domain: d, country: &a.state.country, class: a.state.network_class };
                if let Some(owner) = rules.owners.owner_for(&facts) {
                    changes.push(OwnerChange::by_rule(site, d, owner, a.state.first_seen.saturating_mul(1000)));
                    owners.insert(d.to_string(), owner.to_string());
                }
            }
            store.save_owners(&changes).await?;
        }

        // 7. Alerts, each with its account's owner, then their deliveries.
        let alerted: Vec<&str> =
            distinct(verdicts.iter().filter(|(_, v)| !v.alerts.is_empty()).map(|(d, _)| d.as_str()));
        let unknown: Vec<&str> = alerted.into_iter().filter(|d| !owners.contains_key(*d)).collect();
        if !unknown.is_empty() {
            owners.extend(store.account_owners(site, &unknown).await?);
        }
        for (d, v) in verdicts.iter_mut() {
            for alert in &mut v.alerts {
                alert.owner = owners.get(d.as_str()).cloned().unwrap_or_default();
            }
        }
        let alerts: Vec<&Alert> = verdicts.iter().flat_map(|(_, v)| &v.alerts).collect();
        store.insert_alerts(&alerts).await?;
        written.alerts = alerts.len();
        let partition_of = |d: &str| accounts.get(d).map(|t| t.partition).unwrap_or(-1);
        written.deliveries = queue_deliveries(store, &rules.webhooks, &alerts, partition_of).await?;

        // 8. The accounts.
        let pairs: Vec<(&AccountState, &AccountScore)> =
            verdicts.iter().filter_map(|(d, v)| warm.accounts.get(d).map(|a| (&a.state, v))).collect();
        store.save_accounts(&pairs).await?;
        Ok(written)
    }
}

/// Queues each alert's deliveries: to every receiver that [`hears`] it, unless sales is already on the
/// account ([`quiet_for_sales`]) or the receiver heard of it within its cooldown. The one place
/// deliveries are queued, for the batch write and the follow-up deadline check alike. Returns how many
/// were new.
pub async fn queue_deliveries<S: BatchStore>(
    store: &mut S,
    targets: &[DeliveryTarget],
    alerts: &[&Alert],
    partition_of: impl Fn(&str) -> i32,
) -> Result<usize, S::Error> {
    let mut queued = 0;
    for alert in alerts {
        if !targets.iter().any(|t| hears(alert, t)) {
            continue;
        }
        let partition = partition_of(&alert.company_domain);
        let worked = store.worked_score(&alert.site, &alert.company_domain).await?;
        for (i, target) in targets.iter().enumerate() {
            if !hears(alert, target) || quiet_for_sales(alert, worked, target) {
                continue;
            }
            let d = Delivery::new(alert, target, i, partition);
            // A missed deadline is news however recently the receiver heard of the account's heat, and a
            // digest is about no one account.
            let fresh =
                matches!(alert.kind, vtrack_model::AlertKind::SlaMissed | vtrack_model::AlertKind::WeeklyDigest);
            if !fresh && store.delivered_since(&d, cooldown_since(alert, target)).await? {
                continue;
            }
            queued += usize::from(store.queue_delivery(&d).await?);
        }
    }
    Ok(queued)
}

/// What step 0 decided: the batch's events as attributed, and what they changed.
struct Attributed<'e> {
    events: Vec<(Cow<'e, EnrichedEvent>, i32)>,
    /// Accounts whose stored events were relabelled: recomputed from their history.
    recompute: BTreeSet<String>,
    /// Identities that are new or changed, saved after the batch.
    identities: Vec<Identity>,
    /// Keys learned: (AS-only key, domain, when).
    learned: Vec<(String, String, i64)>,
    /// Stored events relabelled.
    relabelled: usize,
}

/// An event of the batch and what processing decided about it.
struct Placed<'a> {
    event: &'a EnrichedEvent,
    partition: i32,
    session_id: String,
    is_return: bool,
    /// Not stored before this batch.
    fresh: bool,
}

/// What a batch brings to one account.
struct Touched<'a> {
    /// The partition of the account's first event in the batch: where its deliveries are sent from.
    partition: i32,
    events: Vec<AccountEvent>,
    sessions: HashSet<&'a str>,
    changes: Vec<(&'a str, &'a SessionRow)>,
    recompute: bool,
}

impl Touched<'_> {
    fn new(partition: i32) -> Self {
        Touched { partition, events: Vec::new(), sessions: HashSet::new(), changes: Vec::new(), recompute: false }
    }
}

/// Recomputes every account from its stored history with `scorer` (after a change of the scoring
/// config), in chunks of `chunk` accounts per transaction; no alerts are raised. Returns the accounts done.
pub async fn rescore<S: BatchStore>(store: &mut S, scorer: &Scorer, chunk: usize) -> Result<usize, S::Error> {
    let keys = store.all_accounts().await?;
    let mut by_site: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (site, domain) in keys {
        by_site.entry(site).or_default().push(domain);
    }
    let mut done = 0;
    for (site, domains) in &by_site {
        for part in domains.chunks(chunk.max(1)) {
            let names: Vec<&str> = part.iter().map(String::as_str).collect();
            store.begin().await?;
            let result = async {
                let previous: HashMap<String, AccountState> = store
                    .account_states(site, &names)
                    .await?
                    .into_iter()
                    .map(|s| (s.company_domain.clone(), s))
                    .collect();
                let mut out = Vec::new();
                for h in store.account_histories(site, &names).await? {
                    let old = previous.get(&h.company_domain);
                    let (mut state, verdict) = scorer.recompute(&h, old.and_then(|s| s.last.clone()));
                    state.rescores = old.map(|s| s.rescores + 1).unwrap_or(1);
                    out.push((state, verdict));
                }
                let pairs: Vec<(&AccountState, &AccountScore)> = out.iter().map(|(s, v)| (s, v)).collect();
                store.save_accounts(&pairs).await?;
                Ok::<usize, S::Error>(out.len())
            }
            .await;
            match result {
                Ok(n) => {
                    store.commit().await?;
                    done += n;
                }
                Err(e) => {
                    store.rollback().await;
                    return Err(e);
                }
            }
        }
    }
    Ok(done)
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    items.collect::<BTreeSet<_>>().into_iter().collect()
}
