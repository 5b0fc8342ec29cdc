//! `vtrack api`: the dashboard and its API as a service of their own, for the Kafka + ClickHouse setup
//! where no process runs both ingest and the store.

use super::serve::Args;
use crate::wiring::edge;

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.to_config()?;
    super::runtime()?.block_on(async move {
        // Ingest resolves with the data dir's IP data when no source is configured: credit it then.
        let dashboard = edge::dashboard(&config, !config.resolve.has_source()).await?;
        let (listener, addr) = edge::bind(&config).await?;
        let store = match &config.clickhouse {
            Some(c) => vtrack_store::clickhouse::redact(&c.url),
            None => config.server.data_dir.display().to_string(),
        };
        tracing::info!(%addr, %store, "vtrack api: dashboard at http://{addr}/");
        let registry = prometheus_client::registry::Registry::default();
        let server = &config.server;
        crate::status_http::serve(
            listener,
            server,
            &config.limits,
            registry,
            Default::default(),
            Some(dashboard),
            crate::shutdown::signal(),
        )
        .await;
        Ok(())
    })
}
