//! The batch write's primitives on SQLite, all inside one transaction (`BEGIN IMMEDIATE` … `COMMIT`): a
//! crash or a failed step leaves nothing of the batch behind, so a stored event was fully processed.
//!
//! The rules live in `vtrack-process`; here are only the reads and writes they ask for.

use crate::{columns, json, SqliteStore, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::HashMap;
use vtrack_model::event::{CompanyInfo, Utm};
use vtrack_model::time::{format_ms, format_secs, parse_secs};
use vtrack_model::{Alert, EnrichedEvent, Status};
use vtrack_process::owners::OwnerChange;
use vtrack_process::HotFollowup;
use vtrack_process::{
    AccountEvent, AccountHistory, AccountScore, AccountState, AccountStore, AlertStore, Delivery, EventRow, EventStore,
    FollowupStore, Identity, IdentityStore, OwnerStore, PriorEvent, RescoreStore, Scope, ScopedEvent, SessionRow,
    SessionStore, StoredScore, Transactional, VisitorState,
};

/// Reads a row of [`columns::SESSIONS`], selected in that order.
fn session_row(r: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        session_id: r.get(0)?,
        site: r.get(1)?,
        visitor_id: r.get(2)?,
        company_domain: r.get(3)?,
        company_name: r.get(4)?,
        network_class: r.get(5)?,
        country: r.get(6)?,
        started_at: parse_secs(&r.get::<_, String>(7)?).unwrap_or(0),
        ended_at: parse_secs(&r.get::<_, String>(8)?).unwrap_or(0),
        pageviews: r.get(9)?,
        events: r.get(10)?,
        engaged_ms: r.get::<_, i64>(11)?.max(0) as u64,
        is_return: r.get(12)?,
        entry_path: r.get(13)?,
        referrer: r.get(14)?,
        utm_source: r.get(15)?,
        utm_medium: r.get(16)?,
        utm_campaign: r.get(17)?,
        id_source: r.get(18)?,
        id_confidence: r.get::<_, i64>(19)?.clamp(0, 100) as u8,
        class_confidence: r.get::<_, i64>(20)?.clamp(0, 100) as u8,
    })
}

/// An account row's state; see `AccountState::from_stored`.
fn account_state(site: &str, domain: &str, r: &Row<'_>) -> rusqlite::Result<AccountState> {
    let last = parse_secs(&r.get::<_, String>(2)?).map(|score_at_secs| StoredScore {
        score: r.get(1).unwrap_or(0.0),
        score_at_secs,
        stage: r.get(3).unwrap_or_default(),
        held_since: None,
    });
    Ok(AccountState::from_stored(&r.get::<_, String>(0)?, site, domain, last))
}

impl SqliteStore {
    /// How many accounts were scored with another scoring config than `fingerprint` (`Scorer::fingerprint`).
    pub fn accounts_scored_otherwise(&self, fingerprint: &str) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn().query_row("SELECT count(*) FROM accounts WHERE scoring != ?1", [fingerprint], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn account_history(conn: &Connection, site: &str, domain: &str) -> Result<AccountHistory, StoreError> {
        let mut h = AccountHistory { site: site.into(), company_domain: domain.into(), ..Default::default() };
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM sessions WHERE site = ?1 AND company_domain = ?2 ORDER BY started_at, session_id",
            columns::list(columns::SESSIONS, str::to_string)
        ))?;
        h.sessions = stmt.query_map([site, domain], session_row)?.collect::<Result<_, _>>()?;
        // The account's events are those of its sessions (sessions carry the account only for account classes).
        let mut stmt = conn.prepare_cached(
            "SELECT e.event_id, e.ts, e.type, e.path, e.eng_ms, e.email, e.visitor_id
             FROM sessions s JOIN events e ON e.site = s.site AND e.session_id = s.session_id
             WHERE s.site = ?1 AND s.company_domain = ?2
             ORDER BY e.ts, e.event_id",
        )?;
        let mut rows = stmt.query([site, domain])?;
        while let Some(r) = rows.next()? {
            h.events.push(AccountEvent {
                event_id: r.get(0)?,
                ts_secs: parse_secs(&r.get::<_, String>(1)?).unwrap_or(0),
                kind: r.get(2)?,
                path: r.get(3)?,
                eng_ms: r.get::<_, i64>(4)?.max(0) as u64,
                email: r.get(5)?,
                visitor_id: r.get(6)?,
                is_new: false,
            });
        }
        Ok(h)
    }
}

impl Transactional for SqliteStore {
    type Error = StoreError;

    fn atomic(&self) -> bool {
        true
    }

    async fn begin(&mut self) -> Result<(), StoreError> {
        self.conn().execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        self.conn().execute_batch("COMMIT")?;
        Ok(())
    }

    async fn rollback(&mut self) {
        if !self.conn().is_autocommit() {
            if let Err(e) = self.conn().execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "store: rollback failed");
            }
        }
    }
}

impl EventStore for SqliteStore {
    async fn stored_events(
        &mut self,
        site: &str,
        _visitors: &[&str],
        events: &[&EnrichedEvent],
    ) -> Result<HashMap<String, PriorEvent>, StoreError> {
        // Per site: another site's event with the same id is not this one.
        let mut stmt =
            self.conn().prepare_cached("SELECT session_id, is_return FROM events WHERE site = ?1 AND event_id = ?2")?;
        let mut found = HashMap::new();
        for e in events {
            let id = &e.event_id;
            let row = stmt
                .query_row([site, id], |r| Ok(PriorEvent { session_id: r.get(0)?, is_return: r.get(1)? }))
                .optional()?;
            if let Some(p) = row {
                found.insert(id.to_string(), p);
            }
        }
        Ok(found)
    }

    async fn last_visits(
        &mut self,
        site: &str,
        visitors: &[&str],
    ) -> Result<HashMap<String, VisitorState>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT ts, session_id, is_return FROM events WHERE site = ?1 AND visitor_id = ?2 ORDER BY ts DESC LIMIT 1",
        )?;
        let mut out = HashMap::new();
        for v in visitors {
            let row = stmt
                .query_row([site, v], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?)))
                .optional()?;
            if let Some((ts, session_id, is_return)) = row {
                let last_ts = parse_secs(&ts).unwrap_or(0);
                out.insert(v.to_string(), VisitorState { last_ts, session_id, is_return });
            }
        }
        Ok(out)
    }

    async fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<(), StoreError> {
        let mut insert = self.conn().prepare_cached(
            "INSERT OR IGNORE INTO events (event_id, site, ts, received_at, type, visitor_id, session_id, is_return,
               url, path, referrer, title, utm_source, utm_medium, utm_campaign, utm_term, utm_content, eng_ms,
               email, props, company_name, company_domain, asn, network_class, country, city, id_source, id_confidence,
               class_confidence)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
               ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)",
        )?;
        for row in rows {
            let e = row.event;
            let c = &e.company;
            insert.execute(params![
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
                c.id_source.as_str(),
                c.id_confidence,
                c.class_confidence,
            ])?;
        }
        Ok(())
    }

    async fn scope_events(&mut self, site: &str, scope: Scope<'_>) -> Result<Vec<ScopedEvent>, StoreError> {
        let (as_key, class);
        let (filter, values): (&str, Vec<&dyn rusqlite::ToSql>) = match &scope {
            Scope::Visitor(v) => ("visitor_id = ?2", vec![&site, v]),
            Scope::Key(k) => (
                "session_id IN (SELECT session_id FROM events WHERE site = ?1 AND company_domain = ?2)",
                vec![&site, k],
            ),
            Scope::Network(n) => {
                as_key = n.as_key();
                class = n.class.as_str();
                (
                    "session_id IN (SELECT session_id FROM events WHERE site = ?1 AND company_domain IN (?2, ?3)
                       AND asn = ?4 AND id_source = 'asn'
                       AND (company_domain != ?3 OR network_class != ?5 OR class_confidence != ?6))",
                    vec![&site, &as_key, &n.key, &n.asn, &class, &n.class_confidence],
                )
            }
        };
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT event_id, ts, type, visitor_id, path, referrer, utm_source, utm_medium, utm_campaign, eng_ms,
               email, company_name, company_domain, asn, network_class, country, id_source, id_confidence,
               session_id, is_return, class_confidence
             FROM events WHERE site = ?1 AND {filter} ORDER BY ts, event_id"
        ))?;
        let rows = stmt.query_map(values.as_slice(), |r| {
            let event = EnrichedEvent {
                event_id: r.get(0)?,
                site: site.to_string(),
                ts_ms: parse_secs(&r.get::<_, String>(1)?).unwrap_or(0) * 1000,
                kind: r.get(2)?,
                visitor_id: r.get(3)?,
                path: r.get(4)?,
                referrer: r.get(5)?,
                utm: Utm { source: r.get(6)?, medium: r.get(7)?, campaign: r.get(8)?, ..Default::default() },
                eng_ms: r.get::<_, i64>(9)?.max(0) as u64,
                email: r.get(10)?,
                company: CompanyInfo {
                    company_name: r.get(11)?,
                    company_domain: r.get(12)?,
                    asn: r.get(13)?,
                    network_class: r.get::<_, String>(14)?.parse().unwrap_or_default(),
                    country: r.get(15)?,
                    id_source: r.get::<_, String>(16)?.parse().unwrap_or_default(),
                    id_confidence: r.get::<_, i64>(17)?.clamp(0, 100) as u8,
                    class_confidence: r.get::<_, i64>(20)?.clamp(0, 100) as u8,
                    ..Default::default()
                },
                ..Default::default()
            };
            Ok(ScopedEvent { event, session_id: r.get(18)?, is_return: r.get(19)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn relabel_events(&mut self, site: &str, events: &[&ScopedEvent]) -> Result<(), StoreError> {
        let mut update = self.conn().prepare_cached(
            "UPDATE events SET company_name = ?2, company_domain = ?3, network_class = ?4, id_source = ?5,
               id_confidence = ?6, class_confidence = ?8 WHERE site = ?7 AND event_id = ?1",
        )?;
        for s in events {
            let c = &s.event.company;
            update.execute(params![
                s.event.event_id,
                c.company_name,
                c.company_domain,
                c.network_class.as_str(),
                c.id_source.as_str(),
                c.id_confidence,
                site,
                c.class_confidence
            ])?;
        }
        Ok(())
    }
}

impl SessionStore for SqliteStore {
    async fn session_rows(
        &mut self,
        site: &str,
        _visitors: &[&str],
        session_ids: &[&str],
    ) -> Result<Vec<SessionRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {} FROM sessions WHERE site = ?1 AND session_id = ?2",
            columns::list(columns::SESSIONS, str::to_string)
        ))?;
        let mut out = Vec::with_capacity(session_ids.len());
        for id in session_ids {
            if let Some(row) = stmt.query_row([site, id], session_row).optional()? {
                out.push(row);
            }
        }
        Ok(out)
    }

    async fn write_sessions(&mut self, rows: &[&SessionRow]) -> Result<(), StoreError> {
        let mut upsert = self.conn().prepare_cached(&format!(
            "INSERT OR REPLACE INTO sessions ({}) VALUES ({})",
            columns::list(columns::SESSIONS, str::to_string),
            columns::placeholders(columns::SESSIONS)
        ))?;
        for s in rows {
            upsert.execute(params![
                s.session_id,
                s.site,
                s.visitor_id,
                s.company_domain,
                s.company_name,
                s.network_class,
                s.country,
                format_secs(s.started_at),
                format_secs(s.ended_at),
                s.pageviews,
                s.events,
                s.engaged_ms as i64,
                s.is_return,
                s.entry_path,
                s.referrer,
                s.utm_source,
                s.utm_medium,
                s.utm_campaign,
                s.id_source,
                s.id_confidence,
                s.class_confidence,
            ])?;
        }
        Ok(())
    }
}

impl IdentityStore for SqliteStore {
    async fn site_identities(&mut self, site: &str) -> Result<Vec<Identity>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT visitor_id, company_domain, identified_ms, network_key FROM identities WHERE site = ?1",
        )?;
        let rows = stmt.query_map([site], |r| {
            Ok(Identity {
                site: site.to_string(),
                visitor_id: r.get(0)?,
                company_domain: r.get(1)?,
                identified_ms: r.get(2)?,
                network_key: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    async fn save_identities(&mut self, identities: &[&Identity]) -> Result<(), StoreError> {
        let mut upsert = self.conn().prepare_cached(
            "INSERT OR REPLACE INTO identities (site, visitor_id, company_domain, identified_ms, network_key)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for i in identities {
            upsert.execute(params![i.site, i.visitor_id, i.company_domain, i.identified_ms, i.network_key])?;
        }
        Ok(())
    }

    async fn learned_keys(&mut self, site: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut stmt =
            self.conn().prepare_cached("SELECT from_key, company_domain FROM learned_keys WHERE site = ?1")?;
        let rows = stmt.query_map([site], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    async fn save_learned_key(&mut self, site: &str, from: &str, to: &str, at_ms: i64) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO learned_keys (site, from_key, company_domain, learned_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![site, from, to, format_ms(at_ms)])?;
        Ok(())
    }
}

impl AccountStore for SqliteStore {
    async fn account_states(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountState>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT state, score, score_at, stage FROM accounts WHERE site = ?1 AND company_domain = ?2",
        )?;
        let mut out = Vec::with_capacity(domains.len());
        for d in domains {
            if let Some(s) = stmt.query_row([site, d], |r| account_state(site, d, r)).optional()? {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn account_histories(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountHistory>, StoreError> {
        domains.iter().map(|d| SqliteStore::account_history(self.conn(), site, d)).collect()
    }

    async fn save_accounts(&mut self, accounts: &[(&AccountState, &AccountScore)]) -> Result<(), StoreError> {
        let mut upsert = self.conn().prepare_cached(&format!(
            "INSERT OR REPLACE INTO accounts ({}) VALUES ({})",
            columns::list(columns::ACCOUNTS, str::to_string),
            columns::placeholders(columns::ACCOUNTS)
        ))?;
        for (a, s) in accounts {
            upsert.execute(params![
                a.site,
                a.company_domain,
                a.company_name,
                a.network_class.as_str(),
                a.country,
                format_secs(a.first_seen),
                format_secs(a.last_seen),
                a.visitors(),
                a.sessions,
                a.pageviews,
                a.engaged_ms as i64,
                s.score,
                format_secs(s.score_at_secs),
                s.stage,
                s.return_visits,
                json(&s.topics),
                json(&s.top_pages),
                json(&s.campaigns),
                json(&s.contacts),
                s.is_target,
                s.excluded,
                a.to_stored(),
                a.scoring,
                a.id_source.as_str(),
                a.id_confidence,
                a.class_confidence,
            ])?;
        }
        Ok(())
    }

    async fn drop_accounts(&mut self, site: &str, domains: &[&str]) -> Result<(), StoreError> {
        let mut delete = self.conn().prepare_cached("DELETE FROM accounts WHERE site = ?1 AND company_domain = ?2")?;
        for d in domains {
            delete.execute([site, d])?;
        }
        Ok(())
    }
}

impl OwnerStore for SqliteStore {
    async fn account_owners(&mut self, site: &str, domains: &[&str]) -> Result<HashMap<String, String>, StoreError> {
        self.current_owners(site, Some(domains))
    }

    async fn save_owners(&mut self, changes: &[OwnerChange]) -> Result<(), StoreError> {
        self.record_owners(changes)
    }
}

impl AlertStore for SqliteStore {
    async fn insert_alerts(&mut self, alerts: &[&Alert]) -> Result<(), StoreError> {
        let mut insert = self.conn().prepare_cached(
            "INSERT OR IGNORE INTO alerts (alert_id, site, company_domain, kind, stage, score, raised_at, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for a in alerts {
            insert.execute(params![
                a.alert_id,
                a.site,
                a.company_domain,
                a.kind.as_str(),
                a.stage,
                a.score,
                format_secs(a.raised_ms.div_euclid(1000)),
                json(a)
            ])?;
        }
        Ok(())
    }

    async fn latest_status(&mut self, site: &str, domain: &str) -> Result<Option<(Status, f64)>, StoreError> {
        let latest: Option<(String, f64)> = self
            .conn()
            .prepare_cached(
                "SELECT status, score FROM account_status WHERE site = ?1 AND company_domain = ?2
                 ORDER BY rowid DESC LIMIT 1",
            )?
            .query_row(params![site, domain], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(latest.map(|(status, score)| (Status::from_stored(&status), score)))
    }

    async fn delivered_since(&mut self, d: &Delivery<'_>, since: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM alert_deliveries WHERE webhook = ?1 AND site = ?2 AND company_domain = ?3
                   AND created_at > ?4 AND delivery_id != ?5)",
            )?
            .query_row(
                params![d.webhook, d.alert.site, d.alert.company_domain, format_secs(since), d.delivery_id],
                |r| r.get(0),
            )?)
    }

    async fn queue_delivery(&mut self, d: &Delivery<'_>) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO alert_deliveries (delivery_id, alert_id, site, company_domain, webhook, webhook_index,
                   status, attempts, next_attempt_ms, http_status, last_error, created_at, delivered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, 0, 0, '', ?7, '')",
            )?
            .execute(params![
                d.delivery_id,
                d.alert.alert_id,
                d.alert.site,
                d.alert.company_domain,
                d.webhook,
                d.webhook_index as i64,
                format_secs(d.created_secs)
            ])?;
        Ok(n == 1)
    }
}

impl FollowupStore for SqliteStore {
    async fn hot_followups(&mut self) -> Result<Vec<HotFollowup>, StoreError> {
        self.read_hot_followups()
    }
}

impl RescoreStore for SqliteStore {
    async fn all_accounts(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt =
            self.conn().prepare("SELECT site, company_domain FROM accounts ORDER BY site, company_domain")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
