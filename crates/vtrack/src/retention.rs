//! Retention: drops whole days of ClickHouse events and sessions once they are older than configured.

use std::time::Duration;
use tokio::sync::watch;
use vtrack_store::ClickHouseStore;

/// How often old partitions are looked for.
const EVERY: Duration = Duration::from_secs(3600);

/// Drops old partitions now and then every hour, until `stop`.
pub async fn run(store: ClickHouseStore, days: u32, mut stop: watch::Receiver<bool>) {
    loop {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        match store.drop_older_than(days, now).await {
            Ok(dropped) if !dropped.is_empty() => tracing::info!(?dropped, days, "retention: dropped old partitions"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention: could not drop old partitions; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = crate::resolver::stopped(&mut stop) => return,
        }
    }
}
