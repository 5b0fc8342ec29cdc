//! Rows as they travel in `RowBinary`: field order is column order.

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use vtrack_process::SessionRow;

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
    pub id_source: &'a str,
    pub id_confidence: u8,
    pub class_confidence: u8,
}

/// What processing reads of a stored event: enough to rebuild its session's row and score its account.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct StoredEvent {
    pub event_id: String,
    pub ts: u32,
    pub kind: String,
    pub path: String,
    pub referrer: String,
    pub eng_ms: u64,
    pub visitor_id: String,
    pub session_id: String,
    pub is_return: u8,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub email: String,
    pub company_name: String,
    pub company_domain: String,
    pub asn: u32,
    pub network_class: String,
    pub country: String,
    pub id_source: String,
    pub id_confidence: u8,
    pub class_confidence: u8,
}

/// The columns of [`StoredEvent`], in its field order.
pub(crate) const STORED_EVENT_COLUMNS: &str = "event_id, toUInt32(ts), type, path, referrer, eng_ms, visitor_id,
    session_id, is_return, utm_source, utm_medium, utm_campaign, email, company_name, company_domain, asn,
    network_class, country, id_source, id_confidence, class_confidence";

/// One `sessions` row as it travels: `vtrack_process::SessionRow` in the column types of ClickHouse.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub session_id: String,
    pub site: String,
    pub visitor_id: String,
    pub company_domain: String,
    pub company_name: String,
    pub network_class: String,
    pub country: String,
    pub started_at: u32,
    pub ended_at: u32,
    pub pageviews: u32,
    pub events: u32,
    pub engaged_ms: u64,
    pub is_return: u8,
    pub entry_path: String,
    pub referrer: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub id_source: String,
    pub id_confidence: u8,
    pub class_confidence: u8,
}

/// The select list of [`SessionRecord`]: [`crate::columns::SESSIONS`], times as the record's seconds.
pub(crate) fn session_select() -> String {
    crate::columns::list(crate::columns::SESSIONS, |c| match c {
        "started_at" | "ended_at" => format!("toUInt32({c})"),
        _ => c.to_string(),
    })
}

impl From<&SessionRow> for SessionRecord {
    fn from(s: &SessionRow) -> SessionRecord {
        SessionRecord {
            session_id: s.session_id.clone(),
            site: s.site.clone(),
            visitor_id: s.visitor_id.clone(),
            company_domain: s.company_domain.clone(),
            company_name: s.company_name.clone(),
            network_class: s.network_class.clone(),
            country: s.country.clone(),
            started_at: datetime(s.started_at),
            ended_at: datetime(s.ended_at),
            pageviews: s.pageviews,
            events: s.events,
            engaged_ms: s.engaged_ms,
            is_return: u8::from(s.is_return),
            entry_path: s.entry_path.clone(),
            referrer: s.referrer.clone(),
            utm_source: s.utm_source.clone(),
            utm_medium: s.utm_medium.clone(),
            utm_campaign: s.utm_campaign.clone(),
            id_source: s.id_source.clone(),
            id_confidence: s.id_confidence,
            class_confidence: s.class_confidence,
        }
    }
}

impl From<SessionRecord> for SessionRow {
    fn from(s: SessionRecord) -> SessionRow {
        SessionRow {
            session_id: s.session_id,
            site: s.site,
            visitor_id: s.visitor_id,
            company_domain: s.company_domain,
            company_name: s.company_name,
            network_class: s.network_class,
            country: s.country,
            started_at: i64::from(s.started_at),
            ended_at: i64::from(s.ended_at),
            pageviews: s.pageviews,
            events: s.events,
            engaged_ms: s.engaged_ms,
            is_return: s.is_return != 0,
            entry_path: s.entry_path,
            referrer: s.referrer,
            utm_source: s.utm_source,
            utm_medium: s.utm_medium,
            utm_campaign: s.utm_campaign,
            id_source: s.id_source,
            id_confidence: s.id_confidence,
            class_confidence: s.class_confidence,
        }
    }
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
    /// JSON of `vtrack_process::AccountState`.
    pub state: String,
    pub scoring: &'a str,
    pub id_source: &'a str,
    pub id_confidence: u8,
    pub class_confidence: u8,
}

/// One `identities` row: a visitor who identified with a business email.
#[derive(Debug, Row, Serialize, Deserialize)]
pub(crate) struct IdentityRecord {
    pub site: String,
    pub visitor_id: String,
    pub company_domain: String,
    pub identified_ms: i64,
    pub network_key: String,
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
