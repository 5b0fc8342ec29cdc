//! `vtrack data update`: fetches the free IP data into the data dir, where `vtrack serve` finds it.
//!
//! ```sh
//! vtrack data update                                   # into ./vtrack-data/ip-data/
//! vtrack data update --data-dir /var/lib/vtrack --registry https://npm.internal.example
//! ```
//!
//! The work is [`vtrack_data::update`]'s; this reads the flags and prints what happened.

use std::path::PathBuf;

use anyhow::Context;
use vtrack_model::Config;

use super::with_default;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Download the latest AS ranges (@ip-location-db/asn: RouteViews and DB-IP, CC BY 4.0) and countries
    /// (@ip-location-db/geo-whois-asn-country) from the npm registry, check them and compile a snapshot in
    /// the data dir. A running `vtrack serve` on that data dir picks it up; on any failure the previous
    /// data stays.
    Update(UpdateArgs),
}

#[derive(clap::Args)]
pub struct UpdateArgs {
    /// TOML config file, read for `[server] data_dir`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "DIR",
          help = with_default("The data dir (the snapshot goes in its ip-data/)", Config::default().server.data_dir.display()))]
    pub data_dir: Option<PathBuf>,
    /// The npm registry to fetch from [default: $npm_config_registry, else https://registry.npmjs.org].
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Download and compile even when the installed versions are the latest.
    #[arg(long)]
    pub force: bool,
}

pub fn run(command: Command) -> anyhow::Result<()> {
    let Command::Update(args) = command;
    let mut config = super::config_file(args.config.as_deref())?;
    if let Some(dir) = args.data_dir {
        config.server.data_dir = dir;
    }
    let opts = vtrack_data::UpdateOptions {
        force: args.force,
        ..vtrack_data::UpdateOptions::new(&config.server.data_dir, vtrack_data::registry_url(args.registry.as_deref()))
    };
    let done = super::runtime()?
        .block_on(vtrack_data::update(&opts))
        .with_context(|| format!("IP data update into {} failed", config.server.data_dir.display()))?;
    let a = &done.attribution;
    let versions: Vec<String> = a.packages.iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
    if done.unchanged {
        eprintln!("IP data is up to date ({}): {}", versions.join(", "), done.snapshot.display());
    } else {
        eprintln!(
            "IP data updated ({}): {} ranges, {} records in {}\n{}",
            versions.join(", "),
            a.ranges,
            done.records,
            done.snapshot.display(),
            a.text()
        );
    }
    Ok(())
}
