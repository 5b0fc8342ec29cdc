//! How one process is put together from its config. [`serve`] runs the steps in order, each in its own
//! module and each reading its own sections of the config:
//!
//! 1. [`bus`]: the in-process queue, or the Kafka producer and consumer the roles need (`[kafka]`);
//! 2. [`processing`]: the store, the loop from the bus into it, webhook delivery and retention
//!    (`[clickhouse]` or `[server] data_dir`, `[sessions]`, `[process]`, `[scoring]`, `[alerts]`);
//! 3. [`edge`]: the listening port — ingest, with the dashboard when this process holds the store, or only
//!    `/healthz` and `/metrics` — until shutdown (`[server]`, `[[sites]]`, `[resolve]`, `[dashboard]`);
//! 4. [`drain`]: what ingest accepted reaches the bus, then every task finishes what it holds.
//!
//! A step hands the crate it drives that crate's own options, converted by the crate
//! (`vtrack_bus::kafka::ProducerOptions::from(&KafkaConfig)`, `vtrack_ingest::IngestConfig::from_config`).

pub mod bus;
pub mod drain;
pub mod edge;
pub mod processing;
pub mod store;

use anyhow::bail;
use prometheus_client::registry::Registry;
use vtrack_model::Config;

/// Which parts of the pipeline a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub ingest: bool,
    pub process: bool,
}

impl Roles {
    pub const ALL: Roles = Roles { ingest: true, process: true };
    pub const INGEST: Roles = Roles { ingest: true, process: false };
    pub const PROCESS: Roles = Roles { ingest: false, process: true };

    /// Refuses a config these roles cannot run with.
    fn check(self, config: &Config) -> anyhow::Result<()> {
        if self.ingest && config.sites.is_empty() {
            bail!("no site is configured, so every beacon would be refused: pass --site KEY or add [[sites]] to the config file");
        }
        if self != Roles::ALL && config.kafka.is_none() {
            bail!("`vtrack ingest` and `vtrack process` meet at Kafka: pass --kafka BROKERS (or use `vtrack serve`)");
        }
        Ok(())
    }
}

/// What the steps add to as they are wired: the process's `/metrics`, its readiness, and the tasks drain
/// waits for.
#[derive(Default)]
pub struct Pieces {
    pub registry: Registry,
    pub health: vtrack_edge::Health,
    pub tasks: drain::Tasks,
}

/// Runs the `roles` until `shutdown`, then drains.
pub async fn serve(
    config: Config,
    roles: Roles,
    extras: edge::Extras,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    roles.check(&config)?;
    let mut pieces = Pieces::default();
    let bus = bus::connect(&config, roles, &mut pieces)?;
    let store = processing::start(&config, bus.subscriber, &mut pieces).await?;
    let tasks = edge::serve(&config, roles, bus.publisher, &store, pieces, extras, shutdown).await?;
    drain::drain(bus.producer, tasks).await
}
