//! Glue between the store's outbox and the webhook sender.

use vtrack_alert::{Delivery, Outbox};
use vtrack_store::SqliteStore;

/// The embedded store as the alert outbox (its own connection; SQLite serialises it with the writer).
pub struct StoreOutbox(pub SqliteStore);

impl Outbox for StoreOutbox {
    fn due(&mut self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, String> {
        let due = self.0.due_deliveries(now_ms, limit).map_err(|e| e.to_string())?;
        Ok(due
            .into_iter()
            .map(|d| Delivery {
                delivery_id: d.delivery_id,
                alert: d.alert,
                webhook: d.webhook_index,
                attempts: d.attempts,
            })
            .collect())
    }

    fn delivered(&mut self, delivery_id: &str, attempts: u32, status: u16, now_ms: i64) -> Result<(), String> {
        self.0.mark_delivered(delivery_id, attempts, status, now_ms).map_err(|e| e.to_string())
    }

    fn retry_at(&mut self, delivery_id: &str, attempts: u32, next_ms: i64, error: &str) -> Result<(), String> {
        self.0.mark_retry(delivery_id, attempts, next_ms, error).map_err(|e| e.to_string())
    }

    fn failed(&mut self, delivery_id: &str, attempts: u32, error: &str) -> Result<(), String> {
        self.0.mark_failed(delivery_id, attempts, error).map_err(|e| e.to_string())
    }
}
