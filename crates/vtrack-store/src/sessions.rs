//! Session rows kept up to date from each batch's new events, without re-reading the session's older ones.
//!
//! A session's row is a sum over its events (first and last time, counts, engaged time) plus the fields of
//! its first event. The batch's inserted events are exactly the ones the row has not counted yet (the insert
//! skips events already stored, in the same transaction), so adding their totals to the row gives what a
//! recount from `events` would. The recount cost grew with the session's length at every batch; this costs
//! one upsert per touched session.

use crate::{EventRow, StoreError};
use rusqlite::{params, Transaction};
use std::collections::{BTreeMap, BTreeSet};
use vtrack_model::time::format_ms;

/// What a batch adds to one session.
#[derive(Debug)]
pub(crate) struct SessionDelta<'a> {
    started: String,
    ended: String,
    pageviews: i64,
    events: i64,
    engaged_ms: i64,
    is_return: bool,
    /// The event that opened the session (its id is the session's id), when in this batch; else the batch's
    /// earliest event of the session, used only if the session has no row yet.
    entry: EventRow<'a>,
    entry_is_first: bool,
}

/// Collects the deltas of the inserted events, by session.
#[derive(Debug, Default)]
pub(crate) struct SessionDeltas<'a> {
    by_session: BTreeMap<&'a str, SessionDelta<'a>>,
}

impl<'a> SessionDeltas<'a> {
    pub(crate) fn add(&mut self, row: &EventRow<'a>) {
        let e = row.event;
        let ts = format_ms(e.ts_ms);
        let is_first = e.event_id == row.session_id;
        let d = self.by_session.entry(row.session_id).or_insert_with(|| SessionDelta {
            started: ts.clone(),
            ended: ts.clone(),
            pageviews: 0,
            events: 0,
            engaged_ms: 0,
            is_return: false,
            entry: *row,
            entry_is_first: is_first,
        });
        if ts < d.started {
            d.started = ts.clone();
            if !d.entry_is_first {
                d.entry = *row;
            }
        }
        if ts > d.ended {
            d.ended = ts;
        }
        if is_first {
            d.entry = *row;
            d.entry_is_first = true;
        }
        d.pageviews += i64::from(e.kind == "pageview");
        d.events += 1;
        d.engaged_ms += e.eng_ms as i64;
        d.is_return |= row.is_return;
    }

    pub(crate) fn len(&self) -> usize {
        self.by_session.len()
    }

    /// Applies the deltas; returns the accounts (site, domain) of the sessions touched.
    pub(crate) fn apply(&self, tx: &Transaction<'_>) -> Result<BTreeSet<(String, String)>, StoreError> {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO sessions (session_id, site, visitor_id, company_domain, company_name, network_class,
               country, started_at, ended_at, pageviews, events, engaged_ms, is_return, entry_path, referrer,
               utm_source, utm_medium, utm_campaign)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
             ON CONFLICT (session_id) DO UPDATE SET
               started_at = min(started_at, excluded.started_at), ended_at = max(ended_at, excluded.ended_at),
               pageviews = pageviews + excluded.pageviews, events = events + excluded.events,
               engaged_ms = engaged_ms + excluded.engaged_ms, is_return = max(is_return, excluded.is_return)
             RETURNING site, company_domain",
        )?;
        let mut accounts = BTreeSet::new();
        for (session_id, d) in &self.by_session {
            let e = d.entry.event;
            let c = &e.company;
            let domain = if c.network_class.is_account() { c.company_domain.as_str() } else { "" };
            let mut rows = upsert.query(params![
                session_id,
                e.site,
                e.visitor_id,
                domain,
                c.company_name,
                c.network_class.as_str(),
                c.country,
                d.started,
                d.ended,
                d.pageviews,
                d.events,
                d.engaged_ms,
                d.is_return,
                e.path,
                e.referrer,
                e.utm.source,
                e.utm.medium,
                e.utm.campaign,
            ])?;
            while let Some(r) = rows.next()? {
                let (site, domain): (String, String) = (r.get(0)?, r.get(1)?);
                if !domain.is_empty() {
                    accounts.insert((site, domain));
                }
            }
        }
        Ok(accounts)
    }
}
