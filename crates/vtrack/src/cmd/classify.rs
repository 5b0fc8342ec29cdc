//! `vtrack classify --eval FILE`: how well the network class rules do on a hand-labelled set of real ASes.
//!
//! Prints overall accuracy, accuracy per class, the confusion matrix and the misclassified rows, so a
//! change to the rules can be measured before it ships. Parsing and scoring are
//! [`vtrack_resolve::eval`]'s; this only prints.
//!
//! ```sh
//! vtrack classify --eval fixtures/classify-eval.csv
//! vtrack classify --eval fixtures/classify-eval.csv --format json
//! # with each AS's footprint, as the table build computes it from the AS data:
//! vtrack classify --eval fixtures/classify-holdout.csv --profiles fixtures/classify-profiles.csv
//! vtrack classify --eval fixtures/classify-holdout.csv \
//!     --asn-csv .cache/ip-location-db/asn/asn-ipv4.csv --asn-csv .cache/ip-location-db/asn/asn-ipv6.csv
//! ```
//!
//! Without `--profiles` or `--asn-csv` only the name rules are scored.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use vtrack_resolve::as_profile::AsProfiles;
use vtrack_resolve::eval::{self, Report};

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
pub struct Args {
    /// A hand-labelled CSV `asn,name,country,class,reason` (e.g. fixtures/classify-eval.csv) to score the
    /// classifier on.
    #[arg(long, value_name = "FILE")]
    pub eval: PathBuf,
    /// AS footprints `asn,v4_addresses,v4_ranges,v6_ranges` (e.g. fixtures/classify-profiles.csv, written
    /// by scripts/classify-profiles.sh), so the rules see each AS's ranges as the table build does.
    #[arg(long, value_name = "FILE", conflicts_with = "asn_csv")]
    pub profiles: Option<PathBuf>,
    /// AS range files (`start,end,asn,org`, as `--asn-csv` of `vtrack serve`) to compute the footprints
    /// from; repeat for IPv4 and IPv6.
    #[arg(long = "asn-csv", value_name = "FILE")]
    pub asn_csv: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rows = eval::read(&args.eval)?;
    let profiles = match (&args.profiles, args.asn_csv.is_empty()) {
        (Some(path), _) => Some(AsProfiles::read(path)?),
        (None, false) => Some(AsProfiles::from_asn_csv(&args.asn_csv).context("cannot profile the AS data")?),
        (None, true) => None,
    };
    let report = match &profiles {
        Some(profiles) => eval::evaluate_profiled(&rows, profiles),
        None => eval::evaluate(&rows),
    };
    let text = match args.format {
        Format::Table => render_table(&report),
        Format::Json => serde_json::to_string_pretty(&report).context("cannot encode the report")? + "\n",
    };
    print!("{text}");
    Ok(())
}

/// The report as aligned text: summary, per class, confusion matrix, misses.
fn render_table(r: &Report) -> String {
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
    let _ = writeln!(out, "\nmisclassified ({}):", r.misses.len());
    if !r.misses.is_empty() {
        let name_width = r.misses.iter().map(|m| m.name.chars().count()).max().unwrap_or(4).clamp(4, 50);
        let _ = writeln!(out, "  {:>7}  {:<name_width$}  {:<10} {:<10} reason", "asn", "name", "expected", "got");
        for m in &r.misses {
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
