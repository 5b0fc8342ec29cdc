//! The ClickHouse batch write.
//!
//! Steps, each repeatable: (1) find which of the batch's events are stored already, with the sessions they
//! were given; (2) sessionize the rest, continuing each visitor from their latest stored event; (3) insert
//! them; (4) recompute every session the batch touched from its stored events; (5) load each touched
//! account's stored history, score it, record the alerts and queue their deliveries; (6) save the
//! accounts. A crash between any two steps leaves events whose derived rows are stale; the replay finds
//! those events in step 1, keeps their sessions, and redoes steps 4-6 for them, writing the same rows.
//! Alerts are written before accounts so a replay still sees the crossing.

use super::{Rules, Written};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use vtrack_bus::Batch;
use vtrack_model::EnrichedEvent;
use vtrack_process::{Assignment, Sessionizer, VisitorState};
use vtrack_store::{ClickHouseStore, EventRow, StoreError};

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
    for (site, events) in by_site {
        let w = write_site(store, sessions, rules, site, &events).await?;
        written.stored += w.stored;
        written.deliveries += w.deliveries;
    }
    written.duplicates = batch.events.len() - written.stored;
    Ok(written)
}

async fn write_site(
    store: &ClickHouseStore,
    sessions: &mut Sessionizer,
    rules: &Rules,
    site: &str,
    events: &[(&EnrichedEvent, i32)],
) -> Result<Written, StoreError> {
    // 1. What is stored already.
    let visitors: Vec<&str> = distinct(events.iter().map(|(e, _)| e.visitor_id.as_str()));
    let ids: Vec<&str> = events.iter().map(|(e, _)| e.event_id.as_str()).collect();
    let prior = store.existing(site, &visitors, &ids).await?;

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

    // 4. Recompute the touched sessions.
    let session_ids: Vec<&str> = distinct(placed.iter().map(|p| p.session_id.as_str()));
    store.recompute_sessions(site, &visitors, &session_ids).await?;

    // 5. Score the touched accounts: those of the sessions the batch added to.
    let owners = store.session_accounts(site, &visitors, &session_ids).await?;
    let mut partition_of: BTreeMap<&str, i32> = BTreeMap::new();
    for p in &placed {
        if let Some(domain) = owners.get(&p.session_id) {
            partition_of.entry(domain.as_str()).or_insert(p.partition);
        }
    }
    let domains: Vec<&str> = partition_of.keys().copied().collect();
    let batch_ids: HashSet<&str> = placed.iter().map(|p| p.event.event_id.as_str()).collect();
    let mut accounts = store.load_accounts(site, &domains).await?;
    let mut scores = Vec::with_capacity(accounts.len());
    for a in &mut accounts {
        // Everything in this batch counts as new, also events a crashed attempt stored: their alerts may
        // not have been written, and alert ids are stable, so raising one again is harmless.
        for e in &mut a.history.events {
            e.is_new = batch_ids.contains(e.event_id.as_str());
        }
        scores.push(rules.scorer.score(&a.history));
    }
    let alerts: Vec<_> = scores.iter().flat_map(|s| &s.alerts).collect();
    store.insert_alerts(&alerts).await?;
    let mut deliveries = 0;
    for alert in &alerts {
        let partition = partition_of.get(alert.company_domain.as_str()).copied().unwrap_or(-1);
        deliveries += store.queue_deliveries(alert, &rules.webhooks, partition).await?;
    }

    // 6. Save the accounts.
    let pairs: Vec<_> = accounts.iter().zip(&scores).collect();
    store.save_accounts(&pairs).await?;
    Ok(Written { stored, duplicates: 0, deliveries })
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    items.collect::<BTreeSet<_>>().into_iter().collect()
}
