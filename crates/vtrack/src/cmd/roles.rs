//! `vtrack ingest` and `vtrack process`: the two halves of `serve`, meeting at Kafka, so each scales on
//! its own.

use super::serve::{self, Roles};
use std::collections::HashMap;

/// Runs only ingest: beacons in, enriched events out to Kafka.
pub fn ingest(args: serve::Args) -> anyhow::Result<()> {
    let config = args.to_config()?;
    super::runtime()?.block_on(serve::serve(config, Roles::INGEST, HashMap::new(), None, crate::shutdown::signal()))
}

/// Runs only processing: a consumer-group member writing to the store (`--listen` serves its metrics).
pub fn process(args: serve::Args) -> anyhow::Result<()> {
    let config = args.to_config()?;
    super::runtime()?.block_on(serve::serve(config, Roles::PROCESS, HashMap::new(), None, crate::shutdown::signal()))
}
