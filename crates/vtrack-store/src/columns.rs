//! One column list per derived table (`sessions`, `accounts`), in the order of its rows as both stores
//! insert them: SQLite's inserts and reads are rendered from it ([`list`], [`placeholders`]), ClickHouse's
//! row types must name the same columns in the same order, and both schemas must hold exactly them (the tests
//! below, and the production test for a live ClickHouse). A column added to one table is added here first,
//! and the tests name every place that disagrees.

/// `sessions`: one row per session (`vtrack_process::SessionRow`).
pub const SESSIONS: &[&str] = &[
    "session_id",
    "site",
    "visitor_id",
    "company_domain",
    "company_name",
    "network_class",
    "country",
    "started_at",
    "ended_at",
    "pageviews",
    "events",
    "engaged_ms",
    "is_return",
    "entry_path",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "id_source",
    "id_confidence",
    "class_confidence",
];

/// `accounts`: one row per account (`vtrack_process::AccountState` and its last verdict). ClickHouse adds
/// its `version` (which copy of a row wins a merge), a mechanism of that store rather than a column of data.
pub const ACCOUNTS: &[&str] = &[
    "site",
    "company_domain",
    "company_name",
    "network_class",
    "country",
    "first_seen",
    "last_seen",
    "visitors",
    "sessions",
    "pageviews",
    "engaged_ms",
    "score",
    "score_at",
    "stage",
    "return_visits",
    "topics",
    "top_pages",
    "campaigns",
    "contacts",
    "is_target",
    "excluded",
    "state",
    "scoring",
    "id_source",
    "id_confidence",
    "class_confidence",
];

/// The account fields the dashboard reads, in the order of `dashboard::StoredAccount`.
pub const ACCOUNT_VIEW: &[&str] = &[
    "company_domain",
    "company_name",
    "network_class",
    "country",
    "stage",
    "score",
    "visitors",
    "sessions",
    "pageviews",
    "return_visits",
    "first_seen",
    "last_seen",
    "top_pages",
    "topics",
    "campaigns",
    "contacts",
    "is_target",
    "excluded",
    "score_at",
    "id_source",
    "id_confidence",
    "class_confidence",
];

/// `columns` as a select or insert list, each rendered by `each` (a table alias, a cast).
pub fn list(columns: &[&str], each: impl Fn(&str) -> String) -> String {
    columns.iter().map(|c| each(c)).collect::<Vec<_>>().join(", ")
}

/// SQLite's numbered placeholders for `columns`: `?1, ?2, …`.
pub fn placeholders(columns: &[&str]) -> String {
    (1..=columns.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clickhouse::rows::{AccountRecord, SessionRecord};
    use clickhouse::Row;

    fn sqlite_columns(table: &str) -> Vec<String> {
        let dir = std::env::temp_dir().join(format!("vtrack-columns-{}-{table}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = crate::SqliteStore::open(&dir).unwrap();
        let mut stmt = store.conn().prepare(&format!("SELECT name FROM pragma_table_info('{table}')")).unwrap();
        let names = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect();
        let _ = std::fs::remove_dir_all(&dir);
        names
    }

    fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut v: Vec<String> = v.into_iter().collect();
        v.sort();
        v
    }

    #[test]
    fn the_sqlite_schema_holds_exactly_the_lists_columns() {
        let want = |c: &[&str]| sorted(c.iter().map(|s| s.to_string()));
        assert_eq!(sorted(sqlite_columns("sessions")), want(SESSIONS));
        assert_eq!(sorted(sqlite_columns("accounts")), want(ACCOUNTS));
    }

    #[test]
    fn the_clickhouse_rows_name_the_lists_columns_in_order() {
        assert_eq!(SessionRecord::COLUMN_NAMES, SESSIONS);
        let accounts: Vec<&str> = AccountRecord::COLUMN_NAMES.iter().copied().filter(|c| *c != "version").collect();
        assert_eq!(accounts, ACCOUNTS);
        for view in ACCOUNT_VIEW {
            assert!(ACCOUNTS.contains(view), "{view} is not an accounts column");
        }
    }
}
