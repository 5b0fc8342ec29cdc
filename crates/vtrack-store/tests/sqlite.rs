use vtrack_model::account::AccountScore;
use vtrack_model::event::CompanyInfo;
use vtrack_model::{EnrichedEvent, NetworkClass};
use vtrack_store::{EventRow, SqliteStore, Value};

fn no_score(_: &vtrack_model::account::AccountHistory) -> AccountScore {
    AccountScore::default()
}

fn event(id: &str, vid: &str, ts_secs: i64, kind: &str, company: (&str, NetworkClass)) -> EnrichedEvent {
    EnrichedEvent {
        event_id: id.into(),
        site: "s".into(),
        ts_ms: ts_secs * 1000,
        received_ms: ts_secs * 1000,
        kind: kind.into(),
        visitor_id: vid.into(),
        url: "https://x.example/pricing".into(),
        path: "/pricing".into(),
        eng_ms: if kind == "engagement" { 1500 } else { 0 },
        company: CompanyInfo {
            company_name: company.0.into(),
            company_domain: company.0.to_lowercase() + ".example",
            network_class: company.1,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn ints(store: &SqliteStore, sql: &str) -> Vec<i64> {
    let r = store.query(sql).unwrap();
    r.rows
        .into_iter()
        .flatten()
        .map(|v| match v {
            Value::Int(i) => i,
            other => panic!("not an int: {other:?}"),
        })
        .collect()
}

#[test]
fn replaying_a_batch_changes_nothing_and_derived_tables_follow_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let acme = ("Acme", NetworkClass::Business);
    let isp = ("Broadband", NetworkClass::Isp);
    let evs = [
        event("e1", "v1", 1000, "pageview", acme),
        event("e2", "v1", 1100, "pageview", acme),
        event("e3", "v1", 1200, "engagement", acme),
        event("e4", "v2", 1300, "pageview", acme),
        event("e5", "v3", 1300, "pageview", isp),
    ];
    let rows: Vec<EventRow> = evs
        .iter()
        .map(|e| EventRow {
            event: e,
            session_id: if e.visitor_id == "v1" { "e1" } else { &e.event_id },
            is_return: false,
        })
        .collect();
    let first = store.write_batch(&rows, &mut no_score, &[]).unwrap();
    assert_eq!((first.inserted, first.sessions, first.accounts), (5, 3, 1));
    let again = store.write_batch(&rows, &mut no_score, &[]).unwrap();
    assert_eq!(again.inserted, 0);

    assert_eq!(ints(&store, "SELECT count(*) FROM events"), [5]);
    assert_eq!(
        ints(&store, "SELECT pageviews, events, engaged_ms FROM sessions WHERE session_id = 'e1'"),
        [2, 3, 1500]
    );
    let r = store.query("SELECT started_at, ended_at, company_domain FROM sessions WHERE session_id = 'e1'").unwrap();
    assert_eq!(
        r.rows[0],
        [
            Value::Text("1970-01-01 00:16:40".into()),
            Value::Text("1970-01-01 00:20:00".into()),
            Value::Text("acme.example".into())
        ]
    );
    // The ISP visitor has a session but no account.
    assert_eq!(ints(&store, "SELECT count(*) FROM sessions WHERE session_id = 'e5' AND company_domain = ''"), [1]);
    assert_eq!(ints(&store, "SELECT visitors, sessions, pageviews FROM accounts"), [2, 2, 3]);

    let last = store.last_visit("s", "v1").unwrap().unwrap();
    assert_eq!((last.ts_secs, last.session_id.as_str()), (1200, "e1"));
    assert!(store.last_visit("s", "nobody").unwrap().is_none());
    let known = store.existing_ids(["e1", "zz", "e5"]).unwrap();
    assert!(known.contains("e1") && known.contains("e5") && !known.contains("zz"));
}

#[test]
fn read_only_connections_refuse_writes_and_ddl() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let ro = SqliteStore::open_read_only(dir.path()).unwrap();
    assert!(ro.query("SELECT count(*) FROM accounts").is_ok());
    for sql in ["DELETE FROM events", "DROP TABLE events", "CREATE TABLE x (a)", "INSERT INTO accounts DEFAULT VALUES"]
    {
        let err = ro.query(sql).unwrap_err().to_string();
        assert!(err.contains("readonly") || err.contains("read-only") || err.contains("read only"), "{sql}: {err}");
    }
    let missing = tempfile::tempdir().unwrap();
    assert!(SqliteStore::open_read_only(missing.path()).unwrap_err().to_string().contains("--data-dir"));
}
