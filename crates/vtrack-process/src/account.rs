//! What processing keeps about an account, and what scoring concludes.
//!
//! An account's row is its [`AccountState`]: the aggregates over its sessions plus the scoring state, the
//! small set of running sums and first-seen times the verdict is drawn from. The state is stored with the
//! account, so a batch costs what its new events cost: a restart or a rebalance reloads the state, not
//! the history. [`AccountHistory`] (sessions and events) is read only to recompute a state from scratch:
//! `vtrack rescore`, a changed scoring config, or a replay that may have stored events without their state.

use crate::SessionRow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vtrack_model::alert::{Alert, Campaign, PageContribution};
use vtrack_model::{IdSource, NetworkClass};

/// One event of an account, as scoring sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountEvent {
    pub event_id: String,
    /// Whose event it is: a visitor's page points per day are bounded (`max_visitor_day_points`).
    pub visitor_id: String,
    pub ts_secs: i64,
    pub kind: String,
    pub path: String,
    pub eng_ms: u64,
    pub email: String,
    /// Part of the batch being written now: alerts are raised for new activity only.
    pub is_new: bool,
}

impl AccountEvent {
    /// The scoring view of an ingested event.
    pub fn of(e: &vtrack_model::EnrichedEvent, is_new: bool) -> AccountEvent {
        AccountEvent {
            event_id: e.event_id.clone(),
            visitor_id: e.visitor_id.clone(),
            ts_secs: e.ts_ms.div_euclid(1000),
            kind: e.kind.clone(),
            path: e.path.clone(),
            eng_ms: e.eng_ms,
            email: e.email.clone(),
            is_new,
        }
    }
}

/// A session of the account as a batch changed it.
#[derive(Debug, Clone, Copy)]
pub struct SessionChange<'a> {
    /// The row as the account counted it before; `None` when the account has not counted the session yet.
    pub before: Option<&'a SessionRow>,
    pub after: &'a SessionRow,
    /// The session was opened by the batch being written (a return-visit alert may follow).
    pub is_new: bool,
}

/// An account's stored history: what a full recomputation reads.
#[derive(Debug, Clone, Default)]
pub struct AccountHistory {
    pub site: String,
    pub company_domain: String,
    pub sessions: Vec<SessionRow>,
    pub events: Vec<AccountEvent>,
}

/// An account's score as last stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredScore {
    pub score: f64,
    pub score_at_secs: i64,
    pub stage: String,
    /// A crossing into the alert stage that raised nothing yet because the account's class was not sure
    /// enough (`[alerts] min_class_confidence`): the verdict time it left, which names its alert once the
    /// evidence comes. `None` when no crossing waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<i64>,
}

/// A topic and the attention it got (decayed points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicScore {
    pub topic: String,
    pub points: f64,
}

/// What the scorer concludes about an account.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountScore {
    /// Score as of `score_at_secs` (the latest event); it decays from there.
    pub score: f64,
    pub score_at_secs: i64,
    pub stage: String,
    pub visits: u32,
    pub return_visits: u32,
    pub visitors: u32,
    pub topics: Vec<TopicScore>,
    pub top_pages: Vec<PageContribution>,
    /// Distinct campaigns, in the order they first brought the account.
    pub campaigns: Vec<Campaign>,
    pub contacts: Vec<String>,
    pub is_target: bool,
    pub excluded: bool,
    /// Alerts this batch raised.
    pub alerts: Vec<Alert>,
    /// A crossing into the alert stage waiting for the class to be sure enough (see
    /// [`StoredScore::held_since`]).
    pub held_since: Option<i64>,
}

/// The running sums a score is drawn from. Every decayed sum is valued at `at`; adding an event decays
/// the sums to the event's time first when it is newer (decay, then add), or adds the event's points
/// decayed to `at` when it is older, so the result is the same in any order of arrival.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreState {
    /// The latest event's time, Unix seconds.
    pub at: i64,
    /// Points of events, sessions (visit and return bonus) and visitors, decayed to `at`. The first
    /// session's return bonus is taken off when the verdict is drawn, since which session is first can
    /// change when a late event arrives.
    pub points: f64,
    /// The account's earliest session: (start, session id).
    pub first_visit: Option<(i64, String)>,
    /// Each visitor and when the account first saw them.
    pub visitors: BTreeMap<String, i64>,
    /// Page path → (views, decayed points).
    pub pages: BTreeMap<String, (u32, f64)>,
    /// Topic → decayed points.
    pub topics: BTreeMap<String, f64>,
    /// Campaigns with the start of the first session they brought.
    pub campaigns: Vec<(i64, Campaign)>,
    /// Contacts (`identify`) with when each was first seen.
    pub contacts: Vec<(i64, String)>,
    /// The newest page views: (time, event id, path), newest first.
    pub recent: Vec<(i64, String, String)>,
    /// `"DAY:VISITOR"` (UTC day number) → (page and engagement points earned that day, undecayed; the same
    /// points decayed to `at`), for the days within `VISITOR_DAY_HORIZON` of `at`: what bounds one visitor's
    /// points per day.
    #[serde(default)]
    pub visitor_days: BTreeMap<String, (f64, f64)>,
}

/// Everything stored about an account: the row's aggregates, the scoring state, the last verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub site: String,
    pub company_domain: String,
    pub company_name: String,
    pub network_class: NetworkClass,
    /// The surest identification among the account's sessions: the one with the highest confidence.
    #[serde(default)]
    pub id_source: IdSource,
    #[serde(default)]
    pub id_confidence: u8,
    /// How sure its network class is: the surest of its sessions' (`SessionRow::class_confidence`). Alerts
    /// wait while it is below `[alerts] min_class_confidence`.
    #[serde(default)]
    pub class_confidence: u8,
    pub country: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub sessions: u32,
    pub pageviews: u32,
    pub engaged_ms: u64,
    /// Events counted: how complete the state is (ClickHouse keeps the most complete copy).
    pub events: u64,
    /// Times the state was recomputed from history (`vtrack rescore`), so a rescored copy wins over an
    /// equally complete older one.
    pub rescores: u32,
    /// The scoring config the state was built with ([`crate::Scorer::fingerprint`]).
    pub scoring: String,
    pub score: ScoreState,
    /// The verdict last stored: the score alerts compare against.
    pub last: Option<StoredScore>,
}

impl AccountState {
    /// An account not seen before.
    pub fn new(site: &str, company_domain: &str) -> AccountState {
        AccountState {
            site: site.to_string(),
            company_domain: company_domain.to_string(),
            first_seen: i64::MAX,
            last_seen: i64::MIN,
            ..Default::default()
        }
    }

    /// The state an account row stores: its JSON ([`AccountState::to_stored`]). A row written before states
    /// were stored (or one that does not parse) gives a state with only its `last` verdict and no `scoring`,
    /// so the batch write recomputes it from its history and alerts against that verdict.
    pub fn from_stored(json: &str, site: &str, company_domain: &str, last: Option<StoredScore>) -> AccountState {
        serde_json::from_str(json).unwrap_or_else(|_| AccountState { last, ..AccountState::new(site, company_domain) })
    }

    /// The JSON an account row stores, read back by [`AccountState::from_stored`].
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Visitors seen from the account.
    pub fn visitors(&self) -> u32 {
        self.score.visitors.len() as u32
    }

    /// The version ClickHouse keeps the latest row by: more events win, then a later rescore.
    pub fn version(&self) -> u64 {
        (self.events << 16) | u64::from(self.rescores & 0xFFFF)
    }

    /// Adds a session's change to the aggregates of the row. Names, class, country and identification are
    /// the highest of the account's sessions, a rule that does not depend on the order sessions arrive in.
    pub(crate) fn count_session(&mut self, before: Option<&SessionRow>, after: &SessionRow) {
        if before.is_none() {
            let class = match self.sessions {
                0 => after.network_class.as_str(),
                _ => self.network_class.as_str().max(after.network_class.as_str()),
            };
            self.network_class = class.parse().unwrap_or_default();
            self.sessions += 1;
            self.company_name = self.company_name.clone().max(after.company_name.clone());
            self.country = self.country.clone().max(after.country.clone());
            let theirs = (after.id_confidence, after.id_source.parse().unwrap_or_default());
            (self.id_confidence, self.id_source) = (self.id_confidence, self.id_source).max(theirs);
            self.class_confidence = self.class_confidence.max(after.class_confidence);
        }
        let (pv, n, eng) = before.map(|b| (b.pageviews, b.events, b.engaged_ms)).unwrap_or((0, 0, 0));
        self.pageviews += after.pageviews.saturating_sub(pv);
        self.events += u64::from(after.events.saturating_sub(n));
        self.engaged_ms += after.engaged_ms.saturating_sub(eng);
        self.first_seen = self.first_seen.min(after.started_at);
        self.last_seen = self.last_seen.max(after.ended_at);
    }

    /// An estimate of the memory the state holds, in entries, for bounding what is kept in memory.
    pub fn weight(&self) -> usize {
        let s = &self.score;
        1 + s.visitors.len() + s.pages.len() + s.topics.len() + s.campaigns.len() + s.contacts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_state_reads_back_and_a_row_without_one_keeps_its_verdict_for_recomputation() {
        let mut a = AccountState::new("s", "acme.example");
        a.scoring = "abc".into();
        a.score.visitors.insert("v".into(), 7);
        assert_eq!(AccountState::from_stored(&a.to_stored(), "s", "acme.example", None), a);
        let last = StoredScore { score: 52.0, score_at_secs: 9, stage: "hot".into(), held_since: None };
        let legacy = AccountState::from_stored("", "s", "acme.example", Some(last.clone()));
        assert_eq!((legacy.scoring.as_str(), legacy.last), ("", Some(last)), "empty scoring: recomputed on touch");
    }
}
