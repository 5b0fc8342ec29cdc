//! Who wins when sources overlap: layer priority, then the narrower range, then the first read.

mod common;

use std::net::IpAddr;

use vtrack_model::config::ResolveConfig;
use vtrack_model::NetworkClass;
use vtrack_resolve::{Source, Table};
use vtrack_testkit::mmdb::{Value, Writer};

fn mmdb(dir: &std::path::Path) -> std::path::PathBuf {
    let mut w = Writer::new("Test-Enterprise");
    let nl = Value::map([("country", Value::map([("iso_code", Value::str("NL"))]))]);
    w.insert("10.0.0.0/8".parse().unwrap(), &nl);
    w.insert("2001:db8::/32".parse().unwrap(), &nl);
    let org = |name: &str, domain: &str| {
        Value::map([
            ("country", Value::map([("iso_code", Value::str("BE"))])),
            ("organization", Value::str(name)),
            ("domain", Value::str(domain)),
        ])
    };
    w.insert("10.1.2.0/24".parse().unwrap(), &org("Mid Company", "mid.example"));
    w.insert("10.200.5.0/24".parse().unwrap(), &org("Narrow Mmdb", "narrow.example"));
    w.insert("2001:db8:1:2::/64".parse().unwrap(), &org("Mid Company", "mid.example"));
    let path = dir.join("layers.mmdb");
    let mut bytes = Vec::new();
    w.write(&mut bytes).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn table() -> Table {
    let dir = common::temp_dir("layering");
    // The inner range comes first in the file, the outer one last: order must not matter.
    let asn = common::write(
        &dir,
        "asn.csv",
        "10.1.0.0,10.1.255.255,64497,Inner Corp\n\
         10.0.0.0,10.255.255.255,64496,Big Telecom\n\
         10.9.0.0,10.9.0.255,64498,First Of Two\n\
         10.9.0.0,10.9.0.255,64499,Second Of Two\n\
         2001:db8:1::,2001:db8:1:ffff:ffff:ffff:ffff:ffff,64497,Inner Corp\n\
         2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64496,Big Telecom\n",
    );
    let companies = common::write(
        &dir,
        "companies.csv",
        "10.1.2.128/26,Customer Co,customer.example,education\n\
         10.200.0.0/16,Wide Customer,wide.example\n\
         2001:db8:1:2:8000::/65,Customer Co,customer.example,education\n",
    );
    let cfg =
        ResolveConfig { companies: vec![companies], mmdb: vec![mmdb(&dir)], asn_csv: vec![asn], ..Default::default() };
    Table::build(&cfg).expect("layered sources build")
}

fn get(t: &Table, ip: &str) -> (String, String, Source, String, String) {
    let hit = t.lookup(ip.parse::<IpAddr>().unwrap()).unwrap_or_else(|| panic!("{ip} not found"));
    (
        hit.info.company_name.clone(),
        hit.info.country.clone(),
        hit.source,
        hit.prefix.to_string(),
        hit.info.company_domain.clone(),
    )
}

#[test]
fn customer_range_inside_mmdb_network_inside_as_range_inside_a_bigger_one() {
    let t = table();
    let c = |name: &str, country: &str, source, prefix: &str, domain: &str| {
        (name.to_string(), country.to_string(), source, prefix.to_string(), domain.to_string())
    };
    assert_eq!(get(&t, "10.1.2.130"), c("Customer Co", "BE", Source::Companies, "10.1.2.128/26", "customer.example"));
    assert_eq!(get(&t, "10.1.2.191"), c("Customer Co", "BE", Source::Companies, "10.1.2.128/26", "customer.example"));
    assert_eq!(get(&t, "10.1.2.127"), c("Mid Company", "BE", Source::Mmdb, "10.1.2.0/25", "mid.example"));
    assert_eq!(get(&t, "10.1.2.192"), c("Mid Company", "BE", Source::Mmdb, "10.1.2.192/26", "mid.example"));
    assert_eq!(get(&t, "10.1.3.0"), c("Inner Corp", "NL", Source::Asn, "10.1.3.0/24", "as64497"));
    assert_eq!(get(&t, "10.1.255.255"), c("Inner Corp", "NL", Source::Asn, "10.1.128.0/17", "as64497"));
    assert_eq!(get(&t, "10.2.0.1"), c("Big Telecom", "NL", Source::Asn, "10.2.0.0/15", "as64496"));
    assert_eq!(get(&t, "10.0.255.255"), c("Big Telecom", "NL", Source::Asn, "10.0.0.0/16", "as64496"));
    assert!(t.lookup("11.0.0.0".parse().unwrap()).is_none());
    assert!(t.lookup("9.255.255.255".parse().unwrap()).is_none());
}

#[test]
fn a_customer_range_beats_a_narrower_mmdb_network() {
    let t = table();
    for ip in ["10.200.5.1", "10.200.0.0", "10.200.255.255"] {
        let (name, ..) = get(&t, ip);
        assert_eq!(name, "Wide Customer", "{ip}");
    }
    // The organisation is the customer's, the place still the MMDB network's own: a separate answer.
    assert_eq!(get(&t, "10.200.5.1").1, "BE");
    assert_eq!(get(&t, "10.200.5.1").3, "10.200.5.0/24");
    assert_eq!(get(&t, "10.200.6.1").1, "NL");
    assert_eq!(get(&t, "10.200.6.1").3, "10.200.6.0/23");
}

#[test]
fn equally_narrow_rows_go_to_the_first_read() {
    assert_eq!(get(&table(), "10.9.0.77").0, "First Of Two");
}

#[test]
fn customer_class_overrides_the_rules_and_rules_apply_otherwise() {
    let t = table();
    let class = |ip: &str| t.lookup(ip.parse().unwrap()).unwrap().info.network_class;
    assert_eq!(class("10.1.2.130"), NetworkClass::Education);
    assert_eq!(class("10.200.1.1"), NetworkClass::Business);
    assert_eq!(class("10.2.0.1"), NetworkClass::Isp);
}

#[test]
fn ipv6_layers_and_ipv4_mapped_addresses() {
    let t = table();
    assert_eq!(get(&t, "2001:db8:1:2:8000::1").0, "Customer Co");
    assert_eq!(get(&t, "2001:db8:1:2:8000::1").3, "2001:db8:1:2:8000::/65");
    assert_eq!(get(&t, "2001:db8:1:2::1").0, "Mid Company");
    assert_eq!(get(&t, "2001:db8:1:3::1").0, "Inner Corp");
    assert_eq!(get(&t, "2001:db8:2::1").0, "Big Telecom");
    assert_eq!(get(&t, "2001:db8:2::1").1, "NL");
    // ::ffff:10.1.2.130 is the IPv4 address, and its prefix is given as IPv4.
    assert_eq!(get(&t, "::ffff:10.1.2.130"), get(&t, "10.1.2.130"));
    assert_eq!(get(&t, "::ffff:10.2.0.1").3, "10.2.0.0/15");
    // ::10.1.2.130 (IPv4-compatible, deprecated) is an IPv6 address no source has.
    assert!(t.lookup("::10.1.2.130".parse().unwrap()).is_none());
}
