//! The yardstick for `benches/ingest.sh`: HTTP handling set up like vtrack's ingest, and no work behind it.
//!
//! ```sh
//! cargo run --release -p vtrack-benches --example baseline-server -- --listen 127.0.0.1:18180
//! ```
//!
//! Answers `204` to any `POST` and `200 ok` to `GET /healthz`, on the same multi-threaded tokio runtime as
//! `vtrack serve`, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:18180")]
    listen: SocketAddr,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(cli.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cli.listen))?;
        eprintln!("baseline-server: listening on {}", listener.local_addr()?);
        vtrack_loadgen::baseline::serve(listener, stop_signal()).await;
        Ok(())
    })
}

/// Ctrl-C or SIGTERM, whichever comes first; a signal that cannot be watched is simply not waited for.
async fn stop_signal() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
