//! What the follow-up deadline check reads (`FollowupStore::hot_followups`), in both stores: each account's
//! latest crossing into hot with its stage, status and owner now, and whether the crossing already raised
//! its `sla_missed` alert. The decision is `vtrack_process::sla`; here is only the SQL.
//!
//! The crossing is the `became_hot` alert's stored payload (the `Alert` as JSON), which the `sla_missed`
//! alert repeats; a payload this version cannot read is skipped, not fatal.

use crate::{ClickHouseStore, SqliteStore, StoreError};
use std::collections::{HashMap, HashSet};
use vtrack_model::time::parse_secs;
use vtrack_model::{Alert, Status};
use vtrack_process::HotFollowup;

impl SqliteStore {
    /// When each account of `site` last turned hot (its latest `became_hot` alert), Unix seconds: where its
    /// follow-up deadline runs from.
    pub(crate) fn hot_since(&self, site: &str) -> Result<HashMap<String, i64>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT company_domain, max(raised_at) FROM alerts WHERE site = ?1 AND kind = 'became_hot'
             GROUP BY company_domain",
        )?;
        let rows = stmt.query_map([site], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = HashMap::new();
        for row in rows {
            let (d, at) = row?;
            if let Some(secs) = parse_secs(&at) {
                out.insert(d, secs);
            }
        }
        Ok(out)
    }

    /// See `FollowupStore::hot_followups`.
    pub(crate) fn read_hot_followups(&self) -> Result<Vec<HotFollowup>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT h.payload, acc.stage,
               (SELECT s.status FROM account_status s WHERE s.site = h.site
                   AND s.company_domain = h.company_domain ORDER BY s.rowid DESC LIMIT 1),
               COALESCE((SELECT o.owner FROM account_owners o WHERE o.site = h.site
                   AND o.company_domain = h.company_domain), ''),
               EXISTS (SELECT 1 FROM alerts m WHERE m.site = h.site AND m.company_domain = h.company_domain
                   AND m.kind = 'sla_missed' AND m.raised_at >= h.raised_at)
             FROM alerts h JOIN accounts acc ON acc.site = h.site AND acc.company_domain = h.company_domain
             WHERE h.kind = 'became_hot' AND h.raised_at = (SELECT max(b.raised_at) FROM alerts b
                 WHERE b.site = h.site AND b.company_domain = h.company_domain AND b.kind = 'became_hot')",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get::<_, Option<String>>(2)?, r.get(3)?, r.get::<_, bool>(4)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (payload, stage, status, owner, raised) = row?;
            let status = Status::latest(status.as_deref());
            if let Ok(hot) = serde_json::from_str::<Alert>(&payload) {
                out.push(HotFollowup { hot, stage, status, owner, raised });
            }
        }
        Ok(out)
    }
}

impl ClickHouseStore {
    /// See [`SqliteStore::hot_since`].
    pub(crate) async fn hot_since(&self, site: &str) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, String)> = self
            .client()
            .query(
                "SELECT company_domain, toString(max(raised_at)) FROM alerts FINAL
                 WHERE site = ? AND kind = 'became_hot' GROUP BY company_domain",
            )
            .bind(site)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().filter_map(|(d, at)| Some((d, parse_secs(&at)?))).collect())
    }

    /// See `FollowupStore::hot_followups`: a few grouped reads joined here (18.16's joins are too limited to
    /// say it in one statement).
    pub(crate) async fn read_hot_followups(&self) -> Result<Vec<HotFollowup>, StoreError> {
        let hot: Vec<(String, String, String)> = self
            .client()
            .query(
                "SELECT site, company_domain, argMax(payload, raised_at) FROM alerts FINAL
                 WHERE kind = 'became_hot' GROUP BY site, company_domain",
            )
            .fetch_all()
            .await?;
        if hot.is_empty() {
            return Ok(Vec::new());
        }
        let missed: Vec<(String, String, String)> = self
            .client()
            .query(
                "SELECT site, company_domain, toString(max(raised_at)) FROM alerts FINAL
                 WHERE kind = 'sla_missed' GROUP BY site, company_domain",
            )
            .fetch_all()
            .await?;
        let missed: HashMap<(String, String), i64> =
            missed.into_iter().filter_map(|(s, d, at)| Some(((s, d), parse_secs(&at)?))).collect();
        let sites: HashSet<&str> = hot.iter().map(|(s, _, _)| s.as_str()).collect();
        let mut out = Vec::new();
        for site in sites {
            let domains: Vec<&str> = hot.iter().filter(|(s, _, _)| s == site).map(|(_, d, _)| d.as_str()).collect();
            let stages: Vec<(String, String)> = self
                .client()
                .query("SELECT company_domain, stage FROM accounts FINAL WHERE site = ? AND has(?, company_domain)")
                .bind(site)
                .bind(&domains)
                .fetch_all()
                .await?;
            let stages: HashMap<String, String> = stages.into_iter().collect();
            let statuses: Vec<(String, String)> = self
                .client()
                .query(
                    "SELECT company_domain, argMax(status, seq) FROM account_status
                     WHERE site = ? AND has(?, company_domain) GROUP BY company_domain",
                )
                .bind(site)
                .bind(&domains)
                .fetch_all()
                .await?;
            let statuses: HashMap<String, String> = statuses.into_iter().collect();
            let owners = self.current_owners(site, Some(&domains)).await?;
            for (_, domain, payload) in hot.iter().filter(|(s, _, _)| s == site) {
                let (Some(stage), Ok(alert)) = (stages.get(domain), serde_json::from_str::<Alert>(payload)) else {
                    continue;
                };
                let hot_secs = alert.raised_ms.div_euclid(1000);
                let raised = missed.get(&(site.to_string(), domain.clone())).is_some_and(|at| *at >= hot_secs);
                out.push(HotFollowup {
                    stage: stage.clone(),
                    status: Status::latest(statuses.get(domain).map(String::as_str)),
                    owner: owners.get(domain).cloned().unwrap_or_default(),
                    raised,
                    hot: alert,
                });
            }
        }
        Ok(out)
    }
}
