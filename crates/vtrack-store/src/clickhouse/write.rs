//! The batch operations processing uses, in the order it calls them.
//!
//! Lists of ids are bound as arrays and read through `IN (SELECT arrayJoin(?))`: ClickHouse 18.16 has
//! no `IN [array]`, and a set from a subquery still uses the primary key.

use super::rows::{datetime, AccountRecord, AlertRecord, EventRecord, StoredEvent};
use super::ClickHouseStore;
use crate::{EventRow, LastVisit, StoreError};
use std::collections::{BTreeMap, HashMap, HashSet};
use vtrack_model::account::{AccountEvent, AccountHistory, AccountScore, StoredScore};
use vtrack_model::event::Utm;
use vtrack_model::{Alert, NetworkClass};

/// A stored event of the batch: the session it was given when first written, so a replay keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorEvent {
    pub session_id: String,
    pub is_return: bool,
}

/// One `sessions` row. The batch write keeps the rows of the sessions it follows in memory and adds each
/// new event with [`SessionRow::add`], which applies the rules of [`ClickHouseStore::session_rows`]:
/// identity, entry page and campaign from the session's first event (whose id is the session's id), times
/// and counts over all of its events.
#[derive(Debug, Clone, PartialEq, Eq, Default, clickhouse::Row, serde::Serialize, serde::Deserialize)]
pub struct SessionRow {
    pub session_id: String,
    pub site: String,
    pub visitor_id: String,
    /// The account the session belongs to: its first event's company when that one's class makes
    /// accounts, else empty.
    pub company_domain: String,
    pub company_name: String,
    pub network_class: String,
    pub country: String,
    pub started_at: u32,
    pub ended_at: u32,
    pub pageviews: u32,
    pub events: u32,
    pub engaged_ms: u64,
    pub is_return: u8,
    pub entry_path: String,
    pub referrer: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
}

impl SessionRow {
    /// An empty row for a session that starts in this batch.
    pub fn new(site: &str, session_id: &str, visitor_id: &str) -> SessionRow {
        SessionRow {
            session_id: session_id.to_string(),
            site: site.to_string(),
            visitor_id: visitor_id.to_string(),
            started_at: u32::MAX,
            ..Default::default()
        }
    }

    /// Counts an event of the session that is not counted yet.
    pub fn add(&mut self, e: &vtrack_model::EnrichedEvent, is_return: bool) {
        let ts = datetime(e.ts_ms.div_euclid(1000));
        if e.event_id == self.session_id {
            let c = &e.company;
            self.company_domain = if c.network_class.is_account() { c.company_domain.clone() } else { String::new() };
            self.company_name.clone_from(&c.company_name);
            self.network_class = c.network_class.as_str().to_string();
            self.country.clone_from(&c.country);
            self.entry_path.clone_from(&e.path);
            self.referrer.clone_from(&e.referrer);
            self.utm_source.clone_from(&e.utm.source);
            self.utm_medium.clone_from(&e.utm.medium);
            self.utm_campaign.clone_from(&e.utm.campaign);
        }
        self.started_at = self.started_at.min(ts);
        self.ended_at = self.ended_at.max(ts);
        self.pageviews += u32::from(e.kind == "pageview");
        self.events += 1;
        self.engaged_ms += e.eng_ms;
        self.is_return = self.is_return.max(u8::from(is_return));
    }
}

/// An account's stored history and the aggregates the `accounts` row carries.
#[derive(Debug, Clone, Default)]
pub struct AccountState {
    pub history: AccountHistory,
    pub first_seen: i64,
    pub last_seen: i64,
    pub visitors: u32,
    pub sessions: u32,
    pub pageviews: u32,
    pub engaged_ms: u64,
}

/// How far from a batch's time span [`ClickHouseStore::existing`] looks for stored copies: a day.
pub const DUPLICATE_WINDOW_SECS: i64 = 86_400;

fn account_classes() -> Vec<&'static str> {
    NetworkClass::ALL.into_iter().filter(|c| c.is_account()).map(|c| c.as_str()).collect()
}

impl ClickHouseStore {
    /// Which of `ids` (events of `visitors` on `site`, at times within `span_ms`) the store has, and their
    /// sessions.
    ///
    /// Only stored events within [`DUPLICATE_WINDOW_SECS`] of the span are looked at, so the read stays
    /// inside a few day partitions and, per visitor, a short stretch of the sort key instead of the
    /// visitor's whole history. A copy of an event carries its time, so a replayed message is always
    /// found; a client's retry of an event is found too unless its clock was implausible and the retry
    /// came over a day after the first attempt (ingest then gives each attempt the server's time).
    pub async fn existing(
        &self,
        site: &str,
        visitors: &[&str],
        ids: &[&str],
        span_ms: (i64, i64),
    ) -> Result<HashMap<String, PriorEvent>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let from = datetime(span_ms.0.div_euclid(1000) - DUPLICATE_WINDOW_SECS);
        let to = datetime(span_ms.1.div_euclid(1000) + DUPLICATE_WINDOW_SECS);
        let rows: Vec<(String, String, u8)> = self
            .client()
            .query(
                "SELECT event_id, any(session_id), any(is_return) FROM events
                 WHERE site = ? AND visitor_id IN (SELECT arrayJoin(?)) AND ts >= toDateTime(?)
                   AND ts <= toDateTime(?) AND event_id IN (SELECT arrayJoin(?))
                 GROUP BY event_id",
            )
            .bind(site)
            .bind(visitors)
            .bind(from)
            .bind(to)
            .bind(ids)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(|(id, session_id, r)| (id, PriorEvent { session_id, is_return: r != 0 })).collect())
    }

    /// The latest stored event of each of `visitors` on `site`: where their sessions stand.
    pub async fn last_visits(&self, site: &str, visitors: &[&str]) -> Result<Vec<(String, LastVisit)>, StoreError> {
        if visitors.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, u32, String, u8)> = self
            .client()
            .query(
                "SELECT visitor_id, toUInt32(max(ts)), argMax(session_id, ts), argMax(is_return, ts) FROM events
                 WHERE site = ? AND visitor_id IN (SELECT arrayJoin(?)) GROUP BY visitor_id",
            )
            .bind(site)
            .bind(visitors)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|(v, ts, session_id, r)| (v, LastVisit { ts_secs: i64::from(ts), session_id, is_return: r != 0 }))
            .collect())
    }

    /// Inserts events (one `INSERT`); repeats collapse on merge.
    pub async fn insert_events(&self, rows: &[EventRow<'_>]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<EventRecord<'_>>("events").await?;
        for row in rows {
            let e = row.event;
            let c = &e.company;
            insert
                .write(&EventRecord {
                    event_id: &e.event_id,
                    site: &e.site,
                    ts: datetime(e.ts_ms.div_euclid(1000)),
                    received_at: datetime(e.received_ms.div_euclid(1000)),
                    kind: &e.kind,
                    visitor_id: &e.visitor_id,
                    session_id: row.session_id,
                    is_return: u8::from(row.is_return),
                    url: &e.url,
                    path: &e.path,
                    referrer: &e.referrer,
                    title: &e.title,
                    utm_source: &e.utm.source,
                    utm_medium: &e.utm.medium,
                    utm_campaign: &e.utm.campaign,
                    utm_term: &e.utm.term,
                    utm_content: &e.utm.content,
                    eng_ms: e.eng_ms,
                    email: &e.email,
                    props: &e.props,
                    company_name: &c.company_name,
                    company_domain: &c.company_domain,
                    asn: c.asn,
                    network_class: c.network_class.as_str(),
                    country: &c.country,
                    city: &c.city,
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }

    /// The `sessions` rows of `session_ids` (of `visitors` on `site`) computed from their stored events:
    /// what the batch write starts from for a session it has not followed itself (after a start, a
    /// rebalance or an eviction). [`SessionRow::add`] continues a row in memory by the same rules.
    pub async fn session_rows(
        &self,
        site: &str,
        visitors: &[&str],
        session_ids: &[&str],
    ) -> Result<Vec<SessionRow>, StoreError> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .client()
            .query(
                "SELECT session_id, any(site), any(visitor_id),
                   if(has(?, anyIf(network_class, event_id = session_id)),
                      anyIf(company_domain, event_id = session_id), ''),
                   anyIf(company_name, event_id = session_id), anyIf(network_class, event_id = session_id),
                   anyIf(country, event_id = session_id), toUInt32(min(ts)), toUInt32(max(ts)),
                   toUInt32(countIf(type = 'pageview')), toUInt32(count()), toUInt64(sum(eng_ms)),
                   toUInt8(max(is_return)), anyIf(path, event_id = session_id),
                   anyIf(referrer, event_id = session_id), anyIf(utm_source, event_id = session_id),
                   anyIf(utm_medium, event_id = session_id), anyIf(utm_campaign, event_id = session_id)
                 FROM (SELECT * FROM events FINAL
                       WHERE site = ? AND visitor_id IN (SELECT arrayJoin(?)) AND session_id IN (SELECT arrayJoin(?)))
                 GROUP BY session_id",
            )
            .bind(account_classes())
            .bind(site)
            .bind(visitors)
            .bind(session_ids)
            .fetch_all()
            .await?;
        Ok(rows)
    }

    /// Writes `sessions` rows; the copy counting the most events wins the merge.
    pub async fn insert_sessions(&self, rows: &[&SessionRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<SessionRow>("sessions").await?;
        for row in rows {
            insert.write(*row).await?;
        }
        insert.end().await?;
        Ok(())
    }

    /// The stored history of each of `domains` on `site` (those with at least one session), with the
    /// score last saved. Reads sessions first (ordered by account), then their events (ordered by
    /// visitor), so both reads use the primary keys.
    pub async fn load_accounts(&self, site: &str, domains: &[&str]) -> Result<Vec<AccountState>, StoreError> {
        if domains.is_empty() {
            return Ok(Vec::new());
        }
        let sessions: Vec<SessionRow> = self
            .client()
            .query(
                "SELECT session_id, site, visitor_id, company_domain, company_name, network_class, country,
                   toUInt32(started_at), toUInt32(ended_at), pageviews, events, engaged_ms, is_return, entry_path,
                   referrer, utm_source, utm_medium, utm_campaign
                 FROM sessions FINAL WHERE site = ? AND company_domain IN (SELECT arrayJoin(?))",
            )
            .bind(site)
            .bind(domains)
            .fetch_all()
            .await?;
        let previous: Vec<(String, f64, u32, String)> = self
            .client()
            .query(
                "SELECT company_domain, argMax(score, version), toUInt32(argMax(score_at, version)),
                   argMax(stage, version)
                 FROM accounts WHERE site = ? AND company_domain IN (SELECT arrayJoin(?)) GROUP BY company_domain",
            )
            .bind(site)
            .bind(domains)
            .fetch_all()
            .await?;
        let previous: HashMap<String, StoredScore> = previous
            .into_iter()
            .map(|(d, score, at, stage)| (d, StoredScore { score, score_at_secs: i64::from(at), stage }))
            .collect();

        let mut accounts: BTreeMap<String, AccountState> = BTreeMap::new();
        let mut owner: HashMap<String, String> = HashMap::new();
        let mut visitors: HashMap<String, HashSet<String>> = HashMap::new();
        let mut classes: HashMap<String, String> = HashMap::new();
        for s in sessions {
            let a = accounts.entry(s.company_domain.clone()).or_insert_with(|| AccountState {
                history: AccountHistory {
                    site: site.to_string(),
                    company_domain: s.company_domain.clone(),
                    previous: previous.get(&s.company_domain).cloned(),
                    ..Default::default()
                },
                first_seen: i64::MAX,
                ..Default::default()
            });
            // The same columns the embedded store aggregates with max().
            let h = &mut a.history;
            h.company_name = h.company_name.clone().max(s.company_name);
            let class = classes.entry(s.company_domain.clone()).or_default();
            *class = class.clone().max(s.network_class);
            h.country = h.country.clone().max(s.country);
            a.first_seen = a.first_seen.min(i64::from(s.started_at));
            a.last_seen = a.last_seen.max(i64::from(s.ended_at));
            a.sessions += 1;
            a.pageviews += s.pageviews;
            a.engaged_ms += s.engaged_ms;
            visitors.entry(s.company_domain.clone()).or_default().insert(s.visitor_id);
            owner.insert(s.session_id, s.company_domain);
        }
        for (domain, v) in &visitors {
            if let Some(a) = accounts.get_mut(domain) {
                a.visitors = v.len() as u32;
            }
        }
        for (domain, class) in &classes {
            if let Some(a) = accounts.get_mut(domain) {
                a.history.network_class = class.parse().unwrap_or_default();
            }
        }
        let all_visitors: Vec<&str> = visitors.values().flatten().map(String::as_str).collect();
        let session_ids: Vec<&str> = owner.keys().map(String::as_str).collect();
        let events: Vec<StoredEvent> = if session_ids.is_empty() {
            Vec::new()
        } else {
            self.client()
                .query(
                    "SELECT event_id, toUInt32(ts), type, path, eng_ms, visitor_id, session_id, utm_source,
                       utm_medium, utm_campaign, email
                     FROM events WHERE site = ? AND visitor_id IN (SELECT arrayJoin(?))
                       AND session_id IN (SELECT arrayJoin(?))
                     ORDER BY ts, event_id",
                )
                .bind(site)
                .bind(all_visitors)
                .bind(session_ids)
                .fetch_all()
                .await?
        };
        let mut seen = HashSet::new();
        for e in events {
            // Copies written twice are still separate rows until ClickHouse merges them.
            if !seen.insert(e.event_id.clone()) {
                continue;
            }
            let Some(a) = owner.get(&e.session_id).and_then(|d| accounts.get_mut(d)) else { continue };
            a.history.events.push(AccountEvent {
                event_id: e.event_id,
                ts_secs: i64::from(e.ts),
                kind: e.kind,
                path: e.path,
                eng_ms: e.eng_ms,
                visitor_id: e.visitor_id,
                session_id: e.session_id,
                utm: Utm { source: e.utm_source, medium: e.utm_medium, campaign: e.utm_campaign, ..Default::default() },
                email: e.email,
                is_new: false,
            });
        }
        Ok(accounts.into_values().collect())
    }

    /// Records alerts; one id is one alert however often it is written.
    pub async fn insert_alerts(&self, alerts: &[&Alert]) -> Result<(), StoreError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<AlertRecord<'_>>("alerts").await?;
        for a in alerts {
            insert
                .write(&AlertRecord {
                    alert_id: &a.alert_id,
                    site: &a.site,
                    company_domain: &a.company_domain,
                    kind: a.kind.as_str(),
                    stage: &a.stage,
                    score: a.score,
                    raised_at: datetime(a.raised_ms.div_euclid(1000)),
                    payload: json(a),
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }

    /// Writes each account's aggregates and score. The row's version is the number of events it was
    /// computed from, so the most complete computation wins the merge.
    pub async fn save_accounts(&self, accounts: &[(&AccountState, &AccountScore)]) -> Result<(), StoreError> {
        if accounts.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<AccountRecord<'_>>("accounts").await?;
        for (a, s) in accounts {
            let h = &a.history;
            insert
                .write(&AccountRecord {
                    site: &h.site,
                    company_domain: &h.company_domain,
                    company_name: &h.company_name,
                    network_class: h.network_class.as_str(),
                    country: &h.country,
                    first_seen: datetime(a.first_seen),
                    last_seen: datetime(a.last_seen),
                    visitors: a.visitors,
                    sessions: a.sessions,
                    pageviews: a.pageviews,
                    engaged_ms: a.engaged_ms,
                    score: s.score,
                    score_at: datetime(s.score_at_secs),
                    stage: &s.stage,
                    return_visits: s.return_visits,
                    topics: json(&s.topics),
                    top_pages: json(&s.top_pages),
                    campaigns: json(&s.campaigns),
                    contacts: json(&s.contacts),
                    is_target: u8::from(s.is_target),
                    excluded: u8::from(s.excluded),
                    version: h.events.len() as u64,
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}
