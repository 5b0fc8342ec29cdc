//! Glue between the store's outbox and the webhook sender.

use std::collections::HashMap;
use std::ops::Range;
use vtrack_alert::{Delivery, Outbox};
use vtrack_bus::kafka::OwnedPartitions;
use vtrack_model::time::now_ms;
use vtrack_store::clickhouse::DeliveryRecord;
use vtrack_store::{ClickHouseStore, SqliteStore};

fn delivery(d: vtrack_store::outbox::PendingDelivery) -> Delivery {
    Delivery {
        delivery_id: d.delivery_id,
        alert: d.alert,
        webhook: d.webhook_index,
        attempts: d.attempts,
        due_ms: d.due_ms,
    }
}

/// The embedded store as the alert outbox (its own connection; SQLite serialises it with the writer).
pub struct StoreOutbox(pub SqliteStore);

impl Outbox for StoreOutbox {
    fn due(&mut self, webhooks: Range<usize>, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, String> {
        let due = self.0.due_deliveries(webhooks, now_ms, limit).map_err(|e| e.to_string())?;
        Ok(due.into_iter().map(delivery).collect())
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

/// ClickHouse as the alert outbox. Calls come on the blocking pool, so they may wait on the runtime.
pub struct ClickHouseOutbox {
    store: ClickHouseStore,
    runtime: tokio::runtime::Handle,
    /// Send only what came from these Kafka partitions (`None`: everything, no Kafka).
    owned: Option<OwnedPartitions>,
    /// Rows as last read, by delivery, to write their next version. Each receiver's queue reads its own, and
    /// replaces only its own rows here: another queue's may still be in flight.
    rows: HashMap<String, DeliveryRecord>,
}

impl ClickHouseOutbox {
    /// Must be called inside the runtime that will run the delivery loop.
    pub fn new(store: ClickHouseStore, owned: Option<OwnedPartitions>) -> ClickHouseOutbox {
        ClickHouseOutbox { store, runtime: tokio::runtime::Handle::current(), owned, rows: HashMap::new() }
    }

    fn update(
        &mut self,
        delivery_id: &str,
        now_ms: i64,
        change: impl FnOnce(&mut DeliveryRecord),
    ) -> Result<(), String> {
        let Some(mut row) = self.rows.remove(delivery_id) else {
            return Err(format!("delivery {delivery_id} was not read from the outbox"));
        };
        change(&mut row);
        self.runtime.block_on(self.store.record_delivery(row, now_ms)).map_err(|e| e.to_string())
    }
}

impl Outbox for ClickHouseOutbox {
    fn due(&mut self, webhooks: Range<usize>, now_ms: i64, limit: usize) -> Result<Vec<Delivery>, String> {
        let owned = match &self.owned {
            Some(o) => Some(o.lock().map_err(|_| "partition list lock poisoned".to_string())?.clone()),
            None => None,
        };
        let due = self
            .runtime
            .block_on(self.store.due_deliveries(webhooks.clone(), now_ms, limit, owned.as_deref()))
            .map_err(|e| e.to_string())?;
        self.rows.retain(|_, r| !webhooks.contains(&(r.webhook_index as usize)));
        Ok(due
            .into_iter()
            .map(|(d, row)| {
                self.rows.insert(d.delivery_id.clone(), row);
                delivery(d)
            })
            .collect())
    }

    fn delivered(&mut self, delivery_id: &str, attempts: u32, status: u16, now_ms: i64) -> Result<(), String> {
        self.update(delivery_id, now_ms, |r| {
            r.status = "delivered".into();
            r.attempts = attempts;
            r.http_status = status;
            r.last_error.clear();
        })
    }

    fn retry_at(&mut self, delivery_id: &str, attempts: u32, next_ms: i64, error: &str) -> Result<(), String> {
        self.update(delivery_id, now_ms(), |r| {
            r.attempts = attempts;
            r.next_attempt_ms = next_ms.max(0) as u64;
            r.last_error = error.to_string();
        })
    }

    fn failed(&mut self, delivery_id: &str, attempts: u32, error: &str) -> Result<(), String> {
        self.update(delivery_id, now_ms(), |r| {
            r.status = "failed".into();
            r.attempts = attempts;
            r.last_error = error.to_string();
        })
    }
}
