//! The worked example of `docs/guide/scoring.md`, step by step, with the default scoring config.

use std::collections::BTreeMap;
use vtrack_model::config::{AlertsConfig, ScoringConfig};
use vtrack_model::event::Utm;
use vtrack_model::{AlertKind, NetworkClass};
use vtrack_process::{AccountEvent, AccountHistory, AccountScore, Scorer, SessionRow, StoredScore};

const DAY: i64 = 86_400;
const T0: i64 = 1_795_000_000;

/// An event of the worked example, with the session and visitor it belongs to.
#[derive(Clone)]
struct Ev {
    event: AccountEvent,
    visitor_id: String,
    session_id: String,
    utm: Utm,
}

fn ev(id: &str, day: i64, kind: &str, path: &str, vid: &str, sid: &str, eng_min: u64) -> Ev {
    Ev {
        event: AccountEvent {
            event_id: id.into(),
            ts_secs: T0 + day * DAY,
            kind: kind.into(),
            path: path.into(),
            eng_ms: eng_min * 60_000,
            visitor_id: vid.into(),
            ..Default::default()
        },
        visitor_id: vid.into(),
        session_id: sid.into(),
        utm: Utm::default(),
    }
}

/// Scores an account from its whole history, as `vtrack rescore` and a recomputing batch do; events from
/// `new_from` on are the batch being written.
fn score(
    scorer: &Scorer,
    class: NetworkClass,
    domain: &str,
    events: &[Ev],
    new_from: usize,
    previous: Option<StoredScore>,
) -> AccountScore {
    let mut sessions: BTreeMap<String, SessionRow> = BTreeMap::new();
    let mut ordered: Vec<&Ev> = events.iter().collect();
    ordered.sort_by_key(|e| (e.event.ts_secs, e.event.event_id.clone()));
    for e in ordered {
        let row = sessions.entry(e.session_id.clone()).or_insert_with(|| SessionRow {
            session_id: e.session_id.clone(),
            site: "s".into(),
            visitor_id: e.visitor_id.clone(),
            company_domain: domain.into(),
            company_name: "Acme".into(),
            network_class: class.as_str().into(),
            started_at: e.event.ts_secs,
            utm_source: e.utm.source.clone(),
            utm_medium: e.utm.medium.clone(),
            utm_campaign: e.utm.campaign.clone(),
            ..Default::default()
        });
        row.ended_at = row.ended_at.max(e.event.ts_secs);
        row.events += 1;
    }
    let events =
        events.iter().enumerate().map(|(i, e)| AccountEvent { is_new: i >= new_from, ..e.event.clone() }).collect();
    let h = AccountHistory {
        site: "s".into(),
        company_domain: domain.into(),
        sessions: sessions.into_values().collect(),
        events,
    };
    scorer.recompute(&h, previous).1
}

fn example() -> Vec<Ev> {
    vec![
        // Day 0: Alex reads a blog post for two minutes.
        ev("a1", 0, "pageview", "/blog/ev-fleets", "alex", "s1", 0),
        ev("a2", 0, "engagement", "/blog/ev-fleets", "alex", "s1", 2),
        // Day 7 (one half-life later): Alex comes back to the pricing page for three minutes...
        ev("a3", 7, "pageview", "/pricing", "alex", "s2", 0),
        ev("a4", 7, "engagement", "/pricing", "alex", "s2", 3),
        // ...and Sam, a colleague, asks for a demo.
        ev("b1", 7, "pageview", "/demo", "sam", "s3", 0),
    ]
}

#[test]
fn worked_example_from_the_guide() {
    let scorer = Scorer::new(&ScoringConfig::default(), &AlertsConfig::default());
    let all = example();

    // Day 0: visit 2 + new visitor 5 + blog page 1 + 2 engaged minutes 2 = 10 → cold.
    let day0 = score(&scorer, NetworkClass::Business, "acme.example", &all[..2], 0, None);
    assert_eq!((day0.score, day0.stage.as_str()), (10.0, "cold"));
    assert!(day0.alerts.is_empty());

    // Day 7, Alex: the 10 from day 0 is worth 5; visit 2 + return 5 + pricing 10 + 3 minutes 3 = 20 → 25, warm.
    let prev = StoredScore {
        score: day0.score,
        score_at_secs: day0.score_at_secs,
        stage: day0.stage.clone(),
        held_since: None,
    };
    let alex = score(&scorer, NetworkClass::Business, "acme.example", &all[..4], 2, Some(prev));
    assert_eq!((alex.score, alex.stage.as_str(), alex.visits, alex.return_visits), (25.0, "warm", 2, 1));
    assert!(alex.alerts.is_empty());

    // Day 7, Sam: visit 2 + return 5 + new visitor 5 + demo 15 = 27 → 52, hot: one alert.
    let prev = StoredScore {
        score: alex.score,
        score_at_secs: alex.score_at_secs,
        stage: alex.stage.clone(),
        held_since: None,
    };
    let sam = score(&scorer, NetworkClass::Business, "acme.example", &all, 4, Some(prev.clone()));
    assert_eq!((sam.score, sam.stage.as_str(), sam.visitors), (52.0, "hot", 2));
    assert_eq!(sam.alerts.len(), 1);
    let alert = &sam.alerts[0];
    assert_eq!(alert.kind, AlertKind::BecameHot);
    assert_eq!(
        alert.alert_id,
        format!("s:acme.example:became_hot:{}", prev.score_at_secs),
        "named by the verdict it left"
    );
    assert_eq!(alert.top_pages[0].path, "/demo");
    assert_eq!(alert.top_pages[0].points, 15.0);
    assert_eq!(alert.top_pages[1].path, "/pricing");
    assert_eq!(alert.top_pages[1].points, 13.0, "10 for the view + 3 engaged minutes");
    assert_eq!(alert.recent_pages, ["/demo", "/pricing", "/blog/ev-fleets"]);

    // Scoring the same history again gives the same answer: order of arrival does not matter.
    let mut shuffled = all.clone();
    shuffled.reverse();
    let again = score(&scorer, NetworkClass::Business, "acme.example", &shuffled, 5, Some(prev));
    assert_eq!(again.score, 52.0);
}

#[test]
fn an_account_already_hot_does_not_alert_again_but_one_that_cooled_off_does() {
    let scorer = Scorer::new(&ScoringConfig::default(), &AlertsConfig::default());
    let mut all = example();
    all.push(ev("b2", 7, "pageview", "/docs", "sam", "s3", 0));
    let hot = StoredScore { score: 52.0, score_at_secs: T0 + 7 * DAY, stage: "hot".into(), held_since: None };
    let more = score(&scorer, NetworkClass::Business, "acme.example", &all, 5, Some(hot));
    assert_eq!(more.stage, "hot");
    assert!(more.alerts.is_empty(), "still hot: no second alert for the same crossing");

    // Eight weeks later the old 52 is worth 0.2; a burst of interest makes the account hot again.
    let cooled = StoredScore { score: 52.0, score_at_secs: T0 + 7 * DAY, stage: "hot".into(), held_since: None };
    let mut later = example();
    // Three people: one visitor's points per day are bounded (`max_visitor_day_points`).
    for (i, path) in ["/demo", "/pricing", "/pricing/enterprise"].iter().enumerate() {
        let (who, sid) = (["kim", "lee", "max"][i], format!("s9{i}"));
        later.push(ev(&format!("c{i}"), 63, "pageview", path, who, &sid, 0));
        later.push(ev(&format!("d{i}"), 63, "engagement", path, who, &sid, 5));
    }
    let back = score(&scorer, NetworkClass::Business, "acme.example", &later, 5, Some(cooled));
    assert_eq!(back.stage, "hot");
    assert_eq!(back.alerts.iter().map(|a| a.kind).collect::<Vec<_>>(), [AlertKind::BecameHot]);
}

#[test]
fn isps_and_excluded_domains_never_alert_targets_are_boosted() {
    let scorer_cfg = ScoringConfig {
        exclude_domains: vec!["ourcompany.example".into()],
        target_domains: vec!["acme.example".into()],
        ..Default::default()
    };
    let scorer = Scorer::new(&scorer_cfg, &AlertsConfig::default());
    let all = example();
    for class in [NetworkClass::Isp, NetworkClass::Hosting, NetworkClass::Unknown] {
        let s = score(&scorer, class, "as64500", &all, 0, None);
        assert!(s.alerts.is_empty(), "{class} alerted");
    }
    let own = score(&scorer, NetworkClass::Business, "OurCompany.example", &all, 0, None);
    assert_eq!((own.score, own.stage.as_str(), own.excluded), (0.0, "cold", true));
    assert!(own.alerts.is_empty());
    let target = score(&scorer, NetworkClass::Business, "acme.example", &all, 0, None);
    assert_eq!(target.score, 78.0, "52 × 1.5");
}

#[test]
fn hot_pages_topics_campaigns_and_contacts() {
    let cfg = ScoringConfig {
        topics: [
            ("Pricing".to_string(), vec!["/pricing*".to_string()]),
            ("Content".to_string(), vec!["/blog/*".to_string()]),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let alerts = AlertsConfig { hot_pages: vec!["/demo*".into()], ..Default::default() };
    let scorer = Scorer::new(&cfg, &alerts);
    let mut all = example();
    all[0].utm.source = "linkedin".into();
    all[0].utm.campaign = "q4".into();
    let mut id = ev("i1", 7, "identify", "/demo", "sam", "s3", 0);
    id.event.email = "sam@acme.example".into();
    all.push(id);
    let s = score(&scorer, NetworkClass::Business, "acme.example", &all, 4, None);
    assert_eq!(
        s.topics.iter().map(|t| (t.topic.as_str(), t.points)).collect::<Vec<_>>(),
        [("Pricing", 13.0), ("Content", 1.5)]
    );
    assert_eq!(s.campaigns.len(), 1);
    assert_eq!(s.contacts, ["sam@acme.example"]);
    let kinds: Vec<_> = s.alerts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [AlertKind::BecameHot, AlertKind::HotPage]);
}

#[test]
fn one_visitor_cannot_make_an_account_hot_in_a_day_in_any_order() {
    let scorer = Scorer::new(&ScoringConfig::default(), &AlertsConfig::default());
    let mut flood: Vec<Ev> = Vec::new();
    for i in 0..1000 {
        flood.push(ev(&format!("f{i:04}"), 0, "pageview", "/demo", "bot", "s1", 0));
        flood.push(ev(&format!("g{i:04}"), 0, "engagement", "/demo", "bot", "s1", 5));
    }
    let s = score(&scorer, NetworkClass::Business, "acme.example", &flood, 0, None);
    // 25 page points at most, a visit (2) and a new visitor (5).
    assert_eq!((s.score, s.stage.as_str()), (32.0, "warm"));
    assert!(s.alerts.is_empty());
    flood.reverse();
    let again = score(&scorer, NetworkClass::Business, "acme.example", &flood, 0, None);
    assert_eq!(again.score, 32.0, "the bound does not depend on arrival order");
    // The next day the visitor may add up to the bound again, and the first day's points have decayed.
    flood.push(ev("n1", 1, "pageview", "/pricing", "bot", "s2", 0));
    let next = score(&scorer, NetworkClass::Business, "acme.example", &flood, 0, None);
    assert!(next.score > 32.0 * 0.5f64.powf(1.0 / 7.0) + 10.0 && next.score < 32.0 + 10.0 + 7.0, "{}", next.score);
    let unbounded = ScoringConfig { max_visitor_day_points: 0.0, ..ScoringConfig::default() };
    let off = score(
        &Scorer::new(&unbounded, &AlertsConfig::default()),
        NetworkClass::Business,
        "acme.example",
        &flood,
        0,
        None,
    );
    assert!(off.score > 10_000.0, "0 turns the bound off: {}", off.score);
}
