//! The account key: what names an organisation in `CompanyInfo::company_domain`, and so which visits
//! count for one account.
//!
//! One rule, [`account_key`], used by every source:
//!
//! 1. **Its domain**, when a trustworthy one is known: the customer's CSV, or an MMDB `domain` that passed
//!    [`registrable_domain`] and is not the domain of the ISP the organisation sits in (the MMDB layer
//!    decides that, see `source/mmdb.rs`). Always lowercase, always holds a `.`.
//! 2. **`as<N>`**, only for the organisation that runs AS N itself: the AS layer's organisation, or an MMDB
//!    record whose organisation *is* its AS organisation (the same [`name_key`]) or that names nothing but
//!    the AS. A customer an ISP database names inside its carrier's space is never keyed by the carrier's AS.
//! 3. **A key of the organisation's name** otherwise: `org:` followed by the name's words, lowercase, joined
//!    by `-`, with legal forms (`Inc`, `LLC`, `GmbH`, `Ltd`, `AG`, `S.A.`, `Corp`, …) left out, so
//!    "La Presse" is `org:la-presse` and "Akamai Technologies, Inc." is `org:akamai-technologies`. The `:`
//!    keeps it apart from every domain and every `as<N>`.
//! 4. Empty only when the organisation has neither a name nor an AS number.
//!
//! Keys made by older versions (`as<N>` for a carrier's customers, an ISP's or an `in-addr.arpa` domain,
//! empty for a named organisation) are renamed by a migration the stores run once: [`rekey`] says what an
//! old key becomes.

/// What every name key starts with; no domain and no `as<N>` holds a `:`.
pub const NAME_KEY_PREFIX: &str = "org:";

/// Legal forms and their abbreviations, left out at the end of a name (repeatedly: "GmbH & Co. KG").
#[rustfmt::skip]
const LEGAL_SUFFIXES: &[&str] = &[
    "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "plc", "corp", "corporation", "co", "company",
    "gmbh", "mbh", "ag", "kg", "kgaa", "ohg", "ug", "ev", "se", "sa", "sas", "sarl", "sl", "slu", "srl", "spa",
    "sp", "zoo", "oo", "bv", "nv", "vof", "ab", "publ", "as", "asa", "oy", "oyj", "aps", "kk", "pty", "pte",
    "pvt", "jsc", "pjsc", "ojsc", "cjsc", "ooo", "zao", "oao", "pao", "cv", "sab", "ltda", "eireli", "bhd",
    "sdn", "tbk", "gk", "z",
];

/// Legal forms written before the name ("PT Telkom Indonesia", "OOO Yandex", "LLC \"Sputnik\"").
const LEGAL_PREFIXES: &[&str] = &["the", "pt", "cv", "llc", "ooo", "jsc", "pjsc", "ojsc", "cjsc", "zao", "oao", "pao"];

/// Words that join a legal form to another one ("S.A. de C.V.", "GmbH & Co. KG"): left out with them.
const CONNECTORS: &[&str] = &["de", "and", "und", "y", "e", "et"];

/// The words of an organisation's name, lowercase, legal forms left out. Letters and digits of any script
/// make words; everything else separates them, except that apostrophes are dropped ("McDonald's" is one
/// word) and dotted abbreviations are joined ("S.A." is `sa`). A name made only of legal forms keeps them.
pub fn name_words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for token in name.split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '\'' || c == '\u{2019}')) {
        let token: String = token.chars().filter(|&c| c != '\'' && c != '\u{2019}').collect();
        let parts: Vec<&str> = token.split('.').filter(|p| !p.is_empty()).collect();
        // "S.A." or "o.o." is one word; "Co.OHG" is two.
        if parts.len() > 1 && parts.iter().all(|p| p.chars().count() == 1) {
            words.push(parts.concat().to_lowercase());
        } else {
            words.extend(parts.iter().map(|p| p.to_lowercase()));
        }
    }
    let all = words.clone();
    while words.len() > 1 && words.first().is_some_and(|w| LEGAL_PREFIXES.contains(&w.as_str())) {
        words.remove(0);
    }
    while words.len() > 1
        && words.last().is_some_and(|w| LEGAL_SUFFIXES.contains(&w.as_str()) || CONNECTORS.contains(&w.as_str()))
    {
        words.pop();
    }
    if words.is_empty() {
        all
    } else {
        words
    }
}

/// The name key of an organisation (`org:la-presse`), or `None` when its name has no letter or digit.
pub fn name_key(name: &str) -> Option<String> {
    let words = name_words(name);
    (!words.is_empty()).then(|| format!("{NAME_KEY_PREFIX}{}", words.join("-")))
}

/// Whether two names name the same organisation: the same words once legal forms are left out, so
/// "FairPoint Communications" is "Fairpoint Communications" and "Akamai Technologies, Inc." is "Akamai
/// Technologies". Two names without words are never the same.
pub fn same_org(a: &str, b: &str) -> bool {
    let (a, b) = (name_words(a), name_words(b));
    !a.is_empty() && a == b
}

/// The AS number of an `as<N>` key.
pub fn as_key(key: &str) -> Option<u32> {
    let digits = key.strip_prefix("as")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The one domain rule of every crate (see `vtrack_model::domain`).
pub use vtrack_model::domain::registrable_domain;

/// Whether a registrable domain is named after an organisation. Its first label, hyphens left out, is
/// compared with the name's words (legal forms left out): it is named after them when it is the words run
/// together or a run of consecutive words (`telekom.de` for "Deutsche Telekom AG"), when one of it and the
/// words run together starts with the other and the shorter has at least 4 characters (`bredband2.com` and
/// "Bredband2 AB", `comcast.net` and "Comcast Cable Communications"), or when it is the initials of two or
/// more words (`bt.com` for "British Telecommunications"). Generous on purpose: for a customer of an ISP
/// a false match only costs the domain key (it gets its name key), a miss would merge the ISP's customers.
pub fn domain_names(domain: &str, name: &str) -> bool {
    let label: String = domain.split('.').next().unwrap_or("").chars().filter(|c| *c != '-' && *c != '_').collect();
    let words = name_words(name);
    let compact: String = words.concat();
    if label.is_empty() || compact.is_empty() {
        return false;
    }
    let run = (0..words.len()).any(|i| (i + 1..=words.len()).any(|j| words[i..j].concat() == label));
    let initials: String = words.iter().filter_map(|w| w.chars().next()).collect();
    run || (label.chars().count() >= 4 && compact.starts_with(&label))
        || (compact.chars().count() >= 4 && label.starts_with(&compact))
        || (words.len() >= 2 && initials == label)
}

/// The account key of an organisation; see the [module docs](self) for the rule.
///
/// - `domain`: a domain already judged trustworthy (the customer's CSV as written, an MMDB domain reduced
///   by [`registrable_domain`] and not its ISP's); it wins, lowercased.
/// - `runs_its_as`: the organisation is the one that runs AS `asn` (the AS layer's organisation, or an MMDB
///   record whose organisation is its AS organisation): it is keyed `as<N>` when it has no domain.
pub fn account_key(name: &str, asn: u32, runs_its_as: bool, domain: Option<&str>) -> String {
    if let Some(d) = domain.map(str::trim).filter(|d| !d.is_empty()) {
        return d.to_ascii_lowercase();
    }
    if asn != 0 && runs_its_as {
        return format!("as{asn}");
    }
    match name_key(name) {
        Some(k) => k,
        None if asn != 0 => format!("as{asn}"),
        None => String::new(),
    }
}

/// What an account key made by an older version becomes under today's rule, or `None` when it stays.
/// Pure, for the one-off migration of the stores (which map the old key to the new one):
///
/// - `old_key`, `company_name`, `asn`: as stored on the account (or event) row;
/// - `as_orgs`: the names AS `asn`'s own organisation goes by, as the caller knows them (from the live
///   table: [`crate::Table::as_organisations`]); empty when unknown.
///
/// The renames:
/// - empty, with a name → the name key (customers named without an AS number used to get no key);
/// - a domain that is not a registrable domain (`in-addr.arpa`, a bare public suffix, a name under a
///   private suffix) → the name key, or `as<N>` when the name is the AS organisation's;
/// - a host name → its registrable domain (`mail.acme.com` → `acme.com`);
/// - a domain named after the AS organisation while the company is another one (`bredband2.com` for
///   "Bevtec" on Bredband2's AS) → the company's name key;
/// - `as<N>` for a company whose name is not AS N's organisation (`as174` for "La Presse" on Cogent) → the
///   name key; without `as_orgs` an `as<N>` key stays, as the AS layer's own organisations keep theirs.
///
/// Keys that are already name keys stay. A domain shared by many organisations of one MMDB file cannot be
/// told from one row; rebuilding the table and re-resolving finds those.
pub fn rekey(old_key: &str, company_name: &str, asn: u32, as_orgs: &[&str]) -> Option<String> {
    let known = !as_orgs.is_empty();
    let customer = known && !as_orgs.iter().any(|o| same_org(company_name, o));
    let new = if old_key.is_empty() {
        name_key(company_name)?
    } else if old_key.starts_with(NAME_KEY_PREFIX) {
        return None;
    } else if let Some(n) = as_key(old_key) {
        if !customer || n != asn {
            return None;
        }
        name_key(company_name)?
    } else {
        match registrable_domain(old_key) {
            Some(d) if customer && as_orgs.iter().any(|o| domain_names(&d, o)) => {
                account_key(company_name, asn, false, None)
            }
            Some(d) => d,
            None => account_key(company_name, asn, known && !customer, None),
        }
    };
    (!new.is_empty() && new != old_key).then_some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keys_leave_legal_forms_out() {
        let cases = [
            ("La Presse", "org:la-presse"),
            ("GHD", "org:ghd"),
            ("Akamai Technologies, Inc.", "org:akamai-technologies"),
            ("Deutsche Telekom AG", "org:deutsche-telekom"),
            ("Telefonica Germany GmbH & Co.OHG", "org:telefonica-germany"),
            ("Uninet S.A. de C.V.", "org:uninet"),
            ("Polkomtel Sp. z o.o.", "org:polkomtel"),
            ("Bredband2 AB", "org:bredband2"),
            ("PT Telkom Indonesia", "org:telkom-indonesia"),
            ("LLC \"SPUTNIK\"", "org:sputnik"),
            ("McDonald's Corporation", "org:mcdonalds"),
            (
                "INTERNEXA Brasil Operadora de Telecomunicações S.A",
                "org:internexa-brasil-operadora-de-telecomunicações",
            ),
            ("AT&T Services, Inc.", "org:at-t-services"),
            ("S.A.", "org:sa"),
            ("AS123", "org:as123"),
        ];
        for (name, key) in cases {
            assert_eq!(name_key(name).as_deref(), Some(key), "{name}");
        }
        assert_eq!(name_key(""), None);
        assert_eq!(name_key(" -- "), None);
    }

    #[test]
    fn name_keys_cannot_be_domains_or_as_keys() {
        for name in ["AS123", "acme.com", "as 5", "Example.org Ltd"] {
            let k = name_key(name).unwrap_or_default();
            assert!(k.starts_with(NAME_KEY_PREFIX) && !k.contains('.') && as_key(&k).is_none(), "{name}: {k}");
        }
    }

    #[test]
    fn same_org_ignores_case_punctuation_and_legal_forms() {
        assert!(same_org("FairPoint Communications", "Fairpoint Communications"));
        assert!(same_org("Akamai Technologies, Inc.", "Akamai Technologies"));
        assert!(!same_org("GHD", "Cogent Communications"));
        assert!(!same_org("", ""));
    }

    #[test]
    fn domains_named_after_an_organisation() {
        assert!(domain_names("bredband2.com", "Bredband2 AB"));
        assert!(domain_names("comcast.net", "Comcast Cable Communications, LLC"));
        assert!(domain_names("t-online.de", "T-Online"));
        assert!(!domain_names("frpt.net", "FairPoint Communications"));
        assert!(!domain_names("bredband2.com", "Bevtec"));
        assert!(!domain_names("ab.se", "Abacus"), "too short to be a prefix");
        assert!(domain_names("telekom.de", "Deutsche Telekom AG"));
        assert!(domain_names("bt.com", "British Telecommunications plc"));
        assert!(domain_names("deutschetelekom.de", "Deutsche Telekom AG"));
        assert!(!domain_names("shoesfin.net", "Loud Packet"));
    }

    #[test]
    fn the_key_rule() {
        assert_eq!(account_key("Acme", 64500, true, Some("Acme.COM")), "acme.com");
        assert_eq!(account_key("Cogent Communications", 174, true, None), "as174");
        assert_eq!(account_key("La Presse", 174, false, None), "org:la-presse");
        assert_eq!(account_key("Lariat Software", 0, false, None), "org:lariat-software");
        assert_eq!(account_key("", 174, false, None), "as174");
        assert_eq!(account_key("", 0, false, None), "");
    }

    #[test]
    fn rekey_renames_what_the_old_rule_got_wrong() {
        let cogent = &["Cogent Communications", "COGENT-174"][..];
        assert_eq!(rekey("as174", "La Presse", 174, cogent).as_deref(), Some("org:la-presse"));
        assert_eq!(rekey("as174", "Cogent Communications", 174, cogent), None);
        assert_eq!(rekey("as174", "La Presse", 174, &[]), None, "without the AS organisation: stays");
        assert_eq!(rekey("", "GHD", 0, &[]).as_deref(), Some("org:ghd"));
        assert_eq!(rekey("", "", 0, &[]), None);
        assert_eq!(
            rekey("in-addr.arpa", "STONEHOUSE office network", 0, &[]).as_deref(),
            Some("org:stonehouse-office-network")
        );
        assert_eq!(rekey("bredband2.com", "Bevtec", 29518, &["Bredband2 AB"]).as_deref(), Some("org:bevtec"));
        assert_eq!(rekey("bredband2.com", "Bredband2 AB", 29518, &["Bredband2 AB"]), None);
        assert_eq!(rekey("mail.acme.com", "Acme", 0, &[]).as_deref(), Some("acme.com"));
        assert_eq!(rekey("acme.com", "Acme", 0, &[]), None);
        assert_eq!(rekey("org:acme", "Acme", 0, &[]), None);
        assert_eq!(rekey("globex.example", "Globex", 0, &[]), None);
    }
}
