//! The incremental batch write against a full recomputation, through the real SQLite store: over random
//! event histories delivered in random order and batches, with replays, duplicates within a batch and
//! processor restarts, every account's stored state, score, stage and the alerts each batch raised equal
//! what `Scorer::recompute` makes of the stored history.

mod common;

use common::block_on;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;
use vtrack_model::config::{AlertsConfig, ScoringConfig};
use vtrack_model::event::{CompanyInfo, Utm};
use vtrack_model::{EnrichedEvent, NetworkClass};
use vtrack_process::{AccountState, AccountStore, BatchRules, Processor, RescoreStore, Scorer, StoredScore};
use vtrack_store::{SqliteStore, Value};

const T0: i64 = 1_795_000_000;
const PATHS: &[&str] =
    &["/", "/pricing", "/pricing/enterprise", "/demo", "/docs/api", "/blog/a", "/blog/b", "/careers"];

fn companies() -> Vec<(&'static str, &'static str, NetworkClass)> {
    vec![
        ("Acme", "acme.example", NetworkClass::Business),
        ("Globex University", "globex.example", NetworkClass::Education),
        ("Initech", "initech.example", NetworkClass::Business),
        ("Big Broadband", "bigbroadband.example", NetworkClass::Isp),
    ]
}

/// Visits of a few visitors over two months: each visit a handful of events minutes apart.
fn history(rng: &mut StdRng, visits: usize) -> Vec<EnrichedEvent> {
    let companies = companies();
    let mut out = Vec::new();
    for _ in 0..visits {
        let visitor = rng.random_range(0..10);
        let home = visitor % companies.len();
        let (name, domain, class) =
            companies[if rng.random_bool(0.9) { home } else { rng.random_range(0..companies.len()) }];
        let start = T0 + rng.random_range(0..60) * 86_400 + rng.random_range(0..86_400);
        let utm = if rng.random_bool(0.3) {
            Utm {
                source: ["linkedin", "google"][rng.random_range(0..2)].into(),
                campaign: ["q1", "q2", ""][rng.random_range(0..3)].into(),
                ..Default::default()
            }
        } else {
            Utm::default()
        };
        for i in 0..rng.random_range(1..7) {
            let kind = match rng.random_range(0..20) {
                0..12 => "pageview",
                12..17 => "engagement",
                17 => "identify",
                _ => "custom",
            };
            let path = PATHS[rng.random_range(0..PATHS.len())];
            out.push(EnrichedEvent {
                event_id: format!("e{:06}", rng.random_range(0..1_000_000)),
                site: "s".into(),
                ts_ms: (start + i * rng.random_range(0..600)) * 1000 + rng.random_range(0..1000),
                kind: kind.into(),
                visitor_id: format!("v{visitor}"),
                url: format!("https://x.example{path}"),
                path: path.into(),
                utm: if i == 0 { utm.clone() } else { Utm::default() },
                eng_ms: if kind == "engagement" { rng.random_range(0..600_000) } else { 0 },
                email: if kind == "identify" { format!("p{visitor}@{domain}") } else { String::new() },
                company: CompanyInfo {
                    company_name: name.into(),
                    company_domain: domain.into(),
                    network_class: class,
                    country: "DE".into(),
                    ..Default::default()
                },
                ..Default::default()
            });
        }
    }
    let mut seen = HashSet::new();
    out.retain(|e| seen.insert(e.event_id.clone()));
    out
}

fn rules() -> BatchRules {
    let scoring = ScoringConfig {
        topics: [
            ("Pricing".to_string(), vec!["/pricing*".to_string()]),
            ("Docs".to_string(), vec!["/docs*".to_string()]),
        ]
        .into_iter()
        .collect(),
        target_domains: vec!["initech.example".into()],
        ..Default::default()
    };
    let alerts = AlertsConfig { hot_pages: vec!["/demo*".into()], on_return_visit: true, ..Default::default() };
    BatchRules { scorer: Scorer::new(&scoring, &alerts), webhooks: Vec::new(), owners: Default::default() }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// Equal up to the rounding of decayed sums, which decay in other steps when batched differently.
fn assert_same_state(got: &AccountState, want: &AccountState, what: &str) {
    let (g, w) = (&got.score, &want.score);
    assert!(close(g.points, w.points), "{what}: points {} vs {}", g.points, w.points);
    assert_eq!((g.at, &g.first_visit, &g.visitors), (w.at, &w.first_visit, &w.visitors), "{what}");
    assert_eq!((&g.campaigns, &g.contacts, &g.recent), (&w.campaigns, &w.contacts, &w.recent), "{what}");
    assert_eq!(g.pages.keys().collect::<Vec<_>>(), w.pages.keys().collect::<Vec<_>>(), "{what}");
    for (path, (views, points)) in &g.pages {
        let (v, p) = w.pages[path];
        assert!(*views == v && close(*points, p), "{what}: page {path}: {views} {points} vs {v} {p}");
    }
    assert_eq!(g.topics.keys().collect::<Vec<_>>(), w.topics.keys().collect::<Vec<_>>(), "{what}");
    for (t, p) in &g.topics {
        assert!(close(*p, w.topics[t]), "{what}: topic {t}");
    }
    let aggregates = |s: &AccountState| {
        (
            s.company_name.clone(),
            s.network_class,
            s.country.clone(),
            s.first_seen,
            s.last_seen,
            s.sessions,
            s.pageviews,
            s.engaged_ms,
            s.events,
            s.scoring.clone(),
        )
    };
    assert_eq!(aggregates(got), aggregates(want), "{what}");
}

fn alert_ids(store: &SqliteStore) -> BTreeSet<String> {
    let r = store.query("SELECT alert_id FROM alerts").unwrap();
    r.rows
        .into_iter()
        .flatten()
        .map(|v| match v {
            Value::Text(t) => t,
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Runs one random history; returns the alerts it raised.
fn run(seed: u64) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let visits = rng.random_range(20..80);
    let events = history(&mut rng, visits);
    // Mostly in time order, as a live bus delivers, with late stragglers.
    let mut keyed: Vec<(i64, EnrichedEvent)> = events
        .iter()
        .map(|e| (e.ts_ms + rng.random_range(0..3) * rng.random_range(0..3 * 86_400_000), e.clone()))
        .collect();
    keyed.shuffle(&mut rng);
    keyed.sort_by_key(|(k, _)| *k);
    let order: Vec<EnrichedEvent> = keyed.into_iter().map(|(_, e)| e).collect();

    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let rules = rules();
    let mut processor = Processor::new(Duration::from_secs(1800));
    let mut sent: Vec<EnrichedEvent> = Vec::new();
    let mut sent_ids: HashSet<String> = HashSet::new();
    let mut last: HashMap<String, StoredScore> = HashMap::new();
    let mut raised = 0;
    let mut rest = &order[..];
    while !rest.is_empty() {
        let n = rng.random_range(1..=rest.len().min(40));
        let mut batch: Vec<EnrichedEvent> = rest[..n].to_vec();
        rest = &rest[n..];
        if !sent.is_empty() && rng.random_bool(0.3) {
            for _ in 0..rng.random_range(1..6) {
                batch.push(sent[rng.random_range(0..sent.len())].clone());
            }
        }
        if rng.random_bool(0.2) {
            let again = batch[rng.random_range(0..batch.len())].clone();
            batch.push(again);
        }
        if rng.random_bool(0.15) {
            processor = Processor::new(Duration::from_secs(1800));
        }
        let alerts_before = alert_ids(&store);
        let written = block_on(processor.write(&mut store, &rules, &batch, &[])).unwrap();
        let new_ids: HashSet<String> =
            batch.iter().map(|e| e.event_id.clone()).filter(|id| !sent_ids.contains(id)).collect();
        assert_eq!(written.stored, new_ids.len(), "seed {seed}");

        let mut expected_alerts = 0;
        let mut expected_ids = BTreeSet::new();
        let accounts = block_on(store.all_accounts()).unwrap();
        // An account whose sessions all moved to another (its visitors identified) is gone; if it comes
        // back it starts anew.
        last.retain(|domain, _| accounts.iter().any(|(_, d)| d == domain));
        for (site, domain) in accounts {
            let what = format!("seed {seed}, {domain}, after {} events", sent_ids.len() + new_ids.len());
            let stored = block_on(store.account_states(&site, &[domain.as_str()])).unwrap().remove(0);
            let mut h = block_on(store.account_histories(&site, &[domain.as_str()])).unwrap().remove(0);
            for e in &mut h.events {
                e.is_new = new_ids.contains(&e.event_id);
            }
            let (want, verdict) = rules.scorer.recompute(&h, last.get(&domain).cloned());
            assert_same_state(&stored, &want, &what);
            let got = stored.last.clone().expect("a stored verdict");
            assert!((got.score - verdict.score).abs() < 0.011, "{what}: score {} vs {}", got.score, verdict.score);
            assert_eq!((got.score_at_secs, &got.stage), (verdict.score_at_secs, &verdict.stage), "{what}");
            expected_alerts += verdict.alerts.len();
            expected_ids.extend(verdict.alerts.iter().map(|a| a.alert_id.clone()));
            last.insert(domain, got);
        }
        assert_eq!(written.alerts, expected_alerts, "seed {seed}: alerts raised by the batch");
        raised += written.alerts;
        let added: BTreeSet<String> = alert_ids(&store).difference(&alerts_before).cloned().collect();
        let fresh: BTreeSet<String> = expected_ids.difference(&alerts_before).cloned().collect();
        assert_eq!(added, fresh, "seed {seed}: alerts stored by the batch");
        for e in batch {
            if sent_ids.insert(e.event_id.clone()) {
                sent.push(e);
            }
        }
    }
    assert_eq!(sent_ids.len(), events.len());
    raised
}

#[test]
fn incremental_state_scores_and_alerts_equal_a_full_recomputation() {
    let raised: usize = (0..40).map(run).sum();
    assert!(raised > 40, "the histories raise alerts to compare ({raised})");
}
