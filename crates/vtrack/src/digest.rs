//! `[digest]`: each site's weekly digest on a timer beside the batch write (the process role).
//!
//! A round finds, per configured site, the latest digest time at or before now in the site's time zone
//! (`vtrack_model::schedule::last_digest_at`), builds that digest (`vtrack_process::digest::build`, over the
//! funnel's reads and the deadline check's) and writes it as a `weekly_digest` alert with its deliveries
//! (`queue_deliveries`, the one place deliveries are routed: the site's webhooks), for the outbox to send,
//! sign and retry like any alert. "Once per week and site" is the id `site:digest:<local date>`: the alert
//! and each delivery are keyed by it, so a second round, a restart or a second processor writes nothing
//! new. A digest missed while nothing ran is still due until the next digest time, so a process back within
//! the week sends it late; after that only the new one is sent. With Kafka only the holder of partition 0
//! writes digests, as for the follow-up deadlines.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use vtrack_bus::kafka::OwnedPartitions;
use vtrack_model::schedule::{last_digest_at, local_date, next_digest_at};
use vtrack_model::time::now_ms;
use vtrack_process::batch::{record_alerts, transaction};
use vtrack_process::digest::{build, DigestPlan};
use vtrack_process::{BatchRules, FollowupStore};
use vtrack_store::dashboard::DashboardReads;

/// The longest a round waits: a clock change or a suspended machine is noticed within it.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// What the digest rounds need besides the stores.
pub struct Digests {
    pub rules: BatchRules,
    /// The configured sites and their time zones.
    pub sites: Vec<(String, TimeZone)>,
    pub weekday: Weekday,
    pub hour: i8,
    pub base_stage: String,
    pub top_stage: String,
    pub followup: Option<vtrack_model::schedule::Followup>,
    /// The Kafka partitions this processor holds; `None` without Kafka.
    pub owned: Option<OwnedPartitions>,
    /// Woken when deliveries were queued, so the sender does not wait for its next poll.
    pub wake: Arc<Notify>,
}

impl Digests {
    /// The partition the digests' deliveries are sent from, or `None` when another processor sends them.
    fn partition(&self) -> Option<i32> {
        match &self.owned {
            None => Some(-1),
            Some(owned) => owned.lock().ok().filter(|p| p.contains(&0)).map(|_| 0),
        }
    }

    /// How long until the next site's digest time, at most [`MAX_WAIT`].
    fn wait(&self, now: Timestamp) -> Duration {
        self.sites
            .iter()
            .filter_map(|(_, tz)| next_digest_at(now, self.weekday, self.hour, tz))
            .filter_map(|at| Duration::try_from(at.duration_since(now)).ok())
            .fold(MAX_WAIT, Duration::min)
    }
}

/// Writes the digests that are due, then waits for the next, until `stop`.
pub async fn run<S: FollowupStore + Send, D: DashboardReads>(
    mut store: S,
    reads: D,
    digests: Digests,
    mut stop: watch::Receiver<bool>,
) {
    // Ids written (or found written) by this process: not rebuilt every round.
    let mut done: HashSet<String> = HashSet::new();
    loop {
        let partition = digests.partition();
        if let Some(partition) = partition {
            for (site, tz) in &digests.sites {
                if let Err(e) = due(&mut store, &reads, &digests, site, tz, partition, &mut done).await {
                    tracing::warn!(site = %site, error = %e, "cannot write the weekly digest; trying again");
                }
            }
        }
        // Without partition 0 (a processor holds none until the group assigns them, after start) it looks
        // again within a second, so a due digest goes out once the partition is held, not a round later.
        let now = Timestamp::from_millisecond(now_ms()).unwrap_or_default();
        let wait = match partition {
            None => Duration::from_secs(1),
            Some(_) => digests.wait(now).max(Duration::from_secs(1)),
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = crate::shutdown::stopped(&mut stop) => return,
        }
    }
}

/// Writes `site`'s digest if one is due and not yet written.
async fn due<S: FollowupStore, D: DashboardReads>(
    store: &mut S,
    reads: &D,
    digests: &Digests,
    site: &str,
    tz: &TimeZone,
    partition: i32,
    done: &mut HashSet<String>,
) -> anyhow::Result<()> {
    let now = now_ms();
    let Some(at) =
        Timestamp::from_millisecond(now).ok().and_then(|t| last_digest_at(t, digests.weekday, digests.hour, tz))
    else {
        return Ok(());
    };
    let date = local_date(at, tz);
    let id = format!("{site}:digest:{date}");
    if done.contains(&id) {
        return Ok(());
    }
    let facts = reads.funnel_facts(site).await?;
    let followups = store.hot_followups().await?;
    let timezone = tz.iana_name().unwrap_or("UTC");
    let plan = DigestPlan {
        site,
        timezone,
        local_date: &date,
        scheduled_ms: at.as_millisecond(),
        now_ms: now,
        base_stage: &digests.base_stage,
        top_stage: &digests.top_stage,
        followup: digests.followup.as_ref(),
    };
    let alert = build(&plan, &facts, &followups);
    let targets = &digests.rules.webhooks;
    let queued =
        transaction(store, async |store| record_alerts(store, targets, &[&alert], |_| partition).await).await?;
    if queued > 0 {
        tracing::info!(site, digest = %id, deliveries = queued, "weekly digest queued");
        digests.wake.notify_one();
    }
    done.insert(id);
    Ok(())
}
