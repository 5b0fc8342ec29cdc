//! Account interest scoring.
//!
//! An account's score is the decayed sum of what its people did. Each contribution counts fully when it
//! happens and half as much every `half_life_days` after:
//!
//! | what | points |
//! | --- | --- |
//! | a page view | the first matching `pages` weight, else `default_page_weight` |
//! | engaged time | `engaged_minute_weight` per minute, at most `max_engaged_minutes` per page |
//! | a session (visit) | `visit_weight` |
//! | a session after the account's first | `return_visit_weight` more |
//! | a visitor from the account not seen before | `visitor_weight` |
//!
//! Target accounts are multiplied by `target_boost`; excluded domains score 0. The stage is the highest
//! whose threshold the score reaches. The score is computed from the whole history each time, so it is
//! the same whatever order or how often events arrive.

use crate::pattern::Pattern;
use std::collections::{HashMap, HashSet};
use vtrack_model::account::{AccountHistory, AccountScore, TopicScore};
use vtrack_model::alert::{Alert, AlertKind, Campaign, PageContribution};
use vtrack_model::config::{AlertsConfig, ScoringConfig};

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
    /// Stages by ascending threshold.
    stages: Vec<(String, f64)>,
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
            stages,
            cfg: cfg.clone(),
        }
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

    fn page_weight(&self, path: &str) -> f64 {
        self.pages.iter().find(|(p, _)| p.matches(path)).map(|(_, w)| *w).unwrap_or(self.cfg.default_page_weight)
    }

    /// Scores an account from its history and decides which alerts the new events raise.
    pub fn score(&self, h: &AccountHistory) -> AccountScore {
        let domain = h.company_domain.to_ascii_lowercase();
        let excluded = self.cfg.exclude_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain));
        let is_target = self.cfg.target_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain));
        let as_of = h.events.iter().map(|e| e.ts_secs).max().unwrap_or(0);

        let mut out = AccountScore { score_at_secs: as_of, is_target, excluded, ..Default::default() };
        let mut sessions = HashSet::new();
        let mut visitors = HashSet::new();
        let mut pages: HashMap<&str, (u32, f64)> = HashMap::new();
        let mut topics: HashMap<&str, f64> = HashMap::new();
        let mut total = 0.0;
        let mut new_hot_page = None;
        let mut new_return_session = None;
        for e in &h.events {
            let mut points = 0.0;
            if sessions.insert(e.session_id.as_str()) {
                points += self.cfg.visit_weight;
                out.visits += 1;
                if out.visits > 1 {
                    points += self.cfg.return_visit_weight;
                    out.return_visits += 1;
                    if e.is_new {
                        new_return_session = Some(e);
                    }
                }
                if !e.utm.source.is_empty() || !e.utm.campaign.is_empty() {
                    let c = Campaign {
                        source: e.utm.source.clone(),
                        medium: e.utm.medium.clone(),
                        campaign: e.utm.campaign.clone(),
                    };
                    if !out.campaigns.contains(&c) {
                        out.campaigns.push(c);
                    }
                }
            }
            if visitors.insert(e.visitor_id.as_str()) {
                points += self.cfg.visitor_weight;
            }
            let page_points = match e.kind.as_str() {
                "pageview" => self.page_weight(&e.path),
                "engagement" => {
                    (e.eng_ms as f64 / 60_000.0).min(self.cfg.max_engaged_minutes) * self.cfg.engaged_minute_weight
                }
                _ => 0.0,
            };
            if e.kind == "identify" && !e.email.is_empty() && !out.contacts.contains(&e.email) {
                out.contacts.push(e.email.clone());
            }
            points += page_points;
            let decayed = self.decay(points, e.ts_secs, as_of);
            total += decayed;
            if e.kind == "pageview" || e.kind == "engagement" {
                let page_decayed = self.decay(page_points, e.ts_secs, as_of);
                let slot = pages.entry(e.path.as_str()).or_default();
                slot.0 += u32::from(e.kind == "pageview");
                slot.1 += page_decayed;
                for (topic, patterns) in &self.topics {
                    if patterns.iter().any(|p| p.matches(&e.path)) {
                        *topics.entry(topic.as_str()).or_default() += page_decayed;
                    }
                }
                if e.is_new && e.kind == "pageview" && self.hot_pages.iter().any(|p| p.matches(&e.path)) {
                    new_hot_page = Some(e);
                }
            }
        }
        out.visitors = visitors.len() as u32;
        if is_target {
            total *= self.cfg.target_boost;
        }
        out.score = if excluded { 0.0 } else { round2(total) };
        out.stage = self.stage_of(out.score).to_string();

        let mut top: Vec<PageContribution> = pages
            .into_iter()
            .map(|(path, (views, points))| PageContribution { path: path.into(), views, points: round2(points) })
            .collect();
        top.sort_by(|a, b| b.points.total_cmp(&a.points).then_with(|| a.path.cmp(&b.path)));
        top.truncate(TOP_PAGES);
        out.top_pages = top;
        let mut ranked: Vec<TopicScore> =
            topics.into_iter().map(|(t, p)| TopicScore { topic: t.into(), points: round2(p) }).collect();
        ranked.sort_by(|a, b| b.points.total_cmp(&a.points).then_with(|| a.topic.cmp(&b.topic)));
        out.topics = ranked;

        if !excluded && h.network_class.is_account() {
            self.decide_alerts(h, &mut out, new_hot_page.map(|e| e.ts_secs), new_return_session.map(|e| e.ts_secs));
        }
        out
    }

    fn decide_alerts(
        &self,
        h: &AccountHistory,
        out: &mut AccountScore,
        hot_page_at: Option<i64>,
        return_at: Option<i64>,
    ) {
        let hot = self.alert_stage();
        if hot.is_empty() || !h.events.iter().any(|e| e.is_new) {
            return;
        }
        // What the stored score had decayed to by now: an account that cooled off may turn hot again.
        let before =
            h.previous.as_ref().map(|p| self.decay(p.score, p.score_at_secs, out.score_at_secs)).unwrap_or(0.0);
        let was_hot = self.stage_of(before) == hot;
        let is_hot = out.stage == hot;
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
        let recent: Vec<String> =
            h.events.iter().rev().filter(|e| e.kind == "pageview").take(RECENT_PAGES).map(|e| e.path.clone()).collect();
        for (kind, at) in kinds {
            out.alerts.push(Alert {
                // The same crossing always gets the same id, so a replay cannot alert twice.
                alert_id: format!("{}:{}:{}:{}", h.site, h.company_domain, kind.as_str(), at),
                kind,
                site: h.site.clone(),
                company_domain: h.company_domain.clone(),
                company_name: h.company_name.clone(),
                network_class: h.network_class,
                country: h.country.clone(),
                score: out.score,
                stage: out.stage.clone(),
                raised_ms: at * 1000,
                visitors: out.visitors,
                sessions: out.visits,
                top_pages: out.top_pages.clone(),
                recent_pages: recent.clone(),
                campaigns: out.campaigns.clone(),
                contacts: out.contacts.clone(),
            });
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
