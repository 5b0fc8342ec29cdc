//! The reads behind the dashboard and its API, and the one write: sales' status of an account.
//!
//! Answers are JSON values in the shapes `crates/vtrack-api/API.md` documents, built here so the SQL and
//! the shape it fills sit side by side.

use crate::{SqliteStore, StoreError};
use rusqlite::{params, params_from_iter, OptionalExtension};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use vtrack_model::time::format_secs;

/// The statuses sales can give an account; `new` is every account's until set.
pub const STATUSES: &[&str] = &["new", "contacted", "qualified", "won", "lost"];

/// Filters of the accounts list; empty strings mean "any".
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub stage: String,
    pub class: String,
    pub country: String,
    pub campaign: String,
    pub status: String,
    pub text: String,
    pub limit: usize,
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Array(Vec::new()))
}

fn campaign_or_null(v: Option<&Value>) -> Value {
    match v {
        Some(c) => json!({ "source": c["source"], "medium": c["medium"], "campaign": c["campaign"] }),
        None => Value::Null,
    }
}

/// The latest status row of an account, if sales set one.
const LATEST_STATUS: &str = "SELECT status FROM account_status s WHERE s.site = a.site
    AND s.company_domain = a.company_domain ORDER BY s.rowid DESC LIMIT 1";

const ACCOUNT_COLUMNS: &str = "a.company_domain, a.company_name, a.network_class, a.country, a.stage, a.score,
    a.visitors, a.sessions, a.pageviews, a.return_visits, a.first_seen, a.last_seen, a.top_pages, a.topics,
    a.campaigns, a.contacts, a.is_target, a.excluded, a.score_at";

/// An `accounts` row as both stores read it.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccountRow {
    pub domain: String,
    pub name: String,
    pub class: String,
    pub country: String,
    pub stage: String,
    pub score: f64,
    pub visitors: i64,
    pub sessions: i64,
    pub pageviews: i64,
    pub return_visits: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub top_pages: String,
    pub topics: String,
    pub campaigns: String,
    pub contacts: String,
    pub is_target: bool,
    pub excluded: bool,
    pub score_at: String,
}

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
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
    })
}

fn account_json(r: &rusqlite::Row<'_>, status: String) -> rusqlite::Result<Value> {
    Ok(account_value(&account_row(r)?, &status))
}

/// The detail shape of an account (the list keeps fewer fields, see [`list_item`]).
pub(crate) fn account_value(a: &AccountRow, status: &str) -> Value {
    let top_pages = parse_json(&a.top_pages);
    let topics = parse_json(&a.topics);
    let campaigns = parse_json(&a.campaigns);
    let list = campaigns.as_array();
    json!({
        "domain": a.domain,
        "name": a.name,
        "class": a.class,
        "country": a.country,
        "stage": a.stage,
        "score": (a.score * 10.0).round() / 10.0,
        "visitors": a.visitors,
        "sessions": a.sessions,
        "pageviews": a.pageviews,
        "return_visits": a.return_visits,
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "top_pages": top_pages.as_array().map(|a| a.iter().take(3).cloned().collect::<Vec<_>>()).unwrap_or_default(),
        "top_topic": topics.get(0).and_then(|t| t.get("topic")).cloned().unwrap_or(Value::Null),
        "first_campaign": campaign_or_null(list.and_then(|l| l.first())),
        "last_campaign": campaign_or_null(list.and_then(|l| l.last())),
        "status": status,
        "topics": topics,
        "all_pages": top_pages,
        "contacts": parse_json(&a.contacts),
        "is_target": a.is_target,
        "excluded": a.excluded,
        "score_at": a.score_at,
    })
}

/// Assembles the response of `GET /api/accounts/{domain}` from an account's detail shape and its parts.
pub(crate) fn detail_value(mut account: Value, sessions: Vec<Value>, alerts: Vec<Value>, history: Vec<Value>) -> Value {
    let pages = account.get("all_pages").cloned().unwrap_or(Value::Array(Vec::new()));
    if let Some(o) = account.as_object_mut() {
        o.remove("all_pages");
    }
    let breakdown = json!({
        "pages": pages,
        "visits": account["sessions"],
        "return_visits": account["return_visits"],
        "visitors": account["visitors"],
    });
    json!({
        "account": account,
        "breakdown": breakdown,
        "sessions": sessions,
        "alerts": alerts,
        "status": history.first().cloned().unwrap_or(Value::Null),
        "status_history": history,
    })
}

/// Adds one campaign × account row to the per-campaign totals.
pub(crate) fn add_campaign(
    campaigns: &mut BTreeMap<(String, String, String), Value>,
    key: (String, String, String),
    sessions: i64,
    stage: &str,
    status: &str,
) {
    let c = campaigns.entry(key.clone()).or_insert_with(|| {
        json!({ "source": key.0, "medium": key.1, "campaign": key.2, "sessions": 0, "accounts": 0,
                "by_stage": {}, "won": 0, "lost": 0 })
    });
    c["sessions"] = json!(c["sessions"].as_i64().unwrap_or(0) + sessions);
    c["accounts"] = json!(c["accounts"].as_i64().unwrap_or(0) + 1);
    let n = c["by_stage"][stage].as_i64().unwrap_or(0);
    c["by_stage"][stage] = json!(n + 1);
    if status == "won" || status == "lost" {
        c[status] = json!(c[status].as_i64().unwrap_or(0) + 1);
    }
}

/// Campaigns by accounts reached, then sessions.
pub(crate) fn sorted_campaigns(campaigns: BTreeMap<(String, String, String), Value>) -> Vec<Value> {
    let mut out: Vec<Value> = campaigns.into_values().collect();
    out.sort_by_key(|c| {
        (std::cmp::Reverse(c["accounts"].as_i64().unwrap_or(0)), std::cmp::Reverse(c["sessions"].as_i64().unwrap_or(0)))
    });
    out
}

/// Keeps the list item's fields (the detail view adds the rest).
pub(crate) fn list_item(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for k in ["topics", "all_pages", "contacts", "is_target", "excluded", "score_at"] {
            o.remove(k);
        }
    }
    v
}

impl SqliteStore {
    /// Accounts ranked by score, with each one's page views per day over the last 30 days (`now_secs` is today).
    pub fn dashboard_accounts(&self, site: &str, f: &AccountFilter, now_secs: i64) -> Result<Vec<Value>, StoreError> {
        let mut sql = format!(
            "SELECT * FROM (SELECT {ACCOUNT_COLUMNS}, COALESCE(({LATEST_STATUS}), 'new') AS status
             FROM accounts a WHERE a.site = ?1 AND a.excluded = 0"
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
        if !f.text.is_empty() {
            arg(
                &mut sql,
                " AND (instr(lower(a.company_name), ?) > 0 OR instr(a.company_domain, lower(?)) > 0)",
                &f.text.to_lowercase(),
            );
        }
        sql.push(')');
        if !f.status.is_empty() {
            arg(&mut sql, " WHERE status = ?", &f.status);
        }
        sql.push_str(&format!(" ORDER BY score DESC, last_seen DESC LIMIT {}", f.limit.max(1)));
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(list_item(account_json(r, r.get(19)?)?));
        }
        let activity = self.daily_pageviews(site, now_secs)?;
        for a in &mut out {
            let days = a["domain"].as_str().and_then(|d| activity.get(d)).cloned().unwrap_or_else(|| vec![0; 30]);
            a["activity"] = json!(days);
        }
        Ok(out)
    }

    /// Page views per account and day, the last 30 days, oldest first.
    fn daily_pageviews(&self, site: &str, now_secs: i64) -> Result<HashMap<String, Vec<i64>>, StoreError> {
        let today = format_secs(now_secs)[..10].to_string();
        let mut stmt = self.conn().prepare_cached(
            "SELECT company_domain, CAST(julianday(?2) - julianday(date(started_at)) AS INTEGER) AS age, sum(pageviews)
             FROM sessions WHERE site = ?1 AND company_domain != '' AND date(started_at) > date(?2, '-30 days')
               AND date(started_at) <= ?2
             GROUP BY company_domain, age",
        )?;
        let mut rows = stmt.query(params![site, today])?;
        let mut out: HashMap<String, Vec<i64>> = HashMap::new();
        while let Some(r) = rows.next()? {
            let (domain, age, views): (String, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            if (0..30).contains(&age) {
                out.entry(domain).or_insert_with(|| vec![0; 30])[29 - age as usize] = views;
            }
        }
        Ok(out)
    }

    /// One account with its timeline, score breakdown, alerts and status; `None` when the site has no such account.
    pub fn dashboard_account(&self, site: &str, domain: &str, now_secs: i64) -> Result<Option<Value>, StoreError> {
        let conn = self.conn();
        let account = conn
            .prepare(&format!(
                "SELECT {ACCOUNT_COLUMNS}, COALESCE(({LATEST_STATUS}), 'new') FROM accounts a
                 WHERE a.site = ?1 AND a.company_domain = ?2"
            ))?
            .query_row(params![site, domain], |r| account_json(r, r.get(19)?))
            .optional()?;
        let Some(mut account) = account else { return Ok(None) };
        let activity = self.daily_pageviews(site, now_secs)?;
        account["activity"] = json!(activity.get(domain).cloned().unwrap_or_else(|| vec![0; 30]));
        let mut sessions = Vec::new();
        let mut index = HashMap::new();
        {
            let mut stmt = conn.prepare_cached(
                "SELECT session_id, visitor_id, started_at, ended_at, pageviews, engaged_ms, is_return, entry_path,
                   referrer, utm_source, utm_medium, utm_campaign
                 FROM sessions WHERE site = ?1 AND company_domain = ?2 ORDER BY started_at DESC LIMIT 50",
            )?;
            let mut rows = stmt.query(params![site, domain])?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                index.insert(id.clone(), sessions.len());
                sessions.push(json!({
                    "session_id": id, "visitor_id": r.get::<_, String>(1)?, "started_at": r.get::<_, String>(2)?,
                    "ended_at": r.get::<_, String>(3)?, "pageviews": r.get::<_, i64>(4)?,
                    "engaged_ms": r.get::<_, i64>(5)?, "is_return": r.get::<_, bool>(6)?,
                    "entry_path": r.get::<_, String>(7)?, "referrer": r.get::<_, String>(8)?,
                    "utm_source": r.get::<_, String>(9)?, "utm_medium": r.get::<_, String>(10)?,
                    "utm_campaign": r.get::<_, String>(11)?, "pages": [],
                }));
            }
        }
        if !index.is_empty() {
            let marks = vec!["?"; index.len()].join(",");
            let mut stmt = conn.prepare(&format!(
                "SELECT session_id, ts, type, path, title, eng_ms FROM events WHERE session_id IN ({marks})
                 ORDER BY ts, event_id"
            ))?;
            let ids: Vec<&String> = index.keys().collect();
            let mut rows = stmt.query(params_from_iter(ids))?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                if let Some(pages) = index.get(&id).and_then(|&i| sessions[i]["pages"].as_array_mut()) {
                    pages.push(json!({
                        "ts": r.get::<_, String>(1)?, "type": r.get::<_, String>(2)?, "path": r.get::<_, String>(3)?,
                        "title": r.get::<_, String>(4)?, "eng_ms": r.get::<_, i64>(5)?,
                    }));
                }
            }
        }

        let mut alerts: Vec<Value> = Vec::new();
        {
            let mut stmt = conn.prepare_cached(
                "SELECT a.alert_id, a.kind, a.stage, a.score, a.raised_at, d.webhook, d.status, d.attempts,
                   d.http_status, d.delivered_at
                 FROM alerts a LEFT JOIN alert_deliveries d ON d.alert_id = a.alert_id
                 WHERE a.site = ?1 AND a.company_domain = ?2 ORDER BY a.raised_at DESC, d.webhook_index",
            )?;
            let mut rows = stmt.query(params![site, domain])?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                if alerts.last().is_none_or(|a| a["alert_id"] != id.as_str()) {
                    alerts.push(json!({
                        "alert_id": id, "kind": r.get::<_, String>(1)?, "stage": r.get::<_, String>(2)?,
                        "score": r.get::<_, f64>(3)?, "raised_at": r.get::<_, String>(4)?, "deliveries": [],
                    }));
                }
                if let (Some(webhook), Some(last)) = (r.get::<_, Option<String>>(5)?, alerts.last_mut()) {
                    if let Some(d) = last["deliveries"].as_array_mut() {
                        d.push(json!({
                            "webhook": webhook, "status": r.get::<_, String>(6)?, "attempts": r.get::<_, i64>(7)?,
                            "http_status": r.get::<_, i64>(8)?, "delivered_at": r.get::<_, String>(9)?,
                        }));
                    }
                }
            }
        }
        let history = self.status_history(site, domain)?;
        Ok(Some(detail_value(account, sessions, alerts, history)))
    }

    fn status_history(&self, site: &str, domain: &str) -> Result<Vec<Value>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT status, note, set_by, set_at FROM account_status WHERE site = ?1 AND company_domain = ?2
             ORDER BY rowid DESC",
        )?;
        let mut rows = stmt.query(params![site, domain])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(json!({
                "status": r.get::<_, String>(0)?, "note": r.get::<_, String>(1)?,
                "set_by": r.get::<_, String>(2)?, "set_at": r.get::<_, String>(3)?,
            }));
        }
        Ok(out)
    }

    /// Records sales' status of an account with who and when; `None` when the site has no such account.
    /// The caller checks `status` against [`STATUSES`].
    pub fn set_account_status(
        &self,
        site: &str,
        domain: &str,
        status: &str,
        note: &str,
        by: &str,
        now_secs: i64,
    ) -> Result<Option<Value>, StoreError> {
        let score: Option<f64> = self
            .conn()
            .prepare_cached("SELECT score FROM accounts WHERE site = ?1 AND company_domain = ?2")?
            .query_row(params![site, domain], |r| r.get(0))
            .optional()?;
        let Some(score) = score else { return Ok(None) };
        let set_at = format_secs(now_secs);
        self.conn().execute(
            "INSERT INTO account_status (site, company_domain, status, note, set_by, set_at, score)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![site, domain, status, note, by, set_at, score],
        )?;
        Ok(Some(json!({ "status": status, "note": note, "set_by": by, "set_at": set_at })))
    }

    /// Campaigns (UTM source, medium, campaign of account sessions): sessions, accounts reached, their stages
    /// and sales outcomes.
    pub fn dashboard_campaigns(&self, site: &str) -> Result<Vec<Value>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT s.utm_source, s.utm_medium, s.utm_campaign, s.company_domain, count(*) AS sessions, a.stage,
               COALESCE(({LATEST_STATUS}), 'new') AS status
             FROM sessions s JOIN accounts a ON a.site = s.site AND a.company_domain = s.company_domain
             WHERE s.site = ?1 AND s.company_domain != '' AND a.excluded = 0
               AND (s.utm_source != '' OR s.utm_medium != '' OR s.utm_campaign != '')
             GROUP BY s.utm_source, s.utm_medium, s.utm_campaign, s.company_domain"
        ))?;
        let mut rows = stmt.query(params![site])?;
        let mut campaigns: BTreeMap<(String, String, String), Value> = BTreeMap::new();
        while let Some(r) = rows.next()? {
            let key: (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (sessions, stage, status): (i64, String, String) = (r.get(4)?, r.get(5)?, r.get(6)?);
            add_campaign(&mut campaigns, key, sessions, &stage, &status);
        }
        Ok(sorted_campaigns(campaigns))
    }

    /// The latest page views received since `since_secs`, newest first (at most 200).
    pub fn dashboard_live(&self, site: &str, since_secs: i64) -> Result<Vec<Value>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT ts, received_at, company_name, company_domain, network_class, country, path, title, visitor_id,
               session_id
             FROM events WHERE site = ?1 AND type = 'pageview' AND received_at >= ?2
             ORDER BY received_at DESC, ts DESC LIMIT 200",
        )?;
        let mut rows = stmt.query(params![site, format_secs(since_secs)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(json!({
                "ts": r.get::<_, String>(0)?, "received_at": r.get::<_, String>(1)?,
                "company_name": r.get::<_, String>(2)?, "company_domain": r.get::<_, String>(3)?,
                "network_class": r.get::<_, String>(4)?, "country": r.get::<_, String>(5)?,
                "path": r.get::<_, String>(6)?, "title": r.get::<_, String>(7)?,
                "visitor_id": r.get::<_, String>(8)?, "session_id": r.get::<_, String>(9)?,
            }));
        }
        Ok(out)
    }
}
