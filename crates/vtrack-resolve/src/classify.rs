//! The network class of an organisation, when its source does not say.
//!
//! Most traffic comes from ISPs, clouds and VPNs, and none of them is a lead, so every range needs a class.
//! A source's own field wins (a customer CSV's 4th column, an Enterprise MMDB's `user_type`); otherwise
//! [`classify`] applies, in this order:
//!
//! 1. **Well-known AS numbers** ([`WELL_KNOWN_ASNS`]): the big clouds, CDNs and access networks, whose
//!    names alone ("Google LLC", "Amazon.com, Inc.") do not say what they are.
//! 2. **Words in the organisation name** ([`NAME_RULES`]), first match wins: government, then education,
//!    then hosting, then ISP. Government and education come first because their names are the least
//!    ambiguous ("University Telecom Services" is a university); hosting before ISP because a telecom's
//!    cloud arm ("Telecom Cloud") serves servers, not people.
//! 3. Anything else is a **business**.
//!
//! Names are matched word by word, case-insensitively, on letters and digits only, so "Cloudflare, Inc."
//! is the words `cloudflare inc`. A rule word may end in `*` (a word starting with it, `telecom*` matches
//! "telecommunications") or start and end with `*` (a word containing it, `*telecom*` matches
//! "rostelecom"). A customer who disagrees overrides one range in the companies CSV's class column.

use vtrack_model::NetworkClass;

use NetworkClass::{Education, Government, Hosting, Isp};

/// AS numbers whose class their names do not reveal. Checked before the name rules.
pub const WELL_KNOWN_ASNS: &[(u32, NetworkClass)] = &[
    // Clouds, CDNs, hosters, VPN exits.
    (13335, Hosting),  // Cloudflare
    (16509, Hosting),  // Amazon (AWS)
    (14618, Hosting),  // Amazon (AWS)
    (8075, Hosting),   // Microsoft (Azure)
    (15169, Hosting),  // Google
    (19527, Hosting),  // Google
    (396982, Hosting), // Google Cloud
    (14061, Hosting),  // DigitalOcean
    (16276, Hosting),  // OVH
    (24940, Hosting),  // Hetzner
    (63949, Hosting),  // Akamai (Linode)
    (20940, Hosting),  // Akamai
    (16625, Hosting),  // Akamai
    (54113, Hosting),  // Fastly
    (20473, Hosting),  // Vultr (Choopa)
    (31898, Hosting),  // Oracle Cloud
    (36351, Hosting),  // IBM Cloud (SoftLayer)
    (45102, Hosting),  // Alibaba Cloud
    (37963, Hosting),  // Alibaba Cloud
    (132203, Hosting), // Tencent Cloud
    (9009, Hosting),   // M247 (VPN exits)
    (212238, Hosting), // Datacamp (VPN exits)
    (60068, Hosting),  // CDN77
    (51167, Hosting),  // Contabo
    (12876, Hosting),  // Scaleway
    (60781, Hosting),  // Leaseweb
    (28753, Hosting),  // Leaseweb
    (46606, Hosting),  // Unified Layer
    (8560, Hosting),   // IONOS
    (6939, Hosting),   // Hurricane Electric (transit, colocation, IPv6 tunnels)
    // Access networks: broadband, cable, mobile.
    (7922, Isp),  // Comcast
    (701, Isp),   // Verizon
    (22394, Isp), // Verizon Wireless
    (7018, Isp),  // AT&T
    (20057, Isp), // AT&T Mobility
    (21928, Isp), // T-Mobile US
    (22773, Isp), // Cox
    (20115, Isp), // Charter
    (11427, Isp), // Charter
    (10796, Isp), // Charter
    (33363, Isp), // Charter
    (209, Isp),   // Lumen (CenturyLink)
    (5650, Isp),  // Frontier
    (3320, Isp),  // Deutsche Telekom
    (3215, Isp),  // Orange
    (2856, Isp),  // BT
    (5089, Isp),  // Virgin Media
    (5432, Isp),  // Proximus
    (1136, Isp),  // KPN
    (3303, Isp),  // Swisscom
    (12322, Isp), // Free
    (15557, Isp), // SFR
    (3352, Isp),  // Telefonica Spain
    (6830, Isp),  // Liberty Global
    (4134, Isp),  // Chinanet
    (4837, Isp),  // China Unicom
    (9808, Isp),  // China Mobile
    (55836, Isp), // Reliance Jio
    (24560, Isp), // Bharti Airtel
    (1221, Isp),  // Telstra
    (4766, Isp),  // Korea Telecom
    (17676, Isp), // SoftBank
    (2516, Isp),  // KDDI
    (12389, Isp), // Rostelecom
    // Research and education networks.
    (786, Education),   // Jisc (JANET)
    (11537, Education), // Internet2
    (680, Education),   // DFN
    // Government and military.
    (749, Government), // US Department of Defense
    (721, Government), // DoD Network Information Center
];

/// Name rules, tried in order; each is a class and a phrase of rule words (see the module docs).
pub const NAME_RULES: &[(NetworkClass, &str)] = &[
    (Government, "government"),
    (Government, "govt"),
    (Government, "gov"),
    (Government, "ministry"),
    (Government, "ministerio"),
    (Government, "ministere"),
    (Government, "ministerium"),
    (Government, "city of"),
    (Government, "county"),
    (Government, "municipal*"),
    (Government, "federal"),
    (Government, "department of"),
    (Government, "dod"),
    (Government, "military"),
    (Government, "army"),
    (Government, "navy"),
    (Government, "air force"),
    (Government, "national guard"),
    (Government, "parliament"),
    (Government, "bundesamt"),
    (Government, "state of"),
    (Government, "city council"),
    (Government, "police"),
    (Education, "universit*"),
    (Education, "universidad*"),
    (Education, "universidade*"),
    (Education, "univ"),
    (Education, "college"),
    (Education, "school*"),
    (Education, "education*"),
    (Education, "research network"),
    (Education, "research and education"),
    (Education, "institute of technology"),
    (Education, "polytechnic*"),
    (Education, "hochschule"),
    (Education, "universite"),
    (Education, "forschungsnetz*"),
    (Education, "k12"),
    (Hosting, "cloud*"),
    (Hosting, "host*"),
    (Hosting, "data center*"),
    (Hosting, "data centre*"),
    (Hosting, "datacent*"),
    (Hosting, "server*"),
    (Hosting, "vps"),
    (Hosting, "cdn*"),
    (Hosting, "content delivery"),
    (Hosting, "colocation"),
    (Hosting, "colo"),
    (Hosting, "dedicated"),
    (Hosting, "vpn"),
    (Hosting, "proxy"),
    (Hosting, "proxies"),
    (Hosting, "amazon"),
    (Hosting, "aws"),
    (Hosting, "azure"),
    (Hosting, "digitalocean"),
    (Hosting, "linode"),
    (Hosting, "akamai"),
    (Hosting, "fastly"),
    (Hosting, "ovh*"),
    (Hosting, "hetzner"),
    (Hosting, "leaseweb"),
    (Hosting, "contabo"),
    (Hosting, "scaleway"),
    (Hosting, "vultr"),
    (Hosting, "choopa"),
    (Hosting, "m247"),
    (Hosting, "datacamp"),
    (Hosting, "equinix"),
    (Hosting, "rackspace"),
    (Hosting, "softlayer"),
    (Hosting, "zenlayer"),
    (Hosting, "ionos"),
    (Hosting, "godaddy"),
    (Isp, "*telecom*"),
    (Isp, "*telekom*"),
    (Isp, "telco"),
    (Isp, "telefon*"),
    (Isp, "tele2"),
    (Isp, "telia"),
    (Isp, "telstra"),
    (Isp, "telenor"),
    (Isp, "telus"),
    (Isp, "broadband"),
    (Isp, "mobile"),
    (Isp, "mobil"),
    (Isp, "wireless"),
    (Isp, "cellular"),
    (Isp, "cable*"),
    (Isp, "isp"),
    (Isp, "internet service*"),
    (Isp, "internet provider"),
    (Isp, "fiber"),
    (Isp, "fibre"),
    (Isp, "fibra"),
    (Isp, "dsl"),
    (Isp, "adsl"),
    (Isp, "communication*"),
    (Isp, "comunica*"),
    (Isp, "comcast"),
    (Isp, "verizon"),
    (Isp, "vodafone"),
    (Isp, "orange"),
    (Isp, "spectrum"),
    (Isp, "charter"),
    (Isp, "centurylink"),
    (Isp, "virgin media"),
    (Isp, "swisscom"),
    (Isp, "airtel"),
    (Isp, "unicom"),
    (Isp, "chinanet"),
    (Isp, "claro"),
    (Isp, "movistar"),
    (Isp, "viettel"),
];

/// The class of an organisation known by its name and AS number (0 when unknown).
///
/// ```
/// use vtrack_model::NetworkClass;
/// use vtrack_resolve::classify::classify;
/// assert_eq!(classify("Example Broadband", 64500), NetworkClass::Isp);
/// assert_eq!(classify("Google LLC", 15169), NetworkClass::Hosting);
/// assert_eq!(classify("Umbrella Pharmaceuticals", 64506), NetworkClass::Business);
/// ```
pub fn classify(name: &str, asn: u32) -> NetworkClass {
    if asn != 0 {
        if let Some(&(_, class)) = WELL_KNOWN_ASNS.iter().find(|(n, _)| *n == asn) {
            return class;
        }
    }
    let words = words(name);
    if words.is_empty() {
        return NetworkClass::Unknown;
    }
    NAME_RULES
        .iter()
        .find(|(_, phrase)| phrase_matches(phrase, &words))
        .map_or(NetworkClass::Business, |&(class, _)| class)
}

/// The class an MMDB `user_type` (GeoIP2 Enterprise and Insights) names, if it names one.
pub fn from_user_type(user_type: &str) -> Option<NetworkClass> {
    Some(match user_type {
        "business" => NetworkClass::Business,
        "college" | "school" => Education,
        "government" | "military" => Government,
        "hosting" | "content_delivery_network" | "consumer_privacy" | "search_engine_spider" => Hosting,
        "residential" | "cellular" | "dialup" | "cafe" | "library" | "traveler" | "router" => Isp,
        _ => return None,
    })
}

fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn word_matches(rule: &str, word: &str) -> bool {
    match (rule.strip_prefix('*'), rule.strip_suffix('*')) {
        (Some(inner), Some(_)) => word.contains(inner.trim_end_matches('*')),
        (None, Some(prefix)) => word.starts_with(prefix),
        _ => word == rule,
    }
}

fn phrase_matches(phrase: &str, words: &[String]) -> bool {
    let rule: Vec<&str> = phrase.split(' ').collect();
    words.windows(rule.len()).any(|w| w.iter().zip(&rule).all(|(word, r)| word_matches(r, word)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use NetworkClass::Business;

    #[test]
    fn the_fixture_organisations() {
        let cases = [
            ("Example Broadband", 64500, Isp),
            ("Example Cloud Hosting", 64501, Hosting),
            ("Example Mobile Telecom", 64502, Isp),
            ("Northwind University", 64504, Education),
            ("City of Springfield", 64505, Government),
            ("Umbrella Pharmaceuticals", 64506, Business),
            ("Acme Robotics", 64503, Business),
        ];
        for (name, asn, class) in cases {
            assert_eq!(classify(name, asn), class, "{name}");
        }
    }

    #[test]
    fn real_world_names() {
        let cases = [
            ("Cloudflare, Inc.", 0, Hosting),
            ("Hurricane Electric LLC", 6939, Hosting),
            ("ARTERIA Networks Corporation", 0, Business),
            ("PJSC Rostelecom", 0, Isp),
            ("Deutsche Telekom AG", 0, Isp),
            ("NTT PC Communications, Inc.", 0, Isp),
            ("Comcast Cable Communications, LLC", 0, Isp),
            ("T-Mobile USA, Inc.", 0, Isp),
            ("Universidad Nacional Autonoma de Mexico", 0, Education),
            ("Massachusetts Institute of Technology", 0, Education),
            ("United States Department of Defense (DoD)", 0, Government),
            ("DoD Network Information Center", 0, Government),
            ("Hetzner Online GmbH", 0, Hosting),
            ("LLC \"HOSTOFF CSL\"", 0, Hosting),
            ("Microsoft Corporation", 8075, Hosting),
            ("Pfizer Inc.", 0, Business),
        ];
        for (name, asn, class) in cases {
            assert_eq!(classify(name, asn), class, "{name}");
        }
    }

    #[test]
    fn well_known_asns_beat_names_and_empty_names_are_unknown() {
        assert_eq!(classify("Amazon.com, Inc.", 16509), Hosting);
        assert_eq!(classify("Some Business", 7922), Isp);
        assert_eq!(classify("", 0), NetworkClass::Unknown);
        assert_eq!(classify(" - ", 64500), NetworkClass::Unknown);
    }

    #[test]
    fn rule_words_match_whole_words_prefixes_or_infixes() {
        assert!(word_matches("gov", "gov"));
        assert!(!word_matches("gov", "governor"));
        assert!(word_matches("telecom*", "telecommunications"));
        assert!(!word_matches("telecom*", "rostelecom"));
        assert!(word_matches("*telecom*", "rostelecom"));
        assert!(phrase_matches("city of", &words("The City of Springfield")));
        assert!(!phrase_matches("city of", &words("Cityof Springfield")));
        // "Cape Cod" has no rule word; "Hostess Brands" matches host* (documented over-reach, overridable).
        assert_eq!(classify("Cape Cod Potato Chips", 0), Business);
    }

    #[test]
    fn enterprise_user_types() {
        assert_eq!(from_user_type("business"), Some(Business));
        assert_eq!(from_user_type("cellular"), Some(Isp));
        assert_eq!(from_user_type("consumer_privacy"), Some(Hosting));
        assert_eq!(from_user_type("school"), Some(Education));
        assert_eq!(from_user_type("military"), Some(Government));
        assert_eq!(from_user_type("other"), None);
    }
}
