//! The load generator on its own, with the same options as `vtrack loadgen`:
//!
//! ```sh
//! cargo run --release -p vtrack-benches --example loadgen -- --target http://127.0.0.1:18180/v1/events --duration 5s
//! ```
//!
//! It needs nothing of vtrack's, so it builds in a fraction of the time of the binary and can load any
//! server that takes beacons; `benches/ingest.sh` falls back to it when the binary has no `loadgen`.

use clap::Parser;

#[derive(Parser)]
#[command(about = "Load a beacon endpoint with realistic traffic and report throughput and latency.")]
struct Cli {
    #[command(flatten)]
    args: vtrack_loadgen::Args,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match vtrack_loadgen::run_blocking(&cli.args) {
        Ok(report) => {
            print!("{}", report.render(cli.args.format));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
