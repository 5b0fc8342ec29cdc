//! MaxMind's own test databases (`GeoIP2-Enterprise-Test.mmdb`, `GeoIP2-ISP-Test.mmdb`, …), when
//! `scripts/fetch-maxmind-test-data.sh` has fetched them from the source distribution of the PyPI package
//! `maxminddb`: the account keys and classes the MMDB layer gives the organisations they name.
//!
//! Skipped with a notice otherwise, so a plain `cargo test` works offline; the full test script fetches them
//! and requires them (`vtrack_testkit::missing`).

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;
use serde::Deserialize;
use vtrack_model::config::ResolveConfig;
use vtrack_model::NetworkClass;
use vtrack_resolve::account_key::{self, as_key, registrable_domain, same_org, NAME_KEY_PREFIX};
use vtrack_resolve::{classify, Table};

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VTRACK_MAXMIND_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::fixtures().join("../.cache/maxmind-test-data"));
    if dir.join("GeoIP2-Enterprise-Test.mmdb").is_file() && dir.join("GeoIP2-ISP-Test.mmdb").is_file() {
        Some(dir)
    } else {
        vtrack_testkit::missing("MaxMind's test databases", "run scripts/fetch-maxmind-test-data.sh");
        None
    }
}

fn build(path: &Path) -> Table {
    Table::build(&ResolveConfig { mmdb: vec![path.to_path_buf()], ..Default::default() })
        .unwrap_or_else(|e| panic!("{} builds: {e}", path.display()))
}

fn get(t: &Table, ip: &str) -> vtrack_model::event::CompanyInfo {
    t.lookup(ip.parse::<IpAddr>().expect("an address")).unwrap_or_else(|| panic!("{ip} not found")).info.clone()
}

#[test]
fn enterprise_customers_are_not_keyed_by_their_isps_ptr_domain() {
    let Some(dir) = data_dir() else { return };
    let t = build(&dir.join("GeoIP2-Enterprise-Test.mmdb"));

    // Bevtec, on Bredband2's AS29518, with Bredband2's domain: its own name key, its own class.
    for ip in ["89.160.20.112", "89.160.20.127", "2001:219::1"] {
        let bevtec = get(&t, ip);
        assert_eq!(bevtec.company_name, "Bevtec", "{ip}");
        assert_ne!(bevtec.company_domain, "bredband2.com", "{ip}");
        assert_eq!((bevtec.company_domain.as_str(), bevtec.asn), ("org:bevtec", 29518), "{ip}");
        assert_eq!(bevtec.network_class, NetworkClass::Government, "{ip}: its user_type");
    }
    // STONEHOUSE office network, whose domain is `in-addr.arpa`.
    let stonehouse = get(&t, "81.2.69.160");
    assert_eq!(stonehouse.company_name, "STONEHOUSE office network");
    assert_ne!(stonehouse.company_domain, "in-addr.arpa");
    assert_eq!(stonehouse.company_domain, "org:stonehouse-office-network");

    // A customer named without an AS organisation, on CenturyLink's AS209: not `as209`, not empty.
    assert_eq!(get(&t, "216.160.83.56").company_domain, "org:lariat-software");
    // A customer with a domain that is neither its ISP's nor shared: its key, and a surer identification.
    let shoesfin = get(&t, "67.43.156.1");
    assert_eq!((shoesfin.company_domain.as_str(), shoesfin.id_confidence), ("shoesfin.net", 80));
    assert_eq!(get(&t, "89.160.20.112").id_confidence, 70, "named, without a domain of its own");
    // An ISP's own record keeps the ISP's own domain.
    assert_eq!(get(&t, "74.209.24.1").company_domain, "frpt.net");
}

#[test]
fn isp_customers_on_cogent_get_their_own_keys_and_class() {
    let Some(dir) = data_dir() else { return };
    let t = build(&dir.join("GeoIP2-ISP-Test.mmdb"));

    let ghd = get(&t, "38.105.0.64");
    let presse = get(&t, "38.108.80.30");
    assert_eq!((ghd.company_name.as_str(), ghd.asn), ("GHD", 174));
    assert_eq!((presse.company_name.as_str(), presse.asn), ("La Presse", 174));
    assert_eq!(ghd.company_domain, "org:ghd");
    assert_eq!(presse.company_domain, "org:la-presse");
    assert_ne!(ghd.company_domain, presse.company_domain);
    assert_eq!((ghd.network_class, presse.network_class), (NetworkClass::Business, NetworkClass::Business));
    // Cogent itself, the AS's own organisation, keeps `as174`.
    let cogent = get(&t, "38.0.0.1");
    assert_eq!((cogent.company_name.as_str(), cogent.company_domain.as_str()), ("Cogent Communications", "as174"));

    // What the stores' migration does with the keys the old rule gave them: every customer was `as174`.
    let owners = t.as_organisations();
    let names: Vec<&str> = owners.get(&174).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
    assert_eq!(names, ["Cogent Communications"]);
    assert_eq!(account_key::rekey("as174", "La Presse", 174, &names).as_deref(), Some("org:la-presse"));
    assert_eq!(account_key::rekey("as174", "GHD", 174, &names).as_deref(), Some("org:ghd"));
    assert_eq!(account_key::rekey("as174", "Cogent Communications", 174, &names), None);
}

#[test]
fn an_asn_database_says_no_more_than_the_as_layer() {
    let Some(dir) = data_dir() else { return };
    let t = build(&dir.join("GeoLite2-ASN-Test.mmdb"));
    let (n, hits) = t.iter().fold((0, 0), |(n, hits), (_, _, info, _)| {
        (n + 1, hits + usize::from(info.id_confidence == 50 && as_key(&info.company_domain) == Some(info.asn)))
    });
    assert!(n > 100 && hits == n, "{hits} of {n} records keyed as<N> with confidence 50");
}

#[derive(Deserialize, Default, Debug)]
struct Names {
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    isp: Option<String>,
    #[serde(default)]
    autonomous_system_organization: Option<String>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(default)]
    user_type: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
struct Record {
    #[serde(flatten)]
    top: Names,
    #[serde(default)]
    traits: Option<Names>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// What the properties found over one database.
#[derive(Default, Debug)]
struct Counts {
    networks: usize,
    domain_keys: usize,
    as_keys: usize,
    name_keys: usize,
    customers: usize,
}

/// Checks every network of one database against the key rules; returns what it saw.
fn check_every_network(path: &Path) -> Counts {
    let t = build(path);
    let reader = maxminddb::Reader::open_readfile(path).expect("opens");
    let mut c = Counts::default();
    let networks = reader.networks(maxminddb::WithinOptions::default()).expect("networks");
    for item in networks {
        let item = item.expect("a network");
        let net: IpNetwork = item.network().expect("its network");
        let rec: Record = item.decode().expect("decodes").unwrap_or_default();
        let names = if nonempty(&rec.top.organization).is_some()
            || nonempty(&rec.top.isp).is_some()
            || nonempty(&rec.top.autonomous_system_organization).is_some()
            || rec.top.autonomous_system_number.is_some()
        {
            rec.top
        } else {
            rec.traits.unwrap_or_default()
        };
        let Some(hit) = t.lookup(net.network()) else { continue };
        let info = &hit.info;
        let at = format!("{} {net}", path.file_name().and_then(|n| n.to_str()).unwrap_or(""));
        let (org, isp, as_org) =
            (nonempty(&names.organization), nonempty(&names.isp), nonempty(&names.autonomous_system_organization));
        let name = org.or(isp).or(as_org).unwrap_or("");
        if name.is_empty() && names.autonomous_system_number.is_none() {
            continue;
        }
        c.networks += 1;
        let key = info.company_domain.as_str();
        assert_eq!(info.company_name, name, "{at}");
        assert!(!key.is_empty(), "{at}: {name:?} has an empty key");
        assert!(!key.ends_with(".arpa") && key != "arpa", "{at}: {name:?} keyed {key}");
        if key.contains('.') {
            c.domain_keys += 1;
            assert_ne!(psl::suffix_str(key), Some(key), "{at}: {name:?} keyed by a bare public suffix");
            assert_eq!(registrable_domain(key).as_deref(), Some(key), "{at}: {name:?} keyed {key}");
        } else if let Some(n) = as_key(key) {
            c.as_keys += 1;
            assert_eq!(Some(n), names.autonomous_system_number, "{at}");
            // Only the AS's own organisation: the AS organisation (the ISP when the record names none).
            match as_org.or(isp) {
                Some(owner) => assert!(same_org(name, owner), "{at}: {name:?} keyed {key}, its AS is {owner:?}"),
                None => assert!(org.is_none(), "{at}: {name:?} keyed {key} with no AS organisation named"),
            }
        } else {
            c.name_keys += 1;
            assert_eq!(Some(key.to_string()), account_key::name_key(name), "{at}");
            assert!(key.starts_with(NAME_KEY_PREFIX), "{at}");
        }
        // A customer of the network it sits in: its key is never its carrier's, its class its own.
        let customer = org.is_some() && ![isp, as_org].into_iter().flatten().any(|o| same_org(name, o));
        if customer {
            c.customers += 1;
            assert!(as_key(key).is_none(), "{at}: customer {name:?} keyed {key}");
            for carrier in [isp, as_org].into_iter().flatten() {
                assert!(
                    !key.contains('.')
                        || !account_key::domain_names(key, carrier)
                        || account_key::domain_names(key, name),
                    "{at}: customer {name:?} keyed by {key}, its carrier {carrier:?}'s domain"
                );
            }
            if nonempty(&names.user_type).is_none() {
                assert_eq!(info.network_class, classify::classify(name, 0), "{at}: {name:?}");
            }
        }
    }
    c
}

#[test]
fn every_network_of_every_test_database_follows_the_key_rules() {
    let Some(dir) = data_dir() else { return };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read the data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(".mmdb")
                && (n.starts_with("GeoIP2-") || n.starts_with("GeoLite2-") || n.starts_with("GeoIP-"))
                && !n.contains("Broken")
                && !n.contains("Invalid")
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "{paths:?}");
    let mut total = Counts::default();
    for path in &paths {
        let c = check_every_network(path);
        if c.networks > 0 {
            eprintln!("{}: {c:?}", path.file_name().and_then(|n| n.to_str()).unwrap_or(""));
        }
        total.networks += c.networks;
        total.domain_keys += c.domain_keys;
        total.as_keys += c.as_keys;
        total.name_keys += c.name_keys;
        total.customers += c.customers;
    }
    eprintln!("all {} databases: {total:?}", paths.len());
    assert!(total.networks > 1000 && total.customers > 10 && total.name_keys > 10, "{total:?}");
}
