//! The embedded store: one SQLite file in WAL mode, one writer, any number of readers.
//!
//! `write.rs` holds the batch write's primitives (inside one transaction), `dashboard.rs` the dashboard's
//! reads, `schema.rs` the migrations; what both stores do for one concept (owners, the deadline check's read,
//! learned networks) sits in the crate's top-level module of that concept, each store's SQL side by side.

mod dashboard;
mod outbox;
#[cfg(test)]
mod plans;
pub mod schema;
mod write;

pub use dashboard::SqliteDashboard;

use crate::{QueryResult, StoreError, Value};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

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

/// A batch reads the sessions and accounts it touches that processing does not hold in memory; with SQLite's default 2 MiB cache a growing
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

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
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

    /// Runs any statement the connection allows (read-only connections refuse writes) and collects the rows.
    pub fn query(&self, sql: &str) -> Result<QueryResult, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        // The connection is read-only already; refusing before the first step also keeps a statement like
        // `VACUUM INTO 'file'` from creating its file on the way to failing.
        if !stmt.readonly() {
            return Err(StoreError::NotReadOnly);
        }
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

    /// [`SqliteStore::query`], interrupted once it has run for `limit`: a watchdog thread interrupts the
    /// connection unless the query ends first.
    pub fn query_within(&self, sql: &str, limit: std::time::Duration) -> Result<QueryResult, StoreError> {
        let handle = self.conn.get_interrupt_handle();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if wait.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                handle.interrupt();
                return true;
            }
            false
        });
        let result = self.query(sql);
        drop(done);
        let interrupted = watchdog.join().unwrap_or(false);
        match result {
            Err(StoreError::Sqlite(e))
                if interrupted && e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) =>
            {
                Err(StoreError::TimedOut(limit))
            }
            other => other,
        }
    }
}
