//! One module per subcommand.

pub mod accounts;
pub mod api;
pub mod build_db;
pub mod demo;
pub mod migrate;
pub mod rescore;
pub mod resolve;
pub mod roles;
pub mod serve;
pub mod sources;
pub mod sql;
pub mod store_args;

/// The async runtime every command that does I/O runs on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Logs go to stderr through `tracing`; `RUST_LOG` filters them (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
