//! How an event's organisation was identified: which layer answered, and how sure it is.
//!
//! Identification is layered, the most trustworthy layer first (see `docs/guide/identification.md`): the customer's
//! own ranges, then first-party identity (`identify` with a business email), then the IP databases. Every
//! event, session and account carries the layer that named its organisation and a confidence, so sales can
//! tell "she told us" from "her network is registered to them".

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The layer that named an event's organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdSource {
    /// Nothing identified the organisation (an unknown address, or only a place was known).
    #[default]
    #[serde(rename = "")]
    None,
    /// The customer's own ranges (`--companies`).
    Ranges,
    /// A MaxMind-format database's organisation fields.
    Mmdb,
    /// AS-level data: the organisation that announces the address.
    Asn,
    /// First-party identity: the visitor identified with an email at the organisation's domain.
    Contact,
    /// Reverse DNS: the address's PTR name is in the organisation's domain, and that name leads back to
    /// the address (forward-confirmed). Learned off the hot path, then answered from memory.
    Rdns,
    /// RDAP: a registry lists the organisation as the registrant of the network (opt-in).
    Rdap,
}

impl IdSource {
    /// Every source, in a stable order.
    /// New sources are appended: snapshots store a source as its index here.
    pub const ALL: [IdSource; 7] = [
        IdSource::None,
        IdSource::Ranges,
        IdSource::Mmdb,
        IdSource::Asn,
        IdSource::Contact,
        IdSource::Rdns,
        IdSource::Rdap,
    ];

    /// The name used in the store, the API and the dashboard; empty for [`IdSource::None`].
    pub fn as_str(self) -> &'static str {
        match self {
            IdSource::None => "",
            IdSource::Ranges => "ranges",
            IdSource::Mmdb => "mmdb",
            IdSource::Asn => "asn",
            IdSource::Contact => "contact",
            IdSource::Rdns => "rdns",
            IdSource::Rdap => "rdap",
        }
    }

    /// The confidence (0–100) an identification by this layer gets unless its source says otherwise.
    ///
    /// The customer knows their accounts best (100); a visitor who gave a business email is nearly as sure
    /// (95), below the customer's ranges only because an email can be a consultant's or a partner's. An
    /// IP database names whoever holds the network: an MMDB's organisation fields are curated per network
    /// (70), an AS only says who announces the address, which for a business is usually, but not always,
    /// the business itself (50). Learned layers sit between: a registry's registrant of a reassigned
    /// network (RDAP, 70) is a record someone filed for that network; a forward-confirmed PTR name in the
    /// organisation's domain (reverse DNS, 60) shows who runs the address's DNS, which is usually, not
    /// always, who sits behind it.
    pub fn default_confidence(self) -> u8 {
        match self {
            IdSource::None => 0,
            IdSource::Ranges => 100,
            IdSource::Contact => 95,
            IdSource::Mmdb => 70,
            IdSource::Rdap => 70,
            IdSource::Rdns => 60,
            IdSource::Asn => 50,
        }
    }
}

impl fmt::Display for IdSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a name that is not an identification source.
#[derive(Debug, thiserror::Error)]
#[error("unknown identification source {0:?}: expected ranges, mmdb, asn, contact, rdns, rdap or empty")]
pub struct UnknownIdSource(pub String);

impl FromStr for IdSource {
    type Err = UnknownIdSource;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        IdSource::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownIdSource(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_layers_are_ordered_by_confidence() {
        for s in IdSource::ALL {
            assert_eq!(s.as_str().parse::<IdSource>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert!("rdns?".parse::<IdSource>().is_err());
        let c = IdSource::default_confidence;
        assert!(c(IdSource::Ranges) > c(IdSource::Contact) && c(IdSource::Contact) > c(IdSource::Mmdb));
        assert!(c(IdSource::Mmdb) > c(IdSource::Asn) && c(IdSource::Asn) > c(IdSource::None));
    }
}
