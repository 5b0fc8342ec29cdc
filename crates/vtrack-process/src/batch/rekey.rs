//! The account-key migration: accounts stored under a key an older version made (`as<N>` for a carrier's
//! customer, an ISP's or an `in-addr.arpa` domain, a host name, an empty key) moved to the key today's rule
//! gives them (`vtrack_resolve::account_key::rekey`, passed in as `rule`).
//!
//! Events are the source of truth, so the move is a relabelling like any other ([`super::attribute`]'s
//! `relabel`): each site's events under an old key get the new one, their sessions' rows are rebuilt from
//! them, and the accounts they left and joined are recomputed from their histories (one old key may become
//! several: the organisations an old rule lumped under their carrier's AS). What sales and alerting
//! recorded about an old account (statuses, owners and their history, alerts and their deliveries) moves
//! with it ([`RekeyStore::move_account_records`]). No alert is raised: a new key is not news.
//!
//! Running it again finds no old key and changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use vtrack_model::event::CompanyInfo;

use super::accounts::recompute_from_history;
use super::attribute::relabel;
use super::store::{transaction, AccountStore, EventStore, Scope, SessionStore};
use super::warm::SiteWarm;
use crate::account::{AccountScore, AccountState};
use crate::Scorer;

/// An organisation as stored events name it: the key they carry, its name and AS number, on a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedOrg {
    pub site: String,
    pub key: String,
    pub name: String,
    pub asn: u32,
    /// Its stored events: the key most of an old key's events move to is where its alerts go.
    pub events: u64,
}

/// What the migration needs from a store beyond the batch write's relabelling.
#[allow(async_fn_in_trait)]
pub trait RekeyStore: EventStore + SessionStore + AccountStore {
    /// Every organisation of stored events whose key is not a name key (`org:…`), per site.
    async fn keyed_organisations(&mut self) -> Result<Vec<KeyedOrg>, Self::Error>;

    /// Moves what was recorded about account `old` of `site` to the keys its organisations now have, `new`
    /// (`old` among them when some organisation keeps it): sales' statuses and the owner with its history
    /// copied to each other key (an account that has an owner of its own keeps it) and left on `old` only
    /// when it stays; alerts and their deliveries moved to `new[0]`, the key most of its events have.
    async fn move_account_records(&mut self, site: &str, old: &str, new: &[&str]) -> Result<(), Self::Error>;
}

/// What one run of the migration did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rekeyed {
    /// Old keys moved (per site).
    pub keys: usize,
    pub events: usize,
    /// Accounts recomputed (the new keys, and old ones some organisation stays under).
    pub accounts: usize,
}

/// Moves every account stored under an old key to its new key(s): `rule(key, name, asn)` is the new key of
/// an organisation stored as `key`, `None` when its key stands. One transaction per site.
pub async fn rekey<S: RekeyStore>(
    store: &mut S,
    scorer: &Scorer,
    rule: impl Fn(&str, &str, u32) -> Option<String>,
) -> Result<Rekeyed, S::Error> {
    // Every organisation of each site with the key it now has; sites where none moves are left alone.
    let mut by_site: BTreeMap<String, Vec<(KeyedOrg, String)>> = BTreeMap::new();
    for org in store.keyed_organisations().await? {
        let new = rule(&org.key, &org.name, org.asn).filter(|n| !n.is_empty()).unwrap_or_else(|| org.key.clone());
        by_site.entry(org.site.clone()).or_default().push((org, new));
    }
    by_site.retain(|_, orgs| orgs.iter().any(|(o, new)| *new != o.key));
    let mut total = Rekeyed::default();
    for (site, moves) in &by_site {
        let done = transaction(store, async |store| rekey_site(store, scorer, site, moves).await).await?;
        total.keys += done.keys;
        total.events += done.events;
        total.accounts += done.accounts;
    }
    Ok(total)
}

/// One site's moves, inside the caller's transaction.
async fn rekey_site<S: RekeyStore>(
    store: &mut S,
    scorer: &Scorer,
    site: &str,
    moves: &[(KeyedOrg, String)],
) -> Result<Rekeyed, S::Error> {
    let to: HashMap<(&str, &str, u32), &str> = moves
        .iter()
        .filter(|(o, new)| *new != o.key)
        .map(|(o, new)| ((o.key.as_str(), o.name.as_str(), o.asn), new.as_str()))
        .collect();
    let moved: HashSet<&str> = to.keys().map(|(old, _, _)| *old).collect();
    // Each old key's keys now (itself too, for organisations that keep it), the one with the most events first.
    let mut targets: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for (o, new) in moves.iter().filter(|(o, _)| moved.contains(o.key.as_str())) {
        let t = targets.entry(o.key.as_str()).or_default();
        match t.iter_mut().find(|(_, k)| *k == new.as_str()) {
            Some((n, _)) => *n += o.events,
            None => t.push((o.events, new.as_str())),
        }
    }
    for t in targets.values_mut() {
        t.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    }
    let company_for = |e: &vtrack_model::EnrichedEvent| -> Option<CompanyInfo> {
        let c = &e.company;
        let new = to.get(&(c.company_domain.as_str(), c.company_name.as_str(), c.asn))?;
        Some(CompanyInfo { company_domain: new.to_string(), ..c.clone() })
    };
    let scopes: Vec<Scope<'_>> = targets.keys().map(|old| Scope::Key(old)).collect();
    let mut warm = SiteWarm::default();
    let (recompute, events) = relabel(store, &mut warm, site, &company_for, &scopes).await?;
    for (old, new) in &targets {
        let new: Vec<&str> = new.iter().map(|(_, k)| *k).collect();
        store.move_account_records(site, old, &new).await?;
    }
    let domains: Vec<&str> = recompute.iter().map(String::as_str).collect();
    let mut held = HashMap::new();
    let (verdicts, _emptied) =
        recompute_from_history(store, &mut held, scorer, site, &domains, &HashSet::new()).await?;
    // Every recomputed row goes first: an account an old key lumped others into shrinks, and ClickHouse
    // keeps the copy counting the most events; a deletion reaches only the rows written before it.
    store.drop_accounts(site, &domains).await?;
    let pairs: Vec<(&AccountState, &AccountScore)> =
        verdicts.iter().filter_map(|(d, v)| held.get(d).map(|a| (&a.state, v))).collect();
    store.save_accounts(&pairs).await?;
    Ok(Rekeyed { keys: targets.len(), events, accounts: pairs.len() })
}
