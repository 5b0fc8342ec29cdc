//! Who may see the dashboard: holders of the configured token, by `Authorization: Bearer`, or a browser
//! holding a session cookie it got by signing in with the token.
//!
//! The cookie is a session, never the token: `EXPIRY.NONCE.MAC`, where MAC is an HMAC-SHA256 keyed by the
//! token over the expiry and a random nonce. A leaked cookie ends at its expiry (`[dashboard] session_ttl`)
//! and does not reveal the token; nothing is kept in memory, so sessions survive a restart, and changing
//! the token ends them all. Wrong tokens are counted per client address (`[limits] sign_in_failures`): past the
//! burst every sign-in from that address is answered 429 until the bucket refills, right token or not, so
//! guessing cannot be sped up.

use hmac::{Hmac, Mac};
use http::header;
use hyper::HeaderMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use vtrack_ingest::limit::{AddressKey, Buckets};
use vtrack_model::config::RateConfig;

/// The cookie that carries the session id.
pub const COOKIE: &str = "vtrack_session";

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

    /// Whether `candidate` is the token.
    pub fn is_token(&self, candidate: &str) -> bool {
        matches!(self, Access::Token(t) if same(candidate, t))
    }
}

/// What a request's credentials come to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// No credential, or an expired session: sign in.
    Missing,
    /// A wrong token (counted against the address).
    Wrong,
    /// Too many wrong tokens from this address: wait this long.
    Throttled(Duration),
}

/// Sign-ins: the sessions they made and the failures per address.
pub struct SignIn {
    access: Access,
    ttl: Duration,
    failures: Buckets<u64>,
    address_key: AddressKey,
}

impl SignIn {
    pub fn new(access: Access, ttl: Duration, failures: RateConfig) -> SignIn {
        SignIn { access, ttl, failures: Buckets::new(failures), address_key: AddressKey::default() }
    }

    pub fn access(&self) -> &Access {
        &self.access
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether a request from `client` may use the API: the Bearer token or a live session.
    pub fn check(&self, headers: &HeaderMap, client: IpAddr) -> Verdict {
        let token = match &self.access {
            Access::Open => return Verdict::Allowed,
            Access::Closed => return Verdict::Missing,
            Access::Token(t) => t,
        };
        if let Some(id) = cookie(headers) {
            if self.session_live(&id) {
                return Verdict::Allowed;
            }
        }
        let bearer = bearer(headers);
        if bearer.is_empty() {
            return Verdict::Missing;
        }
        self.attempt(client, bearer.iter().any(|b| same(b, token)))
    }

    /// A sign-in with `candidate` from `client`: a new session id when it is the token.
    pub fn sign_in(&self, candidate: &str, client: IpAddr) -> Result<String, Verdict> {
        match self.attempt(client, self.access.is_token(candidate)) {
            Verdict::Allowed => Ok(self.new_session()),
            other => Err(other),
        }
    }

    /// Counts a token attempt: throttled addresses are refused before the token is even compared.
    fn attempt(&self, client: IpAddr, right: bool) -> Verdict {
        let key = self.address_key.of(client);
        let now = Instant::now();
        if let Err(wait) = self.failures.check(&key, now) {
            return Verdict::Throttled(wait);
        }
        if right {
            return Verdict::Allowed;
        }
        let _ = self.failures.take(&key, 1.0, now);
        Verdict::Wrong
    }

    fn new_session(&self) -> String {
        let expires = vtrack_model::time::now_ms() / 1000 + self.ttl.as_secs() as i64;
        let nonce = hex(&rand::random::<[u8; 16]>());
        let payload = format!("{expires}.{nonce}");
        let mac = self.mac(&payload).unwrap_or_default();
        format!("{payload}.{mac}")
    }

    fn session_live(&self, cookie: &str) -> bool {
        let Some((payload, mac)) = cookie.rsplit_once('.') else { return false };
        let fresh = payload
            .split_once('.')
            .and_then(|(expires, _)| expires.parse::<i64>().ok())
            .is_some_and(|expires| expires > vtrack_model::time::now_ms() / 1000);
        fresh && self.mac(payload).is_some_and(|want| same(&want, mac))
    }

    /// The session MAC of `payload`, keyed by the token; `None` without a token.
    fn mac(&self, payload: &str) -> Option<String> {
        let Access::Token(token) = &self.access else { return None };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).ok()?;
        mac.update(b"vtrack-session:");
        mac.update(payload.as_bytes());
        Some(hex(&mac.finalize().into_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tokens sent as `Authorization: Bearer`.
fn bearer(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok().and_then(|s| s.strip_prefix("Bearer ")))
        .map(|t| t.trim().to_string())
        .collect()
}

/// The session cookie's value.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
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

    const ME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    fn sign_in() -> SignIn {
        SignIn::new(
            Access::new(Some("s3cret".into()), true),
            Duration::from_secs(60),
            RateConfig { rate: 1.0 / 60.0, burst: 3.0 },
        )
    }

    #[test]
    fn the_token_by_bearer_or_a_session_by_cookie_and_never_the_token_as_cookie() {
        let s = sign_in();
        assert_eq!(s.check(&headers(&[(header::AUTHORIZATION, "Bearer s3cret")]), ME), Verdict::Allowed);
        assert_eq!(s.check(&headers(&[(header::COOKIE, "vtrack_session=s3cret")]), ME), Verdict::Missing);
        let id = s.sign_in("s3cret", ME).unwrap();
        assert!(!id.contains("s3cret"));
        let other = SignIn::new(
            Access::new(Some("an0ther".into()), true),
            Duration::from_secs(60),
            RateConfig { rate: 1.0, burst: 1.0 },
        );
        let cookie = headers(&[(header::COOKIE, &format!("vtrack_session={id}"))]);
        assert_eq!(other.check(&cookie, ME), Verdict::Missing, "a new token ends the sessions");
        let (payload, mac) = id.rsplit_once('.').unwrap();
        let (_, nonce) = payload.split_once('.').unwrap();
        let forged = format!("vtrack_session=99999999999.{nonce}.{mac}");
        assert_eq!(s.check(&headers(&[(header::COOKIE, &forged)]), ME), Verdict::Missing, "the expiry is signed");
        assert_eq!(s.check(&headers(&[(header::COOKIE, &format!("x=1; vtrack_session={id}"))]), ME), Verdict::Allowed);
        assert_eq!(s.check(&HeaderMap::new(), ME), Verdict::Missing);
    }

    #[test]
    fn a_session_ends_at_its_expiry() {
        let s =
            SignIn::new(Access::new(Some("s3cret".into()), true), Duration::ZERO, RateConfig { rate: 1.0, burst: 1.0 });
        let id = s.sign_in("s3cret", ME).unwrap();
        assert_eq!(s.check(&headers(&[(header::COOKIE, &format!("vtrack_session={id}"))]), ME), Verdict::Missing);
    }

    #[test]
    fn wrong_tokens_are_throttled_per_address_even_when_the_next_guess_is_right() {
        let s = sign_in();
        for _ in 0..3 {
            assert_eq!(s.sign_in("nope", ME), Err(Verdict::Wrong));
        }
        assert!(matches!(s.sign_in("s3cret", ME), Err(Verdict::Throttled(_))));
        let bearer = headers(&[(header::AUTHORIZATION, "Bearer s3cret")]);
        assert!(matches!(s.check(&bearer, ME), Verdict::Throttled(_)));
        let other: IpAddr = "198.51.100.8".parse().unwrap();
        assert!(s.sign_in("s3cret", other).is_ok(), "another address is not affected");
    }

    #[test]
    fn without_a_token_only_a_loopback_server_is_open() {
        let open = SignIn::new(Access::new(None, true), Duration::from_secs(60), RateConfig { rate: 1.0, burst: 1.0 });
        assert_eq!(open.check(&HeaderMap::new(), ME), Verdict::Allowed);
        let closed =
            SignIn::new(Access::new(None, false), Duration::from_secs(60), RateConfig { rate: 1.0, burst: 1.0 });
        assert_eq!(closed.check(&HeaderMap::new(), ME), Verdict::Missing);
        assert!(closed.sign_in("", ME).is_err());
    }
}
