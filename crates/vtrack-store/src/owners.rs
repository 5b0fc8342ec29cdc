//! `account_owners` and `account_owner_history` in both stores: who follows up each account, and every
//! change of owner with who made it and why.
//!
//! The decisions are `vtrack_process::owners` (the rules, and the [`OwnerChange`] a person's reassignment
//! records); here is only the SQL. SQLite keeps one current row per account (a primary key) and orders the
//! history by rowid; ClickHouse keeps the row with the highest `seq` (the change's Unix ms) and reads it
//! with `argMax`, so a replayed write changes nothing.

use crate::dashboard::OwnerHistoryRow;
use crate::{ClickHouseStore, SqliteStore, StoreError};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;
use vtrack_model::time::format_ms;
use vtrack_process::owners::OwnerChange;

impl SqliteStore {
    /// The current owner of each of `domains` that has one; every account of `site` when `domains` is `None`.
    pub(crate) fn current_owners(
        &self,
        site: &str,
        domains: Option<&[&str]>,
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut stmt =
            self.conn().prepare_cached("SELECT company_domain, owner FROM account_owners WHERE site = ?1")?;
        let rows = stmt.query_map([site], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = HashMap::new();
        for row in rows {
            let (d, o) = row?;
            if domains.is_none_or(|ds| ds.contains(&d.as_str())) {
                out.insert(d, o);
            }
        }
        Ok(out)
    }

    /// Records `changes`: the current owner, and a line of history each.
    pub(crate) fn record_owners(&self, changes: &[OwnerChange]) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut current = conn.prepare_cached("INSERT OR REPLACE INTO account_owners VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let mut history =
            conn.prepare_cached("INSERT INTO account_owner_history VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        for c in changes {
            let at = format_ms(c.at_ms);
            current.execute(params![c.site, c.company_domain, c.owner, c.changed_by, at])?;
            history.execute(params![c.site, c.company_domain, c.owner, c.previous, c.changed_by, c.reason, at])?;
        }
        Ok(())
    }

    /// A person's reassignment; `None` when the site has no such account.
    pub(crate) fn reassign(
        &self,
        site: &str,
        domain: &str,
        owner: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<OwnerChange>, StoreError> {
        let exists: Option<i64> = self
            .conn()
            .prepare_cached("SELECT 1 FROM accounts WHERE site = ?1 AND company_domain = ?2")?
            .query_row([site, domain], |r| r.get(0))
            .optional()?;
        if exists.is_none() {
            return Ok(None);
        }
        let previous = self.current_owners(site, Some(&[domain]))?.remove(domain).unwrap_or_default();
        let change = OwnerChange::manual(site, domain, owner, &previous, by, now_ms);
        self.conn().execute_batch("SAVEPOINT reassign")?;
        match self.record_owners(std::slice::from_ref(&change)) {
            Ok(()) => self.conn().execute_batch("RELEASE reassign")?,
            Err(e) => {
                let _ = self.conn().execute_batch("ROLLBACK TO reassign; RELEASE reassign");
                return Err(e);
            }
        }
        Ok(Some(change))
    }

    /// An account's owner changes, newest first.
    pub(crate) fn owner_history(&self, site: &str, domain: &str) -> Result<Vec<OwnerHistoryRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT owner, previous_owner, changed_by, reason, changed_at FROM account_owner_history
             WHERE site = ?1 AND company_domain = ?2 ORDER BY rowid DESC",
        )?;
        let rows = stmt.query_map([site, domain], |r| {
            Ok(OwnerHistoryRow {
                owner: r.get(0)?,
                previous: r.get(1)?,
                changed_by: r.get(2)?,
                reason: r.get(3)?,
                changed_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl ClickHouseStore {
    /// See [`SqliteStore::current_owners`].
    pub(crate) async fn current_owners(
        &self,
        site: &str,
        domains: Option<&[&str]>,
    ) -> Result<HashMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = match domains {
            Some(ds) => {
                self.client()
                    .query(
                        "SELECT company_domain, argMax(owner, seq) FROM account_owners
                         WHERE site = ? AND has(?, company_domain) GROUP BY company_domain",
                    )
                    .bind(site)
                    .bind(ds)
                    .fetch_all()
                    .await?
            }
            None => {
                self.client()
                    .query(
                        "SELECT company_domain, argMax(owner, seq) FROM account_owners
                         WHERE site = ? GROUP BY company_domain",
                    )
                    .bind(site)
                    .fetch_all()
                    .await?
            }
        };
        Ok(rows.into_iter().collect())
    }

    /// See [`SqliteStore::record_owners`]. A rule's line written again (a replay) has the same key and
    /// collapses into one.
    pub(crate) async fn record_owners(&self, changes: &[OwnerChange]) -> Result<(), StoreError> {
        for c in changes {
            let (secs, seq) = (c.at_ms.div_euclid(1000), c.at_ms.max(0) as u64);
            self.client()
                .query("INSERT INTO account_owners VALUES (?, ?, ?, ?, toDateTime(?, 'UTC'), ?)")
                .bind(&c.site)
                .bind(&c.company_domain)
                .bind(&c.owner)
                .bind(&c.changed_by)
                .bind(secs)
                .bind(seq)
                .execute()
                .await?;
            self.client()
                .query("INSERT INTO account_owner_history VALUES (?, ?, ?, ?, ?, ?, toDateTime(?, 'UTC'), ?)")
                .bind(&c.site)
                .bind(&c.company_domain)
                .bind(&c.owner)
                .bind(&c.previous)
                .bind(&c.changed_by)
                .bind(c.reason)
                .bind(secs)
                .bind(seq)
                .execute()
                .await?;
        }
        Ok(())
    }

    /// See [`SqliteStore::reassign`].
    pub(crate) async fn reassign(
        &self,
        site: &str,
        domain: &str,
        owner: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<OwnerChange>, StoreError> {
        let found: u64 = self
            .client()
            .query("SELECT count() FROM accounts WHERE site = ? AND company_domain = ?")
            .bind(site)
            .bind(domain)
            .fetch_one()
            .await?;
        if found == 0 {
            return Ok(None);
        }
        let previous = self.current_owners(site, Some(&[domain])).await?.remove(domain).unwrap_or_default();
        let change = OwnerChange::manual(site, domain, owner, &previous, by, now_ms);
        self.record_owners(std::slice::from_ref(&change)).await?;
        Ok(Some(change))
    }

    /// See [`SqliteStore::owner_history`].
    pub(crate) async fn owner_history(&self, site: &str, domain: &str) -> Result<Vec<OwnerHistoryRow>, StoreError> {
        let rows: Vec<(String, String, String, String, String)> = self
            .client()
            .query(
                "SELECT owner, previous_owner, changed_by, reason, toString(changed_at) FROM account_owner_history FINAL
                 WHERE site = ? AND company_domain = ? ORDER BY seq DESC",
            )
            .bind(site)
            .bind(domain)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|(owner, previous, changed_by, reason, changed_at)| OwnerHistoryRow {
                owner,
                previous,
                changed_by,
                reason,
                changed_at,
            })
            .collect())
    }
}
