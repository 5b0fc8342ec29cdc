//! Account interest scoring, incremental.
//!
//! An account's score is the decayed sum of what its people did. Each contribution counts fully when it
//! happens and half as much every `half_life_days` after:
//!
//! | what | points |
//! | --- | --- |
//! | a page view | the first matching `pages` weight, else `default_page_weight` |
//! | engaged time | `engaged_minute_weight` per minute, at most `max_engaged_minutes` per page |
//! | a session (visit), at its start | `visit_weight` |
//! | a session after the account's first | `return_visit_weight` more |
//! | a visitor from the account not seen before, at their first session's start | `visitor_weight` |
//!
//! One visitor's page and engaged-time points of one UTC day count up to `max_visitor_day_points`: past
//! it, that visitor-day's points are scaled down to the bound (each keeps its own decay), so a script
//! posting as one visitor cannot make an account hot. The scale depends only on the day's total, so it too
//! is the same in any order of arrival. The page and topic breakdown shows the points unbounded: what was
//! read, not what it counted for.
//!
//! Target accounts are multiplied by `target_boost`; excluded domains score 0. The stage is the highest
//! whose threshold the score reaches.
//!
//! The sum is kept as state ([`ScoreState`]): a batch decays it to its newest event and adds what is new,
//! so its cost is that of its new events, not of the account's history. Every term is a function of one
//! event or one session's start, so the same events give the same state in any order and any batching;
//! [`Scorer::recompute`] builds the state from a stored history by the same code.

use crate::account::{
    AccountEvent, AccountHistory, AccountScore, AccountState, ScoreState, SessionChange, StoredScore, TopicScore,
};
use crate::pattern::Pattern;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use vtrack_model::alert::{Alert, AlertKind, Campaign, PageContribution};
use vtrack_model::config::{AlertsConfig, ScoringConfig};

/// Visitor-days kept in the state, counted back from its latest event. A late event for an older day (which
/// ingest's clock window does not let through) would start its day's bound afresh.
const VISITOR_DAY_HORIZON: i64 = 90;

/// How many top pages and recent pages an account keeps.
const TOP_PAGES: usize = 5;
const RECENT_PAGES: usize = 10;

/// Scoring rules compiled from the config.
#[derive(Debug, Clone)]
pub struct Scorer {
    cfg: ScoringConfig,
    pages: Vec<(Pattern, f64)>,
    topics: Vec<(String, Vec<Pattern>)>,
    hot_pages: Vec<Pattern>,
    alert_on_return: bool,
    /// Below this class confidence an account raises no alert ([`AlertsConfig::min_class_confidence`]).
    min_class_confidence: u8,
    /// Stages by ascending threshold.
    stages: Vec<(String, f64)>,
    fingerprint: String,
}

impl Scorer {
    pub fn new(cfg: &ScoringConfig, alerts: &AlertsConfig) -> Scorer {
        let stages = cfg.stages_ascending();
        Scorer {
            pages: cfg.pages.iter().map(|p| (Pattern::new(&p.pattern), p.weight)).collect(),
            topics: cfg
                .topics
                .iter()
                .map(|(t, ps)| (t.clone(), ps.iter().map(|p| Pattern::new(p)).collect()))
                .collect(),
            hot_pages: alerts.hot_pages.iter().map(|p| Pattern::new(p)).collect(),
            alert_on_return: alerts.on_return_visit,
            min_class_confidence: alerts.min_class_confidence,
            stages,
            fingerprint: fingerprint(cfg),
            cfg: cfg.clone(),
        }
    }

    /// Names the scoring config: a stored state built with another one is recomputed, not continued.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The class confidence below which an account waits for evidence before it alerts.
    pub fn min_class_confidence(&self) -> u8 {
        self.min_class_confidence
    }

    /// Whether an account's class is sure enough to alert on: at least `min_class_confidence`, or not known
    /// (0: events stored before vtrack recorded it, which alerted then).
    fn sure_enough(&self, class_confidence: u8) -> bool {
        class_confidence == 0 || class_confidence >= self.min_class_confidence
    }

    /// The stage alerts are raised for: the one with the highest threshold.
    pub fn alert_stage(&self) -> &str {
        self.stages.last().map(|s| s.0.as_str()).unwrap_or("")
    }

    /// The stage a score is in.
    pub fn stage_of(&self, score: f64) -> &str {
        self.stages.iter().rev().find(|(_, t)| score >= *t).map(|s| s.0.as_str()).unwrap_or(&self.cfg.base_stage)
    }

    /// `score` earned at `from` is worth this much at `to` (seconds).
    pub fn decay(&self, score: f64, from: i64, to: i64) -> f64 {
        let days = (to - from) as f64 / 86_400.0;
        score * 0.5f64.powf(days / self.cfg.half_life_days)
    }

    fn page_points(&self, e: &AccountEvent) -> f64 {
        match e.kind.as_str() {
            "pageview" => self
                .pages
                .iter()
                .find(|(p, _)| p.matches(&e.path))
                .map(|(_, w)| *w)
                .unwrap_or(self.cfg.default_page_weight),
            "engagement" => {
                (e.eng_ms as f64 / 60_000.0).min(self.cfg.max_engaged_minutes) * self.cfg.engaged_minute_weight
            }
            other => self.cfg.event_weights.get(other).copied().unwrap_or(0.0),
        }
    }

    /// Adds a batch's session changes and events to an account's state and draws the verdict, with the
    /// alerts the new activity raises. `events` are the account's events the state has not counted.
    pub fn apply(
        &self,
        state: &mut AccountState,
        sessions: &[SessionChange<'_>],
        events: &[AccountEvent],
    ) -> AccountScore {
        let newest = events.iter().map(|e| e.ts_secs).chain(sessions.iter().map(|s| s.after.ended_at)).max();
        if let Some(t) = newest.filter(|t| *t > state.score.at) {
            self.rebase(&mut state.score, t);
        }
        for s in sessions {
            self.add_session(&mut state.score, s);
            state.count_session(s.before, s.after);
        }
        for e in events {
            self.add_event(&mut state.score, e);
        }
        state.scoring.clone_from(&self.fingerprint);
        let mut verdict = self.verdict(state);
        self.decide_alerts(state, &mut verdict, sessions, events);
        state.last = Some(StoredScore {
            score: verdict.score,
            score_at_secs: verdict.score_at_secs,
            stage: verdict.stage.clone(),
            held_since: verdict.held_since,
        });
        verdict
    }

    /// Builds an account's state from its whole stored history: the same sums as the batches that wrote it
    /// would have, with the current config. Alerts are raised for the events and sessions marked new,
    /// against `previous`.
    pub fn recompute(&self, h: &AccountHistory, previous: Option<StoredScore>) -> (AccountState, AccountScore) {
        let new_events: HashSet<&str> = h.events.iter().filter(|e| e.is_new).map(|e| e.event_id.as_str()).collect();
        let changes: Vec<SessionChange<'_>> = h
            .sessions
            .iter()
            .map(|s| SessionChange { before: None, after: s, is_new: new_events.contains(s.session_id.as_str()) })
            .collect();
        let mut state = AccountState::new(&h.site, &h.company_domain);
        state.last = previous;
        let verdict = self.apply(&mut state, &changes, &h.events);
        (state, verdict)
    }

    /// Values every decayed sum at `to` instead of `s.at`.
    fn rebase(&self, s: &mut ScoreState, to: i64) {
        let f = self.decay(1.0, s.at, to);
        s.points *= f;
        for p in s.pages.values_mut() {
            p.1 *= f;
        }
        for t in s.topics.values_mut() {
            *t *= f;
        }
        let oldest = to.div_euclid(86_400) - VISITOR_DAY_HORIZON;
        s.visitor_days.retain(|key, _| day_of_key(key) >= oldest);
        for d in s.visitor_days.values_mut() {
            d.1 *= f;
        }
        s.at = to;
    }

    /// What an event's page points add to the score once its visitor-day's bound applies: the day's
    /// points, scaled down to `max_visitor_day_points` when they exceed it, before and after the event.
    fn bounded(&self, s: &mut ScoreState, e: &AccountEvent, points: f64, decayed: f64) -> f64 {
        let cap = self.cfg.max_visitor_day_points;
        if cap <= 0.0 || points <= 0.0 {
            return decayed;
        }
        let scale = |raw: f64| if raw > cap { cap / raw } else { 1.0 };
        let key = format!("{}:{}", e.ts_secs.div_euclid(86_400), e.visitor_id);
        let day = s.visitor_days.entry(key).or_insert((0.0, 0.0));
        let before = scale(day.0) * day.1;
        day.0 += points;
        day.1 += decayed;
        scale(day.0) * day.1 - before
    }

    fn add_session(&self, s: &mut ScoreState, c: &SessionChange<'_>) {
        let row = c.after;
        let start = row.started_at;
        let visit = self.cfg.visit_weight + self.cfg.return_visit_weight;
        match c.before {
            None => s.points += self.decay(visit, start, s.at),
            // A late event moved the session's start earlier: its points move with it.
            Some(b) if start < b.started_at => {
                s.points += self.decay(visit, start, s.at) - self.decay(visit, b.started_at, s.at);
            }
            Some(_) => return,
        }
        match s.visitors.get_mut(&row.visitor_id) {
            None => {
                s.visitors.insert(row.visitor_id.clone(), start);
                s.points += self.decay(self.cfg.visitor_weight, start, s.at);
            }
            Some(first) if start < *first => {
                s.points += self.decay(self.cfg.visitor_weight, start, s.at)
                    - self.decay(self.cfg.visitor_weight, *first, s.at);
                *first = start;
            }
            Some(_) => {}
        }
        if !row.utm_source.is_empty() || !row.utm_campaign.is_empty() {
            let c = Campaign {
                source: row.utm_source.clone(),
                medium: row.utm_medium.clone(),
                campaign: row.utm_campaign.clone(),
            };
            earliest(&mut s.campaigns, start, c);
        }
        match &mut s.first_visit {
            Some(first) if first.1 == row.session_id => first.0 = start,
            Some(first) if (start, row.session_id.as_str()) >= (first.0, first.1.as_str()) => {}
            first => *first = Some((start, row.session_id.clone())),
        }
    }

    fn add_event(&self, s: &mut ScoreState, e: &AccountEvent) {
        let points = self.page_points(e);
        let decayed = self.decay(points, e.ts_secs, s.at);
        s.points += self.bounded(s, e, points, decayed);
        if e.kind == "pageview" || e.kind == "engagement" {
            let slot = s.pages.entry(e.path.clone()).or_default();
            slot.0 += u32::from(e.kind == "pageview");
            slot.1 += decayed;
            for (topic, patterns) in &self.topics {
                if patterns.iter().any(|p| p.matches(&e.path)) {
                    *s.topics.entry(topic.clone()).or_default() += decayed;
                }
            }
        }
        if e.kind == "pageview" {
            let key = (e.ts_secs, e.event_id.as_str());
            let at = s.recent.partition_point(|r| (r.0, r.1.as_str()) > key);
            if at < RECENT_PAGES && s.recent.get(at).is_none_or(|r| r.1 != e.event_id) {
                s.recent.insert(at, (e.ts_secs, e.event_id.clone(), e.path.clone()));
                s.recent.truncate(RECENT_PAGES);
            }
        }
        if e.kind == "identify" && !e.email.is_empty() {
            earliest(&mut s.contacts, e.ts_secs, e.email.clone());
        }
    }

    /// The score and what explains it, from the state.
    fn verdict(&self, state: &AccountState) -> AccountScore {
        let s = &state.score;
        let domain = &state.company_domain;
        let excluded = self.cfg.exclude_domains.iter().any(|d| d.eq_ignore_ascii_case(domain));
        let is_target = self.cfg.target_domains.iter().any(|d| d.eq_ignore_ascii_case(domain));
        let first_bonus = s.first_visit.as_ref().map(|f| self.decay(self.cfg.return_visit_weight, f.0, s.at));
        let mut total = s.points - first_bonus.unwrap_or(0.0);
        if is_target {
            total *= self.cfg.target_boost;
        }
        let score = if excluded { 0.0 } else { round2(total) };

        let mut top: Vec<PageContribution> = s
            .pages
            .iter()
            .map(|(path, (views, points))| PageContribution {
                path: path.clone(),
                views: *views,
                points: round2(*points),
            })
            .collect();
        top.sort_by(|a, b| b.points.total_cmp(&a.points).then_with(|| a.path.cmp(&b.path)));
        top.truncate(TOP_PAGES);
        let mut topics: Vec<TopicScore> =
            s.topics.iter().map(|(t, p)| TopicScore { topic: t.clone(), points: round2(*p) }).collect();
        topics.sort_by(|a, b| b.points.total_cmp(&a.points).then_with(|| a.topic.cmp(&b.topic)));
        AccountScore {
            score,
            score_at_secs: s.at,
            stage: self.stage_of(score).to_string(),
            visits: state.sessions,
            return_visits: state.sessions.saturating_sub(1),
            visitors: state.visitors(),
            topics,
            top_pages: top,
            campaigns: s.campaigns.iter().map(|(_, c)| c.clone()).collect(),
            contacts: s.contacts.iter().map(|(_, c)| c.clone()).collect(),
            is_target,
            excluded,
            alerts: Vec::new(),
            held_since: None,
        }
    }

    /// One alert per crossing: the new score's stage against the previous verdict decayed to now, so an
    /// account that cooled off and heats up again alerts again while one that stays hot does not.
    ///
    /// An account whose class is not sure enough ([`Scorer::sure_enough`]) raises nothing: its crossing into
    /// the alert stage is held (`held_since`) while it stays hot, and raised once evidence lifts its class
    /// confidence — then even without new activity, since the evidence is the news.
    fn decide_alerts(
        &self,
        state: &AccountState,
        out: &mut AccountScore,
        sessions: &[SessionChange<'_>],
        events: &[AccountEvent],
    ) {
        let hot = self.alert_stage();
        let any_new = events.iter().any(|e| e.is_new) || sessions.iter().any(|s| s.is_new);
        let sure = self.sure_enough(state.class_confidence);
        let held = state.last.as_ref().and_then(|p| p.held_since);
        let is_hot = !hot.is_empty() && out.stage == hot;
        // A held crossing waits while the account stays hot.
        out.held_since = held.filter(|_| is_hot);
        let released = out.held_since.is_some() && sure;
        if out.excluded || !state.network_class.is_account() || hot.is_empty() || !(any_new || released) {
            return;
        }
        let hot_page_at = events
            .iter()
            .filter(|e| e.is_new && e.kind == "pageview" && self.hot_pages.iter().any(|p| p.matches(&e.path)))
            .map(|e| e.ts_secs)
            .max();
        let first = state.score.first_visit.as_ref().map(|f| f.1.as_str());
        let return_at = sessions
            .iter()
            .filter(|s| s.is_new && Some(s.after.session_id.as_str()) != first)
            .map(|s| s.after.started_at)
            .max();
        let before =
            state.last.as_ref().map(|p| self.decay(p.score, p.score_at_secs, out.score_at_secs)).unwrap_or(0.0);
        // A held crossing was never alerted: the account is not hot as far as alerts go.
        let was_hot = self.stage_of(before) == hot && held.is_none();
        // A crossing into hot is named by the verdict it left (its time; 0 before the first), a held one by
        // the verdict it left when it was first held: whatever batch boundaries a replay, or a member that
        // lost its partitions mid-batch, sees, the same crossing gets the same id. The other kinds are named
        // by the event or session that raised them.
        let left = held.unwrap_or_else(|| state.last.as_ref().map_or(0, |p| p.score_at_secs));
        if !sure {
            // Shown, not alerted: the crossing waits for evidence.
            if is_hot && !was_hot {
                out.held_since = Some(left);
            }
            return;
        }
        out.held_since = None;
        let mut kinds = Vec::new();
        if is_hot && !was_hot {
            kinds.push((AlertKind::BecameHot, out.score_at_secs));
        } else if is_hot && self.alert_on_return {
            if let Some(at) = return_at {
                kinds.push((AlertKind::HotReturnVisit, at));
            }
        }
        if let Some(at) = hot_page_at {
            kinds.push((AlertKind::HotPage, at));
        }
        let recent: Vec<String> = state.score.recent.iter().map(|r| r.2.clone()).collect();
        for (kind, at) in kinds {
            let named_by = if kind == AlertKind::BecameHot { left } else { at };
            out.alerts.push(Alert {
                // The same crossing always gets the same id, so a replay cannot alert twice.
                alert_id: format!("{}:{}:{}:{}", state.site, state.company_domain, kind.as_str(), named_by),
                kind,
                site: state.site.clone(),
                company_domain: state.company_domain.clone(),
                company_name: state.company_name.clone(),
                network_class: state.network_class,
                class_confidence: state.class_confidence,
                country: state.country.clone(),
                score: out.score,
                stage: out.stage.clone(),
                raised_ms: at * 1000,
                visitors: out.visitors,
                sessions: out.visits,
                top_pages: out.top_pages.clone(),
                recent_pages: recent.clone(),
                campaigns: out.campaigns.clone(),
                contacts: out.contacts.clone(),
                owner: String::new(),
                digest: None,
            });
        }
    }
}

/// The day number of a `visitor_days` key.
fn day_of_key(key: &str) -> i64 {
    key.split_once(':').and_then(|(d, _)| d.parse().ok()).unwrap_or(i64::MIN)
}

/// Keeps `item` once in `list`, with the earliest time it was seen; the list stays in (time, item) order.
fn earliest<T: PartialEq + Ord + Clone>(list: &mut Vec<(i64, T)>, at: i64, item: T) {
    match list.iter().position(|(_, x)| *x == item) {
        Some(i) if list[i].0 <= at => return,
        Some(i) => list[i].0 = at,
        None => list.push((at, item)),
    }
    list.sort();
}

/// A short stable name of a scoring config: the hash of its canonical JSON.
fn fingerprint(cfg: &ScoringConfig) -> String {
    let text = serde_json::to_string(cfg).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
