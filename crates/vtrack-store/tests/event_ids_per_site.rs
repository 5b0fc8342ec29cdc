//! Event ids are unique per site (issue 24): the SQLite migration that puts the site into the primary keys
//! of `events` and `sessions` keeps every stored row, and afterwards one site's event id no longer hides
//! another site's event, in the store and in the batch write.

mod common;

use common::block_on;
use std::time::Duration;
use vtrack_model::config::{AlertsConfig, ScoringConfig};
use vtrack_model::event::CompanyInfo;
use vtrack_model::{EnrichedEvent, NetworkClass};
use vtrack_process::{BatchRules, Processor, Scorer};
use vtrack_store::sqlite::schema::MIGRATIONS;
use vtrack_store::{SqliteStore, Value};

fn event(site: &str, id: &str, vid: &str, ts_secs: i64) -> EnrichedEvent {
    EnrichedEvent {
        event_id: id.into(),
        site: site.into(),
        ts_ms: ts_secs * 1000,
        received_ms: ts_secs * 1000,
        kind: "pageview".into(),
        visitor_id: vid.into(),
        url: "https://x.example/pricing".into(),
        path: "/pricing".into(),
        company: CompanyInfo {
            company_name: "Acme".into(),
            company_domain: "acme.example".into(),
            network_class: NetworkClass::Business,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn rows(store: &SqliteStore, sql: &str) -> Vec<Vec<Value>> {
    store.query(sql).unwrap().rows
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

#[test]
fn the_migration_keeps_the_rows_and_ids_repeat_across_sites() {
    let dir = tempfile::tempdir().unwrap();
    // A store as the release before the migration left it: every migration before it, one event and its
    // session stored.
    let before = MIGRATIONS.iter().position(|m| m.contains("CREATE TABLE events_by_site")).expect("the migration");
    let conn = rusqlite::Connection::open(dir.path().join("vtrack.db")).unwrap();
    for sql in &MIGRATIONS[..before] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", before as i64).unwrap();
    conn.execute_batch(
        "INSERT INTO events VALUES ('old', 's1', '1970-01-01 00:10:00', '1970-01-01 00:10:00', 'pageview', 'v0',
           'old', 0, 'https://x.example/', '/', '', 't', '', '', '', '', '', 0, '', '', 'Acme', 'acme.example',
           0, 'business', 'DE', '', 'ranges', 100);
         INSERT INTO sessions VALUES ('old', 's1', 'v0', 'acme.example', 'Acme', 'business', 'DE',
           '1970-01-01 00:10:00', '1970-01-01 00:10:00', 1, 1, 0, 0, '/', '', '', '', '', 'ranges', 100);",
    )
    .unwrap();
    drop(conn);

    let mut store = SqliteStore::open(dir.path()).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("vtrack.db")).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version as usize, MIGRATIONS.len(), "opening the store migrated it");
    drop(conn);
    assert_eq!(
        rows(&store, "SELECT site, event_id, company_domain, id_source, id_confidence FROM events"),
        [[text("s1"), text("old"), text("acme.example"), text("ranges"), Value::Int(100)]],
        "the migration kept the stored event"
    );
    assert_eq!(
        rows(&store, "SELECT site, session_id, pageviews FROM sessions"),
        [[text("s1"), text("old"), Value::Int(1)]]
    );
    let rules = BatchRules {
        scorer: Scorer::new(&ScoringConfig::default(), &AlertsConfig::default()),
        webhooks: vec![],
        owners: Default::default(),
    };
    let mut processor = Processor::new(Duration::from_secs(1800));
    // One batch with the same id on two sites, then the same id again on a third in a batch of its own.
    let first = [event("s1", "e1", "v1", 1000), event("s2", "e1", "v2", 1000)];
    let w = block_on(processor.write(&mut store, &rules, &first, &[])).unwrap();
    assert_eq!((w.stored, w.duplicates), (2, 0), "{w:?}");
    let w = block_on(processor.write(&mut store, &rules, &[event("s3", "e1", "v3", 1001)], &[])).unwrap();
    assert_eq!(w.stored, 1, "{w:?}");
    // A replay to a processor that remembers nothing is still a duplicate, per site.
    let w = block_on(Processor::new(Duration::from_secs(1800)).write(&mut store, &rules, &first, &[])).unwrap();
    assert_eq!((w.stored, w.duplicates), (0, 2), "{w:?}");
    assert_eq!(
        rows(&store, "SELECT site, event_id, visitor_id FROM events WHERE event_id = 'e1' ORDER BY site"),
        [
            [text("s1"), text("e1"), text("v1")],
            [text("s2"), text("e1"), text("v2")],
            [text("s3"), text("e1"), text("v3")]
        ]
    );
    // Each site's session starts at its own event e1, and is its own row.
    assert_eq!(
        rows(&store, "SELECT site, session_id, visitor_id FROM sessions WHERE session_id = 'e1' ORDER BY site"),
        [
            [text("s1"), text("e1"), text("v1")],
            [text("s2"), text("e1"), text("v2")],
            [text("s3"), text("e1"), text("v3")]
        ]
    );
}
