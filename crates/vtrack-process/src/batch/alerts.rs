//! Step 8: the verdicts' alerts, each with its account's owner, recorded; then their deliveries queued
//! ([`queue_deliveries`], the one place deliveries are queued, for the batch write, the follow-up deadline
//! check and the weekly digest alike).

use std::collections::HashMap;

use vtrack_model::{Alert, AlertKind};

use super::accounts::Scored;
use super::distinct;
use super::store::{AlertStore, OwnerStore};
use crate::outbox::{cooldown_since, hears, quiet_for_sales, Delivery, DeliveryTarget};

/// What step 8 wrote.
pub(super) struct Raised {
    pub alerts: usize,
    pub deliveries: usize,
}

/// Step 8: names each alert's owner (`owners` holds those step 7 knows; the rest are read), records the
/// alerts and queues their deliveries from the partition of their account's first event.
pub(super) async fn raise<S: AlertStore + OwnerStore>(
    store: &mut S,
    site: &str,
    targets: &[DeliveryTarget],
    scored: &mut Scored,
    mut owners: HashMap<String, String>,
) -> Result<Raised, S::Error> {
    let alerted: Vec<&str> =
        distinct(scored.verdicts.iter().filter(|(_, v)| !v.alerts.is_empty()).map(|(d, _)| d.as_str()));
    let unknown: Vec<&str> = alerted.into_iter().filter(|d| !owners.contains_key(*d)).collect();
    if !unknown.is_empty() {
        owners.extend(store.account_owners(site, &unknown).await?);
    }
    for (d, v) in scored.verdicts.iter_mut() {
        for alert in &mut v.alerts {
            alert.owner = owners.get(d.as_str()).cloned().unwrap_or_default();
        }
    }
    let alerts: Vec<&Alert> = scored.verdicts.iter().flat_map(|(_, v)| &v.alerts).collect();
    let partition_of = |d: &str| scored.partitions.get(d).copied().unwrap_or(-1);
    let deliveries = record(store, targets, &alerts, partition_of).await?;
    Ok(Raised { alerts: alerts.len(), deliveries })
}

/// Records `alerts` and queues their deliveries (see [`queue_deliveries`]); returns how many deliveries were
/// new. The batch write calls it inside its transaction; the deadline check and the digest inside their own.
pub async fn record<S: AlertStore>(
    store: &mut S,
    targets: &[DeliveryTarget],
    alerts: &[&Alert],
    partition_of: impl Fn(&str) -> i32,
) -> Result<usize, S::Error> {
    store.insert_alerts(alerts).await?;
    queue_deliveries(store, targets, alerts, partition_of).await
}

/// Queues each alert's deliveries: to every receiver that [`hears`] it, unless sales is already on the
/// account ([`quiet_for_sales`]) or the receiver heard of it within its cooldown. Returns how many were new.
pub async fn queue_deliveries<S: AlertStore>(
    store: &mut S,
    targets: &[DeliveryTarget],
    alerts: &[&Alert],
    partition_of: impl Fn(&str) -> i32,
) -> Result<usize, S::Error> {
    let mut queued = 0;
    for alert in alerts {
        if !targets.iter().any(|t| hears(alert, t)) {
            continue;
        }
        let partition = partition_of(&alert.company_domain);
        let latest = store.latest_status(&alert.site, &alert.company_domain).await?;
        let worked = latest.filter(|(status, _)| status.is_worked()).map(|(_, score)| score);
        for (i, target) in targets.iter().enumerate() {
            if !hears(alert, target) || quiet_for_sales(alert, worked, target) {
                continue;
            }
            let d = Delivery::new(alert, target, i, partition);
            // A missed deadline is news however recently the receiver heard of the account's heat, and a
            // digest is about no one account.
            let fresh = matches!(alert.kind, AlertKind::SlaMissed | AlertKind::WeeklyDigest);
            if !fresh && store.delivered_since(&d, cooldown_since(alert, target)).await? {
                continue;
            }
            queued += usize::from(store.queue_delivery(&d).await?);
        }
    }
    Ok(queued)
}
