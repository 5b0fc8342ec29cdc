//! The account-key migration (`vtrack_process::batch::rekey`) as the binary runs it: by `vtrack migrate`,
//! and at start-up of a process that writes the store, once (the store records it, `rekeyed`).
//!
//! The rule is `vtrack_resolve::account_key::rekey`. Telling an `as<N>` key of a carrier's customer from the
//! AS's own organisation needs the names that organisation goes by, from the IP data
//! (`Table::as_organisations`): the table is built for it only when the store holds such keys. Without IP
//! data those keys stay, and a later start with IP data runs the migration again.

use std::collections::HashMap;

use anyhow::Context;
use vtrack_model::Config;
use vtrack_process::{RekeyStore, Rekeyed, Scorer};
use vtrack_resolve::account_key;
use vtrack_store::Store;

/// Moves the store's old keys to the new ones; returns what moved and whether the AS data was at hand.
pub async fn run<S: RekeyStore>(store: &mut S, config: &Config) -> anyhow::Result<(Rekeyed, bool)>
where
    S::Error: Into<anyhow::Error>,
{
    let orgs = store.keyed_organisations().await.map_err(Into::into).context("cannot read the stored keys")?;
    let needs_as_data = orgs.iter().any(|o| account_key::as_key(&o.key).is_some() || o.key.contains('.'));
    let as_orgs: Option<HashMap<u32, Vec<String>>> = if needs_as_data { as_organisations(config) } else { None };
    let scorer = Scorer::new(&config.scoring, &config.alerts);
    let rule = |key: &str, name: &str, asn: u32| {
        let names: Vec<&str> = as_orgs
            .as_ref()
            .and_then(|m| m.get(&asn))
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        account_key::rekey(key, name, asn, &names)
    };
    let done = vtrack_process::batch::rekey(store, &scorer, rule).await.map_err(Into::into)?;
    Ok((done, as_orgs.is_some() || !needs_as_data))
}

/// The names each AS's own organisation goes by in the configured IP data, or `None` without IP data.
fn as_organisations(config: &Config) -> Option<HashMap<u32, Vec<String>>> {
    let plan = crate::resolver::Plan::new(config);
    if plan.data_snapshot.as_ref().is_some_and(|p| !p.is_file()) {
        return None;
    }
    match vtrack_resolve::Table::build(&plan.cfg) {
        Ok(table) => Some(table.as_organisations()),
        Err(e) => {
            tracing::warn!(error = %e, "account keys: cannot load the IP data; `as<N>` keys of carriers' customers stay");
            None
        }
    }
}

/// Prints what a run did, for `vtrack migrate`.
pub fn describe(done: &Rekeyed, with_as_data: bool) -> String {
    let data = if with_as_data { "" } else { " (without IP data: `as<N>` keys of carriers' customers stay)" };
    format!(
        "account keys: {} old key(s) moved, {} event(s) relabelled, {} account(s) recomputed{data}",
        done.keys, done.events, done.accounts
    )
}

/// At start-up: runs the migration unless it was done (with the IP data, when it needed it). A failure is
/// logged: the old keys stay, as before, and the next start tries again.
pub async fn at_start(store: &mut Store, config: &Config) {
    match store.rekeyed().await {
        Ok(Some(true)) => return,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "account keys: cannot read whether the store's keys were migrated");
            return;
        }
    }
    let done = store.run(async |store| run(store, config).await).await;
    match done {
        Ok((done, with_as_data)) => {
            if done.keys > 0 {
                tracing::info!("{}", describe(&done, with_as_data));
            }
            if let Err(e) = store.mark_rekeyed(with_as_data).await {
                tracing::warn!(error = %e, "account keys: cannot record the migration; it runs again at the next start");
            }
        }
        Err(e) => tracing::warn!(error = %e, "account keys: the migration failed; old keys stay until the next start"),
    }
}
