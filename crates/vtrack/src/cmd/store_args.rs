//! Which store a command opens: the config file's `[server] data_dir` or `[clickhouse]`, with flags on top.

use std::path::PathBuf;
use vtrack_model::Config;

/// The store flags every command that opens the store takes.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct StoreArgs {
    /// TOML config file (see README, "Configuration"): its store, and for `rescore` its scoring.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The embedded store `vtrack serve` writes to [default: ./vtrack-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// ClickHouse instead: http://[user[:password]@]host:port[/database].
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
}

impl StoreArgs {
    /// The config file (if any) with these flags applied on top.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.server.data_dir = dir.clone();
        }
        if let Some(url) = &self.clickhouse {
            config.clickhouse.get_or_insert_with(Default::default).url = url.clone();
        }
        Ok(config)
    }
}
