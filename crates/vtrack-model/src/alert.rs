//! Alerts: what processing raises when an account turns hot, and what the webhook sender delivers.

use serde::{Deserialize, Serialize};

/// Why an alert was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The account's score crossed into the alert stage (`hot`).
    BecameHot,
    /// An account already hot came back for a new session.
    HotReturnVisit,
    /// A visit to a configured hot page (e.g. `/demo*`).
    HotPage,
    /// A hot account was still `new` when its follow-up deadline (`[sla] hot_followup`) passed.
    SlaMissed,
    /// A site's weekly digest (`[digest]`): not about one account; its content is [`Alert::digest`].
    WeeklyDigest,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::BecameHot => "became_hot",
            AlertKind::HotReturnVisit => "hot_return_visit",
            AlertKind::HotPage => "hot_page",
            AlertKind::SlaMissed => "sla_missed",
            AlertKind::WeeklyDigest => "weekly_digest",
        }
    }
}

/// A page and how much it added to the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageContribution {
    pub path: String,
    pub views: u32,
    /// Its share of the score now (decayed), points.
    pub points: f64,
}

/// A campaign that brought the account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Campaign {
    pub source: String,
    pub medium: String,
    pub campaign: String,
}

/// Everything sales needs to act on one alert; the webhook payload is built from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable for one crossing: the idempotency id receivers de-duplicate on.
    pub alert_id: String,
    pub kind: AlertKind,
    pub site: String,
    pub company_domain: String,
    pub company_name: String,
    pub network_class: crate::NetworkClass,
    /// How sure the network class is, 0–100 (`CompanyInfo::class_confidence`): at least `[alerts]
    /// min_class_confidence` for an account alert. 0 in alerts of older versions.
    #[serde(default)]
    pub class_confidence: u8,
    pub country: String,
    pub score: f64,
    pub stage: String,
    /// When it was raised, Unix ms (the event time that triggered it).
    pub raised_ms: i64,
    pub visitors: u32,
    pub sessions: u32,
    /// Why: the pages that contribute most to the score.
    pub top_pages: Vec<PageContribution>,
    /// The latest page views, newest first.
    pub recent_pages: Vec<String>,
    pub campaigns: Vec<Campaign>,
    /// Known contacts from `identify`.
    pub contacts: Vec<String>,
    /// Who follows the account up (`[[owners]]`), empty when nobody does; set by the batch write.
    #[serde(default)]
    pub owner: String,
    /// A weekly digest's content (kind `weekly_digest` only). It rides in an alert so that the digest goes
    /// through the same outbox, routing, signing and retries as alerts, and its id makes it once per week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Box<crate::digest::Digest>>,
}
