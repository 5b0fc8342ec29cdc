//! RDAP (RFC 9083), the registries' JSON successor to WHOIS: ISPs register the networks they reassign to
//! business customers, with the customer as registrant. Off by default: ARIN's and RIPE's terms forbid
//! using their registry data for marketing, so the operator turns it on (`[enrich] rdap = true`).
//!
//! - Which server: IANA's bootstrap tables (`data/rdap-bootstrap-ipv*.json`, shipped as config; longest
//!   prefix wins), or one server for everything (`--rdap-server URL`: tests, private mirrors).
//! - Politeness: at most one request per [`MIN_INTERVAL`] per registry; a `429` is waited out for its
//!   `Retry-After` (up to [`MAX_RETRY_AFTER`]) and asked again; a `5xx` is retried with backoff.
//! - Distrust: an answer over [`MAX_BODY`] bytes, one that is not JSON, or not an `ip network`, is a
//!   failure, never a crash.
//! - What counts ([`registrant`]): the network the registry answers with (the most specific holding the
//!   address) when it was *assigned* (ARIN `REASSIGNED`, RIPE `ASSIGNED PA`, …; an allocation is the ISP's
//!   own block), and its registrant is an organisation (a vCard of kind `org`, never a person's) that is not
//!   the network's ISP and not itself a network business.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ipnetwork::IpNetwork;
use serde_json::Value;
use vtrack_model::NetworkClass;

/// The most bytes read of one answer.
pub const MAX_BODY: usize = 256 * 1024;
/// The least time between two requests to one registry.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);
/// The longest `Retry-After` waited out within one lookup; a longer one fails the lookup (retried later).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Tries of one lookup (a `429` waited out or a `5xx` retried counts as one more).
const ATTEMPTS: u32 = 3;

const IPV4: &str = include_str!("../data/rdap-bootstrap-ipv4.json");
const IPV6: &str = include_str!("../data/rdap-bootstrap-ipv6.json");

/// Why an RDAP lookup gave no document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdapFailure {
    #[error("no registry is known for the address")]
    NoRegistry,
    #[error("the registry has no network for the address (404)")]
    NotFound,
    #[error("the registry asked to wait (429) longer than vtrack waits within a lookup")]
    RateLimited,
    #[error("the registry failed: {0}")]
    Server(String),
    #[error("the answer is unusable: {0}")]
    Malformed(String),
    #[error("no answer within the timeout")]
    Timeout,
}

impl RdapFailure {
    /// An answer (cached long) rather than a failure to get one (retried soon).
    pub fn is_answer(&self) -> bool {
        matches!(self, RdapFailure::NoRegistry | RdapFailure::NotFound | RdapFailure::Malformed(_))
    }

    pub fn label(&self) -> &'static str {
        match self {
            RdapFailure::NoRegistry => "rdap_no_registry",
            RdapFailure::NotFound => "rdap_not_found",
            RdapFailure::RateLimited => "rdap_rate_limited",
            RdapFailure::Server(_) => "rdap_server_error",
            RdapFailure::Malformed(_) => "rdap_malformed",
            RdapFailure::Timeout => "rdap_timeout",
        }
    }
}

/// The error for a bootstrap table or a server URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("RDAP: {0}")]
pub struct RdapSetupError(String);

/// Which RDAP server answers for which addresses.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// (prefix, base URL ending in `/`), longest prefixes first.
    services: Vec<(IpNetwork, String)>,
}

impl Bootstrap {
    /// IANA's tables as shipped.
    pub fn iana() -> Result<Bootstrap, RdapSetupError> {
        let mut services = parse_bootstrap(IPV4)?;
        services.extend(parse_bootstrap(IPV6)?);
        services.sort_by_key(|s| std::cmp::Reverse(s.0.prefix()));
        Ok(Bootstrap { services })
    }

    /// One server for every address (`--rdap-server`).
    pub fn single(url: &str) -> Result<Bootstrap, RdapSetupError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(RdapSetupError(format!("{url:?} is not an http(s) URL")));
        }
        let base = format!("{}/", url.trim_end_matches('/'));
        let all = |s: &str| s.parse::<IpNetwork>().map_err(|e| RdapSetupError(e.to_string()));
        Ok(Bootstrap { services: vec![(all("0.0.0.0/0")?, base.clone()), (all("::/0")?, base)] })
    }

    /// The base URL of the registry for `ip`.
    pub fn base_for(&self, ip: IpAddr) -> Option<&str> {
        self.services.iter().find(|(net, _)| net.contains(ip)).map(|(_, url)| url.as_str())
    }
}

/// IANA's bootstrap format (RFC 9224): `services` is a list of `[[prefixes…], [urls…]]`; the https URL is
/// preferred.
fn parse_bootstrap(json: &str) -> Result<Vec<(IpNetwork, String)>, RdapSetupError> {
    let doc: Value = serde_json::from_str(json).map_err(|e| RdapSetupError(format!("bootstrap table: {e}")))?;
    let services = doc["services"].as_array().ok_or_else(|| RdapSetupError("bootstrap table: no services".into()))?;
    let mut out = Vec::new();
    for service in services {
        let urls: Vec<&str> = service[1].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let Some(url) = urls.iter().find(|u| u.starts_with("https://")).or(urls.first()) else { continue };
        let base = format!("{}/", url.trim_end_matches('/'));
        for prefix in service[0].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let net = prefix.parse().map_err(|e| RdapSetupError(format!("bootstrap prefix {prefix:?}: {e}")))?;
            out.push((net, base.clone()));
        }
    }
    Ok(out)
}

/// The RDAP client: bootstrap, one pooled HTTP client, the per-registry pacing.
pub struct Rdap {
    bootstrap: Bootstrap,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
    /// Per registry base URL: not before this instant.
    next: Mutex<HashMap<String, Instant>>,
}

impl Rdap {
    pub fn new(bootstrap: Bootstrap, timeout: Duration) -> Result<Rdap, RdapSetupError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| RdapSetupError(format!("TLS setup: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        Ok(Rdap { bootstrap, client, timeout, next: Mutex::new(HashMap::new()) })
    }

    /// The registry's network document for `ip`, the most specific network holding it.
    pub async fn network(&self, ip: IpAddr) -> Result<Value, RdapFailure> {
        let base = self.bootstrap.base_for(ip).ok_or(RdapFailure::NoRegistry)?.to_string();
        let url = format!("{base}ip/{ip}");
        let mut backoff = Duration::from_millis(250);
        let mut last = RdapFailure::Timeout;
        for _ in 0..ATTEMPTS {
            self.pace(&base, Duration::ZERO).await;
            match tokio::time::timeout(self.timeout, self.get(&url)).await {
                Err(_) => return Err(RdapFailure::Timeout),
                Ok(Ok(doc)) => return Ok(doc),
                Ok(Err(Answer::Final(f))) => return Err(f),
                Ok(Err(Answer::RetryAfter(wait))) => {
                    if wait > MAX_RETRY_AFTER {
                        self.defer(&base, wait.min(Duration::from_secs(86_400)));
                        return Err(RdapFailure::RateLimited);
                    }
                    // Waited out at the top of the next attempt.
                    self.defer(&base, wait);
                    last = RdapFailure::RateLimited;
                }
                Ok(Err(Answer::Retry(f))) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    last = f;
                }
            }
        }
        Err(last)
    }

    /// Waits until the registry's next turn, at least `retry_after` from now, and books the one after.
    async fn pace(&self, base: &str, retry_after: Duration) {
        let wait = {
            let Ok(mut next) = self.next.lock() else { return };
            let now = Instant::now();
            let turn = next.get(base).copied().unwrap_or(now).max(now + retry_after);
            next.insert(base.to_string(), turn + MIN_INTERVAL);
            turn.saturating_duration_since(now)
        };
        tokio::time::sleep(wait).await;
    }

    /// Asks nothing of the registry for `by` (a `Retry-After` too long to wait out in one lookup).
    fn defer(&self, base: &str, by: Duration) {
        if let Ok(mut next) = self.next.lock() {
            next.insert(base.to_string(), Instant::now() + by);
        }
    }

    async fn get(&self, url: &str) -> Result<Value, Answer> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/rdap+json, application/json")
            .header(http::header::USER_AGENT, concat!("vtrack/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| Answer::Final(RdapFailure::Malformed(format!("request: {e}"))))?;
        let response =
            self.client.request(request).await.map_err(|e| Answer::Retry(RdapFailure::Server(e.to_string())))?;
        let status = response.status();
        if status == http::StatusCode::NOT_FOUND {
            return Err(Answer::Final(RdapFailure::NotFound));
        }
        if status == http::StatusCode::TOO_MANY_REQUESTS {
            let secs = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1);
            return Err(Answer::RetryAfter(Duration::from_secs(secs)));
        }
        if status.is_server_error() {
            return Err(Answer::Retry(RdapFailure::Server(format!("HTTP {status}"))));
        }
        if !status.is_success() {
            return Err(Answer::Final(RdapFailure::Malformed(format!("HTTP {status}"))));
        }
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| Answer::Final(RdapFailure::Malformed(format!("body (at most {MAX_BODY} bytes): {e}"))))?
            .to_bytes();
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| Answer::Final(RdapFailure::Malformed(format!("not JSON: {e}"))))?;
        if doc["objectClassName"] != "ip network" {
            return Err(Answer::Final(RdapFailure::Malformed("not an ip network object".into())));
        }
        Ok(doc)
    }
}

enum Answer {
    Final(RdapFailure),
    Retry(RdapFailure),
    RetryAfter(Duration),
}

/// The organisation a network document names for a customer of `network_name`'s network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrant {
    pub name: String,
    /// The registrable domain of the registrant's email, when it has a business one.
    pub domain: Option<String>,
    pub class: NetworkClass,
    /// The network the document describes.
    pub network: IpNetwork,
    /// The registry's handle of the network: the evidence.
    pub handle: String,
}

/// The registrant organisation of an assigned network that holds `ip`, or why there is none (a metric label).
pub fn registrant(doc: &Value, ip: IpAddr, network_name: &str) -> Result<Registrant, &'static str> {
    let kind = doc["type"].as_str().unwrap_or("").to_ascii_uppercase();
    if !kind.contains("ASSIGN") {
        return Err("rdap_not_assigned");
    }
    let network = network_of(doc).filter(|n| n.contains(ip)).ok_or("rdap_malformed")?;
    let entity = doc["entities"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["roles"].as_array().is_some_and(|r| r.iter().any(|r| r == "registrant")))
        .ok_or("rdap_no_registrant")?;
    let card = Vcard(&entity["vcardArray"][1]);
    if card.get("kind").as_deref() != Some("org") {
        return Err("rdap_not_an_organisation");
    }
    let name = card.get("fn").filter(|n| !n.trim().is_empty()).ok_or("rdap_no_registrant")?;
    if vtrack_resolve::account_key::same_org(&name, network_name)
        || vtrack_resolve::account_key::name_words(&name)
            .iter()
            .any(|w| w.len() >= 4 && vtrack_resolve::account_key::name_words(network_name).contains(w))
    {
        return Err("rdap_isp_registrant");
    }
    let class = vtrack_resolve::classify::classify(&name, 0);
    if !class.is_account() {
        return Err("rdap_network_registrant");
    }
    let domain = card
        .get("email")
        .and_then(|e| vtrack_model::domain::business_domain(&e))
        .filter(|d| !vtrack_resolve::account_key::domain_names(d, network_name));
    let handle = doc["handle"].as_str().unwrap_or_default().to_string();
    Ok(Registrant { name: name.trim().to_string(), domain, class, network, handle })
}

/// The network a document describes: its first `cidr0_cidrs` entry, else `startAddress`–`endAddress`
/// when that is one CIDR block.
fn network_of(doc: &Value) -> Option<IpNetwork> {
    if let Some(c) = doc["cidr0_cidrs"].as_array().and_then(|a| a.first()) {
        let prefix = c["v4prefix"].as_str().or(c["v6prefix"].as_str())?;
        let len = u8::try_from(c["length"].as_u64()?).ok()?;
        return IpNetwork::new(prefix.parse().ok()?, len).ok();
    }
    let start: IpAddr = doc["startAddress"].as_str()?.parse().ok()?;
    let end: IpAddr = doc["endAddress"].as_str()?.parse().ok()?;
    let (s, e, bits) = match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) => (u128::from(u32::from(s)), u128::from(u32::from(e)), 32),
        (IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(s), u128::from(e), 128),
        _ => return None,
    };
    let size = e.checked_sub(s)?.checked_add(1)?;
    if !size.is_power_of_two() || s % size != 0 {
        return None;
    }
    let len = bits - size.trailing_zeros() as u8;
    IpNetwork::new(start, len).ok()
}

/// A jCard (RFC 7095): `[[name, params, type, value], …]`.
struct Vcard<'a>(&'a Value);

impl Vcard<'_> {
    fn get(&self, property: &str) -> Option<String> {
        self.0.as_array()?.iter().find(|p| p[0] == property).and_then(|p| p[3].as_str()).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(kind: &str, card_kind: &str, name: &str) -> Value {
        json!({
            "objectClassName": "ip network", "handle": "NET-198-18-20-0-1", "type": kind,
            "startAddress": "198.18.20.0", "endAddress": "198.18.20.255",
            "entities": [{
                "objectClassName": "entity", "handle": "C0001", "roles": ["registrant"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name],
                                         ["kind", {}, "text", card_kind],
                                         ["email", {}, "text", "noc@contoso-logistics.example"]]]
            }]
        })
    }

    fn ip() -> IpAddr {
        "198.18.20.7".parse().unwrap()
    }

    #[test]
    fn a_reassigned_network_names_its_registrant() {
        let r = registrant(&doc("REASSIGNED", "org", "Contoso Logistics LLC"), ip(), "Example Broadband").unwrap();
        assert_eq!(r.name, "Contoso Logistics LLC");
        assert_eq!(r.domain.as_deref(), Some("contoso-logistics.example"));
        assert_eq!(r.network.to_string(), "198.18.20.0/24");
        assert_eq!(r.class, NetworkClass::Business);
        assert!(registrant(&doc("ASSIGNED PA", "org", "Contoso GmbH"), ip(), "Example Broadband").is_ok());
    }

    #[test]
    fn allocations_people_the_isp_and_other_networks_are_refused() {
        let isp = "Example Broadband";
        assert_eq!(registrant(&doc("DIRECT ALLOCATION", "org", "Contoso"), ip(), isp), Err("rdap_not_assigned"));
        assert_eq!(
            registrant(&doc("REASSIGNED", "individual", "Jane Doe"), ip(), isp),
            Err("rdap_not_an_organisation")
        );
        assert_eq!(
            registrant(&doc("REASSIGNED", "org", "Example Broadband Inc"), ip(), isp),
            Err("rdap_isp_registrant")
        );
        assert_eq!(
            registrant(&doc("REASSIGNED", "org", "Fastnet Hosting Ltd"), ip(), isp),
            Err("rdap_network_registrant")
        );
        let other: IpAddr = "198.18.21.1".parse().unwrap();
        assert_eq!(registrant(&doc("REASSIGNED", "org", "Contoso"), other, isp), Err("rdap_malformed"));
    }

    #[test]
    fn the_shipped_bootstrap_knows_the_registries() {
        let b = Bootstrap::iana().unwrap();
        let base = |ip: &str| b.base_for(ip.parse().unwrap()).map(str::to_string);
        assert_eq!(base("8.8.8.8").as_deref(), Some("https://rdap.arin.net/registry/"));
        assert_eq!(base("81.2.69.160").as_deref(), Some("https://rdap.db.ripe.net/"));
        assert_eq!(base("1.1.1.1").as_deref(), Some("https://rdap.apnic.net/"));
        assert_eq!(base("2a00:1450::1").as_deref(), Some("https://rdap.db.ripe.net/"));
        assert_eq!(base("10.0.0.1"), None);
        let single = Bootstrap::single("http://127.0.0.1:9/rdap").unwrap();
        assert_eq!(single.base_for(ip()), Some("http://127.0.0.1:9/rdap/"));
        assert!(Bootstrap::single("ftp://x").is_err());
    }
}
