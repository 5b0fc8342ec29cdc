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
//!
//! A random sample (`fixtures/classify-random.csv`, with `sample,stratum,half` columns) is reported half by
//! half: for each, the size draw (overall, per class, per stratum, the confusion matrix and the share of
//! ISP and hosting networks called `business`) and the address draw (its accuracy is the address-weighted
//! accuracy). The misses of the `test` half are not printed unless `--show-test-misses` is given: that
//! half is for measuring, and a rule written for its rows would make its figure meaningless.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use vtrack_resolve::as_profile::AsProfiles;
use vtrack_resolve::eval::{self, Half, Miss, Report, Summary};

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
    /// Also print the misses of a random sample's `test` half (after it has been reported: a fresh test
    /// half should then be drawn and labelled).
    #[arg(long)]
    pub show_test_misses: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let set = eval::read_set(&args.eval)?;
    let profiles = match (&args.profiles, args.asn_csv.is_empty()) {
        (Some(path), _) => Some(AsProfiles::read(path)?),
        (None, false) => Some(AsProfiles::from_asn_csv(&args.asn_csv).context("cannot profile the AS data")?),
        (None, true) => None,
    };
    let classifier = |name: &str, asn: u32| match &profiles {
        Some(p) => vtrack_resolve::classify::classify_profiled(name, asn, p.get(asn)),
        None => vtrack_resolve::classify::classify(name, asn),
    };
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

/// A random sample's report: each half, its size draw in full and its address draw's accuracy.
fn render_summary(s: &Summary, show_test_misses: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "drawn but not labelled (skipped): {}", s.skipped);
    for h in &s.halves {
        let half = match h.half {
            Half::Dev => "dev",
            Half::Test => "test",
        };
        let shown = h.half == Half::Dev || show_test_misses;
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
