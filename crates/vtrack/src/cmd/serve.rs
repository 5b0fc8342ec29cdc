//! `vtrack serve`: the whole pipeline in one process — ingest, an in-process queue, processing and the
//! embedded SQLite store. `--kafka` swaps the queue for Kafka and `--clickhouse` the store for ClickHouse,
//! each on its own. Its flags are also those of `vtrack ingest`, `vtrack process` and `vtrack api`; how
//! the process is put together is [`crate::wiring`].

use super::with_default;
use crate::wiring::{self, Roles};
use anyhow::bail;
use ipnetwork::IpNetwork;
use std::net::SocketAddr;
use std::path::PathBuf;
use vtrack_model::config::{Config, KafkaConfig, SiteConfig};

/// Flags of `serve`; each has a config-file key. Single values replace the file's, repeated flags add to its lists.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct Args {
    /// TOML config file (every key: docs/vtrack.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "ADDR", help = with_default("Address to listen on", Config::default().server.listen))]
    pub listen: Option<SocketAddr>,
    #[arg(long, value_name = "DIR",
          help = with_default("Where the embedded store and the IP data of `vtrack data update` live", Config::default().server.data_dir.display()))]
    pub data_dir: Option<PathBuf>,
    /// When a beacon is answered 202 without --kafka: `fsync` (on disk, survives a power cut; the default),
    /// `write` (written, survives a killed process) or `memory` (queued in memory only).
    #[arg(long, value_name = "MODE")]
    pub durability: Option<vtrack_model::config::Durability>,
    /// A proxy allowed to set X-Forwarded-For (repeatable).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<IpNetwork>,
    #[command(flatten)]
    pub sources: crate::cmd::sources::SourceArgs,
    /// A snapshot from `vtrack build-db`, instead of the sources.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// A site key allowed to send beacons, from any origin (repeatable; origins go in the config file).
    #[arg(long = "site", value_name = "KEY")]
    pub sites: Vec<String>,
    #[command(flatten)]
    pub backends: BackendArgs,
    #[command(flatten)]
    pub enrich: EnrichArgs,
    /// Testing only: keep events from browsers that report automation (the browser tests drive Chromium
    /// with Playwright); without it they are dropped and counted, as a production server must.
    #[arg(long)]
    pub keep_automated: bool,
}

/// Flags of enrichment (config section `[enrich]`).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct EnrichArgs {
    /// A DNS server for reverse DNS, HOST:PORT (repeatable; the system's servers when none is given).
    #[arg(long = "rdns-server", value_name = "HOST:PORT")]
    pub rdns_servers: Vec<SocketAddr>,
    /// Turn reverse DNS off.
    #[arg(long)]
    pub no_rdns: bool,
    /// Turn RDAP on: the registries' records of reassigned networks (mind ARIN's and RIPE's terms of use).
    #[arg(long)]
    pub rdap: bool,
    /// One RDAP server for every address, instead of IANA's bootstrap (a mirror, or a test server).
    #[arg(long, value_name = "URL")]
    pub rdap_server: Option<String>,
}

impl EnrichArgs {
    pub fn add_to(&self, config: &mut Config) {
        if !self.rdns_servers.is_empty() {
            config.enrich.dns_servers = self.rdns_servers.clone();
        }
        if self.no_rdns {
            config.enrich.rdns = false;
        }
        if self.rdap {
            config.enrich.rdap = true;
        }
        if self.rdap_server.is_some() {
            config.enrich.rdap_server = self.rdap_server.clone();
        }
    }
}

/// Flags that switch the queue to Kafka and the store to ClickHouse (config sections `[kafka]`, `[clickhouse]`).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct BackendArgs {
    /// Kafka bootstrap brokers (host:port,…): carry events over Kafka instead of the in-process queue.
    #[arg(long, value_name = "BROKERS")]
    pub kafka: Option<String>,
    #[arg(long, value_name = "NAME", help = with_default("Kafka topic", KafkaConfig::default().topic))]
    pub topic: Option<String>,
    #[arg(long, value_name = "NAME", help = with_default("Kafka consumer group of processors", KafkaConfig::default().group))]
    pub group: Option<String>,
    /// ClickHouse, http://[user[:password]@]host:port[/database]: store there instead of SQLite.
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// The ClickHouse cluster (in the servers' <remote_servers>) the store's tables are on (docs/cluster.md).
    #[arg(long, value_name = "NAME")]
    pub clickhouse_cluster: Option<String>,
    /// Drop whole days of ClickHouse events and sessions older than this (checked hourly).
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<u32>,
}

impl BackendArgs {
    /// Applies the flags over the config file's sections.
    pub fn add_to(&self, config: &mut Config) -> anyhow::Result<()> {
        if let Some(brokers) = &self.kafka {
            config.kafka.get_or_insert_with(Default::default).brokers = brokers.clone();
        }
        if self.topic.is_some() || self.group.is_some() {
            let Some(k) = config.kafka.as_mut() else {
                bail!("--topic and --group need --kafka (or a [kafka] section in the config file)");
            };
            if let Some(t) = &self.topic {
                k.topic = t.clone();
            }
            if let Some(g) = &self.group {
                k.group = g.clone();
            }
        }
        if let Some(url) = &self.clickhouse {
            config.clickhouse.get_or_insert_with(Default::default).url = url.clone();
        }
        if let Some(name) = &self.clickhouse_cluster {
            let Some(c) = config.clickhouse.as_mut() else {
                bail!("--clickhouse-cluster applies to ClickHouse: add --clickhouse URL");
            };
            c.cluster = name.clone();
        }
        if let Some(days) = self.retention_days {
            let Some(c) = config.clickhouse.as_mut() else {
                bail!("--retention-days applies to ClickHouse: add --clickhouse URL");
            };
            c.retention_days = days;
        }
        Ok(())
    }
}

impl Args {
    /// The config file (if any) with these flags applied on top.
    pub fn to_config(&self) -> anyhow::Result<Config> {
        let mut config = super::config_file(self.config.as_deref())?;
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.server.data_dir = dir.clone();
        }
        if let Some(d) = self.durability {
            config.server.durability = d;
        }
        config.server.trusted_proxies.extend(self.trusted_proxies.iter().copied());
        if self.keep_automated {
            config.server.keep_automated = true;
        }
        self.sources.add_to(&mut config.resolve);
        if self.db.is_some() {
            config.resolve.db = self.db.clone();
        }
        self.backends.add_to(&mut config)?;
        self.enrich.add_to(&mut config);
        for key in &self.sites {
            if !config.sites.iter().any(|s| &s.key == key) {
                config.sites.push(SiteConfig { key: key.clone(), ..SiteConfig::default() });
            }
        }
        config.check()?;
        Ok(config)
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.to_config()?;
    super::runtime()?.block_on(wiring::serve(config, Roles::ALL, Default::default(), crate::shutdown::signal()))
}
