//! `[sla] hot_followup`: the deadline check on a timer beside the batch write (the process role).
//!
//! Each round calls `vtrack_process::sla::check` over its own connection to the store, which raises the
//! `sla_missed` alerts that fell due and queues their deliveries; the alert ids make "once" survive a
//! restart. With Kafka, several processors share the store: only the one holding partition 0 checks, and
//! its deliveries carry partition 0, so exactly one processor raises and sends them.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use vtrack_bus::kafka::OwnedPartitions;
use vtrack_model::time::now_ms;
use vtrack_process::{BatchRules, FollowupStore};

/// What a check round needs besides the store.
pub struct Deadline {
    pub rules: BatchRules,
    /// The stage an account must still be at for its follow-up to be due (the highest).
    pub top_stage: String,
    /// `[sla]`: how long, and in which hours.
    pub followup: vtrack_model::schedule::Followup,
    /// The Kafka partitions this processor holds; `None` without Kafka.
    pub owned: Option<OwnedPartitions>,
    /// Woken when deliveries were queued, so the sender does not wait for its next poll.
    pub wake: Arc<Notify>,
}

impl Deadline {
    /// A quarter of the deadline, between 1 s and 1 min: a deadline is noticed well within its own length.
    fn every(&self) -> Duration {
        (self.followup.within / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// The partition the check's deliveries are sent from, or `None` when another processor checks.
    fn partition(&self) -> Option<i32> {
        match &self.owned {
            None => Some(-1),
            Some(owned) => owned.lock().ok().filter(|p| p.contains(&0)).map(|_| 0),
        }
    }
}

/// Checks every [`Deadline::every`] until `stop`.
pub async fn run<S: FollowupStore + Send>(mut store: S, deadline: Deadline, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(deadline.every()) => {}
            () = crate::shutdown::stopped(&mut stop) => return,
        }
        let Some(partition) = deadline.partition() else { continue };
        let (rules, top, followup) = (&deadline.rules, deadline.top_stage.as_str(), &deadline.followup);
        match vtrack_process::sla::check(&mut store, rules, top, followup, now_ms(), partition).await {
            Ok(done) if done.raised > 0 => {
                tracing::info!(alerts = done.raised, deliveries = done.deliveries, "follow-up deadlines missed");
                deadline.wake.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot check the follow-up deadlines; trying again"),
        }
    }
}
