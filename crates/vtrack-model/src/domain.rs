//! Domains that name organisations: one rule for every caller — an identified visitor's company, an MMDB
//! record's domain, the owner of a PTR name, the account keys learned from them — so one organisation never
//! gets two keys.
//!
//! - [`normalize_host`]: a host as people write it (Unicode or punycode, any case, a trailing dot) in its
//!   one ASCII form (IDNA/UTS 46), or why it cannot be one;
//! - [`registrable_domain`]: the part of a host an organisation registered (Public Suffix List), or `None`
//!   when the name cannot name an organisation (reverse-DNS names, bare suffixes, names under a private
//!   suffix such as `*.amazonaws.com`, where the registrable part belongs to whoever rented it);
//! - [`is_free_mail`] and [`business_domain`]: an email's company, unless a free-mail, ISP-mail or
//!   disposable provider (`data/free-mail-domains.txt`) names a person instead.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The free-mail list, as maintained in the repo.
const FREE_MAIL: &str = include_str!("../data/free-mail-domains.txt");

/// Why a host name cannot name an organisation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the domain is empty")]
    Empty,
    #[error("an address literal ({0}) names no organisation")]
    AddressLiteral(String),
    #[error("not a valid domain name: {0}")]
    Invalid(String),
}

/// `host` in its one ASCII form: IDNA (UTS 46) to punycode, lowercase, without a trailing dot. Refuses
/// address literals (`[10.0.0.1]`, `10.0.0.1`) and names that are not valid host names, including those with
/// bidirectional controls or other characters IDNA disallows; invisible characters IDNA maps away (a soft
/// hyphen, a zero-width space) are removed, so "bücher.de", "BÜCHER.de" and "xn--bcher-kva.de" are one
/// domain.
pub fn normalize_host(host: &str) -> Result<String, HostError> {
    let host = host.trim();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() || bare.to_ascii_lowercase().starts_with("ipv6:") {
        return Err(HostError::AddressLiteral(host.to_string()));
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(HostError::Empty);
    }
    let ascii = idna::domain_to_ascii_strict(host).map_err(|_| HostError::Invalid(host.to_string()))?;
    let valid_labels = ascii.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !valid_labels || ascii.len() > 253 {
        return Err(HostError::Invalid(host.to_string()));
    }
    Ok(ascii)
}

/// The registrable domain of a host or domain name (`mail.acme.co.uk` → `acme.co.uk`), in its ASCII form,
/// or `None` when it cannot name an organisation: not a host name, a reverse-DNS name (`in-addr.arpa`,
/// `ip6.arpa`, anything under `arpa`), a bare public suffix (`co.uk`), or a name under a private public
/// suffix of the Public Suffix List (`*.amazonaws.com`, `*.cloudfront.net`, dynamic-DNS names). A top-level
/// domain the list does not know (`globex.example`) counts as a suffix by the list's own default rule.
/// Underscores, found in some PTR and MMDB names, are allowed in labels.
pub fn registrable_domain(domain: &str) -> Option<String> {
    let d = domain.trim().trim_end_matches('.');
    let d = if d.is_ascii() { d.to_ascii_lowercase() } else { normalize_host(d).ok()? };
    let host_like = !d.is_empty()
        && d.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    if !host_like || d == "arpa" || d.ends_with(".arpa") || d.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let reg = psl::domain(d.as_bytes())?;
    if reg.suffix().typ() == Some(psl::Type::Private) {
        return None;
    }
    let reg = std::str::from_utf8(reg.as_bytes()).ok()?;
    reg.contains('.').then(|| reg.to_string())
}

struct FreeMail {
    exact: HashSet<String>,
    /// Entries `name.*`: the registrable domain's first label under any public suffix.
    any_suffix: HashSet<String>,
}

fn free_mail() -> &'static FreeMail {
    static LIST: OnceLock<FreeMail> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut list = FreeMail { exact: HashSet::new(), any_suffix: HashSet::new() };
        for line in FREE_MAIL.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            match line.strip_suffix(".*") {
                Some(name) => list.any_suffix.insert(name.to_ascii_lowercase()),
                None => list.exact.insert(line.to_ascii_lowercase()),
            };
        }
        list
    })
}

/// Whether `domain` (a registrable domain) is a free-mail, ISP-mail or disposable provider.
pub fn is_free_mail(domain: &str) -> bool {
    let list = free_mail();
    let domain = domain.to_ascii_lowercase();
    if list.exact.contains(&domain) {
        return true;
    }
    let label = domain.split('.').next().unwrap_or_default();
    list.any_suffix.contains(label)
        && psl::suffix_str(&domain).is_some_and(|s| domain.len() == label.len() + 1 + s.len())
}

/// The company an email names: its registrable domain, or `None` for free mail and malformed addresses.
pub fn business_domain(email: &str) -> Option<String> {
    let (_, host) = email.trim().rsplit_once('@')?;
    let domain = registrable_domain(host)?;
    (!is_free_mail(&domain)).then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable_domain("bredband2.com").as_deref(), Some("bredband2.com"));
        assert_eq!(registrable_domain("shoesfin.NET").as_deref(), Some("shoesfin.net"));
        assert_eq!(registrable_domain("mail.acme.co.uk.").as_deref(), Some("acme.co.uk"));
        assert_eq!(registrable_domain("globex.example").as_deref(), Some("globex.example"));
        assert_eq!(registrable_domain("mail.Bücher.de").as_deref(), Some("xn--bcher-kva.de"));
        assert_eq!(registrable_domain("xn--bcher-kva.de").as_deref(), Some("xn--bcher-kva.de"));
        for bad in [
            "in-addr.arpa",
            "160.69.2.81.in-addr.arpa",
            "ip6.arpa",
            "arpa",
            "com",
            "co.uk",
            "ec2-1-2-3-4.compute-1.amazonaws.com",
            "d111111abcdef8.cloudfront.net",
            "myhome.dyndns.org",
            "not a domain",
            "",
            "a..b",
            "10.0.0.1",
        ] {
            assert_eq!(registrable_domain(bad), None, "{bad}");
        }
    }

    #[test]
    fn hosts_have_one_ascii_form() {
        assert_eq!(normalize_host("Bücher.DE.").as_deref(), Ok("xn--bcher-kva.de"));
        assert_eq!(normalize_host("xn--bcher-kva.de").as_deref(), Ok("xn--bcher-kva.de"));
        assert_eq!(normalize_host("acme\u{00AD}corp.example").as_deref(), Ok("acmecorp.example"), "soft hyphen");
        assert!(matches!(normalize_host("[10.0.0.1]"), Err(HostError::AddressLiteral(_))));
        assert!(matches!(normalize_host("[IPv6:2001:db8::1]"), Err(HostError::AddressLiteral(_))));
        assert!(matches!(normalize_host("192.0.2.1"), Err(HostError::AddressLiteral(_))));
        for bad in ["-acme.example", "acme-.example", "ac me.example", "acme\u{202E}.example", "a..b", ""] {
            assert!(normalize_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn business_domains_come_from_the_public_suffix_list() {
        assert_eq!(business_domain("jane@brightwater.example").as_deref(), Some("brightwater.example"));
        assert_eq!(business_domain("Jo@Mail.EU.Acme.co.uk").as_deref(), Some("acme.co.uk"));
        assert_eq!(business_domain("x@sub.dept.example.com.au").as_deref(), Some("example.com.au"));
        for free in ["a@gmail.com", "a@yahoo.co.uk", "a@hotmail.fr", "a@gmx.at", "a@web.de", "a@mail.ru", "a@qq.com"] {
            assert_eq!(business_domain(free), None, "{free}");
        }
        assert_eq!(business_domain("a@proton.me"), None);
        assert_eq!(business_domain("a@co.uk"), None, "a bare public suffix");
        assert_eq!(business_domain("a@[10.0.0.1]"), None);
        assert_eq!(business_domain("a@10.0.0.1"), None);
        // A free-mail brand inside another name is a company of its own.
        assert_eq!(business_domain("a@yahoo-finance-partners.com").as_deref(), Some("yahoo-finance-partners.com"));
        assert_eq!(business_domain("a@outlookconsulting.de").as_deref(), Some("outlookconsulting.de"));
    }
}
