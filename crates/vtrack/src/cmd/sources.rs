//! The IP → company source flags, shared by `serve`, `build-db` and `resolve`.

use std::path::PathBuf;
use vtrack_model::config::ResolveConfig;

/// The three source layers, most specific first, and the country ranges. `--db` is not here: each command treats a snapshot
/// differently (`serve` prefers it, `resolve` refuses it beside sources, `build-db` writes one).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SourceArgs {
    /// The customer's own ranges, CSV `cidr,name,domain[,class]` (repeatable).
    #[arg(long, value_name = "FILE")]
    pub companies: Vec<PathBuf>,
    /// A MaxMind-format database: City, ASN, ISP, Enterprise, or any with an organisation field (repeatable).
    #[arg(long, value_name = "FILE")]
    pub mmdb: Vec<PathBuf>,
    /// AS-level ranges, CSV `start,end,asn,org` as in npm `@ip-location-db/asn` (repeatable).
    #[arg(long = "asn-csv", value_name = "FILE")]
    pub asn_csv: Vec<PathBuf>,
    /// Country ranges, CSV `start,end,country` as in npm `@ip-location-db/geo-whois-asn-country`: places
    /// only (repeatable).
    #[arg(long = "country-csv", value_name = "FILE")]
    pub country_csv: Vec<PathBuf>,
}

impl SourceArgs {
    /// Adds these files to a config's lists (flags add to the config file's, never replace them).
    pub fn add_to(&self, cfg: &mut ResolveConfig) {
        cfg.companies.extend(self.companies.iter().cloned());
        cfg.mmdb.extend(self.mmdb.iter().cloned());
        cfg.asn_csv.extend(self.asn_csv.iter().cloned());
        cfg.country_csv.extend(self.country_csv.iter().cloned());
    }

    /// A resolver config with just these sources.
    pub fn to_config(&self, db: Option<PathBuf>) -> ResolveConfig {
        let mut cfg = ResolveConfig { db, ..Default::default() };
        self.add_to(&mut cfg);
        cfg
    }
}
