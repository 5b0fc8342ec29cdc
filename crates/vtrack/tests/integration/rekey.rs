//! The account-key migration through the real binary, on the embedded store and on ClickHouse: a store
//! written before the key rule changed (issue 14) — a company keyed by a host name of its domain, and a
//! carrier's customer keyed by the carrier's AS — has its events, sessions, accounts, statuses, owners and
//! alerts moved to the new keys, by `vtrack migrate` and at start-up, and a second run changes nothing.
//!
//! The old store is made the way the old rule made it: the fixtures' traffic written by today's binary,
//! then its keys rewritten to what the old rule gave (`www.globex.example` for Globex, `as64506` for a
//! visitor's company "La Presse" inside Umbrella's AS).

use crate::common;

use common::prod::{shared_clickhouse, shared_kafka, Pipeline};
use common::webhook::receiver;
use common::{api, start_site, view, TOKEN};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const GLOBEX: &str = "198.51.100.70";
const UMBRELLA: &str = "203.0.113.200";
const LA_PRESSE: &str = "203.0.113.201";

/// The site's config: a webhook (so alerts have deliveries) and one owner for every account.
fn config(port: u16) -> String {
    format!(
        "[[alerts.webhooks]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"rekey-secret\"\n\
         [[owners]]\nname = \"ana\"\n[[assign]]\nowner = \"ana\"\n"
    )
}

/// What the old rule made of the fixtures' traffic, as SQL both stores run (with their own verbs).
const OLD_GLOBEX: &str = "www.globex.example";

/// Every row that carries an account key, in a stable order: what a migration changes.
const DUMP: [&str; 8] = [
    "SELECT event_id, company_domain, company_name FROM events FINAL ORDER BY event_id",
    "SELECT session_id, company_domain, company_name FROM sessions FINAL ORDER BY session_id",
    "SELECT company_domain, company_name, sessions, visitors, stage FROM accounts FINAL ORDER BY company_domain",
    "SELECT company_domain, status, set_by FROM account_status ORDER BY company_domain, status",
    "SELECT company_domain, owner FROM account_owners FINAL ORDER BY company_domain",
    "SELECT company_domain, owner, reason FROM account_owner_history FINAL ORDER BY company_domain, owner",
    "SELECT alert_id, company_domain, kind FROM alerts FINAL ORDER BY alert_id",
    "SELECT delivery_id, company_domain FROM alert_deliveries FINAL ORDER BY delivery_id",
];

fn dump(sql: impl Fn(&str) -> Value) -> Vec<Value> {
    DUMP.iter().map(|q| sql(q)).collect()
}

/// The traffic: Globex hot (an alert, a delivery), Umbrella's own people and a visitor of "La Presse".
fn traffic(post: impl Fn(&str, &str, &str, &str)) {
    post(GLOBEX, "gia", "g1", "/pricing");
    post(GLOBEX, "gia", "g2", "/demo");
    post("198.51.100.71", "gus", "g3", "/demo");
    post(UMBRELLA, "v-umb", "u1", "/pricing");
    post(UMBRELLA, "v-umb", "u2", "/blog");
    post(LA_PRESSE, "v-lp", "p1", "/pricing");
}

/// Checks what the migration made of the old store.
fn assert_moved(sql: impl Fn(&str) -> Value) {
    let events = sql("SELECT DISTINCT company_domain, company_name FROM events FINAL ORDER BY company_domain");
    assert_eq!(
        events,
        json!([
            {"company_domain": "as64506", "company_name": "Umbrella Pharmaceuticals"},
            {"company_domain": "globex.example", "company_name": "Globex Logistics"},
            {"company_domain": "org:la-presse", "company_name": "La Presse"},
        ])
    );
    let sessions = sql("SELECT DISTINCT company_domain FROM sessions FINAL ORDER BY company_domain");
    assert_eq!(
        sessions,
        json!([{"company_domain": "as64506"}, {"company_domain": "globex.example"}, {"company_domain": "org:la-presse"}])
    );
    let accounts = sql("SELECT company_domain, company_name, sessions FROM accounts FINAL ORDER BY company_domain");
    assert_eq!(
        accounts,
        json!([
            {"company_domain": "as64506", "company_name": "Umbrella Pharmaceuticals", "sessions": 1},
            {"company_domain": "globex.example", "company_name": "Globex Logistics", "sessions": 2},
            {"company_domain": "org:la-presse", "company_name": "La Presse", "sessions": 1},
        ]),
        "La Presse is an account of its own; Umbrella keeps its AS key"
    );
    assert_eq!(
        sql("SELECT company_domain, status FROM account_status ORDER BY company_domain"),
        json!([{"company_domain": "globex.example", "status": "contacted"}])
    );
    assert_eq!(
        sql("SELECT company_domain, owner FROM account_owners FINAL ORDER BY company_domain"),
        json!([
            {"company_domain": "as64506", "owner": "ana"},
            {"company_domain": "globex.example", "owner": "ana"},
            {"company_domain": "org:la-presse", "owner": "ana"},
        ]),
        "the owner of the account La Presse was in goes with it"
    );
    assert_eq!(
        sql("SELECT DISTINCT company_domain FROM account_owner_history FINAL ORDER BY company_domain"),
        json!([{"company_domain": "as64506"}, {"company_domain": "globex.example"}, {"company_domain": "org:la-presse"}])
    );
    assert_eq!(
        sql("SELECT company_domain, kind, payload LIKE '%\"company_domain\":\"globex.example\"%' AS moved
             FROM alerts FINAL"),
        json!([{"company_domain": "globex.example", "kind": "became_hot", "moved": 1}])
    );
    assert_eq!(
        sql("SELECT DISTINCT company_domain FROM alert_deliveries FINAL"),
        json!([{"company_domain": "globex.example"}])
    );
}

/// `vtrack migrate` with the fixtures' IP data and `store` (its store flags); returns what it printed.
fn migrate(store: &[&str]) -> String {
    let out = common::fixture_sources(Command::new(common::bin()).arg("migrate").args(store))
        .output()
        .expect("run vtrack migrate");
    assert!(out.status.success(), "vtrack migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs SQL statements on the embedded store with the `sqlite3` shell.
fn sqlite_exec(data: &Path, sql: &str) {
    let out = Command::new("sqlite3").arg(data.join("vtrack.db")).arg(sql).output().expect("run sqlite3");
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
}

/// What the old rule stored, on SQLite.
const OLD_KEYS_SQLITE: &str = "
UPDATE events SET company_domain = 'www.globex.example' WHERE company_domain = 'globex.example';
UPDATE sessions SET company_domain = 'www.globex.example' WHERE company_domain = 'globex.example';
UPDATE accounts SET company_domain = 'www.globex.example',
  state = replace(state, '\"company_domain\":\"globex.example\"', '\"company_domain\":\"www.globex.example\"')
  WHERE company_domain = 'globex.example';
UPDATE account_status SET company_domain = 'www.globex.example' WHERE company_domain = 'globex.example';
UPDATE account_owners SET company_domain = 'www.globex.example' WHERE company_domain = 'globex.example';
UPDATE account_owner_history SET company_domain = 'www.globex.example' WHERE company_domain = 'globex.example';
UPDATE alerts SET company_domain = 'www.globex.example',
  payload = replace(payload, '\"company_domain\":\"globex.example\"', '\"company_domain\":\"www.globex.example\"')
  WHERE company_domain = 'globex.example';
UPDATE alert_deliveries SET company_domain = 'www.globex.example' WHERE company_domain = 'globex.example';
UPDATE events SET company_name = 'La Presse' WHERE visitor_id = 'v-lp';
UPDATE sessions SET company_name = 'La Presse' WHERE visitor_id = 'v-lp';
DELETE FROM rekeyed;
";

#[test]
fn old_keys_move_on_sqlite_by_migrate_and_at_start_and_a_second_run_changes_nothing() {
    let (port, _log) = receiver(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut s = start_site(dir.path(), &config(port));
    traffic(|ip, vid, eid, path| view(&s, ip, vid, eid, path));
    s.wait_for_rows("SELECT status FROM alert_deliveries", &json!([{"status": "delivered"}]), Duration::from_secs(30));
    let r = api(&s, TOKEN, "POST", "/api/accounts/globex.example/status", r#"{"status":"contacted"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    s.wait_for("SELECT count(*) AS n FROM events", |rows| rows[0]["n"] == 6);
    assert!(s.terminate().success());

    // The store as the old rule wrote it, twice: one to migrate by command, one at start-up.
    let data = dir.path().join("data");
    sqlite_exec(&data, OLD_KEYS_SQLITE);
    assert_eq!(
        common::sql(&data, "SELECT DISTINCT company_domain FROM accounts ORDER BY company_domain"),
        json!([{"company_domain": "as64506"}, {"company_domain": OLD_GLOBEX}])
    );
    let copy = tempfile::tempdir().expect("temp dir");
    for f in std::fs::read_dir(&data).expect("the data dir") {
        let f = f.expect("a file").path();
        if f.is_file() {
            std::fs::copy(&f, copy.path().join(f.file_name().expect("a name"))).expect("copy the store");
        }
    }

    let data_arg = data.to_str().expect("UTF-8");
    let first = migrate(&["--data-dir", data_arg]);
    assert!(first.contains("2 old key(s) moved"), "{first}");
    let sql = |q: &str| common::sql(&data, &q.replace(" FINAL", ""));
    assert_moved(sql);
    let before = dump(sql);
    let second = migrate(&["--data-dir", data_arg]);
    assert!(second.contains("0 old key(s) moved, 0 event(s) relabelled, 0 account(s)"), "{second}");
    assert_eq!(dump(sql), before, "the second run changes nothing");

    // At start-up: `serve` moves them before it processes anything.
    let config_path = dir.path().join("vtrack.toml");
    let started = common::Server::start_in(copy.path(), &["--config", config_path.to_str().expect("UTF-8")]);
    let moved = |q: &str| common::sql(copy.path(), &q.replace(" FINAL", ""));
    common::poll(
        "serve to move the old keys at start",
        Duration::from_secs(20),
        || moved("SELECT count(*) AS n FROM rekeyed"),
        |rows| rows[0]["n"] == 1,
    );
    assert_moved(moved);
    drop(started);
}

/// Runs statements on ClickHouse over its HTTP interface (with curl), one at a time.
fn clickhouse_exec(url: &str, statements: &[String]) {
    let (endpoint, database) = url.rsplit_once('/').expect("http://host:port/db");
    let post = |query: &str| {
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--data-binary", query])
            .arg(format!("{endpoint}/?database={database}"))
            .output()
            .expect("run curl");
        assert!(out.status.success(), "{query}: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for stmt in statements {
        post(stmt);
    }
    // Mutations run in the background: wait for them, as the old store would have settled.
    let pending = format!("SELECT count() FROM system.mutations WHERE database = '{database}' AND is_done = 0");
    common::poll("ClickHouse's mutations", Duration::from_secs(60), || post(&pending), |n| n == "0");
}

/// What the old rule stored, on ClickHouse: key columns are rewritten by inserting the rows again.
fn old_keys_clickhouse() -> Vec<String> {
    let swap = |table: &str, columns: &str| {
        // `account_status` is a plain MergeTree (every row counts): no FINAL. The new key gets an alias of
        // its own: ClickHouse resolves `company_domain` in WHERE to a SELECT alias of that name.
        let fin = if table == "account_status" { "" } else { " FINAL" };
        vec![
            format!(
                "INSERT INTO {table} SELECT {} FROM {table}{fin} WHERE company_domain = 'globex.example'",
                columns.replacen("company_domain", "'www.globex.example' AS new_key", 1)
            ),
            format!("ALTER TABLE {table} DELETE WHERE company_domain = 'globex.example'"),
        ]
    };
    let mut out = vec![
        "ALTER TABLE events UPDATE company_domain = 'www.globex.example' WHERE company_domain = 'globex.example'"
            .to_string(),
        "ALTER TABLE events UPDATE company_name = 'La Presse' WHERE visitor_id = 'v-lp'".to_string(),
        "ALTER TABLE alert_deliveries UPDATE company_domain = 'www.globex.example' WHERE company_domain = 'globex.example'"
            .to_string(),
    ];
    out.extend(swap(
        "sessions",
        "session_id, site, visitor_id, company_domain, company_name, network_class, country, started_at, ended_at,
         pageviews, events, engaged_ms, is_return, entry_path, referrer, utm_source, utm_medium, utm_campaign,
         id_source, id_confidence, class_confidence",
    ));
    out.push(
        "INSERT INTO sessions SELECT session_id, site, visitor_id, company_domain, 'La Presse' AS company_name,
           network_class, country, started_at, ended_at, pageviews, events, engaged_ms, is_return, entry_path, referrer,
           utm_source, utm_medium, utm_campaign, id_source, id_confidence, class_confidence
         FROM sessions FINAL WHERE visitor_id = 'v-lp'"
            .to_string(),
    );
    out.extend(swap(
        "accounts",
        "site, company_domain, company_name, network_class, country, first_seen, last_seen, visitors, sessions,
         pageviews, engaged_ms, score, score_at, stage, return_visits, topics, top_pages, campaigns, contacts,
         is_target, excluded, version, replaceAll(state, '\"globex.example\"', '\"www.globex.example\"') AS new_state,
         scoring, id_source, id_confidence, class_confidence",
    ));
    out.extend(swap("account_status", "site, company_domain, status, note, set_by, set_at, score, seq"));
    out.extend(swap("account_owners", "site, company_domain, owner, changed_by, changed_at, seq"));
    out.extend(swap(
        "account_owner_history",
        "site, company_domain, owner, previous_owner, changed_by, reason, changed_at, seq",
    ));
    out.extend(swap(
        "alerts",
        "alert_id, site, company_domain, kind, stage, score, raised_at,
         replaceAll(payload, '\"globex.example\"', '\"www.globex.example\"') AS new_payload",
    ));
    out.push("DROP TABLE rekeyed".into());
    out.push("CREATE TABLE rekeyed (rule String, with_as_data UInt8, done_at DateTime('UTC')) ENGINE = TinyLog".into());
    out
}

#[test]
fn old_keys_move_on_clickhouse_by_migrate_and_a_second_run_changes_nothing() {
    let (port, _log) = receiver(0);
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let mut process = p.process(&config(port));
    let mut ingest = p.ingest("");
    let api_proc = p.api(&format!("[dashboard]\ntoken = \"{TOKEN}\"\n"));
    traffic(|ip, vid, eid, path| {
        let body = json!([{ "site": "s1", "type": "pageview", "url": format!("https://w.example{path}"),
                            "vid": vid, "eid": eid }]);
        assert_eq!(ingest.post(ip, &body.to_string()).expect("POST").status, 202);
    });
    common::poll(
        "Globex's delivery",
        Duration::from_secs(60),
        || p.sql("SELECT argMax(status, version) AS status FROM alert_deliveries GROUP BY delivery_id"),
        |rows| *rows == json!([{"status": "delivered"}]),
    );
    let r = common::http(
        api_proc.addr,
        "POST",
        "/api/accounts/globex.example/status",
        &[("authorization", &format!("Bearer {TOKEN}")), ("content-type", "application/json")],
        br#"{"status":"contacted"}"#,
    )
    .expect("POST status");
    assert_eq!(r.status, 200, "{}", r.body);
    common::poll(
        "every event stored",
        Duration::from_secs(30),
        || p.sql("SELECT count() AS n FROM events FINAL"),
        |rows| rows[0]["n"] == 6,
    );
    ingest.terminate();
    process.terminate();

    clickhouse_exec(&p.clickhouse, &old_keys_clickhouse());
    assert_eq!(
        p.sql("SELECT DISTINCT company_domain FROM accounts FINAL ORDER BY company_domain"),
        json!([{"company_domain": "as64506"}, {"company_domain": OLD_GLOBEX}])
    );

    let first = migrate(&["--clickhouse", &p.clickhouse]);
    assert!(first.contains("2 old key(s) moved"), "{first}");
    let sql = |q: &str| p.sql(q);
    assert_moved(sql);
    let before = dump(sql);
    let second = migrate(&["--clickhouse", &p.clickhouse]);
    assert!(second.contains("0 old key(s) moved, 0 event(s) relabelled, 0 account(s)"), "{second}");
    assert_eq!(dump(sql), before, "the second run changes nothing");
}
