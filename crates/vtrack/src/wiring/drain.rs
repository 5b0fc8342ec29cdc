//! Step 4, drain, once the edge has stopped taking requests and finished those in flight: what ingest
//! accepted reaches the bus (the Kafka producer flushes), then every background task is told to stop and
//! finishes what it holds (processing writes what is still queued).

use anyhow::Context;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vtrack_bus::kafka::KafkaPublisher;

/// How long a stopping ingest waits for Kafka to take what it accepted.
const KAFKA_FLUSH: Duration = Duration::from_secs(30);

/// A process's background tasks and the flag that stops them.
pub struct Tasks {
    stop: watch::Sender<bool>,
    /// Awaited when draining: they finish their work once told to stop.
    finished: Vec<(&'static str, JoinHandle<()>)>,
    /// Cut off once the others are done (a reload half-way has nothing to hand over).
    aborted: Vec<JoinHandle<()>>,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks { stop: watch::Sender::new(false), finished: Vec::new(), aborted: Vec::new() }
    }
}

impl Tasks {
    /// The flag a task watches (with [`crate::shutdown::stopped`]) to know when to finish.
    pub fn stop(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Runs `task`; draining waits for it and reports it by `name` if it panicked.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.finished.push((name, tokio::spawn(task)));
    }

    /// Runs `task` until the others have finished draining.
    pub fn spawn_aborted(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.aborted.push(tokio::spawn(task));
    }
}

/// Flushes the Kafka `producer`, stops the `tasks` and waits for them.
pub async fn drain(producer: Option<KafkaPublisher>, tasks: Tasks) -> anyhow::Result<()> {
    if let Some(p) = producer {
        let left = tokio::task::spawn_blocking(move || p.close_and_flush(KAFKA_FLUSH))
            .await
            .context("the Kafka flush task failed")?;
        if left > 0 {
            tracing::error!(undelivered = left, "kafka: events accepted but not delivered before shutdown");
        }
    }
    tasks.stop.send_replace(true);
    for (name, task) in tasks.finished {
        task.await.with_context(|| format!("the {name} task failed"))?;
    }
    for task in tasks.aborted {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}
