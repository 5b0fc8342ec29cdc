//! Every bad source is refused with an error that names the file and, for CSV, the line.

mod common;

use vtrack_model::config::ResolveConfig;
use vtrack_resolve::{ResolveError, Table};

fn companies(text: &str) -> (ResolveError, String) {
    let dir = common::temp_dir("errors");
    let path = common::write(&dir, "companies.csv", text);
    let cfg = ResolveConfig { companies: vec![path], ..Default::default() };
    let err = Table::build(&cfg).expect_err("a bad source must be refused");
    let msg = err.to_string();
    (err, msg)
}

fn asn(text: &str) -> (ResolveError, String) {
    let dir = common::temp_dir("errors");
    let path = common::write(&dir, "asn.csv", text);
    let cfg = ResolveConfig { asn_csv: vec![path], ..Default::default() };
    let err = Table::build(&cfg).expect_err("a bad source must be refused");
    let msg = err.to_string();
    (err, msg)
}

#[test]
fn malformed_cidr() {
    let (err, msg) = companies("cidr,name,domain\n10.0.0.0/8,Ten,ten.example\n10.0.0.0/33,Bad,bad.example\n");
    assert!(matches!(err, ResolveError::MalformedCidr { line: 3, .. }), "{err:?}");
    assert!(msg.contains("companies.csv:3") && msg.contains("10.0.0.0/33"), "{msg}");
    let (err, _) = companies("not-an-ip/8,Bad,bad.example\n");
    assert!(matches!(err, ResolveError::MalformedCidr { line: 1, .. }), "{err:?}");
}

#[test]
fn cidr_with_host_bits_names_the_network_meant() {
    let (err, msg) = companies("10.1.2.3/8,Bad,bad.example\n");
    assert!(matches!(err, ResolveError::MalformedCidr { line: 1, .. }), "{err:?}");
    assert!(msg.contains("10.0.0.0/8"), "{msg}");
}

#[test]
fn missing_columns_and_empty_names() {
    let (err, msg) = companies("10.0.0.0/8,Ten\n");
    assert!(matches!(err, ResolveError::MissingColumns { line: 1, found: 2, .. }), "{err:?}");
    assert!(msg.contains("companies.csv:1"), "{msg}");
    let (err, _) = companies("\n# a comment\n10.0.0.0/8,,ten.example\n");
    assert!(matches!(err, ResolveError::EmptyName { line: 3, .. }), "{err:?}");
    let (err, _) = asn("1.0.0.0,1.0.0.255\n");
    assert!(matches!(err, ResolveError::MissingColumns { line: 1, found: 2, .. }), "{err:?}");
}

#[test]
fn unknown_class() {
    let (err, msg) = companies("10.0.0.0/8,Ten,ten.example,vpn\n");
    assert!(matches!(err, ResolveError::UnknownClass { line: 1, .. }), "{err:?}");
    assert!(msg.contains("companies.csv:1") && msg.contains("vpn"), "{msg}");
}

#[test]
fn start_after_end() {
    let (err, msg) = asn("1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n1.0.8.0,1.0.4.255,64500,Backwards\n");
    assert!(matches!(err, ResolveError::StartAfterEnd { line: 2, .. }), "{err:?}");
    assert!(msg.contains("asn.csv:2") && msg.contains("1.0.8.0"), "{msg}");
    let (err, _) = asn("2001:db8::2,2001:db8::1,64500,Backwards\n");
    assert!(matches!(err, ResolveError::StartAfterEnd { line: 1, .. }), "{err:?}");
}

#[test]
fn malformed_addresses_mixed_families_and_as_numbers() {
    let (err, msg) = asn("1.0.0.0,1.0.0.999,64500,X\n");
    assert!(matches!(err, ResolveError::MalformedAddress { line: 1, .. }), "{err:?}");
    assert!(msg.contains("1.0.0.999"), "{msg}");
    let (err, _) = asn("1.0.0.0,2001:db8::,64500,X\n");
    assert!(matches!(err, ResolveError::MixedFamilies { line: 1, .. }), "{err:?}");
    let (err, msg) = asn("1.0.0.0,1.0.0.255,ASX,X\n");
    assert!(matches!(err, ResolveError::MalformedAsn { line: 1, .. }), "{err:?}");
    assert!(msg.contains("asn.csv:1") && msg.contains("ASX"), "{msg}");
    let (err, _) = asn("1.0.0.0,1.0.0.255,4294967296,X\n");
    assert!(matches!(err, ResolveError::MalformedAsn { .. }), "{err:?}");
}

#[test]
fn broken_csv() {
    let dir = common::temp_dir("errors");
    let path = dir.join("asn.csv");
    std::fs::write(&path, b"1.0.0.0,1.0.0.255,64500,ok\n1.0.1.0,1.0.1.255,64501,\xff\xfe\n").unwrap();
    let cfg = ResolveConfig { asn_csv: vec![path], ..Default::default() };
    let err = Table::build(&cfg).unwrap_err();
    assert!(matches!(err, ResolveError::Csv { line: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("asn.csv:2"), "{err}");
}

#[test]
fn missing_file_and_not_an_mmdb() {
    let dir = common::temp_dir("errors");
    let cfg = ResolveConfig { asn_csv: vec![dir.join("nope.csv")], ..Default::default() };
    let err = Table::build(&cfg).unwrap_err();
    assert!(matches!(err, ResolveError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.csv"), "{err}");

    let garbage = common::write(&dir, "garbage.mmdb", "this is not a MaxMind DB");
    let cfg = ResolveConfig { mmdb: vec![garbage], ..Default::default() };
    let err = Table::build(&cfg).unwrap_err();
    assert!(matches!(err, ResolveError::Mmdb { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage.mmdb"), "{err}");

    let cfg = ResolveConfig { mmdb: vec![dir.join("absent.mmdb")], ..Default::default() };
    assert!(matches!(Table::build(&cfg).unwrap_err(), ResolveError::Io { .. }));
}

#[test]
fn headers_comments_blank_lines_and_quoted_names_are_fine() {
    let dir = common::temp_dir("errors");
    let path = common::write(
        &dir,
        "asn.csv",
        "start,end,asn,org\n# comment\n\n2.26.200.0,2.26.215.255,201907,\"LLC \"\"SPUTNIK\"\"\"\n1.0.0.0,1.0.0.255,AS13335,Cloudflare, Inc.\n",
    );
    let cfg = ResolveConfig { asn_csv: vec![path], ..Default::default() };
    let t = Table::build(&cfg).expect("valid file");
    assert_eq!(t.lookup("2.26.201.1".parse().unwrap()).unwrap().info.company_name, "LLC \"SPUTNIK\"");
    let cf = t.lookup("1.0.0.1".parse().unwrap()).unwrap();
    assert_eq!((cf.info.company_name.as_str(), cf.info.asn), ("Cloudflare, Inc.", 13335));
}
