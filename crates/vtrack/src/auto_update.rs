//! `[resolve] auto_update = "7d"`: `serve` runs `vtrack data update` into its data dir on that schedule.
//!
//! A task of its own beside ingest, never on a request's path: the download is async and the compile runs
//! on the blocking pool. A success rewrites the snapshot, which the resolver's watcher
//! ([`crate::resolver::watch`]) notices and loads like any changed source; a failure keeps the last good
//! data, is logged with its reason, counted in `/metrics` and retried sooner than the full period.
//!
//! The schedule counts from the installed data's `updated_at`, so a restart does not refetch and a process
//! started on a data dir that is months old updates at once. The registry is the one `vtrack data update`
//! would use (`npm_config_registry`, else npm's).
//!
//! On shutdown the task is dropped; an update caught in its compile step finishes it first (the blocking
//! pool cannot be interrupted), which can hold the exit back by the seconds a compile takes, and installs
//! nothing half-written either way.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// How soon a failed update is tried again, at most (never later than the configured period).
const RETRY: Duration = Duration::from_secs(3600);

/// The background updater of one data dir.
pub struct AutoUpdate {
    data_dir: PathBuf,
    every: Duration,
    updates: Counter,
    failures: Counter,
}

impl AutoUpdate {
    /// Registers `vtrack_ip_data_updates` and `vtrack_ip_data_update_failures`.
    pub fn new(data_dir: &Path, every: Duration, registry: &mut Registry) -> AutoUpdate {
        let (updates, failures) = (Counter::default(), Counter::default());
        registry.register(
            "vtrack_ip_data_updates",
            "Scheduled IP data updates that installed new data or found it current",
            updates.clone(),
        );
        registry.register(
            "vtrack_ip_data_update_failures",
            "Scheduled IP data updates that failed (the previous data stays in use)",
            failures.clone(),
        );
        AutoUpdate { data_dir: data_dir.to_path_buf(), every, updates, failures }
    }

    /// Updates whenever one is due, until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let opts = vtrack_data::UpdateOptions::new(&self.data_dir, vtrack_data::registry_url(None));
        let mut wait = self.first_wait();
        tracing::info!(every = %humantime(self.every), next_in = %humantime(wait), "IP data auto-update on");
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = crate::shutdown::stopped(&mut stop) => return,
            }
            wait = match vtrack_data::update(&opts).await {
                Ok(done) => {
                    self.updates.inc();
                    if done.unchanged {
                        tracing::info!("IP data auto-update: already the latest");
                    }
                    self.every
                }
                Err(e) => {
                    self.failures.inc();
                    let retry = RETRY.min(self.every);
                    tracing::error!(error = %e, retry_in = %humantime(retry), "IP data auto-update failed; keeping the previous data");
                    retry
                }
            };
        }
    }

    /// Time until the installed data is `every` old; none when there is no data.
    fn first_wait(&self) -> Duration {
        let attribution = vtrack_data::Attribution::read(&vtrack_data::attribution_path(&self.data_dir));
        let Ok(Some(a)) = attribution else { return Duration::ZERO };
        if !vtrack_data::snapshot_path(&self.data_dir).is_file() {
            return Duration::ZERO;
        }
        let age = Duration::from_millis(vtrack_model::time::now_ms().saturating_sub(a.updated_at_ms).max(0) as u64);
        self.every.saturating_sub(age)
    }
}

/// Whole seconds, in humantime's words ("6days 23h 59m 58s").
fn humantime(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(d.as_secs()))
}
