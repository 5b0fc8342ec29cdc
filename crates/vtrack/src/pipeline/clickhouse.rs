//! The ClickHouse batch write.
//!
//! Steps, each repeatable: (1) find which of the batch's events are stored already, with the sessions they
//! were given; (2) sessionize the rest, continuing each visitor from their latest stored event; (3) insert
//! them; (4) bring every session the batch touched up to date and write its row; (5) bring each touched
//! account's history up to date, score it, record the alerts and queue their deliveries; (6) save the
//! accounts. A crash between any two steps leaves events whose derived rows are stale; the replay finds
//! those events in step 1, keeps their sessions, and redoes steps 4-6 for them, writing the same rows.
//! Alerts are written before accounts so a replay still sees the crossing.
//!
//! Steps 4 and 5 work from memory ([`Warm`]): the rows of the sessions and the histories of the accounts
//! this processor has followed, to which each batch adds its new events. What is not in memory (after a
//! start, a rebalance, a failed write, an eviction, or [`WARM_TTL`] after it was read) is read from
//! ClickHouse first, from the stored events. Without it each batch re-read every touched account's whole
//! history, a cost that grew with the account (measured in `benches/README.md`).

use super::{Rules, Written};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};
use vtrack_bus::Batch;
use vtrack_model::account::{AccountEvent, StoredScore};
use vtrack_model::event::Utm;
use vtrack_model::EnrichedEvent;
use vtrack_process::{Assignment, Sessionizer, VisitorState};
use vtrack_store::clickhouse::{AccountState, SessionRow};
use vtrack_store::{ClickHouseStore, EventRow, StoreError};

/// Account history events held in memory at most, over all accounts; past it the accounts least recently
/// touched are dropped (and read again from ClickHouse when they next get events). About 200 bytes each.
const WARM_EVENTS_MAX: usize = 500_000;

/// How long a session row or account history read from ClickHouse is continued in memory before it is
/// read again. Events of one session or account normally reach one processor (the Kafka key), but a
/// visitor who changes networks mid-session sends some to another; this bounds how long memory can miss
/// what another processor added.
const WARM_TTL: Duration = Duration::from_secs(30);

/// Batches between two sweeps of sessions that can no longer grow.
const SWEEP_EVERY: u64 = 32;

/// The sessions and accounts a processor follows, per site; see the module docs.
#[derive(Default)]
pub struct Warm {
    sites: HashMap<String, SiteWarm>,
    batches: u64,
    /// The latest event time seen, seconds: sessions idle for long before it are swept.
    newest_secs: u32,
}

#[derive(Default)]
struct SiteWarm {
    /// Each row with when it was last read from ClickHouse.
    sessions: HashMap<String, (SessionRow, Instant)>,
    accounts: HashMap<String, WarmAccount>,
}

/// An account's history and aggregates as `load_accounts` gives them, kept up to date.
struct WarmAccount {
    state: AccountState,
    sessions: HashSet<String>,
    visitors: HashSet<String>,
    last_batch: u64,
    /// When it was read from ClickHouse.
    read: Instant,
}

impl WarmAccount {
    fn new(state: AccountState, batch: u64) -> WarmAccount {
        let events = &state.history.events;
        WarmAccount {
            sessions: events.iter().map(|e| e.session_id.clone()).collect(),
            visitors: events.iter().map(|e| e.visitor_id.clone()).collect(),
            state,
            last_batch: batch,
            read: Instant::now(),
        }
    }

    /// Adds a new event of `session`, a session of this account, as `load_accounts` would count it.
    fn add(&mut self, e: &EnrichedEvent, session: &SessionRow) {
        let a = &mut self.state;
        if self.sessions.insert(session.session_id.clone()) {
            a.sessions += 1;
            let h = &mut a.history;
            h.company_name = h.company_name.clone().max(session.company_name.clone());
            h.country = h.country.clone().max(session.country.clone());
            // The aggregate keeps the highest class name of the account's sessions.
            let class = h.network_class.as_str().max(session.network_class.as_str());
            h.network_class = class.parse().unwrap_or_default();
        }
        if self.visitors.insert(e.visitor_id.clone()) {
            a.visitors = self.visitors.len() as u32;
        }
        let ts_secs = e.ts_ms.div_euclid(1000).clamp(0, i64::from(u32::MAX));
        a.first_seen = a.first_seen.min(ts_secs);
        a.last_seen = a.last_seen.max(ts_secs);
        a.pageviews += u32::from(e.kind == "pageview");
        a.engaged_ms += e.eng_ms;
        let event = AccountEvent {
            event_id: e.event_id.clone(),
            ts_secs,
            kind: e.kind.clone(),
            path: e.path.clone(),
            eng_ms: e.eng_ms,
            visitor_id: e.visitor_id.clone(),
            session_id: session.session_id.clone(),
            utm: Utm {
                source: e.utm.source.clone(),
                medium: e.utm.medium.clone(),
                campaign: e.utm.campaign.clone(),
                ..Default::default()
            },
            email: e.email.clone(),
            is_new: true,
        };
        // In (time, id) order, as `load_accounts` reads them.
        let events = &mut a.history.events;
        let at = events.partition_point(|x| (x.ts_secs, x.event_id.as_str()) <= (ts_secs, e.event_id.as_str()));
        events.insert(at, event);
    }
}

impl Warm {
    /// Drops everything: after a rebalance or a failed write, memory may be behind the store.
    pub fn forget(&mut self) {
        self.sites.clear();
    }

    /// Sweeps sessions idle for over twice the session timeout (no new event can join them) and, past
    /// [`WARM_EVENTS_MAX`], the accounts least recently touched.
    fn sweep(&mut self, timeout_secs: u32) {
        self.batches += 1;
        if self.batches % SWEEP_EVERY == 0 {
            let horizon = self.newest_secs.saturating_sub(timeout_secs.saturating_mul(2));
            for site in self.sites.values_mut() {
                site.sessions.retain(|_, (row, _)| row.ended_at >= horizon);
            }
        }
        let mut held: usize =
            self.sites.values().flat_map(|s| s.accounts.values()).map(|a| a.state.history.events.len()).sum();
        while held > WARM_EVENTS_MAX {
            let oldest = self
                .sites
                .iter()
                .flat_map(|(site, s)| s.accounts.iter().map(move |(d, a)| (a.last_batch, site.clone(), d.clone())))
                .min();
            let Some((_, site, domain)) = oldest else { break };
            if let Some(a) = self.sites.get_mut(&site).and_then(|s| s.accounts.remove(&domain)) {
                held -= a.state.history.events.len();
            }
        }
    }
}

/// An event of the batch and what processing decided about it.
struct Placed<'a> {
    event: &'a EnrichedEvent,
    partition: i32,
    session_id: String,
    is_return: bool,
    fresh: bool,
}

pub(super) async fn write(
    store: &ClickHouseStore,
    warm: &mut Warm,
    sessions: &mut Sessionizer,
    rules: &Rules,
    batch: &Batch,
) -> Result<Written, StoreError> {
    // One copy of each event, in event-time order: sessions depend on order, and time makes it the same
    // on every replay.
    let mut seen = HashSet::new();
    let mut events: Vec<(&EnrichedEvent, i32)> = batch
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| seen.insert(e.event_id.as_str()))
        .map(|(i, e)| (e, batch.partitions.get(i).copied().unwrap_or(-1)))
        .collect();
    events.sort_by_key(|(e, _)| e.ts_ms);
    let mut by_site: BTreeMap<&str, Vec<(&EnrichedEvent, i32)>> = BTreeMap::new();
    for (e, p) in events {
        by_site.entry(e.site.as_str()).or_default().push((e, p));
    }

    let mut written = Written::default();
    let newest = batch.events.iter().map(|e| e.ts_ms.div_euclid(1000).clamp(0, i64::from(u32::MAX))).max();
    warm.newest_secs = warm.newest_secs.max(newest.unwrap_or(0) as u32);
    let batch_no = warm.batches;
    for (site, events) in by_site {
        let site_warm = warm.sites.entry(site.to_string()).or_default();
        let w = write_site(store, site_warm, batch_no, sessions, rules, site, &events).await?;
        written.stored += w.stored;
        written.deliveries += w.deliveries;
    }
    warm.sweep(rules.session_timeout.as_secs().min(u64::from(u32::MAX)) as u32);
    written.duplicates = batch.events.len() - written.stored;
    Ok(written)
}

async fn write_site(
    store: &ClickHouseStore,
    warm: &mut SiteWarm,
    batch_no: u64,
    sessions: &mut Sessionizer,
    rules: &Rules,
    site: &str,
    events: &[(&EnrichedEvent, i32)],
) -> Result<Written, StoreError> {
    // 1. What is stored already.
    let visitors: Vec<&str> = distinct(events.iter().map(|(e, _)| e.visitor_id.as_str()));
    let ids: Vec<&str> = events.iter().map(|(e, _)| e.event_id.as_str()).collect();
    let span = events.iter().fold((i64::MAX, i64::MIN), |(lo, hi), (e, _)| (lo.min(e.ts_ms), hi.max(e.ts_ms)));
    let prior = store.existing(site, &visitors, &ids, span).await?;

    // 2. Sessionize the rest.
    let fresh: Vec<&EnrichedEvent> =
        events.iter().map(|(e, _)| *e).filter(|e| !prior.contains_key(&e.event_id)).collect();
    let unknown = sessions.unknown_visitors(fresh.iter().copied());
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|k| k.1.as_str()).collect();
        let found: HashMap<String, VisitorState> = store
            .last_visits(site, &names)
            .await?
            .into_iter()
            .map(|(v, l)| (v, VisitorState { last_ts: l.ts_secs, session_id: l.session_id, is_return: l.is_return }))
            .collect();
        for key in unknown {
            let state = found.get(&key.1).cloned();
            sessions.prime(key, state);
        }
    }
    let mut placed = Vec::with_capacity(events.len());
    for &(e, partition) in events {
        let (session_id, is_return, fresh) = match prior.get(&e.event_id) {
            Some(p) => (p.session_id.clone(), p.is_return, false),
            None => {
                let Assignment { session_id, is_return, .. } = sessions.assign(e);
                (session_id, is_return, true)
            }
        };
        placed.push(Placed { event: e, partition, session_id, is_return, fresh });
    }

    // 3. Insert the new events.
    let rows: Vec<EventRow<'_>> = placed
        .iter()
        .filter(|p| p.fresh)
        .map(|p| EventRow { event: p.event, session_id: &p.session_id, is_return: p.is_return })
        .collect();
    store.insert_events(&rows).await?;
    let stored = rows.len();

    // 4. The touched sessions: continued in memory, started by this batch, or read from the store.
    let session_ids: Vec<&str> = distinct(placed.iter().map(|p| p.session_id.as_str()));
    let SiteWarm { sessions: rows, accounts } = warm;
    let fresh_ids: HashMap<&str, &EnrichedEvent> =
        placed.iter().filter(|p| p.fresh).map(|p| (p.event.event_id.as_str(), p.event)).collect();
    let mut cold: Vec<&str> = Vec::new();
    for &sid in &session_ids {
        if rows.get(sid).is_some_and(|(_, read)| read.elapsed() < WARM_TTL) {
            continue;
        }
        match fresh_ids.get(sid) {
            // Its first event is new, so nothing of it is stored but what step 3 just wrote.
            Some(first) => {
                rows.insert(sid.to_string(), (SessionRow::new(site, sid, &first.visitor_id), Instant::now()));
            }
            None => cold.push(sid),
        }
    }
    let cold: HashSet<&str> = cold.into_iter().collect();
    if !cold.is_empty() {
        let ids: Vec<&str> = cold.iter().copied().collect();
        // Read after step 3, so these rows count this batch's events already.
        for row in store.session_rows(site, &visitors, &ids).await? {
            rows.insert(row.session_id.clone(), (row, Instant::now()));
        }
    }
    for p in placed.iter().filter(|p| p.fresh && !cold.contains(p.session_id.as_str())) {
        if let Some((row, _)) = rows.get_mut(&p.session_id) {
            row.add(p.event, p.is_return);
        }
    }
    let touched: Vec<&SessionRow> = session_ids.iter().filter_map(|sid| rows.get(*sid).map(|(r, _)| r)).collect();
    store.insert_sessions(&touched).await?;

    // 5. Score the touched accounts: those of the sessions the batch added to.
    let owner = |sid: &str| rows.get(sid).map(|(r, _)| r.company_domain.as_str()).filter(|d| !d.is_empty());
    let mut partition_of: BTreeMap<&str, i32> = BTreeMap::new();
    for p in &placed {
        if let Some(domain) = owner(&p.session_id) {
            partition_of.entry(domain).or_insert(p.partition);
        }
    }
    let held = |d: &str| accounts.get(d).is_some_and(|a| a.read.elapsed() < WARM_TTL);
    let unknown: Vec<&str> = partition_of.keys().copied().filter(|d| !held(d)).collect();
    // Read after step 4, so these histories have this batch's events already; the others get them here.
    let loaded: HashSet<String> = store
        .load_accounts(site, &unknown)
        .await?
        .into_iter()
        .map(|state| {
            let domain = state.history.company_domain.clone();
            accounts.insert(domain.clone(), WarmAccount::new(state, batch_no));
            domain
        })
        .collect();
    for p in placed.iter().filter(|p| p.fresh) {
        let Some((domain, (row, _))) = owner(&p.session_id).zip(rows.get(&p.session_id)) else { continue };
        if loaded.contains(domain) {
            continue;
        }
        if let Some(a) = accounts.get_mut(domain) {
            a.add(p.event, row);
        }
    }
    let batch_ids: HashSet<&str> = placed.iter().map(|p| p.event.event_id.as_str()).collect();
    let mut scored = Vec::with_capacity(partition_of.len());
    for &domain in partition_of.keys() {
        let Some(a) = accounts.get_mut(domain) else { continue };
        a.last_batch = batch_no;
        // Everything in this batch counts as new, also events a crashed attempt stored: their alerts may
        // not have been written, and alert ids are stable, so raising one again is harmless.
        for e in &mut a.state.history.events {
            e.is_new = batch_ids.contains(e.event_id.as_str());
        }
        scored.push((domain, rules.scorer.score(&a.state.history)));
    }
    let alerts: Vec<_> = scored.iter().flat_map(|(_, s)| &s.alerts).collect();
    store.insert_alerts(&alerts).await?;
    let mut deliveries = 0;
    for alert in &alerts {
        let partition = partition_of.get(alert.company_domain.as_str()).copied().unwrap_or(-1);
        deliveries += store.queue_deliveries(alert, &rules.webhooks, partition).await?;
    }

    // 6. Save the accounts, and remember the scores as the next batch's previous ones.
    let pairs: Vec<_> = scored.iter().filter_map(|(d, s)| accounts.get(*d).map(|a| (&a.state, s))).collect();
    store.save_accounts(&pairs).await?;
    for (domain, score) in &scored {
        if let Some(a) = accounts.get_mut(*domain) {
            a.state.history.previous = Some(StoredScore {
                score: score.score,
                score_at_secs: score.score_at_secs,
                stage: score.stage.clone(),
            });
        }
    }
    Ok(Written { stored, duplicates: 0, deliveries })
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    items.collect::<BTreeSet<_>>().into_iter().collect()
}
