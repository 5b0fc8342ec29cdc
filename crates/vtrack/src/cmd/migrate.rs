//! `vtrack migrate`: creates or upgrades the ClickHouse schema and creates the Kafka topic.

use anyhow::Context;
use vtrack_store::{ClickHouseStore, ClickHouseUrl};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ClickHouse, http://[user[:password]@]host:port[/database] (database `vtrack` when none is given).
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// Kafka bootstrap brokers: create the topic too.
    #[arg(long, value_name = "BROKERS")]
    pub kafka: Option<String>,
    #[arg(long, value_name = "NAME", default_value = vtrack_bus::kafka::DEFAULT_TOPIC)]
    pub topic: String,
    /// Partitions of a new topic: the most processors that can share the work.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub partitions: i32,
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub replication: i32,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.clickhouse.is_none() && args.kafka.is_none() {
        anyhow::bail!("nothing to migrate: pass --clickhouse URL and/or --kafka BROKERS");
    }
    if args.partitions < 1 || args.replication < 1 {
        anyhow::bail!("--partitions and --replication must be at least 1");
    }
    super::runtime()?.block_on(async {
        if let Some(url) = &args.clickhouse {
            let parsed: ClickHouseUrl = url.parse()?;
            let store = ClickHouseStore::new(&parsed);
            let redacted = vtrack_store::clickhouse::redact(url);
            let version = store.migrate().await.with_context(|| format!("cannot migrate ClickHouse at {redacted}"))?;
            println!("clickhouse {redacted}: database {} at schema version {version}", parsed.database);
        }
        if let Some(brokers) = &args.kafka {
            let created = vtrack_bus::kafka::ensure_topic(brokers, &args.topic, args.partitions, args.replication)
                .await
                .with_context(|| format!("cannot create topic {} on {brokers}", args.topic))?;
            let what = if created { "created" } else { "exists" };
            println!("kafka {brokers}: topic {} {what}", args.topic);
        }
        Ok(())
    })
}
