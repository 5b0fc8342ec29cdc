//! Steps 3 and 5: the rows of the sessions the batch touches, read when memory does not hold them, then
//! continued with the new events ([`SessionRow::add`]) and written whole.

use std::collections::{HashMap, HashSet};

use super::distinct;
use super::events::Placed;
use super::store::SessionStore;
use super::warm::SiteWarm;
use crate::SessionRow;

/// The sessions a batch touches.
pub(super) struct Touched<'a> {
    /// Every session with an event of the batch, each once.
    pub ids: Vec<&'a str>,
    /// Those the batch opened (its first event is new).
    pub opened: HashSet<&'a str>,
    /// Those with a stored event that memory did not hold: the event may lack its derived rows, so its
    /// account is recomputed from the stored history.
    pub healing: HashSet<&'a str>,
}

/// Step 3: reads the stored rows of the touched sessions memory does not hold (as stored before the
/// batch: this runs before the insert).
pub(super) async fn read<'a, S: SessionStore>(
    store: &mut S,
    warm: &mut SiteWarm,
    site: &str,
    visitors: &[&str],
    placed: &'a [Placed<'a>],
) -> Result<Touched<'a>, S::Error> {
    let opened: HashSet<&str> =
        placed.iter().filter(|p| p.fresh && p.event.event_id == p.session_id).map(|p| p.session_id.as_str()).collect();
    let ids: Vec<&str> = distinct(placed.iter().map(|p| p.session_id.as_str()));
    let cold: Vec<&str> = ids.iter().copied().filter(|sid| !opened.contains(sid) && !warm.fresh_session(sid)).collect();
    if !cold.is_empty() {
        for row in store.session_rows(site, visitors, &cold).await? {
            warm.hold_session(row);
        }
    }
    let cold: HashSet<&str> = cold.into_iter().collect();
    let healing = placed
        .iter()
        .filter(|p| !p.fresh && cold.contains(p.session_id.as_str()))
        .map(|p| p.session_id.as_str())
        .collect();
    Ok(Touched { ids, opened, healing })
}

/// Step 5: continues each touched session's row with the new events and writes it; returns the rows as
/// they were before the batch (what the accounts counted), by session.
pub(super) async fn write<'a, S: SessionStore>(
    store: &mut S,
    warm: &mut SiteWarm,
    site: &str,
    placed: &[Placed<'_>],
    touched: &Touched<'a>,
) -> Result<HashMap<&'a str, SessionRow>, S::Error> {
    let mut before: HashMap<&str, SessionRow> = HashMap::new();
    let mut visitor_of: HashMap<&str, &str> = HashMap::new();
    for p in placed {
        visitor_of.entry(p.session_id.as_str()).or_insert(p.event.visitor_id.as_str());
    }
    for &sid in &touched.ids {
        match warm.sessions.get(sid) {
            Some((row, _)) if !touched.opened.contains(sid) && !row.is_empty() => {
                before.insert(sid, row.clone());
            }
            _ => warm.hold_session(SessionRow::new(site, sid, visitor_of.get(sid).copied().unwrap_or_default())),
        }
    }
    for p in placed.iter().filter(|p| p.fresh) {
        if let Some((row, _)) = warm.sessions.get_mut(&p.session_id) {
            row.add(p.event, p.is_return);
        }
    }
    let after: Vec<&SessionRow> =
        touched.ids.iter().filter_map(|sid| warm.sessions.get(*sid).map(|(r, _)| r)).collect();
    store.write_sessions(&after).await?;
    Ok(before)
}
