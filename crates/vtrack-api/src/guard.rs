//! The dashboard's browser security: which host names it answers to, which requests may write, and the
//! headers every answer carries.
//!
//! - **Hosts.** A page on `evil.test` whose name an attacker re-points at 127.0.0.1 (DNS rebinding) is
//!   same-origin with the dashboard to the browser; only the `Host` header tells. The dashboard answers the
//!   loopback names, the listen address and `[dashboard] public_url`'s host, and refuses the rest.
//! - **Writes.** A cross-site or sibling-site page can post a form (`text/plain`, urlencoded, multipart)
//!   without a CORS preflight. Writes are taken only as `application/json` (which a page on another origin
//!   can only send after a preflight vtrack never grants), and only when `Origin` is this host, or, with no
//!   `Origin`, `Sec-Fetch-Site` is `same-origin`. A client that sends neither (curl, a script) is not a
//!   browser and is judged by its token alone.
//! - **Reads.** The API refuses `Sec-Fetch-Site: cross-site` and `same-site`, so another site's page
//!   cannot even make the browser send a request with the session.
//! - **Headers.** CSP `default-src 'self'` with `frame-ancestors 'none'` (and `X-Frame-Options: DENY` for
//!   older browsers): no script but the dashboard's own, no framing for clickjacking. `Cache-Control:
//!   no-store` on the page and API answers, so accounts do not linger in shared caches.

use http::header::{self, HeaderMap, HeaderValue};
use std::net::SocketAddr;
use vtrack_model::config::{host_of, public_host};

const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// The host names the dashboard answers to.
#[derive(Debug, Clone)]
pub struct Hosts {
    names: Vec<String>,
}

impl Hosts {
    /// The loopback names, the listen address when it names one interface, and the public URL's host.
    pub fn new(public_url: Option<&str>, listen: SocketAddr) -> Hosts {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].iter().map(|s| s.to_string()).collect();
        let ip = listen.ip();
        if !ip.is_unspecified() {
            names.push(match ip {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            });
        }
        names.extend(public_url.and_then(public_host));
        Hosts { names }
    }

    /// Whether a request's `Host` is one of ours (any port: the port does not change who owns the name).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        headers.get(header::HOST).and_then(|h| h.to_str().ok()).is_some_and(|h| {
            let host = host_of(h.trim()).trim_end_matches('.').to_ascii_lowercase();
            self.names.contains(&host)
        })
    }
}

/// Why a write is refused, or `None` when it may go on.
pub fn write_refusal(headers: &HeaderMap) -> Option<(http::StatusCode, &'static str)> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Some((
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "writes must be sent as Content-Type: application/json",
        ));
    }
    if !same_origin(headers) {
        return Some((http::StatusCode::FORBIDDEN, "writes are taken only from the dashboard's own pages"));
    }
    None
}

/// Whether a browser says the request comes from another site's page; API reads refuse those.
pub fn from_another_site(headers: &HeaderMap) -> bool {
    matches!(fetch_site(headers), Some("cross-site" | "same-site"))
}

fn fetch_site(headers: &HeaderMap) -> Option<&str> {
    headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
}

/// `Origin` names this very host, or, without one, `Sec-Fetch-Site` says same-origin; neither header: not a
/// browser.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let authority = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("https://").or_else(|| o.strip_prefix("http://")))
            .unwrap_or("");
        return !authority.is_empty() && authority.eq_ignore_ascii_case(host);
    }
    fetch_site(headers).is_none_or(|s| s == "same-origin")
}

/// The headers every dashboard answer carries; `no_store` for the page and the API.
pub fn secure(headers: &mut HeaderMap, no_store: bool) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if no_store {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn only_our_host_names_are_answered() {
        let hosts = Hosts::new(Some("https://Vtrack.Example.com/"), "0.0.0.0:8080".parse().unwrap());
        for ok in ["127.0.0.1:8080", "localhost", "[::1]:9", "vtrack.example.com", "VTRACK.example.com.:443"] {
            assert!(hosts.allows(&h(&[("host", ok)])), "{ok}");
        }
        for bad in ["evil.test", "evil.test:8080", "0.0.0.0:8080", "127.0.0.1.evil.test", ""] {
            assert!(!hosts.allows(&h(&[("host", bad)])), "{bad}");
        }
        assert!(!hosts.allows(&HeaderMap::new()));
        let on = Hosts::new(None, "10.1.2.3:8080".parse().unwrap());
        assert!(on.allows(&h(&[("host", "10.1.2.3:8080")])));
    }

    #[test]
    fn writes_need_json_from_our_own_origin() {
        let json = ("content-type", "application/json; charset=utf-8");
        let host = ("host", "127.0.0.1:8080");
        assert_eq!(write_refusal(&h(&[json, host])), None, "curl with a token");
        assert_eq!(write_refusal(&h(&[json, host, ("origin", "http://127.0.0.1:8080")])), None);
        assert_eq!(write_refusal(&h(&[json, host, ("sec-fetch-site", "same-origin")])), None);
        for bad in [("origin", "http://evil.test"), ("origin", "null"), ("sec-fetch-site", "same-site")] {
            assert_eq!(write_refusal(&h(&[json, host, bad])).unwrap().0, 403, "{bad:?}");
        }
        for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            assert_eq!(write_refusal(&h(&[("content-type", ct), host])).unwrap().0, 415, "{ct}");
        }
    }
}
