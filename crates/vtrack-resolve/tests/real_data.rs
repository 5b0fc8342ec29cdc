//! The real `@ip-location-db/asn` data, when `scripts/fetch-asn-data.sh` has fetched it.
//!
//! Skipped with a notice otherwise, so a plain `cargo test` works offline; the full test script fetches it
//! and requires it (`vtrack_testkit::missing`).

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
        vtrack_testkit::missing("the real ASN data", "run scripts/fetch-asn-data.sh");
        None
    }
}

/// The table of the real data, built once for all tests of this file.
fn real_table() -> Option<&'static Table> {
    static TABLE: std::sync::OnceLock<Option<Table>> = std::sync::OnceLock::new();
    TABLE
        .get_or_init(|| {
            let (v4, v6) = data()?;
            let started = Instant::now();
            let cfg = ResolveConfig { asn_csv: vec![v4, v6], ..Default::default() };
            let table = Table::build(&cfg).expect("real data builds");
            eprintln!("built the real data in {:?}", started.elapsed());
            Some(table)
        })
        .as_ref()
}

#[test]
fn real_asn_data_builds_and_resolves_well_known_networks() {
    let Some(table) = real_table() else { return };
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

/// Splits `first..=last` into the fewest CIDR blocks.
fn cidrs(first: IpAddr, last: IpAddr) -> Vec<ipnetwork::IpNetwork> {
    let (v4, mut s, e) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (true, u128::from(u32::from(a)), u128::from(u32::from(b))),
        (IpAddr::V6(a), IpAddr::V6(b)) => (false, u128::from(a), u128::from(b)),
        _ => return Vec::new(),
    };
    let bits = if v4 { 32 } else { 128 };
    let mut out = Vec::new();
    loop {
        let mut host = s.trailing_zeros().min(bits);
        while host > 0 && (host == 128 || s + ((1u128 << host) - 1) > e) {
            host -= 1;
        }
        let len = (bits - host) as u8;
        let net = if v4 { IpAddr::V4((s as u32).into()) } else { IpAddr::V6(s.into()) };
        out.push(ipnetwork::IpNetwork::new(net, len).expect("a valid prefix"));
        let end = if host == 128 { u128::MAX } else { s + ((1u128 << host) - 1) };
        if end >= e {
            return out;
        }
        s = end + 1;
    }
}

#[test]
fn an_mmdb_written_from_the_real_data_reads_back_as_the_same_table() {
    let Some(table) = real_table() else { return };
    let mut w = vtrack_testkit::mmdb::Writer::new("GeoLite2-ASN");
    use vtrack_testkit::mmdb::Value;
    for (first, last, info, _) in table.iter() {
        let value = Value::map([
            ("autonomous_system_number", Value::U32(info.asn)),
            ("autonomous_system_organization", Value::String(info.company_name.clone())),
        ]);
        for net in cidrs(first, last) {
            w.insert(net, &value);
        }
    }
    let dir = common::temp_dir("real-mmdb");
    let path = dir.join("asn.mmdb");
    let mut bytes = Vec::new();
    w.write(&mut bytes).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let from_mmdb = Table::build(&ResolveConfig { mmdb: vec![path], ..Default::default() }).expect("the MMDB reads");
    // The class is not compared as is: the AS-range layer classifies an AS whose name says nothing by its
    // footprint in that layer (`as_profile`), which an MMDB's networks do not carry; the MMDB layer
    // classifies by name alone. So the MMDB side must hold the name rules' class, and the sides are
    // compared with it.
    let mut by_name = std::collections::HashMap::new();
    let mut strip = |t: &Table, check: bool| -> Vec<_> {
        t.iter()
            .map(|(a, b, i, _)| {
                let class = *by_name
                    .entry((i.company_name.clone(), i.asn))
                    .or_insert_with(|| vtrack_resolve::classify::classify(&i.company_name, i.asn));
                assert!(!check || i.network_class == class, "{:?} is not classified by name", i.company_name);
                (a, b, i.company_name.clone(), i.company_domain.clone(), i.asn, class)
            })
            .collect()
    };
    let (want, got) = (strip(table, false), strip(&from_mmdb, true));
    assert_eq!(got.len(), want.len());
    if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
        panic!("first difference at range {i}: {:?} vs {:?}", got[i], want[i]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
