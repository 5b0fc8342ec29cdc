//! The weekly digest's content ([`build`]): last week's funnel against the week before, the accounts that
//! turned hot last week with their owners, and the overdue ones.
//!
//! Pure, over what the stores already read for the funnel page ([`FunnelFacts`]) and the deadline check
//! ([`HotFollowup`]), so the digest's numbers are the funnel's by construction: the same [`funnel`] rule,
//! the same weeks (Monday 00:00 UTC), the same row `/api/funnel` answers for that week. "Last week" is the
//! funnel week before the one holding the digest's time: whole, wherever the site's team is.

use crate::funnel::{funnel, FunnelFacts, Period};
use crate::sla::{due_ms, overdue_secs, HotFollowup};
use vtrack_model::digest::{Digest, DigestAccount, FunnelWeek};
use vtrack_model::schedule::Followup;
use vtrack_model::time::parse_secs;
use vtrack_model::{Alert, AlertKind, NetworkClass};

const WEEK_MS: i64 = 7 * 86_400_000;

/// What the digest of one site needs besides the store's reads.
#[derive(Debug, Clone)]
pub struct DigestPlan<'a> {
    pub site: &'a str,
    /// The site's time zone (IANA name) and the digest's local date: its name, `site:digest:<date>`.
    pub timezone: &'a str,
    pub local_date: &'a str,
    /// When it was due, Unix ms.
    pub scheduled_ms: i64,
    /// When it is built, Unix ms: what "overdue" is measured at.
    pub now_ms: i64,
    /// The lowest and highest scoring stages (`warm` counts above the first; hot is the last).
    pub base_stage: &'a str,
    pub top_stage: &'a str,
    /// `[sla] hot_followup`, when set.
    pub followup: Option<&'a Followup>,
}

/// The digest of `plan.site` as an alert of kind `weekly_digest`, id `site:digest:<local date>`.
pub fn build(plan: &DigestPlan<'_>, facts: &[FunnelFacts], followups: &[HotFollowup]) -> Alert {
    let last = Period::Week.of((plan.scheduled_ms - WEEK_MS).div_euclid(1000));
    let before = Period::Week.of((plan.scheduled_ms - 2 * WEEK_MS).div_euclid(1000));
    let rows = funnel(facts, Period::Week, plan.base_stage, plan.followup);
    let week = |name: &str| {
        let counts = rows
            .iter()
            .find(|r| r.period == name && r.campaign.is_none())
            .map_or_else(Default::default, |r| r.counts.clone());
        FunnelWeek { week: name.to_string(), counts }
    };
    let start_ms = parse_secs(&format!("{last} 00:00:00")).unwrap_or_default() * 1000;
    let site_followups = followups.iter().filter(|f| f.hot.site == plan.site && f.hot.kind == AlertKind::BecameHot);
    let mut new_hot: Vec<DigestAccount> = site_followups
        .clone()
        .filter(|f| (start_ms..start_ms + WEEK_MS).contains(&f.hot.raised_ms))
        .map(|f| account(f, None))
        .collect();
    new_hot.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.domain.cmp(&b.domain)));
    let mut overdue: Vec<DigestAccount> = match plan.followup {
        None => Vec::new(),
        Some(d) => site_followups
            .filter(|f| plan.now_ms > due_ms(f.hot.raised_ms, d))
            .filter_map(|f| {
                let late = overdue_secs(f.hot.raised_ms, f.status, &f.stage, plan.top_stage, d, plan.now_ms)?;
                Some(account(f, Some(late / 3600)))
            })
            .collect(),
    };
    overdue.sort_by(|a, b| b.overdue_hours.cmp(&a.overdue_hours).then_with(|| a.domain.cmp(&b.domain)));
    let digest = Digest {
        timezone: plan.timezone.to_string(),
        scheduled_ms: plan.scheduled_ms,
        last_week: week(&last),
        week_before: week(&before),
        new_hot,
        overdue,
    };
    Alert {
        alert_id: format!("{}:digest:{}", plan.site, plan.local_date),
        kind: AlertKind::WeeklyDigest,
        site: plan.site.to_string(),
        company_domain: String::new(),
        company_name: String::new(),
        network_class: NetworkClass::Unknown,
        country: String::new(),
        score: 0.0,
        stage: String::new(),
        raised_ms: plan.scheduled_ms,
        visitors: 0,
        sessions: 0,
        top_pages: vec![],
        recent_pages: vec![],
        campaigns: vec![],
        contacts: vec![],
        owner: String::new(),
        digest: Some(Box::new(digest)),
    }
}

fn account(f: &HotFollowup, overdue_hours: Option<i64>) -> DigestAccount {
    DigestAccount {
        domain: f.hot.company_domain.clone(),
        name: f.hot.company_name.clone(),
        owner: f.owner.clone(),
        score: f.hot.score,
        hot_ms: f.hot.raised_ms,
        overdue_hours,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_model::digest::FunnelCounts;

    const H: i64 = 3_600_000;
    // Monday 2026-11-30 00:00 UTC.
    const MON_MS: i64 = 1_795_996_800_000;

    fn hot(domain: &str, at_ms: i64, status: &str, owner: &str) -> HotFollowup {
        HotFollowup {
            hot: Alert {
                alert_id: format!("s:{domain}:became_hot:{at_ms}"),
                kind: AlertKind::BecameHot,
                site: "s".into(),
                company_domain: domain.into(),
                company_name: domain.to_uppercase(),
                network_class: NetworkClass::Business,
                country: String::new(),
                score: 70.0,
                stage: "hot".into(),
                raised_ms: at_ms,
                visitors: 1,
                sessions: 1,
                top_pages: vec![],
                recent_pages: vec![],
                campaigns: vec![],
                contacts: vec![],
                owner: String::new(),
                digest: None,
            },
            stage: "hot".into(),
            status: status.parse().unwrap(),
            owner: owner.into(),
            raised: false,
        }
    }

    fn facts(domain: &str, first_seen_ms: i64, hot_ms: Option<i64>) -> FunnelFacts {
        FunnelFacts {
            domain: domain.into(),
            first_seen: first_seen_ms / 1000,
            stage: if hot_ms.is_some() { "hot" } else { "cold" }.into(),
            campaigns: vec![],
            first_hot: hot_ms.map(|t| t / 1000),
            statuses: vec![],
        }
    }

    #[test]
    fn last_week_against_the_week_before_with_new_hot_and_overdue_accounts() {
        assert_eq!(vtrack_model::time::format_ms(MON_MS), "2026-11-30 00:00:00");
        let scheduled = MON_MS + 7 * H; // Monday 08:00 in Berlin
        let day = Followup::plain(std::time::Duration::from_secs(86_400));
        let plan = DigestPlan {
            site: "s",
            timezone: "Europe/Berlin",
            local_date: "2026-11-30",
            scheduled_ms: scheduled,
            now_ms: scheduled + H,
            base_stage: "cold",
            top_stage: "hot",
            followup: Some(&day),
        };
        let last_week = MON_MS - 4 * 24 * H; // Thursday
        let facts = [
            facts("a.example", last_week, Some(last_week)),
            facts("b.example", last_week, None),
            facts("c.example", MON_MS - 10 * 24 * H, None),
            facts("now.example", MON_MS + H, None),
        ];
        let followups = [
            hot("a.example", last_week, "new", "ana"),
            hot("z.example", MON_MS - 20 * 24 * H, "new", ""),
            hot("done.example", last_week + H, "contacted", "bo"),
        ];
        let a = build(&plan, &facts, &followups);
        assert_eq!(
            (a.alert_id.as_str(), a.kind, a.raised_ms),
            ("s:digest:2026-11-30", AlertKind::WeeklyDigest, scheduled)
        );
        let d = a.digest.unwrap();
        assert_eq!(d.last_week.week, "2026-11-23");
        assert_eq!((d.last_week.counts.identified, d.last_week.counts.warm, d.last_week.counts.hot), (2, 1, 1));
        assert_eq!(
            d.week_before,
            FunnelWeek { week: "2026-11-16".into(), counts: FunnelCounts { identified: 1, ..FunnelCounts::default() } }
        );
        let expected = funnel(&facts, Period::Week, "cold", plan.followup);
        let row = expected.iter().find(|r| r.period == "2026-11-23" && r.campaign.is_none()).unwrap();
        assert_eq!(d.last_week.counts, row.counts, "the funnel's own row");
        let new_hot: Vec<(&str, &str)> = d.new_hot.iter().map(|a| (a.domain.as_str(), a.owner.as_str())).collect();
        assert_eq!(new_hot, [("a.example", "ana"), ("done.example", "bo")]);
        let overdue: Vec<(&str, Option<i64>)> =
            d.overdue.iter().map(|a| (a.domain.as_str(), a.overdue_hours)).collect();
        assert_eq!(overdue, [("z.example", Some(20 * 24 + 8 - 24)), ("a.example", Some(4 * 24 + 8 - 24))]);
    }

    #[test]
    fn without_a_deadline_nothing_is_overdue() {
        let plan = DigestPlan {
            site: "s",
            timezone: "UTC",
            local_date: "2026-11-30",
            scheduled_ms: MON_MS,
            now_ms: MON_MS,
            base_stage: "cold",
            top_stage: "hot",
            followup: None,
        };
        let d = build(&plan, &[], &[hot("z.example", 0, "new", "")]).digest.unwrap();
        assert!(d.overdue.is_empty());
        assert_eq!(d.last_week, FunnelWeek { week: "2026-11-23".into(), counts: FunnelCounts::default() });
    }
}
