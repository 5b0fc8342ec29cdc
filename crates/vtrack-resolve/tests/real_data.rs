//! The real `@ip-location-db/asn` data, when `scripts/fetch-asn-data.sh` has fetched it.
//!
//! Skipped with a notice otherwise, so a plain `cargo test` works offline; the full test script fetches it.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use vtrack_model::config::ResolveConfig;
use vtrack_model::NetworkClass;
use vtrack_resolve::Table;

fn data() -> Option<(PathBuf, PathBuf)> {
    let dir = common::fixtures().join("../.cache/ip-location-db/asn");
    let (v4, v6) = (dir.join("asn-ipv4.csv"), dir.join("asn-ipv6.csv"));
    if v4.is_file() && v6.is_file() {
        Some((v4, v6))
    } else {
        eprintln!("SKIPPED: real ASN data not fetched; run scripts/fetch-asn-data.sh to include this test");
        None
    }
}

#[test]
fn real_asn_data_builds_and_resolves_well_known_networks() {
    let Some((v4, v6)) = data() else { return };
    let started = Instant::now();
    let table = Table::build(&ResolveConfig { asn_csv: vec![v4, v6], ..Default::default() }).expect("real data builds");
    eprintln!("built {:?} in {:?}", table.ranges(), started.elapsed());
    let (r4, r6) = table.ranges();
    assert!(r4 > 200_000 && r6 > 50_000, "{r4} {r6}");

    let get = |ip: &str| table.lookup(ip.parse::<IpAddr>().unwrap()).unwrap_or_else(|| panic!("{ip} not found"));
    let cf = get("1.1.1.1");
    assert_eq!(
        (cf.info.asn, cf.info.company_domain.as_str(), cf.info.network_class),
        (13335, "as13335", NetworkClass::Hosting)
    );
    assert_eq!(get("2606:4700:4700::1111").info.asn, 13335);
    assert_eq!(get("::ffff:1.1.1.1").info.asn, 13335);
    // The overlap the issue names: 214.95.0.0-215.0.255.255 (AS749) and 215.0.0.0-215.1.3.255 (AS721).
    // The narrower row wins where they overlap, the wider one keeps the rest.
    assert_eq!(get("215.0.0.1").info.asn, 721);
    assert_eq!(get("215.1.3.255").info.asn, 721);
    assert_eq!(get("214.255.255.255").info.asn, 749);
    assert_eq!(get("215.0.0.1").info.network_class, NetworkClass::Government);
}
