//! The session row: what a session sums up, by one rule both stores call.
//!
//! A session's row is a sum over its events (first and last time, counts, engaged time) plus the fields of
//! its first event, whose id is the session's id: identity, entry page, referrer and campaign. The batch
//! write continues a row with the batch's new events ([`SessionRow::add`]) and writes it whole; a store
//! that must rebuild a row from its stored events folds them through the same function.

use serde::{Deserialize, Serialize};
use vtrack_model::EnrichedEvent;

/// One `sessions` row. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionRow {
    pub session_id: String,
    pub site: String,
    pub visitor_id: String,
    /// The account the session belongs to: its first event's company when that one's class makes
    /// accounts, else empty.
    pub company_domain: String,
    pub company_name: String,
    pub network_class: String,
    /// How the first event's organisation was identified (`ranges`, `contact`, …; empty when nothing did).
    #[serde(default)]
    pub id_source: String,
    /// 0–100.
    #[serde(default)]
    pub id_confidence: u8,
    /// How sure the first event's network class is, 0–100 (`CompanyInfo::class_confidence`).
    #[serde(default)]
    pub class_confidence: u8,
    pub country: String,
    pub started_at: i64,
    pub ended_at: i64,
    pub pageviews: u32,
    pub events: u32,
    pub engaged_ms: u64,
    pub is_return: bool,
    pub entry_path: String,
    pub referrer: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
}

impl SessionRow {
    /// An empty row, before any of the session's events is counted.
    pub fn new(site: &str, session_id: &str, visitor_id: &str) -> SessionRow {
        SessionRow {
            session_id: session_id.to_string(),
            site: site.to_string(),
            visitor_id: visitor_id.to_string(),
            started_at: i64::MAX,
            ended_at: i64::MIN,
            ..Default::default()
        }
    }

    /// Counts an event of the session that is not counted yet.
    pub fn add(&mut self, e: &EnrichedEvent, is_return: bool) {
        let ts = e.ts_ms.div_euclid(1000);
        if e.event_id == self.session_id {
            let c = &e.company;
            self.company_domain = if c.network_class.is_account() { c.company_domain.clone() } else { String::new() };
            self.company_name.clone_from(&c.company_name);
            self.network_class = c.network_class.as_str().to_string();
            self.id_source = c.id_source.as_str().to_string();
            self.id_confidence = c.id_confidence;
            self.class_confidence = c.class_confidence;
            self.country.clone_from(&c.country);
            self.entry_path.clone_from(&e.path);
            self.referrer.clone_from(&e.referrer);
            self.utm_source.clone_from(&e.utm.source);
            self.utm_medium.clone_from(&e.utm.medium);
            self.utm_campaign.clone_from(&e.utm.campaign);
        }
        self.started_at = self.started_at.min(ts);
        self.ended_at = self.ended_at.max(ts);
        self.pageviews += u32::from(e.kind == "pageview");
        self.events += 1;
        self.engaged_ms += e.eng_ms;
        self.is_return |= is_return;
    }

    /// Whether any event has been counted.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_model::event::CompanyInfo;
    use vtrack_model::NetworkClass;

    fn ev(id: &str, secs: i64, kind: &str, class: NetworkClass) -> EnrichedEvent {
        EnrichedEvent {
            event_id: id.into(),
            ts_ms: secs * 1000,
            kind: kind.into(),
            path: format!("/{id}"),
            eng_ms: 1000,
            company: CompanyInfo { company_domain: "acme.example".into(), network_class: class, ..Default::default() },
            ..Default::default()
        }
    }

    #[test]
    fn identity_comes_from_the_first_event_and_sums_from_all_in_any_order() {
        let mut row = SessionRow::new("s", "a", "v");
        row.add(&ev("b", 120, "engagement", NetworkClass::Isp), false);
        row.add(&ev("a", 100, "pageview", NetworkClass::Business), false);
        row.add(&ev("c", 90, "pageview", NetworkClass::Isp), true);
        assert_eq!((row.started_at, row.ended_at, row.pageviews, row.events, row.engaged_ms), (90, 120, 2, 3, 3000));
        assert_eq!((row.company_domain.as_str(), row.entry_path.as_str(), row.is_return), ("acme.example", "/a", true));
        let mut isp = SessionRow::new("s", "x", "v");
        isp.add(&ev("x", 1, "pageview", NetworkClass::Isp), false);
        assert_eq!(isp.company_domain, "", "networks that make no accounts leave the session without one");
    }
}
