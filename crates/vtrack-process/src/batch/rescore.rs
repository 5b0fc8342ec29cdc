//! `vtrack rescore`: every account recomputed from its stored history, after a change of the scoring
//! config. No alerts are raised: a new config's verdicts are not news.

use std::collections::{BTreeMap, HashMap};

use super::store::{transaction, RescoreStore};
use crate::account::{AccountScore, AccountState};
use crate::Scorer;

/// Recomputes every account with `scorer`, in chunks of `chunk` accounts per transaction. Returns the
/// accounts done.
pub async fn rescore<S: RescoreStore>(store: &mut S, scorer: &Scorer, chunk: usize) -> Result<usize, S::Error> {
    let mut by_site: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (site, domain) in store.all_accounts().await? {
        by_site.entry(site).or_default().push(domain);
    }
    let mut done = 0;
    for (site, domains) in &by_site {
        for part in domains.chunks(chunk.max(1)) {
            let names: Vec<&str> = part.iter().map(String::as_str).collect();
            done += transaction(store, async |store| rescore_chunk(store, scorer, site, &names).await).await?;
        }
    }
    Ok(done)
}

/// One chunk of one site's accounts, inside the caller's transaction.
async fn rescore_chunk<S: RescoreStore>(
    store: &mut S,
    scorer: &Scorer,
    site: &str,
    names: &[&str],
) -> Result<usize, S::Error> {
    let previous: HashMap<String, AccountState> =
        store.account_states(site, names).await?.into_iter().map(|s| (s.company_domain.clone(), s)).collect();
    let mut out = Vec::new();
    for h in store.account_histories(site, names).await? {
        let old = previous.get(&h.company_domain);
        let (mut state, verdict) = scorer.recompute(&h, old.and_then(|s| s.last.clone()));
        state.rescores = old.map(|s| s.rescores + 1).unwrap_or(1);
        out.push((state, verdict));
    }
    let pairs: Vec<(&AccountState, &AccountScore)> = out.iter().map(|(s, v)| (s, v)).collect();
    store.save_accounts(&pairs).await?;
    Ok(out.len())
}
