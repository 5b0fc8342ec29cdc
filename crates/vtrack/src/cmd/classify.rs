//! `vtrack classify`: how well the network class model does on hand-labelled sets of real ASes (`--eval`),
//! fitting it (`--train`), and why one AS got its class (`--explain`).
//!
//! `--eval` prints overall accuracy, accuracy per class, the confusion matrix and the misclassified rows, so
//! a change can be measured before it ships. Parsing and scoring are [`vtrack_resolve::eval`]'s, fitting is
//! [`vtrack_resolve::class_train`]'s; this only prints. `scripts/classify-eval.sh` runs it with the real AS
//! and country data:
//!
//! ```sh
//! vtrack classify --eval fixtures/classify-random.csv \
//!     --asn-csv .cache/ip-location-db/asn/asn-ipv4.csv --asn-csv .cache/ip-location-db/asn/asn-ipv6.csv \
//!     --country-csv .cache/ip-location-db/country/geo-whois-asn-country-ipv4.csv
//! vtrack classify --explain AS3320 --asn-csv … --country-csv …
//! ```
//!
//! Without `--asn-csv` only the name rules are scored (what organisations of an MMDB or a customer's CSV
//! get).
//!
//! A random sample (`fixtures/classify-random.csv`, with `sample,stratum,half` columns) is reported half by
//! half: for each, the size draw (overall, per class, per stratum, the confusion matrix and the share of
//! ISP and hosting networks called `business`) and the address draw (its accuracy is the address-weighted
//! accuracy). The misses of the `test` half are not printed unless `--show-test-misses` is given: that
//! half is for measuring, and a rule written for its rows would make its figure meaningless.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use std::net::IpAddr;

use vtrack_model::config::ResolveConfig;
use vtrack_resolve::as_profile::AsProfiles;
use vtrack_resolve::class_train::{self, TrainConfig};
use vtrack_resolve::classify::classify_profiled;
use vtrack_resolve::eval::{self, Half, Miss, Report, Summary};
use vtrack_resolve::Table;

/// How to print the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON object (the fields of `vtrack_resolve::eval::Report`).
    Json,
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("mode").required(true).args(["eval", "train", "explain"]))]
pub struct Args {
    /// A hand-labelled CSV `asn,name,country,class,reason[,sample,stratum,half]` (e.g.
    /// fixtures/classify-random.csv) to score the classifier on.
    #[arg(long, value_name = "FILE")]
    pub eval: Option<PathBuf>,
    /// Fit the class model on labelled sets (repeatable; the rows of a random sample's `test` half are left
    /// out) and write it to `--out` (crates/vtrack-resolve/data/class-model.tsv is the committed one).
    #[arg(long, value_name = "FILE")]
    pub train: Vec<PathBuf>,
    /// Where `--train` writes the model.
    #[arg(long, value_name = "FILE", requires = "train")]
    pub out: Option<PathBuf>,
    /// Print each signal of one AS's class decision (an AS number, `AS123`, or an address in the AS data).
    #[arg(long, value_name = "ASN|IP")]
    pub explain: Option<String>,
    /// AS range files (`start,end,asn,org`, as `--asn-csv` of `vtrack serve`) to compute the footprints
    /// from; repeat for IPv4 and IPv6. Without them only the names are scored.
    #[arg(long = "asn-csv", value_name = "FILE")]
    pub asn_csv: Vec<PathBuf>,
    /// Country range files (`start,end,country`, as `--country-csv` of `vtrack serve`): where each AS's
    /// addresses are placed.
    #[arg(long = "country-csv", value_name = "FILE")]
    pub country_csv: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also print the misses of a random sample's `test` half (after it has been reported: a fresh test
    /// half should then be drawn and labelled).
    #[arg(long)]
    pub show_test_misses: bool,
    /// With `--explain`: the store whose evidence about the network (its reverse DNS, its traffic) is
    /// weighed too, when it has some.
    #[command(flatten)]
    pub store: super::store_args::StoreArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let profiles = if args.asn_csv.is_empty() {
        None
    } else {
        Some(AsProfiles::from_files(&args.asn_csv, &args.country_csv).context("cannot profile the AS data")?)
    };
    if let Some(target) = &args.explain {
        return explain(target, &args, profiles.as_ref());
    }
    if !args.train.is_empty() {
        return train(&args, profiles.as_ref());
    }
    let Some(path) = &args.eval else { anyhow::bail!("one of --eval, --train or --explain is needed") };
    let set = eval::read_set(path)?;
    let classifier = |name: &str, asn: u32| classify_profiled(name, asn, profiles.as_ref().and_then(|p| p.get(asn)));
    let text = if set.rows.iter().any(|r| r.drawn.is_some()) {
        let mut summary = eval::summarize(&set, classifier);
        if !args.show_test_misses {
            // Not even in JSON: what is not shown cannot be tuned on.
            for h in summary.halves.iter_mut().filter(|h| h.half == Half::Test) {
                h.by_size.misses.clear();
                h.by_addresses.misses.clear();
            }
        }
        match args.format {
            Format::Table => render_summary(&summary, args.show_test_misses),
            Format::Json => serde_json::to_string_pretty(&summary).context("cannot encode the report")? + "\n",
        }
    } else {
        let report = eval::evaluate_with(&set.rows, classifier);
        match args.format {
            Format::Table => render_table(&report),
            Format::Json => serde_json::to_string_pretty(&report).context("cannot encode the report")? + "\n",
        }
    };
    print!("{text}");
    Ok(())
}

/// `--train`: fits the model on the rows of the files, never on a random sample's test half.
fn train(args: &Args, profiles: Option<&AsProfiles>) -> anyhow::Result<()> {
    let profiles = profiles.context("--train needs the AS data (--asn-csv, and --country-csv)")?;
    let mut rows = Vec::new();
    for path in &args.train {
        for row in eval::read(path)? {
            if row.drawn.as_ref().is_none_or(|d| d.half != Half::Test) {
                rows.push(row);
            }
        }
    }
    let cfg = TrainConfig::default();
    let model = class_train::train(&rows, profiles, &cfg);
    let files: Vec<String> = args.train.iter().map(|p| p.display().to_string()).collect();
    let header = format!(
        "vtrack network class model (crates/vtrack-resolve/src/class_model.rs), written by\n  vtrack classify --train {} --asn-csv … --country-csv …\nfrom {} labelled rows (test halves left out); {:?}.\nColumns: signal, then its weight for business, isp, hosting, education, government.",
        files.join(" --train "),
        rows.len(),
        cfg
    );
    let text = model.to_text(&header);
    match &args.out {
        Some(out) => std::fs::write(out, &text).with_context(|| format!("cannot write {}", out.display()))?,
        None => print!("{text}"),
    }
    eprintln!("trained on {} rows: {} signals", rows.len(), text.lines().count());
    Ok(())
}

/// `--explain`: an AS's name, footprint and decision, signal by signal.
fn explain(target: &str, args: &Args, profiles: Option<&AsProfiles>) -> anyhow::Result<()> {
    let cfg =
        ResolveConfig { asn_csv: args.asn_csv.clone(), country_csv: args.country_csv.clone(), ..Default::default() };
    let table = Table::build(&cfg).context("cannot load the AS data")?;
    let asn = match target.trim_start_matches("AS").trim_start_matches("as").parse::<u32>() {
        Ok(asn) => asn,
        Err(_) => {
            let ip: IpAddr =
                target.parse().with_context(|| format!("{target:?} is neither an AS number nor an address"))?;
            table.resolve(ip).asn
        }
    };
    let name = table.as_name(asn).with_context(|| format!("AS{asn} is not in the AS data"))?;
    let profile = profiles.and_then(|p| p.get(asn));
    let stored = stored_evidence(&args.store, asn)?;
    let evidence =
        stored.as_ref().map(|n| vtrack_resolve::evidence::evidence_of(&n.ptr, &n.traffic)).unwrap_or_default();
    let d = vtrack_resolve::class_model::decide(&name, asn, profile, &evidence);
    if args.format == Format::Json {
        let out = serde_json::json!({
            "asn": asn, "name": name, "profile": profile, "evidence": stored, "decision": d
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("AS{asn}  {name}");
    if let Some(p) = profile {
        println!(
            "footprint: {} IPv4 addresses in {} ranges, {} IPv6 ranges (widest /{}), {} countries (main {}), {} AS(es) of this name",
            p.v4_addresses, p.v4_ranges, p.v6_ranges, p.v6_widest, p.countries, p.country_code(), p.siblings
        );
    }
    if let Some(n) = &stored {
        let p = &n.ptr;
        println!(
            "evidence: reverse DNS of {} addresses: {} generated, {} servers, {} organisation{}",
            p.looked_up,
            p.generated,
            p.servers,
            p.organisation,
            if n.ptr_domain.is_empty() { String::new() } else { format!(" (all in {})", n.ptr_domain) }
        );
        let t = &n.traffic;
        println!(
            "evidence: traffic on its busiest site-day: {} visitors from {} /24s in {} cities",
            t.visitors, t.networks, t.cities
        );
        println!("evidence: without it {} ({} % sure); account key {}", n.base_class, n.base_confidence, n.key);
    }
    println!("class: {} ({} % sure)\n\nsignals (weight toward {}, strongest first):", d.class, d.confidence, d.class);
    for s in &d.signals {
        println!("  {:>+7.2}  {}", s.toward, s.name);
    }
    Ok(())
}

/// The evidence the store holds about AS `asn`'s network, if it holds any: the embedded store of the
/// data dir when there is one (read-only), or ClickHouse when it is named.
fn stored_evidence(
    store: &super::store_args::StoreArgs,
    asn: u32,
) -> anyhow::Result<Option<vtrack_model::NetworkEvidence>> {
    let config = store.to_config()?;
    let all = match &config.clickhouse {
        Some(c) => {
            let ch = vtrack_store::ClickHouseStore::open(c)?;
            super::runtime()?.block_on(ch.all_network_evidence()).context("cannot read network_evidence")?
        }
        None => match vtrack_store::SqliteStore::open_read_only(&config.server.data_dir) {
            // A store written by an older version has no such table: it found nothing either.
            Ok(s) => match s.all_network_evidence() {
                Err(e) if e.to_string().contains("no such table") => Vec::new(),
                other => other.context("cannot read network_evidence")?,
            },
            // No store there (yet): nothing found about any network.
            Err(vtrack_store::StoreError::Missing(_)) => Vec::new(),
            Err(e) => return Err(e).context("cannot open the store"),
        },
    };
    Ok(all.into_iter().find(|n| n.asn == asn))
}

/// A random sample's report: each half, its size draw in full and its address draw's accuracy.
fn render_summary(s: &Summary, show_test_misses: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "drawn but not labelled (skipped): {}", s.skipped);
    for h in &s.halves {
        let half = match h.half {
            Half::Dev => "dev",
            Half::Test => "test",
            Half::Train => "train (fitted on: in-sample)",
        };
        let shown = h.half != Half::Test || show_test_misses;
        let _ = writeln!(out, "\n=== {half} half: drawn by size stratum ===");
        out.push_str(&render_report(&h.by_size, shown));
        let a = &h.by_addresses;
        let _ = writeln!(out, "\n=== {half} half: drawn by addresses ===");
        let _ = writeln!(out, "address-weighted accuracy: {}/{} = {:.1} %", a.correct, a.total, a.accuracy);
        let _ = writeln!(
            out,
            "ISP and hosting called business: {}/{} = {:.1} %",
            a.leak.called_business,
            a.leak.non_business,
            a.leak.percent()
        );
        if shown {
            out.push_str(&render_misses(&a.misses));
        } else {
            let _ = writeln!(out, "\nmisclassified: {} (not shown: --show-test-misses)", a.total - a.correct);
        }
    }
    out
}

/// The report as aligned text: summary, per class, confusion matrix, misses.
fn render_table(r: &Report) -> String {
    render_report(r, true)
}

/// The report as aligned text, with its misses or only their count.
fn render_report(r: &Report, show_misses: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "overall accuracy: {}/{} = {:.1} %", r.correct, r.total, r.accuracy);
    let _ = writeln!(out, "\nper class:");
    let _ = writeln!(out, "  {:<11} {:>5} {:>7} {:>7}", "class", "count", "correct", "%");
    for s in &r.per_class {
        let _ = writeln!(out, "  {:<11} {:>5} {:>7} {:>7.1}", s.class.as_str(), s.count, s.correct, s.percent());
    }
    let _ = writeln!(out, "\nconfusion matrix (rows: expected, columns: predicted):");
    let _ = write!(out, "  {:<11}", "");
    for c in r.classes {
        let _ = write!(out, " {:>10}", c.as_str());
    }
    out.push('\n');
    for (i, expected) in r.classes.iter().enumerate() {
        if r.confusion[i].iter().sum::<usize>() == 0 {
            continue;
        }
        let _ = write!(out, "  {:<11}", expected.as_str());
        for n in r.confusion[i] {
            let _ = write!(out, " {n:>10}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\nISP and hosting called business: {}/{} = {:.1} %",
        r.leak.called_business,
        r.leak.non_business,
        r.leak.percent()
    );
    if !r.per_stratum.is_empty() {
        let _ = writeln!(out, "\nper size stratum:");
        for s in &r.per_stratum {
            let _ = writeln!(out, "  {:<11} {:>5} {:>7} {:>7.1}", s.stratum, s.count, s.correct, s.percent());
        }
    }
    if show_misses {
        out.push_str(&render_misses(&r.misses));
    } else {
        let _ = writeln!(out, "\nmisclassified: {} (not shown: --show-test-misses)", r.total - r.correct);
    }
    out
}

/// The misclassified rows, one a line.
fn render_misses(misses: &[Miss]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nmisclassified ({}):", misses.len());
    if !misses.is_empty() {
        let name_width = misses.iter().map(|m| m.name.chars().count()).max().unwrap_or(4).clamp(4, 50);
        let _ = writeln!(out, "  {:>7}  {:<name_width$}  {:<10} {:<10} reason", "asn", "name", "expected", "got");
        for m in misses {
            let name: String = if m.name.chars().count() > name_width {
                m.name.chars().take(name_width - 1).chain(['…']).collect()
            } else {
                m.name.clone()
            };
            let _ = writeln!(
                out,
                "  {:>7}  {:<name_width$}  {:<10} {:<10} {}",
                m.asn,
                name,
                m.expected.as_str(),
                m.got.as_str(),
                m.reason
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_summary_matrix_and_misses() {
        let csv = "asn,name,country,class,reason\n64500,Example Broadband,DE,isp,access\n64501,Acme Cloud Robotics,US,business,robots\n";
        let rows = eval::parse(csv.as_bytes(), "<memory>").unwrap();
        let text = render_table(&eval::evaluate(&rows));
        assert!(text.starts_with("overall accuracy: 1/2 = 50.0 %\n"), "{text}");
        assert!(text.contains("  business        1       0     0.0\n"), "{text}");
        assert!(text.contains("misclassified (1):"), "{text}");
        assert!(text.contains("64501  Acme Cloud Robotics  business   hosting    robots"), "{text}");
        // Deterministic: the same rows print the same text.
        assert_eq!(text, render_table(&eval::evaluate(&rows)));
    }
}
