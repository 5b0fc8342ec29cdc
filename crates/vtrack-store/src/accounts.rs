//! Account rows: aggregates recomputed from sessions, then the scorer's verdict and the alerts it raises,
//! all inside the batch's transaction.

use crate::StoreError;
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::HashSet;
use vtrack_model::account::{AccountEvent, AccountHistory, AccountScore, StoredScore};
use vtrack_model::event::Utm;
use vtrack_model::time::{format_secs, parse_secs};
use vtrack_model::Alert;

/// A webhook as the outbox needs it: where, and how often per account.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub url: String,
    pub cooldown_secs: i64,
    /// See `AlertsConfig::recontact_margin`.
    pub recontact_margin: f64,
}

/// Turns an account's history into its score; the binary passes the configured `vtrack_process::Scorer`.
pub type ScoreFn<'a> = &'a mut dyn FnMut(&AccountHistory) -> AccountScore;

pub(crate) fn previous_score(
    tx: &Transaction<'_>,
    site: &str,
    domain: &str,
) -> Result<Option<StoredScore>, StoreError> {
    let row = tx
        .prepare_cached("SELECT score, score_at, stage FROM accounts WHERE site = ?1 AND company_domain = ?2")?
        .query_row([site, domain], |r| Ok((r.get::<_, f64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .optional()?;
    Ok(row.and_then(|(score, at, stage)| {
        parse_secs(&at).map(|score_at_secs| StoredScore { score, score_at_secs, stage })
    }))
}

pub(crate) fn recompute_aggregates(tx: &Transaction<'_>, site: &str, domain: &str) -> Result<(), StoreError> {
    // An upsert, not a replace: the scoring columns of an existing row must survive.
    tx.prepare_cached(
        "INSERT INTO accounts (site, company_domain, company_name, network_class, country, first_seen, last_seen,
           visitors, sessions, pageviews, engaged_ms)
         SELECT site, company_domain, max(company_name), max(network_class), max(country), min(started_at),
           max(ended_at), count(DISTINCT visitor_id), count(*), sum(pageviews), sum(engaged_ms)
         FROM sessions WHERE site = ?1 AND company_domain = ?2
         GROUP BY site, company_domain
         ON CONFLICT (site, company_domain) DO UPDATE SET company_name = excluded.company_name,
           network_class = excluded.network_class, country = excluded.country, first_seen = excluded.first_seen,
           last_seen = excluded.last_seen, visitors = excluded.visitors, sessions = excluded.sessions,
           pageviews = excluded.pageviews, engaged_ms = excluded.engaged_ms",
    )?
    .execute([site, domain])?;
    Ok(())
}

pub(crate) fn history(
    tx: &Transaction<'_>,
    site: &str,
    domain: &str,
    previous: Option<StoredScore>,
    new_ids: &HashSet<String>,
) -> Result<AccountHistory, StoreError> {
    let mut h = tx
        .prepare_cached(
            "SELECT company_name, network_class, country FROM accounts WHERE site = ?1 AND company_domain = ?2",
        )?
        .query_row([site, domain], |r| {
            Ok(AccountHistory {
                site: site.to_string(),
                company_domain: domain.to_string(),
                company_name: r.get(0)?,
                network_class: r.get::<_, String>(1)?.parse().unwrap_or_default(),
                country: r.get(2)?,
                previous,
                events: Vec::new(),
            })
        })?;
    // The account's events are those of its sessions (sessions carry the account only for account classes).
    let mut stmt = tx.prepare_cached(
        "SELECT e.event_id, e.ts, e.type, e.path, e.eng_ms, e.visitor_id, e.session_id, e.utm_source, e.utm_medium,
           e.utm_campaign, e.email
         FROM sessions s JOIN events e ON e.session_id = s.session_id
         WHERE s.site = ?1 AND s.company_domain = ?2
         ORDER BY e.ts, e.event_id",
    )?;
    let mut rows = stmt.query([site, domain])?;
    while let Some(r) = rows.next()? {
        let event_id: String = r.get(0)?;
        h.events.push(AccountEvent {
            is_new: new_ids.contains(&event_id),
            event_id,
            ts_secs: parse_secs(&r.get::<_, String>(1)?).unwrap_or(0),
            kind: r.get(2)?,
            path: r.get(3)?,
            eng_ms: r.get::<_, i64>(4)?.max(0) as u64,
            visitor_id: r.get(5)?,
            session_id: r.get(6)?,
            utm: Utm { source: r.get(7)?, medium: r.get(8)?, campaign: r.get(9)?, ..Default::default() },
            email: r.get(10)?,
        });
    }
    Ok(h)
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn save_score(tx: &Transaction<'_>, site: &str, domain: &str, s: &AccountScore) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE accounts SET score = ?3, score_at = ?4, stage = ?5, return_visits = ?6, topics = ?7, top_pages = ?8,
           campaigns = ?9, contacts = ?10, is_target = ?11, excluded = ?12
         WHERE site = ?1 AND company_domain = ?2",
    )?
    .execute(params![
        site,
        domain,
        s.score,
        format_secs(s.score_at_secs),
        s.stage,
        s.return_visits,
        json(&s.topics),
        json(&s.top_pages),
        json(&s.campaigns),
        json(&s.contacts),
        s.is_target,
        s.excluded
    ])?;
    Ok(())
}

/// Records an alert (once per id) and queues a delivery per webhook unless that webhook had one for the
/// account within its cooldown. Returns the deliveries queued.
pub(crate) fn raise(tx: &Transaction<'_>, alert: &Alert, targets: &[DeliveryTarget]) -> Result<usize, StoreError> {
    let raised_secs = alert.raised_ms.div_euclid(1000);
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO alerts (alert_id, site, company_domain, kind, stage, score, raised_at, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            alert.alert_id,
            alert.site,
            alert.company_domain,
            alert.kind.as_str(),
            alert.stage,
            alert.score,
            format_secs(raised_secs),
            json(alert)
        ])?;
    if inserted == 0 {
        return Ok(0);
    }
    // Sales already working the account: stay quiet unless it heated up markedly since.
    let worked: Option<f64> = tx
        .prepare_cached(
            "SELECT score FROM account_status WHERE site = ?1 AND company_domain = ?2 AND status != 'new'
               AND rowid = (SELECT max(rowid) FROM account_status WHERE site = ?1 AND company_domain = ?2)",
        )?
        .query_row(params![alert.site, alert.company_domain], |r| r.get(0))
        .optional()?;
    let mut queued = 0;
    for (i, t) in targets.iter().enumerate() {
        if worked.is_some_and(|at| alert.score < at + t.recontact_margin) {
            continue;
        }
        let since = format_secs(raised_secs - t.cooldown_secs);
        let recent: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM alert_deliveries WHERE webhook = ?1 AND site = ?2 AND company_domain = ?3
                   AND created_at > ?4)",
            )?
            .query_row(params![t.url, alert.site, alert.company_domain, since], |r| r.get(0))?;
        if recent {
            continue;
        }
        queued += tx
            .prepare_cached(
                "INSERT OR IGNORE INTO alert_deliveries (delivery_id, alert_id, site, company_domain, webhook, webhook_index,
                   status, attempts, next_attempt_ms, http_status, last_error, created_at, delivered_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, 0, 0, '', ?7, '')",
            )?
            .execute(params![
                format!("{}#{i}", alert.alert_id),
                alert.alert_id,
                alert.site,
                alert.company_domain,
                t.url,
                i as i64,
                format_secs(raised_secs)
            ])?;
    }
    Ok(queued)
}
