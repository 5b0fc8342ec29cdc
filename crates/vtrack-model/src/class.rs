//! Network classes: what kind of organisation an IP range belongs to.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What kind of network a visit came from.
///
/// Most B2B traffic arrives through ISPs, clouds and VPNs, and an ISP is not a lead: only
/// [`NetworkClass::is_account`] classes become accounts that are scored and alerted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkClass {
    /// A company's own network: the visits the product is for.
    Business,
    /// Consumer and mobile access providers.
    Isp,
    /// Clouds, CDNs, data centres, VPNs and proxies.
    Hosting,
    /// Universities, colleges, schools, research networks.
    Education,
    /// Government, public administration and the military.
    Government,
    /// No source knew the range.
    #[default]
    Unknown,
}

impl NetworkClass {
    /// Every class, in a stable order (used for metrics labels and docs).
    pub const ALL: [NetworkClass; 6] = [
        NetworkClass::Business,
        NetworkClass::Isp,
        NetworkClass::Hosting,
        NetworkClass::Education,
        NetworkClass::Government,
        NetworkClass::Unknown,
    ];

    /// Whether visits from this class identify an organisation worth an account.
    pub fn is_account(self) -> bool {
        matches!(self, NetworkClass::Business | NetworkClass::Education | NetworkClass::Government)
    }

    /// The lowercase name used in the store, config files and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkClass::Business => "business",
            NetworkClass::Isp => "isp",
            NetworkClass::Hosting => "hosting",
            NetworkClass::Education => "education",
            NetworkClass::Government => "government",
            NetworkClass::Unknown => "unknown",
        }
    }
}

impl fmt::Display for NetworkClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a class name that is not one of the six.
#[derive(Debug, thiserror::Error)]
#[error("unknown network class {0:?}: expected business, isp, hosting, education, government or unknown")]
pub struct UnknownClass(pub String);

impl FromStr for NetworkClass {
    type Err = UnknownClass;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        NetworkClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownClass(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_and_rejects_others() {
        for c in NetworkClass::ALL {
            assert_eq!(c.as_str().parse::<NetworkClass>().unwrap(), c);
        }
        assert_eq!(" ISP ".parse::<NetworkClass>().unwrap(), NetworkClass::Isp);
        assert!("vpn".parse::<NetworkClass>().is_err());
    }

    #[test]
    fn only_organisations_become_accounts() {
        let accounts: Vec<_> = NetworkClass::ALL.into_iter().filter(|c| c.is_account()).collect();
        assert_eq!(accounts, [NetworkClass::Business, NetworkClass::Education, NetworkClass::Government]);
    }
}
