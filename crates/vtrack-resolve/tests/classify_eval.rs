//! The committed evaluation sets of the network classifier: `fixtures/classify-eval.csv` (the set the
//! rules were written against) and `fixtures/classify-holdout.csv` (real ASes outside it, labelled before
//! the rules changed, the measure of how they generalise). That both are valid and broad enough to mean
//! something; that the rules keep their accuracy on both, so a rule change cannot silently lower it;
//! and, when `scripts/fetch-asn-data.sh` has fetched the real AS data, that every row names a real AS
//! exactly as the data spells it and that `fixtures/classify-profiles.csv` (the ASes' footprints, written
//! by `scripts/classify-profiles.sh`) is what the data gives.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};

use vtrack_model::NetworkClass;
use vtrack_resolve::as_profile::AsProfiles;
use vtrack_resolve::eval::{self, EvalRow, Report};

fn committed_set() -> Vec<EvalRow> {
    eval::read(&common::fixtures().join("classify-eval.csv")).expect("the committed set parses")
}

fn holdout_set() -> Vec<EvalRow> {
    eval::read(&common::fixtures().join("classify-holdout.csv")).expect("the held-out set parses")
}

fn committed_profiles() -> AsProfiles {
    AsProfiles::read(&common::fixtures().join("classify-profiles.csv")).expect("the profiles parse")
}

/// Fails with every miss when the report is below `overall` or any class below `per_class` percent.
fn assert_accuracy(set: &str, report: &Report, overall: f64, per_class: f64) {
    let misses: Vec<String> = report
        .misses
        .iter()
        .map(|m| format!("  AS{} {:?}: {} expected, got {}", m.asn, m.name, m.expected, m.got))
        .collect();
    let context = format!("{set}: {:.1} % overall; misses:\n{}", report.accuracy, misses.join("\n"));
    assert!(report.accuracy >= overall, "below {overall} % overall. {context}");
    for s in &report.per_class {
        assert!(s.percent() >= per_class, "{}: {:.1} % < {per_class} %. {context}", s.class, s.percent());
    }
}

/// The goal on the set the rules were written against: ≥ 95 % overall, ≥ 90 % in every class,
/// with the AS footprints the table build computes.
#[test]
fn the_rules_keep_their_accuracy_on_the_evaluation_set() {
    let report = eval::evaluate_profiled(&committed_set(), &committed_profiles());
    assert_accuracy("classify-eval.csv", &report, 95.0, 90.0);
}

/// The held-out set measures generalisation; the floor is the accuracy measured when the rules were
/// written (93.2 % overall, 87.0 % for ISPs, see README), so a change may raise it but not lower it
/// unseen. The goal (95 %, 90 % per class) is not reached on this set yet.
#[test]
fn the_rules_keep_their_accuracy_on_the_held_out_set() {
    let report = eval::evaluate_profiled(&holdout_set(), &committed_profiles());
    assert_accuracy("classify-holdout.csv", &report, 93.0, 86.0);
}

/// Without the AS data the name rules alone still tell most of the set apart.
#[test]
fn the_name_rules_alone_without_the_as_data() {
    let report = eval::evaluate(&committed_set());
    assert_accuracy("classify-eval.csv, names only", &report, 90.0, 80.0);
}

#[test]
fn the_held_out_set_is_valid_broad_and_apart_from_the_evaluation_set() {
    let rows = holdout_set();
    assert!(rows.len() >= 200, "{} rows", rows.len());
    let evaluation: HashSet<u32> = committed_set().iter().map(|r| r.asn).collect();
    let mut seen = HashSet::new();
    for row in &rows {
        assert!(seen.insert(row.asn), "AS{} is listed twice (line {})", row.asn, row.line);
        assert!(!evaluation.contains(&row.asn), "AS{} (line {}) is in the evaluation set", row.asn, row.line);
        assert!(!row.reason.is_empty(), "line {}: no reason", row.line);
    }
    let countries: BTreeSet<&str> = rows.iter().map(|r| r.country.as_str()).collect();
    assert!(countries.len() >= 40, "{} countries", countries.len());
    for class in [NetworkClass::Business, NetworkClass::Isp, NetworkClass::Hosting] {
        let n = rows.iter().filter(|r| r.class == class).count();
        assert!(n >= 50, "{class}: {n} rows");
    }
    for class in [NetworkClass::Education, NetworkClass::Government] {
        let n = rows.iter().filter(|r| r.class == class).count();
        assert!(n >= 30, "{class}: {n} rows");
    }
}

#[test]
fn every_row_of_both_sets_has_a_profile() {
    let profiles = committed_profiles();
    let missing: Vec<u32> =
        committed_set().iter().chain(&holdout_set()).map(|r| r.asn).filter(|&a| profiles.get(a).is_none()).collect();
    assert!(missing.is_empty(), "run scripts/classify-profiles.sh; no profile for {missing:?}");
}

#[test]
fn the_committed_set_is_valid_and_broad() {
    let rows = committed_set();
    assert!(rows.len() >= 400, "{} rows", rows.len());

    let mut seen = HashSet::new();
    for row in &rows {
        assert!(seen.insert(row.asn), "AS{} is listed twice (line {})", row.asn, row.line);
        assert!(!row.reason.is_empty(), "line {}: no reason", row.line);
    }

    let countries: BTreeSet<&str> = rows.iter().map(|r| r.country.as_str()).collect();
    assert!(countries.len() >= 40, "{} countries: {countries:?}", countries.len());

    let count = |class| rows.iter().filter(|r| r.class == class).count();
    let minimum = [
        (NetworkClass::Business, 60),
        (NetworkClass::Isp, 100),
        (NetworkClass::Hosting, 70),
        (NetworkClass::Education, 60),
        (NetworkClass::Government, 40),
    ];
    for (class, min) in minimum {
        assert!(count(class) >= min, "{class}: {} rows, want at least {min}", count(class));
    }
    let mobile = rows.iter().filter(|r| r.class == NetworkClass::Isp && r.reason.contains("mobile")).count();
    assert!(mobile >= 25, "{mobile} mobile carriers");

    // The report covers every row and every labelled class.
    let report = eval::evaluate(&rows);
    assert_eq!(report.total, rows.len());
    assert_eq!(report.per_class.len(), 5);
    assert_eq!(report.confusion.iter().flatten().sum::<usize>(), rows.len());
}

/// AS number → organisation name, from the real data (one name per AS there).
fn real_names() -> Option<HashMap<u32, String>> {
    let dir = common::fixtures().join("../.cache/ip-location-db/asn");
    let files = [dir.join("asn-ipv4.csv"), dir.join("asn-ipv6.csv")];
    if !files.iter().all(|f| f.is_file()) {
        vtrack_testkit::missing("the real ASN data", "run scripts/fetch-asn-data.sh");
        return None;
    }
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
    Some(names)
}

#[test]
fn every_row_is_a_real_as_with_its_exact_name() {
    let Some(names) = real_names() else { return };
    let mut rows = committed_set();
    rows.extend(holdout_set());
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|row| match names.get(&row.asn) {
            None => Some(format!("line {}: AS{} is not in the data", row.line, row.asn)),
            Some(name) if *name != row.name => {
                Some(format!("line {}: AS{} is {name:?} in the data, not {:?}", row.line, row.asn, row.name))
            }
            Some(_) => None,
        })
        .collect();
    assert!(wrong.is_empty(), "{} rows do not match the data:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn profiles_fixture_matches_the_real_data() {
    let dir = common::fixtures().join("../.cache/ip-location-db/asn");
    let files = vec![dir.join("asn-ipv4.csv"), dir.join("asn-ipv6.csv")];
    if !files.iter().all(|f| f.is_file()) {
        vtrack_testkit::missing("the real ASN data", "run scripts/fetch-asn-data.sh");
        return;
    }
    let real = AsProfiles::from_asn_csv(&files).expect("the real data loads");
    let committed = committed_profiles();
    let wrong: Vec<String> = committed
        .iter()
        .filter(|(asn, p)| real.get(*asn) != Some(p))
        .map(|(asn, p)| format!("AS{asn}: committed {p:?}, data {:?}", real.get(asn)))
        .collect();
    assert!(wrong.is_empty(), "run scripts/classify-profiles.sh:\n{}", wrong.join("\n"));
}

/// The table build profiles each AS from its AS-range rows: an AS whose name says nothing is an
/// operator when it announces many ranges, a business when it announces a few.
#[test]
fn the_table_build_classifies_with_the_as_footprint() {
    use std::fmt::Write as _;
    let dir = common::temp_dir("as-profile");
    let mut csv = String::new();
    // AS64500: 64 /16s (an access network's pools); AS64501: 64 /24s (a hoster's); AS64502: one /16.
    for i in 0..64u32 {
        let _ = writeln!(csv, "10.{i}.0.0,10.{i}.255.255,64500,Nordlicht Holding AG");
        let _ = writeln!(csv, "172.16.{i}.0,172.16.{i}.255,64501,Quillon Ltd");
    }
    let _ = writeln!(csv, "192.168.0.0,192.168.255.255,64502,Brightwater Robotics");
    let path = dir.join("asn.csv");
    std::fs::write(&path, csv).expect("the temp file is written");
    let cfg = vtrack_model::config::ResolveConfig { asn_csv: vec![path], ..Default::default() };
    let table = vtrack_resolve::Table::build(&cfg).expect("the table builds");
    let class = |ip: &str| table.lookup(ip.parse().expect("an address")).expect("a hit").info.network_class;
    assert_eq!(class("10.3.4.5"), NetworkClass::Isp);
    assert_eq!(class("172.16.3.4"), NetworkClass::Hosting);
    assert_eq!(class("192.168.1.1"), NetworkClass::Business);
}
