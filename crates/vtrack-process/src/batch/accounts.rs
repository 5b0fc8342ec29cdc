//! Steps 6 and 9: the accounts the batch touched, each continued from its state ([`Scorer::apply`]) or,
//! when its state cannot be trusted, recomputed from its stored history ([`Scorer::recompute`]); and, last
//! of the derived rows, their writing.
//!
//! An account is recomputed when a relabelling moved events into or out of it, when a replayed event's
//! session was not in memory (its derived rows may be missing), or when its state was scored under another
//! scoring config. An account left without sessions by a relabelling is dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::events::Placed;
use super::sessions::Touched as TouchedSessions;
use super::store::AccountStore;
use super::warm::{SiteWarm, WarmAccount};
use crate::account::{AccountEvent, AccountScore, AccountState, SessionChange};
use crate::{Scorer, SessionRow};

/// What step 6 concluded, by account.
pub(super) struct Scored {
    /// Each touched account's verdict, in account order.
    pub verdicts: Vec<(String, AccountScore)>,
    /// Accounts with no stored row before the batch: they get an owner.
    pub first_seen: BTreeSet<String>,
    /// The Kafka partition of each account's first event in the batch: where its deliveries go out from.
    pub partitions: HashMap<String, i32>,
    /// Accounts recomputed from their history.
    pub recomputed: usize,
}

/// What a batch brings to one account.
struct Touched<'a> {
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

/// The batch's account-level input.
pub(super) struct Input<'a> {
    pub site: &'a str,
    pub placed: &'a [Placed<'a>],
    pub sessions: &'a TouchedSessions<'a>,
    /// The rows of the touched sessions before the batch.
    pub before: &'a HashMap<&'a str, SessionRow>,
    /// Accounts a relabelling changed.
    pub relabelled: &'a BTreeSet<String>,
    /// The partition of the batch's first event: a relabelled account's deliveries go out from it.
    pub held_partition: i32,
}

/// Step 6 (see the module doc).
pub(super) async fn score<S: AccountStore>(
    store: &mut S,
    warm: &mut SiteWarm,
    scorer: &Scorer,
    batch_no: u64,
    input: Input<'_>,
) -> Result<Scored, S::Error> {
    let SiteWarm { sessions: rows, accounts: held, .. } = warm;
    let mut accounts = touched(input.placed, input.sessions, rows);
    for domain in input.relabelled {
        accounts.entry(domain.as_str()).or_insert_with(|| Touched::new(input.held_partition)).recompute = true;
    }
    let domains: Vec<&str> = accounts.keys().copied().collect();
    let first_seen = load_states(store, held, input.site, &domains).await?;
    for (domain, t) in accounts.iter_mut() {
        t.recompute |= held.get(*domain).is_some_and(|a| a.state.scoring != scorer.fingerprint());
    }
    let recompute: Vec<&str> = accounts.iter().filter(|(_, t)| t.recompute).map(|(d, _)| *d).collect();
    let batch_ids: HashSet<&str> = input.placed.iter().map(|p| p.event.event_id.as_str()).collect();
    let (mut verdicts, emptied) =
        recompute_from_history(store, held, scorer, input.site, &recompute, &batch_ids).await?;
    let recomputed = verdicts.len();
    let emptied: Vec<&str> = emptied.iter().map(String::as_str).collect();
    store.drop_accounts(input.site, &emptied).await?;
    for (domain, t) in accounts.iter().filter(|(_, t)| !t.recompute) {
        let a =
            held.entry(domain.to_string()).or_insert_with(|| WarmAccount::new(AccountState::new(input.site, domain)));
        let changes: Vec<SessionChange<'_>> = t
            .changes
            .iter()
            .map(|(sid, row)| SessionChange {
                before: input.before.get(sid),
                after: row,
                is_new: input.sessions.opened.contains(sid),
            })
            .collect();
        verdicts.push((domain.to_string(), scorer.apply(&mut a.state, &changes, &t.events)));
    }
    for (domain, _) in &verdicts {
        if let Some(a) = held.get_mut(domain) {
            a.last_batch = batch_no;
        }
    }
    let partitions = accounts.iter().map(|(d, t)| (d.to_string(), t.partition)).collect();
    Ok(Scored { verdicts, first_seen, partitions, recomputed })
}

/// The accounts of the sessions the batch added to, with their new events and changed sessions.
fn touched<'a>(
    placed: &'a [Placed<'a>],
    sessions: &TouchedSessions<'_>,
    rows: &'a HashMap<String, (SessionRow, std::time::Instant)>,
) -> BTreeMap<&'a str, Touched<'a>> {
    let mut accounts: BTreeMap<&str, Touched<'_>> = BTreeMap::new();
    for p in placed {
        let Some((row, _)) = rows.get(&p.session_id) else { continue };
        if row.company_domain.is_empty() {
            continue;
        }
        let t = accounts.entry(row.company_domain.as_str()).or_insert_with(|| Touched::new(p.partition));
        if sessions.healing.contains(p.session_id.as_str()) {
            t.recompute = true;
        }
        if p.fresh {
            t.events.push(AccountEvent::of(p.event, true));
            if t.sessions.insert(p.session_id.as_str()) {
                t.changes.push((p.session_id.as_str(), row));
            }
        }
    }
    accounts
}

/// Reads the states memory does not hold (or holds for longer than its TTL); returns the accounts that
/// have no stored row, seen for the first time.
async fn load_states<S: AccountStore>(
    store: &mut S,
    held: &mut HashMap<String, WarmAccount>,
    site: &str,
    domains: &[&str],
) -> Result<BTreeSet<String>, S::Error> {
    let missing: Vec<&str> =
        domains.iter().copied().filter(|d| !held.get(*d).is_some_and(WarmAccount::is_fresh)).collect();
    let mut first_seen: BTreeSet<String> =
        missing.iter().filter(|d| !held.contains_key(**d)).map(|d| d.to_string()).collect();
    for state in store.account_states(site, &missing).await? {
        first_seen.remove(&state.company_domain);
        held.insert(state.company_domain.clone(), WarmAccount::new(state));
    }
    Ok(first_seen)
}

/// Recomputes `domains` from their stored histories; returns their verdicts and the accounts left with no
/// session (every session now counts for another account). Alerts are raised for the batch's events only.
pub(super) async fn recompute_from_history<S: AccountStore>(
    store: &mut S,
    held: &mut HashMap<String, WarmAccount>,
    scorer: &Scorer,
    site: &str,
    domains: &[&str],
    batch_ids: &HashSet<&str>,
) -> Result<(Vec<(String, AccountScore)>, Vec<String>), S::Error> {
    let mut verdicts = Vec::new();
    let mut emptied = Vec::new();
    for mut h in store.account_histories(site, domains).await? {
        if h.sessions.is_empty() {
            held.remove(&h.company_domain);
            emptied.push(h.company_domain);
            continue;
        }
        // New activity only: on an atomic store a replayed event raised its alerts when it was first
        // written (and is not placed); on the others it is placed, and raises the same alert ids again.
        for e in &mut h.events {
            e.is_new = batch_ids.contains(e.event_id.as_str());
        }
        let previous = held.get(&h.company_domain).and_then(|a| a.state.last.clone());
        let (state, verdict) = scorer.recompute(&h, previous);
        held.insert(h.company_domain.clone(), WarmAccount::new(state));
        verdicts.push((h.company_domain, verdict));
    }
    Ok((verdicts, emptied))
}

/// Step 9: writes each scored account's row.
pub(super) async fn save<S: AccountStore>(store: &mut S, warm: &SiteWarm, scored: &Scored) -> Result<(), S::Error> {
    let pairs: Vec<(&AccountState, &AccountScore)> =
        scored.verdicts.iter().filter_map(|(d, v)| warm.accounts.get(d).map(|a| (&a.state, v))).collect();
    store.save_accounts(&pairs).await
}
