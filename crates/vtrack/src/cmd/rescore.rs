//! `vtrack rescore`: recomputes every account from its history with the configured scoring.
//!
//! Processing keeps each account's score as state and continues it batch by batch; a state built with
//! another scoring config (weights, stages, half-life, topics) is recomputed when the account next gets
//! events, and `serve` says at start how many are waiting. This command recomputes them all at once, so
//! the dashboard shows every account under the new rules. No alerts are raised. Run it while processing is
//! stopped: a processor holding an account in memory would write its older state back.

use anyhow::Context;
use vtrack_process::batch::rescore;
use vtrack_process::Scorer;
use vtrack_store::{ClickHouseStore, SqliteStore};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub store: super::store_args::StoreArgs,
    /// Accounts recomputed per transaction (SQLite) or per insert (ClickHouse).
    #[arg(long, default_value_t = 200)]
    pub chunk: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.store.to_config()?;
    let scorer = Scorer::new(&config.scoring, &config.alerts);
    let started = std::time::Instant::now();
    let done = match &config.clickhouse {
        Some(c) => {
            let mut store = ClickHouseStore::open(c)?;
            super::runtime()?.block_on(async {
                store.check_schema().await?;
                anyhow::Ok(rescore(&mut store, &scorer, args.chunk).await?)
            })?
        }
        None => {
            let dir = &config.server.data_dir;
            let mut store =
                SqliteStore::open(dir).with_context(|| format!("cannot open the store in {}", dir.display()))?;
            super::runtime()?.block_on(rescore(&mut store, &scorer, args.chunk))?
        }
    };
    eprintln!(
        "vtrack: rescored {done} accounts with scoring {} in {:.1} s",
        scorer.fingerprint(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
