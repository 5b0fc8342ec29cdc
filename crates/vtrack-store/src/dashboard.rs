//! What the dashboard reads, and its one write (sales' status of an account), as typed rows.
//!
//! Both stores answer through one trait, [`DashboardReads`]: SQLite in `sqlite_dashboard.rs` (through
//! [`SqliteDashboard`], which runs the queries on tokio's blocking pool) and ClickHouse in
//! `clickhouse/dashboard.rs`. The rows are plain data, never JSON: `vtrack-api` alone shapes them into the
//! answers `crates/vtrack-api/API.md` documents, so each shape is built in one place whatever the store.
//! The rules both stores need — decoding an `accounts` row, the 30-day activity, campaign totals and their
//! order, what a status change records — are the functions here that both call, so the stores cannot
//! drift apart in anything but their SQL.
//!
//! Every time a method takes is Unix milliseconds, like `vtrack_model::time::now_ms`. Milliseconds because
//! ClickHouse orders an account's status history by the wall-clock ms it was set (`seq`; it has no rowid),
//! which keeps two changes within one second in order; SQLite orders by rowid and keeps the seconds.

use crate::StoreError;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use thiserror::Error;
use vtrack_model::time::{format_ms, parse_secs};

pub use crate::sqlite::SqliteDashboard;
pub use vtrack_model::alert::{Campaign, PageContribution};
pub use vtrack_model::Status;
pub use vtrack_process::account::TopicScore;
pub use vtrack_process::funnel::FunnelFacts;
pub use vtrack_process::sla::{due_ms, overdue_secs};

/// How many days of page views [`AccountRow::activity`] holds, today included.
pub const ACTIVITY_DAYS: usize = 30;

/// Filters of the accounts list; empty strings mean "any".
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub stage: String,
    pub class: String,
    pub country: String,
    pub campaign: String,
    pub status: Option<Status>,
    pub text: String,
    /// How the account was identified (`ranges`, `mmdb`, `asn`, `contact`).
    pub identified_by: String,
    pub limit: usize,
}

/// An account as the dashboard shows it: its `accounts` row, sales' status and its recent page views.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountRow {
    pub domain: String,
    pub name: String,
    pub class: String,
    pub country: String,
    pub stage: String,
    /// As stored, unrounded.
    pub score: f64,
    pub visitors: i64,
    pub sessions: i64,
    pub pageviews: i64,
    pub return_visits: i64,
    /// UTC text, `YYYY-MM-DD HH:MM:SS`, like every time in these rows.
    pub first_seen: String,
    pub last_seen: String,
    /// Every page the scorer kept, largest share of the score first.
    pub top_pages: Vec<PageContribution>,
    /// Topics, most attention first.
    pub topics: Vec<TopicScore>,
    /// Distinct campaigns, in the order they first brought the account.
    pub campaigns: Vec<Campaign>,
    pub contacts: Vec<String>,
    pub is_target: bool,
    pub excluded: bool,
    pub score_at: String,
    /// Sales' latest status, `new` until one is set.
    pub status: Status,
    /// Page views per day, [`ACTIVITY_DAYS`] of them, oldest first; the last is today.
    pub activity: Vec<i64>,
    /// The surest identification among its sessions: source and confidence (0–100).
    pub id_source: String,
    pub id_confidence: i64,
    /// Who follows it up; empty when nobody does.
    pub owner: String,
    /// When it last turned hot (its latest `became_hot` alert), Unix seconds: its follow-up deadline runs
    /// from here (`vtrack_process::sla`).
    pub hot_since: Option<i64>,
}

/// One account with its latest sessions, its alerts and sales' status history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountDetail {
    pub account: AccountRow,
    /// The latest 50 sessions, newest first.
    pub sessions: Vec<AccountSession>,
    /// Newest first, each with its deliveries in webhook order.
    pub alerts: Vec<AccountAlert>,
    /// Newest first; the first is the current status.
    pub status_history: Vec<StatusChange>,
    /// Owner changes, newest first.
    pub owner_history: Vec<OwnerHistoryRow>,
}

/// A change of an account's owner as the dashboard shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerHistoryRow {
    pub owner: String,
    /// Empty for the first owner.
    pub previous: String,
    /// `rules` for an assignment by the config, else who asked.
    pub changed_by: String,
    /// `rule` or `manual`.
    pub reason: String,
    pub changed_at: String,
}

/// What a person asks: the account's new owner (a configured name, checked by the caller), and who asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerUpdate {
    pub owner: String,
    pub set_by: String,
}

/// A session of an account, with its events in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountSession {
    pub session_id: String,
    pub visitor_id: String,
    pub started_at: String,
    pub ended_at: String,
    pub pageviews: i64,
    pub engaged_ms: i64,
    pub is_return: bool,
    pub entry_path: String,
    pub referrer: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    /// How the session's organisation was identified.
    pub id_source: String,
    pub id_confidence: i64,
    pub pages: Vec<SessionEvent>,
}

/// One event of a session (page views and engagement pings alike).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionEvent {
    pub ts: String,
    /// The event type: `pageview`, `engagement`, …
    pub kind: String,
    pub path: String,
    pub title: String,
    pub eng_ms: i64,
}

/// An alert raised for an account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountAlert {
    pub alert_id: String,
    pub kind: String,
    pub stage: String,
    /// The score that raised it, unrounded.
    pub score: f64,
    pub raised_at: String,
    pub deliveries: Vec<AlertDelivery>,
}

/// Where one alert's webhook delivery stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertDelivery {
    pub webhook: String,
    pub status: String,
    pub attempts: i64,
    pub http_status: i64,
    /// Empty until delivered.
    pub delivered_at: String,
}

/// What sales asks to record: a status, a note, and who.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusUpdate {
    pub status: Status,
    pub note: String,
    pub set_by: String,
}

/// A recorded status of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusChange {
    pub status: Status,
    pub note: String,
    pub set_by: String,
    pub set_at: String,
}

impl StatusUpdate {
    /// The row both stores record for this update made at `now_ms`; `set_at` keeps whole seconds.
    pub(crate) fn at(&self, now_ms: i64) -> StatusChange {
        StatusChange {
            status: self.status,
            note: self.note.clone(),
            set_by: self.set_by.clone(),
            set_at: format_ms(now_ms),
        }
    }
}

/// A campaign (UTM source, medium, campaign) and the accounts it reached.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignRow {
    pub source: String,
    pub medium: String,
    pub campaign: String,
    /// Sessions of accounts it tagged.
    pub sessions: i64,
    /// Distinct accounts it reached.
    pub accounts: i64,
    /// Those accounts by current stage.
    pub by_stage: BTreeMap<String, i64>,
    /// Those accounts sales marked won, and lost.
    pub won: i64,
    pub lost: i64,
}

/// A page view as the live view lists it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveVisit {
    pub ts: String,
    pub received_at: String,
    pub company_name: String,
    pub company_domain: String,
    pub network_class: String,
    pub country: String,
    pub path: String,
    pub title: String,
    pub visitor_id: String,
    pub session_id: String,
}

/// Why a dashboard read or status write failed.
#[derive(Debug, Error)]
pub enum DashboardError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The blocking task that ran an embedded-store query died (a panic, or a lock a panic poisoned).
    #[error("store task: {0}")]
    Task(String),
}

/// The dashboard's reads and its one write, the same answers from either store.
///
/// The futures are `Send` so that a server can hold any implementation behind one handler; every time is
/// Unix milliseconds (see the module docs).
pub trait DashboardReads: Send + Sync {
    /// Accounts of `site` that pass `filter`, not excluded, highest score first (then latest seen), at most
    /// `filter.limit`; `now_ms` is what "today" means for the activity.
    fn accounts(
        &self,
        site: &str,
        filter: &AccountFilter,
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<AccountRow>, DashboardError>> + Send;

    /// One account with its timeline, alerts and status history; `None` when the site has no such account.
    fn account(
        &self,
        site: &str,
        domain: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<AccountDetail>, DashboardError>> + Send;

    /// Records sales' status of an account, with its score at the time (for re-alerting), and returns the
    /// recorded row; `None` when the site has no such account.
    fn set_status(
        &self,
        site: &str,
        domain: &str,
        update: &StatusUpdate,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<StatusChange>, DashboardError>> + Send;

    /// Gives an account to another owner and records who did (`account_owner_history`, reason `manual`);
    /// `None` when the site has no such account.
    fn set_owner(
        &self,
        site: &str,
        domain: &str,
        update: &OwnerUpdate,
        now_ms: i64,
    ) -> impl Future<Output = Result<Option<OwnerHistoryRow>, DashboardError>> + Send;

    /// What the funnel counts of each account of `site` that is not excluded (see [`crate::funnel`]).
    fn funnel_facts(&self, site: &str) -> impl Future<Output = Result<Vec<FunnelFacts>, DashboardError>> + Send;

    /// Campaigns of account sessions, most accounts reached first, then most sessions.
    fn campaigns(&self, site: &str) -> impl Future<Output = Result<Vec<CampaignRow>, DashboardError>> + Send;

    /// Page views received since `since_ms`, newest first, at most 200.
    fn live(&self, site: &str, since_ms: i64) -> impl Future<Output = Result<Vec<LiveVisit>, DashboardError>> + Send;
}

/// An `accounts` row as both stores read it, its lists still the stored JSON.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredAccount {
    pub domain: String,
    pub name: String,
    pub class: String,
    pub country: String,
    pub stage: String,
    pub score: f64,
    pub visitors: i64,
    pub sessions: i64,
    pub pageviews: i64,
    pub return_visits: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub top_pages: String,
    pub topics: String,
    pub campaigns: String,
    pub contacts: String,
    pub is_target: bool,
    pub excluded: bool,
    pub score_at: String,
    pub id_source: String,
    pub id_confidence: i64,
}

/// A stored JSON list; one that does not decode reads as empty, so one bad row cannot fail a whole page.
fn list<T: serde::de::DeserializeOwned>(json: &str) -> Vec<T> {
    serde_json::from_str(json).unwrap_or_default()
}

impl StoredAccount {
    /// The dashboard's row, with the status and activity each store looks up its own way.
    pub(crate) fn into_row(self, status: Status, activity: Vec<i64>) -> AccountRow {
        AccountRow {
            top_pages: list(&self.top_pages),
            topics: list(&self.topics),
            campaigns: list(&self.campaigns),
            contacts: list(&self.contacts),
            domain: self.domain,
            name: self.name,
            class: self.class,
            country: self.country,
            stage: self.stage,
            score: self.score,
            visitors: self.visitors,
            sessions: self.sessions,
            pageviews: self.pageviews,
            return_visits: self.return_visits,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            is_target: self.is_target,
            excluded: self.excluded,
            score_at: self.score_at,
            status,
            activity,
            id_source: self.id_source,
            id_confidence: self.id_confidence,
            owner: String::new(),
            hot_since: None,
        }
    }
}

/// Puts each account's owner and the time it last turned hot on its row.
pub(crate) fn with_owners(rows: &mut [AccountRow], owners: &HashMap<String, String>, hot: &HashMap<String, i64>) {
    for r in rows {
        r.owner = owners.get(&r.domain).cloned().unwrap_or_default();
        r.hot_since = hot.get(&r.domain).copied();
    }
}

impl OwnerHistoryRow {
    /// The row both stores answer for a change they recorded.
    pub(crate) fn of(c: &vtrack_process::OwnerChange) -> OwnerHistoryRow {
        OwnerHistoryRow {
            owner: c.owner.clone(),
            previous: c.previous.clone(),
            changed_by: c.changed_by.clone(),
            reason: c.reason.to_string(),
            changed_at: format_ms(c.at_ms),
        }
    }
}

/// Page views per account and day, the last [`ACTIVITY_DAYS`] days; each store's SQL says how old a day is.
#[derive(Debug, Default)]
pub(crate) struct DailyViews(HashMap<String, Vec<i64>>);

impl DailyViews {
    /// Counts `views` for the day `age_days` before today; days outside the window are ignored.
    pub(crate) fn add(&mut self, domain: String, age_days: i64, views: i64) {
        if let Ok(age) = usize::try_from(age_days) {
            if age < ACTIVITY_DAYS {
                self.0.entry(domain).or_insert_with(|| vec![0; ACTIVITY_DAYS])[ACTIVITY_DAYS - 1 - age] = views;
            }
        }
    }

    /// An account's days, oldest first; all zero when it had no page views.
    pub(crate) fn of(&self, domain: &str) -> Vec<i64> {
        self.0.get(domain).cloned().unwrap_or_else(|| vec![0; ACTIVITY_DAYS])
    }
}

/// Campaign totals, one campaign × account row at a time.
#[derive(Debug, Default)]
pub(crate) struct CampaignTally(BTreeMap<(String, String, String), CampaignRow>);

impl CampaignTally {
    /// Adds an account the campaign reached, with its sessions from it, its stage and sales' status.
    pub(crate) fn add(&mut self, key: (String, String, String), sessions: i64, stage: &str, status: Status) {
        let c = self.0.entry(key).or_insert_with_key(|(source, medium, campaign)| CampaignRow {
            source: source.clone(),
            medium: medium.clone(),
            campaign: campaign.clone(),
            ..CampaignRow::default()
        });
        c.sessions += sessions;
        c.accounts += 1;
        *c.by_stage.entry(stage.to_string()).or_insert(0) += 1;
        match status {
            Status::Won => c.won += 1,
            Status::Lost => c.lost += 1,
            _ => {}
        }
    }

    /// Campaigns by accounts reached, then sessions; ties keep (source, medium, campaign) order.
    pub(crate) fn into_rows(self) -> Vec<CampaignRow> {
        let mut out: Vec<CampaignRow> = self.0.into_values().collect();
        out.sort_by_key(|c| (std::cmp::Reverse(c.accounts), std::cmp::Reverse(c.sessions)));
        out
    }
}

/// An `accounts` row as the funnel reads it: domain, first seen (UTC text), stage, campaigns (JSON).
pub(crate) type FunnelAccount = (String, String, String, String);

/// Puts each store's three reads together: the accounts, each one's first `became_hot` (domain, UTC
/// text) and every status in the order set (domain, status, UTC text).
pub(crate) fn funnel_facts(
    accounts: Vec<FunnelAccount>,
    hot: Vec<(String, String)>,
    statuses: Vec<(String, String, String)>,
) -> Vec<FunnelFacts> {
    let hot: std::collections::HashMap<String, i64> =
        hot.into_iter().filter_map(|(d, at)| Some((d, parse_secs(&at)?))).collect();
    let mut by_account: std::collections::HashMap<String, Vec<(i64, Status)>> = Default::default();
    for (d, status, at) in statuses {
        if let Some(at) = parse_secs(&at) {
            by_account.entry(d).or_default().push((at, Status::from_stored(&status)));
        }
    }
    accounts
        .into_iter()
        .filter_map(|(domain, first_seen, stage, campaigns)| {
            Some(FunnelFacts {
                first_seen: parse_secs(&first_seen)?,
                stage,
                campaigns: serde_json::from_str(&campaigns).unwrap_or_default(),
                first_hot: hot.get(&domain).copied(),
                statuses: by_account.remove(&domain).unwrap_or_default(),
                domain,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str) -> (String, String, String) {
        ("src".into(), "med".into(), c.into())
    }

    #[test]
    fn campaigns_total_per_campaign_and_sort_by_accounts_then_sessions() {
        let mut t = CampaignTally::default();
        t.add(key("b"), 5, "hot", Status::Won);
        t.add(key("a"), 1, "cold", Status::New);
        t.add(key("a"), 2, "hot", Status::Lost);
        t.add(key("c"), 9, "warm", Status::Contacted);
        let rows = t.into_rows();
        let names: Vec<&str> = rows.iter().map(|c| c.campaign.as_str()).collect();
        assert_eq!(names, ["a", "c", "b"], "two accounts first, then by sessions");
        assert_eq!((rows[0].sessions, rows[0].accounts, rows[0].won, rows[0].lost), (3, 2, 0, 1));
        assert_eq!(rows[0].by_stage, BTreeMap::from([("cold".to_string(), 1), ("hot".to_string(), 1)]));
        assert_eq!((rows[2].won, rows[2].lost), (1, 0));
    }

    #[test]
    fn activity_puts_today_last_and_ignores_days_outside_the_window() {
        let mut d = DailyViews::default();
        d.add("a".into(), 0, 7);
        d.add("a".into(), 29, 3);
        d.add("a".into(), 30, 99);
        d.add("a".into(), -1, 99);
        let a = d.of("a");
        assert_eq!((a.len(), a[29], a[0], a.iter().sum::<i64>()), (ACTIVITY_DAYS, 7, 3, 10));
        assert_eq!(d.of("nobody"), vec![0; ACTIVITY_DAYS]);
    }

    #[test]
    fn stored_lists_decode_and_a_bad_one_reads_as_empty() {
        let row = StoredAccount {
            top_pages: r#"[{"path":"/pricing","views":9,"points":61.2}]"#.into(),
            topics: r#"[{"topic":"Pricing","points":40.5}]"#.into(),
            campaigns: "not json".into(),
            contacts: r#"["jane@acme.example"]"#.into(),
            ..StoredAccount::default()
        }
        .into_row(Status::New, vec![0; ACTIVITY_DAYS]);
        assert_eq!(row.top_pages, vec![PageContribution { path: "/pricing".into(), views: 9, points: 61.2 }]);
        assert_eq!(row.topics[0].topic, "Pricing");
        assert!(row.campaigns.is_empty());
        assert_eq!(row.contacts, vec!["jane@acme.example".to_string()]);
    }

    #[test]
    fn a_status_change_keeps_whole_seconds() {
        let u = StatusUpdate { status: Status::Won, note: "n".into(), set_by: "sam".into() };
        assert_eq!(u.at(1_700_000_000_999).set_at, "2023-11-14 22:13:20");
    }
}
