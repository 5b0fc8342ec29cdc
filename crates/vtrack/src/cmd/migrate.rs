//! `vtrack migrate`: creates or upgrades the ClickHouse schema (or the embedded store's, `--data-dir`), moves
//! accounts stored under the old key rule to their new keys (`crate::rekey`), and creates the Kafka topic.

use super::with_default;
use anyhow::Context;
use std::path::PathBuf;
use vtrack_model::config::{Config, KafkaConfig};
use vtrack_store::ClickHouseStore;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// TOML config file (every key: docs/vtrack.example.toml): its [clickhouse] and [kafka] sections.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// ClickHouse, http://[user[:password]@]host:port[/database] (database `vtrack` when none is given).
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// The embedded store `vtrack serve` writes to, instead of ClickHouse (it migrates its schema itself on
    /// open; this moves its old account keys).
    #[arg(long, value_name = "DIR", conflicts_with = "clickhouse")]
    pub data_dir: Option<PathBuf>,
    /// The IP data the account keys are moved with (an `as<N>` key of a carrier's customer is told from the
    /// AS's own organisation by it): the config's `[resolve]`, these flags, or the data dir's snapshot.
    #[command(flatten)]
    pub sources: super::sources::SourceArgs,
    /// A ClickHouse cluster (in the servers' <remote_servers>): replicated tables on every shard and
    /// Distributed tables over them, created ON CLUSTER (docs/cluster.md).
    #[arg(long, value_name = "NAME")]
    pub clickhouse_cluster: Option<String>,
    /// Kafka bootstrap brokers: create the topic too.
    #[arg(long, value_name = "BROKERS")]
    pub kafka: Option<String>,
    #[arg(long, value_name = "NAME", help = with_default("", KafkaConfig::default().topic))]
    pub topic: Option<String>,
    #[arg(long, value_name = "N", help = with_default(
        "Partitions of a new topic: the most processors that can share the work",
        KafkaConfig::default().partitions,
    ))]
    pub partitions: Option<i32>,
    #[arg(long, value_name = "N", help = with_default("", KafkaConfig::default().replication))]
    pub replication: Option<i32>,
}

impl Args {
    /// The config file (if any) with these flags applied on top. `--topic`, `--partitions` and
    /// `--replication` apply only with Kafka.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = super::config_file(self.config.as_deref())?;
        if let Some(url) = &self.clickhouse {
            config.clickhouse.get_or_insert_with(Default::default).url = url.clone();
        }
        if let Some(dir) = &self.data_dir {
            config.server.data_dir = dir.clone();
            config.clickhouse = None;
        }
        self.sources.add_to(&mut config.resolve);
        if let Some(name) = &self.clickhouse_cluster {
            let Some(c) = config.clickhouse.as_mut() else {
                anyhow::bail!("--clickhouse-cluster applies to ClickHouse: add --clickhouse URL");
            };
            c.cluster = name.clone();
        }
        if let Some(brokers) = &self.kafka {
            config.kafka.get_or_insert_with(Default::default).brokers = brokers.clone();
        }
        if let Some(k) = config.kafka.as_mut() {
            if let Some(topic) = &self.topic {
                k.topic = topic.clone();
            }
            if let Some(n) = self.partitions {
                k.partitions = n;
            }
            if let Some(n) = self.replication {
                k.replication = n;
            }
        }
        Ok(config)
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.to_config()?;
    if config.clickhouse.is_none() && config.kafka.is_none() && args.data_dir.is_none() {
        anyhow::bail!(
            "nothing to migrate: pass --clickhouse URL or --data-dir DIR, and/or --kafka BROKERS (or a config file \
             with [clickhouse] or [kafka])"
        );
    }
    if args.partitions.is_some_and(|n| n < 1) || args.replication.is_some_and(|n| n < 1) {
        anyhow::bail!("--partitions and --replication must be at least 1");
    }
    super::runtime()?.block_on(async {
        if let Some(c) = &config.clickhouse {
            let store = ClickHouseStore::open(c)?;
            let redacted = vtrack_store::clickhouse::redact(&c.url);
            let version = store.migrate().await.with_context(|| format!("cannot migrate ClickHouse at {redacted}"))?;
            let on = store.cluster().map(|k| format!(" on cluster {}", k.name())).unwrap_or_default();
            println!("clickhouse {redacted}: database {}{on} at schema version {version}", store.url().database);
        }
        if config.clickhouse.is_some() || args.data_dir.is_some() {
            // The same path as start-up's (`crate::rekey`), on the store the config names.
            let mut store = vtrack_store::Store::open(&config).await.context("cannot open the store")?;
            let (done, with_as_data) = store.run(async |store| crate::rekey::run(store, &config).await).await?;
            store.mark_rekeyed(with_as_data).await?;
            println!("{}: {}", store.describe(), crate::rekey::describe(&done, with_as_data));
        }
        if let Some(k) = &config.kafka {
            let created = vtrack_bus::kafka::ensure_topic(&k.brokers, &k.topic, k.partitions, k.replication)
                .await
                .with_context(|| format!("cannot create topic {} on {}", k.topic, k.brokers))?;
            let what = if created { "created" } else { "exists" };
            println!("kafka {}: topic {} {what}", k.brokers, k.topic);
        }
        Ok(())
    })
}
