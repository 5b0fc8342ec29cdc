//! What scoring reads about an account and what it writes back.
//!
//! The store hands an account's history to the scorer inside its write transaction and stores the
//! result, so scores and alerts change atomically with the events that caused them.

use crate::alert::{Alert, Campaign, PageContribution};
use serde::{Deserialize, Serialize};

/// One stored event of an account, as scoring sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountEvent {
    pub event_id: String,
    pub ts_secs: i64,
    pub kind: String,
    pub path: String,
    pub eng_ms: u64,
    pub visitor_id: String,
    pub session_id: String,
    pub utm: crate::event::Utm,
    pub email: String,
    /// Part of the batch being written now (alerts are raised for new activity only).
    pub is_new: bool,
}

/// An account's score as last stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredScore {
    pub score: f64,
    pub score_at_secs: i64,
    pub stage: String,
}

/// An account and its history, in time order.
#[derive(Debug, Clone, Default)]
pub struct AccountHistory {
    pub site: String,
    pub company_domain: String,
    pub company_name: String,
    pub network_class: crate::NetworkClass,
    pub country: String,
    pub previous: Option<StoredScore>,
    pub events: Vec<AccountEvent>,
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
}
