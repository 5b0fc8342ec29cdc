//! The embedded store: one SQLite file in WAL mode, one writer, any number of readers.

use crate::accounts::{self, DeliveryTarget, ScoreFn};
use crate::{schema, EventRow, LastVisit, QueryResult, StoreError, Value};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use vtrack_model::time::{format_ms, parse_secs};

/// The database file inside `--data-dir`.
pub const DB_FILE: &str = "vtrack.db";

/// A connection to the embedded store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Page cache of each connection, KiB (SQLite's default is 2 MiB).
const CACHE_KIB: i64 = 64 * 1024;
/// How much of the file is read through a memory map instead of `pread` calls.
const MMAP_BYTES: i64 = 256 << 20;

/// Every batch re-reads the sessions and accounts it touches; with SQLite's default 2 MiB cache a growing
/// store turns those reads into `pread` calls (profiled: a third of processing time). A larger cache and
/// a memory map keep them in memory: the map is file-backed page cache the kernel may drop, so the
/// process's own memory stays bounded by `CACHE_KIB`.
fn tune_reads(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the store for writing.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_path_buf(), source })?;
        let conn = Connection::open(db_path(data_dir))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        tune_reads(&conn)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = SqliteStore { conn };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the store so that no statement can change it: SQLite itself refuses writes and DDL.
    pub fn open_read_only(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = db_path(data_dir);
        if !path.exists() {
            return Err(StoreError::Missing(path));
        }
        let conn =
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "query_only", true)?;
        tune_reads(&conn)?;
        Ok(SqliteStore { conn })
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::SchemaTooNew { found: version, known });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
            tracing::info!(version = i + 1, "store schema migrated");
        }
        Ok(())
    }

    /// Which of `ids` the store already has: the bus may deliver an event more than once.
    pub fn existing_ids<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Result<HashSet<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT 1 FROM events WHERE event_id = ?1")?;
        let mut found = HashSet::new();
        for id in ids {
            if stmt.exists([id])? {
                found.insert(id.to_string());
            }
        }
        Ok(found)
    }

    /// The latest event of a visitor on a site, if any.
    pub fn last_visit(&self, site: &str, visitor_id: &str) -> Result<Option<LastVisit>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT ts, session_id, is_return FROM events WHERE site = ?1 AND visitor_id = ?2 ORDER BY ts DESC LIMIT 1",
        )?;
        let row = stmt
            .query_row([site, visitor_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?))
            })
            .optional()?;
        Ok(row.map(|(ts, session_id, is_return)| LastVisit {
            ts_secs: parse_secs(&ts).unwrap_or(0),
            session_id,
            is_return,
        }))
    }

    /// Inserts a batch of events and recomputes the sessions and accounts it touched, in one transaction.
    /// Events already present are skipped, so a replayed batch changes nothing.
    ///
    /// Each touched account is then scored by `score` from its whole history, and the alerts it raises are
    /// recorded and queued for `targets` — in the same transaction, so a crash cannot separate them.
    pub fn write_batch(
        &mut self,
        rows: &[EventRow<'_>],
        score: ScoreFn<'_>,
        targets: &[DeliveryTarget],
    ) -> Result<WriteReport, StoreError> {
        let tx = self.conn.transaction()?;
        let mut report = WriteReport::default();
        let mut sessions = crate::sessions::SessionDeltas::default();
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (event_id, site, ts, received_at, type, visitor_id, session_id, is_return,
                   url, path, referrer, title, utm_source, utm_medium, utm_campaign, utm_term, utm_content, eng_ms,
                   email, props, company_name, company_domain, asn, network_class, country, city)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                   ?21, ?22, ?23, ?24, ?25, ?26)",
            )?;
            for row in rows {
                let e = row.event;
                let c = &e.company;
                let n = insert.execute(params![
                    e.event_id,
                    e.site,
                    format_ms(e.ts_ms),
                    format_ms(e.received_ms),
                    e.kind,
                    e.visitor_id,
                    row.session_id,
                    row.is_return,
                    e.url,
                    e.path,
                    e.referrer,
                    e.title,
                    e.utm.source,
                    e.utm.medium,
                    e.utm.campaign,
                    e.utm.term,
                    e.utm.content,
                    e.eng_ms as i64,
                    e.email,
                    e.props,
                    c.company_name,
                    c.company_domain,
                    c.asn,
                    c.network_class.as_str(),
                    c.country,
                    c.city,
                ])?;
                if n == 1 {
                    report.inserted += 1;
                    sessions.add(row);
                }
            }
        }
        let accounts = sessions.apply(&tx)?;
        let new_ids: HashSet<String> = rows.iter().map(|r| r.event.event_id.clone()).collect();
        for (site, domain) in &accounts {
            let previous = accounts::previous_score(&tx, site, domain)?;
            accounts::recompute_aggregates(&tx, site, domain)?;
            let history = accounts::history(&tx, site, domain, previous, &new_ids)?;
            let verdict = score(&history);
            accounts::save_score(&tx, site, domain, &verdict)?;
            for alert in &verdict.alerts {
                report.alerts += 1;
                report.deliveries += accounts::raise(&tx, alert, targets)?;
            }
        }
        tx.commit()?;
        report.sessions = sessions.len();
        report.accounts = accounts.len();
        Ok(report)
    }

    /// Runs any statement the connection allows (read-only connections refuse writes) and collects the rows.
    pub fn query(&self, sql: &str) -> Result<QueryResult, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
        let n = columns.len();
        let mut rows = Vec::new();
        let mut cursor = stmt.query([])?;
        while let Some(r) = cursor.next()? {
            let mut row = Vec::with_capacity(n);
            for i in 0..n {
                row.push(Value::from(r.get_ref(i)?));
            }
            rows.push(row);
        }
        Ok(QueryResult { columns, rows })
    }
}

/// What one `write_batch` changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// New events (duplicates are not counted).
    pub inserted: usize,
    /// Sessions recomputed.
    pub sessions: usize,
    /// Accounts recomputed.
    pub accounts: usize,
    /// Alerts raised (before de-duplication by id).
    pub alerts: usize,
    /// Webhook deliveries queued.
    pub deliveries: usize,
}
