//! The config file (`vtrack serve --config vtrack.toml`).
//!
//! Every command-line flag has a key here; flags win over the file. Unknown keys are errors, so a typo
//! is reported instead of silently ignored.
//!
//! `docs/vtrack.example.toml` shows every key with a comment; `tests/example_config.rs` loads it and fails
//! when a struct here gains a key the example lacks.
//!
//! Every default lives here, in the `Default` impls: a command starts from [`Config::default()`] or the
//! file, and its flags, which state no defaults of their own, are applied over that.

use ipnetwork::IpNetwork;
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// The whole configuration of one vtrack process.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub resolve: ResolveConfig,
    pub sites: Vec<SiteConfig>,
    pub sessions: SessionConfig,
    pub process: ProcessConfig,
    pub scoring: ScoringConfig,
    pub alerts: AlertsConfig,
    pub dashboard: DashboardConfig,
    pub enrich: EnrichConfig,
    /// Rate limits at the edge.
    pub limits: LimitsConfig,
    /// Set to carry events over Kafka instead of the in-process queue.
    pub kafka: Option<KafkaConfig>,
    /// Set to store in ClickHouse instead of the embedded SQLite file.
    pub clickhouse: Option<ClickHouseConfig>,
    /// Who follows up accounts (`[[owners]]`), and the rules that assign them (`[[assign]]`).
    pub owners: Vec<crate::owners::OwnerConfig>,
    pub assign: Vec<crate::owners::AssignRule>,
    /// The follow-up deadline agreed between marketing and sales (`[sla]`).
    pub sla: SlaConfig,
    /// The weekly digest to each site's webhooks (`[digest]`).
    pub digest: DigestConfig,
}

/// The weekly digest: when each site's summary is sent, in the site's own time zone
/// ([`SiteConfig::timezone`]), so a Berlin team and a New York team both get it on their Monday morning.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    /// Off unless set.
    pub enabled: bool,
    /// The day it is sent, `monday` to `sunday`.
    pub weekday: String,
    /// The hour of that day it is sent, 0-23, local time.
    pub hour: i8,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig { enabled: false, weekday: "monday".into(), hour: 8 }
    }
}

impl DigestConfig {
    /// The configured weekday, checked by [`Config::check`].
    pub fn weekday(&self) -> Result<jiff::civil::Weekday, ConfigError> {
        crate::schedule::weekday(&self.weekday)
            .ok_or_else(|| ConfigError::Invalid(format!("digest.weekday {:?} must be monday to sunday", self.weekday)))
    }
}

/// The follow-up deadline: how long sales has to act on a hot account.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    /// A hot account still `new` this long after it turned hot raises one `sla_missed` alert; off unless set.
    #[serde(deserialize_with = "optional_duration")]
    pub hot_followup: Option<Duration>,
    /// Also told of every missed deadline (a sales lead's channel).
    pub escalation: Option<WebhookConfig>,
    /// `"09:00-17:00"`: the deadline counts only these hours of `business_days`; plain time when unset.
    pub business_hours: Option<String>,
    /// The days business hours apply (`mon` … `sun`); Monday to Friday when empty.
    pub business_days: Vec<String>,
    /// The IANA time zone of business hours; UTC when unset.
    pub timezone: Option<String>,
}

impl SlaConfig {
    /// The deadline as the rule applies it (`vtrack_process::sla::due_ms`), or `None` without one; checked
    /// by [`Config::check`].
    pub fn followup(&self) -> Result<Option<crate::schedule::Followup>, ConfigError> {
        let Some(within) = self.hot_followup else { return Ok(None) };
        let Some(span) = &self.business_hours else {
            if !self.business_days.is_empty() || self.timezone.is_some() {
                return Err(ConfigError::Invalid("sla.business_days and sla.timezone need sla.business_hours".into()));
            }
            return Ok(Some(crate::schedule::Followup::plain(within)));
        };
        let (start_min, end_min) = crate::schedule::BusinessHours::parse_span(span).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "sla.business_hours {span:?} must look like \"09:00-17:00\" (start before end)"
            ))
        })?;
        let names: Vec<&str> = match self.business_days.is_empty() {
            true => vec!["mon", "tue", "wed", "thu", "fri"],
            false => self.business_days.iter().map(String::as_str).collect(),
        };
        let mut days = Vec::new();
        for name in names {
            days.push(
                crate::schedule::weekday(name)
                    .ok_or_else(|| ConfigError::Invalid(format!("sla.business_days: {name:?} must be mon to sun")))?,
            );
        }
        let tz = match &self.timezone {
            None => jiff::tz::TimeZone::UTC,
            Some(name) => jiff::tz::TimeZone::get(name)
                .map_err(|e| ConfigError::Invalid(format!("sla.timezone {name:?} is not known: {e}")))?,
        };
        let hours = crate::schedule::BusinessHours { start_min, end_min, days, tz };
        Ok(Some(crate::schedule::Followup { within, hours: Some(hours) }))
    }
}

impl Config {
    /// Every alert receiver, in the order the outbox indexes them (see [`crate::owners::receivers`]).
    pub fn receivers(&self) -> Vec<crate::owners::Receiver> {
        let mut out = crate::owners::receivers(&self.alerts.webhooks, &self.owners);
        if let Some(hook) = &self.sla.escalation {
            let name = hook.name.clone().unwrap_or_else(|| "escalation".into());
            out.push(crate::owners::Receiver { name, hook: hook.clone(), owner: None, escalation: true });
        }
        out
    }
}

/// Kafka between ingest and processing (`--kafka`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    pub topic: String,
    /// The consumer group processors join.
    pub group: String,
    /// Partitions `vtrack migrate` creates the topic with: the most processors that can share the work.
    pub partitions: i32,
    pub replication: i32,
    /// Events ingest holds undelivered (broker slow or down) before it answers 503.
    pub max_in_flight: usize,
    /// How long ingest waits for the broker to acknowledge a request's events before answering 503 (they stay
    /// queued and reach the broker when it returns).
    #[serde(deserialize_with = "duration")]
    pub delivery_timeout: Duration,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: String::new(),
            topic: "vtrack.events".into(),
            group: "vtrack-process".into(),
            partitions: 6,
            replication: 1,
            max_in_flight: 100_000,
            delivery_timeout: Duration::from_secs(10),
        }
    }
}

/// ClickHouse as the store (`--clickhouse`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// `http://[user[:password]@]host:port[/database]` (database `vtrack` when none is given).
    pub url: String,
    /// Drop days of events and sessions older than this (0 keeps everything).
    pub retention_days: u32,
    /// The cluster in the servers' `<remote_servers>` to keep the tables on, replicated and sharded
    /// (docs/cluster.md); empty for one server.
    pub cluster: String,
}

/// Where ingest listens and how much it holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Only peers in these ranges may set `X-Forwarded-For`; everyone else is the client themselves.
    pub trusted_proxies: Vec<IpNetwork>,
    /// Largest request body, bytes; larger ones get 413.
    pub body_limit: usize,
    /// Events the in-process queue holds before ingest answers 503.
    pub queue_capacity: usize,
    /// When `serve` answers 202 for an event carried by the in-process queue (see [`Durability`]).
    pub durability: Durability,
    /// How far the client's clock may be from the server's before its `ts` is ignored.
    #[serde(deserialize_with = "duration")]
    pub client_clock_window: Duration,
    /// How long a connection may take to send a request's headers, and how long it may sit idle between
    /// requests (hyper starts one timer for both): a client that sends nothing is closed after it.
    #[serde(deserialize_with = "duration")]
    pub header_timeout: Duration,
    /// How long a request may take once its headers are in: reading the body and answering. A body that
    /// trickles in slower gets 408 and the connection is closed, so slow clients cannot hold connections.
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Connections served at once; one more gets a 503 and is closed. Keep it below the process's open-file
    /// limit (`ulimit -n`), which also counts the store's files.
    pub max_connections: usize,
    /// When set, `/metrics` needs `Authorization: Bearer` with it (Prometheus: `authorization.credentials`).
    pub metrics_token: Option<String>,
    /// Testing only: keep events whose tracker reported automation (`auto` in the beacon), which are
    /// otherwise dropped. Browser tests drive Chromium through Playwright, and a driven Chromium says so
    /// (`navigator.webdriver`); a production server never sets this.
    pub keep_automated: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./vtrack-data"),
            trusted_proxies: Vec::new(),
            body_limit: 64 * 1024,
            queue_capacity: 50_000,
            durability: Durability::Fsync,
            client_clock_window: Duration::from_secs(24 * 3600),
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
            max_connections: 1000,
            metrics_token: None,
            keep_automated: false,
        }
    }
}

/// When the embedded pipeline (`serve` without `--kafka`) answers 202: what an accepted event survives.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Once the event is in the journal and the journal is flushed to the disk (`fdatasync`, one for every
    /// request that arrived meanwhile): it survives a killed process and a power cut.
    #[default]
    Fsync,
    /// Once the event is written to the journal (the kernel holds it): it survives a killed process; a power
    /// cut loses what the kernel had not written back (the journal is flushed every 50 ms).
    Write,
    /// Once the event is in the in-memory queue, as before the journal: a killed process loses what was
    /// queued and not yet stored (at most `queue_capacity` events). Faster; for benchmarks and throwaway data.
    Memory,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fsync" => Ok(Durability::Fsync),
            "write" => Ok(Durability::Write),
            "memory" => Ok(Durability::Memory),
            other => Err(format!("durability {other:?}: expected fsync, write or memory")),
        }
    }
}

/// The IP → company sources, layered: `companies` over `mmdb` over `asn_csv`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ResolveConfig {
    /// The customer's own ranges, CSV `cidr,name,domain[,class]`.
    pub companies: Vec<PathBuf>,
    /// MaxMind-format databases (City, ASN, ISP, Enterprise, or any with an organisation field).
    pub mmdb: Vec<PathBuf>,
    /// AS-level range files, CSV `start,end,asn,org` as in `@ip-location-db/asn`.
    pub asn_csv: Vec<PathBuf>,
    /// Country range files, CSV `start,end,country` as in `@ip-location-db/geo-whois-asn-country`: a place
    /// for addresses no MMDB places.
    pub country_csv: Vec<PathBuf>,
    /// A snapshot compiled by `vtrack build-db`, used instead of the sources above.
    pub db: Option<PathBuf>,
    /// How often `serve` runs `vtrack data update` into its data dir in the background (`"7d"`); off
    /// unless set. A failed update keeps the last good data.
    #[serde(deserialize_with = "optional_duration")]
    pub auto_update: Option<Duration>,
}

impl ResolveConfig {
    /// Whether any source or snapshot is named: without one, `serve` looks in its data dir for the data
    /// `vtrack data update` fetched.
    pub fn has_source(&self) -> bool {
        self.db.is_some()
            || !self.companies.is_empty()
            || !self.mmdb.is_empty()
            || !self.asn_csv.is_empty()
            || !self.country_csv.is_empty()
    }
}

/// A site that may send beacons.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The key the snippet's `data-site` carries.
    pub key: String,
    /// Origins allowed to post for this site (`https://www.example.com`); empty allows any.
    #[serde(default)]
    pub origins: Vec<String>,
    /// The site team's IANA time zone (`Europe/Berlin`), for the weekly digest's hour; UTC when unset.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Secrets a backend authenticates with on the server-side API (`Authorization: Bearer`); several, so
    /// one can be rotated: add the new one, move the backends, remove the old. Empty: no server-side API.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// The shortest server-side API secret: guessing one must be hopeless.
pub const MIN_SECRET_LEN: usize = 24;

impl SiteConfig {
    /// The site's time zone, checked by [`Config::check`] (the system's tz database, else jiff's bundled one).
    pub fn time_zone(&self) -> Result<jiff::tz::TimeZone, ConfigError> {
        match &self.timezone {
            None => Ok(jiff::tz::TimeZone::UTC),
            Some(name) => jiff::tz::TimeZone::get(name).map_err(|e| {
                ConfigError::Invalid(format!("sites.timezone {name:?} of site {:?} is not known: {e}", self.key))
            }),
        }
    }
}

/// How visits are cut into sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Inactivity that closes a session.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { timeout: Duration::from_secs(30 * 60) }
    }
}

/// How processing batches its writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// Most events written per batch (one transaction in SQLite, one round of inserts in ClickHouse).
    pub batch_max: usize,
    /// How long a batch waits to fill once it has its first event. Fewer, larger SQLite transactions
    /// rewrite fewer index pages: 100 ms sustained 2.5× the rate of 20 ms (`benches/README.md`).
    #[serde(deserialize_with = "duration")]
    pub batch_linger: Duration,
    /// Count, per AS network, site and day, the distinct /24s, cities and visitors its visitors come from
    /// (hashed into 64-bit sets, no address kept): the traffic evidence that re-classes a network named like a
    /// company whose visitors are spread like an access network's (`vtrack_model::evidence`).
    pub network_traffic: bool,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig { batch_max: 10_000, batch_linger: Duration::from_millis(100), network_traffic: true }
    }
}

/// How an account's interest is scored (`docs/guide/scoring.md`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringConfig {
    /// A point earned this long ago counts half.
    pub half_life_days: f64,
    /// Stage name → the score from which it applies. Below the lowest threshold an account is `base_stage`.
    pub stages: std::collections::BTreeMap<String, f64>,
    /// The stage below every threshold.
    pub base_stage: String,
    /// Page weights by URL-path pattern (`*` matches anything); the first match wins.
    pub pages: Vec<PageWeight>,
    /// Weight of a page view no pattern matches.
    pub default_page_weight: f64,
    /// Points per minute of engaged time on a page, counting at most `max_engaged_minutes` per page view.
    pub engaged_minute_weight: f64,
    pub max_engaged_minutes: f64,
    /// Most page and engaged-time points one visitor adds to an account per UTC day (0: no bound). Past it
    /// the visitor's points of that day are scaled down to it, so a script on one visitor id cannot make an
    /// account hot; keep it below the hot threshold.
    pub max_visitor_day_points: f64,
    /// Points for each session (visit).
    pub visit_weight: f64,
    /// Extra points for a session of an account seen in an earlier session.
    pub return_visit_weight: f64,
    /// Points for each distinct visitor from the account, when first seen.
    pub visitor_weight: f64,
    /// Topic name → URL-path patterns, so sales sees which products an account reads about.
    pub topics: std::collections::BTreeMap<String, Vec<String>>,
    /// Custom event name → points (`trial_started = 30`): a conversion a backend reports through the
    /// server-side API, or one the tracker sends, counts in the score like a page does. Unlisted events count
    /// nothing. Left out of the scoring fingerprint when empty, so a store scored before it existed is not
    /// rescored for it.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub event_weights: std::collections::BTreeMap<String, f64>,
    /// Your own company and partners: never scored, never alerted.
    pub exclude_domains: Vec<String>,
    /// Target accounts (by domain) whose score is multiplied by `target_boost`.
    pub target_domains: Vec<String>,
    pub target_boost: f64,
}

/// A URL-path pattern and its weight.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PageWeight {
    pub pattern: String,
    pub weight: f64,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        let pages = [("/pricing*", 10.0), ("/demo*", 15.0), ("/docs*", 3.0), ("/blog/*", 1.0), ("/careers*", 0.0)];
        ScoringConfig {
            half_life_days: 7.0,
            stages: [("warm".to_string(), 20.0), ("hot".to_string(), 50.0)].into_iter().collect(),
            base_stage: "cold".into(),
            pages: pages.iter().map(|(p, w)| PageWeight { pattern: p.to_string(), weight: *w }).collect(),
            default_page_weight: 1.0,
            engaged_minute_weight: 1.0,
            max_engaged_minutes: 5.0,
            max_visitor_day_points: 25.0,
            visit_weight: 2.0,
            return_visit_weight: 5.0,
            visitor_weight: 5.0,
            topics: Default::default(),
            event_weights: Default::default(),
            exclude_domains: Vec::new(),
            target_domains: Vec::new(),
            target_boost: 1.5,
        }
    }
}

/// When and where alerts go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub webhooks: Vec<WebhookConfig>,
    /// Also alert when an account that is already hot starts a new session.
    pub on_return_visit: bool,
    /// Also alert on a visit to one of these URL-path patterns by a scored account.
    pub hot_pages: Vec<String>,
    /// Once sales set a status other than `new`, alert again only when the score has risen this many points
    /// above what it was when the status was set: sales is already on it.
    pub recontact_margin: f64,
    /// An account whose network class is less sure than this (`class_confidence`, 0–100) is shown but raises
    /// no alert until evidence (an identity, your ranges, the network's reverse DNS or traffic) lifts it
    /// (`docs/guide/alerts.md`): a class that rests on a name alone is wrong about one time in six on
    /// networks nobody picked, and a wrong `business` turns a carrier's home users into a hot account.
    pub min_class_confidence: u8,
}

impl ScoringConfig {
    /// The stages with their thresholds, lowest first (the base stage, below them all, is not among them).
    pub fn stages_ascending(&self) -> Vec<(String, f64)> {
        let mut stages: Vec<(String, f64)> = self.stages.iter().map(|(k, v)| (k.clone(), *v)).collect();
        stages.sort_by(|a, b| a.1.total_cmp(&b.1));
        stages
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhooks: Vec::new(),
            on_return_visit: false,
            hot_pages: Vec::new(),
            recontact_margin: 20.0,
            min_class_confidence: 80,
        }
    }
}

/// Enrichment beside ingest (`[enrich]`): reverse DNS for addresses the hot path knows only as an ISP's.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// Reverse DNS (forward-confirmed PTR names); on unless turned off (`--no-rdns`).
    pub rdns: bool,
    /// DNS servers to ask, `host:port` (`--rdns-server`); the system's when empty.
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// How long one DNS query may take.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Addresses waiting for a lookup at most; more are dropped and counted.
    pub queue: usize,
    /// Lookups at once.
    pub concurrency: usize,
    /// How long a learned network answers before it is looked up again.
    #[serde(deserialize_with = "duration")]
    pub learned_ttl: Duration,
    /// RDAP, the registries' records of reassigned networks (`--rdap`). Off unless turned on: ARIN's and
    /// RIPE's terms forbid using their registry data for marketing.
    pub rdap: bool,
    /// One RDAP server for every address instead of IANA's bootstrap (`--rdap-server URL`).
    pub rdap_server: Option<String>,
    /// How long one RDAP request may take (a lookup retries a `5xx` and waits out a short `429`).
    #[serde(deserialize_with = "duration")]
    pub rdap_timeout: Duration,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            rdns: true,
            dns_servers: Vec::new(),
            timeout: Duration::from_secs(2),
            queue: 10_000,
            concurrency: 32,
            learned_ttl: Duration::from_secs(30 * 86_400),
            rdap: false,
            rdap_server: None,
            rdap_timeout: Duration::from_secs(15),
        }
    }
}

/// The dashboard and its API (`/`, `/api/…`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// Required by the dashboard and API (Bearer header, or the session cookie signing in with it gives).
    /// Without one (and without `users` or `proxy_user_header`) they are open on a loopback listen address
    /// and refused on any other. Whoever holds it is `admin`, named `admin` in the history.
    pub token: Option<String>,
    /// People with their own token and role (`[[dashboard.users]]`): the history names who did what.
    pub users: Vec<crate::users::DashboardUser>,
    /// The header a trusted reverse proxy (oauth2-proxy: `X-Forwarded-Email`, `X-Forwarded-User`) names
    /// the signed-in person by. Believed only from a direct peer in `[server] trusted_proxies`; off when
    /// unset.
    pub proxy_user_header: Option<String>,
    /// The role of a proxy-named person who is not in `users`.
    pub proxy_default_role: crate::users::Role,
    /// The sites a proxy-named person who is not in `users` may see; empty (the default) for every site.
    pub proxy_default_sites: Vec<String>,
    /// Where people open the dashboard (`https://vtrack.example.com`). Its host is the only one besides the
    /// loopback names the dashboard answers to, so a DNS-rebinding name cannot read it; an `https` URL also
    /// marks the session cookie `Secure`.
    pub public_url: Option<String>,
    /// How long a sign-in lasts. Sessions live in the process: a restart signs everyone out.
    #[serde(deserialize_with = "duration")]
    pub session_ttl: Duration,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            token: None,
            users: Vec::new(),
            proxy_user_header: None,
            proxy_default_role: crate::users::Role::Viewer,
            proxy_default_sites: Vec::new(),
            public_url: None,
            session_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

/// A token bucket: `rate` per second on average, up to `burst` at once. A rate of 0 turns it off.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub rate: f64,
    pub burst: f64,
}

/// Rate limits at the edge. The defaults are far above what real visitors send, a large office behind one
/// address included; they stop floods, not traffic.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Beacon requests (`/v1/events`, `/v1/p.gif`) per client address, after the trusted proxies.
    pub per_address: RateConfig,
    /// Events per site, all addresses together, counted by each ingest process on its own.
    pub per_site: RateConfig,
    /// Failed dashboard sign-ins (wrong token) per address.
    pub sign_in_failures: RateConfig,
    /// Server-side API events per secret (`[[sites]] secrets`).
    pub per_secret: RateConfig,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            per_address: RateConfig { rate: 50.0, burst: 500.0 },
            // Above what one ingest process takes (about 25,000 a second): a ceiling, not a throttle.
            per_site: RateConfig { rate: 100_000.0, burst: 1_000_000.0 },
            // Ten guesses, then one a minute.
            sign_in_failures: RateConfig { rate: 1.0 / 60.0, burst: 10.0 },
            per_secret: RateConfig { rate: 1_000.0, burst: 10_000.0 },
        }
    }
}

/// One webhook receiver.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// How the dashboard, the CLI and `/metrics` name this receiver; its URL is a credential (a Slack
    /// incoming webhook's is) and is shown to no one but an admin, and to them redacted. Default:
    /// `webhook N` (its place among the site webhooks), `escalation` for `[sla.escalation]`.
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    /// HMAC-SHA256 key for `X-Vtrack-Signature`.
    pub secret: String,
    #[serde(default)]
    pub format: WebhookFormat,
    /// At most one alert per account per window on this webhook.
    #[serde(default = "default_cooldown", deserialize_with = "duration")]
    pub cooldown: Duration,
    /// Attempts before a delivery is given up as failed.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Per-request timeout.
    #[serde(default = "default_webhook_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

pub(crate) fn default_cooldown() -> Duration {
    Duration::from_secs(24 * 3600)
}
pub(crate) fn default_attempts() -> u32 {
    8
}
pub(crate) fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}

/// The payload's shape.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// vtrack's own JSON (`docs/guide/alerts.md`).
    #[default]
    Json,
    /// A Slack incoming-webhook message.
    Slack,
}

/// The host of an `http(s)://host[:port][/]` URL, lowercase; `None` for anything else.
pub fn public_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) || authority.contains(char::is_whitespace) {
        return None;
    }
    Some(host_of(authority).to_ascii_lowercase())
}

/// The host part of a `Host` header or URL authority: `[::1]:8080` → `[::1]`, `a.example:80` → `a.example`.
pub fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map(|end| &authority[..=end]).unwrap_or(authority);
    }
    authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority)
}

/// Reads `"30m"`, `"24h"`, `"7d"` (humantime syntax).
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| serde::de::Error::custom(format!("bad duration {s:?}: {e}")))
}

/// Reads an optional humantime duration; a key that is absent stays `None`.
fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Why a config file could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("config: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads and checks a TOML config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let config: Config =
            toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })?;
        config.check_file()?;
        Ok(config)
    }

    /// [`Config::check_file`], and that every site a dashboard person is limited to is configured: the
    /// serving commands call it once their flags (`--site`) are applied over the file.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.check_file()?;
        crate::users::check_sites(
            &self.dashboard.users,
            &self.sites.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
            &self.dashboard.proxy_default_sites,
        )
    }

    /// Checks what serde cannot in the file alone: unique, well-formed site keys and sane limits. What a
    /// flag may still complete (a `--site` that a dashboard person is limited to) is [`Config::check`]'s.
    pub fn check_file(&self) -> Result<(), ConfigError> {
        let mut keys = std::collections::HashSet::new();
        for site in &self.sites {
            let ok = !site.key.is_empty()
                && site.key.len() <= crate::event::MAX_NAME_LEN
                && site.key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
            if !ok {
                return Err(ConfigError::Invalid(format!("sites.key {:?} must be 1-64 of [A-Za-z0-9._:-]", site.key)));
            }
            if !keys.insert(&site.key) {
                return Err(ConfigError::Invalid(format!("sites.key {:?} is listed twice", site.key)));
            }
            site.time_zone()?;
            for secret in &site.secrets {
                if secret.len() < MIN_SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(ConfigError::Invalid(format!(
                        "sites.secrets of site {:?}: each secret must be at least {MIN_SECRET_LEN} printable \
                         characters without spaces (e.g. `openssl rand -hex 24`)",
                        site.key
                    )));
                }
            }
            for origin in &site.origins {
                if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.ends_with('/') {
                    return Err(ConfigError::Invalid(format!(
                        "sites.origins {origin:?} of site {:?} must look like https://www.example.com (scheme, host, \
                         no path)",
                        site.key
                    )));
                }
            }
        }
        if self.server.body_limit < 1024 {
            return Err(ConfigError::Invalid("server.body_limit must be at least 1024 bytes".into()));
        }
        if self.server.queue_capacity == 0 {
            return Err(ConfigError::Invalid("server.queue_capacity must be at least 1".into()));
        }
        if self.server.header_timeout.is_zero() || self.server.request_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "server.header_timeout and server.request_timeout must be above 0".into(),
            ));
        }
        if self.server.max_connections == 0 {
            return Err(ConfigError::Invalid("server.max_connections must be at least 1".into()));
        }
        for (name, r) in [
            ("per_address", &self.limits.per_address),
            ("per_site", &self.limits.per_site),
            ("sign_in_failures", &self.limits.sign_in_failures),
            ("per_secret", &self.limits.per_secret),
        ] {
            if !(r.rate.is_finite() && r.rate >= 0.0) {
                return Err(ConfigError::Invalid(format!("limits.{name}.rate must be 0 (off) or more")));
            }
            if !(r.burst.is_finite() && r.burst >= 1.0) {
                return Err(ConfigError::Invalid(format!("limits.{name}.burst must be at least 1")));
            }
        }
        if let Some(url) = &self.dashboard.public_url {
            if public_host(url).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "dashboard.public_url {url:?} must look like https://vtrack.example.com"
                )));
            }
        }
        crate::users::check(
            &self.dashboard.users,
            self.dashboard.token.as_deref(),
            self.dashboard.proxy_user_header.as_deref(),
        )?;
        if self.dashboard.session_ttl < Duration::from_secs(60) {
            return Err(ConfigError::Invalid("dashboard.session_ttl must be at least 1m".into()));
        }
        if self.process.batch_max == 0 {
            return Err(ConfigError::Invalid("process.batch_max must be at least 1".into()));
        }
        if let Some(k) = &self.kafka {
            if k.brokers.trim().is_empty() || k.topic.is_empty() || k.group.is_empty() {
                return Err(ConfigError::Invalid(
                    "kafka.brokers, kafka.topic and kafka.group must not be empty".into(),
                ));
            }
            if k.partitions < 1 || k.replication < 1 || k.max_in_flight == 0 {
                return Err(ConfigError::Invalid(
                    "kafka.partitions, kafka.replication and kafka.max_in_flight must be at least 1".into(),
                ));
            }
            if k.delivery_timeout.is_zero() {
                return Err(ConfigError::Invalid("kafka.delivery_timeout must be above 0".into()));
            }
        }
        if let Some(c) = &self.clickhouse {
            if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
                return Err(ConfigError::Invalid("clickhouse.url must start with http:// or https://".into()));
            }
        }
        let sc = &self.scoring;
        if !sc.half_life_days.is_finite() || sc.half_life_days <= 0.0 {
            return Err(ConfigError::Invalid("scoring.half_life_days must be more than 0".into()));
        }
        if !sc.max_visitor_day_points.is_finite() || sc.max_visitor_day_points < 0.0 {
            return Err(ConfigError::Invalid("scoring.max_visitor_day_points must be 0 (no bound) or more".into()));
        }
        if sc.stages.is_empty() || sc.stages.values().any(|t| !t.is_finite() || *t <= 0.0) {
            return Err(ConfigError::Invalid(
                "scoring.stages needs at least one stage, each with a threshold above 0".into(),
            ));
        }
        let weights = [
            ("scoring.default_page_weight", sc.default_page_weight),
            ("scoring.engaged_minute_weight", sc.engaged_minute_weight),
            ("scoring.max_engaged_minutes", sc.max_engaged_minutes),
            ("scoring.visit_weight", sc.visit_weight),
            ("scoring.return_visit_weight", sc.return_visit_weight),
            ("scoring.visitor_weight", sc.visitor_weight),
            ("scoring.target_boost", sc.target_boost),
            ("alerts.recontact_margin", self.alerts.recontact_margin),
        ];
        let pages = sc.pages.iter().map(|p| ("scoring.pages.weight", p.weight));
        let pages = pages.chain(sc.event_weights.values().map(|w| ("scoring.event_weights", *w)));
        if let Some((name, _)) = weights.into_iter().chain(pages).find(|(_, w)| !w.is_finite()) {
            return Err(ConfigError::Invalid(format!("{name} must be a number (not nan or inf)")));
        }
        if self.alerts.min_class_confidence > 100 {
            return Err(ConfigError::Invalid(format!(
                "alerts.min_class_confidence is {}: a confidence is 0-100",
                self.alerts.min_class_confidence
            )));
        }
        for (i, w) in self.alerts.webhooks.iter().enumerate() {
            // Named by place, not by URL: the URL is a credential and config errors reach logs.
            let which = w.name.clone().unwrap_or_else(|| format!("webhook {}", i + 1));
            check_webhook("alerts.webhooks", &which, w)?;
        }
        let e = &self.enrich;
        if e.timeout.is_zero() || e.rdap_timeout.is_zero() {
            return Err(ConfigError::Invalid("enrich.timeout and enrich.rdap_timeout must be above 0".into()));
        }
        if let Some(url) = &e.rdap_server {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!("enrich.rdap_server {url:?} must be http(s)")));
            }
        }
        if self.resolve.auto_update.is_some_and(|every| every < Duration::from_secs(3600)) {
            return Err(ConfigError::Invalid(
                "resolve.auto_update must be at least 1h: the data is published daily".into(),
            ));
        }
        if self.sessions.timeout < Duration::from_secs(60) {
            return Err(ConfigError::Invalid("sessions.timeout must be at least 1m".into()));
        }
        crate::owners::check(&self.owners, &self.assign)?;
        self.digest.weekday()?;
        if !(0..=23).contains(&self.digest.hour) {
            return Err(ConfigError::Invalid("digest.hour must be 0 to 23".into()));
        }
        if self.sla.hot_followup.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::Invalid("sla.hot_followup must be above 0".into()));
        }
        self.sla.followup()?;
        if let Some(w) = &self.sla.escalation {
            check_webhook("sla.escalation", w.name.as_deref().unwrap_or("escalation"), w)?;
        }
        Ok(())
    }
}

/// A webhook's url, secret, attempts and timeout; `at` names where it is configured.
/// Checks one receiver, `which` (its name); errors name its section, key and name, and never print its URL,
/// which is a credential.
fn check_webhook(at: &str, which: &str, w: &WebhookConfig) -> Result<(), ConfigError> {
    let bad_name = |n: &str| n.trim().is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control);
    if w.name.as_deref().is_some_and(bad_name) {
        return Err(ConfigError::Invalid(format!("{at}.name must be 1-100 printable characters")));
    }
    if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
        return Err(ConfigError::Invalid(format!("{at}.url of {which} must be http(s)")));
    }
    if w.secret.is_empty() {
        return Err(ConfigError::Invalid(format!("{at}.secret: {which} needs a secret to sign with")));
    }
    if w.max_attempts == 0 {
        return Err(ConfigError::Invalid(format!("{at}.max_attempts of {which} must be at least 1")));
    }
    if w.timeout.is_zero() {
        return Err(ConfigError::Invalid(format!("{at}.timeout of {which} must be above 0")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_file_parses() {
        let c: Config = toml::from_str(
            r#"
            [server]
            listen = "0.0.0.0:9000"
            trusted_proxies = ["10.0.0.0/8", "::1/128"]
            client_clock_window = "30d"
            [resolve]
            companies = ["c.csv"]
            [[sites]]
            key = "acme-web"
            origins = ["https://www.acme.example"]
            [sessions]
            timeout = "45m"
            "#,
        )
        .unwrap();
        c.check().unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.server.trusted_proxies.len(), 2);
        assert_eq!(c.server.client_clock_window, Duration::from_secs(30 * 86400));
        assert_eq!(c.sessions.timeout, Duration::from_secs(45 * 60));
        assert_eq!(c.server.body_limit, 65536);
        assert_eq!(c.resolve.auto_update, None, "auto_update is opt-in");
    }

    #[test]
    fn auto_update_takes_a_duration_of_an_hour_or_more() {
        let c: Config = toml::from_str("[resolve]\nauto_update = \"7d\"").unwrap();
        c.check().unwrap();
        assert_eq!(c.resolve.auto_update, Some(Duration::from_secs(7 * 86400)));
        let c: Config = toml::from_str("[resolve]\nauto_update = \"5m\"").unwrap();
        assert!(c.check().unwrap_err().to_string().contains("auto_update"));
        assert!(toml::from_str::<Config>("[resolve]\nauto_update = \"weekly\"").is_err());
    }

    proptest::proptest! {
        /// Any text is a config or an error, never a panic, and `check` never panics on what parses.
        #[test]
        fn any_text_loads_or_is_refused(text in ".{0,300}") {
            if let Ok(c) = toml::from_str::<Config>(&text) {
                let _ = c.check();
            }
        }
    }

    // Files of real sections and keys with valid and with wrong values: `tests/config_values.rs`.

    #[test]
    fn typos_and_bad_values_are_errors() {
        assert!(toml::from_str::<Config>("[server]\nlisten_addr = \"x\"").is_err());
        assert!(toml::from_str::<Config>("[sessions]\ntimeout = \"soon\"").is_err());
        let c: Config = toml::from_str("[[sites]]\nkey = \"a b\"").unwrap();
        assert!(c.check().unwrap_err().to_string().contains("a b"));
        let c: Config = toml::from_str("[[sites]]\nkey = \"a\"\norigins = [\"https://x.example/\"]").unwrap();
        assert!(c.check().is_err());
    }

    #[test]
    fn dashboard_users_load_and_are_checked_with_the_shared_token() {
        let c: Config = toml::from_str(
            "[dashboard]\ntoken = \"shared\"\nproxy_user_header = \"X-Forwarded-Email\"\nproxy_default_role = \"sales\"\n\
             [[dashboard.users]]\nname = \"sam\"\ntoken = \"t1\"\nrole = \"admin\"\n\
             [[dashboard.users]]\nname = \"pat@ourco.example\"",
        )
        .unwrap();
        c.check().unwrap();
        assert_eq!(c.dashboard.users[0].role, crate::users::Role::Admin);
        assert_eq!(c.dashboard.users[1].role, crate::users::Role::Viewer, "viewer unless stated");
        assert_eq!(c.dashboard.proxy_default_role, crate::users::Role::Sales);
        assert_eq!(Config::default().dashboard.proxy_default_role, crate::users::Role::Viewer);
        let clash: Config =
            toml::from_str("[dashboard]\ntoken = \"same\"\n[[dashboard.users]]\nname = \"sam\"\ntoken = \"same\"")
                .unwrap();
        assert!(clash.check().unwrap_err().to_string().contains("someone else's"));
        let role = toml::from_str::<Config>("[[dashboard.users]]\nname = \"sam\"\ntoken = \"t\"\nrole = \"root\"");
        assert!(role.unwrap_err().to_string().contains("root"));
    }

    #[test]
    fn business_hours_take_a_span_days_and_a_zone() {
        let c: Config = toml::from_str(
            "[sla]\nhot_followup = \"8h\"\nbusiness_hours = \"09:00-17:00\"\ntimezone = \"Europe/Berlin\"",
        )
        .unwrap();
        c.check().unwrap();
        let f = c.sla.followup().unwrap().unwrap();
        let h = f.hours.unwrap();
        assert_eq!((h.start_min, h.end_min, h.days.len()), (540, 1020, 5), "Monday to Friday by default");
        for bad in [
            "[sla]\nhot_followup = \"8h\"\nbusiness_hours = \"17-9\"",
            "[sla]\nhot_followup = \"8h\"\nbusiness_hours = \"09:00-17:00\"\nbusiness_days = [\"mon\", \"xyz\"]",
            "[sla]\nhot_followup = \"8h\"\ntimezone = \"Europe/Berlin\"",
        ] {
            assert!(toml::from_str::<Config>(bad).unwrap().check().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_digest_takes_a_weekday_an_hour_and_each_site_a_known_time_zone() {
        let c: Config = toml::from_str(
            "[digest]\nenabled = true\nweekday = \"tue\"\nhour = 9\n[[sites]]\nkey = \"a\"\ntimezone = \"Europe/Berlin\"",
        )
        .unwrap();
        c.check().unwrap();
        assert_eq!(c.digest.weekday().unwrap(), jiff::civil::Weekday::Tuesday);
        assert_eq!(c.sites[0].time_zone().unwrap().iana_name(), Some("Europe/Berlin"));
        assert_eq!(Config::default().digest, DigestConfig { enabled: false, weekday: "monday".into(), hour: 8 });
        for bad in [
            "[digest]\nweekday = \"someday\"",
            "[digest]\nhour = 24",
            "[[sites]]\nkey = \"a\"\ntimezone = \"Mars/Olympus\"",
        ] {
            assert!(toml::from_str::<Config>(bad).unwrap().check().is_err(), "{bad}");
        }
    }
}
