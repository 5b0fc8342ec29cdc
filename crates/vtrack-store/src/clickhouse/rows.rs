//! Rows as they travel in `RowBinary`: field order is column order.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

/// One `events` row as inserted.
#[derive(Debug, Row, Serialize)]
pub struct EventRecord<'a> {
    pub event_id: &'a str,
    pub site: &'a str,
    pub ts: u32,
    pub received_at: u32,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub visitor_id: &'a str,
    pub session_id: &'a str,
    pub is_return: u8,
    pub url: &'a str,
    pub path: &'a str,
    pub referrer: &'a str,
    pub title: &'a str,
    pub utm_source: &'a str,
    pub utm_medium: &'a str,
    pub utm_campaign: &'a str,
    pub utm_term: &'a str,
    pub utm_content: &'a str,
    pub eng_ms: u64,
    pub email: &'a str,
    pub props: &'a str,
    pub company_name: &'a str,
    pub company_domain: &'a str,
    pub asn: u32,
    pub network_class: &'a str,
    pub country: &'a str,
    pub city: &'a str,
}

/// What scoring reads of a stored event.
#[derive(Debug, Row, Deserialize)]
pub struct StoredEvent {
    pub event_id: String,
    pub ts: u32,
    pub kind: String,
    pub path: String,
    pub eng_ms: u64,
    pub visitor_id: String,
    pub session_id: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub email: String,
}

/// One `accounts` row as inserted.
#[derive(Debug, Row, Serialize)]
pub(crate) struct AccountRecord<'a> {
    pub site: &'a str,
    pub company_domain: &'a str,
    pub company_name: &'a str,
    pub network_class: &'a str,
    pub country: &'a str,
    pub first_seen: u32,
    pub last_seen: u32,
    pub visitors: u32,
    pub sessions: u32,
    pub pageviews: u32,
    pub engaged_ms: u64,
    pub score: f64,
    pub score_at: u32,
    pub stage: &'a str,
    pub return_visits: u32,
    pub topics: String,
    pub top_pages: String,
    pub campaigns: String,
    pub contacts: String,
    pub is_target: u8,
    pub excluded: u8,
    pub version: u64,
}

/// One `alerts` row as inserted.
#[derive(Debug, Row, Serialize)]
pub(crate) struct AlertRecord<'a> {
    pub alert_id: &'a str,
    pub site: &'a str,
    pub company_domain: &'a str,
    pub kind: &'a str,
    pub stage: &'a str,
    pub score: f64,
    pub raised_at: u32,
    pub payload: String,
}

/// One `alert_deliveries` row version as inserted.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub delivery_id: String,
    pub alert_id: String,
    pub site: String,
    pub company_domain: String,
    pub webhook: String,
    pub webhook_index: u32,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_ms: u64,
    pub http_status: u16,
    pub last_error: String,
    pub created_at: u32,
    pub delivered_at: u32,
    pub kafka_partition: i32,
    pub version: u64,
}

/// Seconds since the epoch as a `DateTime` column holds them (clamped to its range).
pub(crate) fn datetime(secs: i64) -> u32 {
    secs.clamp(0, u32::MAX as i64) as u32
}
