//! The account-key migration's SQL in both stores (the migration itself is `vtrack_process::batch::rekey`):
//! which organisations stored events name under a key that is not a name key, moving what sales and
//! alerting recorded about an account to its new key(s), and the `rekeyed` mark that lets start-up skip
//! a migration already done.
//!
//! SQLite updates rows in place inside the migration's transaction. ClickHouse cannot update a key column:
//! rows are written again under the new key and the old ones deleted (mutations; [`ClickHouseStore::
//! wait_for_mutations`] waits for them), deliveries included: on a cluster a row's key chooses its shard,
//! so it is copied under the new key rather than updated in place. A new key is selected under an alias of its own: ClickHouse resolves a column name
//! in WHERE to a SELECT alias of that name.

use rusqlite::params;
use vtrack_model::time::{format_ms, now_ms};
use vtrack_process::{KeyedOrg, RekeyStore};

use crate::{ClickHouseStore, SqliteStore, StoreError};

/// The name of the key rule the mark records: a later rule change would use another.
pub const KEY_RULE: &str = "issue-14";

impl RekeyStore for SqliteStore {
    async fn keyed_organisations(&mut self) -> Result<Vec<KeyedOrg>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT site, company_domain, company_name, asn, count(*) FROM events
             WHERE company_domain NOT LIKE 'org:%' GROUP BY site, company_domain, company_name, asn",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(KeyedOrg {
                site: r.get(0)?,
                key: r.get(1)?,
                name: r.get(2)?,
                asn: r.get(3)?,
                events: r.get::<_, i64>(4)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn move_account_records(&mut self, site: &str, old: &str, new: &[&str]) -> Result<(), StoreError> {
        let Some(primary) = new.first() else { return Ok(()) };
        let conn = self.conn();
        for n in new.iter().filter(|n| **n != old) {
            conn.execute(
                "INSERT INTO account_status (site, company_domain, status, note, set_by, set_at, score)
                 SELECT site, ?3, status, note, set_by, set_at, score FROM account_status
                 WHERE site = ?1 AND company_domain = ?2 ORDER BY rowid",
                params![site, old, n],
            )?;
            conn.execute(
                "INSERT OR IGNORE INTO account_owners (site, company_domain, owner, changed_by, changed_at)
                 SELECT site, ?3, owner, changed_by, changed_at FROM account_owners
                 WHERE site = ?1 AND company_domain = ?2",
                params![site, old, n],
            )?;
            conn.execute(
                "INSERT INTO account_owner_history (site, company_domain, owner, previous_owner, changed_by, reason,
                   changed_at)
                 SELECT site, ?3, owner, previous_owner, changed_by, reason, changed_at FROM account_owner_history
                 WHERE site = ?1 AND company_domain = ?2 ORDER BY rowid",
                params![site, old, n],
            )?;
        }
        if !new.contains(&old) {
            for table in ["account_status", "account_owners", "account_owner_history"] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE site = ?1 AND company_domain = ?2"),
                    params![site, old],
                )?;
            }
        }
        if *primary == old {
            return Ok(());
        }
        conn.execute(
            "UPDATE alerts SET company_domain = ?3, payload = json_set(payload, '$.company_domain', ?3)
             WHERE site = ?1 AND company_domain = ?2",
            params![site, old, primary],
        )?;
        conn.execute(
            "UPDATE alert_deliveries SET company_domain = ?3 WHERE site = ?1 AND company_domain = ?2",
            params![site, old, primary],
        )?;
        Ok(())
    }
}

impl SqliteStore {
    /// Whether the key migration of [`KEY_RULE`] was done, and whether with the AS data (without it, an
    /// `as<N>` key of a carrier's customer cannot be told from the AS's own organisation, and stays).
    pub fn rekeyed(&self) -> Result<Option<bool>, StoreError> {
        let mut stmt = self.conn().prepare("SELECT max(with_as_data) FROM rekeyed WHERE rule = ?1")?;
        let v: Option<i64> = stmt.query_row([KEY_RULE], |r| r.get(0))?;
        Ok(v.map(|n| n != 0))
    }

    /// Records that the key migration of [`KEY_RULE`] was done.
    pub fn mark_rekeyed(&self, with_as_data: bool) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO rekeyed (rule, with_as_data, done_at) VALUES (?1, ?2, ?3)",
            params![KEY_RULE, with_as_data, format_ms(now_ms())],
        )?;
        Ok(())
    }
}

impl RekeyStore for ClickHouseStore {
    async fn keyed_organisations(&mut self) -> Result<Vec<KeyedOrg>, StoreError> {
        let rows: Vec<(String, String, String, u32, u64)> = self
            .client()
            .query(
                "SELECT site, company_domain, company_name, asn, count() FROM events FINAL
                 WHERE NOT startsWith(company_domain, 'org:') GROUP BY site, company_domain, company_name, asn
                 ORDER BY site, company_domain, company_name, asn",
            )
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(|(site, key, name, asn, events)| KeyedOrg { site, key, name, asn, events }).collect())
    }

    async fn move_account_records(&mut self, site: &str, old: &str, new: &[&str]) -> Result<(), StoreError> {
        let Some(primary) = new.first() else { return Ok(()) };
        let c = self.client();
        let owned = self.current_owners(site, Some(new)).await?;
        for n in new.iter().filter(|n| **n != old) {
            c.query(
                "INSERT INTO account_status SELECT site, ? AS new_key, status, note, set_by, set_at, score, seq
                 FROM account_status WHERE site = ? AND company_domain = ?",
            )
            .bind(n)
            .bind(site)
            .bind(old)
            .execute()
            .await?;
            if !owned.contains_key(*n) {
                c.query(
                    "INSERT INTO account_owners SELECT site, ? AS new_key, owner, changed_by, changed_at, seq
                     FROM account_owners FINAL WHERE site = ? AND company_domain = ?",
                )
                .bind(n)
                .bind(site)
                .bind(old)
                .execute()
                .await?;
            }
            c.query(
                "INSERT INTO account_owner_history SELECT site, ? AS new_key, owner, previous_owner, changed_by,
                   reason, changed_at, seq
                 FROM account_owner_history FINAL WHERE site = ? AND company_domain = ?",
            )
            .bind(n)
            .bind(site)
            .bind(old)
            .execute()
            .await?;
        }
        if !new.contains(&old) {
            for table in ["account_status", "account_owners", "account_owner_history"] {
                self.run_alter(self.alter(table, "DELETE WHERE site = ? AND company_domain = ?").bind(site).bind(old))
                    .await?;
            }
        }
        if *primary == old {
            return Ok(());
        }
        let quoted = |k: &str| format!("\"company_domain\":{}", serde_json::Value::from(k));
        c.query(
            "INSERT INTO alerts SELECT alert_id, site, ? AS new_key, kind, stage, score, raised_at,
               replaceOne(payload, ?, ?) AS new_payload
             FROM alerts FINAL WHERE site = ? AND company_domain = ?",
        )
        .bind(primary)
        .bind(quoted(old))
        .bind(quoted(primary))
        .bind(site)
        .bind(old)
        .execute()
        .await?;
        // A delivery is copied under the new key rather than updated in place: on a cluster its key chooses
        // its shard, and every later copy of the row (its attempts) is written under the new key.
        c.query(
            "INSERT INTO alert_deliveries SELECT delivery_id, alert_id, site, ? AS new_key, webhook, webhook_index,
               status, attempts, next_attempt_ms, http_status, last_error, created_at, delivered_at,
               kafka_partition, version
             FROM alert_deliveries FINAL WHERE site = ? AND company_domain = ?",
        )
        .bind(primary)
        .bind(site)
        .bind(old)
        .execute()
        .await?;
        for table in ["alerts", "alert_deliveries"] {
            self.run_alter(self.alter(table, "DELETE WHERE site = ? AND company_domain = ?").bind(site).bind(old))
                .await?;
        }
        Ok(())
    }
}

impl ClickHouseStore {
    /// Waits until every mutation of the database is done (the deletions of a relabelling or a key
    /// migration run in the background), at most `within`; returns whether they are.
    pub async fn wait_for_mutations(&self, within: std::time::Duration) -> Result<bool, StoreError> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let pending: u64 = self
                .client()
                .query("SELECT count() FROM system.mutations WHERE database = ? AND is_done = 0")
                .bind(&self.url().database)
                .fetch_one()
                .await?;
            if pending == 0 {
                return Ok(true);
            }
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// See [`SqliteStore::rekeyed`].
    pub async fn rekeyed(&self) -> Result<Option<bool>, StoreError> {
        let rows: Vec<u8> = self
            .client()
            .query("SELECT max(with_as_data) FROM rekeyed WHERE rule = ? HAVING count() > 0")
            .bind(KEY_RULE)
            .fetch_all()
            .await?;
        Ok(rows.first().map(|n| *n != 0))
    }

    /// See [`SqliteStore::mark_rekeyed`].
    pub async fn mark_rekeyed(&self, with_as_data: bool) -> Result<(), StoreError> {
        self.client()
            .query("INSERT INTO rekeyed (rule, with_as_data, done_at) VALUES (?, ?, now())")
            .bind(KEY_RULE)
            .bind(u8::from(with_as_data))
            .execute()
            .await?;
        Ok(())
    }
}
