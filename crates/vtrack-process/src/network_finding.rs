//! What enrichment learned about a network while a visitor was on it: her visit counts for the organisation
//! it found, from its first page view.
//!
//! Reverse DNS runs beside ingest and answers after the first events of a visit were sent on under the
//! ISP's name. When it answers, ingest publishes one `vtrack:learned` event per visitor it saw on that
//! address meanwhile ([`vtrack_model::event::LEARNED_KIND`]): the learned organisation, the network's key
//! before (`props.network_key`), and the first of those events' time. Processing never stores it; it
//! relabels that visitor's events from that network since then — the rule here — and the batch write
//! rebuilds their sessions and accounts like any relabelling.

use vtrack_model::event::{CompanyInfo, LEARNED_KIND};
use vtrack_model::{EnrichedEvent, IdSource};

/// How long after its first event a finding reaches: the visit, and the day's later visits from that network.
pub const REACH_MS: i64 = 86_400_000;

/// A learned organisation for one visitor's events from one network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkFinding {
    pub visitor_id: String,
    /// The first event of the visitor on the network that the finding covers.
    pub since_ms: i64,
    /// The network's account key before the finding (`as<N>`, or empty for an unknown address).
    pub network_key: String,
    /// The learned organisation, with the network's AS number and place.
    pub company: CompanyInfo,
}

impl NetworkFinding {
    /// The finding a `vtrack:learned` event carries; `None` for every other event.
    pub fn of(event: &EnrichedEvent) -> Option<NetworkFinding> {
        if event.kind != LEARNED_KIND {
            return None;
        }
        let props: serde_json::Value = serde_json::from_str(&event.props).unwrap_or_default();
        Some(NetworkFinding {
            visitor_id: event.visitor_id.clone(),
            since_ms: event.ts_ms,
            network_key: props["network_key"].as_str().unwrap_or_default().to_string(),
            company: event.company.clone(),
        })
    }

    /// The event for ingest to publish: `network_key` is what the address resolved to before.
    pub fn event(
        site: &str,
        visitor_id: &str,
        since_ms: i64,
        network_key: &str,
        company: CompanyInfo,
    ) -> EnrichedEvent {
        EnrichedEvent {
            event_id: format!("{LEARNED_KIND}:{visitor_id}:{since_ms}:{}", company.company_domain),
            site: site.to_string(),
            ts_ms: since_ms,
            received_ms: vtrack_model::time::now_ms(),
            kind: LEARNED_KIND.to_string(),
            visitor_id: visitor_id.to_string(),
            props: serde_json::json!({ "network_key": network_key }).to_string(),
            company,
            ..Default::default()
        }
    }

    /// The organisation `event` counts for under this finding: the visitor's events from the same network
    /// (same key and AS number) within [`REACH_MS`] after the finding's start, that the finding is surer of
    /// and that the customer's own ranges did not name. `None` when the event's answer stands.
    pub fn upgrade(&self, event: &EnrichedEvent) -> Option<CompanyInfo> {
        let c = &event.company;
        // The stores keep event times in whole seconds.
        let since = self.since_ms.div_euclid(1000) * 1000;
        let covered = event.visitor_id == self.visitor_id
            && (since..=since.saturating_add(REACH_MS)).contains(&event.ts_ms)
            && c.company_domain == self.network_key
            && c.asn == self.company.asn
            && c.id_source != IdSource::Ranges
            && c.id_confidence < self.company.id_confidence;
        covered.then(|| CompanyInfo { country: c.country.clone(), city: c.city.clone(), ..self.company.clone() })
    }
}

/// The first finding among `findings` that upgrades `event`.
pub fn upgrade(event: &EnrichedEvent, findings: &[NetworkFinding]) -> Option<CompanyInfo> {
    findings.iter().find_map(|f| f.upgrade(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_model::NetworkClass;

    fn isp() -> CompanyInfo {
        CompanyInfo {
            company_name: "Example Broadband".into(),
            company_domain: "as64500".into(),
            asn: 64500,
            network_class: NetworkClass::Isp,
            id_source: IdSource::Asn,
            id_confidence: 50,
            ..Default::default()
        }
    }

    fn office() -> CompanyInfo {
        CompanyInfo {
            company_name: "northwind.example".into(),
            company_domain: "northwind.example".into(),
            asn: 64500,
            network_class: NetworkClass::Business,
            id_source: IdSource::Rdns,
            id_confidence: 60,
            ..Default::default()
        }
    }

    fn pageview(vid: &str, ts_ms: i64, company: CompanyInfo) -> EnrichedEvent {
        EnrichedEvent { kind: "pageview".into(), visitor_id: vid.into(), ts_ms, company, ..Default::default() }
    }

    #[test]
    fn the_visit_on_that_network_counts_for_the_learned_organisation() {
        let f = NetworkFinding::of(&NetworkFinding::event("s1", "v1", 1_000, "as64500", office())).unwrap();
        assert_eq!(f.network_key, "as64500");
        let up = f.upgrade(&pageview("v1", 1_000, isp())).expect("the first page view");
        assert_eq!((up.company_domain.as_str(), up.id_source), ("northwind.example", IdSource::Rdns));
        assert!(f.upgrade(&pageview("v1", 5_000, isp())).is_some(), "the rest of the visit");
    }

    #[test]
    fn other_visitors_networks_times_and_surer_answers_stand() {
        let f = NetworkFinding::of(&NetworkFinding::event("s1", "v1", 1_000, "as64500", office())).unwrap();
        assert!(f.upgrade(&pageview("v2", 1_000, isp())).is_none(), "another visitor");
        assert!(f.upgrade(&pageview("v1", 999, isp())).is_none(), "before the finding");
        let late = NetworkFinding { since_ms: 1_500, ..f.clone() };
        assert!(late.upgrade(&pageview("v1", 1_000, isp())).is_some(), "stored in whole seconds");
        assert!(f.upgrade(&pageview("v1", 1_000 + REACH_MS + 1, isp())).is_none(), "days later");
        let mobile = CompanyInfo { company_domain: "as64502".into(), asn: 64502, ..isp() };
        assert!(f.upgrade(&pageview("v1", 2_000, mobile)).is_none(), "her phone's network");
        let ranges = CompanyInfo { id_source: IdSource::Ranges, id_confidence: 100, ..isp() };
        assert!(f.upgrade(&pageview("v1", 2_000, ranges)).is_none(), "the customer's own ranges");
        assert!(NetworkFinding::of(&pageview("v1", 1, isp())).is_none());
    }
}
