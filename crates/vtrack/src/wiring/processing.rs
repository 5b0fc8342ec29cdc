//! Step 2, processing, for a process that consumes the bus: the store, the loop from the bus into it,
//! webhook delivery from its outbox, and ClickHouse retention.

use super::store::{self, Outbox};
use super::Pieces;
use crate::pipeline::{self, ProcessMetrics, Sink};
use anyhow::Context;
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
    let rules = pipeline::Rules::from_config(config, wake.clone());
    let (mut sink, outbox) = store::open_for_processing(config, subscriber.owned_partitions()).await?;
    let where_stored = store::describe(&sink, config);
    warn_if_scoring_changed(&mut sink, &rules).await?;
    let tasks = &mut pieces.tasks;
    if let (Sink::ClickHouse(store), Some(ch)) = (&sink, &config.clickhouse) {
        if ch.retention_days > 0 {
            tasks.spawn("retention", crate::retention::run((**store).clone(), ch.retention_days, tasks.stop()));
        }
    }
    let health = pieces.health.clone();
    tasks.spawn("processing", pipeline::run(subscriber, sink, rules, metrics, health, tasks.stop()));
    if !config.alerts.webhooks.is_empty() {
        let sender = vtrack_alert::Sender::new().context("cannot set up the webhook client")?;
        let hooks = config.alerts.webhooks.clone();
        let opts = vtrack_alert::DeliveryOptions::default();
        let stop = tasks.stop();
        match outbox {
            Outbox::Sqlite(o) => {
                tasks.spawn("webhook delivery", vtrack_alert::run_deliveries(o, hooks, sender, opts, wake, stop))
            }
            Outbox::ClickHouse(o) => {
                tasks.spawn("webhook delivery", vtrack_alert::run_deliveries(*o, hooks, sender, opts, wake, stop))
            }
        }
    }
    Ok(where_stored)
}

/// Says so when accounts in the store were scored with another scoring config than this one: processing
/// recomputes each from its history when it next gets events; `vtrack rescore` does them all at once.
async fn warn_if_scoring_changed(sink: &mut Sink, rules: &pipeline::Rules) -> anyhow::Result<()> {
    let fingerprint = rules.batch.scorer.fingerprint();
    let stale = sink.accounts_scored_otherwise(fingerprint).await.context("cannot read the accounts' scoring")?;
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
