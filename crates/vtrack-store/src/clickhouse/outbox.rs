//! The webhook outbox in ClickHouse: `alert_deliveries` rows, one version per change of state.
//!
//! ClickHouse cannot update a row, so each change is a new row with a higher `version` and readers take
//! the latest with `argMax(…, version)`. A delivery is queued with version 1 and every attempt writes the
//! wall-clock millisecond, so queueing it again (a replayed batch) never undoes progress.
//!
//! With several processors, each sends only the deliveries raised from the Kafka partitions it holds,
//! so one alert goes out from one place; after a rebalance the new owner picks up what was left.

use super::rows::{datetime, DeliveryRecord};
use super::ClickHouseStore;
use crate::{PendingDelivery, StoreError};
use vtrack_model::Alert;

impl ClickHouseStore {
    /// Pending deliveries due at `now_ms` from the given partitions (all when `None`), oldest first, with the
    /// latest state of each row (for [`ClickHouseStore::record_delivery`]).
    pub async fn due_deliveries(
        &self,
        webhooks: std::ops::Range<usize>,
        now_ms: i64,
        limit: usize,
        partitions: Option<&[i32]>,
    ) -> Result<Vec<(PendingDelivery, DeliveryRecord)>, StoreError> {
        if partitions.is_some_and(|p| p.is_empty()) {
            return Ok(Vec::new());
        }
        let rows: Vec<DeliveryRecord> = self
            .client()
            .query(
                "SELECT delivery_id, argMax(alert_id, version), argMax(site, version), argMax(company_domain, version),
                   argMax(webhook, version), argMax(webhook_index, version) AS widx, argMax(status, version) AS st,
                   argMax(attempts, version), argMax(next_attempt_ms, version) AS next, argMax(http_status, version),
                   argMax(last_error, version), toUInt32(argMax(created_at, version)),
                   toUInt32(argMax(delivered_at, version)), argMax(kafka_partition, version) AS part, max(version)
                 FROM alert_deliveries GROUP BY delivery_id
                 HAVING st = 'pending' AND next <= ? AND widx >= ? AND widx < ? AND (? = 1 OR has(?, part))
                 ORDER BY next, delivery_id LIMIT ?",
            )
            .bind(now_ms.max(0) as u64)
            .bind(webhooks.start as u64)
            .bind(u64::try_from(webhooks.end).unwrap_or(u64::MAX))
            .bind(u8::from(partitions.is_none())) // 18.16 has no boolean literals
            .bind(partitions.unwrap_or(&[i32::MIN]))
            .bind(limit as u64)
            .fetch_all()
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = rows.iter().map(|r| r.alert_id.as_str()).collect();
        let payloads: Vec<(String, String)> = self
            .client()
            .query(
                "SELECT alert_id, any(payload) FROM alerts WHERE alert_id IN (SELECT arrayJoin(?)) GROUP BY alert_id",
            )
            .bind(ids)
            .fetch_all()
            .await?;
        let payloads: std::collections::HashMap<String, String> = payloads.into_iter().collect();
        let mut out = Vec::new();
        for r in rows {
            match payloads.get(&r.alert_id).map(|p| serde_json::from_str::<Alert>(p)) {
                Some(Ok(alert)) => out.push((
                    PendingDelivery {
                        delivery_id: r.delivery_id.clone(),
                        alert,
                        webhook_index: r.webhook_index as usize,
                        attempts: r.attempts,
                        due_ms: i64::try_from(r.next_attempt_ms).unwrap_or(i64::MAX),
                    },
                    r,
                )),
                Some(Err(e)) => tracing::error!(error = %e, "outbox: an alert payload does not parse; skipping it"),
                None => tracing::warn!(alert = %r.alert_id, "outbox: the alert of a delivery is missing; skipping it"),
            }
        }
        Ok(out)
    }

    /// Writes the next state of a delivery: `row` as read by `due_deliveries`, changed by the caller.
    pub async fn record_delivery(&self, mut row: DeliveryRecord, now_ms: i64) -> Result<(), StoreError> {
        row.version = (now_ms.max(0) as u64).max(row.version + 1);
        if row.status == "delivered" {
            row.delivered_at = datetime(now_ms.div_euclid(1000));
        }
        let mut insert = self.client().insert::<DeliveryRecord>("alert_deliveries").await?;
        insert.write(&row).await?;
        insert.end().await?;
        Ok(())
    }
}
