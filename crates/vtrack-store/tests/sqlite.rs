mod common;

use common::block_on;
use std::time::Duration;
use vtrack_model::config::{AlertsConfig, ScoringConfig};
use vtrack_model::event::CompanyInfo;
use vtrack_model::{EnrichedEvent, NetworkClass};
use vtrack_process::{BatchRules, EventStore, Processor, Scorer};
use vtrack_store::{SqliteStore, Value};

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
    let rules = BatchRules {
        scorer: Scorer::new(&ScoringConfig::default(), &AlertsConfig::default()),
        webhooks: vec![],
        owners: Default::default(),
    };
    let mut processor = Processor::new(Duration::from_secs(1800));
    let first = block_on(processor.write(&mut store, &rules, &evs, &[])).unwrap();
    assert_eq!((first.stored, first.sessions, first.accounts), (5, 3, 1));
    // Replayed to a processor that remembers nothing (a restart): the store says what it has.
    let again = block_on(Processor::new(Duration::from_secs(1800)).write(&mut store, &rules, &evs, &[])).unwrap();
    assert_eq!((again.stored, again.duplicates, again.accounts), (0, 5, 0));

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

    let last = block_on(store.last_visits("s", &["v1", "nobody"])).unwrap();
    assert_eq!((last["v1"].last_ts, last["v1"].session_id.as_str()), (1200, "e1"));
    assert!(!last.contains_key("nobody"));
    let probe = |id: &str| vtrack_model::EnrichedEvent { event_id: id.into(), ..Default::default() };
    let (e1, zz, e5) = (probe("e1"), probe("zz"), probe("e5"));
    let known = block_on(store.stored_events("s", &[], &[&e1, &zz, &e5])).unwrap();
    assert!(known.contains_key("e1") && known.contains_key("e5") && !known.contains_key("zz"));
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
