//! The webhook outbox on SQLite (see [`crate::outbox`]).

use crate::outbox::PendingDelivery;
use crate::{SqliteStore, StoreError};
use rusqlite::params;
use vtrack_model::time::format_ms;
use vtrack_model::Alert;

impl SqliteStore {
    /// Pending deliveries due at `now_ms`, oldest first.
    /// Pending deliveries to the receivers at `webhooks` (their indexes) whose next attempt is due at
    /// `now_ms`, the longest due first: each receiver's queue reads its own.
    pub fn due_deliveries(
        &self,
        webhooks: std::ops::Range<usize>,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT d.delivery_id, a.payload, d.webhook_index, d.attempts, d.next_attempt_ms FROM alert_deliveries d
             JOIN alerts a ON a.alert_id = d.alert_id
             WHERE d.status = 'pending' AND d.next_attempt_ms <= ?1 AND d.webhook_index >= ?3
               AND d.webhook_index < ?4
             ORDER BY d.next_attempt_ms, d.delivery_id LIMIT ?2",
        )?;
        let index = |i: usize| i64::try_from(i).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![now_ms, limit as i64, index(webhooks.start), index(webhooks.end)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let payload: String = r.get(1)?;
            match serde_json::from_str::<Alert>(&payload) {
                Ok(alert) => out.push(PendingDelivery {
                    delivery_id: r.get(0)?,
                    alert,
                    webhook_index: r.get::<_, i64>(2)?.max(0) as usize,
                    attempts: r.get::<_, i64>(3)?.max(0) as u32,
                    due_ms: r.get(4)?,
                }),
                Err(e) => tracing::error!(error = %e, "outbox: an alert payload does not parse; skipping it"),
            }
        }
        Ok(out)
    }

    pub fn mark_delivered(&self, delivery_id: &str, attempts: u32, status: u16, now_ms: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE alert_deliveries SET status = 'delivered', attempts = ?2, http_status = ?3, delivered_at = ?4,
               last_error = '' WHERE delivery_id = ?1",
            params![delivery_id, attempts, status, format_ms(now_ms)],
        )?;
        Ok(())
    }

    pub fn mark_retry(&self, delivery_id: &str, attempts: u32, next_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE alert_deliveries SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4 WHERE delivery_id = ?1",
            params![delivery_id, attempts, next_ms, error],
        )?;
        Ok(())
    }

    pub fn mark_failed(&self, delivery_id: &str, attempts: u32, error: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE alert_deliveries SET status = 'failed', attempts = ?2, last_error = ?3 WHERE delivery_id = ?1",
            params![delivery_id, attempts, error],
        )?;
        Ok(())
    }
}
