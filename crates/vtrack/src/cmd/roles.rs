//! `vtrack ingest` and `vtrack process`: the two halves of `serve`, meeting at Kafka, so each scales on
//! its own.

use super::serve::Args;
use crate::wiring::{self, Roles};

/// Runs only ingest: beacons in, enriched events out to Kafka.
pub fn ingest(args: Args) -> anyhow::Result<()> {
    run(args, Roles::INGEST)
}

/// Runs only processing: a consumer-group member writing to the store (`--listen` serves its metrics).
pub fn process(args: Args) -> anyhow::Result<()> {
    run(args, Roles::PROCESS)
}

fn run(args: Args, roles: Roles) -> anyhow::Result<()> {
    let config = args.to_config()?;
    super::runtime()?.block_on(wiring::serve(config, roles, Default::default(), crate::shutdown::signal()))
}
