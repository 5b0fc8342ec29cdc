//! The ClickHouse schema and its migrations.
//!
//! The same tables and columns as the embedded store, in types both ClickHouse 18.16 (Debian's) and
//! current releases accept: no `LowCardinality`, `DateTime64`, `IPv4` or `TTL`. Times are `DateTime('UTC')`.
//!
//! Every table is a `ReplacingMergeTree`: a writer may write a row again (a replayed Kafka batch, two
//! consumers during a rebalance) and the copies collapse on merge; read with `FINAL` or aggregate with
//! `argMax(…, version)` for exact figures before the merge. `events` and `sessions` are partitioned by
//! day so retention drops whole days.

/// Each entry upgrades the schema by one version, recorded in `vtrack_schema`. Append, never edit.
/// Statements are separated by `;` at the end of a line.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS events (
    event_id       String,
    site           String,
    ts             DateTime('UTC'),
    received_at    DateTime('UTC'),
    type           String,
    visitor_id     String,
    session_id     String,
    is_return      UInt8,
    url            String,
    path           String,
    referrer       String,
    title          String,
    utm_source     String,
    utm_medium     String,
    utm_campaign   String,
    utm_term       String,
    utm_content    String,
    eng_ms         UInt64,
    email          String,
    props          String,
    company_name   String,
    company_domain String,
    asn            UInt32,
    network_class  String,
    country        String,
    city           String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (site, visitor_id, ts, event_id);

CREATE TABLE IF NOT EXISTS sessions (
    session_id     String,
    site           String,
    visitor_id     String,
    company_domain String,
    company_name   String,
    network_class  String,
    country        String,
    started_at     DateTime('UTC'),
    ended_at       DateTime('UTC'),
    pageviews      UInt32,
    events         UInt32,
    engaged_ms     UInt64,
    is_return      UInt8,
    entry_path     String,
    referrer       String,
    utm_source     String,
    utm_medium     String,
    utm_campaign   String
) ENGINE = ReplacingMergeTree(events)
PARTITION BY toYYYYMMDD(started_at)
ORDER BY (site, company_domain, session_id);

CREATE TABLE IF NOT EXISTS accounts (
    site           String,
    company_domain String,
    company_name   String,
    network_class  String,
    country        String,
    first_seen     DateTime('UTC'),
    last_seen      DateTime('UTC'),
    visitors       UInt32,
    sessions       UInt32,
    pageviews      UInt32,
    engaged_ms     UInt64,
    score          Float64,
    score_at       DateTime('UTC'),
    stage          String,
    return_visits  UInt32,
    topics         String,
    top_pages      String,
    campaigns      String,
    contacts       String,
    is_target      UInt8,
    excluded       UInt8,
    version        UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (site, company_domain);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id       String,
    site           String,
    company_domain String,
    kind           String,
    stage          String,
    score          Float64,
    raised_at      DateTime('UTC'),
    payload        String
) ENGINE = ReplacingMergeTree()
ORDER BY (site, company_domain, alert_id);

CREATE TABLE IF NOT EXISTS alert_deliveries (
    delivery_id     String,
    alert_id        String,
    site            String,
    company_domain  String,
    webhook         String,
    webhook_index   UInt32,
    status          String,
    attempts        UInt32,
    next_attempt_ms UInt64,
    http_status     UInt16,
    last_error      String,
    created_at      DateTime('UTC'),
    delivered_at    DateTime('UTC'),
    kafka_partition Int32,
    version         UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY delivery_id
"#,
    r#"
CREATE TABLE IF NOT EXISTS account_status (
    site           String,
    company_domain String,
    status         String,
    note           String,
    set_by         String,
    set_at         DateTime('UTC'),
    score          Float64,
    seq            UInt64
) ENGINE = MergeTree()
ORDER BY (site, company_domain, seq)
"#,
    // Each account's scoring state (JSON of `vtrack_process::AccountState`) and the fingerprint of the
    // scoring config it was built with: a batch continues the state instead of re-reading the history.
    r#"
ALTER TABLE accounts ADD COLUMN state String DEFAULT '';
ALTER TABLE accounts ADD COLUMN scoring String DEFAULT ''
"#,
    r#"
ALTER TABLE events ADD COLUMN id_source String DEFAULT '';
ALTER TABLE events ADD COLUMN id_confidence UInt8 DEFAULT 0;
ALTER TABLE sessions ADD COLUMN id_source String DEFAULT '';
ALTER TABLE sessions ADD COLUMN id_confidence UInt8 DEFAULT 0;
ALTER TABLE accounts ADD COLUMN id_source String DEFAULT '';
ALTER TABLE accounts ADD COLUMN id_confidence UInt8 DEFAULT 0;
CREATE TABLE IF NOT EXISTS identities (
    site           String,
    visitor_id     String,
    company_domain String,
    identified_ms  Int64,
    network_key    String
) ENGINE = ReplacingMergeTree(identified_ms)
ORDER BY (site, visitor_id);
CREATE TABLE IF NOT EXISTS learned_keys (
    site           String,
    from_key       String,
    company_domain String,
    learned_at     DateTime('UTC')
) ENGINE = ReplacingMergeTree()
ORDER BY (site, from_key)
"#,
    // Networks enrichment learned (reverse DNS, RDAP): the latest finding per network stands.
    r#"
CREATE TABLE IF NOT EXISTS learned_ranges (
    network        String,
    company_name   String,
    company_domain String,
    network_class  String,
    source         String,
    confidence     UInt8,
    evidence       String,
    found_at       DateTime('UTC'),
    expires_at     DateTime('UTC')
) ENGINE = ReplacingMergeTree(found_at)
ORDER BY network
"#,
    // Who follows up each account, the latest change standing (`seq`: its Unix ms), and every change of
    // owner. A rule's line is keyed by the account's first event, so a replayed batch writes it once.
    r#"
CREATE TABLE IF NOT EXISTS account_owners (
    site           String,
    company_domain String,
    owner          String,
    changed_by     String,
    changed_at     DateTime('UTC'),
    seq            UInt64
) ENGINE = ReplacingMergeTree(seq)
ORDER BY (site, company_domain);
CREATE TABLE IF NOT EXISTS account_owner_history (
    site           String,
    company_domain String,
    owner          String,
    previous_owner String,
    changed_by     String,
    reason         String,
    changed_at     DateTime('UTC'),
    seq            UInt64
) ENGINE = ReplacingMergeTree()
ORDER BY (site, company_domain, seq, reason)
"#,
    // How sure each event's, session's and account's network class is, what is known about networks beyond
    // their names (the latest decision per AS number stands: `version` is its time in ms), and each AS
    // network's traffic sets per site and day, read with `groupBitOr` (rows are written only as sets grow);
    // and when the account keys stored under the old key rule were moved.
    r#"
ALTER TABLE events ADD COLUMN class_confidence UInt8 DEFAULT 0;
ALTER TABLE sessions ADD COLUMN class_confidence UInt8 DEFAULT 0;
ALTER TABLE accounts ADD COLUMN class_confidence UInt8 DEFAULT 0;
CREATE TABLE IF NOT EXISTS network_evidence (
    asn              UInt32,
    name             String,
    ptr_looked_up    UInt8,
    ptr_generated    UInt8,
    ptr_servers      UInt8,
    ptr_organisation UInt8,
    ptr_domain       String,
    traffic_visitors UInt32,
    traffic_networks UInt32,
    traffic_cities   UInt32,
    base_class       String,
    base_confidence  UInt8,
    network_class    String,
    class_confidence UInt8,
    account_key      String,
    signals          String,
    decided_at       DateTime('UTC'),
    expires_at       DateTime('UTC'),
    version          UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY asn;
CREATE TABLE IF NOT EXISTS network_traffic (
    site           String,
    asn            UInt32,
    day            Date,
    visitors       UInt64,
    prefixes       UInt64,
    cities         UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (asn, site, day);
CREATE TABLE IF NOT EXISTS rekeyed (
    rule           String,
    with_as_data   UInt8,
    done_at        DateTime('UTC')
) ENGINE = MergeTree()
ORDER BY rule
"#,
];

/// The table that records applied migrations.
pub const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS vtrack_schema (version UInt32, applied_at DateTime('UTC')) ENGINE = TinyLog";

/// Splits a migration into statements.
pub fn statements(migration: &str) -> impl Iterator<Item = &str> {
    migration.split(";\n").map(str::trim).filter(|s| !s.is_empty())
}
