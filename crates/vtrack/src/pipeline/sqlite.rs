//! The embedded store's batch write: everything in one SQLite transaction.

use super::{Rules, Written};
use std::collections::HashSet;
use vtrack_model::EnrichedEvent;
use vtrack_process::{Sessionizer, VisitorState};
use vtrack_store::{EventRow, SqliteStore, StoreError};

/// Sessionizes the events the store does not have yet and writes them with their scores and alerts;
/// returns what it stored.
pub(super) fn write(
    store: &mut SqliteStore,
    sessions: &mut Sessionizer,
    rules: &Rules,
    events: &[EnrichedEvent],
) -> Result<Written, StoreError> {
    let existing = store.existing_ids(events.iter().map(|e| e.event_id.as_str()))?;
    let mut seen = HashSet::new();
    let mut fresh: Vec<&EnrichedEvent> =
        events.iter().filter(|e| !existing.contains(&e.event_id) && seen.insert(e.event_id.as_str())).collect();
    // Sessions depend on order; event time makes it the same on every replay.
    fresh.sort_by_key(|e| e.ts_ms);
    for key in sessions.unknown_visitors(fresh.iter().copied()) {
        let state = store.last_visit(&key.0, &key.1)?.map(|v| VisitorState {
            last_ts: v.ts_secs,
            session_id: v.session_id,
            is_return: v.is_return,
        });
        sessions.prime(key, state);
    }
    let assigned: Vec<_> = fresh.iter().map(|e| sessions.assign(e)).collect();
    let rows: Vec<EventRow<'_>> = fresh
        .iter()
        .zip(&assigned)
        .map(|(e, a)| EventRow { event: e, session_id: &a.session_id, is_return: a.is_return })
        .collect();
    let report = store.write_batch(&rows, &mut |h| rules.scorer.score(h), &rules.webhooks)?;
    Ok(Written { stored: report.inserted, duplicates: events.len() - report.inserted, deliveries: report.deliveries })
}
