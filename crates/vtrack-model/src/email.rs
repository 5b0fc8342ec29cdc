//! The email an `identify` beacon carries, as vtrack keeps it: parsed by a real address parser
//! (`email_address`, RFC 5322 and RFC 6532), its domain in the one ASCII form of
//! [`crate::domain::normalize_host`], and refused, with the reason, when it is not an address a person could
//! have typed into a form.
//!
//! Why it matters: the domain becomes an account key and the address is shown to sales. A hand-written check
//! let `a@@b.example` through, made an account of a domain starting with a hyphen, took address literals
//! (`jo@[10.0.0.1]`), and stored bidirectional controls and zero-width characters raw, which then showed one
//! address as another; the same domain written in Unicode and in punycode made two accounts.

use crate::domain::{normalize_host, HostError};
use email_address::{EmailAddress, Options};

/// Why an email is refused. Sent back to the client (`{"error": …}` with a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("field `email` has an invisible or bidirectional control character (U+{0:04X})")]
    Invisible(u32),
    #[error("field `email` is not an email address: {0}")]
    Malformed(String),
    #[error("field `email`: an address literal ({0}) names no organisation; use the domain")]
    AddressLiteral(String),
    #[error("field `email` has an invalid domain: {0}")]
    Domain(HostError),
}

/// Characters that change how text around them is shown without being seen themselves: bidirectional
/// embeddings, overrides, isolates and marks, zero-width spaces and joiners, the word joiner and invisible
/// operators, the byte-order mark, the soft hyphen. An address with one reads as another address.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
    ) || c.is_control()
}

/// `raw` as vtrack stores it: the local part as given, `@`, the domain in its ASCII form (IDNA, lower case).
/// Refuses what is not one address (`a@@b.example`, display names, comments' leftovers), any invisible or
/// bidirectional control character, address literals, and domains that are not host names (a label starting
/// with a hyphen, one label only).
pub fn normalize_email(raw: &str) -> Result<String, EmailError> {
    let raw = raw.trim();
    if let Some(c) = raw.chars().find(|&c| invisible(c)) {
        return Err(EmailError::Invisible(c as u32));
    }
    let options = Options::default().without_display_text().with_required_tld();
    let parsed = match EmailAddress::parse_with_options(raw, options) {
        Ok(p) => p,
        Err(email_address::Error::UnsupportedDomainLiteral) => {
            return Err(EmailError::AddressLiteral(raw.rsplit_once('@').map_or(raw, |(_, d)| d).to_string()))
        }
        Err(e) => {
            // Say what is wrong with the domain when it is the domain: "invalid character" alone is no help.
            if let Some(Err(bad)) = raw.rsplit_once('@').map(|(_, domain)| normalize_host(domain)) {
                return Err(match bad {
                    HostError::AddressLiteral(d) => EmailError::AddressLiteral(d),
                    other => EmailError::Domain(other),
                });
            }
            return Err(EmailError::Malformed(e.to_string().trim_end_matches('.').to_lowercase()));
        }
    };
    let domain = match normalize_host(parsed.domain()) {
        Ok(d) => d,
        Err(HostError::AddressLiteral(d)) => return Err(EmailError::AddressLiteral(d)),
        Err(e) => return Err(EmailError::Domain(e)),
    };
    if !domain.contains('.') {
        return Err(EmailError::Domain(HostError::Invalid(domain)));
    }
    Ok(format!("{}@{domain}", parsed.local_part()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_kept_with_their_domain_in_ascii() {
        assert_eq!(normalize_email("Jo.Doe@Acme.Example").unwrap(), "Jo.Doe@acme.example");
        assert_eq!(normalize_email(" jo@acme.example ").unwrap(), "jo@acme.example");
        assert_eq!(normalize_email("jo@Bücher.de").unwrap(), "jo@xn--bcher-kva.de");
        assert_eq!(normalize_email("jo@XN--BCHER-KVA.DE").unwrap(), "jo@xn--bcher-kva.de");
        assert_eq!(normalize_email("jo+tag@mail.acme.co.uk").unwrap(), "jo+tag@mail.acme.co.uk");
    }

    #[test]
    fn what_is_not_one_address_is_refused_with_the_reason() {
        for bad in
            ["a@@b.example", "nobody", "@acme.example", "jo@", "Jo <jo@acme.example>", "jo@acme", "a b@c.example"]
        {
            assert!(matches!(normalize_email(bad), Err(EmailError::Malformed(_) | EmailError::Domain(_))), "{bad}");
        }
        for bad in ["jo@-acme.example", "jo@acme-.example", "jo@ac_me.example"] {
            assert!(matches!(normalize_email(bad), Err(EmailError::Domain(_))), "{bad}");
        }
        for lit in ["jo@[10.0.0.1]", "jo@[IPv6:2001:db8::1]", "jo@192.0.2.1"] {
            let e = normalize_email(lit).unwrap_err();
            assert!(matches!(e, EmailError::AddressLiteral(_) | EmailError::Malformed(_)), "{lit}: {e:?}");
            assert!(normalize_email(lit).is_err());
        }
        assert!(matches!(normalize_email("jo@[10.0.0.1]"), Err(EmailError::AddressLiteral(_))));
        for sneaky in [
            "jo@acme\u{202E}elpmaxe.com",
            "jo\u{200B}@acme.example",
            "jo@ac\u{200D}me.example",
            "\u{FEFF}jo@acme.example",
        ] {
            assert!(matches!(normalize_email(sneaky), Err(EmailError::Invisible(_))), "{sneaky:?}");
        }
        assert_eq!(
            normalize_email("jo@acme\u{202E}.example").unwrap_err().to_string(),
            "field `email` has an invisible or bidirectional control character (U+202E)"
        );
    }
}
