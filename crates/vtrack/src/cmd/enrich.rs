//! `vtrack enrich IP…`: what enrichment (reverse DNS, and RDAP when turned on) would conclude about each address, and why — every check, passed
//! or failed — the way the enrichment stage beside ingest runs it.
//!
//! ```sh
//! vtrack enrich --data-dir ./vtrack-data 198.51.100.7
//! vtrack enrich --asn-csv fixtures/asn.csv --rdns-server 127.0.0.1:5353 192.0.2.10
//! vtrack enrich --no-rdns --rdap 81.2.69.160             # the registry's record only
//! ```

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use vtrack_enrich::{investigate, worth_a_lookup, Lookups, Outcome};
use vtrack_model::event::CompanyInfo;
use vtrack_resolve::Table;

#[derive(clap::Args)]
pub struct Args {
    /// TOML config file: its `[resolve]` sources and `[enrich]` DNS servers are used.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub lookup: crate::cmd::sources::LookupArgs,
    #[command(flatten)]
    pub enrich: crate::cmd::serve::EnrichArgs,
    /// Addresses to investigate.
    #[arg(value_name = "IP", required = true)]
    pub ips: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = super::config_file(args.config.as_deref())?;
    let sources = match args.lookup.to_config()? {
        Some(cfg) => Some(cfg),
        None => config.resolve.has_source().then(|| config.resolve.clone()),
    };
    let table = match &sources {
        Some(cfg) => Table::build(cfg).context("cannot load the IP → company sources")?,
        None => Table::empty(),
    };
    let mut config = config;
    args.enrich.add_to(&mut config);
    let ips: Vec<IpAddr> = args
        .ips
        .iter()
        .map(|s| s.trim().parse::<IpAddr>().with_context(|| format!("{s:?} is not an IPv4 or IPv6 address")))
        .collect::<Result<_, _>>()?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let Some(lookups) = crate::enrich::lookups(&config.enrich)? else {
            bail!("reverse DNS and RDAP are both off: nothing to investigate with");
        };
        let mut found = 0;
        for ip in ips {
            let network = table.resolve(ip).info.clone();
            found += usize::from(explain(&lookups, ip, &network, config.enrich.learned_ttl).await);
        }
        if found == 0 && sources.is_none() {
            eprintln!("(no IP sources given: every address was treated as unknown; see --data-dir, --asn-csv)");
        }
        anyhow::Ok(())
    })
}

/// Prints one address's investigation; true when it names an organisation.
async fn explain(lookups: &Lookups, ip: IpAddr, network: &CompanyInfo, ttl: Duration) -> bool {
    let named =
        if network.company_name.is_empty() { "no organisation".to_string() } else { network.company_name.clone() };
    println!("{ip}");
    println!(
        "  network   {named} ({}, as{}, key {:?})",
        network.network_class.as_str(),
        network.asn,
        network.company_domain
    );
    if let Err(why) = worth_a_lookup(network) {
        println!("  ✗ worth a lookup: {why}");
        println!("  = not looked up");
        return false;
    }
    println!("  ✓ worth a lookup: the hot path cannot name an organisation of its own");
    let finding = investigate(lookups, ip, network, vtrack_model::time::now_ms(), ttl).await;
    for c in &finding.checks {
        println!("  {} {:<9} {}", if c.passed { "✓" } else { "✗" }, c.name, c.detail);
    }
    match finding.outcome {
        Outcome::Learned(r) => {
            println!(
                "  = {} ({}, {}, confidence {}), learns {}",
                r.company_domain,
                r.network_class.as_str(),
                r.source.as_str(),
                r.confidence,
                r.network
            );
            true
        }
        Outcome::Refused(reason) => {
            println!("  = stays {} (refused: {reason})", network.network_class.as_str());
            false
        }
        Outcome::NotFound => {
            println!("  = stays {} (no PTR record)", network.network_class.as_str());
            false
        }
        Outcome::Failed(f) => {
            println!("  = stays {} for now ({f}; retried later)", network.network_class.as_str());
            false
        }
        Outcome::RdapFailed(f) => {
            println!("  = stays {} for now ({f}; retried later)", network.network_class.as_str());
            false
        }
    }
}
