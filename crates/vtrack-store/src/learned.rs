//! `learned_ranges`: what enrichment found (reverse DNS, RDAP), in both stores, so that every process —
//! this one after a restart, every `ingest` beside it — answers those networks from memory.
//!
//! Rows are keyed by the network: a newer finding for the same network replaces the older one. Reads
//! return only ranges that have not expired.

use clickhouse::Row;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use vtrack_model::time::{format_ms, parse_secs};
use vtrack_model::{IdSource, LearnedRange, NetworkClass};

use crate::clickhouse::rows::datetime;
use crate::{ClickHouseStore, SqliteStore, StoreError};

/// One `learned_ranges` row, as both stores hold it (times in seconds).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct LearnedRecord {
    pub network: String,
    pub company_name: String,
    pub company_domain: String,
    pub network_class: String,
    pub source: String,
    pub confidence: u8,
    pub evidence: String,
    pub found_at: u32,
    pub expires_at: u32,
}

impl LearnedRecord {
    fn of(r: &LearnedRange) -> LearnedRecord {
        LearnedRecord {
            network: r.network.to_string(),
            company_name: r.company_name.clone(),
            company_domain: r.company_domain.clone(),
            network_class: r.network_class.as_str().to_string(),
            source: r.source.as_str().to_string(),
            confidence: r.confidence.min(100),
            evidence: r.evidence.clone(),
            found_at: datetime(r.found_ms.div_euclid(1000)),
            expires_at: datetime(r.expires_ms.div_euclid(1000)),
        }
    }

    /// The range a row holds; `None` for a row this version cannot read (it is skipped, not fatal).
    fn range(self) -> Option<LearnedRange> {
        Some(LearnedRange {
            network: self.network.parse().ok()?,
            company_name: self.company_name,
            company_domain: self.company_domain,
            network_class: self.network_class.parse::<NetworkClass>().ok()?,
            source: self.source.parse::<IdSource>().ok()?,
            confidence: self.confidence.min(100),
            evidence: self.evidence,
            found_ms: i64::from(self.found_at) * 1000,
            expires_ms: i64::from(self.expires_at) * 1000,
        })
    }
}

impl SqliteStore {
    /// Stores learned ranges, replacing earlier findings for the same networks, in one transaction.
    pub fn save_learned_ranges(&mut self, ranges: &[LearnedRange]) -> Result<(), StoreError> {
        let tx = self.conn_mut().transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO learned_ranges (network, company_name, company_domain, network_class, source,
                 confidence, evidence, found_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for r in ranges.iter().map(LearnedRecord::of) {
                stmt.execute(params![
                    r.network,
                    r.company_name,
                    r.company_domain,
                    r.network_class,
                    r.source,
                    r.confidence,
                    r.evidence,
                    format_ms(i64::from(r.found_at) * 1000),
                    format_ms(i64::from(r.expires_at) * 1000),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The ranges that have not expired at `now_ms`.
    pub fn learned_ranges(&self, now_ms: i64) -> Result<Vec<LearnedRange>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT network, company_name, company_domain, network_class, source, confidence, evidence, found_at,
             expires_at FROM learned_ranges WHERE expires_at > ?1",
        )?;
        let secs = |s: String| parse_secs(&s).map(datetime).unwrap_or(0);
        let rows = stmt.query_map([format_ms(now_ms)], |r| {
            Ok(LearnedRecord {
                network: r.get(0)?,
                company_name: r.get(1)?,
                company_domain: r.get(2)?,
                network_class: r.get(3)?,
                source: r.get(4)?,
                confidence: r.get(5)?,
                evidence: r.get(6)?,
                found_at: secs(r.get(7)?),
                expires_at: secs(r.get(8)?),
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(row?.range());
        }
        Ok(out)
    }
}

impl ClickHouseStore {
    /// Stores learned ranges; `learned_ranges` keeps the latest finding per network.
    pub async fn save_learned_ranges(&self, ranges: &[LearnedRange]) -> Result<(), StoreError> {
        if ranges.is_empty() {
            return Ok(());
        }
        let mut insert = self.client().insert::<LearnedRecord>("learned_ranges").await?;
        for r in ranges {
            insert.write(&LearnedRecord::of(r)).await?;
        }
        insert.end().await?;
        Ok(())
    }

    /// The ranges that have not expired at `now_ms`.
    pub async fn learned_ranges(&self, now_ms: i64) -> Result<Vec<LearnedRange>, StoreError> {
        let rows: Vec<LearnedRecord> = self
            .client()
            .query(
                "SELECT network, company_name, company_domain, network_class, source, confidence, evidence,
                 toUInt32(found_at) AS found_at, toUInt32(expires_at) AS expires_at
                 FROM learned_ranges FINAL WHERE expires_at > toDateTime(?)",
            )
            .bind(datetime(now_ms.div_euclid(1000)))
            .fetch_all()
            .await?;
        Ok(rows.into_iter().filter_map(LearnedRecord::range).collect())
    }
}
