//! Deciding an AS organisation's class again with what was found about its network, and answering with
//! it from memory.
//!
//! The class an AS organisation gets when the table is built rests on its name and footprint
//! ([`crate::class_model`]). Enrichment and processing find more about the network itself (its reverse DNS,
//! its traffic: `vtrack_model::evidence`); [`Table::decide_network`] runs the same model with that
//! evidence ([`Evidence`]), so the decision and its confidence come from one place, and gives the
//! [`NetworkEvidence`] the store keeps. The [`EvidenceLayer`] holds every network's decision in memory,
//! swapped whole into the [`crate::Resolver`] like the learned layer, so a lookup reads it without a lock
//! and without waiting.

use std::collections::HashMap;

use vtrack_model::evidence::{PtrCounts, TrafficCounts};
use vtrack_model::NetworkEvidence;

use crate::class_model::{self, Evidence};
use crate::Table;

/// Every network's decision with its evidence, by AS number.
#[derive(Debug, Default)]
pub struct EvidenceLayer {
    by_asn: HashMap<u32, NetworkEvidence, foldhash::fast::RandomState>,
}

impl EvidenceLayer {
    /// The layer of `found`, the latest decision per AS number.
    pub fn build(found: impl IntoIterator<Item = NetworkEvidence>) -> EvidenceLayer {
        let mut layer = EvidenceLayer::default();
        for n in found {
            match layer.by_asn.get(&n.asn) {
                Some(old) if old.decided_ms > n.decided_ms => {}
                _ => {
                    layer.by_asn.insert(n.asn, n);
                }
            }
        }
        layer
    }

    /// The decision for AS `asn`, if its network has evidence.
    #[inline]
    pub fn get(&self, asn: u32) -> Option<&NetworkEvidence> {
        self.by_asn.get(&asn)
    }

    /// Networks with a decision.
    pub fn len(&self) -> usize {
        self.by_asn.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_asn.is_empty()
    }
}

/// The model's evidence of what was found: the PTR counts and the traffic of the strongest site-day.
pub fn evidence_of(ptr: &PtrCounts, traffic: &TrafficCounts) -> Vec<Evidence> {
    let mut out = Vec::new();
    if ptr.looked_up > 0 {
        out.push(Evidence::Ptr {
            looked_up: ptr.looked_up,
            generated: ptr.generated,
            servers: ptr.servers,
            organisation: ptr.organisation,
        });
    }
    if traffic.visitors > 0 {
        out.push(Evidence::Traffic { visitors: traffic.visitors, networks: traffic.networks, cities: traffic.cities });
    }
    out
}

impl Table {
    /// The class of AS `asn`'s own organisation decided again with its network's `ptr` and `traffic`
    /// evidence (`ptr_domain`: the domain its confirmed organisation names share, if any), as the store keeps
    /// it; `None` when the table does not know the AS's organisation with its footprint (a snapshot older
    /// than footprints), since a decision without the footprint would not be the one the table made.
    ///
    /// The organisation is keyed by `ptr_domain` when the decided class makes accounts: its own hosts'
    /// names say which organisation it is, as its people's emails do for learned keys.
    pub fn decide_network(
        &self,
        asn: u32,
        ptr: PtrCounts,
        ptr_domain: &str,
        traffic: TrafficCounts,
        now_ms: i64,
        expires_ms: i64,
    ) -> Option<NetworkEvidence> {
        let network = self.as_network(asn)?;
        let profile = network.profile.as_ref()?;
        let evidence = evidence_of(&ptr, &traffic);
        let d = class_model::decide(&network.name, asn, Some(profile), &evidence);
        let signals: Vec<&str> = evidence.iter().filter_map(|e| e.weights().map(|(name, _)| name)).collect();
        let key = if d.class.is_account() && !ptr_domain.is_empty() && signals.contains(&"ptr:organisation") {
            ptr_domain.to_string()
        } else {
            format!("as{asn}")
        };
        Some(NetworkEvidence {
            asn,
            name: network.name.clone(),
            ptr,
            ptr_domain: ptr_domain.to_string(),
            traffic,
            base_class: network.class,
            base_confidence: network.class_confidence,
            class: d.class,
            class_confidence: d.confidence,
            key,
            signals: signals.join(","),
            decided_ms: now_ms,
            expires_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_model::config::ResolveConfig;
    use vtrack_model::NetworkClass;

    /// Networks named like companies, as the binary's evidence tests use them.
    fn table() -> Table {
        let dir = std::env::temp_dir().join(format!("vtrack-evidence-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("asn.csv");
        std::fs::write(
            &path,
            "100.65.0.0,100.65.3.255,64520,Corvid Partners\n100.66.0.0,100.66.63.255,64521,Lumen Parts\n\
             100.67.0.0,100.67.3.255,64522,Brightwater Analytics\n100.68.0.0,100.68.3.255,64523,Harbor Instruments\n",
        )
        .unwrap();
        Table::build(&ResolveConfig { asn_csv: vec![path], ..Default::default() }).unwrap()
    }

    fn ptr(generated: u8, servers: u8, organisation: u8) -> PtrCounts {
        PtrCounts { looked_up: 6, generated, servers, organisation }
    }

    #[test]
    fn evidence_decides_the_class_again() {
        let t = table();
        let none = TrafficCounts::default();
        let base = t.decide_network(64520, PtrCounts::default(), "", none, 1, 2).unwrap();
        assert_eq!((base.class, base.class_confidence), (base.base_class, base.base_confidence), "no evidence");
        assert_eq!(base.class, NetworkClass::Business);

        let carrier = t.decide_network(64520, ptr(6, 0, 0), "", none, 1, 2).unwrap();
        assert_eq!(
            (carrier.class, carrier.key.as_str(), carrier.signals.as_str()),
            (NetworkClass::Isp, "as64520", "ptr:generated")
        );

        let spread = TrafficCounts { visitors: 20, networks: 12, cities: 5 };
        let d = t.decide_network(64521, PtrCounts::default(), "", spread, 1, 2).unwrap();
        assert_eq!((d.class, d.signals.as_str()), (NetworkClass::Isp, "traffic:spread"));

        let own = t.decide_network(64522, ptr(0, 0, 5), "brightwater-analytics.example", none, 1, 2).unwrap();
        assert_eq!((own.class, own.key.as_str()), (NetworkClass::Business, "brightwater-analytics.example"));
        assert!(own.class_confidence >= 80, "{own:?}");

        let lifted = t.decide_network(64523, ptr(0, 0, 4), "", none, 1, 2).unwrap();
        assert!(lifted.base_confidence < 80 && lifted.class_confidence >= 80, "{lifted:?}");
        assert_eq!(lifted.key, "as64523", "names in several domains name no one organisation");
    }

    #[test]
    fn the_latest_decision_stands() {
        let n =
            |ms: i64, class| NetworkEvidence { asn: 7, decided_ms: ms, class, key: "as7".into(), ..Default::default() };
        let layer = EvidenceLayer::build([n(2, NetworkClass::Isp), n(1, NetworkClass::Business)]);
        assert_eq!(layer.get(7).map(|e| e.class), Some(NetworkClass::Isp));
        assert_eq!(layer.len(), 1);
    }
}
