//! The dashboard's reads and sales' status on ClickHouse: the SQL behind [`DashboardReads`], into the same
//! rows as the embedded store (`crate::dashboard`). Versioned tables are read with `FINAL` or
//! `argMax(…, version)`.

use super::ClickHouseStore;
use crate::dashboard::{
    with_owners, AccountAlert, AccountDetail, AccountFilter, AccountRow, AccountSession, AlertDelivery, CampaignRow,
    CampaignTally, DailyViews, DashboardError, DashboardReads, FunnelFacts, LiveVisit, OwnerHistoryRow, OwnerUpdate,
    SessionEvent, Status, StatusChange, StatusUpdate, StoredAccount,
};
use crate::StoreError;
use clickhouse::Row;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The select list of [`ChAccount`]: [`crate::columns::ACCOUNT_VIEW`] in the dashboard's types.
fn account_select() -> String {
    crate::columns::list(crate::columns::ACCOUNT_VIEW, |c| match c {
        "visitors" | "sessions" | "pageviews" | "return_visits" | "id_confidence" | "class_confidence" => {
            format!("toInt64({c})")
        }
        "first_seen" | "last_seen" | "score_at" => format!("toString({c})"),
        _ => c.to_string(),
    })
}

#[derive(Debug, Row, Deserialize)]
struct ChAccount {
    domain: String,
    name: String,
    class: String,
    country: String,
    stage: String,
    score: f64,
    visitors: i64,
    sessions: i64,
    pageviews: i64,
    return_visits: i64,
    first_seen: String,
    last_seen: String,
    top_pages: String,
    topics: String,
    campaigns: String,
    contacts: String,
    is_target: u8,
    excluded: u8,
    score_at: String,
    id_source: String,
    id_confidence: i64,
    class_confidence: i64,
}

impl From<ChAccount> for StoredAccount {
    fn from(a: ChAccount) -> StoredAccount {
        StoredAccount {
            domain: a.domain,
            name: a.name,
            class: a.class,
            country: a.country,
            stage: a.stage,
            score: a.score,
            visitors: a.visitors,
            sessions: a.sessions,
            pageviews: a.pageviews,
            return_visits: a.return_visits,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            top_pages: a.top_pages,
            topics: a.topics,
            campaigns: a.campaigns,
            contacts: a.contacts,
            is_target: a.is_target != 0,
            excluded: a.excluded != 0,
            score_at: a.score_at,
            id_source: a.id_source,
            id_confidence: a.id_confidence,
            class_confidence: a.class_confidence,
        }
    }
}

#[derive(Debug, Row, Deserialize)]
struct ChSession {
    session_id: String,
    visitor_id: String,
    started_at: String,
    ended_at: String,
    pageviews: i64,
    engaged_ms: i64,
    is_return: u8,
    entry_path: String,
    referrer: String,
    utm_source: String,
    utm_medium: String,
    utm_campaign: String,
    id_source: String,
    id_confidence: i64,
}

#[derive(Debug, Row, Deserialize)]
struct ChVisit {
    ts: String,
    received_at: String,
    company_name: String,
    company_domain: String,
    network_class: String,
    country: String,
    path: String,
    title: String,
    visitor_id: String,
    session_id: String,
}

impl From<ChVisit> for LiveVisit {
    fn from(v: ChVisit) -> LiveVisit {
        LiveVisit {
            ts: v.ts,
            received_at: v.received_at,
            company_name: v.company_name,
            company_domain: v.company_domain,
            network_class: v.network_class,
            country: v.country,
            path: v.path,
            title: v.title,
            visitor_id: v.visitor_id,
            session_id: v.session_id,
        }
    }
}

impl From<clickhouse::error::Error> for DashboardError {
    fn from(e: clickhouse::error::Error) -> DashboardError {
        DashboardError::Store(e.into())
    }
}

impl DashboardReads for ClickHouseStore {
    async fn accounts(&self, site: &str, f: &AccountFilter, now_ms: i64) -> Result<Vec<AccountRow>, DashboardError> {
        let mut sql = format!("SELECT {} FROM accounts FINAL WHERE site = ? AND excluded = 0", account_select());
        let mut binds: Vec<String> = vec![site.to_string()];
        for (value, clause) in [
            (&f.stage, " AND stage = ?"),
            (&f.class, " AND network_class = ?"),
            (&f.country.to_ascii_uppercase(), " AND country = ?"),
            (&f.identified_by, " AND id_source = ?"),
        ] {
            if !value.is_empty() {
                sql.push_str(clause);
                binds.push(value.clone());
            }
        }
        if !f.campaign.is_empty() {
            sql.push_str(
                " AND company_domain IN (SELECT company_domain FROM sessions WHERE site = ? AND utm_campaign = ?)",
            );
            binds.push(site.to_string());
            binds.push(f.campaign.clone());
        }
        if !f.text.is_empty() {
            sql.push_str(" AND (position(lower(company_name), ?) > 0 OR position(lower(company_domain), ?) > 0)");
            binds.push(f.text.to_lowercase());
            binds.push(f.text.to_lowercase());
        }
        // A status filter is applied here, after the statuses are joined, so fetch enough rows for it.
        let limit = if f.status.is_none() { f.limit.max(1) } else { usize::MAX >> 1 };
        sql.push_str(&format!(" ORDER BY score DESC, last_seen DESC LIMIT {}", limit.min(1_000_000)));
        let mut q = self.client().query(&sql);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows: Vec<ChAccount> = q.fetch_all().await?;
        let statuses = self.statuses(site).await?;
        let activity = self.daily_pageviews(site, now_ms.div_euclid(1000)).await?;
        let mut out = Vec::new();
        for row in rows {
            let status = statuses.get(&row.domain).copied().unwrap_or_default();
            if f.status.is_some_and(|wanted| wanted != status) {
                continue;
            }
            let days = activity.of(&row.domain);
            out.push(StoredAccount::from(row).into_row(status, days));
            if out.len() >= f.limit.max(1) {
                break;
            }
        }
        with_owners(&mut out, &self.current_owners(site, None).await?, &self.hot_since(site).await?);
        Ok(out)
    }

    async fn account(&self, site: &str, domain: &str, now_ms: i64) -> Result<Option<AccountDetail>, DashboardError> {
        let row: Option<ChAccount> = self
            .client()
            .query(&format!(
                "SELECT {} FROM accounts FINAL WHERE site = ? AND company_domain = ? LIMIT 1",
                account_select()
            ))
            .bind(site)
            .bind(domain)
            .fetch_optional()
            .await?;
        let Some(row) = row else { return Ok(None) };
        let status_history = self.status_history(site, domain).await?;
        let status = status_history.first().map(|h| h.status).unwrap_or_default();
        let activity = self.daily_pageviews(site, now_ms.div_euclid(1000)).await?;
        let account = StoredAccount::from(row).into_row(status, activity.of(domain));
        let sessions = self.account_sessions(site, domain).await?;
        let alerts = self.account_alerts(site, domain).await?;
        let owner_history = self.owner_history(site, domain).await?;
        let mut account = account;
        account.owner = owner_history.first().map(|h| h.owner.clone()).unwrap_or_default();
        account.hot_since = self.hot_since(site).await?.remove(domain);
        Ok(Some(AccountDetail { account, sessions, alerts, status_history, owner_history }))
    }

    /// `seq` is the wall-clock ms of the change: ClickHouse has no rowid, and `seq` keeps an account's
    /// history in order even for two changes within one second (`set_at` keeps only the seconds).
    async fn set_status(
        &self,
        site: &str,
        domain: &str,
        update: &StatusUpdate,
        now_ms: i64,
    ) -> Result<Option<StatusChange>, DashboardError> {
        let score: Option<f64> = self
            .client()
            .query("SELECT score FROM accounts FINAL WHERE site = ? AND company_domain = ? LIMIT 1")
            .bind(site)
            .bind(domain)
            .fetch_optional()
            .await?;
        let Some(score) = score else { return Ok(None) };
        let change = update.at(now_ms);
        self.client()
            .query("INSERT INTO account_status VALUES (?, ?, ?, ?, ?, toDateTime(?, 'UTC'), ?, ?)")
            .bind(site)
            .bind(domain)
            .bind(change.status.as_str())
            .bind(change.note.as_str())
            .bind(change.set_by.as_str())
            .bind(now_ms.div_euclid(1000))
            .bind(score)
            .bind(now_ms.max(0) as u64)
            .execute()
            .await?;
        Ok(Some(change))
    }

    async fn set_owner(
        &self,
        site: &str,
        domain: &str,
        update: &OwnerUpdate,
        now_ms: i64,
    ) -> Result<Option<OwnerHistoryRow>, DashboardError> {
        let change = self.reassign(site, domain, &update.owner, &update.set_by, now_ms).await?;
        Ok(change.as_ref().map(OwnerHistoryRow::of))
    }

    async fn funnel_facts(&self, site: &str) -> Result<Vec<FunnelFacts>, DashboardError> {
        let accounts: Vec<(String, String, String, String)> = self
            .client()
            .query(
                "SELECT company_domain, toString(first_seen), stage, campaigns FROM accounts FINAL
                 WHERE site = ? AND excluded = 0",
            )
            .bind(site)
            .fetch_all()
            .await?;
        let hot: Vec<(String, String)> = self
            .client()
            .query(
                "SELECT company_domain, toString(min(raised_at)) FROM alerts FINAL WHERE site = ? AND kind = 'became_hot'
                 GROUP BY company_domain",
            )
            .bind(site)
            .fetch_all()
            .await?;
        let statuses: Vec<(String, String, String)> = self
            .client()
            .query("SELECT company_domain, status, toString(set_at) FROM account_status WHERE site = ? ORDER BY seq")
            .bind(site)
            .fetch_all()
            .await?;
        Ok(crate::dashboard::funnel_facts(accounts, hot, statuses))
    }

    async fn campaigns(&self, site: &str) -> Result<Vec<CampaignRow>, DashboardError> {
        let rows: Vec<(String, String, String, String, i64)> = self
            .client()
            .query(
                "SELECT utm_source, utm_medium, utm_campaign, company_domain, toInt64(count()) FROM sessions FINAL
                 WHERE site = ? AND company_domain != '' AND (utm_source != '' OR utm_medium != '' OR utm_campaign != '')
                 GROUP BY utm_source, utm_medium, utm_campaign, company_domain",
            )
            .bind(site)
            .fetch_all()
            .await?;
        let stages: Vec<(String, String, u8)> = self
            .client()
            .query("SELECT company_domain, stage, excluded FROM accounts FINAL WHERE site = ?")
            .bind(site)
            .fetch_all()
            .await?;
        let stages: HashMap<String, (String, u8)> = stages.into_iter().map(|(d, s, e)| (d, (s, e))).collect();
        let statuses = self.statuses(site).await?;
        let mut campaigns = CampaignTally::default();
        for (source, medium, campaign, domain, sessions) in rows {
            let Some((stage, 0)) = stages.get(&domain) else { continue };
            let status = statuses.get(&domain).copied().unwrap_or_default();
            campaigns.add((source, medium, campaign), sessions, stage, status);
        }
        Ok(campaigns.into_rows())
    }

    async fn live(&self, site: &str, since_ms: i64) -> Result<Vec<LiveVisit>, DashboardError> {
        let since_secs = since_ms.div_euclid(1000);
        let rows: Vec<ChVisit> = self
            .client()
            .query(
                "SELECT toString(ts), toString(received_at), company_name, company_domain, network_class, country,
                   path, title, visitor_id, session_id
                 FROM events FINAL
                 WHERE site = ? AND type = 'pageview' AND received_at >= toDateTime(?, 'UTC')
                   AND ts >= toDateTime(?, 'UTC')
                 ORDER BY received_at DESC, ts DESC LIMIT 200",
            )
            .bind(site)
            .bind(since_secs)
            // Client clocks may be up to a day behind; this keeps the scan to recent partitions.
            .bind(since_secs - 2 * 86_400)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(LiveVisit::from).collect())
    }
}

impl ClickHouseStore {
    /// Each account's latest sales status on `site`.
    async fn statuses(&self, site: &str) -> Result<HashMap<String, Status>, StoreError> {
        let rows: Vec<(String, String)> = self
            .client()
            .query(
                "SELECT company_domain, argMax(status, seq) FROM account_status WHERE site = ? GROUP BY company_domain",
            )
            .bind(site)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(|(d, s)| (d, Status::from_stored(&s))).collect())
    }

    /// Page views per account and day, the last 30 days up to the day of `now_secs`.
    async fn daily_pageviews(&self, site: &str, now_secs: i64) -> Result<DailyViews, StoreError> {
        let today = now_secs - now_secs.rem_euclid(86_400);
        let rows: Vec<(String, u32, i64)> = self
            .client()
            .query(
                "SELECT company_domain, toUInt32(toStartOfDay(started_at)) AS day, toInt64(sum(pageviews))
                 FROM sessions FINAL WHERE site = ? AND company_domain != '' AND started_at >= toDateTime(?, 'UTC')
                 GROUP BY company_domain, day",
            )
            .bind(site)
            .bind(today - 29 * 86_400)
            .fetch_all()
            .await?;
        let mut out = DailyViews::default();
        for (domain, day, views) in rows {
            out.add(domain, (today - i64::from(day)) / 86_400, views);
        }
        Ok(out)
    }

    /// An account's latest 50 sessions, newest first, each with its events in time order.
    async fn account_sessions(&self, site: &str, domain: &str) -> Result<Vec<AccountSession>, StoreError> {
        let sessions: Vec<ChSession> = self
            .client()
            .query(
                "SELECT session_id, visitor_id, toString(started_at), toString(ended_at), toInt64(pageviews),
                   toInt64(engaged_ms), is_return, entry_path, referrer, utm_source, utm_medium, utm_campaign,
                   id_source, toInt64(id_confidence)
                 FROM sessions FINAL WHERE site = ? AND company_domain = ? ORDER BY started_at DESC LIMIT 50",
            )
            .bind(site)
            .bind(domain)
            .fetch_all()
            .await?;
        let visitors: Vec<&str> =
            sessions.iter().map(|s| s.visitor_id.as_str()).collect::<HashSet<_>>().into_iter().collect();
        let ids: Vec<&str> = sessions.iter().map(|s| s.session_id.as_str()).collect();
        let events: Vec<(String, String, String, String, String, i64, String)> = if ids.is_empty() {
            Vec::new()
        } else {
            self.client()
                .query(
                    "SELECT session_id, toString(ts), type, path, title, toInt64(eng_ms), event_id FROM events
                     WHERE site = ? AND visitor_id IN (SELECT arrayJoin(?)) AND session_id IN (SELECT arrayJoin(?))
                     ORDER BY ts, event_id",
                )
                .bind(site)
                .bind(&visitors)
                .bind(&ids)
                .fetch_all()
                .await?
        };
        // `events` is read without FINAL (cheaper); a copy not yet merged away is skipped by its id.
        let mut pages: HashMap<String, Vec<SessionEvent>> = HashMap::new();
        let mut seen = HashSet::new();
        for (session_id, ts, kind, path, title, eng_ms, event_id) in events {
            if seen.insert(event_id) {
                pages.entry(session_id).or_default().push(SessionEvent { ts, kind, path, title, eng_ms });
            }
        }
        Ok(sessions
            .into_iter()
            .map(|s| AccountSession {
                pages: pages.remove(&s.session_id).unwrap_or_default(),
                session_id: s.session_id,
                visitor_id: s.visitor_id,
                started_at: s.started_at,
                ended_at: s.ended_at,
                pageviews: s.pageviews,
                engaged_ms: s.engaged_ms,
                is_return: s.is_return != 0,
                entry_path: s.entry_path,
                referrer: s.referrer,
                utm_source: s.utm_source,
                utm_medium: s.utm_medium,
                utm_campaign: s.utm_campaign,
                id_source: s.id_source,
                id_confidence: s.id_confidence,
            })
            .collect())
    }

    /// An account's alerts, newest first, each with its latest delivery states in webhook order.
    async fn account_alerts(&self, site: &str, domain: &str) -> Result<Vec<AccountAlert>, StoreError> {
        let alerts: Vec<(String, String, String, f64, String)> = self
            .client()
            .query(
                "SELECT alert_id, any(kind), any(stage), any(score), toString(any(raised_at)) FROM alerts
                 WHERE site = ? AND company_domain = ? GROUP BY alert_id ORDER BY any(raised_at) DESC",
            )
            .bind(site)
            .bind(domain)
            .fetch_all()
            .await?;
        let deliveries: Vec<(String, String, String, i64, i64, String, u32)> = self
            .client()
            .query(
                "SELECT alert_id, argMax(webhook, version), argMax(status, version), toInt64(argMax(attempts, version)),
                   toInt64(argMax(http_status, version)),
                   if(toUInt32(argMax(delivered_at, version)) = 0, '', toString(argMax(delivered_at, version))),
                   argMax(webhook_index, version)
                 FROM alert_deliveries WHERE site = ? AND company_domain = ? GROUP BY delivery_id, alert_id",
            )
            .bind(site)
            .bind(domain)
            .fetch_all()
            .await?;
        let mut by_alert: HashMap<String, Vec<(u32, AlertDelivery)>> = HashMap::new();
        for (alert_id, webhook, status, attempts, http_status, delivered_at, index) in deliveries {
            by_alert
                .entry(alert_id)
                .or_default()
                .push((index, AlertDelivery { webhook, status, attempts, http_status, delivered_at }));
        }
        Ok(alerts
            .into_iter()
            .map(|(alert_id, kind, stage, score, raised_at)| {
                let mut d = by_alert.remove(&alert_id).unwrap_or_default();
                d.sort_by_key(|(i, _)| *i);
                let deliveries = d.into_iter().map(|(_, v)| v).collect();
                AccountAlert { alert_id, kind, stage, score, raised_at, deliveries }
            })
            .collect())
    }

    /// An account's status changes, newest first.
    async fn status_history(&self, site: &str, domain: &str) -> Result<Vec<StatusChange>, StoreError> {
        let rows: Vec<(String, String, String, String)> = self
            .client()
            .query(
                "SELECT status, note, set_by, toString(set_at) FROM account_status
                 WHERE site = ? AND company_domain = ? ORDER BY seq DESC",
            )
            .bind(site)
            .bind(domain)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|(status, note, set_by, set_at)| StatusChange {
                status: Status::from_stored(&status),
                note,
                set_by,
                set_at,
            })
            .collect())
    }
}
