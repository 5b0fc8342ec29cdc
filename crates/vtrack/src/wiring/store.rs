//! Opening the configured store once ([`vtrack_store::Store`]: ClickHouse at `[clickhouse] url`, or SQLite in
//! `[server] data_dir`) and the webhook outbox that goes with it.

use anyhow::Context;
use vtrack_bus::kafka::OwnedPartitions;
use vtrack_model::Config;
use vtrack_store::Store;

/// The webhook outbox that goes with the store.
pub enum Outbox {
    Sqlite(crate::alerts::StoreOutbox),
    ClickHouse(Box<crate::alerts::ClickHouseOutbox>),
}

impl Outbox {
    /// The outbox over a handle of its own on `store`; with ClickHouse it sends only what came from the
    /// `owned` Kafka partitions.
    pub fn of(store: &Store, owned: Option<OwnedPartitions>) -> anyhow::Result<Outbox> {
        Ok(match store.another()? {
            Store::Sqlite { store, .. } => Outbox::Sqlite(crate::alerts::StoreOutbox(store)),
            Store::ClickHouse(c) => Outbox::ClickHouse(Box::new(crate::alerts::ClickHouseOutbox::new(*c, owned))),
        })
    }
}

/// Opens the configured store; ClickHouse's schema must be up to date (`vtrack migrate`).
pub async fn open(config: &Config) -> anyhow::Result<Store> {
    Store::open(config).await.with_context(|| match &config.clickhouse {
        Some(c) => format!("ClickHouse at {} is not ready", vtrack_store::clickhouse::redact(&c.url)),
        None => format!("cannot open the store in {}", config.server.data_dir.display()),
    })
}
