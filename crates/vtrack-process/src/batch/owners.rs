//! Step 7: each account seen for the first time gets an owner by the rules ([`OwnerRules::owner_for`]),
//! once: an owner already stored, by a replay or by a person, stands.

use std::collections::HashMap;

use super::accounts::Scored;
use super::store::OwnerStore;
use super::warm::SiteWarm;
use crate::owners::{AccountFacts, OwnerChange, OwnerRules};

/// Step 7; returns the owners known for the new accounts (stored or just given), by account.
pub(super) async fn assign<S: OwnerStore>(
    store: &mut S,
    warm: &SiteWarm,
    site: &str,
    rules: &OwnerRules,
    scored: &Scored,
) -> Result<HashMap<String, String>, S::Error> {
    let new_accounts: Vec<&str> =
        scored.verdicts.iter().map(|(d, _)| d.as_str()).filter(|d| scored.first_seen.contains(*d)).collect();
    if rules.is_empty() || new_accounts.is_empty() {
        return Ok(HashMap::new());
    }
    let mut owners = store.account_owners(site, &new_accounts).await?;
    let mut changes = Vec::new();
    for d in new_accounts {
        let Some(a) = warm.accounts.get(d).filter(|_| !owners.contains_key(d)) else { continue };
        let facts = AccountFacts { domain: d, country: &a.state.country, class: a.state.network_class };
        if let Some(owner) = rules.owner_for(&facts) {
            changes.push(OwnerChange::by_rule(site, d, owner, a.state.first_seen.saturating_mul(1000)));
            owners.insert(d.to_string(), owner.to_string());
        }
    }
    store.save_owners(&changes).await?;
    Ok(owners)
}
