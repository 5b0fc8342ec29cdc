//! One module per subcommand.

pub mod accounts;
pub mod api;
pub mod build_db;
pub mod classify;
pub mod data;
pub mod demo;
pub mod enrich;
pub mod migrate;
pub mod rescore;
pub mod resolve;
pub mod roles;
pub mod serve;
pub mod sources;
pub mod sql;
pub mod store_args;

/// The config file at `path`, or the defaults without one: what a command's flags are applied over.
pub fn config_file(path: Option<&std::path::Path>) -> anyhow::Result<vtrack_model::Config> {
    Ok(match path {
        Some(path) => vtrack_model::Config::load(path)?,
        None => vtrack_model::Config::default(),
    })
}

/// A flag's help, ending in the default it falls back to. Defaults live in the config crate
/// (`vtrack_model::Config::default()`); flags are `Option`s applied over the file, so they state none.
pub fn with_default(help: &str, default: impl std::fmt::Display) -> String {
    if help.is_empty() {
        format!("[default: {default}]")
    } else {
        format!("{help} [default: {default}]")
    }
}

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
