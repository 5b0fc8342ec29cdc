//! `vtrack`: one binary for every part of the pipeline. Each subcommand lives in `cmd/`; `wiring/` puts
//! a running process together from its config.

mod alerts;
mod auto_update;
mod client;
mod clock;
mod cmd;
mod digest;
mod enrich;
mod followup;
mod pipeline;
mod resolver;
mod retention;
mod shutdown;
mod status_http;
mod wiring;

use clap::{Parser, Subcommand};

/// Tells B2B websites which companies are visiting them, and tells sales when an account turns hot.
#[derive(Parser)]
#[command(name = "vtrack", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline in one process: ingest, queue, processing and the embedded SQLite store.
    Serve(cmd::serve::Args),
    /// Run only ingest, publishing enriched events to Kafka (`--kafka BROKERS`).
    Ingest(cmd::serve::Args),
    /// Run only processing: a Kafka consumer-group member writing to the store (ClickHouse with `--clickhouse`).
    Process(cmd::serve::Args),
    /// Serve only the dashboard and its API (`--clickhouse URL` or `--data-dir`).
    Api(cmd::serve::Args),
    /// Create or upgrade the ClickHouse schema and create the Kafka topic.
    Migrate(cmd::migrate::Args),
    /// Run `serve` with fixture data and replay synthetic traffic, to see companies identified right away.
    Demo(cmd::demo::Args),
    /// List accounts by interest score.
    Accounts(cmd::accounts::AccountsArgs),
    /// List alerts and their webhook deliveries.
    Alerts(cmd::accounts::AlertsArgs),
    /// Recompute every account's score from its history with the configured scoring (after changing it).
    Rescore(cmd::rescore::Args),
    /// Run read-only SQL over the store.
    Sql(cmd::sql::Args),
    /// Load a beacon endpoint with realistic traffic and report throughput and latency (loopback only unless
    /// `--allow-remote`).
    Loadgen(vtrack_loadgen::Args),
    /// Compile IP → company sources into one snapshot that loads in well under a second.
    BuildDb(cmd::build_db::Args),
    /// Resolve IP addresses to companies, one JSON object per IP (for debugging lookups).
    Resolve(cmd::resolve::Args),
    /// Show what reverse DNS concludes about IP addresses, check by check (what enrichment beside ingest does).
    Enrich(cmd::enrich::Args),
    /// Fetch the free IP data (AS ranges, countries) from the npm registry into the data dir.
    #[command(subcommand)]
    Data(cmd::data::Command),
    /// Score the network class rules on a hand-labelled set of ASes (`--eval fixtures/classify-eval.csv`).
    Classify(cmd::classify::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    cmd::init_tracing();
    if let Err(e) = clock::init_from_env() {
        eprintln!("vtrack: {}", report(&e));
        return std::process::ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Ingest(args) => cmd::roles::ingest(args),
        Command::Process(args) => cmd::roles::process(args),
        Command::Migrate(args) => cmd::migrate::run(args),
        Command::Api(args) => cmd::api::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Sql(args) => cmd::sql::run(args),
        Command::Rescore(args) => cmd::rescore::run(args),
        Command::Accounts(args) => cmd::accounts::accounts(args),
        Command::Alerts(args) => cmd::accounts::alerts(args),
        Command::BuildDb(args) => cmd::build_db::run(args),
        Command::Loadgen(args) => {
            vtrack_loadgen::run_blocking(&args).map(|r| print!("{}", r.render(args.format))).map_err(Into::into)
        }
        Command::Resolve(args) => cmd::resolve::run(args),
        Command::Enrich(args) => cmd::enrich::run(args),
        Command::Classify(args) => cmd::classify::run(args),
        Command::Data(command) => cmd::data::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vtrack: {}", report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each said once: a library error whose message already includes its source
/// (`"cannot read {path}: {source}"`) would otherwise print that source twice.
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::other("disk full");
        let e = anyhow::Error::new(vtrack_model::config::ConfigError::Read { path: "/x.toml".into(), source: io })
            .context("cannot start");
        assert_eq!(super::report(&e), "cannot start: cannot read config file /x.toml: disk full");
    }
}
