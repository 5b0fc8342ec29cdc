//! The property test: the compiled table against a naive reference, on random layered sources.
//!
//! The reference knows nothing of sweeps or tries: for each address it scans every source row, keeps the
//! ones containing the address, and picks the winner by the documented rules (layer, then fewest addresses,
//! then first read). Its prefix is the widest aligned block around the address inside the run of
//! addresses with the same answer, found by scanning elementary intervals between row boundaries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vtrack_model::config::ResolveConfig;
use vtrack_model::event::CompanyInfo;
use vtrack_model::NetworkClass;

use crate::{account_key, classify, Source, Table};
use vtrack_testkit::mmdb::{Value, Writer};

/// One row of one source, as the test generated it.
#[derive(Debug, Clone)]
struct Row {
    v4: bool,
    start: u128,
    end: u128,
    /// `(layer, order)`: the tie-breaks after size.
    layer: Source,
    order: u32,
    org: Option<CompanyInfo>,
    /// `(country, city)`
    geo: Option<(String, String)>,
}

type Answer = Option<(CompanyInfo, Source)>;

struct Reference {
    rows: Vec<Row>,
    /// Per family (IPv4, IPv6): every row start and end + 1, sorted, with 0.
    cuts: [Vec<u128>; 2],
}

impl Reference {
    fn new(rows: Vec<Row>) -> Reference {
        let cuts = [true, false].map(|v4| {
            let max = if v4 { u32::MAX as u128 } else { u128::MAX };
            let mut cuts: Vec<u128> = rows
                .iter()
                .filter(|r| r.v4 == v4)
                .flat_map(|r| [Some(r.start), r.end.checked_add(1).filter(|&e| e <= max)])
                .flatten()
                .chain([0])
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            cuts
        });
        Reference { rows, cuts }
    }

    fn answer(&self, v4: bool, ip: u128) -> Answer {
        let containing = || self.rows.iter().filter(move |r| r.v4 == v4 && r.start <= ip && ip <= r.end);
        let org = containing().filter(|r| r.org.is_some()).min_by_key(|r| (r.layer, r.end - r.start, r.order));
        let geo = containing().filter(|r| r.geo.is_some()).min_by_key(|r| (r.end - r.start, r.order));
        if org.is_none() && geo.is_none() {
            return None;
        }
        let mut info = org.and_then(|r| r.org.clone()).unwrap_or_default();
        if let Some((country, city)) = geo.and_then(|r| r.geo.clone()) {
            info.country = country;
            info.city = city;
        }
        Some((info, org.map_or(Source::Mmdb, |r| r.layer)))
    }

    /// The answer at `ip` and the widest aligned block around it with that same answer.
    fn resolve(&self, v4: bool, ip: u128) -> Option<(CompanyInfo, Source, u8)> {
        let (bits, max) = if v4 { (32, u32::MAX as u128) } else { (128, u128::MAX) };
        let answer = self.answer(v4, ip)?;
        let cuts = &self.cuts[usize::from(!v4)];
        // Elementary interval k is [cuts[k], cuts[k+1] - 1]; the answer is constant inside each.
        let k = cuts.partition_point(|&c| c <= ip) - 1;
        let interval_end = |k: usize| cuts.get(k + 1).map_or(max, |c| c - 1);
        let mut lo_k = k;
        while lo_k > 0 && self.answer(v4, cuts[lo_k - 1]).as_ref() == Some(&answer) {
            lo_k -= 1;
        }
        let mut hi_k = k;
        while hi_k + 1 < cuts.len() && self.answer(v4, cuts[hi_k + 1]).as_ref() == Some(&answer) {
            hi_k += 1;
        }
        let (lo, hi) = (cuts[lo_k], interval_end(hi_k));
        let len = (0..=bits)
            .find(|&len| {
                let host = if len == bits { 0 } else { u128::MAX >> (128 - (bits - len)) };
                (ip & !host) >= lo && ((ip & !host) | host) <= hi
            })
            .unwrap_or(bits);
        Some((answer.0, answer.1, len as u8))
    }
}

fn name(rng: &mut StdRng) -> String {
    const WORDS: [&str; 10] =
        ["Acme", "Globex", "Telecom", "University", "City of", "Cloud", "Broadband", "Initech", "Hosting", "Pharma"];
    format!("{} {}", WORDS[rng.random_range(0..10)], WORDS[rng.random_range(0..10)])
}

/// A random range inside a small window, so that rows overlap and nest a lot.
fn range(rng: &mut StdRng, v4: bool) -> (u128, u128) {
    let (base, window): (u128, u32) = if v4 { (0x0A00_0000, 18) } else { (0x2001_0db8 << 96, 40) };
    let size_log = rng.random_range(0..=window);
    let size = 1u128 << size_log;
    let start = base + rng.random_range(0..(1u128 << window));
    let start = if rng.random_bool(0.5) { start & !(size - 1) } else { start };
    (start, start + size - 1 - if rng.random_bool(0.3) { rng.random_range(0..size) } else { 0 })
}

/// A random CIDR inside the window: `(first, last, prefix length)`.
fn cidr(rng: &mut StdRng, v4: bool) -> (u128, u128, u8) {
    let (base, window, bits): (u128, u32, u32) = if v4 { (0x0A00_0000, 18, 32) } else { (0x2001_0db8 << 96, 40, 128) };
    let host_log = rng.random_range(0..=window);
    let start = (base + rng.random_range(0..(1u128 << window))) & !((1u128 << host_log) - 1);
    (start, start + (1u128 << host_log) - 1, (bits - host_log) as u8)
}

fn addr(v4: bool, k: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(k as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(k))
    }
}

const CLASSES: [&str; 6] = ["business", "isp", "hosting", "education", "government", "unknown"];

/// Writes random sources into `dir`, returning the config and the rows the reference scans.
fn random_sources(rng: &mut StdRng, dir: &Path) -> (ResolveConfig, Vec<Row>) {
    let mut rows = Vec::new();
    let mut order = 0u32;
    let mut next = || {
        order += 1;
        order
    };
    // Customer CSV.
    let mut csv = String::from("cidr,name,domain,class\n");
    for _ in 0..40 {
        let v4 = rng.random_bool(0.6);
        let (start, end, len) = cidr(rng, v4);
        let n = name(rng);
        let domain = format!("{}.example", n.to_lowercase().replace(' ', "-"));
        let class = rng.random_bool(0.5).then(|| CLASSES[rng.random_range(0..6)]);
        csv += &format!("{}/{len},{n},{domain},{}\n", addr(v4, start), class.unwrap_or(""));
        let (network_class, class_confidence) =
            class.map_or_else(|| classify::by_name(&n, 0), |c| (c.parse().unwrap(), 100));
        let org = CompanyInfo {
            company_name: n,
            company_domain: domain,
            network_class,
            class_confidence,
            ..Default::default()
        };
        rows.push(Row { v4, start, end, layer: Source::Companies, order: next(), org: Some(org), geo: None });
    }
    let companies = dir.join("companies.csv");
    std::fs::write(&companies, csv).unwrap();

    // Two MMDB files; networks do not overlap within a file (a file is one tree), but do across files.
    let mut mmdbs = Vec::new();
    for f in 0..2 {
        let mut w = Writer::new("Test");
        let mut taken: Vec<(bool, u128, u128)> = Vec::new();
        let mut file_rows: Vec<Row> = Vec::new();
        // (row, domain, operator): a domain is an organisation's key unless the file's organisations
        // share it widely, and then only the operator's.
        let mut domains: Vec<(usize, String, bool)> = Vec::new();
        for _ in 0..60 {
            let v4 = rng.random_bool(0.6);
            let (start, end, len) = cidr(rng, v4);
            if taken.iter().any(|&(f4, s, e)| f4 == v4 && s <= end && start <= e) {
                continue;
            }
            taken.push((v4, start, end));
            let mut fields = Vec::new();
            let mut org = None;
            let mut geo = None;
            if rng.random_bool(0.6) {
                let n = name(rng);
                let asn = if rng.random_bool(0.5) { rng.random_range(1..100u32) } else { 0 };
                fields.push(("organization", Value::String(n.clone())));
                if asn != 0 {
                    fields.push(("autonomous_system_number", Value::U32(asn)));
                }
                // The AS's own organisation, keyed `as<N>` and classed with its AS number; else a customer
                // (or an organisation whose network the record does not name), keyed and classed by name.
                let operator = rng.random_bool(0.3);
                if operator {
                    fields.push(("autonomous_system_organization", Value::String(n.clone())));
                }
                let (network_class, class_confidence) = classify::by_name(&n, if operator { asn } else { 0 });
                let mut info = CompanyInfo {
                    company_domain: account_key::account_key(&n, asn, operator, None),
                    network_class,
                    class_confidence,
                    company_name: n,
                    asn,
                    ..Default::default()
                };
                if rng.random_bool(0.5) {
                    let domain = format!("d{}.example", rng.random_range(0..8));
                    fields.push(("domain", Value::String(domain.clone())));
                    domains.push((file_rows.len(), domain, operator));
                }
                if rng.random_bool(0.3) {
                    fields.push(("user_type", Value::str("hosting")));
                    (info.network_class, info.class_confidence) = (NetworkClass::Hosting, 90);
                }
                org = Some(info);
            }
            if org.is_none() || rng.random_bool(0.5) {
                let country = ["US", "DE", "FR"][rng.random_range(0..3)].to_string();
                let city = if rng.random_bool(0.5) { format!("City{}", rng.random_range(0..4)) } else { String::new() };
                fields.push(("country", Value::map([("iso_code", Value::String(country.clone()))])));
                if !city.is_empty() {
                    fields.push(("city", Value::map([("names", Value::map([("en", Value::String(city.clone()))]))])));
                }
                geo = Some((country, city));
            }
            w.insert(format!("{}/{len}", addr(v4, start)).parse().unwrap(), &Value::map(fields));
            file_rows.push(Row { v4, start, end, layer: Source::Mmdb, order: 0, org, geo });
        }
        for (row, domain, operator) in &domains {
            let users: std::collections::HashSet<Vec<String>> = domains
                .iter()
                .filter(|(_, d, _)| d == domain)
                .filter_map(|(r, _, _)| file_rows[*r].org.as_ref())
                .map(|o| account_key::name_words(&o.company_name))
                .collect();
            if let Some(org) = file_rows[*row].org.as_mut() {
                if *operator || users.len() < crate::source::SHARED_DOMAIN_ORGS {
                    org.company_domain = domain.clone();
                }
            }
        }
        // Sources reads a file's networks in address order, IPv4 first (the `::/96` subtree).
        file_rows.sort_by_key(|r| (!r.v4, r.start));
        for mut r in file_rows {
            r.order = next();
            rows.push(r);
        }
        let path = dir.join(format!("test{f}.mmdb"));
        let mut bytes = Vec::new();
        w.write(&mut bytes).unwrap();
        std::fs::write(&path, bytes).unwrap();
        mmdbs.push(path);
    }

    // AS ranges: arbitrary (not CIDR) ranges, nested and overlapping, some of equal size.
    let mut csv = String::new();
    for _ in 0..80 {
        let v4 = rng.random_bool(0.6);
        let (start, end) = range(rng, v4);
        let n = name(rng);
        let asn = rng.random_range(1..50u32);
        csv += &format!("{},{},{asn},\"{n}\"\n", addr(v4, start), addr(v4, end));
        let org = CompanyInfo {
            company_domain: format!("as{asn}"),
            network_class: classify::classify(&n, asn),
            company_name: n,
            asn,
            ..Default::default()
        };
        rows.push(Row { v4, start, end, layer: Source::Asn, order: next(), org: Some(org), geo: None });
    }
    let asn = dir.join("asn.csv");
    std::fs::write(&asn, csv).unwrap();

    for row in &mut rows {
        if let Some(org) = &mut row.org {
            org.id_source = row.layer.id_source();
            org.id_confidence = org.id_source.default_confidence();
            // The MMDB layer is surer of an organisation its database keys by a domain.
            if row.layer == Source::Mmdb && org.company_domain.contains('.') {
                org.id_confidence = crate::source::DOMAIN_CONFIDENCE;
            }
        }
    }
    let cfg = ResolveConfig { companies: vec![companies], mmdb: mmdbs, asn_csv: vec![asn], ..Default::default() };
    // The AS layer's organisations are classed by the model with their AS's footprint, placed by every
    // geo layer (the MMDB files' countries too).
    let profiles = crate::as_profile::AsProfiles::from_sources(&crate::source::Sources::load(&cfg, |_| {}).unwrap());
    for row in rows.iter_mut().filter(|r| r.layer == Source::Asn) {
        if let Some(org) = &mut row.org {
            let d = crate::class_model::decide(&org.company_name, org.asn, profiles.get(org.asn), &[]);
            (org.network_class, org.class_confidence) = (d.class, d.confidence);
        }
    }
    (cfg, rows)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vtrack-resolve-ref-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn table_agrees_with_a_naive_reference_on_100k_addresses() {
    const SEEDS: u64 = 4;
    const PER_SEED: usize = 25_000;
    let mut checked = 0;
    for seed in 0..SEEDS {
        let mut rng = StdRng::seed_from_u64(0x5EED_0000 + seed);
        let dir = temp_dir(&seed.to_string());
        let (cfg, rows) = random_sources(&mut rng, &dir);
        let table = Table::build(&cfg).unwrap();
        let reference = Reference::new(rows);
        for n in 0..PER_SEED {
            let v4 = n % 5 < 3;
            let (window_base, window_log, max) =
                if v4 { (0x0A00_0000u128, 18, u32::MAX as u128) } else { (0x2001_0db8u128 << 96, 40, u128::MAX) };
            // Half near range boundaries (start - 1, start, end, end + 1), half random in and around the window.
            let ip = if n % 2 == 0 {
                let fam: Vec<&Row> = reference.rows.iter().filter(|r| r.v4 == v4).collect();
                let r = fam[rng.random_range(0..fam.len())];
                match rng.random_range(0..4) {
                    0 => r.start.saturating_sub(1),
                    1 => r.start,
                    2 => r.end,
                    _ => r.end.saturating_add(1).min(max),
                }
            } else if n % 7 == 1 {
                rng.random_range(0..=max)
            } else {
                (window_base - (1 << (window_log - 2))) + rng.random_range(0..(3u128 << (window_log - 1)))
            };
            let want = reference.resolve(v4, ip);
            let query =
                if v4 && n % 3 == 0 { IpAddr::V6(Ipv4Addr::from(ip as u32).to_ipv6_mapped()) } else { addr(v4, ip) };
            let got = table.lookup(query).map(|h| (h.info.clone(), h.source, h.prefix.prefix()));
            assert_eq!(got, want, "seed {seed}, address {query}");
            if let Some(hit) = table.lookup(query) {
                assert!(hit.prefix.contains(addr(v4, ip)), "{query} outside {}", hit.prefix);
            }
            // The branch-free hot path gives the same answer, the empty one for a miss.
            let answer = table.resolve(query);
            let (info, source) = want.as_ref().map_or((CompanyInfo::default(), None), |w| (w.0.clone(), Some(w.1)));
            assert_eq!(
                (answer.info, answer.source, answer.asn, answer.company_name, answer.network_class),
                (&info, source, info.asn, info.company_name.as_str(), info.network_class),
                "seed {seed}, address {query}"
            );
            checked += 1;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(checked, 100_000);
}
