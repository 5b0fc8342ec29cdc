//! The follow-up deadline (`[sla] hot_followup`): a hot account whose sales status is still `new` when
//! its deadline passes raises one `sla_missed` alert, to its owner and the escalation receiver.
//!
//! The deadline runs from the account's latest `became_hot` alert. The check ([`check`]) runs on a timer
//! beside the batch write, over a [`FollowupStore`]: it reads each account's latest crossing into hot
//! with its stage, status and owner ([`FollowupStore::hot_followups`]), decides here ([`missed`]), records the
//! alert and queues its deliveries through [`record_alerts`], the one place alerts are recorded and deliveries routed.
//! "Once" is durable: the alert id is `site:account:sla_missed:<hot time>`, one per crossing, and an
//! account whose crossing already has it is not raised again, after a restart too. An account whose status
//! changed before the deadline, or that cooled off, raises none.

use crate::batch::{record_alerts, transaction, BatchRules, FollowupStore};
use std::time::Duration;
use vtrack_model::schedule::Followup;
use vtrack_model::{Alert, AlertKind, Status};

/// Deadlines that passed longer ago than this are not raised: turning the SLA on (or a long outage) must
/// not page everyone about last month's accounts.
pub const STALE_AFTER: Duration = Duration::from_secs(7 * 86_400);

/// An account's latest crossing into hot, as the check needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct HotFollowup {
    /// The `became_hot` alert: when, and everything the `sla_missed` alert repeats.
    pub hot: Alert,
    /// The account's stage now.
    pub stage: String,
    /// Sales' latest status, `new` until one is set.
    pub status: Status,
    /// Its owner now, empty when nobody owns it.
    pub owner: String,
    /// Whether this crossing already raised its `sla_missed` alert.
    pub raised: bool,
}

/// When the follow-up of an account that turned hot at `hot_ms` is due, Unix ms: `hot_followup` later,
/// counted in business hours when `[sla] business_hours` is set. Every reader of the deadline (the check,
/// the dashboard, the funnel's "in time", the digest) asks here.
pub fn due_ms(hot_ms: i64, followup: &Followup) -> i64 {
    followup.due_ms(hot_ms)
}

/// How late the follow-up is at `now_ms`, in whole seconds: `None` when none is pending (sales is working
/// the account, or it is no longer at `top_stage`), else `Some(0)` until the deadline passes. The
/// dashboard and the check share it.
pub fn overdue_secs(
    hot_ms: i64,
    status: Status,
    stage: &str,
    top_stage: &str,
    followup: &Followup,
    now_ms: i64,
) -> Option<i64> {
    if status.is_worked() || stage != top_stage {
        return None;
    }
    Some((now_ms - due_ms(hot_ms, followup)).max(0) / 1000)
}

/// The `sla_missed` alert `f` calls for at `now_ms`, if any: once per crossing, raised at the deadline.
pub fn missed(f: &HotFollowup, top_stage: &str, followup: &Followup, now_ms: i64) -> Option<Alert> {
    if f.raised || f.hot.kind != AlertKind::BecameHot {
        return None;
    }
    let due = due_ms(f.hot.raised_ms, followup);
    let stale = now_ms.saturating_sub(due) > i64::try_from(STALE_AFTER.as_millis()).unwrap_or(i64::MAX);
    if now_ms < due || stale || overdue_secs(f.hot.raised_ms, f.status, &f.stage, top_stage, followup, now_ms).is_none()
    {
        return None;
    }
    let hot_secs = f.hot.raised_ms.div_euclid(1000);
    Some(Alert {
        alert_id: format!("{}:{}:{}:{hot_secs}", f.hot.site, f.hot.company_domain, AlertKind::SlaMissed.as_str()),
        kind: AlertKind::SlaMissed,
        raised_ms: due,
        owner: f.owner.clone(),
        ..f.hot.clone()
    })
}

/// What one check did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub raised: usize,
    pub deliveries: usize,
}

/// Raises the `sla_missed` alerts due at `now_ms` and queues their deliveries; `partition` is the Kafka
/// partition their deliveries are sent from (-1 without Kafka). The read runs outside a transaction, so a
/// round with nothing due takes no write lock; what is due is written in one transaction on an atomic store
/// (and written twice, by a race, it is still one alert and one delivery each: both are keyed).
pub async fn check<S: FollowupStore>(
    store: &mut S,
    rules: &BatchRules,
    top_stage: &str,
    followup: &Followup,
    now_ms: i64,
    partition: i32,
) -> Result<Checked, S::Error> {
    let alerts: Vec<Alert> =
        store.hot_followups().await?.iter().filter_map(|f| missed(f, top_stage, followup, now_ms)).collect();
    if alerts.is_empty() {
        return Ok(Checked::default());
    }
    let refs: Vec<&Alert> = alerts.iter().collect();
    let deliveries =
        transaction(store, async |store| record_alerts(store, &rules.webhooks, &refs, |_| partition).await).await?;
    Ok(Checked { raised: alerts.len(), deliveries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_model::NetworkClass;

    const H: i64 = 3_600_000;

    fn hot(at_ms: i64) -> HotFollowup {
        HotFollowup {
            hot: Alert {
                alert_id: "s:acme.example:became_hot:1".into(),
                kind: AlertKind::BecameHot,
                site: "s".into(),
                company_domain: "acme.example".into(),
                company_name: "Acme".into(),
                network_class: NetworkClass::Business,
                country: "DE".into(),
                score: 60.0,
                stage: "hot".into(),
                raised_ms: at_ms,
                visitors: 2,
                sessions: 3,
                top_pages: vec![],
                recent_pages: vec![],
                campaigns: vec![],
                contacts: vec![],
                owner: String::new(),
                digest: None,
            },
            stage: "hot".into(),
            status: Status::New,
            owner: "ana".into(),
            raised: false,
        }
    }

    fn day() -> Followup {
        Followup::plain(Duration::from_secs(86_400))
    }

    #[test]
    fn a_hot_new_account_past_its_deadline_raises_one_alert_at_the_deadline() {
        let f = hot(10 * H);
        assert_eq!(missed(&f, "hot", &day(), 34 * H - 1), None, "not yet");
        let a = missed(&f, "hot", &day(), 35 * H).unwrap();
        assert_eq!(a.kind, AlertKind::SlaMissed);
        assert_eq!(a.raised_ms, 34 * H);
        assert_eq!(a.alert_id, format!("s:acme.example:sla_missed:{}", 10 * H / 1000));
        assert_eq!(a.owner, "ana");
        assert_eq!(missed(&f, "hot", &day(), 50 * H).unwrap().alert_id, a.alert_id, "the same id every poll");
        assert_eq!(missed(&HotFollowup { raised: true, ..f }, "hot", &day(), 35 * H), None, "once");
    }

    #[test]
    fn a_status_set_in_time_or_a_cooled_account_or_a_stale_deadline_raises_none() {
        let worked = HotFollowup { status: Status::Contacted, ..hot(0) };
        assert_eq!(missed(&worked, "hot", &day(), 30 * H), None);
        let cooled = HotFollowup { stage: "warm".into(), ..hot(0) };
        assert_eq!(missed(&cooled, "hot", &day(), 30 * H), None);
        assert_eq!(missed(&hot(0), "hot", &day(), 24 * H + STALE_AFTER.as_millis() as i64 + 1), None);
    }

    #[test]
    fn overdue_counts_seconds_past_the_deadline() {
        assert_eq!(overdue_secs(0, Status::New, "hot", "hot", &day(), 23 * H), Some(0));
        assert_eq!(overdue_secs(0, Status::New, "hot", "hot", &day(), 25 * H), Some(3600));
        assert_eq!(overdue_secs(0, Status::Won, "hot", "hot", &day(), 25 * H), None);
    }

    #[test]
    fn with_business_hours_the_deadline_skips_the_weekend() {
        use vtrack_model::schedule::BusinessHours;
        let days = vec![
            jiff::civil::Weekday::Monday,
            jiff::civil::Weekday::Tuesday,
            jiff::civil::Weekday::Wednesday,
            jiff::civil::Weekday::Thursday,
            jiff::civil::Weekday::Friday,
        ];
        let hours = BusinessHours { start_min: 540, end_min: 1020, days, tz: jiff::tz::TimeZone::UTC };
        let eight = Followup { within: Duration::from_secs(8 * 3600), hours: Some(hours) };
        // Hot on Friday 2026-11-27 15:00 UTC: due Monday 15:00, not Saturday 07:00.
        let friday = 1_795_791_600_000;
        let monday = friday + 72 * H;
        assert_eq!(due_ms(friday, &eight), monday);
        assert_eq!(missed(&hot(friday), "hot", &eight, friday + 16 * H), None, "plain time would have missed it");
        assert_eq!(missed(&hot(friday), "hot", &eight, monday).unwrap().raised_ms, monday);
        assert_eq!(overdue_secs(friday, Status::New, "hot", "hot", &eight, monday + H), Some(3600));
    }
}
