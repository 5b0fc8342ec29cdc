//! The beacon a browser sends and the enriched event that flows from ingest to the store.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest URL, referrer or title kept; longer values are refused rather than silently cut.
pub const MAX_URL_LEN: usize = 4096;
/// Longest page title accepted.
pub const MAX_TITLE_LEN: usize = 1024;
/// Longest custom-event name or site key accepted.
pub const MAX_NAME_LEN: usize = 64;
/// Largest `props` object for a custom event, as JSON text.
pub const MAX_PROPS_LEN: usize = 4096;

/// `auto` bit: `navigator.webdriver` was true (WebDriver, and Chromium under `--enable-automation` or
/// remote debugging: Playwright, Puppeteer, chromedriver).
pub const AUTOMATION_WEBDRIVER: u32 = 1;
/// `auto` bit: a test runner's global was on the page (Cypress, Nightmare, PhantomJS).
pub const AUTOMATION_RUNNER_GLOBAL: u32 = 2;
/// Largest `auto` accepted: eight bits are the tracker's to define. A newer tracker's bits count as
/// automation here too, so they can be added without a server release.
pub const MAX_AUTOMATION: u32 = 0xff;

/// One event as the tracker posts it (`POST /v1/events`, JSON) or as the pixel's query string carries it.
///
/// Field names are short because every page view sends them. Unknown fields are ignored so that newer
/// trackers keep working against older servers.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Beacon {
    /// The site key the script was configured with.
    #[serde(default)]
    pub site: String,
    /// `pageview`, `engagement`, `identify`, or a custom event name.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The page's full URL (UTM tags are read from its query string).
    #[serde(default)]
    pub url: String,
    /// `document.referrer`.
    #[serde(rename = "ref", default)]
    pub referrer: String,
    #[serde(default)]
    pub title: String,
    /// First-party visitor id; empty in cookieless mode (ingest then derives a daily one).
    #[serde(default)]
    pub vid: String,
    /// Event id made in the browser so retries de-duplicate; ingest makes one when it is missing.
    #[serde(default)]
    pub eid: String,
    /// Client clock, Unix milliseconds.
    #[serde(default)]
    pub ts: Option<i64>,
    /// Engaged (visible and active) time on the page, milliseconds; sent with `engagement`.
    #[serde(default)]
    pub eng_ms: Option<u64>,
    /// The contact's email, `identify` only.
    #[serde(default)]
    pub email: Option<String>,
    /// Properties of a custom event.
    #[serde(default)]
    pub props: Option<serde_json::Value>,
    /// The signs of automation the page saw, as bits ([`AUTOMATION_WEBDRIVER`], [`AUTOMATION_RUNNER_GLOBAL`]);
    /// absent or 0 from a person's browser. Only the browser tracker sends it: the user agent says what a
    /// client claims to be, this says what the page found, so a driven browser with a desktop user agent is
    /// still told apart. See [`Beacon::automated`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<u32>,
}

/// Why a beacon was refused. The message is sent back to the client in `{"error": …}`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BeaconError {
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}` is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("field `{0}` has characters outside [A-Za-z0-9._:-]")]
    BadId(&'static str),
    #[error("{0}")]
    BadEmail(#[from] crate::email::EmailError),
    #[error("field `url` must be an absolute http(s) URL or a path starting with `/`")]
    BadUrl,
    #[error("field `eng_ms` is more than a day")]
    BadEngagement,
    #[error("field `type`: names starting with `vtrack:` are reserved for vtrack's own events")]
    ReservedType,
    #[error("field `{0}` has control characters")]
    ControlChars(&'static str),
    #[error("field `email` is only for `identify` events")]
    EmailNotIdentify,
    #[error("field `auto` must be an integer from 0 to 255 (bits of automation signals)")]
    BadAutomation,
    #[error("field `site` names another site than the secret's")]
    OtherSite,
    #[error("field `ip` is not an IP address")]
    BadAddress,
}

/// Refuses text with control characters (NUL, ESC, BEL …): nothing a page sends needs them, and stored
/// they reach terminals and spreadsheets.
fn check_text(field: &'static str, value: &str) -> Result<(), BeaconError> {
    if value.chars().any(char::is_control) {
        return Err(BeaconError::ControlChars(field));
    }
    Ok(())
}

/// The referrer as stored: an http(s) URL, or nothing. Other schemes (`android-app://`, `javascript:`)
/// are dropped rather than refused, so a real page view from an app is not lost for its referrer.
pub fn kept_referrer(referrer: String) -> String {
    let lower = referrer.get(..8).unwrap_or(&referrer).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        referrer
    } else {
        String::new()
    }
}

/// Event types starting with this are vtrack's own, never a page's: ingest refuses them in beacons.
pub const RESERVED_KIND_PREFIX: &str = "vtrack:";

/// The type of the event enrichment publishes when it has learned the organisation of an address that
/// visitors were already using: it carries the learned organisation (`company`) for `visitor_id`'s events
/// from that network since `ts_ms`. Processing applies it to those events and never stores it.
pub const LEARNED_KIND: &str = "vtrack:learned";

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), BeaconError> {
    if value.len() > max {
        return Err(BeaconError::TooLong { field, max });
    }
    Ok(())
}

fn check_id(field: &'static str, value: &str) -> Result<(), BeaconError> {
    check_len(field, value, MAX_NAME_LEN)?;
    if value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')) {
        Ok(())
    } else {
        Err(BeaconError::BadId(field))
    }
}

impl Beacon {
    /// The beacon as it is kept, once [`Beacon::validate`] passed: an `identify`'s email with its domain in
    /// its one ASCII form ([`crate::email::normalize_email`]), so the account key and what sales read are the
    /// same however the visitor wrote it.
    pub fn normalize(&mut self) {
        if let Some(email) = self.email.as_mut() {
            if let Ok(normal) = crate::email::normalize_email(email) {
                *email = normal;
            }
        }
    }

    /// Checks the beacon against the wire format's rules, so that what is accepted can always be stored.
    pub fn validate(&self) -> Result<(), BeaconError> {
        self.check(true)
    }

    /// The same rules, with `url` required only when `url_required` (a browser's beacons always have their
    /// page; a backend's conversion may have none).
    fn check(&self, url_required: bool) -> Result<(), BeaconError> {
        if self.site.is_empty() {
            return Err(BeaconError::Missing("site"));
        }
        check_id("site", &self.site)?;
        if self.kind.is_empty() {
            return Err(BeaconError::Missing("type"));
        }
        check_len("type", &self.kind, MAX_NAME_LEN)?;
        if self.kind.chars().any(char::is_control) {
            return Err(BeaconError::BadId("type"));
        }
        if self.kind.starts_with(RESERVED_KIND_PREFIX) {
            return Err(BeaconError::ReservedType);
        }
        if self.url.is_empty() && url_required {
            return Err(BeaconError::Missing("url"));
        }
        check_len("url", &self.url, MAX_URL_LEN)?;
        check_text("url", &self.url)?;
        if !self.url.is_empty() && UrlParts::parse(&self.url).is_none() {
            return Err(BeaconError::BadUrl);
        }
        check_len("ref", &self.referrer, MAX_URL_LEN)?;
        check_text("ref", &self.referrer)?;
        check_len("title", &self.title, MAX_TITLE_LEN)?;
        check_text("title", &self.title)?;
        if self.email.is_some() && self.kind != "identify" {
            return Err(BeaconError::EmailNotIdentify);
        }
        if !self.vid.is_empty() {
            check_id("vid", &self.vid)?;
        }
        if !self.eid.is_empty() {
            check_id("eid", &self.eid)?;
        }
        if self.eng_ms.is_some_and(|ms| ms > 86_400_000) {
            return Err(BeaconError::BadEngagement);
        }
        if self.kind == "identify" {
            let email = self.email.as_deref().unwrap_or("");
            if email.is_empty() {
                return Err(BeaconError::Missing("email"));
            }
            check_len("email", email, 254)?;
            crate::email::normalize_email(email)?;
        }
        if let Some(props) = &self.props {
            check_len("props", &props.to_string(), MAX_PROPS_LEN)?;
        }
        if self.auto.is_some_and(|bits| bits > MAX_AUTOMATION) {
            return Err(BeaconError::BadAutomation);
        }
        Ok(())
    }

    /// Whether the tracker reported the page as driven by automation (any `auto` bit). Ingest drops such
    /// events: a headless browser with a desktop user agent passes the user-agent filter, and a scraper or
    /// an uptime check would otherwise make an account hot.
    pub fn automated(&self) -> bool {
        self.auto.is_some_and(|bits| bits != 0)
    }
}

/// The parts of a page URL that analytics needs, read without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// Lowercase is not enforced; empty for a path-only URL.
    pub host: &'a str,
    /// Always starts with `/`.
    pub path: &'a str,
    /// Without the `?`; empty when there is none.
    pub query: &'a str,
}

impl<'a> UrlParts<'a> {
    /// Splits `https://host/path?query#fragment` or `/path?query`; `None` for anything else, a
    /// scheme-relative `//host/path` included.
    pub fn parse(url: &'a str) -> Option<Self> {
        let (host, rest) = if let Some(after) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let host = &after[..end];
            if host.is_empty() || host.contains(char::is_whitespace) {
                return None;
            }
            (host, &after[end..])
        } else if url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\") {
            // `//evil.example/x` is another host to a browser, not a path of this site.
            ("", url)
        } else {
            return None;
        };
        let rest = rest.split('#').next().unwrap_or("");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = if path.is_empty() { "/" } else { path };
        Some(UrlParts { host, path, query })
    }
}

/// Campaign tags, from the page URL's `utm_*` parameters.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Utm {
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub term: String,
    pub content: String,
}

impl Utm {
    /// Reads the `utm_*` parameters of a query string (percent-decoded; the first of repeats wins).
    pub fn from_query(query: &str) -> Utm {
        let mut utm = Utm::default();
        for (k, v) in form_pairs(query) {
            let slot = match k.as_str() {
                "utm_source" => &mut utm.source,
                "utm_medium" => &mut utm.medium,
                "utm_campaign" => &mut utm.campaign,
                "utm_term" => &mut utm.term,
                "utm_content" => &mut utm.content,
                _ => continue,
            };
            if slot.is_empty() {
                *slot = v.chars().take(256).collect();
            }
        }
        utm
    }
}

/// Percent-decodes `a=b&c=d` pairs (`+` is a space), as forms and URLs encode them.
pub fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// The organisation a visit came from, as the resolver found it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct CompanyInfo {
    pub company_name: String,
    /// The account key (`vtrack_resolve::account_key`): the company's domain when a trustworthy one is known,
    /// `as<N>` only for the organisation that runs AS N itself, else `org:` and its normalised name.
    pub company_domain: String,
    /// 0 when unknown.
    pub asn: u32,
    pub network_class: crate::NetworkClass,
    /// ISO 3166-1 alpha-2, empty when unknown.
    pub country: String,
    pub city: String,
    /// The layer that named the organisation. Defaults when absent, so events from older producers still read.
    #[serde(default)]
    pub id_source: crate::IdSource,
    /// 0–100; 0 when nothing identified the organisation.
    #[serde(default)]
    pub id_confidence: u8,
    /// How sure `network_class` is, 0–100: the class model's probability for an AS's organisation (with the
    /// network's own evidence once there is some, `crate::evidence`), 100 where the customer's ranges gave
    /// the class, the identification's where a visitor's email or a learned range named the organisation; 0
    /// when unknown (events from older producers). Alerts wait while it is below `[alerts]
    /// min_class_confidence`.
    #[serde(default)]
    pub class_confidence: u8,
}

/// One accepted event after ingest has validated and enriched it: the unit on the bus and in `events`.
///
/// `event_id` is unique; every later stage is at-least-once and relies on it to de-duplicate.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct EnrichedEvent {
    pub event_id: String,
    pub site: String,
    /// When it happened, Unix ms (the client's clock when plausible, else the server's).
    pub ts_ms: i64,
    /// When ingest received it, Unix ms.
    pub received_ms: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub visitor_id: String,
    pub url: String,
    pub path: String,
    pub referrer: String,
    pub title: String,
    pub utm: Utm,
    pub eng_ms: u64,
    /// Set on `identify` events only.
    pub email: String,
    /// A custom event's properties as JSON text, empty otherwise.
    pub props: String,
    pub company: CompanyInfo,
    /// Which of 64 buckets a hash of the visitor's /24 (IPv6 /48) falls in
    /// ([`crate::evidence::prefix_bucket`]): what processing counts a network's spread with. Six bits of a
    /// hash, never the address; not stored with the event. Absent from older producers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_bucket: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pageview() -> Beacon {
        Beacon { site: "s1".into(), kind: "pageview".into(), url: "https://a.example/x".into(), ..Default::default() }
    }

    #[test]
    fn a_page_cannot_send_vtrack_s_own_event_types() {
        let b = Beacon { kind: LEARNED_KIND.into(), ..pageview() };
        assert!(matches!(b.validate(), Err(BeaconError::ReservedType)));
        assert!(Beacon { kind: "vtrack-signup".into(), ..pageview() }.validate().is_ok());
    }

    #[test]
    fn url_parts() {
        let p = UrlParts::parse("https://www.example.com/pricing?utm_source=li#top").unwrap();
        assert_eq!((p.host, p.path, p.query), ("www.example.com", "/pricing", "utm_source=li"));
        let p = UrlParts::parse("http://example.com?x=1").unwrap();
        assert_eq!((p.host, p.path, p.query), ("example.com", "/", "x=1"));
        assert_eq!(UrlParts::parse("/docs/a").unwrap().path, "/docs/a");
        assert!(UrlParts::parse("javascript:alert(1)").is_none());
        assert!(UrlParts::parse("https:///nohost").is_none());
    }

    #[test]
    fn utm_tags_are_decoded_and_first_wins() {
        let u = Utm::from_query("a=1&utm_source=linked+in&utm_campaign=q4%20launch&utm_source=x&utm_medium=%ZZ");
        assert_eq!(u.source, "linked in");
        assert_eq!(u.campaign, "q4 launch");
        assert_eq!(u.medium, "%ZZ");
        assert_eq!(Utm::from_query("utm_term=%e2%82%ac").term, "€");
        assert_eq!(Utm::from_query("utm_content=%4").content, "%4");
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(pageview().validate(), Ok(()));
        let b = Beacon { site: String::new(), ..pageview() };
        assert_eq!(b.validate(), Err(BeaconError::Missing("site")));
        let b = Beacon { vid: "a b".into(), ..pageview() };
        assert_eq!(b.validate(), Err(BeaconError::BadId("vid")));
        let b = Beacon { url: "ftp://x".into(), ..pageview() };
        assert_eq!(b.validate(), Err(BeaconError::BadUrl));
        let b = Beacon { kind: "identify".into(), email: Some("nobody".into()), ..pageview() };
        assert!(matches!(b.validate(), Err(BeaconError::BadEmail(_))));
        let mut b = Beacon { kind: "identify".into(), email: Some("Jo@Bücher.DE".into()), ..pageview() };
        assert_eq!(b.validate(), Ok(()));
        b.normalize();
        assert_eq!(b.email.as_deref(), Some("Jo@xn--bcher-kva.de"));
        let b = Beacon { kind: "identify".into(), email: Some("jo@acme.example".into()), ..pageview() };
        assert_eq!(b.validate(), Ok(()));
        let b = Beacon { email: Some("jo@acme.example".into()), ..pageview() };
        assert_eq!(b.validate(), Err(BeaconError::EmailNotIdentify));
        let b = Beacon { title: "a\u{0}b".into(), ..pageview() };
        assert_eq!(b.validate(), Err(BeaconError::ControlChars("title")));
        let b = Beacon { url: "https://a.example/\u{1b}]0;x\u{7}".into(), ..pageview() };
        assert_eq!(b.validate(), Err(BeaconError::ControlChars("url")));
        let b = Beacon { url: "//evil.example/x".into(), ..pageview() };
        assert_eq!(b.validate(), Err(BeaconError::BadUrl));
        assert_eq!(kept_referrer("javascript:alert(1)".into()), "");
        assert_eq!(kept_referrer("HTTPS://g.example/".into()), "HTTPS://g.example/");
        assert_eq!(kept_referrer("android-app://com.google/".into()), "");
        let b = Beacon { title: "t".repeat(MAX_TITLE_LEN + 1), ..pageview() };
        assert_eq!(b.validate(), Err(BeaconError::TooLong { field: "title", max: MAX_TITLE_LEN }));
    }

    #[test]
    fn automation_bits() {
        assert!(!pageview().automated());
        assert!(!Beacon { auto: Some(0), ..pageview() }.automated());
        let driven = Beacon { auto: Some(AUTOMATION_WEBDRIVER | AUTOMATION_RUNNER_GLOBAL), ..pageview() };
        assert!(driven.automated());
        assert_eq!(driven.validate(), Ok(()));
        // A bit a newer tracker defines is still automation.
        assert!(Beacon { auto: Some(0x80), ..pageview() }.automated());
        assert_eq!(Beacon { auto: Some(256), ..pageview() }.validate(), Err(BeaconError::BadAutomation));
        // Not a number: the JSON is refused as it is for any mistyped field.
        assert!(serde_json::from_str::<Beacon>(r#"{"site":"s","type":"pageview","url":"/","auto":true}"#).is_err());
        assert!(serde_json::from_str::<Beacon>(r#"{"site":"s","type":"pageview","url":"/","auto":-1}"#).is_err());
        let b: Beacon = serde_json::from_str(r#"{"site":"s","type":"pageview","url":"/","auto":1}"#).unwrap();
        assert_eq!(b.auto, Some(AUTOMATION_WEBDRIVER));
        // A person's beacon is written without the field.
        assert!(!serde_json::to_string(&pageview()).unwrap().contains("auto"));
    }

    #[test]
    fn wire_names() {
        let b: Beacon = serde_json::from_str(
            r#"{"site":"s","type":"engagement","url":"/a","ref":"https://g.example/","eng_ms":1200,"extra":1}"#,
        )
        .unwrap();
        assert_eq!(b.kind, "engagement");
        assert_eq!(b.referrer, "https://g.example/");
        assert_eq!(b.eng_ms, Some(1200));
    }
}

/// One event as a site's backend posts it to the server-side API (`POST /v1/server/events`, authenticated
/// with one of the site's `secrets`): the beacon's fields, a required visitor id (the backend names the
/// visitor whose browser the tracker keyed), and the client's address when the backend saw the request (a
/// server-rendered page, a proxy): the only case in which vtrack resolves an address it did not see itself.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerEvent {
    /// The site key; may be left out, as the secret names the site.
    #[serde(default)]
    pub site: String,
    /// `identify` (with `email`), `pageview` (with `url`, and `ip` to resolve), or a conversion's name.
    #[serde(rename = "type")]
    pub kind: String,
    /// The visitor id the tracker set (its `vtrack_vid` cookie or the npm package's `visitorId()`).
    pub vid: String,
    #[serde(default)]
    pub eid: String,
    #[serde(default)]
    pub ts: Option<i64>,
    #[serde(default)]
    pub url: String,
    #[serde(rename = "ref", default)]
    pub referrer: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub props: Option<serde_json::Value>,
    /// The client's address, as the backend saw it.
    #[serde(default)]
    pub ip: Option<String>,
}

impl ServerEvent {
    /// The beacon it is, validated like a browser's, and the client address it names. `site` is the site
    /// the secret authenticated; an event naming another is refused.
    pub fn into_beacon(self, site: &str) -> Result<(Beacon, Option<std::net::IpAddr>), BeaconError> {
        if !self.site.is_empty() && self.site != site {
            return Err(BeaconError::OtherSite);
        }
        if self.vid.is_empty() {
            return Err(BeaconError::Missing("vid"));
        }
        let ip = match self.ip.as_deref().map(str::parse::<std::net::IpAddr>) {
            None => None,
            Some(Ok(ip)) => Some(ip),
            Some(Err(_)) => return Err(BeaconError::BadAddress),
        };
        let mut b = Beacon {
            site: site.to_string(),
            kind: self.kind,
            url: self.url,
            referrer: self.referrer,
            title: self.title,
            vid: self.vid,
            eid: self.eid,
            ts: self.ts,
            eng_ms: None,
            email: self.email,
            props: self.props,
            auto: None,
        };
        // A page view names its page; a conversion or an identify may come from no page.
        b.check(b.kind == "pageview")?;
        b.normalize();
        Ok((b, ip))
    }
}
