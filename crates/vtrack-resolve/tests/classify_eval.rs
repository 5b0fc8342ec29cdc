//! The committed evaluation set of the network classifier (`fixtures/classify-eval.csv`): that it is
//! valid and broad enough to mean something, and, when `scripts/fetch-asn-data.sh` has fetched the real
//! AS data, that every row names a real AS exactly as the data spells it.
//!
//! No test here asserts an accuracy: the set measures the rules (`vtrack classify --eval`), it does not
//! pin them.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};

use vtrack_model::NetworkClass;
use vtrack_resolve::eval::{self, EvalRow};

fn committed_set() -> Vec<EvalRow> {
    eval::read(&common::fixtures().join("classify-eval.csv")).expect("the committed set parses")
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
        eprintln!("SKIPPED: real ASN data not fetched; run scripts/fetch-asn-data.sh to include this test");
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
    let rows = committed_set();
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
