//! Every statement vtrack runs on `events` and `sessions` finds its rows through an index, and every index
//! of those tables is wanted by one of them: the reads of the batch write, the dashboard, the deadline check
//! and the owners, run for real on a small store with every statement recorded (SQLite's trace, with the
//! bound values in the text), then each one's plan read with `EXPLAIN QUERY PLAN`. A plan that scans either
//! table whole fails, naming the statement. So does an index whose absence would leave every plan as good
//! (each index is dropped in turn, in a transaction rolled back, and the plans read again): each index costs
//! every insert, so each must be wanted by a read; the example queries of `docs/tables.md` count as reads
//! here. And so does an index that appears or disappears without [`INDEXES`] changing with it.

use crate::dashboard::{AccountFilter, DashboardReads, OwnerUpdate, SqliteDashboard, StatusUpdate};
use crate::SqliteStore;
use rusqlite::trace::{TraceEvent, TraceEventCodes};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use vtrack_model::event::{CompanyInfo, Utm};
use vtrack_model::{EnrichedEvent, IdSource, NetworkClass};
use vtrack_process::{AccountStore, BatchRules, EventStore, FollowupStore, Processor, Scope, Scorer, SessionStore};

/// The indexes of `events` and `sessions`, and the reads that want each. Migration 8 (on this branch)
/// dropped `sessions_visitor`, which served only reads by site (`sessions_account` serves them as well), and
/// added `events_received`, without which the live view read every event of the site.
const INDEXES: &[(&str, &str)] = &[
    ("events", "sqlite_autoindex_events_1: event_id, the duplicate check"),
    ("events", "events_visitor: a visitor's events (last visit, relabelling by identity)"),
    ("events", "events_session: a session's events (account detail, account history)"),
    ("events", "events_ts: docs/tables.md's query by time (who read the pricing page this week)"),
    ("events", "events_company: relabelling by a learned key"),
    ("events", "events_received: the live view (the site's last minutes)"),
    ("sessions", "sqlite_autoindex_sessions_1: session_id, the batch write's session rows"),
    ("sessions", "sessions_account: an account's sessions (detail, history, campaigns filter)"),
];

/// The example queries of `docs/tables.md`, for people to run as they are: their plans count towards the
/// indexes wanted (a whole-table scan is theirs to choose, so it does not fail the test).
fn documented_queries() -> Vec<String> {
    let doc = include_str!("../../../../docs/tables.md");
    let mut out = Vec::new();
    for block in doc.split("```sql").skip(1) {
        let body = block.split("```").next().unwrap_or("");
        let body: String = body.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        out.extend(body.split(';').map(str::trim).filter(|q| !q.is_empty()).map(String::from));
    }
    out
}

/// Statements run while recording.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// SQLite's trace callback: keeps each statement's text with its bound values (a plan can depend on them).
fn record(event: TraceEvent<'_>) {
    if let TraceEvent::Stmt(stmt, sql) = event {
        let text = stmt.expanded_sql().unwrap_or_else(|| sql.to_string());
        if let Ok(mut seen) = SEEN.lock() {
            seen.push(text);
        }
    }
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(fut)
}

fn event(id: &str, vid: &str, ts_secs: i64, kind: &str, company: &CompanyInfo) -> EnrichedEvent {
    EnrichedEvent {
        event_id: id.into(),
        site: "s".into(),
        ts_ms: ts_secs * 1000,
        received_ms: ts_secs * 1000,
        kind: kind.into(),
        visitor_id: vid.into(),
        url: "https://x.example/pricing?utm_campaign=spring".into(),
        path: "/pricing".into(),
        utm: Utm { source: "news".into(), campaign: "spring".into(), ..Default::default() },
        email: if kind == "identify" { "ann@acme.example".into() } else { String::new() },
        company: company.clone(),
        ..Default::default()
    }
}

/// The table each name in `sql`'s FROM and JOIN clauses stands for (`sessions s` → `s` is `sessions`).
fn aliases(sql: &str) -> HashMap<String, String> {
    let words: Vec<&str> = sql.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',').collect();
    let words: Vec<&str> = words.into_iter().filter(|w| !w.is_empty()).collect();
    let mut out = HashMap::new();
    for (i, w) in words.iter().enumerate() {
        if w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("JOIN") || w.eq_ignore_ascii_case("INTO") {
            if let Some(table) = words.get(i + 1) {
                out.insert(table.to_string(), table.to_string());
                if let Some(alias) = words.get(i + 2).filter(|a| a.chars().all(|c| c.is_ascii_alphanumeric())) {
                    out.insert(alias.to_string(), table.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn reads_of_events_and_sessions_use_an_index() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut store = SqliteStore::open(dir.path()).expect("the store");
    store.conn_mut().trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(record));
    let acme = CompanyInfo {
        company_name: "Acme".into(),
        company_domain: "acme.example".into(),
        network_class: NetworkClass::Business,
        id_source: IdSource::Ranges,
        ..Default::default()
    };
    let as_org = CompanyInfo {
        company_name: "AS Org".into(),
        company_domain: "as1766".into(),
        network_class: NetworkClass::Business,
        id_source: IdSource::Asn,
        id_confidence: 50,
        ..Default::default()
    };
    let rules = BatchRules {
        scorer: Scorer::new(&Default::default(), &Default::default()),
        webhooks: vec![vtrack_process::DeliveryTarget {
            url: "http://127.0.0.1:9/".into(),
            cooldown_secs: 60,
            recontact_margin: 10.0,
            owner: None,
            escalation: false,
        }],
        owners: Default::default(),
    };
    // Enough visits to raise alerts; an identify on an AS-only network (a learned key, then relabelling).
    let mut events = Vec::new();
    for v in 0..6 {
        for i in 0..8 {
            events.push(event(&format!("a{v}-{i}"), &format!("v{v}"), 1_000_000 + v * 100 + i * 10, "pageview", &acme));
        }
    }
    for v in 0..3 {
        events.push(event(&format!("x{v}"), &format!("w{v}"), 1_000_000 + v, "pageview", &as_org));
        events.push(event(&format!("y{v}"), &format!("w{v}"), 1_000_100 + v, "identify", &as_org));
    }
    let mut processor = Processor::new(Duration::from_secs(1800));
    block_on(processor.write(&mut store, &rules, &events, &[])).expect("the first batch");
    // A restart: nothing in memory, so the batch write reads visitors, sessions and accounts back.
    let later: Vec<EnrichedEvent> =
        (0..6).map(|v| event(&format!("b{v}"), &format!("v{v}"), 1_000_900 + v, "pageview", &acme)).collect();
    block_on(Processor::new(Duration::from_secs(1800)).write(&mut store, &rules, &later, &[])).expect("a batch");
    block_on(Processor::new(Duration::from_secs(1800)).write(&mut store, &rules, &events, &[])).expect("a replay");
    // The store's primitives the batch write calls only in some cases, called directly.
    block_on(async {
        let refs: Vec<&EnrichedEvent> = events.iter().collect();
        store.stored_events("s", &["v0"], &refs).await.expect("stored events");
        store.last_visits("s", &["v0", "w1"]).await.expect("last visits");
        for scope in [Scope::Visitor("v1"), Scope::Key("as1766")] {
            let found = store.scope_events("s", scope).await.expect("scope");
            let refs: Vec<_> = found.iter().collect();
            store.relabel_events("s", &refs).await.expect("relabel");
        }
        store.session_rows("s", &["v0"], &["a0-0", "b1"]).await.expect("session rows");
        store.account_histories("s", &["acme.example"]).await.expect("histories");
        store.account_states("s", &["acme.example"]).await.expect("states");
        store.hot_followups().await.expect("followups");
    });
    // The dashboard, every read and filter, on a connection of its own (traced too).
    let mut dash_store = SqliteStore::open(dir.path()).expect("a second connection");
    dash_store.conn_mut().trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(record));
    let dash = SqliteDashboard::new(dash_store);
    let now = 1_001_000_000;
    block_on(async {
        for filter in [
            AccountFilter { limit: 100, ..Default::default() },
            AccountFilter {
                stage: "hot".into(),
                class: "business".into(),
                country: "de".into(),
                campaign: "spring".into(),
                status: Some(Default::default()),
                text: "acm".into(),
                identified_by: "ranges".into(),
                limit: 10,
            },
        ] {
            dash.accounts("s", &filter, now).await.expect("accounts");
        }
        dash.account("s", "acme.example", now).await.expect("detail");
        let status = StatusUpdate { status: Default::default(), note: "n".into(), set_by: "me".into() };
        dash.set_status("s", "acme.example", &status, now).await.expect("status");
        let owner = OwnerUpdate { owner: "ann".into(), set_by: "me".into() };
        dash.set_owner("s", "acme.example", &owner, now).await.expect("owner");
        dash.funnel_facts("s").await.expect("funnel");
        dash.campaigns("s").await.expect("campaigns");
        dash.live("s", now - 300_000).await.expect("live");
    });

    let statements: BTreeSet<String> = SEEN.lock().expect("the record").drain(..).collect();
    let conn = rusqlite::Connection::open(dir.path().join(super::DB_FILE)).expect("a plain connection");
    let checked: Vec<(&str, HashMap<String, String>)> = statements
        .iter()
        .filter(|sql| {
            let head = sql.trim_start().to_ascii_uppercase();
            ["SELECT", "UPDATE", "DELETE", "INSERT", "WITH"].iter().any(|k| head.starts_with(k))
        })
        .map(|sql| (sql.as_str(), aliases(sql)))
        .filter(|(_, names)| names.values().any(|t| t == "events" || t == "sessions"))
        .collect();
    assert!(checked.len() >= 15, "only {} statements on events and sessions were recorded", checked.len());
    let shapes = |conn: &rusqlite::Connection| -> Vec<Shape> {
        checked.iter().map(|(sql, names)| shape(conn, sql, names)).collect()
    };
    let now = shapes(&conn);
    let scans: Vec<String> = checked
        .iter()
        .zip(&now)
        .filter(|(_, shape)| !shape.scans.is_empty())
        .map(|((sql, _), shape)| format!("{}\n    in: {}\n", shape.scans.join("; "), one_line(sql)))
        .collect();
    assert!(scans.is_empty(), "statements that scan a whole table:\n{}", scans.join("\n"));
    let documented = documented_queries();
    assert!(documented.len() >= 2, "docs/tables.md's example queries: {documented:?}");
    let checked: Vec<(&str, HashMap<String, String>)> =
        checked.into_iter().chain(documented.iter().map(|sql| (sql.as_str(), aliases(sql)))).collect();
    let shapes = |conn: &rusqlite::Connection| -> Vec<Shape> {
        checked.iter().map(|(sql, names)| shape(conn, sql, names)).collect()
    };
    let now = shapes(&conn);

    let mut have: Vec<(String, String)> = conn
        .prepare("SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('events', 'sessions')")
        .expect("the index list")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("indexes")
        .collect::<Result<_, _>>()
        .expect("rows");
    have.sort();
    let mut want: Vec<(String, String)> =
        INDEXES.iter().map(|(t, what)| (t.to_string(), what.split(':').next().unwrap_or("").to_string())).collect();
    want.sort();

    // Each index (a primary key's cannot be dropped) is wanted: without it some plan gets worse.
    let mut unwanted = Vec::new();
    for (_, name) in have.iter().filter(|(_, name)| !name.starts_with("sqlite_autoindex")) {
        conn.execute_batch(&format!("BEGIN; DROP INDEX {name};")).expect("drop an index for a while");
        let without = shapes(&conn);
        conn.execute_batch("ROLLBACK").expect("roll back");
        let worse: Vec<String> = checked
            .iter()
            .zip(now.iter().zip(&without))
            .filter(|(_, (with, without))| without.worse_than(with))
            .map(|((sql, _), _)| one_line(sql))
            .collect();
        if worse.is_empty() {
            unwanted.push(name.clone());
        } else {
            eprintln!("{name} is wanted by {} statements, e.g. {}", worse.len(), worse[0]);
        }
    }
    assert!(unwanted.is_empty(), "indexes no read is worse without (each costs every insert): {unwanted:?}");
    assert_eq!(have, want, "the indexes changed: say which read wants each in INDEXES");
}

/// What a statement's plan costs, as far as indexes go.
#[derive(Debug, Default)]
struct Shape {
    /// Whole-table scans of `events` or `sessions`.
    scans: Vec<String>,
    /// Columns constrained in the index searches (`SEARCH t USING INDEX i (a=? AND b>?)` counts 2).
    constrained: usize,
    /// Sorts and groupings done in a temporary B-tree rather than read in an index's order.
    temp_sorts: usize,
}

impl Shape {
    fn worse_than(&self, other: &Shape) -> bool {
        self.scans.len() > other.scans.len()
            || self.constrained < other.constrained
            || self.temp_sorts > other.temp_sorts
    }
}

fn shape(conn: &rusqlite::Connection, sql: &str, names: &HashMap<String, String>) -> Shape {
    let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("a plan");
    let details: Vec<String> =
        plan.query_map([], |r| r.get::<_, String>(3)).expect("plan rows").collect::<Result<_, _>>().expect("rows");
    let mut shape = Shape::default();
    for d in details {
        let mut words = d.split_whitespace();
        match words.next() {
            Some("SCAN") => {
                let table = words.next().unwrap_or("");
                let table = names.get(table).map(String::as_str).unwrap_or(table);
                if table == "events" || table == "sessions" {
                    shape.scans.push(d.clone());
                }
            }
            Some("SEARCH") => {
                if let Some(inner) = d.rsplit_once('(').map(|(_, inner)| inner.trim_end_matches(')')) {
                    shape.constrained += inner.split(" AND ").count();
                }
            }
            Some("USE") if d.contains("TEMP B-TREE") => shape.temp_sorts += 1,
            _ => {}
        }
    }
    shape
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}
