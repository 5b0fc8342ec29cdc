//! Who hears about an alert: the re-contact and cooldown rule, once for both stores.

use vtrack_model::{Alert, AlertKind};

/// A webhook as the outbox needs it: where, and how often per account.
#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub url: String,
    /// At most one delivery per account within this long, counted in event time.
    pub cooldown_secs: i64,
    /// See `AlertsConfig::recontact_margin`.
    pub recontact_margin: f64,
    /// An owner's receiver: only alerts of the accounts this owner holds.
    pub owner: Option<String>,
    /// The SLA's escalation receiver: missed deadlines only.
    pub escalation: bool,
}

/// Whether `target` hears of `alert` at all: a site webhook hears of every alert but a missed deadline
/// (the owner's and the escalation's business), so of the weekly digest too; an owner's receiver of their
/// own accounts' alerts (a digest has no owner); the escalation receiver of missed deadlines only. The one place deliveries are routed, for the batch write
/// and the deadline check alike.
pub fn hears(alert: &Alert, target: &DeliveryTarget) -> bool {
    let missed = alert.kind == AlertKind::SlaMissed;
    match (&target.owner, target.escalation) {
        (_, true) => missed,
        (Some(owner), false) => !alert.owner.is_empty() && alert.owner == *owner,
        (None, false) => !missed,
    }
}

/// A delivery to queue: one alert to one webhook.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    /// `alert_id#webhook index`: a replay queues the same id again, which the outbox keeps once.
    pub delivery_id: String,
    pub alert: &'a Alert,
    pub webhook: &'a str,
    pub webhook_index: usize,
    /// When it was raised (the alert's event time), Unix seconds.
    pub created_secs: i64,
    /// The Kafka partition the alert's events came from (-1 without Kafka): which processor sends it.
    pub partition: i32,
}

impl<'a> Delivery<'a> {
    pub fn new(alert: &'a Alert, target: &'a DeliveryTarget, index: usize, partition: i32) -> Delivery<'a> {
        Delivery {
            delivery_id: format!("{}#{index}", alert.alert_id),
            alert,
            webhook: &target.url,
            webhook_index: index,
            created_secs: alert.raised_ms.div_euclid(1000),
            partition,
        }
    }
}

/// Sales already working the account ([`vtrack_model::Status::is_worked`], set at score `worked`): stay quiet
/// unless the account heated up by the target's margin since.
pub fn quiet_for_sales(alert: &Alert, worked: Option<f64>, target: &DeliveryTarget) -> bool {
    worked.is_some_and(|at| alert.score < at + target.recontact_margin)
}

/// The start of the cooldown window before an alert: a delivery to the same webhook for the same account
/// created after it holds this one back.
pub fn cooldown_since(alert: &Alert, target: &DeliveryTarget) -> i64 {
    alert.raised_ms.div_euclid(1000) - target.cooldown_secs
}
