//! How long the resolver's learned layer takes to rebuild, and a lookup in it: the layer is rebuilt whole
//! and swapped in when enrichment learns a range, so a rebuild with a million learned networks must stay
//! well under a second (it runs beside ingest, which keeps answering from the old layer meanwhile).
//!
//! `cargo bench -p vtrack-benches --bench learned_layer`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use vtrack_model::{IdSource, LearnedRange, NetworkClass};
use vtrack_resolve::LearnedLayer;

/// `n` learned single addresses (a few widening to their /24) spread over the IPv4 space.
fn ranges(n: usize) -> Vec<LearnedRange> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    (0..n)
        .map(|i| {
            let ip = Ipv4Addr::from(rng.random::<u32>());
            LearnedRange {
                network: ipnetwork::IpNetwork::from(IpAddr::V4(ip)),
                company_name: format!("company-{}", i % 50_000),
                company_domain: format!("company-{}.example", i % 50_000),
                network_class: NetworkClass::Business,
                source: IdSource::Rdns,
                confidence: 60,
                evidence: format!("mail.company-{}.example", i % 50_000),
                found_ms: 1,
                expires_ms: i64::MAX,
            }
        })
        .collect()
}

fn learned(c: &mut Criterion) {
    let mut group = c.benchmark_group("learned_layer");
    group.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let input = ranges(n);
        group.bench_with_input(BenchmarkId::new("build", n), &input, |b, input| {
            b.iter(|| LearnedLayer::build(black_box(input).iter(), 0))
        });
    }
    let layer = LearnedLayer::build(&ranges(1_000_000), 0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let probes: Vec<IpAddr> = (0..10_000).map(|_| IpAddr::V4(Ipv4Addr::from(rng.random::<u32>()))).collect();
    group.sample_size(50);
    group.bench_function("lookup_10k_in_1m", |b| {
        b.iter(|| probes.iter().filter(|ip| layer.lookup(**ip).is_some()).count())
    });
    group.finish();
}

criterion_group!(benches, learned);
criterion_main!(benches);
