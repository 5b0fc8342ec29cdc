//! Criterion benches of the IP → company table on the real `@ip-location-db/asn` data.
//!
//! ```sh
//! scripts/fetch-asn-data.sh
//! cargo bench -p vtrack-benches --bench resolve
//! cargo bench -p vtrack-benches --bench resolve -- --warm-up-time 1 --measurement-time 3   # quicker
//! ```
//!
//! Every lookup bench reports the time of one lookup, averaged over a run through the same 10M random
//! IPv4 addresses (IPv6: 1M addresses inside the data's ranges); memory figures are printed first.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use vtrack_benches::{random_v4, touch, AsnOrg, Setup};
use vtrack_resolve::{Sources, Table};

const V4_ADDRESSES: usize = 10_000_000;
const V6_ADDRESSES: usize = 1_000_000;

/// Runs `f` over `ips` round-robin, `iters` times, and returns the elapsed time (criterion divides).
fn cycle<K: Copy>(ips: &[K], at: &mut usize, iters: u64, mut f: impl FnMut(K) -> u64) -> Duration {
    let mut acc = 0u64;
    let mut i = *at;
    let mut left = iters;
    let start = Instant::now();
    while left > 0 {
        let end = ips.len().min(i.saturating_add(usize::try_from(left).unwrap_or(usize::MAX)));
        for &ip in &ips[i..end] {
            acc = acc.wrapping_add(f(ip));
        }
        left -= (end - i) as u64;
        i = if end == ips.len() { 0 } else { end };
    }
    let elapsed = start.elapsed();
    *at = i;
    black_box(acc);
    elapsed
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn lookups(c: &mut Criterion) {
    let Some(setup) = Setup::load() else { return };
    let t = &setup.table;
    let v4_cidrs = setup.v4_cidrs();
    let prefix_list_bytes = v4_cidrs.len() * std::mem::size_of::<(u32, u8, u32)>();
    eprintln!(
        "real data: {} IPv4 rows = {} raw CIDRs; resolved into {} IPv4 ranges = {} CIDRs, {} IPv6 ranges; {} answers; built in {:.2?}",
        setup.cfg.asn_csv.first().and_then(|p| std::fs::read_to_string(p).ok()).map_or(0, |s| s.lines().count()),
        setup.raw_v4_cidr_count(),
        setup.v4.len(),
        v4_cidrs.len(),
        setup.v6.len(),
        t.records(),
        setup.build_time,
    );
    eprintln!(
        "memory: IPv4 prefix list (u32, u8, u32) {} | vtrack tries {} (IPv4 {}, IPv6 {}) + records {} = {}",
        mib(prefix_list_bytes),
        mib(t.index_bytes()),
        mib(t.index_bytes_v4()),
        mib(t.index_bytes() - t.index_bytes_v4()),
        mib(t.record_bytes()),
        mib(t.memory_bytes()),
    );

    let mmdb_bytes = setup.mmdb();
    eprintln!("memory: MMDB of the same ranges {}", mib(mmdb_bytes.len()));
    let mmdb = maxminddb::Reader::from_source(mmdb_bytes).expect("the bench MMDB reads back");
    let trie4 = setup.prefix_trie_v4();
    let sorted4 = setup.sorted_v4();
    let ips = random_v4(V4_ADDRESSES, 0x7AB1E);

    // Every contender must give the same answers before it is timed.
    for &ip in ips.iter().take(200_000) {
        let ours = t.lookup_v4(Ipv4Addr::from(ip)).map(|h| (h.info.asn, h.info.company_name.as_str()));
        let answer = t.resolve(IpAddr::V4(Ipv4Addr::from(ip)));
        assert_eq!(ours.unwrap_or((0, "")), (answer.asn, answer.company_name), "{}", Ipv4Addr::from(ip));
        let theirs = mmdb
            .lookup(IpAddr::V4(Ipv4Addr::from(ip)))
            .ok()
            .and_then(|r| r.decode::<AsnOrg>().ok().flatten())
            .map(|r| (r.autonomous_system_number, r.autonomous_system_organization));
        assert_eq!(ours, theirs, "{}", Ipv4Addr::from(ip));
        let trie = trie4.get_lpm(&(ip, 32)).map(|(_, &id)| setup.answers[id as usize].asn);
        let sorted = sorted4.get(ip).map(|id| setup.answers[id as usize].asn);
        assert_eq!((trie, sorted), (ours.map(|o| o.0), ours.map(|o| o.0)), "{}", Ipv4Addr::from(ip));
    }

    let mut g = c.benchmark_group("ipv4_lookup_10M_random");
    let mut at = 0;
    let vt = |ip: u32| {
        let a = t.resolve(IpAddr::V4(Ipv4Addr::from(ip)));
        touch(a.asn, a.company_name)
    };
    g.bench_function("vtrack_resolve", |b| b.iter_custom(|n| cycle(&ips, &mut at, n, vt)));
    let vt_lookup =
        |ip: u32| t.lookup(IpAddr::V4(Ipv4Addr::from(ip))).map_or(0, |h| touch(h.info.asn, &h.info.company_name));
    g.bench_function("vtrack_lookup_with_prefix", |b| b.iter_custom(|n| cycle(&ips, &mut at, n, vt_lookup)));
    g.bench_function("maxminddb_asn_org", |b| {
        b.iter_custom(|n| {
            cycle(&ips, &mut at, n, |ip| {
                let r = mmdb.lookup(IpAddr::V4(Ipv4Addr::from(ip))).ok();
                r.and_then(|r| r.decode::<AsnOrg>().ok().flatten())
                    .map_or(0, |r| touch(r.autonomous_system_number, r.autonomous_system_organization))
            })
        })
    });
    g.bench_function("prefix_trie_lpm", |b| {
        b.iter_custom(|n| {
            cycle(&ips, &mut at, n, |ip| trie4.get_lpm(&(ip, 32)).map_or(0, |(_, &id)| setup.touch_id(id)))
        })
    });
    g.bench_function("sorted_ranges_binary_search", |b| {
        b.iter_custom(|n| cycle(&ips, &mut at, n, |ip| sorted4.get(ip).map_or(0, |id| setup.touch_id(id))))
    });
    g.finish();

    let ips6 = setup.random_v6(V6_ADDRESSES, 0x7AB1E6);
    let trie6 = setup.prefix_trie_v6();
    let sorted6 = setup.sorted_v6();
    let mut g = c.benchmark_group("ipv6_lookup_1M_in_ranges");
    let mut at = 0;
    g.bench_function("vtrack_resolve", |b| {
        b.iter_custom(|n| {
            cycle(&ips6, &mut at, n, |ip| {
                let a = t.resolve(IpAddr::V6(Ipv6Addr::from(ip)));
                touch(a.asn, a.company_name)
            })
        })
    });
    g.bench_function("maxminddb_asn_org", |b| {
        b.iter_custom(|n| {
            cycle(&ips6, &mut at, n, |ip| {
                let r = mmdb.lookup(IpAddr::V6(Ipv6Addr::from(ip))).ok();
                r.and_then(|r| r.decode::<AsnOrg>().ok().flatten())
                    .map_or(0, |r| touch(r.autonomous_system_number, r.autonomous_system_organization))
            })
        })
    });
    g.bench_function("prefix_trie_lpm", |b| {
        b.iter_custom(|n| {
            cycle(&ips6, &mut at, n, |ip| trie6.get_lpm(&(ip, 128)).map_or(0, |(_, &id)| setup.touch_id(id)))
        })
    });
    g.bench_function("sorted_ranges_binary_search", |b| {
        b.iter_custom(|n| cycle(&ips6, &mut at, n, |ip| sorted6.get(ip).map_or(0, |id| setup.touch_id(id))))
    });
    g.finish();
}

fn build(c: &mut Criterion) {
    let Some(setup) = Setup::load() else { return };
    let sources = Sources::load(&setup.cfg, |_| {}).expect("the real data reads");
    let snapshot = std::env::temp_dir().join(format!("vtrack-bench-{}.bin", std::process::id()));
    setup.table.write_snapshot(&snapshot).expect("snapshot written");
    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("read_csv_and_compile", |b| b.iter(|| Table::build(black_box(&setup.cfg)).map(|t| t.records())));
    g.bench_function("compile_only", |b| b.iter(|| Table::from_sources(black_box(&sources)).map(|t| t.records())));
    g.bench_function("load_snapshot", |b| b.iter(|| Table::read_snapshot(black_box(&snapshot)).map(|t| t.records())));
    g.finish();
    let _ = std::fs::remove_file(&snapshot);
}

criterion_group!(benches, lookups, build);
criterion_main!(benches);
