//! The IP → company source flags, shared by `serve`, `build-db`, `resolve` and `enrich`.

use anyhow::bail;
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

/// The sources of a command that only looks addresses up (`resolve`, `enrich`): source files, a snapshot,
/// or the data dir `vtrack data update` filled — one of the three.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct LookupArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// A snapshot from `vtrack build-db`, instead of the sources.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["companies", "mmdb", "asn_csv", "country_csv"])]
    pub db: Option<PathBuf>,
    /// The IP data `vtrack data update` put in this data dir, instead of the sources.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["companies", "mmdb", "asn_csv", "country_csv", "db"])]
    pub data_dir: Option<PathBuf>,
}

impl LookupArgs {
    /// The resolver config these flags name; `None` when they name no source.
    pub fn to_config(&self) -> anyhow::Result<Option<ResolveConfig>> {
        let db = match &self.data_dir {
            Some(dir) => {
                let snapshot = vtrack_data::snapshot_path(dir);
                if !snapshot.is_file() {
                    bail!(
                        "no IP data in {}: run `vtrack data update --data-dir {}` first",
                        dir.display(),
                        dir.display()
                    );
                }
                Some(snapshot)
            }
            None => self.db.clone(),
        };
        let cfg = self.sources.to_config(db);
        Ok(cfg.has_source().then_some(cfg))
    }
}
