//! Retention: drops whole days of ClickHouse events and sessions once they are older than configured.

use std::time::Duration;
use tokio::sync::watch;
use vtrack_store::ClickHouseStore;

/// How often old partitions are looked for.
const EVERY: Duration = Duration::from_secs(3600);

/// Drops old partitions now and then every hour, until `stop`.
pub async fn run(store: ClickHouseStore, days: u32, mut stop: watch::Receiver<bool>) {
    loop {
        let now = vtrack_model::time::now_ms().div_euclid(1000);
        match store.drop_older_than(days, now).await {
            Ok(dropped) if !dropped.is_empty() => tracing::info!(?dropped, days, "retention: dropped old partitions"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention: could not drop old partitions; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = crate::shutdown::stopped(&mut stop) => return,
        }
    }
}
