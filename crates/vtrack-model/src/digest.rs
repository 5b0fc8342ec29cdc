//! The weekly digest as it travels: what a site's team reads on Monday morning. Built by
//! `vtrack_store::digest::build` (which reuses the funnel rule), sent by the alert outbox.

use serde::{Deserialize, Serialize};

/// One site's digest for one week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// The site's time zone (IANA name, `UTC` when unset).
    pub timezone: String,
    /// When it was due, Unix ms: the configured weekday and hour in that zone.
    pub scheduled_ms: i64,
    /// The funnel of the last whole week before it (weeks as `/api/funnel` cuts them, Monday 00:00 UTC).
    pub last_week: FunnelWeek,
    /// The funnel of the week before that, to compare with.
    pub week_before: FunnelWeek,
    /// Accounts that turned hot during `last_week`, hottest first, with their owners.
    pub new_hot: Vec<DigestAccount>,
    /// Hot accounts still `new` past their follow-up deadline when the digest was due, latest first.
    pub overdue: Vec<DigestAccount>,
}

/// One week's funnel, every campaign together: the counts of `/api/funnel`'s row for that week.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunnelWeek {
    /// The week's Monday, `YYYY-MM-DD` (the funnel's period name).
    pub week: String,
    #[serde(flatten)]
    pub counts: FunnelCounts,
}

/// What the funnel counts for a period (and campaign): accounts that reached each step, and how fast sales
/// followed up. One type for the funnel page's rows and the digest's weeks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunnelCounts {
    pub identified: i64,
    pub warm: i64,
    pub hot: i64,
    pub contacted: i64,
    pub qualified: i64,
    pub won: i64,
    pub lost: i64,
    /// Median hours from turning hot to the first status sales works the account in, over the hot accounts
    /// contacted after turning hot; `None` when there are none.
    pub median_hours_to_contact: Option<f64>,
    /// Of the hot accounts, the share first worked within the follow-up deadline; `None` without a
    /// deadline or hot accounts.
    pub followed_up_in_time: Option<f64>,
}

/// An account as the digest lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestAccount {
    pub domain: String,
    pub name: String,
    /// Empty when nobody owns it.
    pub owner: String,
    pub score: f64,
    /// When it turned hot, Unix ms.
    pub hot_ms: i64,
    /// How late its follow-up is, whole hours (overdue accounts only).
    pub overdue_hours: Option<i64>,
}
