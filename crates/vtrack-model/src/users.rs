//! Who may use the dashboard and what they may do: per-person tokens with roles (`[[dashboard.users]]`)
//! and the role of people a trusted reverse proxy names (`[dashboard] proxy_user_header`).
//!
//! Only the shape and its checks live here; the checking of requests is `vtrack_api::auth`.

use crate::config::ConfigError;
use serde::Deserialize;
use std::collections::HashSet;

/// What a signed-in person may do. Ordered: each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything, changes nothing.
    #[default]
    Viewer,
    /// Also sets accounts' status and owner.
    Sales,
    /// Everything, including whatever is admin-only.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Sales => "sales",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may change accounts (status, owner).
    pub fn can_write(self) -> bool {
        self >= Role::Sales
    }
}

/// One person with their own token (`[[dashboard.users]]`).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DashboardUser {
    /// How the history names what they did; also what a trusted proxy's header is matched against (a
    /// login name or an e-mail address).
    pub name: String,
    /// Their own token; may be left out for a person who only ever comes through the proxy.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub role: Role,
    /// The site keys they may see; empty (the default) for every site. An agency or a host running one vtrack
    /// for several clients gives each client a login of its own this way.
    #[serde(default)]
    pub sites: Vec<String>,
}

/// Never prints the token, so a logged config cannot leak it.
impl std::fmt::Debug for DashboardUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("sites", &self.sites)
            .finish()
    }
}

/// Sites people are limited to are configured ones (`site_keys`; `default_sites` are the proxy-named
/// people's): a typo would otherwise lock someone out, or read as every site.
pub fn check_sites(users: &[DashboardUser], site_keys: &[&str], default_sites: &[String]) -> Result<(), ConfigError> {
    let bad = |m: String| Err(ConfigError::Invalid(m));
    let unknown = |list: &[String]| list.iter().find(|s| !site_keys.contains(&s.as_str())).cloned();
    if let Some(s) = unknown(default_sites) {
        return bad(format!("dashboard.proxy_default_sites: {s:?} is not a [[sites]] key"));
    }
    for u in users {
        if let Some(s) = unknown(&u.sites) {
            return bad(format!("dashboard.users.sites of {:?}: {s:?} is not a [[sites]] key", u.name));
        }
    }
    Ok(())
}

/// Unique names and tokens, no empty token, and a proxy header that is a valid header name.
pub fn check(
    users: &[DashboardUser],
    legacy_token: Option<&str>,
    proxy_header: Option<&str>,
) -> Result<(), ConfigError> {
    let bad = |m: String| Err(ConfigError::Invalid(m));
    let mut names = HashSet::new();
    let mut tokens: HashSet<&str> = legacy_token.filter(|t| !t.is_empty()).into_iter().collect();
    for u in users {
        if u.name.trim().is_empty() || u.name.chars().count() > 100 {
            return bad("dashboard.users.name must be 1-100 characters".into());
        }
        if !names.insert(u.name.to_lowercase()) {
            return bad(format!("dashboard.users.name {:?} is listed twice", u.name));
        }
        match u.token.as_deref() {
            Some(t) if t.trim().is_empty() => {
                return bad(format!(
                    "dashboard.users.token: {:?} has an empty token (leave token out for proxy-only users)",
                    u.name
                ))
            }
            Some(t) if !tokens.insert(t) => {
                return bad(format!(
                    "dashboard.users.token: {:?}'s token is already someone else's (or dashboard.token)",
                    u.name
                ))
            }
            None if proxy_header.is_none() => {
                return bad(format!(
                    "dashboard.users.token: {:?} has none, and without dashboard.proxy_user_header nothing names them",
                    u.name
                ))
            }
            _ => {}
        }
    }
    if let Some(h) = proxy_header {
        if http_header_name(h).is_none() {
            return bad(format!("dashboard.proxy_user_header {h:?} is not a header name"));
        }
    }
    Ok(())
}

/// `h` lowercased when it is a valid HTTP header name (token characters only).
fn http_header_name(h: &str) -> Option<String> {
    let ok = !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    ok.then(|| h.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, token: Option<&str>) -> DashboardUser {
        DashboardUser { name: name.into(), token: token.map(Into::into), role: Role::Sales, sites: Vec::new() }
    }

    #[test]
    fn sites_must_be_configured() {
        let mut u = user("sam", Some("a"));
        u.sites = vec!["s2".into()];
        assert!(check_sites(&[u.clone()], &["s1", "s2"], &["s1".into()]).is_ok());
        u.sites = vec!["s3".into()];
        let e = check_sites(&[u], &["s1", "s2"], &[]).unwrap_err().to_string();
        assert!(e.contains("\"s3\" is not a [[sites]] key"), "{e}");
        let e = check_sites(&[], &["s1"], &["s9".into()]).unwrap_err().to_string();
        assert!(e.contains("proxy_default_sites"), "{e}");
    }

    #[test]
    fn names_and_tokens_are_unique_and_tokens_not_empty() {
        assert!(check(&[user("sam", Some("a")), user("kim", None)], Some("b"), Some("X-Forwarded-Email")).is_ok());
        let e = check(&[user("sam", Some("a")), user("Sam", Some("b"))], None, None).unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
        let e = check(&[user("sam", Some("a")), user("kim", Some("a"))], None, None).unwrap_err().to_string();
        assert!(e.contains("someone else's"), "{e}");
        let e = check(&[user("sam", Some("a"))], Some("a"), None).unwrap_err().to_string();
        assert!(e.contains("dashboard.token"), "{e}");
        let e = check(&[user("sam", Some(" "))], None, None).unwrap_err().to_string();
        assert!(e.contains("empty token"), "{e}");
        assert!(check(&[], None, Some("X Bad")).is_err());
        let e = check(&[user("kim", None)], None, None).unwrap_err().to_string();
        assert!(e.contains("nothing names them"), "{e}");
    }

    #[test]
    fn roles_read_lowercase_and_unknown_ones_are_refused() {
        #[derive(Debug, Deserialize)]
        struct U {
            #[allow(dead_code)]
            users: Vec<DashboardUser>,
        }
        let u: Result<U, _> = toml::from_str("[[users]]\nname = \"sam\"\nrole = \"boss\"");
        assert!(u.unwrap_err().to_string().contains("unknown variant"));
        assert!(Role::Admin > Role::Sales && Role::Sales.can_write() && !Role::Viewer.can_write());
    }
}
