//! Step 2, processing, for a process that consumes the bus: the store, the loop from the bus into it,
//! webhook delivery from its outbox, and ClickHouse retention.

use super::store::{self, Outbox};
use super::Pieces;
use crate::pipeline::{self, ProcessMetrics};
use anyhow::Context;
use prometheus_client::metrics::{counter::Counter, family::Family};
use std::sync::Arc;
use vtrack_bus::Subscriber;
use vtrack_model::Config;

/// Opens the store and starts the tasks that write and read it; returns where it stores, for the log.
pub async fn start(config: &Config, subscriber: Option<Subscriber>, pieces: &mut Pieces) -> anyhow::Result<String> {
    let Some(subscriber) = subscriber else {
        return Ok("none (ingest only)".into());
    };
    let metrics = ProcessMetrics::register(&mut pieces.registry);
    let wake = Arc::new(tokio::sync::Notify::new());
    let rules = pipeline::Rules::from_config(config, wake.clone())?;
    let mut store = store::open(config).await?;
    let outbox = Outbox::of(&store, subscriber.owned_partitions())?;
    if let Some(followup) = config.sla.followup()? {
        let deadline = crate::followup::Deadline {
            rules: rules.batch.clone(),
            top_stage: config.scoring.stages_ascending().last().map(|(name, _)| name.clone()).unwrap_or_default(),
            followup,
            owned: subscriber.owned_partitions(),
            wake: wake.clone(),
        };
        let stop = pieces.tasks.stop();
        pieces.tasks.spawn("follow-up deadlines", crate::followup::run(store.another()?, deadline, stop));
    }
    if config.digest.enabled {
        start_digests(config, &rules.batch, &store, subscriber.owned_partitions(), wake.clone(), pieces)?;
    }
    let where_stored = store.describe();
    // Accounts stored under the old key rule move to their new keys before anything is written.
    crate::rekey::at_start(&mut store, config).await;
    warn_if_scoring_changed(&mut store, &rules).await?;
    let tasks = &mut pieces.tasks;
    if let (Some(ch_store), Some(ch)) = (store.clickhouse(), &config.clickhouse) {
        if ch.retention_days > 0 {
            tasks.spawn("retention", crate::retention::run(ch_store.clone(), ch.retention_days, tasks.stop()));
        }
    }
    if let Some(lag) = subscriber.consumer_lag() {
        let stop = tasks.stop();
        tasks.spawn_aborted(consumer_lag_metrics(lag, &mut pieces.registry, stop));
    }
    let health = pieces.health.clone();
    tasks.spawn("processing", pipeline::run(subscriber, store, rules, metrics, health, tasks.stop()));
    let hooks = config.receivers();
    if !hooks.is_empty() {
        let sender = vtrack_alert::Sender::new().context("cannot set up the webhook client")?;
        let opts = vtrack_alert::DeliveryOptions::default();
        let stop = tasks.stop();
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        pieces.registry.register(
            "vtrack_webhook_attempts",
            "Webhook delivery attempts by outcome (delivered, retry, failed: given up)",
            outcomes.clone(),
        );
        for outcome in ["delivered", "retry", "failed"] {
            let _ = outcomes.get_or_create(&OutcomeLabels { outcome });
        }
        let lag = vtrack_alert::DeliveryMetrics::register(&mut pieces.registry);
        match outbox {
            Outbox::Sqlite(o) => tasks.spawn(
                "webhook delivery",
                vtrack_alert::run_deliveries(Counted(o, outcomes), hooks, sender, opts, lag, wake, stop),
            ),
            Outbox::ClickHouse(o) => tasks.spawn(
                "webhook delivery",
                vtrack_alert::run_deliveries(Counted(*o, outcomes), hooks, sender, opts, lag, wake, stop),
            ),
        }
    }
    Ok(where_stored)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// An outbox that counts the outcomes recorded in it, for `/metrics` (failing webhooks are alerted on).
struct Counted<O>(O, Family<OutcomeLabels, Counter>);

impl<O: vtrack_alert::Outbox> vtrack_alert::Outbox for Counted<O> {
    fn due(
        &mut self,
        webhooks: std::ops::Range<usize>,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<vtrack_alert::Delivery>, String> {
        self.0.due(webhooks, now_ms, limit)
    }
    fn delivered(&mut self, id: &str, attempts: u32, status: u16, now_ms: i64) -> Result<(), String> {
        self.1.get_or_create(&OutcomeLabels { outcome: "delivered" }).inc();
        self.0.delivered(id, attempts, status, now_ms)
    }
    fn retry_at(&mut self, id: &str, attempts: u32, next_ms: i64, error: &str) -> Result<(), String> {
        self.1.get_or_create(&OutcomeLabels { outcome: "retry" }).inc();
        self.0.retry_at(id, attempts, next_ms, error)
    }
    fn failed(&mut self, id: &str, attempts: u32, error: &str) -> Result<(), String> {
        self.1.get_or_create(&OutcomeLabels { outcome: "failed" }).inc();
        self.0.failed(id, attempts, error)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PartitionLabels {
    partition: i32,
}

/// Mirrors the consumer's lag per partition into `/metrics` every 5 s (librdkafka's statistics interval),
/// until `stop`. Partitions this member no longer holds drop out.
fn consumer_lag_metrics(
    lag: vtrack_bus::kafka::ConsumerLag,
    registry: &mut prometheus_client::registry::Registry,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> {
    use prometheus_client::metrics::{family::Family, gauge::Gauge};
    let gauges = Family::<PartitionLabels, Gauge>::default();
    registry.register(
        "vtrack_kafka_consumer_lag",
        "Messages behind the end of each partition this processor holds",
        gauges.clone(),
    );
    async move {
        loop {
            let now = lag.lock().map(|l| l.clone()).unwrap_or_default();
            gauges.clear();
            for (partition, behind) in now {
                gauges.get_or_create(&PartitionLabels { partition }).set(behind);
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                () = crate::shutdown::stopped(&mut stop) => return,
            }
        }
    }
}

/// Says so when accounts in the store were scored with another scoring config than this one: processing
/// recomputes each from its history when it next gets events; `vtrack rescore` does them all at once.
async fn warn_if_scoring_changed(store: &mut vtrack_store::Store, rules: &pipeline::Rules) -> anyhow::Result<()> {
    let fingerprint = rules.batch.scorer.fingerprint();
    let stale = store.accounts_scored_otherwise(fingerprint).await.context("cannot read the accounts' scoring")?;
    if stale > 0 {
        tracing::warn!(
            accounts = stale,
            scoring = fingerprint,
            "these accounts were scored with another scoring config (or by an older vtrack): each is rescored \
             from its history when it next gets events; run `vtrack rescore` to rescore them all now"
        );
    }
    Ok(())
}

/// `[digest]`: the weekly digests on their timer, over their own connections to the store.
fn start_digests(
    config: &Config,
    rules: &vtrack_process::BatchRules,
    store: &vtrack_store::Store,
    owned: Option<vtrack_bus::kafka::OwnedPartitions>,
    wake: Arc<tokio::sync::Notify>,
    pieces: &mut Pieces,
) -> anyhow::Result<()> {
    let stages = config.scoring.stages_ascending();
    let mut sites = Vec::new();
    for site in &config.sites {
        sites.push((site.key.clone(), site.time_zone()?));
    }
    let digests = crate::digest::Digests {
        rules: rules.clone(),
        sites,
        weekday: config.digest.weekday()?,
        hour: config.digest.hour,
        // The funnel's base, as the dashboard's `/api/funnel` takes it.
        base_stage: config.scoring.base_stage.clone(),
        top_stage: stages.last().map(|(name, _)| name.clone()).unwrap_or_default(),
        followup: config.sla.followup()?,
        owned,
        wake,
    };
    let stop = pieces.tasks.stop();
    pieces.tasks.spawn("weekly digests", crate::digest::run(store.another()?, store.dashboard()?, digests, stop));
    Ok(())
}
