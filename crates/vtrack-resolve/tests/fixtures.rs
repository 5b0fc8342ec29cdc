//! The committed fixtures resolve as `fixtures/README.md` describes.

mod common;

use vtrack_model::NetworkClass::{self, *};
use vtrack_resolve::{Source, Table};

struct Want {
    ip: &'static str,
    prefix: &'static str,
    name: &'static str,
    domain: &'static str,
    asn: u32,
    class: NetworkClass,
    country: &'static str,
    city: &'static str,
    source: Source,
}

/// `want!(ip, prefix, name, domain, asn, class, country, city, source)`
macro_rules! want {
    ($ip:expr, $prefix:expr, $name:expr, $domain:expr, $asn:expr, $class:expr, $country:expr, $city:expr, $source:expr $(,)?) => {
        Want {
            ip: $ip,
            prefix: $prefix,
            name: $name,
            domain: $domain,
            asn: $asn,
            class: $class,
            country: $country,
            city: $city,
            source: $source,
        }
    };
}

const CASES: &[Want] = &[
    want!("198.18.5.5", "198.18.0.0/16", "Example Broadband", "as64500", 64500, Isp, "US", "", Source::Asn,),
    want!("198.19.1.1", "198.19.0.0/17", "Example Cloud Hosting", "as64501", 64501, Hosting, "US", "", Source::Asn,),
    want!("198.19.200.1", "198.19.128.0/17", "Example Mobile Telecom", "as64502", 64502, Isp, "US", "", Source::Asn,),
    want!(
        "203.0.113.5",
        "203.0.113.0/25",
        "Northwind University",
        "as64504",
        64504,
        Education,
        "GB",
        "London",
        Source::Asn,
    ),
    want!(
        "203.0.113.130",
        "203.0.113.128/26",
        "City of Springfield",
        "as64505",
        64505,
        Government,
        "GB",
        "London",
        Source::Asn,
    ),
    want!(
        "203.0.113.200",
        "203.0.113.192/26",
        "Umbrella Pharmaceuticals",
        "as64506",
        64506,
        Business,
        "GB",
        "London",
        Source::Asn,
    ),
    want!(
        "198.51.100.10",
        "198.51.100.0/26",
        "Acme Robotics",
        "acme-robotics.example",
        0,
        Business,
        "DE",
        "Berlin",
        Source::Companies,
    ),
    want!(
        "198.51.100.70",
        "198.51.100.64/27",
        "Globex Logistics",
        "globex.example",
        0,
        Business,
        "DE",
        "Berlin",
        Source::Companies,
    ),
    want!(
        "198.51.100.100",
        "198.51.100.96/28",
        "Initech",
        "initech.example",
        0,
        Business,
        "DE",
        "Berlin",
        Source::Companies,
    ),
    want!(
        "198.51.100.245",
        "198.51.100.240/28",
        "Vtrack Demo Inc",
        "vtrack-demo.example",
        0,
        Business,
        "DE",
        "Berlin",
        Source::Companies,
    ),
    // Not in companies.csv: the AS range of Acme gives it, keyed by AS number.
    want!(
        "198.51.100.200",
        "198.51.100.192/27",
        "Acme Robotics",
        "as64503",
        64503,
        Business,
        "DE",
        "Berlin",
        Source::Asn,
    ),
    want!("192.0.2.5", "192.0.2.0/25", "Hooli", "hooli.example", 0, Business, "US", "Palo Alto", Source::Mmdb,),
    want!(
        "2001:db8:a000::1",
        "2001:db8:a000::/48",
        "Acme Robotics",
        "acme-robotics.example",
        0,
        Business,
        "FR",
        "Paris",
        Source::Companies,
    ),
    want!("2001:db8:1::1", "2001:db8::/33", "Example Broadband", "as64500", 64500, Isp, "FR", "Paris", Source::Asn,),
    // IPv4-mapped IPv6 resolves as the IPv4 address it carries.
    want!(
        "::ffff:198.51.100.70",
        "198.51.100.64/27",
        "Globex Logistics",
        "globex.example",
        0,
        Business,
        "DE",
        "Berlin",
        Source::Companies,
    ),
    want!(
        "::ffff:203.0.113.130",
        "203.0.113.128/26",
        "City of Springfield",
        "as64505",
        64505,
        Government,
        "GB",
        "London",
        Source::Asn,
    ),
];

#[test]
fn every_fixture_range_resolves_as_documented() {
    let table = Table::build(&common::fixture_config()).expect("fixtures build");
    for w in CASES {
        let hit = table.lookup(w.ip.parse().unwrap()).unwrap_or_else(|| panic!("{} not found", w.ip));
        let i = hit.info;
        assert_eq!(
            (i.company_name.as_str(), i.company_domain.as_str(), i.asn, i.network_class),
            (w.name, w.domain, w.asn, w.class),
            "{}",
            w.ip
        );
        assert_eq!((i.country.as_str(), i.city.as_str(), hit.source), (w.country, w.city, w.source), "{}", w.ip);
        assert_eq!(hit.prefix.to_string(), w.prefix, "{}", w.ip);
    }
}

#[test]
fn addresses_no_source_knows_are_misses() {
    let table = Table::build(&common::fixture_config()).unwrap();
    for ip in ["192.0.2.200", "8.8.8.8", "10.0.0.1", "2001:db9::1", "::1", "::ffff:8.8.8.8"] {
        assert!(table.lookup(ip.parse().unwrap()).is_none(), "{ip}");
        assert_eq!(table.resolve(ip.parse().unwrap()), vtrack_resolve::Answer::UNKNOWN, "{ip}");
    }
    assert!(Table::empty().lookup("198.51.100.10".parse().unwrap()).is_none());
    assert_eq!(Table::empty().resolve("198.51.100.10".parse().unwrap()), vtrack_resolve::Answer::UNKNOWN);
}

#[test]
fn only_places_from_a_city_database_give_a_country_without_an_organisation() {
    let cfg =
        vtrack_model::config::ResolveConfig { mmdb: vec![common::fixtures().join("demo.mmdb")], ..Default::default() };
    let table = Table::build(&cfg).unwrap();
    let hit = table.lookup("198.51.100.10".parse().unwrap()).unwrap();
    assert_eq!((hit.info.company_name.as_str(), hit.info.network_class), ("", Unknown));
    assert_eq!((hit.info.country.as_str(), hit.info.city.as_str()), ("DE", "Berlin"));
    assert_eq!(hit.prefix.to_string(), "198.51.100.0/24");
    assert!(!hit.info.network_class.is_account());
}

#[test]
fn a_snapshot_answers_exactly_like_the_sources() {
    let cfg = common::fixture_config();
    let table = Table::build(&cfg).unwrap();
    let dir = common::temp_dir("snapshot");
    let path = dir.join("table.bin");
    table.write_snapshot(&path).unwrap();
    let from_db = vtrack_model::config::ResolveConfig { db: Some(path.clone()), ..Default::default() };
    let loaded = Table::build(&from_db).unwrap();
    assert_eq!(loaded.records(), table.records());
    let all: Vec<_> = table.iter().collect();
    assert_eq!(loaded.iter().collect::<Vec<_>>(), all);
    assert!(all.len() >= 12, "{}", all.len());
    for w in CASES {
        let ip = w.ip.parse().unwrap();
        assert_eq!(loaded.lookup(ip), table.lookup(ip), "{}", w.ip);
        assert_eq!(loaded.resolve(ip), table.resolve(ip), "{}", w.ip);
    }
    // A resolver can run on the snapshot alone, and notices when it is replaced.
    let resolver = vtrack_resolve::Resolver::new(from_db).unwrap();
    assert_eq!(resolver.load().lookup("192.0.2.5".parse().unwrap()).unwrap().info.company_name, "Hooli");
    std::fs::write(&path, b"garbage").unwrap();
    assert!(resolver.sources_changed());
    let err = resolver.reload().unwrap_err();
    assert!(err.to_string().contains("table.bin") && err.to_string().contains("not a vtrack snapshot"), "{err}");
    assert_eq!(resolver.load().lookup("192.0.2.5".parse().unwrap()).unwrap().info.company_name, "Hooli");
}

#[test]
fn iter_lists_every_range_in_order() {
    let table = Table::build(&common::fixture_config()).unwrap();
    let ranges: Vec<_> = table.iter().collect();
    for w in ranges.windows(2) {
        let same_family = w[0].0.is_ipv4() == w[1].0.is_ipv4();
        assert!(!same_family || w[0].1 < w[1].0, "{:?} then {:?}", w[0], w[1]);
    }
    let hooli = ranges.iter().find(|r| r.2.company_name == "Hooli").unwrap();
    assert_eq!((hooli.0.to_string(), hooli.1.to_string()), ("192.0.2.0".to_string(), "192.0.2.127".to_string()));
}
