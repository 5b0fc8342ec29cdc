//! First-party identity: a visitor who told the site who she is counts for her company from any network.
//!
//! `vtrack('identify', 'jane@acme.com')` after a form fill is the most accurate signal there is, and it is
//! the site owner's own data. The rules, all pure:
//!
//! - [`business_domain`] (in `vtrack_model::domain`, the one domain rule of every crate): the email's
//!   registrable domain, unless a free-mail, ISP-mail or disposable provider names a person instead.
//! - [`attribute`]: an event of an identified visitor counts for her company — any earlier or later
//!   session of the same visitor id, from any network — unless the customer's own ranges say otherwise
//!   (they outrank an email: a consultant on a client's network works for the client that day). A
//!   cookieless visitor's id lives one day, and so does her identity.
//! - [`learned_domain`]: an organisation known only by its AS (`as<N>`) whose people identify with one
//!   business domain is that domain; its key is then mapped to the domain.
//!
//! Nothing about the person is kept beyond what `identify` already stores (the email on its event, which
//! becomes the account's contact).

use vtrack_model::domain::business_domain;
use vtrack_model::event::CompanyInfo;
use vtrack_model::{EnrichedEvent, IdSource, NetworkClass};

/// Prefix of the daily visitor ids ingest makes for cookieless visits.
pub const DAILY_VISITOR_PREFIX: &str = "d-";

/// Fewest distinct identified visitors from one AS-only organisation before it learns their domain.
pub const LEARN_MIN_VISITORS: usize = 2;

/// A visitor's identification by her own email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub site: String,
    pub visitor_id: String,
    /// The company's registrable domain: the account key.
    pub company_domain: String,
    /// When she identified, Unix ms (the latest `identify` with a business email wins).
    pub identified_ms: i64,
    /// The account key her network gave the `identify` event when it was an AS-only organisation
    /// (`as<N>` of an account class); empty otherwise. What [`learned_domain`] counts.
    pub network_key: String,
}

impl Identity {
    /// The identity an `identify` event gives, if it names a business.
    pub fn of(event: &EnrichedEvent) -> Option<Identity> {
        if event.kind != "identify" {
            return None;
        }
        let company_domain = business_domain(&event.email)?;
        let c = &event.company;
        let as_only = c.id_source == IdSource::Asn && c.network_class.is_account() && is_as_key(&c.company_domain);
        Some(Identity {
            site: event.site.clone(),
            visitor_id: event.visitor_id.clone(),
            company_domain,
            identified_ms: event.ts_ms,
            network_key: if as_only { c.company_domain.clone() } else { String::new() },
        })
    }

    /// Of two identities of one visitor, the one that stands: the later, then the greater domain (so the
    /// choice does not depend on the order they arrive in).
    pub fn newer(self, other: Identity) -> Identity {
        if (other.identified_ms, &other.company_domain) > (self.identified_ms, &self.company_domain) {
            other
        } else {
            self
        }
    }

    /// Whether the identity covers an event at `ts_ms`: always for a visitor with a lasting id; the same
    /// UTC day only for a cookieless visitor's daily id.
    pub fn covers(&self, ts_ms: i64) -> bool {
        !self.visitor_id.starts_with(DAILY_VISITOR_PREFIX)
            || ts_ms.div_euclid(86_400_000) == self.identified_ms.div_euclid(86_400_000)
    }
}

/// Whether `key` is an AS-number account key (`as<N>`).
pub fn is_as_key(key: &str) -> bool {
    key.strip_prefix("as").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The organisation an event counts for, given its visitor's identity and the keys learned so far
/// (`alias(key)` is the domain an AS-only key was mapped to).
///
/// Returns `None` when the network's answer stands unchanged.
pub fn attribute(
    event: &EnrichedEvent,
    identity: Option<&Identity>,
    alias: impl Fn(&str) -> Option<String>,
) -> Option<CompanyInfo> {
    let c = &event.company;
    let contact = IdSource::Contact.default_confidence();
    if let Some(id) = identity.filter(|id| id.covers(event.ts_ms) && c.id_confidence < contact) {
        if c.company_domain == id.company_domain && c.id_source == IdSource::Contact {
            return None;
        }
        let mut out = c.clone();
        if out.company_domain != id.company_domain || !out.network_class.is_account() {
            out.company_name = id.company_domain.clone();
        }
        out.company_domain = id.company_domain.clone();
        out.network_class = NetworkClass::Business;
        out.id_source = IdSource::Contact;
        out.id_confidence = contact;
        // Her own email is the evidence that the visit is a business's: the class is as sure as that.
        out.class_confidence = contact;
        return Some(out);
    }
    if is_as_key(&c.company_domain) {
        let domain = alias(&c.company_domain)?;
        let mut out = c.clone();
        out.company_domain = domain;
        // Its people named one business domain: that is evidence of an organisation, beyond its name.
        out.class_confidence = out.class_confidence.max(contact);
        return Some(out);
    }
    None
}

/// The domain an AS-only organisation has learned from its people, given each distinct visitor's
/// identified domain: one domain named by at least [`LEARN_MIN_VISITORS`] visitors and by more than half
/// of them. A consultant's or a partner's email among many does not move it; two companies sharing one AS
/// (a business park's network) do not merge.
pub fn learned_domain<'a>(visitor_domains: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    let mut total = 0;
    for d in visitor_domains {
        *counts.entry(d).or_default() += 1;
        total += 1;
    }
    let (domain, n) = counts.into_iter().max_by_key(|(d, n)| (*n, std::cmp::Reverse(*d)))?;
    (n >= LEARN_MIN_VISITORS && n * 2 > total).then(|| domain.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, vid: &str, ts_ms: i64, company: CompanyInfo) -> EnrichedEvent {
        EnrichedEvent {
            kind: kind.into(),
            visitor_id: vid.into(),
            ts_ms,
            site: "s".into(),
            email: "jane@brightwater.example".into(),
            company,
            ..Default::default()
        }
    }

    fn isp() -> CompanyInfo {
        CompanyInfo {
            company_name: "Comcast".into(),
            company_domain: "as7922".into(),
            asn: 7922,
            network_class: NetworkClass::Isp,
            id_source: IdSource::Asn,
            id_confidence: 50,
            ..Default::default()
        }
    }

    #[test]
    fn an_identified_visitor_counts_for_her_company_from_any_network_but_not_over_the_customer_ranges() {
        let id = Identity::of(&event("identify", "v1", 1_000, isp())).unwrap();
        assert_eq!(id.company_domain, "brightwater.example");
        assert_eq!(id.network_key, "", "an ISP is not an AS-only organisation");
        let later = event("pageview", "v1", 9_000_000_000, isp());
        let got = attribute(&later, Some(&id), |_| None).unwrap();
        assert_eq!(
            (got.company_domain.as_str(), got.network_class, got.id_source, got.id_confidence),
            ("brightwater.example", NetworkClass::Business, IdSource::Contact, 95)
        );
        assert_eq!(got.asn, 7922, "the network's own facts stay");
        let ranges = CompanyInfo {
            company_domain: "client.example".into(),
            network_class: NetworkClass::Business,
            id_source: IdSource::Ranges,
            id_confidence: 100,
            ..Default::default()
        };
        assert_eq!(attribute(&event("pageview", "v1", 2_000, ranges), Some(&id), |_| None), None);
        assert_eq!(attribute(&event("identify", "v9", 1, isp()), None, |_| None), None);
    }

    #[test]
    fn a_cookieless_identity_lasts_its_day() {
        let day = 86_400_000;
        let id = Identity::of(&event("identify", "d-00ff", 3 * day + 5, isp())).unwrap();
        assert!(id.covers(3 * day) && id.covers(4 * day - 1));
        assert!(!id.covers(4 * day) && !id.covers(3 * day - 1));
        let lasting = Identity::of(&event("identify", "v1", 3 * day, isp())).unwrap();
        assert!(lasting.covers(0) && lasting.covers(400 * day));
    }

    #[test]
    fn free_mail_identifies_nobody() {
        let mut e = event("identify", "v1", 1, isp());
        e.email = "jane.doe@gmail.com".into();
        assert_eq!(Identity::of(&e), None);
    }

    #[test]
    fn as_only_organisations_learn_the_domain_most_of_their_people_give() {
        let as_org = CompanyInfo {
            company_name: "Exxon Mobil Corporation".into(),
            company_domain: "as1766".into(),
            network_class: NetworkClass::Business,
            id_source: IdSource::Asn,
            id_confidence: 50,
            ..Default::default()
        };
        let id = Identity::of(&event("identify", "v1", 1, as_org.clone())).unwrap();
        assert_eq!(id.network_key, "as1766");
        assert_eq!(learned_domain(["exxonmobil.com"]), None, "one person is not enough");
        assert_eq!(
            learned_domain(["exxonmobil.com", "exxonmobil.com", "partner.example"]).as_deref(),
            Some("exxonmobil.com")
        );
        assert_eq!(learned_domain(["a.example", "a.example", "b.example", "b.example"]), None, "no majority");
        let page = event("pageview", "v7", 1, as_org);
        let got = attribute(&page, None, |k| (k == "as1766").then(|| "exxonmobil.com".to_string())).unwrap();
        assert_eq!((got.company_domain.as_str(), got.id_source), ("exxonmobil.com", IdSource::Asn));
        assert_eq!(got.company_name, "Exxon Mobil Corporation");
    }

    #[test]
    fn the_standing_identity_does_not_depend_on_arrival_order() {
        let a = Identity::of(&event("identify", "v1", 10, isp())).unwrap();
        let mut b = a.clone();
        b.company_domain = "other.example".into();
        assert_eq!(a.clone().newer(b.clone()), b.clone().newer(a.clone()));
        b.identified_ms = 5;
        assert_eq!(a.clone().newer(b.clone()), a);
    }
}
