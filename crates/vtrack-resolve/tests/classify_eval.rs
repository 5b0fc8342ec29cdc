//! The labelled sets of the network classifier and what the class model scores on them.
//!
//! - `fixtures/classify-random.csv`: ASes drawn at random from the whole AS table
//!   (`scripts/classify-sample.py`), labelled by hand; its `test` half is never trained on and measures how
//!   the model does on networks nobody picked.
//! - `fixtures/classify-train.csv`: another random draw, the model's training sample (with the dev half).
//! - `fixtures/classify-eval.csv` and `fixtures/classify-holdout.csv`: hand-picked well-known organisations,
//!   kept as regression checks (the first is trained on, the second is not).
//!
//! The accuracy tests need the real AS and country data (`scripts/fetch-asn-data.sh`): the model weighs each
//! AS's footprint in it. They skip when it is missing and run alone, and fail in the full run
//! (`VTRACK_REQUIRE_DATA=1`).

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use vtrack_model::NetworkClass;
use vtrack_resolve::as_profile::AsProfiles;
use vtrack_resolve::class_train::{self, TrainConfig};
use vtrack_resolve::classify::classify_profiled;
use vtrack_resolve::eval::{self, EvalRow, Half, Report, Sample};

fn set(name: &str) -> Vec<EvalRow> {
    eval::read(&common::fixtures().join(name)).unwrap_or_else(|e| panic!("{name} parses: {e}"))
}

/// The real AS and country files, when fetched.
fn real_files() -> Option<(Vec<PathBuf>, Vec<PathBuf>)> {
    let dir = common::fixtures().join("../.cache/ip-location-db");
    let asn = vec![dir.join("asn/asn-ipv4.csv"), dir.join("asn/asn-ipv6.csv")];
    let country =
        vec![dir.join("country/geo-whois-asn-country-ipv4.csv"), dir.join("country/geo-whois-asn-country-ipv6.csv")];
    if asn.iter().chain(&country).all(|f| f.is_file()) {
        return Some((asn, country));
    }
    vtrack_testkit::missing("the real AS and country data", "run scripts/fetch-asn-data.sh");
    None
}

/// Every AS's footprint in the real data, computed once per test binary.
fn real_profiles() -> Option<&'static AsProfiles> {
    static PROFILES: std::sync::OnceLock<Option<AsProfiles>> = std::sync::OnceLock::new();
    PROFILES
        .get_or_init(|| {
            let (asn, country) = real_files()?;
            Some(AsProfiles::from_files(&asn, &country).expect("the real data loads"))
        })
        .as_ref()
}

fn score(rows: &[EvalRow], profiles: &AsProfiles) -> Report {
    eval::evaluate_with(rows, |name, asn| classify_profiled(name, asn, profiles.get(asn)))
}

/// Fails when the report is below `overall` or any class below `per_class` percent; prints the misses
/// only when `show` (never for the test half, which must not be tuned on).
fn assert_accuracy(set: &str, report: &Report, overall: f64, per_class: f64, show: bool) {
    let misses: Vec<String> = report
        .misses
        .iter()
        .filter(|_| show)
        .map(|m| format!("  AS{} {:?}: {} expected, got {}", m.asn, m.name, m.expected, m.got))
        .collect();
    let context = format!("{set}: {:.1} % overall; misses:\n{}", report.accuracy, misses.join("\n"));
    assert!(report.accuracy >= overall, "below {overall} % overall. {context}");
    for s in &report.per_class {
        assert!(s.percent() >= per_class, "{}: {:.1} % < {per_class} %. {context}", s.class, s.percent());
    }
}

fn half(rows: &[EvalRow], half: Half, sample: Sample) -> Vec<EvalRow> {
    rows.iter().filter(|r| r.drawn.as_ref().is_some_and(|d| d.half == half && d.sample == sample)).cloned().collect()
}

/// The random sample's test half, never trained on: the floors are what the committed model measured
/// (83.6 % overall, 5.4 % of ISP and hosting networks called business, 87.1 % address-weighted; see
/// docs/guide/ip-to-company.md), so a change may raise them but not lower them unseen. The goal
/// (95 %, 90 % per class, 2 %, 98 %) is not reached.
#[test]
fn the_model_keeps_its_accuracy_on_the_random_test_half() {
    let Some(profiles) = real_profiles() else { return };
    let rows = set("classify-random.csv");
    let by_size = score(&half(&rows, Half::Test, Sample::Size), profiles);
    assert_accuracy("classify-random.csv test half", &by_size, 83.0, 60.0, false);
    assert!(
        by_size.leak.percent() <= 5.5,
        "{:.1} % of ISP and hosting networks called business",
        by_size.leak.percent()
    );
    let by_addresses = score(&half(&rows, Half::Test, Sample::Addresses), profiles);
    assert!(by_addresses.accuracy >= 85.0, "address-weighted {:.1} %", by_addresses.accuracy);
}

/// The hand-picked set the old rules were written against (now also trained on).
#[test]
fn the_model_keeps_its_accuracy_on_the_evaluation_set() {
    let Some(profiles) = real_profiles() else { return };
    assert_accuracy("classify-eval.csv", &score(&set("classify-eval.csv"), profiles), 95.0, 80.0, true);
}

/// Well-known organisations nobody trained on.
#[test]
fn the_model_keeps_its_accuracy_on_the_held_out_set() {
    let Some(profiles) = real_profiles() else { return };
    assert_accuracy("classify-holdout.csv", &score(&set("classify-holdout.csv"), profiles), 90.0, 75.0, true);
}

/// Without the AS data (an MMDB's or a customer's organisation), the name rules alone still tell most of the
/// hand-picked set apart.
#[test]
fn the_name_rules_alone_without_the_as_data() {
    let report = eval::evaluate(&set("classify-eval.csv"));
    assert_accuracy("classify-eval.csv, names only", &report, 90.0, 80.0, true);
}

/// The committed model is what `vtrack classify --train` fits on the committed sets: no hand-edited weight.
#[test]
fn the_committed_model_is_what_training_gives() {
    let Some(profiles) = real_profiles() else { return };
    let mut rows: Vec<EvalRow> = Vec::new();
    for name in ["classify-train.csv", "classify-random.csv", "classify-eval.csv"] {
        rows.extend(set(name).into_iter().filter(|r| r.drawn.as_ref().is_none_or(|d| d.half != Half::Test)));
    }
    let trained = class_train::train(&rows, profiles, &TrainConfig::default());
    let committed = vtrack_resolve::class_model::model();
    let a = trained.to_text("");
    let b = committed.to_text("");
    assert_eq!(
        a.lines().count(),
        b.lines().count(),
        "a different set of signals: retrain (docs/guide/ip-to-company.md)"
    );
    let differ = a.lines().zip(b.lines()).filter(|(x, y)| x != y).count();
    assert!(differ * 50 <= a.lines().count(), "{differ} rows differ: retrain (docs/guide/ip-to-company.md)");
}

#[test]
fn the_sets_are_apart_and_the_halves_are_random_draws() {
    let mut seen: HashMap<u32, &str> = HashMap::new();
    for name in ["classify-eval.csv", "classify-holdout.csv", "classify-random.csv", "classify-train.csv"] {
        let set = eval::read_set(&common::fixtures().join(name)).expect("parses");
        for row in &set.rows {
            if let Some(other) = seen.insert(row.asn, name) {
                panic!("AS{} is in {name} and in {other}", row.asn);
            }
            assert!(!row.reason.is_empty(), "{name}:{}: no reason", row.line);
        }
        if name == "classify-random.csv" {
            let halves: BTreeSet<Half> = set.rows.iter().filter_map(|r| r.drawn.as_ref().map(|d| d.half)).collect();
            assert_eq!(halves, BTreeSet::from([Half::Dev, Half::Test]));
            assert!(set.rows.len() >= 1200, "{} labelled rows", set.rows.len());
            for class in [
                NetworkClass::Business,
                NetworkClass::Isp,
                NetworkClass::Hosting,
                NetworkClass::Education,
                NetworkClass::Government,
            ] {
                let n = set
                    .rows
                    .iter()
                    .filter(|r| r.class == class && r.drawn.as_ref().is_some_and(|d| d.half == Half::Test))
                    .count();
                assert!(n >= 40, "{class}: {n} rows in the test half");
            }
        }
    }
}

/// Every row names a real AS exactly as the data spells it (a typo would measure another network).
#[test]
fn every_row_is_a_real_as_with_its_exact_name() {
    let Some((files, _)) = real_files() else { return };
    let mut names = HashMap::new();
    for file in files {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(&file).expect("the data opens");
        for record in reader.records() {
            let record = record.expect("the data parses");
            if let Ok(asn) = record[2].parse::<u32>() {
                names.entry(asn).or_insert_with(|| record[3].to_string());
            }
        }
    }
    let mut wrong = Vec::new();
    for name in ["classify-eval.csv", "classify-holdout.csv", "classify-random.csv", "classify-train.csv"] {
        for row in set(name) {
            match names.get(&row.asn) {
                None => wrong.push(format!("{name}:{}: AS{} is not in the data", row.line, row.asn)),
                Some(n) if n.trim() != row.name => {
                    wrong.push(format!("{name}:{}: AS{} is {n:?}, not {:?}", row.line, row.asn, row.name))
                }
                Some(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{} rows do not match the data:\n{}", wrong.len(), wrong.join("\n"));
}

/// The table build classes each AS-layer organisation with the model and its footprint: the answer is the
/// decision `class_model::decide` gives for that AS's profile, with its confidence.
#[test]
fn the_table_build_decides_with_the_as_footprint() {
    use std::fmt::Write as _;
    let dir = common::temp_dir("as-profile");
    let mut csv = String::new();
    for i in 0..64u32 {
        let _ = writeln!(csv, "10.{i}.0.0,10.{i}.255.255,64500,Nordlicht Holding AG");
    }
    let _ = writeln!(csv, "192.168.0.0,192.168.0.255,64502,Brightwater Robotics");
    let path = dir.join("asn.csv");
    std::fs::write(&path, csv).expect("the temp file is written");
    let files = vec![path];
    let cfg = vtrack_model::config::ResolveConfig { asn_csv: files.clone(), ..Default::default() };
    let table = vtrack_resolve::Table::build(&cfg).expect("the table builds");
    let profiles = AsProfiles::from_files(&files, &[]).expect("profiles");
    let seen: HashSet<u32> = [64500, 64502].into();
    for (ip, asn, name) in [("10.3.4.5", 64500, "Nordlicht Holding AG"), ("192.168.0.1", 64502, "Brightwater Robotics")]
    {
        assert!(seen.contains(&asn));
        let hit = table.lookup(ip.parse().expect("an address")).expect("a hit");
        let d = vtrack_resolve::class_model::decide(name, asn, profiles.get(asn), &[]);
        assert_eq!((hit.info.network_class, hit.info.class_confidence), (d.class, d.confidence), "{name}");
    }
}
