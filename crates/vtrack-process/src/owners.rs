//! Who follows up an account: the `[[assign]]` rules, matched once for both stores.
//!
//! The batch write asks [`OwnerRules::owner_for`] when it first sees an account and stores the answer
//! (`account_owners`, with a line in `account_owner_history`); a later change of the rules does not move
//! accounts already assigned, a person does (the API). The rules hold no I/O: a `domains_file` target list
//! is read by the binary and handed in as domains.

use std::collections::HashSet;
use vtrack_model::owners::AssignRule;
use vtrack_model::NetworkClass;

/// One rule, ready to match.
#[derive(Debug, Clone, Default)]
pub struct OwnerRule {
    /// Upper-case country codes; empty: any country.
    pub countries: HashSet<String>,
    /// Account keys, lower case; empty: any account.
    pub domains: HashSet<String>,
    /// Empty: any class.
    pub classes: HashSet<NetworkClass>,
    /// One owner, or a team taken in turn: never empty (the config check refuses an empty team).
    pub team: Vec<String>,
}

/// The rules in config order: the first that holds names the owner.
#[derive(Debug, Clone, Default)]
pub struct OwnerRules {
    pub rules: Vec<OwnerRule>,
}

/// A change of an account's owner, as both stores record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerChange {
    pub site: String,
    pub company_domain: String,
    pub owner: String,
    /// Empty for the first owner.
    pub previous: String,
    /// `rules` for an assignment by the config, else who asked (as a status records it).
    pub changed_by: String,
    /// `rule` or `manual`.
    pub reason: &'static str,
    /// Unix ms. For a rule, the account's first event: the same on every replay, so a store keyed by it
    /// keeps the line once.
    pub at_ms: i64,
}

impl OwnerChange {
    pub fn by_rule(site: &str, domain: &str, owner: &str, at_ms: i64) -> OwnerChange {
        OwnerChange {
            site: site.to_string(),
            company_domain: domain.to_string(),
            owner: owner.to_string(),
            previous: String::new(),
            changed_by: "rules".into(),
            reason: "rule",
            at_ms,
        }
    }

    /// A person's reassignment (API or dashboard), `by` as the request named them.
    pub fn manual(site: &str, domain: &str, owner: &str, previous: &str, by: &str, at_ms: i64) -> OwnerChange {
        OwnerChange {
            site: site.to_string(),
            company_domain: domain.to_string(),
            owner: owner.to_string(),
            previous: previous.to_string(),
            changed_by: by.to_string(),
            reason: "manual",
            at_ms,
        }
    }
}

/// What a rule looks at.
#[derive(Debug, Clone, Copy)]
pub struct AccountFacts<'a> {
    pub domain: &'a str,
    pub country: &'a str,
    pub class: NetworkClass,
}

impl OwnerRule {
    /// From the config's rule, with the domains its `domains_file` listed (read by the caller).
    pub fn from_config(rule: &AssignRule, listed: &[String]) -> OwnerRule {
        OwnerRule {
            countries: rule.countries.iter().map(|c| c.to_ascii_uppercase()).collect(),
            domains: rule.domains.iter().chain(listed).map(|d| d.trim().to_ascii_lowercase()).collect(),
            classes: rule.class.iter().filter_map(|c| c.parse().ok()).collect(),
            team: rule.owner.iter().chain(&rule.team).cloned().collect(),
        }
    }

    fn holds(&self, a: &AccountFacts<'_>) -> bool {
        (self.countries.is_empty() || self.countries.contains(&a.country.to_ascii_uppercase()))
            && (self.domains.is_empty() || self.domains.contains(&a.domain.to_ascii_lowercase()))
            && (self.classes.is_empty() || self.classes.contains(&a.class))
    }
}

impl OwnerRules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The owner the first matching rule gives, `None` when no rule matches.
    ///
    /// A team is taken in turn by a stable hash of the account key modulo the team's size, not by a counter
    /// in the store: the answer depends on the account alone, so a replayed batch, a ClickHouse step redone
    /// after a crash, or two processors seeing the account at once all give the same owner with no read or
    /// lock, and over many accounts the shares are even. The hash is FNV-1a, fixed here, so it does not
    /// change with the Rust version the way `DefaultHasher` may.
    pub fn owner_for(&self, account: &AccountFacts<'_>) -> Option<&str> {
        let rule = self.rules.iter().find(|r| r.holds(account))?;
        let n = rule.team.len() as u64;
        if n == 0 {
            return None;
        }
        let pick = fnv1a(account.domain.to_ascii_lowercase().as_bytes()) % n;
        rule.team.get(pick as usize).map(String::as_str)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(countries: &[&str], domains: &[&str], classes: &[&str], team: &[&str]) -> AssignRule {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut r =
            AssignRule { countries: v(countries), domains: v(domains), class: v(classes), ..Default::default() };
        if team.len() == 1 {
            r.owner = Some(team[0].to_string());
        } else {
            r.team = v(team);
        }
        r
    }

    fn facts<'a>(domain: &'a str, country: &'a str, class: NetworkClass) -> AccountFacts<'a> {
        AccountFacts { domain, country, class }
    }

    fn rules() -> OwnerRules {
        OwnerRules {
            rules: vec![
                OwnerRule::from_config(&rule(&[], &[], &[], &["tess"]), &["BigProspect.com".into()]),
                OwnerRule::from_config(&rule(&[], &["acme.example"], &[], &["ana"]), &[]),
                OwnerRule::from_config(&rule(&["de", "AT"], &[], &[], &["dieter"]), &[]),
                OwnerRule::from_config(&rule(&[], &[], &["education"], &["eli"]), &[]),
                OwnerRule::from_config(&rule(&[], &[], &[], &["r1", "r2", "r3"]), &[]),
            ],
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let r = rules();
        // The target list comes first, whatever the country.
        assert_eq!(r.owner_for(&facts("bigprospect.com", "DE", NetworkClass::Business)), Some("tess"));
        assert_eq!(r.owner_for(&facts("acme.example", "de", NetworkClass::Business)), Some("ana"));
        assert_eq!(r.owner_for(&facts("x.example", "de", NetworkClass::Business)), Some("dieter"));
        assert_eq!(r.owner_for(&facts("x.example", "AT", NetworkClass::Education)), Some("dieter"));
        assert_eq!(r.owner_for(&facts("uni.example", "FR", NetworkClass::Education)), Some("eli"));
    }

    #[test]
    fn a_team_is_taken_in_turn_the_same_way_every_time() {
        let r = rules();
        let mut shares = std::collections::HashMap::new();
        for i in 0..3000 {
            let d = format!("company-{i}.example");
            let owner = r.owner_for(&facts(&d, "US", NetworkClass::Business)).unwrap();
            assert_eq!(r.owner_for(&facts(&d, "US", NetworkClass::Business)), Some(owner), "stable");
            *shares.entry(owner.to_string()).or_insert(0) += 1;
        }
        assert_eq!(shares.len(), 3);
        assert!(shares.values().all(|n| (800..1200).contains(n)), "even shares: {shares:?}");
        // Fixed across builds: a change of hash would move new accounts between reps.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn no_rule_no_owner() {
        let r =
            OwnerRules { rules: vec![OwnerRule::from_config(&rule(&["DE"], &[], &["business"], &["dieter"]), &[])] };
        assert_eq!(r.owner_for(&facts("x.example", "DE", NetworkClass::Education)), None);
        assert_eq!(r.owner_for(&facts("x.example", "FR", NetworkClass::Business)), None);
        assert!(OwnerRules::default().owner_for(&facts("x", "DE", NetworkClass::Business)).is_none());
    }
}
