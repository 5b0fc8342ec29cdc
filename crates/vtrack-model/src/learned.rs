//! Ranges learned by enrichment: what reverse DNS (or RDAP) found out about an ISP address, kept so that
//! the next visit from that network resolves from memory.
//!
//! A learned range names an organisation's network, never a person: the range is the address block the
//! evidence covers (a single address learns a /32 or /128), and `evidence` is the public record that proved
//! it (the confirmed PTR name, or the registry handle).

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::{IdSource, NetworkClass};

/// One organisation's network, as enrichment found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnedRange {
    pub network: IpNetwork,
    pub company_name: String,
    /// The account key: the organisation's registrable domain.
    pub company_domain: String,
    pub network_class: NetworkClass,
    pub source: IdSource,
    /// 0–100.
    pub confidence: u8,
    /// The public record that proved it: the forward-confirmed PTR name, or the registry's network handle.
    pub evidence: String,
    pub found_ms: i64,
    /// After this the range is looked up again; until then it answers from memory.
    pub expires_ms: i64,
}

/// How sure the class of a learned organisation is: a forward-confirmed PTR name in its own domain, or a
/// registry's record of a network assigned to it, is evidence that the network is an organisation's, above
/// `[alerts] min_class_confidence`'s default, however sure the identification of which organisation is.
pub const LEARNED_CLASS_CONFIDENCE: u8 = 90;
