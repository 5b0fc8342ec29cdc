//! The batch write's primitives on ClickHouse: ordered, idempotent steps instead of a transaction.
//!
//! Each step writes rows that collapse with their copies (`ReplacingMergeTree`), so a batch replayed after
//! a crash between any two steps writes the same rows again; the batch write in `vtrack-process` recomputes
//! what a crash may have left stale. The rules live there; here are only the reads and writes they ask for.
//!
//! Lists of ids are bound as arrays and read through `IN (SELECT arrayJoin(?))`: ClickHouse 18.16 has
//! no `IN [array]`, and a set from a subquery still uses the primary key.

use super::rows::{
    datetime, session_select, AccountRecord, AlertRecord, DeliveryRecord, EventRecord, IdentityRecord, SessionRecord,
    StoredEvent, STORED_EVENT_COLUMNS,
};
use super::ClickHouseStore;
use crate::{json, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use vtrack_model::event::{CompanyInfo, Utm};
use vtrack_model::{Alert, EnrichedEvent, Status};
use vtrack_process::owners::OwnerChange;
use vtrack_process::HotFollowup;
use vtrack_process::{
    AccountEvent, AccountHistory, AccountScore, AccountState, AccountStore, AlertStore, Delivery, EventRow, EventStore,
    FollowupStore, Identity, IdentityStore, OwnerStore, PriorEvent, RescoreStore, Scope, ScopedEvent, SessionRow,
    SessionStore, StoredScore, Transactional, VisitorState,
};

/// How far from a batch's time span [`EventStore::stored_events`] looks for stored copies: a day.
pub const DUPLICATE_WINDOW_SECS: i64 = 86_400;

impl ClickHouseStore {
    /// How many accounts were last scored with another scoring config than `fingerprint`.
    pub async fn accounts_scored_otherwise(&self, fingerprint: &str) -> Result<u64, StoreError> {
        Ok(self
            .client()
            .query(
                "SELECT count() FROM (SELECT argMax(scoring, version) AS s FROM accounts
                 GROUP BY site, company_domain) WHERE s != ?",
            )
            .bind(fingerprint)
            .fetch_one()
            .await?)
    }

    /// The stored events of `session_ids` (of `visitors` on `site`), one copy each, in time order.
    async fn session_events(
        &self,
        site: &str,
        visitors: &[&str],
        session_ids: &[&str],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<StoredEvent> = self
            .client()
            .query(&format!(
                "SELECT {STORED_EVENT_COLUMNS} FROM events FINAL WHERE site = ? AND visitor_id IN (SELECT arrayJoin(?))
                       AND session_id IN (SELECT arrayJoin(?))
                     ORDER BY ts, event_id"
            ))
            .bind(site)
            .bind(visitors)
            .bind(session_ids)
            .fetch_all()
            .await?;
        // `FINAL`: a relabelled event's last copy is the one that counts; a copy written twice is one row.
        let mut seen = HashSet::new();
        Ok(rows.into_iter().filter(|e| seen.insert(e.event_id.clone())).collect())
    }
}

impl Transactional for ClickHouseStore {
    type Error = StoreError;

    fn atomic(&self) -> bool {
        false
    }

    /// Nothing to begin on one server; on a cluster, the check that every shard is read from a replica
    /// with all its parts (`cluster.rs`).
    async fn begin(&mut self) -> Result<(), StoreError> {
        self.check_replicas().await
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn rollback(&mut self) {}
}

impl EventStore for ClickHouseStore {
    /// Two reads, each pruned by the sort key `(site, visitor_id, ts)`:
    ///
    /// - An event that carries the client's time (`ts` ≠ `received_at`) is looked up by visitor and second:
    ///   a replayed copy carries the event's own time, and so does a client's retry (the tracker resends the
    ///   same `ts`, and ingest keeps it when it is plausible). The literal is the batch's distinct seconds,
    ///   a few hundred numbers, where a list of every id costs 18.16 tens of milliseconds to evaluate; the
    ///   ids are compared here.
    /// - An event that got the server's time (its clock was implausible, or it had none) is looked up by id,
    ///   among the visitor's events within [`DUPLICATE_WINDOW_SECS`] of the batch: a retry of it got a new
    ///   time, so it is found unless it came over a day after the first attempt.
    async fn stored_events(
        &mut self,
        site: &str,
        _visitors: &[&str],
        events: &[&EnrichedEvent],
    ) -> Result<HashMap<String, PriorEvent>, StoreError> {
        let (client, server): (Vec<&EnrichedEvent>, Vec<&EnrichedEvent>) =
            events.iter().partition(|e| e.ts_ms != e.received_ms);
        let mut rows: Vec<(String, String, u8)> = Vec::new();
        if !client.is_empty() {
            let visitors: Vec<&str> =
                client.iter().map(|e| e.visitor_id.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
            let seconds: Vec<u32> = client
                .iter()
                .map(|e| datetime(e.ts_ms.div_euclid(1000)))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let ids: HashSet<&str> = client.iter().map(|e| e.event_id.as_str()).collect();
            let found: Vec<(String, String, u8)> = self
                .client()
                .query(
                    "SELECT event_id, session_id, is_return FROM events
                     WHERE site = ? AND visitor_id IN (SELECT arrayJoin(?)) AND ts IN (SELECT toDateTime(arrayJoin(?)))",
                )
                .bind(site)
                .bind(&visitors)
                .bind(&seconds)
                .fetch_all()
                .await?;
            rows.extend(found.into_iter().filter(|r| ids.contains(r.0.as_str())));
        }
        if !server.is_empty() {
            let visitors: Vec<&str> =
                server.iter().map(|e| e.visitor_id.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
            let ids: Vec<&str> = server.iter().map(|e| e.event_id.as_str()).collect();
            let (lo, hi) = server.iter().fold((i64::MAX, i64::MIN), |(lo, hi), e| (lo.min(e.ts_ms), hi.max(e.ts_ms)));
            let from = datetime(lo.div_euclid(1000) - DUPLICATE_WINDOW_SECS);
            let to = datetime(hi.div_euclid(1000) + DUPLICATE_WINDOW_SECS);
            let found: Vec<(String, String, u8)> = self
                .client()
                .query(
                    "SELECT event_id, session_id, is_return FROM events
                     WHERE site = ? AND visitor_id IN (SELECT arrayJoin(?)) AND ts >= toDateTime(?)
                       AND ts <= toDateTime(?) AND event_id IN (SELECT arrayJoin(?))",
                )
                .bind(site)
                .bind(&visitors)
                .bind(from)
                .bind(to)
                .bind(&ids)
                .fetch_all()
                .await?;
            rows.extend(found);
        }
        // Copies of one event (a replay written twice) are one.
        let mut out = HashMap::with_capacity(rows.len());
        for (id, session_id, r) in rows {
            out.entry(id).or_insert(PriorEvent { session_id, is_return: r != 0 });
        }
        Ok(out)
    }

    async fn last_visits(
        &mut self,
        site: &str,
        visitors: &[&str],
    ) -> Result<HashMap<String, VisitorState>, StoreError> {
        if visitors.is_empty() {
            return Ok(HashMap::new());
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
            .map(|(v, ts, session_id, r)| (v, VisitorState { last_ts: i64::from(ts), session_id, is_return: r != 0 }))
            .collect())
    }

    async fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<(), StoreError> {
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
                    id_source: c.id_source.as_str(),
                    id_confidence: c.id_confidence,
                    class_confidence: c.class_confidence,
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }

    async fn scope_events(&mut self, site: &str, scope: Scope<'_>) -> Result<Vec<ScopedEvent>, StoreError> {
        let filter = match scope {
            Scope::Visitor(_) => "visitor_id = ?",
            Scope::Key(_) => "session_id IN (SELECT session_id FROM events WHERE site = ? AND company_domain = ?)",
            // `FINAL` inside too: a relabelled event's older copy must not count as not relabelled yet.
            Scope::Network(_) => {
                "session_id IN (SELECT session_id FROM events FINAL WHERE site = ? AND company_domain IN (?, ?)
                   AND asn = ? AND id_source = 'asn'
                   AND (company_domain != ? OR network_class != ? OR class_confidence != ?))"
            }
        };
        let mut query = self
            .client()
            .query(&format!(
                "SELECT {STORED_EVENT_COLUMNS} FROM events FINAL WHERE site = ? AND {filter} ORDER BY ts, event_id"
            ))
            .bind(site);
        query = match scope {
            Scope::Visitor(v) => query.bind(v),
            Scope::Key(k) => query.bind(site).bind(k),
            Scope::Network(n) => query
                .bind(site)
                .bind(n.as_key())
                .bind(&n.key)
                .bind(n.asn)
                .bind(&n.key)
                .bind(n.class.as_str())
                .bind(n.class_confidence),
        };
        let rows: Vec<StoredEvent> = query.fetch_all().await?;
        Ok(rows
            .into_iter()
            .map(|e| {
                let (session_id, is_return) = (e.session_id.clone(), e.is_return != 0);
                ScopedEvent { event: enriched(site, e), session_id, is_return }
            })
            .collect())
    }

    /// Each event is written again with its new organisation; `events` keeps the last copy of an event
    /// (`ReplacingMergeTree` without a version, read with `FINAL`).
    async fn relabel_events(&mut self, site: &str, events: &[&ScopedEvent]) -> Result<(), StoreError> {
        // (name, domain, class, source, confidence, class confidence) -> (visitors, event ids)
        type Label<'a> = (&'a str, &'a str, &'a str, &'a str, u8, u8);
        let mut groups: BTreeMap<Label, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
        for s in events {
            let c = &s.event.company;
            let key = (
                c.company_name.as_str(),
                c.company_domain.as_str(),
                c.network_class.as_str(),
                c.id_source.as_str(),
                c.id_confidence,
                c.class_confidence,
            );
            let (visitors, ids) = groups.entry(key).or_default();
            visitors.push(&s.event.visitor_id);
            ids.push(&s.event.event_id);
        }
        for ((name, domain, class, source, confidence, class_confidence), (visitors, ids)) in groups {
            self.client()
                .query(
                    "INSERT INTO events SELECT event_id, site, ts, received_at, type, visitor_id, session_id, is_return,
                       url, path, referrer, title, utm_source, utm_medium, utm_campaign, utm_term, utm_content, eng_ms,
                       email, props, ? AS company_name, ? AS company_domain, asn, ? AS network_class, country, city,
                       ? AS id_source, toUInt8(?) AS id_confidence, toUInt8(?) AS class_confidence
                     FROM events FINAL
                     WHERE site = ? AND visitor_id IN (SELECT arrayJoin(?)) AND event_id IN (SELECT arrayJoin(?))",
                )
                .bind(name)
                .bind(domain)
                .bind(class)
                .bind(source)
                .bind(confidence)
                .bind(class_confidence)
                .bind(site)
                .bind(&visitors)
                .bind(&ids)
                .execute()
                .await?;
        }
        // Their sessions' rows go (the batch write writes them again): a row's key holds its account, so
        // a relabelled session's new row does not replace the old one. A mutation changes only the rows
        // inserted before it, so the rows written next stay.
        let sessions: Vec<&str> =
            events.iter().map(|s| s.session_id.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
        self.run_alter(
            self.alter("sessions", "DELETE WHERE site = ? AND has(?, session_id)").bind(site).bind(&sessions),
        )
        .await
    }
}

impl SessionStore for ClickHouseStore {
    /// Rebuilt from the stored events by `SessionRow::add`, not read from `sessions`: a crash between
    /// inserting events and writing their sessions leaves the stored row behind its events.
    async fn session_rows(
        &mut self,
        site: &str,
        visitors: &[&str],
        session_ids: &[&str],
    ) -> Result<Vec<SessionRow>, StoreError> {
        let mut rows: BTreeMap<String, SessionRow> = BTreeMap::new();
        for e in self.session_events(site, visitors, session_ids).await? {
            let row =
                rows.entry(e.session_id.clone()).or_insert_with(|| SessionRow::new(site, &e.session_id, &e.visitor_id));
            let is_return = e.is_return != 0;
            row.add(&enriched(site, e), is_return);
        }
        Ok(rows.into_values().collect())
    }

    /// The copy counting the most events wins the merge.
    async fn write_sessions(&mut self, rows: &[&SessionRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<SessionRecord>("sessions").await?;
        for row in rows {
            insert.write(&SessionRecord::from(*row)).await?;
        }
        insert.end().await?;
        Ok(())
    }
}

impl IdentityStore for ClickHouseStore {
    async fn site_identities(&mut self, site: &str) -> Result<Vec<Identity>, StoreError> {
        let rows: Vec<IdentityRecord> = self
            .client()
            .query(
                "SELECT site, visitor_id, argMax(company_domain, identified_ms), max(identified_ms),
                   argMax(network_key, identified_ms)
                 FROM identities WHERE site = ? GROUP BY site, visitor_id",
            )
            .bind(site)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(identity).collect())
    }

    async fn save_identities(&mut self, identities: &[&Identity]) -> Result<(), StoreError> {
        if identities.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<IdentityRecord>("identities").await?;
        for i in identities {
            insert
                .write(&IdentityRecord {
                    site: i.site.clone(),
                    visitor_id: i.visitor_id.clone(),
                    company_domain: i.company_domain.clone(),
                    identified_ms: i.identified_ms,
                    network_key: i.network_key.clone(),
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }

    /// The first learned domain of a key stands.
    async fn learned_keys(&mut self, site: &str) -> Result<HashMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = self
            .client()
            .query(
                "SELECT from_key, argMin(company_domain, learned_at) FROM learned_keys WHERE site = ? GROUP BY from_key",
            )
            .bind(site)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().collect())
    }

    async fn save_learned_key(&mut self, site: &str, from: &str, to: &str, at_ms: i64) -> Result<(), StoreError> {
        self.client()
            .query(
                "INSERT INTO learned_keys (site, from_key, company_domain, learned_at) VALUES (?, ?, ?, toDateTime(?))",
            )
            .bind(site)
            .bind(from)
            .bind(to)
            .bind(datetime(at_ms.div_euclid(1000)))
            .execute()
            .await?;
        Ok(())
    }
}

impl AccountStore for ClickHouseStore {
    async fn account_states(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountState>, StoreError> {
        if domains.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, f64, u32, String)> = self
            .client()
            .query(
                "SELECT company_domain, argMax(state, version), argMax(score, version),
                   toUInt32(argMax(score_at, version)), argMax(stage, version)
                 FROM accounts WHERE site = ? AND company_domain IN (SELECT arrayJoin(?)) GROUP BY company_domain",
            )
            .bind(site)
            .bind(domains)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|(domain, state, score, at, stage)| {
                let last = StoredScore { score, score_at_secs: i64::from(at), stage, held_since: None };
                AccountState::from_stored(&state, site, &domain, Some(last))
            })
            .collect())
    }

    /// Reads sessions first (ordered by account), then their events (ordered by visitor), so both reads
    /// use the primary keys.
    async fn account_histories(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountHistory>, StoreError> {
        if domains.is_empty() {
            return Ok(Vec::new());
        }
        let sessions: Vec<SessionRecord> = self
            .client()
            .query(&format!(
                "SELECT {} FROM sessions FINAL WHERE site = ? AND company_domain IN (SELECT arrayJoin(?))
                     ORDER BY started_at, session_id",
                session_select()
            ))
            .bind(site)
            .bind(domains)
            .fetch_all()
            .await?;
        let mut visitors: HashSet<String> = HashSet::new();
        let mut listed: HashMap<String, String> = HashMap::new();
        for s in &sessions {
            visitors.insert(s.visitor_id.clone());
            listed.insert(s.session_id.clone(), s.company_domain.clone());
        }
        let visitors: Vec<&str> = visitors.iter().map(String::as_str).collect();
        let ids: Vec<&str> = listed.keys().map(String::as_str).collect();
        let events = self.session_events(site, &visitors, &ids).await?;
        // Each session's row rebuilt from its events: a relabelled session's old row may linger until its
        // deletion (a mutation) is done, so a listed session counts only where its events say it belongs.
        let mut rows: BTreeMap<String, SessionRow> = BTreeMap::new();
        for e in &events {
            let row =
                rows.entry(e.session_id.clone()).or_insert_with(|| SessionRow::new(site, &e.session_id, &e.visitor_id));
            row.add(&enriched(site, e.clone()), e.is_return != 0);
        }
        let mut histories: BTreeMap<String, AccountHistory> = BTreeMap::new();
        for s in sessions {
            let Some(row) = rows.remove(&s.session_id) else { continue };
            if row.company_domain != s.company_domain {
                continue;
            }
            let h = histories.entry(row.company_domain.clone()).or_insert_with(|| AccountHistory {
                site: site.to_string(),
                company_domain: row.company_domain.clone(),
                ..Default::default()
            });
            h.sessions.push(row);
        }
        for h in histories.values_mut() {
            h.sessions.sort_by(|a, b| (a.started_at, &a.session_id).cmp(&(b.started_at, &b.session_id)));
        }
        let owner: HashMap<&str, &str> = histories
            .values()
            .flat_map(|h| h.sessions.iter().map(|s| (s.session_id.as_str(), s.company_domain.as_str())))
            .collect();
        let mut account_events: BTreeMap<String, Vec<AccountEvent>> = BTreeMap::new();
        for e in events {
            let Some(domain) = owner.get(e.session_id.as_str()) else { continue };
            account_events.entry(domain.to_string()).or_default().push(AccountEvent {
                event_id: e.event_id,
                visitor_id: e.visitor_id,
                ts_secs: i64::from(e.ts),
                kind: e.kind,
                path: e.path,
                eng_ms: e.eng_ms,
                email: e.email,
                is_new: false,
            });
        }
        for (domain, events) in account_events {
            if let Some(h) = histories.get_mut(&domain) {
                h.events = events;
            }
        }
        // Every requested account, an empty history for one left without sessions.
        for d in domains {
            histories.entry(d.to_string()).or_insert_with(|| AccountHistory {
                site: site.to_string(),
                company_domain: d.to_string(),
                ..Default::default()
            });
        }
        Ok(histories.into_values().collect())
    }

    /// The row's version is [`AccountState::version`]: the most complete state wins the merge.
    async fn save_accounts(&mut self, accounts: &[(&AccountState, &AccountScore)]) -> Result<(), StoreError> {
        if accounts.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<AccountRecord<'_>>("accounts").await?;
        for (a, s) in accounts {
            insert
                .write(&AccountRecord {
                    site: &a.site,
                    company_domain: &a.company_domain,
                    company_name: &a.company_name,
                    network_class: a.network_class.as_str(),
                    country: &a.country,
                    first_seen: datetime(a.first_seen),
                    last_seen: datetime(a.last_seen),
                    visitors: a.visitors(),
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
                    version: a.version(),
                    state: a.to_stored(),
                    scoring: &a.scoring,
                    id_source: a.id_source.as_str(),
                    id_confidence: a.id_confidence,
                    class_confidence: a.class_confidence,
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }

    /// A mutation: it runs in the background, and `accounts` reads take the rows as they stand.
    async fn drop_accounts(&mut self, site: &str, domains: &[&str]) -> Result<(), StoreError> {
        if domains.is_empty() {
            return Ok(());
        }
        self.run_alter(
            self.alter("accounts", "DELETE WHERE site = ? AND has(?, company_domain)").bind(site).bind(domains),
        )
        .await
    }
}

impl OwnerStore for ClickHouseStore {
    async fn account_owners(&mut self, site: &str, domains: &[&str]) -> Result<HashMap<String, String>, StoreError> {
        if domains.is_empty() {
            return Ok(HashMap::new());
        }
        self.current_owners(site, Some(domains)).await
    }

    async fn save_owners(&mut self, changes: &[OwnerChange]) -> Result<(), StoreError> {
        self.record_owners(changes).await
    }
}

impl AlertStore for ClickHouseStore {
    async fn insert_alerts(&mut self, alerts: &[&Alert]) -> Result<(), StoreError> {
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

    async fn latest_status(&mut self, site: &str, domain: &str) -> Result<Option<(Status, f64)>, StoreError> {
        let rows: Vec<(String, f64)> = self
            .client()
            .query(
                "SELECT argMax(status, seq), argMax(score, seq) FROM account_status
                 WHERE site = ? AND company_domain = ? GROUP BY company_domain",
            )
            .bind(site)
            .bind(domain)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().next().map(|(status, score)| (Status::from_stored(&status), score)))
    }

    async fn delivered_since(&mut self, d: &Delivery<'_>, since: i64) -> Result<bool, StoreError> {
        let recent: u64 = self
            .client()
            .query(
                "SELECT count() FROM alert_deliveries WHERE webhook = ? AND site = ? AND company_domain = ?
                   AND created_at > toDateTime(?, 'UTC') AND delivery_id != ?",
            )
            .bind(d.webhook)
            .bind(&d.alert.site)
            .bind(&d.alert.company_domain)
            .bind(since)
            .bind(&d.delivery_id)
            .fetch_one()
            .await?;
        Ok(recent > 0)
    }

    /// A delivery already queued (a replayed batch, another processor) is not queued again and answers
    /// false; were it written again, its version 1 would never undo an attempt's progress either.
    async fn queue_delivery(&mut self, d: &Delivery<'_>) -> Result<bool, StoreError> {
        let queued: u64 = self
            .client()
            .query("SELECT count() FROM alert_deliveries WHERE delivery_id = ?")
            .bind(&d.delivery_id)
            .fetch_one()
            .await?;
        if queued > 0 {
            return Ok(false);
        }
        let row = DeliveryRecord {
            delivery_id: d.delivery_id.clone(),
            alert_id: d.alert.alert_id.clone(),
            site: d.alert.site.clone(),
            company_domain: d.alert.company_domain.clone(),
            webhook: d.webhook.to_string(),
            webhook_index: d.webhook_index as u32,
            status: "pending".into(),
            attempts: 0,
            next_attempt_ms: 0,
            http_status: 0,
            last_error: String::new(),
            created_at: datetime(d.created_secs),
            delivered_at: 0,
            kafka_partition: d.partition,
            version: 1,
        };
        let mut insert = self.client().insert::<DeliveryRecord>("alert_deliveries").await?;
        insert.write(&row).await?;
        insert.end().await?;
        Ok(true)
    }
}

impl FollowupStore for ClickHouseStore {
    async fn hot_followups(&mut self) -> Result<Vec<HotFollowup>, StoreError> {
        self.read_hot_followups().await
    }
}

impl RescoreStore for ClickHouseStore {
    async fn all_accounts(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .client()
            .query("SELECT DISTINCT site, company_domain FROM accounts ORDER BY site, company_domain")
            .fetch_all()
            .await?)
    }
}

fn identity(r: IdentityRecord) -> Identity {
    Identity {
        site: r.site,
        visitor_id: r.visitor_id,
        company_domain: r.company_domain,
        identified_ms: r.identified_ms,
        network_key: r.network_key,
    }
}

/// A stored event as `SessionRow::add` takes it.
fn enriched(site: &str, e: StoredEvent) -> EnrichedEvent {
    EnrichedEvent {
        event_id: e.event_id,
        site: site.to_string(),
        ts_ms: i64::from(e.ts) * 1000,
        kind: e.kind,
        visitor_id: e.visitor_id,
        path: e.path,
        referrer: e.referrer,
        utm: Utm { source: e.utm_source, medium: e.utm_medium, campaign: e.utm_campaign, ..Default::default() },
        eng_ms: e.eng_ms,
        email: e.email,
        company: CompanyInfo {
            company_name: e.company_name,
            company_domain: e.company_domain,
            asn: e.asn,
            network_class: e.network_class.parse().unwrap_or_default(),
            country: e.country,
            id_source: e.id_source.parse().unwrap_or_default(),
            id_confidence: e.id_confidence,
            class_confidence: e.class_confidence,
            ..Default::default()
        },
        ..Default::default()
    }
}
