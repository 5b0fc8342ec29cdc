//! `network_evidence` and `network_traffic`: what is known about networks beyond their names
//! (`vtrack_model::evidence`), in both stores.
//!
//! `network_evidence` holds one row per AS number: the reverse DNS and traffic evidence and the class the
//! resolver's side (ingest, which holds the AS data) decided with them. Ingest writes it and reads it back
//! (what other ingest processes found, after a restart); processing reads it to label and relabel events.
//! `network_traffic` holds each AS network's traffic per site and day as 64-bit sets of hashed buckets:
//! processing adds to them (bitwise OR), ingest's side reads the recent days to decide with.

use clickhouse::Row;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use vtrack_model::evidence::{PtrCounts, TrafficCounts};
use vtrack_model::time::{format_ms, format_secs, parse_secs};
use vtrack_model::NetworkEvidence;
use vtrack_process::{NetworkStore, TrafficRow};

use crate::clickhouse::rows::datetime;
use crate::{ClickHouseStore, SqliteStore, StoreError};

/// One `network_evidence` row, as both stores hold it (times in seconds).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct EvidenceRecord {
    pub asn: u32,
    pub name: String,
    pub ptr_looked_up: u8,
    pub ptr_generated: u8,
    pub ptr_servers: u8,
    pub ptr_organisation: u8,
    pub ptr_domain: String,
    pub traffic_visitors: u32,
    pub traffic_networks: u32,
    pub traffic_cities: u32,
    pub base_class: String,
    pub base_confidence: u8,
    pub network_class: String,
    pub class_confidence: u8,
    pub account_key: String,
    pub signals: String,
    pub decided_at: u32,
    pub expires_at: u32,
    pub version: u64,
}

const EVIDENCE_COLUMNS: &str = "asn, name, ptr_looked_up, ptr_generated, ptr_servers, ptr_organisation, ptr_domain,
    traffic_visitors, traffic_networks, traffic_cities, base_class, base_confidence, network_class, class_confidence,
    account_key, signals";

impl EvidenceRecord {
    fn of(n: &NetworkEvidence) -> EvidenceRecord {
        EvidenceRecord {
            asn: n.asn,
            name: n.name.clone(),
            ptr_looked_up: n.ptr.looked_up,
            ptr_generated: n.ptr.generated,
            ptr_servers: n.ptr.servers,
            ptr_organisation: n.ptr.organisation,
            ptr_domain: n.ptr_domain.clone(),
            traffic_visitors: n.traffic.visitors,
            traffic_networks: n.traffic.networks,
            traffic_cities: n.traffic.cities,
            base_class: n.base_class.as_str().to_string(),
            base_confidence: n.base_confidence.min(100),
            network_class: n.class.as_str().to_string(),
            class_confidence: n.class_confidence.min(100),
            account_key: n.key.clone(),
            signals: n.signals.clone(),
            decided_at: datetime(n.decided_ms.div_euclid(1000)),
            expires_at: datetime(n.expires_ms.div_euclid(1000)),
            version: u64::try_from(n.decided_ms).unwrap_or(0),
        }
    }

    /// The evidence a row holds; `None` for a row this version cannot read (skipped, not fatal).
    fn evidence(self) -> Option<NetworkEvidence> {
        Some(NetworkEvidence {
            asn: self.asn,
            name: self.name,
            ptr: PtrCounts {
                looked_up: self.ptr_looked_up,
                generated: self.ptr_generated,
                servers: self.ptr_servers,
                organisation: self.ptr_organisation,
            },
            ptr_domain: self.ptr_domain,
            traffic: TrafficCounts {
                visitors: self.traffic_visitors,
                networks: self.traffic_networks,
                cities: self.traffic_cities,
            },
            base_class: self.base_class.parse().ok()?,
            base_confidence: self.base_confidence.min(100),
            class: self.network_class.parse().ok()?,
            class_confidence: self.class_confidence.min(100),
            key: self.account_key,
            signals: self.signals,
            decided_ms: i64::from(self.decided_at) * 1000,
            expires_ms: i64::from(self.expires_at) * 1000,
        })
        .filter(|n| n.asn != 0 && !n.key.is_empty())
    }
}

/// One network's traffic sets on one site and day, as the stores hold them (the day as `YYYY-MM-DD`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct TrafficRecord {
    pub site: String,
    pub asn: u32,
    /// Days since 1970-01-01 (ClickHouse's `Date`).
    pub day: u16,
    pub visitors: u64,
    pub prefixes: u64,
    pub cities: u64,
}

/// A network's traffic sets on one site and day, as the resolver's side reads them to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficSets {
    pub asn: u32,
    pub day: i64,
    pub visitors: u64,
    pub prefixes: u64,
    pub cities: u64,
}

/// The text of a day number, `YYYY-MM-DD`.
fn day_text(day: i64) -> String {
    format_secs(day.saturating_mul(86_400)).chars().take(10).collect()
}

impl SqliteStore {
    /// Stores networks' evidence, replacing what was stored for their AS numbers, in one transaction.
    pub fn save_network_evidence(&mut self, found: &[NetworkEvidence]) -> Result<(), StoreError> {
        let tx = self.conn_mut().transaction()?;
        {
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO network_evidence ({EVIDENCE_COLUMNS}, decided_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
            ))?;
            for r in found.iter().map(EvidenceRecord::of) {
                stmt.execute(params![
                    r.asn,
                    r.name,
                    r.ptr_looked_up,
                    r.ptr_generated,
                    r.ptr_servers,
                    r.ptr_organisation,
                    r.ptr_domain,
                    r.traffic_visitors,
                    r.traffic_networks,
                    r.traffic_cities,
                    r.base_class,
                    r.base_confidence,
                    r.network_class,
                    r.class_confidence,
                    r.account_key,
                    r.signals,
                    format_ms(i64::from(r.decided_at) * 1000),
                    format_ms(i64::from(r.expires_at) * 1000),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every network's evidence.
    pub fn all_network_evidence(&self) -> Result<Vec<NetworkEvidence>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT {EVIDENCE_COLUMNS}, decided_at, expires_at FROM network_evidence"))?;
        let secs = |s: String| parse_secs(&s).map(datetime).unwrap_or(0);
        let rows = stmt.query_map([], |r| {
            let decided_at = secs(r.get(16)?);
            Ok(EvidenceRecord {
                asn: r.get(0)?,
                name: r.get(1)?,
                ptr_looked_up: r.get(2)?,
                ptr_generated: r.get(3)?,
                ptr_servers: r.get(4)?,
                ptr_organisation: r.get(5)?,
                ptr_domain: r.get(6)?,
                traffic_visitors: r.get(7)?,
                traffic_networks: r.get(8)?,
                traffic_cities: r.get(9)?,
                base_class: r.get(10)?,
                base_confidence: r.get(11)?,
                network_class: r.get(12)?,
                class_confidence: r.get(13)?,
                account_key: r.get(14)?,
                signals: r.get(15)?,
                decided_at,
                expires_at: secs(r.get(17)?),
                version: u64::from(decided_at) * 1000,
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row?.evidence());
        }
        Ok(out)
    }

    /// Every network's traffic sets of the days from `since_day` on, per site and day.
    pub fn network_traffic(&self, since_day: i64) -> Result<Vec<TrafficSets>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT asn, day, visitors, prefixes, cities FROM network_traffic WHERE day >= ?1 ORDER BY asn, site, day",
        )?;
        let rows = stmt.query_map([day_text(since_day)], |r| {
            let day: String = r.get(1)?;
            Ok(TrafficSets {
                asn: r.get(0)?,
                day: parse_secs(&format!("{day} 00:00:00")).map_or(0, |s| s.div_euclid(86_400)),
                visitors: r.get::<_, i64>(2)? as u64,
                prefixes: r.get::<_, i64>(3)? as u64,
                cities: r.get::<_, i64>(4)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl NetworkStore for SqliteStore {
    async fn network_evidence(&mut self) -> Result<Vec<NetworkEvidence>, StoreError> {
        self.all_network_evidence()
    }

    async fn add_traffic(&mut self, rows: &[TrafficRow<'_>]) -> Result<(), StoreError> {
        let mut upsert = self.conn().prepare_cached(
            "INSERT INTO network_traffic (site, asn, day, visitors, prefixes, cities) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (site, asn, day) DO UPDATE SET visitors = visitors | excluded.visitors,
               prefixes = prefixes | excluded.prefixes, cities = cities | excluded.cities",
        )?;
        for r in rows {
            // The sets are 64 bits; SQLite's integers are signed 64-bit, and `|` works on them bit for bit.
            upsert.execute(params![
                r.site,
                r.asn,
                day_text(r.day),
                r.visitors as i64,
                r.prefixes as i64,
                r.cities as i64
            ])?;
        }
        Ok(())
    }
}

impl ClickHouseStore {
    /// Stores networks' evidence; `network_evidence` keeps the latest decision per AS number.
    pub async fn save_network_evidence(&self, found: &[NetworkEvidence]) -> Result<(), StoreError> {
        if found.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<EvidenceRecord>("network_evidence").await?;
        for n in found {
            insert.write(&EvidenceRecord::of(n)).await?;
        }
        insert.end().await?;
        Ok(())
    }

    /// Every network's evidence, the latest decision per AS number.
    pub async fn all_network_evidence(&self) -> Result<Vec<NetworkEvidence>, StoreError> {
        let rows: Vec<EvidenceRecord> = self
            .client()
            .query(&format!(
                "SELECT {EVIDENCE_COLUMNS}, toUInt32(decided_at) AS decided_at, toUInt32(expires_at) AS expires_at,
                   version FROM network_evidence FINAL"
            ))
            .fetch_all()
            .await?;
        Ok(rows.into_iter().filter_map(EvidenceRecord::evidence).collect())
    }

    /// Every network's traffic sets of the days from `since_day` on, per site and day.
    pub async fn network_traffic(&self, since_day: i64) -> Result<Vec<TrafficSets>, StoreError> {
        let rows: Vec<(u32, u16, u64, u64, u64)> = self
            .client()
            .query(
                "SELECT asn, day, groupBitOr(visitors), groupBitOr(prefixes), groupBitOr(cities) FROM network_traffic
                 WHERE day >= toDate(?) GROUP BY asn, site, day ORDER BY asn, site, day",
            )
            .bind(day_text(since_day))
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|(asn, day, visitors, prefixes, cities)| TrafficSets {
                asn,
                day: i64::from(day),
                visitors,
                prefixes,
                cities,
            })
            .collect())
    }
}

impl NetworkStore for ClickHouseStore {
    async fn network_evidence(&mut self) -> Result<Vec<NetworkEvidence>, StoreError> {
        self.all_network_evidence().await
    }

    /// Rows accumulate (a batch writes only sets that grew) and are read with `groupBitOr`.
    async fn add_traffic(&mut self, rows: &[TrafficRow<'_>]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<TrafficRecord>("network_traffic").await?;
        for r in rows {
            insert
                .write(&TrafficRecord {
                    site: r.site.to_string(),
                    asn: r.asn,
                    day: u16::try_from(r.day).unwrap_or(0),
                    visitors: r.visitors,
                    prefixes: r.prefixes,
                    cities: r.cities,
                })
                .await?;
        }
        insert.end().await?;
        Ok(())
    }
}
