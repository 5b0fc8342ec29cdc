//! The HTTP edge every port of vtrack shares: ingest's (`vtrack serve`, `vtrack ingest`), the dashboard's
//! (`vtrack api`) and the status port of `vtrack process`.
//!
//! It is its own crate so that ingest and the dashboard both depend on it and not on each other: the
//! dashboard is served on ingest's port through [`ExtraRoutes`], and `vtrack api` serves it alone through
//! the same [`conn::serve`], so the rules a request meets are the same wherever it arrives.
//!
//! - [`conn`]: connections, their timeouts and bound, `nosniff`, the `/metrics` token; and the request's
//!   [`Client`], found once there.
//! - [`client_ip`]: the `X-Forwarded-For` walk through `[server] trusted_proxies`.
//! - [`limit`]: token buckets by key (ingest's rate limits, the dashboard's sign-in throttle, wrong
//!   `/metrics` tokens).
//! - [`health`]: what keeps the process from accepting, for `/healthz`.

pub mod client_ip;
pub mod conn;
pub mod health;
pub mod limit;

pub use conn::{Client, ConnLimits, ConnMetrics, SHUTDOWN_GRACE};
pub use health::Health;

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

/// The answer every handler of the edge gives.
pub type Resp = http::Response<http_body_util::Full<Bytes>>;

/// Routes another crate serves on a port it does not own (the dashboard and its API on ingest's port), so
/// one port carries both. The port's owner hands over any request whose path the routes claim, before its
/// own routing; the request carries its [`Client`] in its extensions.
pub trait ExtraRoutes: Send + Sync + 'static {
    fn claims(&self, path: &str) -> bool;
    fn handle(&self, req: hyper::Request<hyper::body::Incoming>) -> Pin<Box<dyn Future<Output = Resp> + Send + '_>>;
}

/// The credentials of every `Authorization: Bearer` header, trimmed. The scheme is matched without regard
/// to case, as RFC 9110 (11.1) says it is: `bearer` and `BEARER` are the same scheme.
pub fn bearer_tokens(headers: &http::HeaderMap) -> impl Iterator<Item = &str> {
    headers.get_all(http::header::AUTHORIZATION).iter().filter_map(|v| {
        let (scheme, token) = v.to_str().ok()?.trim_start().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
    })
}

/// Compares two secrets without stopping at the first difference, so timing does not tell a prefix.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let mut h = http::HeaderMap::new();
        for v in ["bearer a", "Bearer  b ", "BEARER c", "Basic d", "Bearer", "bearerx e"] {
            h.append(http::header::AUTHORIZATION, http::HeaderValue::from_static(v));
        }
        assert_eq!(bearer_tokens(&h).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab"));
    }
}
