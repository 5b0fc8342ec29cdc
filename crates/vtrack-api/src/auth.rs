//! Who may see the dashboard, and as whom: holders of a configured token (`[[dashboard.users]]`, or the
//! single `[dashboard] token`, which is `admin`), by `Authorization: Bearer`, or a browser holding a session
//! cookie it got by signing in with one; or a person a trusted reverse proxy names in
//! `[dashboard] proxy_user_header`.
//!
//! The cookie is a session, never the token: `EXPIRY.NAME.NONCE.MAC`, where NAME is the user's name in hex
//! and MAC an HMAC-SHA256 keyed by that user's token over the rest. A leaked cookie ends at its expiry
//! (`[dashboard] session_ttl`) and does not reveal the token; nothing is kept in memory, so sessions survive
//! a restart, and changing a person's token ends their sessions (only theirs). Wrong tokens are counted per
//! client address (`[limits] sign_in_failures`): past the burst every sign-in from that address is answered
//! 429 until the bucket refills, right token or not, so guessing cannot be sped up.
//!
//! The proxy's header is believed only when the request's direct peer is one of `[server]
//! trusted_proxies` (`Client::proxied`): from anyone else it is ignored, as anyone can send it.

use hmac::{Hmac, Mac};
use http::header;
use hyper::HeaderMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use vtrack_edge::limit::{AddressKey, Buckets};
use vtrack_model::config::RateConfig;
use vtrack_model::users::{DashboardUser, Role};

/// The cookie that carries the session id.
pub const COOKIE: &str = "vtrack_session";

/// The name in the shared `[dashboard] token`'s sessions; it names no one in the history.
pub const LEGACY_NAME: &str = "admin";

/// One person (or the shared `[dashboard] token`) who may sign in with a token.
#[derive(Clone)]
pub struct User {
    pub name: String,
    token: String,
    pub role: Role,
    /// `false` for the shared token: it names no one, so writes keep taking the body's `by`.
    person: bool,
    /// The sites they may see; `None` for every site.
    sites: Option<Vec<String>>,
}

impl User {
    fn identity(&self) -> Identity {
        Identity { name: self.person.then(|| self.name.clone()), role: self.role, sites: self.sites.clone() }
    }
}

/// `[[dashboard.users]]`'s `sites` as an identity holds them: an empty list is every site.
fn site_list(sites: &[String]) -> Option<Vec<String>> {
    (!sites.is_empty()).then(|| sites.to_vec())
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `None` for no one in particular: the shared `[dashboard] token`, or an open (loopback, tokenless)
    /// dashboard, where nobody signs in.
    pub name: Option<String>,
    pub role: Role,
    /// The sites they may see, in the config's order; `None` for every site.
    pub sites: Option<Vec<String>>,
}

impl Identity {
    /// Whoever may see everything as `role`: the shared token, an open dashboard.
    pub fn everywhere(name: Option<String>, role: Role) -> Identity {
        Identity { name, role, sites: None }
    }

    /// Whether they may see `site`.
    pub fn may_see(&self, site: &str) -> bool {
        self.sites.as_ref().is_none_or(|s| s.iter().any(|k| k == site))
    }
}

/// How requests are let in.
#[derive(Clone)]
pub enum Access {
    /// Holders of these tokens (and, with a proxy header configured, whom a trusted proxy names).
    Users(Vec<User>),
    /// Anyone, as `admin`: no token configured and the server listens on loopback only.
    Open,
    /// No one: no token configured on a non-loopback address, so the dashboard stays shut.
    Closed,
}

impl Access {
    /// `token` is the single `[dashboard] token` (an `admin`); `users` the `[[dashboard.users]]`; `proxy`
    /// whether a proxy header is configured (then the dashboard is never open to all).
    pub fn new(token: Option<String>, users: &[DashboardUser], proxy: bool, loopback_only: bool) -> Access {
        let mut all: Vec<User> = token
            .filter(|t| !t.is_empty())
            .map(|token| User { name: LEGACY_NAME.into(), token, role: Role::Admin, person: false, sites: None })
            .into_iter()
            .collect();
        all.extend(users.iter().filter_map(|u| {
            let token = u.token.clone().filter(|t| !t.is_empty())?;
            Some(User { name: u.name.clone(), token, role: u.role, person: true, sites: site_list(&u.sites) })
        }));
        match () {
            _ if !all.is_empty() || proxy => Access::Users(all),
            _ if loopback_only => Access::Open,
            _ => Access::Closed,
        }
    }

    /// The user whose token `candidate` is. Every token is compared in full, so timing tells nothing.
    fn user_of(&self, candidate: &str) -> Option<&User> {
        let Access::Users(users) = self else { return None };
        users.iter().fold(None, |found, u| if same(candidate, &u.token) { Some(u) } else { found })
    }
}

/// The people a trusted proxy names: the header, the roles and sites of `[[dashboard.users]]` by name, and
/// the role and sites of everyone else.
struct Proxy {
    header: http::HeaderName,
    people: Vec<(String, Role, Option<Vec<String>>)>,
    default_role: Role,
    default_sites: Option<Vec<String>>,
}

/// What a request's credentials come to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed(Identity),
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
    proxy: Option<Proxy>,
}

impl SignIn {
    pub fn new(access: Access, ttl: Duration, failures: RateConfig) -> SignIn {
        SignIn { access, ttl, failures: Buckets::new(failures), address_key: AddressKey::default(), proxy: None }
    }

    /// Believes `header` from trusted proxies: the person it names has their `users` entry's role and sites
    /// (matched by name, ignoring case), else `default_role` and `default_sites` (empty: every site).
    pub fn with_proxy(
        mut self,
        header: http::HeaderName,
        users: &[DashboardUser],
        default_role: Role,
        default_sites: &[String],
    ) -> SignIn {
        let people = users.iter().map(|u| (u.name.to_lowercase(), u.role, site_list(&u.sites))).collect();
        self.proxy = Some(Proxy { header, people, default_role, default_sites: site_list(default_sites) });
        self
    }

    pub fn access(&self) -> &Access {
        &self.access
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Who a request from `client` is: a trusted proxy's header (`proxied`: the direct peer is a trusted
    /// proxy), a live session, or the Bearer token.
    pub fn check(&self, headers: &HeaderMap, client: IpAddr, proxied: bool) -> Verdict {
        match &self.access {
            Access::Open => return Verdict::Allowed(Identity::everywhere(None, Role::Admin)),
            Access::Closed => return Verdict::Missing,
            Access::Users(_) => {}
        }
        if let Some(who) = self.proxy_user(headers, proxied) {
            return Verdict::Allowed(who);
        }
        if let Some(who) = cookie(headers).and_then(|id| self.session_user(&id)) {
            return Verdict::Allowed(who);
        }
        let bearer = bearer(headers);
        if bearer.is_empty() {
            return Verdict::Missing;
        }
        let user = bearer.iter().find_map(|b| self.access.user_of(b));
        self.attempt(client, user)
    }

    /// A sign-in with `candidate` from `client`: a new session id when it is someone's token.
    pub fn sign_in(&self, candidate: &str, client: IpAddr) -> Result<String, Verdict> {
        let user = self.access.user_of(candidate);
        match self.attempt(client, user) {
            Verdict::Allowed(_) => user.map(|u| self.new_session(u)).ok_or(Verdict::Wrong),
            other => Err(other),
        }
    }

    /// The person a trusted proxy names, when one is configured and the peer is trusted.
    fn proxy_user(&self, headers: &HeaderMap, proxied: bool) -> Option<Identity> {
        let proxy = self.proxy.as_ref().filter(|_| proxied)?;
        let name = headers.get(&proxy.header)?.to_str().ok()?.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return None;
        }
        let lower = name.to_lowercase();
        let (role, sites) = match proxy.people.iter().find(|(n, _, _)| *n == lower) {
            Some((_, role, sites)) => (*role, sites.clone()),
            None => (proxy.default_role, proxy.default_sites.clone()),
        };
        Some(Identity { name: Some(name.to_string()), role, sites })
    }

    /// Counts a token attempt: throttled addresses are refused before the token is even looked at.
    fn attempt(&self, client: IpAddr, user: Option<&User>) -> Verdict {
        let key = self.address_key.of(client);
        let now = Instant::now();
        if let Err(wait) = self.failures.check(&key, now) {
            return Verdict::Throttled(wait);
        }
        if let Some(u) = user {
            return Verdict::Allowed(u.identity());
        }
        let _ = self.failures.take(&key, 1.0, now);
        Verdict::Wrong
    }

    fn new_session(&self, user: &User) -> String {
        let expires = vtrack_model::time::now_ms() / 1000 + self.ttl.as_secs() as i64;
        let nonce = hex(&rand::random::<[u8; 16]>());
        let payload = format!("{expires}.{}.{nonce}", hex(user.name.as_bytes()));
        let mac = mac(&user.token, &payload).unwrap_or_default();
        format!("{payload}.{mac}")
    }

    /// The user of a live session cookie whose MAC their token makes.
    fn session_user(&self, cookie: &str) -> Option<Identity> {
        let Access::Users(users) = &self.access else { return None };
        let (payload, given) = cookie.rsplit_once('.')?;
        let mut parts = payload.split('.');
        let expires = parts.next()?.parse::<i64>().ok()?;
        let name = String::from_utf8(unhex(parts.next()?)?).ok()?;
        if expires <= vtrack_model::time::now_ms() / 1000 {
            return None;
        }
        users
            .iter()
            .filter(|u| u.name == name)
            .find(|u| mac(&u.token, payload).is_some_and(|want| same(&want, given)))
            .map(User::identity)
    }
}

/// The session MAC of `payload`, keyed by `token`.
fn mac(token: &str, payload: &str) -> Option<String> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(token.as_bytes()).ok()?;
    mac.update(b"vtrack-session:");
    mac.update(payload.as_bytes());
    Some(hex(&mac.finalize().into_bytes()))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tokens sent as `Authorization: Bearer` (the scheme in any case, RFC 9110).
fn bearer(headers: &HeaderMap) -> Vec<String> {
    vtrack_edge::bearer_tokens(headers).map(str::to_string).collect()
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

use vtrack_edge::same_secret as same;

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
            Access::new(Some("s3cret".into()), &[], false, true),
            Duration::from_secs(60),
            RateConfig { rate: 1.0 / 60.0, burst: 3.0 },
        )
    }

    #[test]
    fn the_token_by_bearer_or_a_session_by_cookie_and_never_the_token_as_cookie() {
        let s = sign_in();
        assert_eq!(
            s.check(&headers(&[(header::AUTHORIZATION, "Bearer s3cret")]), ME, false),
            Verdict::Allowed(admin())
        );
        assert_eq!(s.check(&headers(&[(header::COOKIE, "vtrack_session=s3cret")]), ME, false), Verdict::Missing);
        let id = s.sign_in("s3cret", ME).unwrap();
        assert!(!id.contains("s3cret"));
        let other = SignIn::new(
            Access::new(Some("an0ther".into()), &[], false, true),
            Duration::from_secs(60),
            RateConfig { rate: 1.0, burst: 1.0 },
        );
        let cookie = headers(&[(header::COOKIE, &format!("vtrack_session={id}"))]);
        assert_eq!(other.check(&cookie, ME, false), Verdict::Missing, "a new token ends the sessions");
        let (payload, mac) = id.rsplit_once('.').unwrap();
        let (_, rest) = payload.split_once('.').unwrap();
        let forged = format!("vtrack_session=99999999999.{rest}.{mac}");
        assert_eq!(
            s.check(&headers(&[(header::COOKIE, &forged)]), ME, false),
            Verdict::Missing,
            "the expiry is signed"
        );
        assert_eq!(
            s.check(&headers(&[(header::COOKIE, &format!("x=1; vtrack_session={id}"))]), ME, false),
            Verdict::Allowed(admin())
        );
        assert_eq!(s.check(&HeaderMap::new(), ME, false), Verdict::Missing);
    }

    fn admin() -> Identity {
        Identity::everywhere(None, Role::Admin)
    }

    fn users() -> Vec<DashboardUser> {
        let u = |name: &str, token: Option<&str>, role| DashboardUser {
            name: name.into(),
            token: token.map(Into::into),
            role,
            sites: Vec::new(),
        };
        vec![
            u("sam", Some("sam-token"), Role::Sales),
            u("vic", Some("vic-token"), Role::Viewer),
            u("pat@example.com", None, Role::Sales),
        ]
    }

    #[test]
    fn each_token_is_its_person_and_a_session_carries_them() {
        let s = SignIn::new(
            Access::new(Some("s3cret".into()), &users(), false, false),
            Duration::from_secs(60),
            RateConfig { rate: 1.0, burst: 5.0 },
        );
        let sam = Identity::everywhere(Some("sam".into()), Role::Sales);
        assert_eq!(
            s.check(&headers(&[(header::AUTHORIZATION, "Bearer sam-token")]), ME, false),
            Verdict::Allowed(sam.clone())
        );
        assert_eq!(
            s.check(&headers(&[(header::AUTHORIZATION, "Bearer s3cret")]), ME, false),
            Verdict::Allowed(admin())
        );
        let id = s.sign_in("vic-token", ME).unwrap();
        let vic = Identity::everywhere(Some("vic".into()), Role::Viewer);
        assert_eq!(
            s.check(&headers(&[(header::COOKIE, &format!("vtrack_session={id}"))]), ME, false),
            Verdict::Allowed(vic)
        );
        // Vic's session renamed to sam is not sam's: the MAC is keyed by vic's token and covers the name.
        let parts: Vec<&str> = id.split('.').collect();
        let renamed = format!("vtrack_session={}.{}.{}.{}", parts[0], hex(b"sam"), parts[2], parts[3]);
        assert_eq!(s.check(&headers(&[(header::COOKIE, &renamed)]), ME, false), Verdict::Missing);
        assert_eq!(s.check(&headers(&[(header::AUTHORIZATION, "Bearer nope")]), ME, false), Verdict::Wrong);
    }

    #[test]
    fn the_proxy_header_is_believed_from_trusted_peers_only() {
        let header = http::HeaderName::from_static("x-forwarded-email");
        let s = SignIn::new(
            Access::new(None, &users(), true, false),
            Duration::from_secs(60),
            RateConfig { rate: 1.0, burst: 5.0 },
        )
        .with_proxy(header.clone(), &users(), Role::Viewer, &[]);
        let pat = headers(&[(header.clone(), "Pat@example.com")]);
        assert_eq!(
            s.check(&pat, ME, true),
            Verdict::Allowed(Identity::everywhere(Some("Pat@example.com".into()), Role::Sales))
        );
        assert_eq!(s.check(&pat, ME, false), Verdict::Missing, "from an untrusted peer the header is nobody");
        let stranger = headers(&[(header, "lee@example.com")]);
        assert_eq!(
            s.check(&stranger, ME, true),
            Verdict::Allowed(Identity::everywhere(Some("lee@example.com".into()), Role::Viewer))
        );
    }

    #[test]
    fn a_person_limited_to_sites_carries_them_by_token_session_and_proxy() {
        let mut people = users();
        people[1].sites = vec!["s2".into()];
        let header = http::HeaderName::from_static("x-forwarded-email");
        let s = SignIn::new(
            Access::new(None, &people, true, false),
            Duration::from_secs(60),
            RateConfig { rate: 1.0, burst: 5.0 },
        )
        .with_proxy(header.clone(), &people, Role::Viewer, &["s1".to_string()]);
        let vic = s.check(&headers(&[(header::AUTHORIZATION, "bearer vic-token")]), ME, false);
        let Verdict::Allowed(vic) = vic else { panic!("{vic:?}") };
        assert!(vic.may_see("s2") && !vic.may_see("s1"));
        let id = s.sign_in("vic-token", ME).unwrap();
        let by_cookie = s.check(&headers(&[(header::COOKIE, &format!("vtrack_session={id}"))]), ME, false);
        assert_eq!(by_cookie, Verdict::Allowed(vic));
        let Verdict::Allowed(lee) = s.check(&headers(&[(header, "lee@example.com")]), ME, true) else { panic!() };
        assert_eq!(lee.sites, Some(vec!["s1".to_string()]), "the default for people the proxy names");
        let Verdict::Allowed(sam) = s.check(&headers(&[(header::AUTHORIZATION, "Bearer sam-token")]), ME, false) else {
            panic!()
        };
        assert!(sam.may_see("s1") && sam.may_see("anything"), "no sites listed: every site");
    }

    #[test]
    fn a_session_ends_at_its_expiry() {
        let s = SignIn::new(
            Access::new(Some("s3cret".into()), &[], false, true),
            Duration::ZERO,
            RateConfig { rate: 1.0, burst: 1.0 },
        );
        let id = s.sign_in("s3cret", ME).unwrap();
        assert_eq!(
            s.check(&headers(&[(header::COOKIE, &format!("vtrack_session={id}"))]), ME, false),
            Verdict::Missing
        );
    }

    #[test]
    fn wrong_tokens_are_throttled_per_address_even_when_the_next_guess_is_right() {
        let s = sign_in();
        for _ in 0..3 {
            assert_eq!(s.sign_in("nope", ME), Err(Verdict::Wrong));
        }
        assert!(matches!(s.sign_in("s3cret", ME), Err(Verdict::Throttled(_))));
        let bearer = headers(&[(header::AUTHORIZATION, "Bearer s3cret")]);
        assert!(matches!(s.check(&bearer, ME, false), Verdict::Throttled(_)));
        let other: IpAddr = "198.51.100.8".parse().unwrap();
        assert!(s.sign_in("s3cret", other).is_ok(), "another address is not affected");
    }

    #[test]
    fn without_a_token_only_a_loopback_server_is_open() {
        let open = SignIn::new(
            Access::new(None, &[], false, true),
            Duration::from_secs(60),
            RateConfig { rate: 1.0, burst: 1.0 },
        );
        assert_eq!(open.check(&HeaderMap::new(), ME, false), Verdict::Allowed(Identity::everywhere(None, Role::Admin)));
        let closed = SignIn::new(
            Access::new(None, &[], false, false),
            Duration::from_secs(60),
            RateConfig { rate: 1.0, burst: 1.0 },
        );
        assert_eq!(closed.check(&HeaderMap::new(), ME, false), Verdict::Missing);
        assert!(closed.sign_in("", ME).is_err());
    }
}
