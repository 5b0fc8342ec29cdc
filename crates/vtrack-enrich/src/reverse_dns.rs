//! One address, check by check: which addresses are worth a lookup; reverse DNS (the PTR lookup, the name
//! rules of [`crate::ptr_name`], the forward confirmation); then, when it is turned on and reverse DNS
//! named nobody, RDAP ([`crate::rdap`]). The enrichment stage and `vtrack enrich IP…` both run
//! [`investigate`], so what the command explains is what the stage does.

use std::net::IpAddr;
use std::time::Duration;

use ipnetwork::IpNetwork;
use vtrack_model::event::CompanyInfo;
use vtrack_model::{IdSource, LearnedRange, NetworkClass};

use std::sync::Arc;

use crate::dns::{Dns, DnsFailure};
use crate::ptr_name;
use crate::rdap::{registrant, Rdap, RdapFailure};

/// One check of an investigation, as `vtrack enrich` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// What reverse DNS concluded about an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The address's network belongs to this organisation.
    Learned(LearnedRange),
    /// A name was found but no name passed the rules; the reason of the last refusal (a metric label).
    Refused(&'static str),
    /// The DNS answered that there is no PTR record.
    NotFound,
    /// The DNS did not answer usefully (SERVFAIL, REFUSED, timeout): worth another try later.
    Failed(DnsFailure),
    /// The registry did not answer usefully (429 beyond the wait, 5xx, timeout): worth another try later.
    RdapFailed(RdapFailure),
}

/// The lookups enrichment runs: reverse DNS, RDAP, or both.
#[derive(Clone, Default)]
pub struct Lookups {
    pub dns: Option<Dns>,
    pub rdap: Option<Arc<Rdap>>,
}

/// An investigation: its checks in order, and what they add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub checks: Vec<Check>,
    pub outcome: Outcome,
}

/// Whether an address that resolved to `network` is worth a reverse lookup: when the hot path could not
/// name an organisation of its own (an ISP's line, an unknown address), or named one only by its AS
/// number. Addresses of clouds and hosting are not: their PTR names are their tenants' to write.
pub fn worth_a_lookup(network: &CompanyInfo) -> Result<(), &'static str> {
    match network.network_class {
        NetworkClass::Isp | NetworkClass::Unknown => Ok(()),
        NetworkClass::Hosting => Err("a cloud or hosting network: its PTR names are its tenants' to write"),
        _ if network.id_source == IdSource::Asn && !network.company_domain.contains('.') => Ok(()),
        _ => Err("the hot path already names the organisation"),
    }
}

/// The network a learned single address covers: the address alone.
pub fn host_network(ip: IpAddr) -> IpNetwork {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    IpNetwork::from(ip)
}

/// Investigates `ip` with every lookup that is on: reverse DNS first, then RDAP when reverse DNS named
/// nobody. `network` is what the hot path answered for it (the ISP whose own names and registrations are
/// refused); `ttl` is how long a learned range holds before it is checked again.
pub async fn investigate(lookups: &Lookups, ip: IpAddr, network: &CompanyInfo, now_ms: i64, ttl: Duration) -> Finding {
    let mut checks = Vec::new();
    let mut outcome = Outcome::NotFound;
    if let Some(dns) = &lookups.dns {
        outcome = reverse_dns(dns, ip, network, now_ms, ttl, &mut checks).await;
        if matches!(outcome, Outcome::Learned(_)) {
            return Finding { checks, outcome };
        }
    }
    if let Some(rdap) = &lookups.rdap {
        let found = registry(rdap, ip, network, now_ms, ttl, &mut checks).await;
        // What RDAP learned wins; a registry failure is retried, unless reverse DNS failed too (same);
        // otherwise reverse DNS's answer is the one cached.
        outcome = match (found, outcome) {
            (Outcome::Learned(r), _) => Outcome::Learned(r),
            (Outcome::RdapFailed(f), _) => Outcome::RdapFailed(f),
            (_, Outcome::Failed(f)) => Outcome::Failed(f),
            (rdap, Outcome::NotFound) => rdap,
            (_, dns) => dns,
        };
    }
    Finding { checks, outcome }
}

/// The registry's record of the network holding `ip`: its registrant when the rules of
/// [`crate::rdap::registrant`] accept it.
async fn registry(
    rdap: &Rdap,
    ip: IpAddr,
    network: &CompanyInfo,
    now_ms: i64,
    ttl: Duration,
    checks: &mut Vec<Check>,
) -> Outcome {
    let doc = match rdap.network(ip).await {
        Ok(doc) => doc,
        Err(f) => {
            checks.push(Check { name: "rdap", passed: false, detail: f.to_string() });
            return if f.is_answer() { Outcome::Refused(f.label()) } else { Outcome::RdapFailed(f) };
        }
    };
    let handle = doc["handle"].as_str().unwrap_or("?").to_string();
    match registrant(&doc, ip, &network.company_name) {
        Err(reason) => {
            checks.push(Check { name: "rdap", passed: false, detail: format!("network {handle}: {reason}") });
            Outcome::Refused(reason)
        }
        Ok(r) => {
            checks.push(Check {
                name: "rdap",
                passed: true,
                detail: format!("network {handle} ({}) is assigned to {}", r.network, r.name),
            });
            let key = r.domain.clone().or_else(|| vtrack_resolve::account_key::name_key(&r.name)).unwrap_or_default();
            Outcome::Learned(LearnedRange {
                network: r.network,
                company_name: r.name,
                company_domain: key,
                network_class: r.class,
                source: IdSource::Rdap,
                confidence: IdSource::Rdap.default_confidence(),
                evidence: r.handle,
                found_ms: now_ms,
                expires_ms: expires_at(now_ms, ttl),
            })
        }
    }
}

/// When a range learned at `now_ms` stops answering: `ttl` later ([`EnrichConfig::learned_ttl`]).
///
/// [`EnrichConfig::learned_ttl`]: vtrack_model::config::EnrichConfig::learned_ttl
fn expires_at(now_ms: i64, ttl: Duration) -> i64 {
    now_ms.saturating_add(ttl.as_millis().min(i64::MAX as u128) as i64)
}

/// Looks `ip` up in reverse DNS and judges what it finds.
async fn reverse_dns(
    dns: &Dns,
    ip: IpAddr,
    network: &CompanyInfo,
    now_ms: i64,
    ttl: Duration,
    checks: &mut Vec<Check>,
) -> Outcome {
    let mut check = |name, passed, detail: String| checks.push(Check { name, passed, detail });
    let names = match dns.ptr(ip).await {
        Ok(names) => {
            check("ptr", true, names.join(", "));
            names
        }
        Err(f) => {
            check("ptr", false, f.to_string());
            return if f.is_answer() { Outcome::NotFound } else { Outcome::Failed(f) };
        }
    };
    let mut refusal = "no_name";
    for name in names {
        let org = match ptr_name::judge(&name, ip, &network.company_name, &network.company_domain) {
            Ok(org) => {
                check("name", true, format!("{name}: in the organisation domain {}", org.domain));
                org
            }
            Err(r) => {
                check("name", false, format!("{name}: {r}"));
                refusal = r.label();
                continue;
            }
        };
        match dns.forward(&name).await {
            Ok(addrs) if addrs.contains(&ip) => {
                check("forward", true, format!("{name} resolves back to the address"));
                let range = LearnedRange {
                    network: host_network(ip),
                    company_name: org.domain.clone(),
                    company_domain: org.domain,
                    network_class: org.class,
                    source: IdSource::Rdns,
                    confidence: IdSource::Rdns.default_confidence(),
                    evidence: name,
                    found_ms: now_ms,
                    expires_ms: expires_at(now_ms, ttl),
                };
                return Outcome::Learned(range);
            }
            Ok(addrs) => {
                let n = addrs.len();
                check("forward", false, format!("{name} resolves to {n} other address(es), not this one: unconfirmed"));
                refusal = "unconfirmed";
            }
            Err(f) => {
                check("forward", false, format!("{name}: {f}: unconfirmed"));
                refusal = "unconfirmed";
            }
        }
    }
    Outcome::Refused(refusal)
}
