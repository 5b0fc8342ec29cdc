//! The durable outbox of webhook deliveries: rows in `alert_deliveries`, so a restart resends what was not
//! delivered. Each store's reads and writes of it are in its folder (`sqlite/outbox.rs`, `clickhouse/outbox.rs`).

use vtrack_model::Alert;

/// A delivery whose next attempt is due.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub delivery_id: String,
    pub alert: Alert,
    pub webhook_index: usize,
    pub attempts: u32,
    /// When its next attempt fell due, Unix ms.
    pub due_ms: i64,
}
