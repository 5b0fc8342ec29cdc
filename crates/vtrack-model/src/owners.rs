//! Who follows up an account: the sales owners (`[[owners]]`) and the rules that assign them
//! (`[[assign]]`), as the config file states them.
//!
//! Only the shape and its checks live here; the matching is `vtrack_process::owners`, so that both stores
//! assign through one function.

use crate::config::{ConfigError, WebhookConfig, WebhookFormat};
use crate::NetworkClass;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;

/// One person (or team inbox) who follows up accounts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OwnerConfig {
    /// How rules, the API and the history name them.
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Their own JSON webhook: alerts of the accounts they own go there too.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Their own Slack incoming webhook.
    #[serde(default)]
    pub slack: Option<String>,
    /// Signs their deliveries (`X-Vtrack-Signature`), like a site webhook's secret. Required with a
    /// `webhook` or `slack`: an unsigned alert could not be told from a forged one.
    #[serde(default)]
    pub secret: Option<String>,
}

/// One assignment rule. Every condition given must hold; the first rule that holds names the owner.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AssignRule {
    /// ISO country codes of the account (any case).
    pub countries: Vec<String>,
    /// Account keys (domains), exactly.
    pub domains: Vec<String>,
    /// A target list: one domain a line, `#` comments; read when the process starts.
    pub domains_file: Option<PathBuf>,
    /// Network classes (`business`, `education`, …).
    pub class: Vec<String>,
    /// The owner: one name, …
    pub owner: Option<String>,
    /// … or a team, taken in turn (see `vtrack_process::owners`).
    pub team: Vec<String>,
}

/// One receiver of alerts: a site webhook (for every alert) or an owner's (for their accounts only).
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// What it is called wherever it is shown: never its URL (see [`redact_url`]).
    pub name: String,
    pub hook: WebhookConfig,
    /// `Some(owner)`: only alerts of the accounts this owner holds.
    pub owner: Option<String>,
    /// The SLA's escalation webhook: missed deadlines only.
    pub escalation: bool,
}

/// Owners' receivers keep the site webhooks' defaults for what the owner table does not say.
fn owner_hook(url: &str, secret: &str, format: WebhookFormat) -> WebhookConfig {
    WebhookConfig {
        name: None,
        url: url.to_string(),
        secret: secret.to_string(),
        format,
        cooldown: crate::config::default_cooldown(),
        max_attempts: crate::config::default_attempts(),
        timeout: crate::config::default_webhook_timeout(),
    }
}

/// Every receiver in delivery order: the site webhooks first, then each owner's webhook and Slack. The
/// outbox stores a delivery's index into this list, so processing and the sender must build it alike:
/// both call this.
pub fn receivers(site_hooks: &[WebhookConfig], owners: &[OwnerConfig]) -> Vec<Receiver> {
    let mut out: Vec<Receiver> = site_hooks
        .iter()
        .enumerate()
        .map(|(i, h)| Receiver {
            name: h.name.clone().unwrap_or_else(|| format!("webhook {}", i + 1)),
            hook: h.clone(),
            owner: None,
            escalation: false,
        })
        .collect();
    for o in owners {
        let secret = o.secret.as_deref().unwrap_or_default();
        for (url, format, kind) in
            [(&o.webhook, WebhookFormat::Json, "webhook"), (&o.slack, WebhookFormat::Slack, "slack")]
        {
            if let Some(url) = url {
                out.push(Receiver {
                    name: format!("{} ({kind})", o.name),
                    hook: owner_hook(url, secret, format),
                    owner: Some(o.name.clone()),
                    escalation: false,
                });
            }
        }
    }
    out
}

/// How many characters of a URL's path [`redact_url`] keeps: enough to tell two receivers apart, too few
/// to use (a Slack webhook's secret is the 24 characters at the end of its path).
const KEPT_PATH_CHARS: usize = 4;

/// A receiver's URL as an admin may see it: the scheme, the host (and port), and the last few characters of
/// the path, `https://hooks.slack.example/…Xy9z`. User name and password, the query and the rest of the path
/// are left out: any of them can be the credential that lets someone post as vtrack.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = tail.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    let kept: String = {
        let chars: Vec<char> = path.chars().collect();
        chars[chars.len().saturating_sub(KEPT_PATH_CHARS)..].iter().collect()
    };
    let kept = kept.trim_start_matches('/');
    let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
    if kept.is_empty() {
        format!("{scheme}{host}/")
    } else {
        format!("{scheme}{host}/…{kept}")
    }
}

/// Checks owners and rules together: unique names, receivers that can be signed, rules that name known
/// owners and have something to match.
pub fn check(owners: &[OwnerConfig], rules: &[AssignRule]) -> Result<(), ConfigError> {
    let bad = |m: String| Err(ConfigError::Invalid(m));
    let mut names = HashSet::new();
    for o in owners {
        if o.name.trim().is_empty() || o.name.chars().count() > 100 {
            return bad("owners.name must be 1-100 characters".into());
        }
        if !names.insert(o.name.as_str()) {
            return bad(format!("owners.name {:?} is listed twice", o.name));
        }
        for (key, url) in [("webhook", &o.webhook), ("slack", &o.slack)] {
            let Some(url) = url else { continue };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                // Not the URL itself: it is a credential, and config errors reach logs.
                return bad(format!("owners.{key} of {} must be http(s)", o.name));
            }
            if o.secret.as_deref().unwrap_or_default().is_empty() {
                return bad(format!("owners.secret: {} needs a secret to sign their {key} with", o.name));
            }
        }
    }
    for (i, r) in rules.iter().enumerate() {
        let n = i + 1;
        match (&r.owner, r.team.is_empty()) {
            (Some(_), false) => return bad(format!("assign rule {n}: give assign.owner or assign.team, not both")),
            (None, true) => return bad(format!("assign rule {n}: needs assign.owner or a non-empty assign.team")),
            _ => {}
        }
        let who = r.owner.iter().map(|o| ("owner", o)).chain(r.team.iter().map(|o| ("team", o)));
        for (key, name) in who {
            if !names.contains(name.as_str()) {
                return bad(format!(
                    "assign rule {n}: assign.{key} names an unknown owner {name:?} (not in [[owners]])"
                ));
            }
        }
        for c in &r.class {
            if c.parse::<NetworkClass>().is_err() {
                return bad(format!("assign rule {n}: assign.class {c:?} is not a network class"));
            }
        }
        if r.countries.iter().any(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic())) {
            return bad(format!("assign rule {n}: assign.countries are two-letter codes"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn a_redacted_url_keeps_scheme_host_and_the_paths_last_characters() {
        use super::redact_url;
        assert_eq!(
            redact_url("https://hooks.slack.example/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX9z8y"),
            "https://hooks.slack.example/…9z8y"
        );
        assert_eq!(redact_url("https://user:pw@crm.example:8443/in?token=s3cret#x"), "https://crm.example:8443/…in");
        assert_eq!(redact_url("http://127.0.0.1:9/"), "http://127.0.0.1:9/");
        assert_eq!(redact_url("http://a.example?token=s3cret"), "http://a.example/");
        for url in ["https://u:s3cret@a.example/x?token=s3cret", "https://a.example/s3cret/tail"] {
            assert!(!redact_url(url).contains("s3cret"), "{url}");
        }
    }

    #[test]
    fn receivers_have_names() {
        let c = load(&format!(
            "{OWNERS}[[alerts.webhooks]]\nurl = \"http://127.0.0.1:9/s\"\nsecret = \"x\"\n\
             [[alerts.webhooks]]\nname = \"crm\"\nurl = \"http://127.0.0.1:9/c\"\nsecret = \"x\"\n"
        ))
        .unwrap();
        let names: Vec<String> = c.receivers().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["webhook 1", "crm", "ana (webhook)", "bo (slack)"]);
    }

    fn load(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        c.check().map_err(|e| e.to_string())?;
        Ok(c)
    }

    const OWNERS: &str = "[[owners]]\nname = \"ana\"\nwebhook = \"http://127.0.0.1:9/a\"\nsecret = \"x\"\n\
                          [[owners]]\nname = \"bo\"\nslack = \"https://hooks.slack.example/b\"\nsecret = \"y\"\n";

    #[test]
    fn owners_and_rules_load() {
        let c = load(&format!(
            "{OWNERS}[[assign]]\ncountries = [\"de\"]\nowner = \"ana\"\n[[assign]]\nteam = [\"ana\", \"bo\"]\n"
        ))
        .unwrap();
        assert_eq!(c.assign.len(), 2);
        let r = super::receivers(&c.alerts.webhooks, &c.owners);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].owner.as_deref(), Some("ana"));
        assert_eq!(r[1].hook.format, crate::config::WebhookFormat::Slack);
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let cases = [
            ("[[assign]]\nowner = \"carl\"\n", "unknown owner \"carl\""),
            ("[[assign]]\nteam = []\n", "needs assign.owner or a non-empty assign.team"),
            ("[[assign]]\nowner = \"ana\"\nteam = [\"bo\"]\n", "not both"),
            ("[[assign]]\nclass = [\"castle\"]\nowner = \"ana\"\n", "is not a network class"),
            ("[[assign]]\ncountries = [\"GER\"]\nowner = \"ana\"\n", "two-letter"),
            ("[[owners]]\nname = \"ana\"\n", "listed twice"),
        ];
        for (extra, why) in cases {
            let err = load(&format!("{OWNERS}{extra}")).unwrap_err();
            assert!(err.contains(why), "{extra}: {err}");
        }
        let err = load("[[owners]]\nname = \"x\"\nwebhook = \"http://h/\"\n").unwrap_err();
        assert!(err.contains("needs a secret"), "{err}");
    }
}
