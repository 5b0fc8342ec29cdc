//! The dashboard's reads and sales' status on the embedded store: the SQL, and [`SqliteDashboard`], which
//! serves [`DashboardReads`] by running it on tokio's blocking pool (rusqlite calls block).

use crate::dashboard::{
    with_owners, AccountAlert, AccountDetail, AccountFilter, AccountRow, AccountSession, AlertDelivery, CampaignRow,
    CampaignTally, DailyViews, DashboardError, DashboardReads, FunnelFacts, LiveVisit, OwnerHistoryRow, OwnerUpdate,
    SessionEvent, Status, StatusChange, StatusUpdate, StoredAccount,
};
use crate::{SqliteStore, StoreError};
use rusqlite::{params, params_from_iter, OptionalExtension};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vtrack_model::time::format_secs;

/// The dashboard's own connection to the embedded store, shared by its requests one query at a time.
#[derive(Clone)]
pub struct SqliteDashboard {
    store: Arc<Mutex<SqliteStore>>,
}

impl SqliteDashboard {
    /// Takes a writable connection: sales' status is written through it.
    pub fn new(store: SqliteStore) -> SqliteDashboard {
        SqliteDashboard { store: Arc::new(Mutex::new(store)) }
    }

    /// Runs `f` on the blocking pool with the connection.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, DashboardError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || match store.lock() {
            Ok(s) => f(&s).map_err(DashboardError::from),
            Err(_) => Err(DashboardError::Task("store lock poisoned".into())),
        })
        .await
        .map_err(|e| DashboardError::Task(e.to_string()))?
    }
}

impl DashboardReads for SqliteDashboard {
    async fn accounts(
        &self,
        site: &str,
        filter: &AccountFilter,
        now_ms: i64,
    ) -> Result<Vec<AccountRow>, DashboardError> {
        let (site, filter) = (site.to_string(), filter.clone());
        self.blocking(move |s| s.dashboard_accounts(&site, &filter, now_ms.div_euclid(1000))).await
    }

    async fn account(&self, site: &str, domain: &str, now_ms: i64) -> Result<Option<AccountDetail>, DashboardError> {
        let (site, domain) = (site.to_string(), domain.to_string());
        self.blocking(move |s| s.dashboard_account(&site, &domain, now_ms.div_euclid(1000))).await
    }

    async fn set_status(
        &self,
        site: &str,
        domain: &str,
        update: &StatusUpdate,
        now_ms: i64,
    ) -> Result<Option<StatusChange>, DashboardError> {
        let (site, domain, update) = (site.to_string(), domain.to_string(), update.clone());
        self.blocking(move |s| s.set_account_status(&site, &domain, &update, now_ms)).await
    }

    async fn set_owner(
        &self,
        site: &str,
        domain: &str,
        update: &OwnerUpdate,
        now_ms: i64,
    ) -> Result<Option<OwnerHistoryRow>, DashboardError> {
        let (site, domain, update) = (site.to_string(), domain.to_string(), update.clone());
        let change = self.blocking(move |s| s.reassign(&site, &domain, &update.owner, &update.set_by, now_ms)).await?;
        Ok(change.as_ref().map(OwnerHistoryRow::of))
    }

    async fn funnel_facts(&self, site: &str) -> Result<Vec<FunnelFacts>, DashboardError> {
        let site = site.to_string();
        self.blocking(move |s| s.funnel_facts(&site)).await
    }

    async fn campaigns(&self, site: &str) -> Result<Vec<CampaignRow>, DashboardError> {
        let site = site.to_string();
        self.blocking(move |s| s.dashboard_campaigns(&site)).await
    }

    async fn live(&self, site: &str, since_ms: i64) -> Result<Vec<LiveVisit>, DashboardError> {
        let site = site.to_string();
        self.blocking(move |s| s.dashboard_live(&site, since_ms.div_euclid(1000))).await
    }
}

/// The latest status row of an account, NULL until sales sets one (read as [`Status::default`]).
const LATEST_STATUS: &str = "SELECT status FROM account_status s WHERE s.site = a.site
    AND s.company_domain = a.company_domain ORDER BY s.rowid DESC LIMIT 1";

/// The select list of [`account_row`]: [`crate::columns::ACCOUNT_VIEW`] of the `accounts a` row.
fn account_select() -> String {
    crate::columns::list(crate::columns::ACCOUNT_VIEW, |c| format!("a.{c}"))
}

/// Reads [`account_select`]'s columns and, after them, the status.
fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredAccount, Status)> {
    let stored = StoredAccount {
        domain: r.get(0)?,
        name: r.get(1)?,
        class: r.get(2)?,
        country: r.get(3)?,
        stage: r.get(4)?,
        score: r.get(5)?,
        visitors: r.get(6)?,
        sessions: r.get(7)?,
        pageviews: r.get(8)?,
        return_visits: r.get(9)?,
        first_seen: r.get(10)?,
        last_seen: r.get(11)?,
        top_pages: r.get(12)?,
        topics: r.get(13)?,
        campaigns: r.get(14)?,
        contacts: r.get(15)?,
        is_target: r.get(16)?,
        excluded: r.get(17)?,
        score_at: r.get(18)?,
        id_source: r.get(19)?,
        id_confidence: r.get(20)?,
        class_confidence: r.get(21)?,
    };
    let status = Status::latest(r.get::<_, Option<String>>(22)?.as_deref());
    Ok((stored, status))
}

impl SqliteStore {
    /// See [`DashboardReads::funnel_facts`].
    fn funnel_facts(&self, site: &str) -> Result<Vec<FunnelFacts>, StoreError> {
        let conn = self.conn();
        let accounts = conn
            .prepare_cached(
                "SELECT company_domain, first_seen, stage, campaigns FROM accounts WHERE site = ?1 AND excluded = 0",
            )?
            .query_map([site], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let hot = conn
            .prepare_cached(
                "SELECT company_domain, min(raised_at) FROM alerts WHERE site = ?1 AND kind = 'became_hot'
                 GROUP BY company_domain",
            )?
            .query_map([site], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let statuses = conn
            .prepare_cached("SELECT company_domain, status, set_at FROM account_status WHERE site = ?1 ORDER BY rowid")?
            .query_map([site], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::dashboard::funnel_facts(accounts, hot, statuses))
    }

    /// See [`DashboardReads::accounts`].
    fn dashboard_accounts(&self, site: &str, f: &AccountFilter, now_secs: i64) -> Result<Vec<AccountRow>, StoreError> {
        let mut sql = format!(
            "SELECT * FROM (SELECT {}, ({LATEST_STATUS}) AS status
             FROM accounts a WHERE a.site = ?1 AND a.excluded = 0",
            account_select()
        );
        let mut args: Vec<String> = vec![site.to_string()];
        let mut arg = |sql: &mut String, clause: &str, value: &str| {
            args.push(value.to_string());
            sql.push_str(&clause.replace("?", &format!("?{}", args.len())));
        };
        if !f.stage.is_empty() {
            arg(&mut sql, " AND a.stage = ?", &f.stage);
        }
        if !f.class.is_empty() {
            arg(&mut sql, " AND a.network_class = ?", &f.class);
        }
        if !f.country.is_empty() {
            arg(&mut sql, " AND a.country = ?", &f.country.to_ascii_uppercase());
        }
        if !f.campaign.is_empty() {
            arg(
                &mut sql,
                " AND EXISTS (SELECT 1 FROM sessions s WHERE s.site = a.site AND s.company_domain = a.company_domain
                   AND s.utm_campaign = ?)",
                &f.campaign,
            );
        }
        if !f.identified_by.is_empty() {
            arg(&mut sql, " AND a.id_source = ?", &f.identified_by);
        }
        if !f.text.is_empty() {
            arg(
                &mut sql,
                " AND (instr(lower(a.company_name), ?) > 0 OR instr(a.company_domain, lower(?)) > 0)",
                &f.text.to_lowercase(),
            );
        }
        sql.push(')');
        if let Some(wanted) = f.status {
            arg(&mut sql, " WHERE COALESCE(status, ?", Status::default().as_str());
            arg(&mut sql, ") = ?", wanted.as_str());
        }
        sql.push_str(&format!(" ORDER BY score DESC, last_seen DESC LIMIT {}", f.limit.max(1)));
        let activity = self.daily_pageviews(site, now_secs)?;
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (stored, status) = account_row(r)?;
            let days = activity.of(&stored.domain);
            out.push(stored.into_row(status, days));
        }
        with_owners(&mut out, &self.current_owners(site, None)?, &self.hot_since(site)?);
        Ok(out)
    }

    /// Page views per account and day, the last 30 days up to the day of `now_secs`.
    fn daily_pageviews(&self, site: &str, now_secs: i64) -> Result<DailyViews, StoreError> {
        let today = format_secs(now_secs)[..10].to_string();
        let mut stmt = self.conn().prepare_cached(
            "SELECT company_domain, CAST(julianday(?2) - julianday(date(started_at)) AS INTEGER) AS age, sum(pageviews)
             FROM sessions WHERE site = ?1 AND company_domain != '' AND date(started_at) > date(?2, '-30 days')
               AND date(started_at) <= ?2
             GROUP BY company_domain, age",
        )?;
        let mut rows = stmt.query(params![site, today])?;
        let mut out = DailyViews::default();
        while let Some(r) = rows.next()? {
            out.add(r.get(0)?, r.get(1)?, r.get(2)?);
        }
        Ok(out)
    }

    /// See [`DashboardReads::account`].
    fn dashboard_account(&self, site: &str, domain: &str, now_secs: i64) -> Result<Option<AccountDetail>, StoreError> {
        let conn = self.conn();
        let account = conn
            .prepare(&format!(
                "SELECT {}, ({LATEST_STATUS}) FROM accounts a
                 WHERE a.site = ?1 AND a.company_domain = ?2",
                account_select()
            ))?
            .query_row(params![site, domain], account_row)
            .optional()?;
        let Some((stored, status)) = account else { return Ok(None) };
        let account = stored.into_row(status, self.daily_pageviews(site, now_secs)?.of(domain));

        let mut sessions = Vec::new();
        let mut index = HashMap::new();
        {
            let mut stmt = conn.prepare_cached(
                "SELECT session_id, visitor_id, started_at, ended_at, pageviews, engaged_ms, is_return, entry_path,
                   referrer, utm_source, utm_medium, utm_campaign, id_source, id_confidence
                 FROM sessions WHERE site = ?1 AND company_domain = ?2 ORDER BY started_at DESC LIMIT 50",
            )?;
            let mut rows = stmt.query(params![site, domain])?;
            while let Some(r) = rows.next()? {
                let session_id: String = r.get(0)?;
                index.insert(session_id.clone(), sessions.len());
                sessions.push(AccountSession {
                    session_id,
                    visitor_id: r.get(1)?,
                    started_at: r.get(2)?,
                    ended_at: r.get(3)?,
                    pageviews: r.get(4)?,
                    engaged_ms: r.get(5)?,
                    is_return: r.get(6)?,
                    entry_path: r.get(7)?,
                    referrer: r.get(8)?,
                    utm_source: r.get(9)?,
                    utm_medium: r.get(10)?,
                    utm_campaign: r.get(11)?,
                    id_source: r.get(12)?,
                    id_confidence: r.get(13)?,
                    pages: Vec::new(),
                });
            }
        }
        if !index.is_empty() {
            let marks = vec!["?"; index.len()].join(",");
            let mut stmt = conn.prepare(&format!(
                "SELECT session_id, ts, type, path, title, eng_ms FROM events WHERE site = ? AND session_id IN ({marks})
                 ORDER BY ts, event_id"
            ))?;
            let ids = std::iter::once(site).chain(index.keys().map(String::as_str));
            let mut rows = stmt.query(params_from_iter(ids))?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                if let Some(&i) = index.get(&id) {
                    sessions[i].pages.push(SessionEvent {
                        ts: r.get(1)?,
                        kind: r.get(2)?,
                        path: r.get(3)?,
                        title: r.get(4)?,
                        eng_ms: r.get(5)?,
                    });
                }
            }
        }

        let mut alerts: Vec<AccountAlert> = Vec::new();
        {
            let mut stmt = conn.prepare_cached(
                "SELECT a.alert_id, a.kind, a.stage, a.score, a.raised_at, d.webhook, d.status, d.attempts,
                   d.http_status, d.delivered_at
                 FROM alerts a LEFT JOIN alert_deliveries d ON d.alert_id = a.alert_id
                 WHERE a.site = ?1 AND a.company_domain = ?2 ORDER BY a.raised_at DESC, d.webhook_index",
            )?;
            let mut rows = stmt.query(params![site, domain])?;
            while let Some(r) = rows.next()? {
                let alert_id: String = r.get(0)?;
                if alerts.last().is_none_or(|a| a.alert_id != alert_id) {
                    alerts.push(AccountAlert {
                        alert_id,
                        kind: r.get(1)?,
                        stage: r.get(2)?,
                        score: r.get(3)?,
                        raised_at: r.get(4)?,
                        deliveries: Vec::new(),
                    });
                }
                if let (Some(webhook), Some(last)) = (r.get::<_, Option<String>>(5)?, alerts.last_mut()) {
                    last.deliveries.push(AlertDelivery {
                        webhook,
                        status: r.get(6)?,
                        attempts: r.get(7)?,
                        http_status: r.get(8)?,
                        delivered_at: r.get(9)?,
                    });
                }
            }
        }
        let status_history = self.status_history(site, domain)?;
        let owner_history = self.owner_history(site, domain)?;
        let mut account = account;
        account.owner = owner_history.first().map(|h| h.owner.clone()).unwrap_or_default();
        account.hot_since = self.hot_since(site)?.remove(domain);
        Ok(Some(AccountDetail { account, sessions, alerts, status_history, owner_history }))
    }

    /// An account's status changes, newest first.
    fn status_history(&self, site: &str, domain: &str) -> Result<Vec<StatusChange>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT status, note, set_by, set_at FROM account_status WHERE site = ?1 AND company_domain = ?2
             ORDER BY rowid DESC",
        )?;
        let mut rows = stmt.query(params![site, domain])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let status = Status::from_stored(&r.get::<_, String>(0)?);
            out.push(StatusChange { status, note: r.get(1)?, set_by: r.get(2)?, set_at: r.get(3)? });
        }
        Ok(out)
    }

    /// See [`DashboardReads::set_status`]. The history's order is the rowid's, so only `set_at`'s seconds
    /// are kept.
    fn set_account_status(
        &self,
        site: &str,
        domain: &str,
        update: &StatusUpdate,
        now_ms: i64,
    ) -> Result<Option<StatusChange>, StoreError> {
        let score: Option<f64> = self
            .conn()
            .prepare_cached("SELECT score FROM accounts WHERE site = ?1 AND company_domain = ?2")?
            .query_row(params![site, domain], |r| r.get(0))
            .optional()?;
        let Some(score) = score else { return Ok(None) };
        let change = update.at(now_ms);
        self.conn().execute(
            "INSERT INTO account_status (site, company_domain, status, note, set_by, set_at, score)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![site, domain, change.status.as_str(), change.note, change.set_by, change.set_at, score],
        )?;
        Ok(Some(change))
    }

    /// See [`DashboardReads::campaigns`].
    fn dashboard_campaigns(&self, site: &str) -> Result<Vec<CampaignRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT s.utm_source, s.utm_medium, s.utm_campaign, s.company_domain, count(*) AS sessions, a.stage,
               ({LATEST_STATUS}) AS status
             FROM sessions s JOIN accounts a ON a.site = s.site AND a.company_domain = s.company_domain
             WHERE s.site = ?1 AND s.company_domain != '' AND a.excluded = 0
               AND (s.utm_source != '' OR s.utm_medium != '' OR s.utm_campaign != '')
             GROUP BY s.utm_source, s.utm_medium, s.utm_campaign, s.company_domain"
        ))?;
        let mut rows = stmt.query(params![site])?;
        let mut campaigns = CampaignTally::default();
        while let Some(r) = rows.next()? {
            let key: (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (sessions, stage, status): (i64, String, Option<String>) = (r.get(4)?, r.get(5)?, r.get(6)?);
            let status = Status::latest(status.as_deref());
            campaigns.add(key, sessions, &stage, status);
        }
        Ok(campaigns.into_rows())
    }

    /// See [`DashboardReads::live`].
    fn dashboard_live(&self, site: &str, since_secs: i64) -> Result<Vec<LiveVisit>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT ts, received_at, company_name, company_domain, network_class, country, path, title, visitor_id,
               session_id
             FROM events WHERE site = ?1 AND type = 'pageview' AND received_at >= ?2
             ORDER BY received_at DESC, ts DESC LIMIT 200",
        )?;
        let mut rows = stmt.query(params![site, format_secs(since_secs)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(LiveVisit {
                ts: r.get(0)?,
                received_at: r.get(1)?,
                company_name: r.get(2)?,
                company_domain: r.get(3)?,
                network_class: r.get(4)?,
                country: r.get(5)?,
                path: r.get(6)?,
                title: r.get(7)?,
                visitor_id: r.get(8)?,
                session_id: r.get(9)?,
            });
        }
        Ok(out)
    }
}
