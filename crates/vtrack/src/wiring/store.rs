//! Opening the configured store: ClickHouse at `[clickhouse] url`, or SQLite in `[server] data_dir`.

use crate::pipeline::Sink;
use anyhow::Context;
use vtrack_bus::kafka::OwnedPartitions;
use vtrack_model::config::ClickHouseConfig;
use vtrack_model::Config;
use vtrack_store::{ClickHouseStore, SqliteStore};

/// The webhook outbox that goes with the store.
pub enum Outbox {
    Sqlite(crate::alerts::StoreOutbox),
    ClickHouse(Box<crate::alerts::ClickHouseOutbox>),
}

/// Opens the store for processing, and a second handle on it as the webhook outbox, which sends only what
/// came from the `owned` Kafka partitions.
pub async fn open_for_processing(config: &Config, owned: Option<OwnedPartitions>) -> anyhow::Result<(Sink, Outbox)> {
    match &config.clickhouse {
        None => {
            Ok((Sink::Sqlite(open_sqlite(config)?), Outbox::Sqlite(crate::alerts::StoreOutbox(open_sqlite(config)?))))
        }
        Some(c) => {
            let store = open_clickhouse(c).await?;
            let outbox = crate::alerts::ClickHouseOutbox::new(store.clone(), owned);
            Ok((Sink::ClickHouse(Box::new(store)), Outbox::ClickHouse(Box::new(outbox))))
        }
    }
}

/// Where `sink` writes, for the log.
pub fn describe(sink: &Sink, config: &Config) -> String {
    match sink {
        Sink::Sqlite(_) => format!("sqlite in {}", config.server.data_dir.display()),
        Sink::ClickHouse(c) => format!("clickhouse at {} ({})", c.url().endpoint, c.url().database),
    }
}

/// Opens (creating and migrating as needed) the embedded store in the data directory.
pub fn open_sqlite(config: &Config) -> anyhow::Result<SqliteStore> {
    let dir = &config.server.data_dir;
    SqliteStore::open(dir).with_context(|| format!("cannot open the store in {}", dir.display()))
}

/// Connects to ClickHouse and checks that `vtrack migrate` has brought its schema up to date.
pub async fn open_clickhouse(c: &ClickHouseConfig) -> anyhow::Result<ClickHouseStore> {
    let store = ClickHouseStore::open(c)?;
    store
        .check_schema()
        .await
        .with_context(|| format!("ClickHouse at {} is not ready", vtrack_store::clickhouse::redact(&c.url)))?;
    Ok(store)
}
