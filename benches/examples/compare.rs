//! Side by side on the same addresses, one table for benches/README.md:
//!
//! ```sh
//! scripts/fetch-asn-data.sh
//! cargo run --release -p vtrack-benches --example compare
//! ```
//!
//! Each contender runs over the same 10M random IPv4 addresses (IPv6: 1M addresses inside the data's
//! ranges) in turn, five rounds, interleaved so that a slower moment of the machine hits all of them; the
//! table shows each one's median time per lookup and how many times slower than vtrack's table it is. The
//! criterion bench (`cargo bench -p vtrack-benches --bench resolve`) measures the same with statistics.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use vtrack_benches::{random_v4, touch, AsnOrg, Setup};
use vtrack_resolve::{Sources, Table};

const ROUNDS: usize = 5;

#[inline(never)]
fn run<K: Copy>(ips: &[K], f: impl Fn(K) -> u64) -> f64 {
    let start = Instant::now();
    let mut acc = 0u64;
    for &ip in ips {
        acc = acc.wrapping_add(f(ip));
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / ips.len() as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs the contenders round-robin, `ROUNDS` times, and prints their medians side by side.
macro_rules! table {
    ($title:expr, $ips:expr, $( $name:expr => $f:expr ),+ $(,)?) => {{
        let names = [$($name),+];
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for _ in 0..ROUNDS {
            let mut i = 0;
            $(
                times[i].push(run($ips, $f));
                i += 1;
            )+
            let _ = i;
        }
        let medians: Vec<f64> = times.into_iter().map(median).collect();
        println!("\n{}\n\n| lookup | ns per lookup | vs vtrack |\n| --- | ---: | ---: |", $title);
        for (name, ns) in names.iter().zip(&medians) {
            println!("| {name} | {ns:.1} | {:.1}× |", ns / medians[0]);
        }
        medians
    }};
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn main() {
    let Some(setup) = Setup::load() else { return };
    let t = &setup.table;
    let mmdb = maxminddb::Reader::from_source(setup.mmdb()).expect("the bench MMDB reads back");
    let (trie4, trie6) = (setup.prefix_trie_v4(), setup.prefix_trie_v6());
    let (sorted4, sorted6) = (setup.sorted_v4(), setup.sorted_v6());
    let mm = |ip: IpAddr| {
        let r = mmdb.lookup(ip).ok();
        r.and_then(|r| r.decode::<AsnOrg>().ok().flatten())
            .map_or(0, |r| touch(r.autonomous_system_number, r.autonomous_system_organization))
    };

    println!("cores: {}", std::thread::available_parallelism().map_or(0, |n| n.get()));
    let ips = random_v4(10_000_000, 0x7AB1E);
    let medians = table!("IPv4, 10M uniformly random addresses", &ips,
        "vtrack `Table::resolve`" => |ip: u32| { let a = t.resolve(IpAddr::V4(Ipv4Addr::from(ip))); touch(a.asn, a.company_name) },
        "vtrack `Table::lookup` (with the prefix)" => |ip: u32| t.lookup(IpAddr::V4(Ipv4Addr::from(ip))).map_or(0, |h| touch(h.info.asn, &h.info.company_name)),
        "`maxminddb` decoding `{asn, org}`" => |ip: u32| mm(IpAddr::V4(Ipv4Addr::from(ip))),
        "`prefix-trie` longest-prefix match" => |ip: u32| trie4.get_lpm(&(ip, 32)).map_or(0, |(_, &id)| setup.touch_id(id)),
        "sorted ranges, binary search" => |ip: u32| sorted4.get(ip).map_or(0, |id| setup.touch_id(id)),
    );
    println!(
        "\nvtrack is {:.1}× faster than `maxminddb` and {:.1}× faster than `prefix-trie`",
        medians[2] / medians[0],
        medians[3] / medians[0]
    );

    let ips6 = setup.random_v6(1_000_000, 0x7AB1E6);
    table!("IPv6, 1M random addresses inside the data's ranges", &ips6,
        "vtrack `Table::resolve`" => |ip: u128| { let a = t.resolve(IpAddr::V6(Ipv6Addr::from(ip))); touch(a.asn, a.company_name) },
        "vtrack `Table::lookup` (with the prefix)" => |ip: u128| t.lookup(IpAddr::V6(Ipv6Addr::from(ip))).map_or(0, |h| touch(h.info.asn, &h.info.company_name)),
        "`maxminddb` decoding `{asn, org}`" => |ip: u128| mm(IpAddr::V6(Ipv6Addr::from(ip))),
        "`prefix-trie` longest-prefix match" => |ip: u128| trie6.get_lpm(&(ip, 128)).map_or(0, |(_, &id)| setup.touch_id(id)),
        "sorted ranges, binary search" => |ip: u128| sorted6.get(ip).map_or(0, |id| setup.touch_id(id)),
    );

    let v4_cidrs = setup.v4_cidrs().len();
    let prefix_list = v4_cidrs * std::mem::size_of::<(u32, u8, u32)>();
    println!("\nMemory\n\n| what | size |\n| --- | ---: |");
    println!("| IPv4 prefix list: {v4_cidrs} CIDRs as `(u32, u8, u32)` | {} |", mib(prefix_list));
    println!(
        "| vtrack IPv4 trie | {} ({:.2}× the prefix list) |",
        mib(t.index_bytes_v4()),
        t.index_bytes_v4() as f64 / prefix_list as f64
    );
    println!("| vtrack IPv6 trie | {} |", mib(t.index_bytes() - t.index_bytes_v4()));
    println!("| vtrack records ({} distinct answers, strings included) | {} |", t.records(), mib(t.record_bytes()));
    println!("| vtrack table in all | {} |", mib(t.memory_bytes()));
    println!("| MMDB of the same data | {} |", mib(setup.mmdb().len()));

    let time = |f: &dyn Fn()| {
        let mut v: Vec<Duration> = (0..3)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed()
            })
            .collect();
        v.sort();
        v[1]
    };
    let sources = Sources::load(&setup.cfg, |_| {}).expect("the real data reads");
    let snapshot = std::env::temp_dir().join(format!("vtrack-compare-{}.bin", std::process::id()));
    t.write_snapshot(&snapshot).expect("snapshot written");
    println!("\nBuild\n\n| step | time |\n| --- | ---: |");
    println!("| read both CSVs and compile | {:.2?} |", time(&|| drop(black_box(Table::build(&setup.cfg)))));
    println!(
        "| compile only (overlaps, records, tries) | {:.2?} |",
        time(&|| drop(black_box(Table::from_sources(&sources))))
    );
    println!(
        "| load a `vtrack build-db` snapshot | {:.2?} |",
        time(&|| drop(black_box(Table::read_snapshot(&snapshot))))
    );
    let _ = std::fs::remove_file(&snapshot);
}
