//! DNS lookups for reverse DNS: PTR names of an address, and the addresses of a name (the forward check).
//!
//! Through `hickory-resolver`, against the system's servers or the ones configured
//! (`--rdns-server`, `[enrich] dns_servers`). Every failure is one of a few kinds, because the caller
//! caches them differently: a name that does not exist is an answer (cached long), a server that failed
//! is not (retried soon, with backoff).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::TokioResolver;

/// Why a lookup gave no records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsFailure {
    /// NXDOMAIN, or the name exists without records of the type: an answer, not a failure.
    #[error("no such record (NXDOMAIN or no data)")]
    NotFound,
    #[error("the server failed (SERVFAIL)")]
    ServFail,
    #[error("the server refused the query (REFUSED)")]
    Refused,
    #[error("no answer within the timeout")]
    Timeout,
    #[error("{0}")]
    Other(String),
}

impl DnsFailure {
    /// A negative answer the servers gave (cached for long) rather than a failure to get one.
    pub fn is_answer(&self) -> bool {
        matches!(self, DnsFailure::NotFound)
    }

    /// The failure as a metric label.
    pub fn label(&self) -> &'static str {
        match self {
            DnsFailure::NotFound => "nxdomain",
            DnsFailure::ServFail => "servfail",
            DnsFailure::Refused => "refused",
            DnsFailure::Timeout => "timeout",
            DnsFailure::Other(_) => "error",
        }
    }

    fn of(e: &NetError) -> DnsFailure {
        if e.is_no_records_found() {
            return DnsFailure::NotFound;
        }
        match e {
            NetError::Timeout => DnsFailure::Timeout,
            NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => DnsFailure::ServFail,
            NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => DnsFailure::Refused,
            other => DnsFailure::Other(other.to_string()),
        }
    }
}

/// The resolver reverse DNS asks.
#[derive(Clone)]
pub struct Dns {
    resolver: TokioResolver,
}

/// The error for a resolver that cannot be set up (no usable system configuration).
#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct DnsSetupError(String);

impl Dns {
    /// A resolver asking `servers` (the system's when empty), giving up on a query after `timeout`.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Dns, DnsSetupError> {
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        // One try per server: the caller retries failed addresses later, with backoff.
        opts.attempts = 1;
        let provider = TokioRuntimeProvider::default();
        let builder = if servers.is_empty() {
            TokioResolver::builder(provider).map_err(|e| DnsSetupError(format!("system configuration: {e}")))?
        } else {
            let name_servers = servers
                .iter()
                .map(|s| {
                    let mut ns = NameServerConfig::udp_and_tcp(s.ip());
                    for c in &mut ns.connections {
                        c.port = s.port();
                    }
                    ns
                })
                .collect();
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(name_servers), provider)
        };
        let resolver = builder.with_options(opts).build().map_err(|e| DnsSetupError(e.to_string()))?;
        Ok(Dns { resolver })
    }

    /// The PTR names of `ip`, lowercase, without the trailing dot.
    pub async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsFailure> {
        let name = Name::from(ip);
        let lookup = self.resolver.reverse_lookup(name).await.map_err(|e| DnsFailure::of(&e))?;
        let names: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(p) => Some(p.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Err(DnsFailure::NotFound);
        }
        Ok(names)
    }

    /// The A and AAAA addresses of `name` (a fully qualified name: no search domains are tried).
    pub async fn forward(&self, name: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let lookup = self.resolver.lookup_ip(fqdn.as_str()).await.map_err(|e| DnsFailure::of(&e))?;
        Ok(lookup.iter().collect())
    }
}
