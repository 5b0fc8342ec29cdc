//! Steps 2 and 4: which of the batch's events are new, the session of each, and their insert.
//!
//! A stored event keeps the session it was given when first written, so a replay places it where it was.
//! On an atomic store a stored event was fully processed and is left out; on the others it may lack its
//! derived rows (a crash between two steps), so it is placed again, not inserted again.

use vtrack_model::EnrichedEvent;

use super::store::{EventRow, EventStore};
use super::{distinct, Batched};
use crate::{Assignment, Sessionizer};

/// An event of the batch and what processing decided about it.
pub(super) struct Placed<'a> {
    pub event: &'a EnrichedEvent,
    pub partition: i32,
    pub session_id: String,
    pub is_return: bool,
    /// Not stored before this batch.
    pub fresh: bool,
}

/// The batch's events, placed in their sessions.
pub(super) struct Placement<'a> {
    pub placed: Vec<Placed<'a>>,
    /// The batch's visitors, each once.
    pub visitors: Vec<&'a str>,
}

/// Step 2: finds the batch's stored events and sessionizes the rest, priming the sessionizer with the
/// last visit of visitors it does not hold.
pub(super) async fn place<'a, S: EventStore>(
    store: &mut S,
    sessions: &mut Sessionizer,
    site: &str,
    events: &[Batched<&'a EnrichedEvent>],
) -> Result<Placement<'a>, S::Error> {
    let visitors: Vec<&str> = distinct(events.iter().map(|s| s.event.visitor_id.as_str()));
    let all: Vec<&EnrichedEvent> = events.iter().map(|s| s.event).collect();
    let prior = store.stored_events(site, &visitors, &all).await?;
    let fresh = all.iter().copied().filter(|e| !prior.contains_key(&e.event_id));
    let unknown = sessions.unknown_visitors(fresh);
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|k| k.1.as_str()).collect();
        let found = store.last_visits(site, &names).await?;
        for key in unknown {
            let state = found.get(&key.1).cloned();
            sessions.prime(key, state);
        }
    }
    let atomic = store.atomic();
    let mut placed = Vec::with_capacity(events.len());
    for &Batched { event, partition } in events {
        match prior.get(&event.event_id) {
            // Fully processed when the store is atomic; else it may lack its derived rows.
            Some(_) if atomic => {}
            Some(p) => placed.push(Placed {
                event,
                partition,
                session_id: p.session_id.clone(),
                is_return: p.is_return,
                fresh: false,
            }),
            None => {
                let Assignment { session_id, is_return, .. } = sessions.assign(event);
                placed.push(Placed { event, partition, session_id, is_return, fresh: true });
            }
        }
    }
    Ok(Placement { placed, visitors })
}

/// Step 4: inserts the new events; returns how many.
pub(super) async fn insert<S: EventStore>(store: &mut S, placed: &[Placed<'_>]) -> Result<usize, S::Error> {
    let rows: Vec<EventRow<'_>> = placed
        .iter()
        .filter(|p| p.fresh)
        .map(|p| EventRow { event: p.event, session_id: &p.session_id, is_return: p.is_return })
        .collect();
    store.insert_events(&rows).await?;
    Ok(rows.len())
}
