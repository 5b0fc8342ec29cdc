//! The config loader on files a person could write: the config's own sections and keys ([`SECTIONS`],
//! [`KEYS`]; `the_catalogue_holds_every_key_the_config_structs_accept` keeps them equal to what the structs
//! accept), each with the values it takes.
//!
//! - Valid values for any set of keys make a file that loads: it parses and `Config::check` passes.
//! - One wrong value in such a file — of the wrong type, a number out of range, a malformed duration, CIDR,
//!   address, URL or time zone, an unknown enum value — makes it refused, with an error that names the key:
//!   the dotted key (`server.body_limit`) when `check` refuses it, the offending `key = value` line (which
//!   the TOML parser's error shows) when the parser does.

mod common;

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use std::collections::BTreeSet;
use vtrack_model::Config;

/// What a key holds: which values are valid, and which wrong ones to try.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Bool,
    /// An unsigned integer (`usize`, `u32`) from `min` to `max`.
    Count {
        min: i64,
        max: i64,
    },
    /// A signed integer (`i32`, `i8`) `check` holds between `min` and `max`; `type_max` is the type's.
    Int {
        min: i64,
        max: i64,
        type_max: i64,
    },
    /// A float `check` holds finite and at least `min` (above it when `open`).
    Float {
        min: f64,
        open: bool,
    },
    /// Any finite float (a scoring weight).
    Weight,
    /// Any string.
    Text,
    /// A string `check` holds not empty.
    NonEmpty,
    Path,
    Paths,
    Strings,
    /// A humantime duration of at least `min_secs` (more than 0 when `above_zero`).
    Duration {
        min_secs: u64,
        above_zero: bool,
    },
    Cidrs,
    SocketAddr,
    SocketAddrs,
    /// An `http(s)://` URL.
    HttpUrl,
    /// `dashboard.public_url`: scheme and host, no path.
    PublicUrl,
    Enum(&'static [&'static str]),
    TimeZone,
    SiteKey,
    Origins,
    /// A list of server-side API secrets: 24 or more printable characters, no spaces.
    Secrets,
    /// A person's name, 1-100 characters.
    Name,
    /// `owners.name`: `ana`, whom the assignment rules name.
    Owner,
    /// `assign.owner` and `assign.team`: naming `ana`.
    AssignOwner,
    Team,
    /// A dashboard user's own token (`tok-…`: never a generated `dashboard.token`, which has no `-`).
    UserToken,
    HeaderName,
    Countries,
    Classes,
    Weekday,
    Days,
    /// `"09:00-17:00"`.
    Span,
    /// `scoring.stages`: stage name → threshold above 0.
    Stages,
    /// A map of event names to finite weights.
    EventWeights,
    /// `scoring.topics`: topic name → URL-path patterns.
    Topics,
    /// Site keys a dashboard person is limited to: each must be a `[[sites]]` key (valid here: none, which is
    /// every site, as the file's sites vary).
    SiteKeys,
}

use Kind::*;

const NO_MAX: i64 = i64::MAX;
const U32: i64 = u32::MAX as i64;
const I32: i64 = i32::MAX as i64;
const DURABILITY: &[&str] = &["fsync", "write", "memory"];
const FORMATS: &[&str] = &["json", "slack"];
const ROLES: &[&str] = &["viewer", "sales", "admin"];
const WEEKDAYS: &[&str] =
    &["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mon", "Tue", "SUN"];
const DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const CLASSES: &[&str] = &["business", "isp", "hosting", "education", "government", "unknown"];
const ZONES: &[&str] = &["UTC", "Europe/Berlin", "Asia/Tokyo", "America/New_York"];

/// A section of the file: `[name]`, or `[[name]]` when `array`; `base` is what it needs to load at all
/// (an array element's required keys), and `with` the sections that need it (the rules name an owner).
struct Section {
    name: &'static str,
    array: bool,
    base: &'static [(&'static str, &'static str)],
    with: &'static [&'static str],
}

const fn table(name: &'static str) -> Section {
    Section { name, array: false, base: &[], with: &[] }
}

/// Every section, parents before their children.
const SECTIONS: &[Section] = &[
    table("server"),
    table("resolve"),
    Section { name: "sites", array: true, base: &[("key", "\"s1\"")], with: &[] },
    table("sessions"),
    table("process"),
    table("scoring"),
    Section { name: "scoring.pages", array: true, base: &[("pattern", "\"/p*\""), ("weight", "1.0")], with: &[] },
    table("alerts"),
    Section {
        name: "alerts.webhooks",
        array: true,
        base: &[("url", "\"http://127.0.0.1:9/h\""), ("secret", "\"k\"")],
        with: &[],
    },
    table("dashboard"),
    Section { name: "dashboard.users", array: true, base: &[("name", "\"sam\""), ("token", "\"t-sam\"")], with: &[] },
    table("enrich"),
    table("limits"),
    Section { name: "limits.per_address", array: false, base: &[("rate", "1.0"), ("burst", "10.0")], with: &[] },
    Section { name: "limits.per_site", array: false, base: &[("rate", "1.0"), ("burst", "10.0")], with: &[] },
    Section { name: "limits.sign_in_failures", array: false, base: &[("rate", "1.0"), ("burst", "10.0")], with: &[] },
    Section { name: "limits.per_secret", array: false, base: &[("rate", "1.0"), ("burst", "10.0")], with: &[] },
    Section { name: "kafka", array: false, base: &[("brokers", "\"127.0.0.1:9092\"")], with: &[] },
    Section { name: "clickhouse", array: false, base: &[("url", "\"http://127.0.0.1:8123\"")], with: &[] },
    Section { name: "owners", array: true, base: &[("name", "\"ana\""), ("secret", "\"k\"")], with: &["assign"] },
    Section { name: "assign", array: true, base: &[("owner", "\"ana\"")], with: &[] },
    Section {
        name: "sla",
        array: false,
        base: &[("hot_followup", "\"8h\""), ("business_hours", "\"09:00-17:00\"")],
        with: &[],
    },
    Section {
        name: "sla.escalation",
        array: false,
        base: &[("url", "\"http://127.0.0.1:9/lead\""), ("secret", "\"k\"")],
        with: &[],
    },
    table("digest"),
];

/// A key: its section, its name, what it holds; setting it drops the section's `drops` key (an assignment
/// rule names an owner or a team, not both).
#[derive(Clone, Copy, Debug)]
struct Key {
    section: &'static str,
    key: &'static str,
    kind: Kind,
    drops: Option<&'static str>,
}

const fn k(section: &'static str, key: &'static str, kind: Kind) -> Key {
    Key { section, key, kind, drops: None }
}

const fn dur(min_secs: u64) -> Kind {
    Duration { min_secs, above_zero: false }
}

const ABOVE_ZERO: Kind = Duration { min_secs: 0, above_zero: true };

const fn count(min: i64) -> Kind {
    Count { min, max: NO_MAX }
}

/// Every key of every section (the maps `scoring.stages` and `scoring.topics` as one key each).
const KEYS: &[Key] = &[
    k("server", "listen", SocketAddr),
    k("server", "data_dir", Path),
    k("server", "trusted_proxies", Cidrs),
    k("server", "body_limit", count(1024)),
    k("server", "queue_capacity", count(1)),
    k("server", "durability", Enum(DURABILITY)),
    k("server", "client_clock_window", dur(0)),
    k("server", "header_timeout", ABOVE_ZERO),
    k("server", "request_timeout", ABOVE_ZERO),
    k("server", "max_connections", count(1)),
    k("server", "metrics_token", Text),
    k("server", "keep_automated", Bool),
    k("resolve", "companies", Paths),
    k("resolve", "mmdb", Paths),
    k("resolve", "asn_csv", Paths),
    k("resolve", "country_csv", Paths),
    k("resolve", "db", Path),
    k("resolve", "auto_update", dur(3600)),
    k("sites", "key", SiteKey),
    k("sites", "origins", Origins),
    k("sites", "timezone", TimeZone),
    k("sites", "secrets", Secrets),
    k("sessions", "timeout", dur(60)),
    k("process", "batch_max", count(1)),
    k("process", "batch_linger", dur(0)),
    k("process", "network_traffic", Bool),
    k("scoring", "half_life_days", Float { min: 0.0, open: true }),
    k("scoring", "stages", Stages),
    k("scoring", "base_stage", Text),
    k("scoring", "default_page_weight", Weight),
    k("scoring", "engaged_minute_weight", Weight),
    k("scoring", "max_engaged_minutes", Weight),
    k("scoring", "max_visitor_day_points", Float { min: 0.0, open: false }),
    k("scoring", "visit_weight", Weight),
    k("scoring", "return_visit_weight", Weight),
    k("scoring", "visitor_weight", Weight),
    k("scoring", "topics", Topics),
    k("scoring", "event_weights", EventWeights),
    k("scoring", "exclude_domains", Strings),
    k("scoring", "target_domains", Strings),
    k("scoring", "target_boost", Weight),
    k("scoring.pages", "pattern", Text),
    k("scoring.pages", "weight", Weight),
    k("alerts", "on_return_visit", Bool),
    k("alerts", "hot_pages", Strings),
    k("alerts", "recontact_margin", Weight),
    k("alerts", "min_class_confidence", Count { min: 0, max: 100 }),
    k("alerts.webhooks", "name", Name),
    k("alerts.webhooks", "url", HttpUrl),
    k("alerts.webhooks", "secret", NonEmpty),
    k("alerts.webhooks", "format", Enum(FORMATS)),
    k("alerts.webhooks", "cooldown", dur(0)),
    k("alerts.webhooks", "max_attempts", Count { min: 1, max: U32 }),
    k("alerts.webhooks", "timeout", ABOVE_ZERO),
    k("dashboard", "token", Text),
    k("dashboard", "proxy_user_header", HeaderName),
    k("dashboard", "proxy_default_role", Enum(ROLES)),
    k("dashboard", "proxy_default_sites", SiteKeys),
    k("dashboard", "public_url", PublicUrl),
    k("dashboard", "session_ttl", dur(60)),
    k("dashboard.users", "name", Name),
    k("dashboard.users", "token", UserToken),
    k("dashboard.users", "role", Enum(ROLES)),
    k("dashboard.users", "sites", SiteKeys),
    k("enrich", "rdns", Bool),
    k("enrich", "dns_servers", SocketAddrs),
    k("enrich", "timeout", ABOVE_ZERO),
    k("enrich", "queue", count(0)),
    k("enrich", "concurrency", count(0)),
    k("enrich", "learned_ttl", dur(0)),
    k("enrich", "rdap", Bool),
    k("enrich", "rdap_server", HttpUrl),
    k("enrich", "rdap_timeout", ABOVE_ZERO),
    k("limits.per_address", "rate", Float { min: 0.0, open: false }),
    k("limits.per_address", "burst", Float { min: 1.0, open: false }),
    k("limits.per_site", "rate", Float { min: 0.0, open: false }),
    k("limits.per_site", "burst", Float { min: 1.0, open: false }),
    k("limits.sign_in_failures", "rate", Float { min: 0.0, open: false }),
    k("limits.sign_in_failures", "burst", Float { min: 1.0, open: false }),
    k("limits.per_secret", "rate", Float { min: 0.0, open: false }),
    k("limits.per_secret", "burst", Float { min: 1.0, open: false }),
    k("kafka", "brokers", NonEmpty),
    k("kafka", "topic", NonEmpty),
    k("kafka", "group", NonEmpty),
    k("kafka", "partitions", Int { min: 1, max: I32, type_max: I32 }),
    k("kafka", "replication", Int { min: 1, max: I32, type_max: I32 }),
    k("kafka", "max_in_flight", count(1)),
    k("kafka", "delivery_timeout", ABOVE_ZERO),
    k("clickhouse", "url", HttpUrl),
    k("clickhouse", "retention_days", Count { min: 0, max: U32 }),
    // Its name is checked where the store opens (`vtrack_store::clickhouse::Cluster::new`), with the cluster.
    k("clickhouse", "cluster", Text),
    k("owners", "name", Owner),
    k("owners", "email", Text),
    k("owners", "webhook", HttpUrl),
    k("owners", "slack", HttpUrl),
    k("owners", "secret", Text),
    k("assign", "countries", Countries),
    k("assign", "domains", Strings),
    k("assign", "domains_file", Path),
    k("assign", "class", Classes),
    Key { section: "assign", key: "owner", kind: AssignOwner, drops: Some("team") },
    Key { section: "assign", key: "team", kind: Team, drops: Some("owner") },
    k("sla", "hot_followup", ABOVE_ZERO),
    k("sla", "business_hours", Span),
    k("sla", "business_days", Days),
    k("sla", "timezone", TimeZone),
    k("sla.escalation", "name", Name),
    k("sla.escalation", "url", HttpUrl),
    k("sla.escalation", "secret", NonEmpty),
    k("sla.escalation", "format", Enum(FORMATS)),
    k("sla.escalation", "cooldown", dur(0)),
    k("sla.escalation", "max_attempts", Count { min: 1, max: U32 }),
    k("sla.escalation", "timeout", ABOVE_ZERO),
    k("digest", "enabled", Bool),
    k("digest", "weekday", Weekday),
    k("digest", "hour", Int { min: 0, max: 23, type_max: i8::MAX as i64 }),
];

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

fn array(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

fn float(x: f64) -> String {
    format!("{x:?}")
}

/// A TOML string of `regex`'s matches (ASCII without quotes or backslashes).
fn text(regex: &'static str) -> BoxedStrategy<String> {
    regex.prop_map(|s| quoted(&s)).boxed()
}

fn list(item: BoxedStrategy<String>, max: usize) -> BoxedStrategy<String> {
    proptest::collection::vec(item, 0..=max).prop_map(|v| array(&v)).boxed()
}

fn one_of(values: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(values).prop_map(quoted).boxed()
}

/// Valid values of `kind`, as TOML.
fn valid(kind: Kind) -> BoxedStrategy<String> {
    match kind {
        Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        Count { min, max } => (min..=max.min(min + 100_000)).prop_map(|n| n.to_string()).boxed(),
        Int { min, max, .. } => (min..=max).prop_map(|n| n.to_string()).boxed(),
        Float { min, open } => {
            (0.0f64..1000.0).prop_map(move |x| float(min + x + if open { 0.001 } else { 0.0 })).boxed()
        }
        Weight => (-100.0f64..100.0).prop_map(float).boxed(),
        Text | NonEmpty => text("[a-z][a-z0-9]{0,15}"),
        Path => text("[a-z]{1,8}/[a-z]{1,8}\\.csv"),
        Paths => list(valid(Path), 3),
        Strings => list(text("[a-z./*-]{1,12}"), 3),
        Duration { min_secs, above_zero } => {
            let least = min_secs.max(u64::from(above_zero));
            (least..least + 100_000, 0..3usize)
                .prop_map(|(secs, unit)| match unit {
                    0 => format!("\"{secs}s\""),
                    1 => format!("\"{}m\"", secs.div_ceil(60)),
                    _ => format!("\"{}h\"", secs.div_ceil(3600)),
                })
                .boxed()
        }
        Cidrs => list(one_of(&["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "127.0.0.1/32"]), 3),
        SocketAddr => (1u16.., any::<bool>())
            .prop_map(|(port, v6)| if v6 { format!("\"[::1]:{port}\"") } else { format!("\"127.0.0.1:{port}\"") })
            .boxed(),
        SocketAddrs => list(valid(SocketAddr), 3),
        HttpUrl => text("https?://[a-z]{1,8}\\.example(:[1-9][0-9]{1,3})?/[a-z]{0,6}"),
        PublicUrl => text("https?://[a-z]{1,8}\\.example(:[1-9][0-9]{1,3})?/?"),
        Enum(values) => one_of(values),
        TimeZone => one_of(ZONES),
        SiteKey => text("[A-Za-z0-9._:-]{1,64}"),
        Origins => list(text("https?://[a-z]{1,8}\\.example(:[1-9][0-9]{1,3})?"), 3),
        Secrets => list(text("[A-Za-z0-9_-]{24,40}"), 3),
        Name => text("[a-z][a-z .@]{0,99}"),
        Owner | AssignOwner => Just(quoted("ana")).boxed(),
        Team => Just(array(&[quoted("ana")])).boxed(),
        UserToken => text("tok-[a-z]{4}"),
        HeaderName => text("[A-Za-z][A-Za-z0-9-]{0,20}"),
        Countries => list(text("[a-zA-Z]{2}"), 3),
        Classes => list(one_of(CLASSES), 3),
        Weekday => one_of(WEEKDAYS),
        Days => list(one_of(DAYS), 3),
        Span => (0i32..1439)
            .prop_flat_map(|start| (Just(start), start + 1..=1439))
            .prop_map(|(a, b)| format!("\"{:02}:{:02}-{:02}:{:02}\"", a / 60, a % 60, b / 60, b % 60))
            .boxed(),
        Stages => proptest::collection::btree_map("[a-z]{1,8}", 0.001f64..1000.0, 1..=3)
            .prop_map(|m| {
                format!(
                    "{{ {} }}",
                    m.iter().map(|(k, v)| format!("{k} = {}", float(*v))).collect::<Vec<_>>().join(", ")
                )
            })
            .boxed(),
        EventWeights => proptest::collection::btree_map("[a-z_]{1,12}", -100.0f64..100.0, 0..=3)
            .prop_map(|m| {
                format!(
                    "{{ {} }}",
                    m.iter().map(|(k, v)| format!("{k} = {}", float(*v))).collect::<Vec<_>>().join(", ")
                )
            })
            .boxed(),
        SiteKeys => Just("[]".to_string()).boxed(),
        Topics => {
            proptest::collection::btree_map("[a-z]{1,8}", proptest::collection::vec("/[a-z]{1,6}\\*?", 0..=2), 0..=3)
                .prop_map(|m| {
                    let topic = |(k, v): (&String, &Vec<String>)| {
                        format!("{k} = {}", array(&v.iter().map(|p| quoted(p)).collect::<Vec<_>>()))
                    };
                    format!("{{ {} }}", m.iter().map(topic).collect::<Vec<_>>().join(", "))
                })
                .boxed()
        }
    }
}

/// Wrong values of `kind`, as TOML: each must be refused.
fn wrong(kind: Kind) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut out = match kind {
        Bool => s(&["\"yes\"", "1", "\"true\""]),
        Count { min, max } => {
            let mut v = s(&["\"ten\"", "-1", "1.5", "true"]);
            if min > 0 {
                v.push((min - 1).to_string());
            }
            v.push(if max == NO_MAX { "18446744073709551616".to_string() } else { (max + 1).to_string() });
            v
        }
        Int { min, max, type_max } => {
            let mut v = s(&["\"one\"", "1.5"]);
            v.extend([min - 1, max + 1, type_max + 1].map(|n| n.to_string()));
            v
        }
        Float { min, open } => {
            let mut v = s(&["\"x\"", "nan", "inf", "-inf", "true"]);
            v.push(float(if open { min } else { min - 0.5 }));
            v
        }
        Weight => s(&["\"x\"", "nan", "inf", "-inf"]),
        Text | Path => s(&["5", "true", "[\"a\"]"]),
        NonEmpty => s(&["\"\"", "5"]),
        Paths | Strings => s(&["5", "\"a.csv\"", "[5]"]),
        Duration { min_secs, above_zero } => {
            let mut v = s(&["\"soon\"", "\"5 parsecs\"", "\"\"", "30", "\"-5m\"", "\"5\""]);
            if min_secs > 0 {
                v.push(format!("\"{}s\"", min_secs - 1));
            }
            if above_zero {
                v.push("\"0s\"".into());
            }
            v
        }
        Cidrs => s(&["[\"10.0.0.0/33\"]", "[\"300.0.0.0/8\"]", "[\"10.0.0.0/x\"]", "\"10.0.0.0/8\"", "[5]"]),
        SocketAddr => s(&["\"localhost:80\"", "\"127.0.0.1\"", "\"127.0.0.1:70000\"", "8080"]),
        SocketAddrs => s(&["[\"localhost:53\"]", "[\"127.0.0.1\"]", "\"127.0.0.1:53\""]),
        HttpUrl => s(&["\"ftp://x.example\"", "\"x.example\"", "\"\"", "5"]),
        PublicUrl => s(&["\"https://x.example/path\"", "\"x.example\"", "\"ftp://x.example\"", "5"]),
        Enum(values) => vec!["\"bogus\"".into(), "1".into(), quoted(&values[0].to_uppercase())],
        TimeZone => s(&["\"Mars/Olympus\"", "\"Europe/Atlantis\"", "5"]),
        SiteKey => vec!["\"\"".into(), "\"a b\"".into(), quoted(&"a".repeat(65)), "5".into()],
        Origins => s(&["[\"https://x.example/\"]", "[\"x.example\"]", "\"https://x.example\""]),
        Secrets => s(&["[\"short\"]", "[\"a secret with spaces in it, long enough\"]", "\"0123456789abcdef01234567\""]),
        Name | Owner => vec!["\"\"".into(), "\"   \"".into(), quoted(&"a".repeat(101)), "5".into()],
        AssignOwner => s(&["\"carl\"", "5"]),
        Team => s(&["[\"carl\"]", "[]", "\"ana\""]),
        UserToken => s(&["\"\"", "\" \"", "5"]),
        HeaderName => s(&["\"X Bad\"", "\"\"", "5"]),
        Countries => s(&["[\"deu\"]", "[\"d1\"]", "\"de\""]),
        Classes => s(&["[\"castle\"]", "\"business\""]),
        Weekday => s(&["\"someday\"", "\"mo\"", "1"]),
        Days => s(&["[\"xyz\"]", "\"mon\"", "[1]"]),
        Span => s(&["\"17:00-09:00\"", "\"09:00-09:00\"", "\"9-5\"", "\"\"", "5"]),
        Stages => s(&["{}", "{ hot = 0.0 }", "{ hot = -5.0 }", "{ hot = \"x\" }", "{ hot = nan }", "5"]),
        Topics => s(&["{ a = \"x\" }", "{ a = [5] }", "5"]),
        EventWeights => s(&["{ trial = nan }", "{ trial = \"x\" }", "5"]),
        SiteKeys => s(&["[\"no-such-site\"]", "\"s1\"", "[5]"]),
    };
    // A value of a TOML type no key takes, wherever it goes.
    out.push("1979-05-27T07:32:00Z".into());
    out
}

/// The file holding `values` (key index, TOML value) and what their sections need; a later value of a key
/// replaces an earlier one.
fn render(values: &[(usize, String)]) -> String {
    let mut out = String::new();
    for section in SECTIONS {
        let used = |name: &str| values.iter().any(|(i, _)| KEYS[*i].section == name);
        if !used(section.name) && !section.with.iter().any(|s| used(s)) {
            continue;
        }
        let mut lines: Vec<(&str, String)> = section.base.iter().map(|(k, v)| (*k, v.to_string())).collect();
        for (i, value) in values.iter().filter(|(i, _)| KEYS[*i].section == section.name) {
            let key = KEYS[*i];
            lines.retain(|(k, _)| *k != key.key && Some(*k) != key.drops);
            lines.push((key.key, value.clone()));
        }
        let (open, close) = if section.array { ("[[", "]]") } else { ("[", "]") };
        out.push_str(&format!("{open}{}{close}\n", section.name));
        for (k, v) in lines {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    out
}

/// Parses and checks `text` as `Config::load` does.
fn load(text: &str) -> Result<Config, String> {
    let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
    config.check().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Whether `error` names `key`: its dotted name, or the line `key = value` as the parser shows it
/// (`12 | key = value`).
fn names(error: &str, key: &Key, value: &str) -> bool {
    let line = format!("{} = {value}", key.key);
    error.contains(&format!("{}.{}", key.section, key.key))
        || error.lines().any(|l| l.split_once(" | ").is_some_and(|(_, shown)| shown.trim_end() == line))
}

/// Asserts the file of `valid` with `key` set to `value` is refused naming the key.
fn assert_refused(valid: &[(usize, String)], key: usize, value: &str) -> Result<(), TestCaseError> {
    let mut values = valid.to_vec();
    values.push((key, value.to_string()));
    let text = render(&values);
    let k = KEYS[key];
    match load(&text) {
        Ok(_) => Err(TestCaseError::fail(format!("{}.{} = {value} was accepted:\n{text}", k.section, k.key))),
        Err(e) if !names(&e, &k, value) => Err(TestCaseError::fail(format!(
            "{}.{} = {value} was refused without naming the key: {e}\n{text}",
            k.section, k.key
        ))),
        Err(_) => Ok(()),
    }
}

/// Valid values for a few keys.
fn valid_values() -> impl Strategy<Value = Vec<(usize, String)>> {
    proptest::sample::subsequence((0..KEYS.len()).collect::<Vec<_>>(), 0..=16).prop_flat_map(|picked| {
        picked.into_iter().map(|i| valid(KEYS[i].kind).prop_map(move |v| (i, v)).boxed()).collect::<Vec<_>>()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn files_of_valid_values_load(values in valid_values()) {
        let text = render(&values);
        if let Err(e) = load(&text) {
            return Err(TestCaseError::fail(format!("{e}\n{text}")));
        }
    }

    /// Every wrong value of one key, among valid values of others.
    #[test]
    fn a_wrong_value_is_refused_naming_its_key(values in valid_values(), key in 0..KEYS.len()) {
        for value in wrong(KEYS[key].kind) {
            assert_refused(&values, key, &value)?;
        }
    }
}

/// The same for every key with nothing else set, so each wrong value is tried at least once.
#[test]
fn every_wrong_value_of_every_key_is_refused_naming_it() {
    let failures: Vec<String> = (0..KEYS.len())
        .flat_map(|key| wrong(KEYS[key].kind).into_iter().map(move |value| (key, value)))
        .filter_map(|(key, value)| assert_refused(&[], key, &value).err().map(|e| e.to_string()))
        .collect();
    assert!(failures.is_empty(), "{} wrong values:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_catalogue_holds_every_key_the_config_structs_accept() {
    let mut catalogue: BTreeSet<String> = KEYS
        .iter()
        .map(|k| if k.section.is_empty() { k.key.to_string() } else { format!("{}.{}", k.section, k.key) })
        .collect();
    catalogue.extend(SECTIONS.iter().map(|s| s.name.to_string()));
    assert_eq!(catalogue, common::config_keys(), "the catalogue against the structs' fields");
}
