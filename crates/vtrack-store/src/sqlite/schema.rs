//! The SQLite schema and its migrations.
//!
//! Times are `YYYY-MM-DD HH:MM:SS` UTC text (see `vtrack_model::time`); booleans are 0/1.
//! `docs/tables.md` documents every column.

/// Each entry upgrades the schema by one version (`PRAGMA user_version`). Append, never edit.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE events (
    event_id       TEXT PRIMARY KEY,
    site           TEXT NOT NULL,
    ts             TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    type           TEXT NOT NULL,
    visitor_id     TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    is_return      INTEGER NOT NULL,
    url            TEXT NOT NULL,
    path           TEXT NOT NULL,
    referrer       TEXT NOT NULL,
    title          TEXT NOT NULL,
    utm_source     TEXT NOT NULL,
    utm_medium     TEXT NOT NULL,
    utm_campaign   TEXT NOT NULL,
    utm_term       TEXT NOT NULL,
    utm_content    TEXT NOT NULL,
    eng_ms         INTEGER NOT NULL,
    email          TEXT NOT NULL,
    props          TEXT NOT NULL,
    company_name   TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    asn            INTEGER NOT NULL,
    network_class  TEXT NOT NULL,
    country        TEXT NOT NULL,
    city           TEXT NOT NULL
);
CREATE INDEX events_visitor ON events (site, visitor_id, ts);
CREATE INDEX events_session ON events (session_id);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_company ON events (site, company_domain, ts);

CREATE TABLE sessions (
    session_id     TEXT PRIMARY KEY,
    site           TEXT NOT NULL,
    visitor_id     TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    company_name   TEXT NOT NULL,
    network_class  TEXT NOT NULL,
    country        TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    ended_at       TEXT NOT NULL,
    pageviews      INTEGER NOT NULL,
    events         INTEGER NOT NULL,
    engaged_ms     INTEGER NOT NULL,
    is_return      INTEGER NOT NULL,
    entry_path     TEXT NOT NULL,
    referrer       TEXT NOT NULL,
    utm_source     TEXT NOT NULL,
    utm_medium     TEXT NOT NULL,
    utm_campaign   TEXT NOT NULL
);
CREATE INDEX sessions_account ON sessions (site, company_domain, started_at);
CREATE INDEX sessions_visitor ON sessions (site, visitor_id, started_at);

CREATE TABLE accounts (
    site           TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    company_name   TEXT NOT NULL,
    network_class  TEXT NOT NULL,
    country        TEXT NOT NULL,
    first_seen     TEXT NOT NULL,
    last_seen      TEXT NOT NULL,
    visitors       INTEGER NOT NULL,
    sessions       INTEGER NOT NULL,
    pageviews      INTEGER NOT NULL,
    engaged_ms     INTEGER NOT NULL,
    PRIMARY KEY (site, company_domain)
);
"#,
    r#"
ALTER TABLE accounts ADD COLUMN score REAL NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN score_at TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN stage TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN return_visits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN topics TEXT NOT NULL DEFAULT '[]';
ALTER TABLE accounts ADD COLUMN top_pages TEXT NOT NULL DEFAULT '[]';
ALTER TABLE accounts ADD COLUMN campaigns TEXT NOT NULL DEFAULT '[]';
ALTER TABLE accounts ADD COLUMN contacts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE accounts ADD COLUMN is_target INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN excluded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX accounts_score ON accounts (site, score);

CREATE TABLE alerts (
    alert_id       TEXT PRIMARY KEY,
    site           TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    kind           TEXT NOT NULL,
    stage          TEXT NOT NULL,
    score          REAL NOT NULL,
    raised_at      TEXT NOT NULL,
    payload        TEXT NOT NULL
);
CREATE INDEX alerts_account ON alerts (site, company_domain, raised_at);

CREATE TABLE alert_deliveries (
    delivery_id    TEXT PRIMARY KEY,
    alert_id       TEXT NOT NULL,
    site           TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    webhook        TEXT NOT NULL,
    webhook_index  INTEGER NOT NULL,
    status         TEXT NOT NULL,
    attempts       INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    http_status    INTEGER NOT NULL,
    last_error     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    delivered_at   TEXT NOT NULL
);
CREATE INDEX deliveries_due ON alert_deliveries (status, next_attempt_ms);
CREATE INDEX deliveries_cooldown ON alert_deliveries (webhook, site, company_domain, created_at);
"#,
    r#"
CREATE TABLE account_status (
    site           TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    status         TEXT NOT NULL,
    note           TEXT NOT NULL,
    set_by         TEXT NOT NULL,
    set_at         TEXT NOT NULL,
    score          REAL NOT NULL
);
CREATE INDEX account_status_account ON account_status (site, company_domain, set_at);
"#,
    // Each account's scoring state (JSON of `vtrack_process::AccountState`) and the fingerprint of the
    // scoring config it was built with: a batch continues the state instead of re-reading the history.
    r#"
ALTER TABLE accounts ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN scoring TEXT NOT NULL DEFAULT '';
"#,
    // How each event, session and account was identified (`vtrack_model::IdSource`, confidence 0–100), the
    // visitors who identified with a business email, and the AS-only keys that learned their domain.
    r#"
ALTER TABLE events ADD COLUMN id_source TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN id_confidence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN id_source TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN id_confidence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN id_source TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN id_confidence INTEGER NOT NULL DEFAULT 0;
CREATE TABLE identities (
    site           TEXT NOT NULL,
    visitor_id     TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    identified_ms  INTEGER NOT NULL,
    network_key    TEXT NOT NULL,
    PRIMARY KEY (site, visitor_id)
);
CREATE INDEX identities_network ON identities (site, network_key);
CREATE TABLE learned_keys (
    site           TEXT NOT NULL,
    from_key       TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    learned_at     TEXT NOT NULL,
    PRIMARY KEY (site, from_key)
);
"#,
    // Networks enrichment learned (reverse DNS, RDAP), one row per network: a newer finding replaces it.
    r#"
CREATE TABLE learned_ranges (
    network        TEXT NOT NULL PRIMARY KEY,
    company_name   TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    network_class  TEXT NOT NULL,
    source         TEXT NOT NULL,
    confidence     INTEGER NOT NULL,
    evidence       TEXT NOT NULL,
    found_at       TEXT NOT NULL,
    expires_at     TEXT NOT NULL
);
"#,
    // Who follows up each account (`[[owners]]`, `[[assign]]`, or a person through the API), and every
    // change of owner with who made it and why (`rule` or `manual`).
    r#"
CREATE TABLE account_owners (
    site           TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    owner          TEXT NOT NULL,
    changed_by     TEXT NOT NULL,
    changed_at     TEXT NOT NULL,
    PRIMARY KEY (site, company_domain)
);
CREATE TABLE account_owner_history (
    site           TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    owner          TEXT NOT NULL,
    previous_owner TEXT NOT NULL,
    changed_by     TEXT NOT NULL,
    reason         TEXT NOT NULL,
    changed_at     TEXT NOT NULL
);
CREATE INDEX account_owner_history_account ON account_owner_history (site, company_domain, changed_at);
"#,
    // Event ids are unique per site, not across sites: one site's id cannot hide another site's event. Both
    // tables are rebuilt with the site in their primary key (SQLite cannot change a key in place); sessions
    // too, as a session's id is its first event's id.
    r#"
CREATE TABLE events_by_site (
    event_id       TEXT NOT NULL,
    site           TEXT NOT NULL,
    ts             TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    type           TEXT NOT NULL,
    visitor_id     TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    is_return      INTEGER NOT NULL,
    url            TEXT NOT NULL,
    path           TEXT NOT NULL,
    referrer       TEXT NOT NULL,
    title          TEXT NOT NULL,
    utm_source     TEXT NOT NULL,
    utm_medium     TEXT NOT NULL,
    utm_campaign   TEXT NOT NULL,
    utm_term       TEXT NOT NULL,
    utm_content    TEXT NOT NULL,
    eng_ms         INTEGER NOT NULL,
    email          TEXT NOT NULL,
    props          TEXT NOT NULL,
    company_name   TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    asn            INTEGER NOT NULL,
    network_class  TEXT NOT NULL,
    country        TEXT NOT NULL,
    city           TEXT NOT NULL,
    id_source      TEXT NOT NULL DEFAULT '',
    id_confidence  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, event_id)
);
INSERT INTO events_by_site (event_id, site, ts, received_at, type, visitor_id, session_id, is_return, url, path,
    referrer, title, utm_source, utm_medium, utm_campaign, utm_term, utm_content, eng_ms, email, props, company_name,
    company_domain, asn, network_class, country, city, id_source, id_confidence)
SELECT event_id, site, ts, received_at, type, visitor_id, session_id, is_return, url, path, referrer, title,
    utm_source, utm_medium, utm_campaign, utm_term, utm_content, eng_ms, email, props, company_name, company_domain,
    asn, network_class, country, city, id_source, id_confidence FROM events;
DROP TABLE events;
ALTER TABLE events_by_site RENAME TO events;
CREATE INDEX events_visitor ON events (site, visitor_id, ts);
CREATE INDEX events_session ON events (site, session_id);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_company ON events (site, company_domain, ts);

CREATE TABLE sessions_by_site (
    session_id     TEXT NOT NULL,
    site           TEXT NOT NULL,
    visitor_id     TEXT NOT NULL,
    company_domain TEXT NOT NULL,
    company_name   TEXT NOT NULL,
    network_class  TEXT NOT NULL,
    country        TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    ended_at       TEXT NOT NULL,
    pageviews      INTEGER NOT NULL,
    events         INTEGER NOT NULL,
    engaged_ms     INTEGER NOT NULL,
    is_return      INTEGER NOT NULL,
    entry_path     TEXT NOT NULL,
    referrer       TEXT NOT NULL,
    utm_source     TEXT NOT NULL,
    utm_medium     TEXT NOT NULL,
    utm_campaign   TEXT NOT NULL,
    id_source      TEXT NOT NULL DEFAULT '',
    id_confidence  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, session_id)
);
INSERT INTO sessions_by_site (session_id, site, visitor_id, company_domain, company_name, network_class, country,
    started_at, ended_at, pageviews, events, engaged_ms, is_return, entry_path, referrer, utm_source, utm_medium,
    utm_campaign, id_source, id_confidence)
SELECT session_id, site, visitor_id, company_domain, company_name, network_class, country, started_at, ended_at,
    pageviews, events, engaged_ms, is_return, entry_path, referrer, utm_source, utm_medium, utm_campaign, id_source,
    id_confidence FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_by_site RENAME TO sessions;
CREATE INDEX sessions_account ON sessions (site, company_domain, started_at);
CREATE INDEX sessions_visitor ON sessions (site, visitor_id, started_at);
"#,
    // How sure each event's, session's and account's network class is (0-100), what is known about networks
    // beyond their names (`vtrack_model::evidence`: reverse DNS of the network, its traffic, and the class
    // decided with them, one row per AS number), and each AS network's traffic per site and day as 64-bit
    // sets of hashed buckets (no address, visitor id or city); and when the account keys stored under the
    // old key rule were moved (`vtrack_process::batch::rekey`), so start-up does it once.
    r#"
ALTER TABLE events ADD COLUMN class_confidence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN class_confidence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN class_confidence INTEGER NOT NULL DEFAULT 0;
CREATE TABLE network_evidence (
    asn              INTEGER NOT NULL PRIMARY KEY,
    name             TEXT NOT NULL,
    ptr_looked_up    INTEGER NOT NULL,
    ptr_generated    INTEGER NOT NULL,
    ptr_servers      INTEGER NOT NULL,
    ptr_organisation INTEGER NOT NULL,
    ptr_domain       TEXT NOT NULL,
    traffic_visitors INTEGER NOT NULL,
    traffic_networks INTEGER NOT NULL,
    traffic_cities   INTEGER NOT NULL,
    base_class       TEXT NOT NULL,
    base_confidence  INTEGER NOT NULL,
    network_class    TEXT NOT NULL,
    class_confidence INTEGER NOT NULL,
    account_key      TEXT NOT NULL,
    signals          TEXT NOT NULL,
    decided_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL
);
CREATE TABLE network_traffic (
    site           TEXT NOT NULL,
    asn            INTEGER NOT NULL,
    day            TEXT NOT NULL,
    visitors       INTEGER NOT NULL,
    prefixes       INTEGER NOT NULL,
    cities         INTEGER NOT NULL,
    PRIMARY KEY (site, asn, day)
);
CREATE INDEX network_traffic_day ON network_traffic (day);
CREATE TABLE rekeyed (
    rule           TEXT NOT NULL,
    with_as_data   INTEGER NOT NULL,
    done_at        TEXT NOT NULL
);
"#,
    // Indexes as the reads want them (`sqlite::plans` checks each read's plan, and that every index is
    // wanted by one). Sessions by visitor goes: its reads are by site alone, which `sessions_account`
    // serves as well, and it is one more B-tree every insert writes at a random place. Events by site and
    // time received comes: the dashboard's live view reads the last minutes' events, which without it meant
    // every event of the site (1.6 s at a million); it is written in time order, at the B-tree's end.
    r#"
DROP INDEX IF EXISTS sessions_visitor;
CREATE INDEX IF NOT EXISTS events_received ON events (site, received_at);
"#,
];
