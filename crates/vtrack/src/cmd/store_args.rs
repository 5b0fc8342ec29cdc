//! Which store a command opens: the config file's `[server] data_dir` or `[clickhouse]`, with flags on top.

use super::with_default;
use std::path::PathBuf;
use vtrack_model::Config;

/// The store flags every command that opens the store takes.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct StoreArgs {
    /// TOML config file (every key: docs/vtrack.example.toml), read for its store and whatever else the command uses.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "DIR",
          help = with_default("The embedded store `vtrack serve` writes to", Config::default().server.data_dir.display()))]
    pub data_dir: Option<PathBuf>,
    /// ClickHouse instead: http://[user[:password]@]host:port[/database].
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// The ClickHouse cluster the store's tables are on (docs/cluster.md).
    #[arg(long, value_name = "NAME")]
    pub clickhouse_cluster: Option<String>,
}

impl StoreArgs {
    /// The config file (if any) with these flags applied on top.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = super::config_file(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.server.data_dir = dir.clone();
        }
        if let Some(url) = &self.clickhouse {
            config.clickhouse.get_or_insert_with(Default::default).url = url.clone();
        }
        if let Some(name) = &self.clickhouse_cluster {
            let Some(c) = config.clickhouse.as_mut() else {
                anyhow::bail!("--clickhouse-cluster applies to ClickHouse: add --clickhouse URL");
            };
            c.cluster = name.clone();
        }
        Ok(config)
    }
}
