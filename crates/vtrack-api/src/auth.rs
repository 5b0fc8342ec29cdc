//! Who may see the dashboard: holders of the configured token, by `Authorization: Bearer` or cookie.

use http::header;
use hyper::HeaderMap;

/// The cookie the dashboard keeps the token in after `/?token=…`.
pub const COOKIE: &str = "vtrack_token";

/// How requests are let in.
#[derive(Debug, Clone)]
pub enum Access {
    /// Holders of this token.
    Token(String),
    /// Anyone: no token configured and the server listens on loopback only.
    Open,
    /// No one: no token configured on a non-loopback address, so the dashboard stays shut.
    Closed,
}

impl Access {
    pub fn new(token: Option<String>, loopback_only: bool) -> Access {
        match token.filter(|t| !t.is_empty()) {
            Some(t) => Access::Token(t),
            None if loopback_only => Access::Open,
            None => Access::Closed,
        }
    }

    /// Whether the request carries what this access asks for.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        match self {
            Access::Open => true,
            Access::Closed => false,
            Access::Token(t) => presented(headers).iter().any(|p| same(p, t)),
        }
    }

    /// Whether `candidate` is the token (for `/?token=`).
    pub fn is_token(&self, candidate: &str) -> bool {
        matches!(self, Access::Token(t) if same(candidate, t))
    }
}

/// Tokens the request presents: the Bearer header and the cookie.
fn presented(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    for v in headers.get_all(header::AUTHORIZATION) {
        if let Some(t) = v.to_str().ok().and_then(|s| s.strip_prefix("Bearer ")) {
            out.push(t.trim().to_string());
        }
    }
    for v in headers.get_all(header::COOKIE) {
        for pair in v.to_str().unwrap_or("").split(';') {
            if let Some((k, val)) = pair.trim().split_once('=') {
                if k == COOKIE {
                    out.push(val.to_string());
                }
            }
        }
    }
    out
}

/// Compares without stopping at the first difference, so timing does not reveal the token's prefix.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_token_is_accepted_from_the_bearer_header_or_the_cookie_and_nothing_else() {
        let a = Access::new(Some("s3cret".into()), true);
        assert!(a.allows(&headers(&[(header::AUTHORIZATION, "Bearer s3cret")])));
        assert!(a.allows(&headers(&[(header::COOKIE, "x=1; vtrack_token=s3cret")])));
        assert!(!a.allows(&headers(&[(header::AUTHORIZATION, "Bearer s3cre")])));
        assert!(!a.allows(&headers(&[(header::COOKIE, "vtrack_token=nope")])));
        assert!(!a.allows(&HeaderMap::new()));
    }

    #[test]
    fn without_a_token_only_a_loopback_server_is_open() {
        assert!(Access::new(None, true).allows(&HeaderMap::new()));
        assert!(!Access::new(None, false).allows(&HeaderMap::new()));
        assert!(!Access::new(Some(String::new()), false).allows(&HeaderMap::new()));
    }
}
