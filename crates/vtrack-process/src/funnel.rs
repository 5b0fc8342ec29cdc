//! The funnel marketing and sales share (`GET /api/funnel`): per week or month and per campaign, accounts
//! identified → warm → hot → contacted → qualified → won / lost, the conversion between steps, the median
//! time from hot to first contact, and the share of hot accounts followed up within the deadline.
//!
//! Each store reads the same plain facts per account ([`FunnelFacts`]: SQL only, in vtrack-store's
//! `sqlite/dashboard.rs` and `clickhouse/dashboard.rs`); [`funnel`] turns them into rows here, once, so
//! the two stores cannot count differently.
//!
//! An account counts in the period it was first seen (a cohort), under its first-touch campaign
//! (`utm_campaign`, else `utm_source`, else `(none)`). A step counts the accounts that reached it or a
//! later one: `warm` is any stage above the base now or ever hot (stages are not kept as history, so an
//! account that cooled off before turning hot is not counted warm); `hot` is a `became_hot` alert;
//! `contacted` a status sales works the account in ([`Status::is_worked`]); `qualified` one of
//! [`Status::is_qualified`]; `won` and `lost` the latest status.

use std::collections::BTreeMap;
use vtrack_model::alert::Campaign;
use vtrack_model::digest::FunnelCounts;
use vtrack_model::schedule::Followup;
use vtrack_model::time::format_secs;
use vtrack_model::Status;

/// What the funnel needs of one account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunnelFacts {
    pub domain: String,
    /// Unix seconds.
    pub first_seen: i64,
    /// The stage now.
    pub stage: String,
    /// The campaigns that brought it, first first (the `accounts.campaigns` list).
    pub campaigns: Vec<Campaign>,
    /// Its first `became_hot` alert, Unix seconds.
    pub first_hot: Option<i64>,
    /// Its statuses in the order they were set: (Unix seconds, status).
    pub statuses: Vec<(i64, Status)>,
}

/// How the funnel is cut in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Weeks from Monday 00:00 UTC, named by that date.
    Week,
    /// Calendar months, `YYYY-MM`.
    Month,
}

impl Period {
    /// The name of the period holding `secs`.
    pub fn of(self, secs: i64) -> String {
        match self {
            Period::Week => {
                let days = secs.div_euclid(86_400);
                // 1970-01-01 was a Thursday: three days after a Monday.
                let monday = days - (days + 3).rem_euclid(7);
                format_secs(monday * 86_400)[..10].to_string()
            }
            Period::Month => format_secs(secs)[..7].to_string(),
        }
    }
}

/// One row of the funnel: a period and a campaign (`None`: every campaign of the period).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunnelRow {
    pub period: String,
    pub campaign: Option<String>,
    pub counts: FunnelCounts,
}

impl FunnelRow {
    /// The conversion into each step from the one before it: (step, share), `None` when the step before
    /// is empty. `won` is out of `qualified`; `lost` out of `contacted`, as an account can be lost before it
    /// qualifies.
    pub fn conversions(&self) -> Vec<(&'static str, Option<f64>)> {
        let rate = |n: i64, d: i64| (d > 0).then(|| round3(n as f64 / d as f64));
        let c = &self.counts;
        vec![
            ("warm", rate(c.warm, c.identified)),
            ("hot", rate(c.hot, c.warm)),
            ("contacted", rate(c.contacted, c.hot)),
            ("qualified", rate(c.qualified, c.contacted)),
            ("won", rate(c.won, c.qualified)),
            ("lost", rate(c.lost, c.contacted)),
        ]
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The campaign an account counts under: its first touch.
fn first_touch(campaigns: &[Campaign]) -> String {
    match campaigns.first() {
        Some(c) if !c.campaign.is_empty() => c.campaign.clone(),
        Some(c) if !c.source.is_empty() => c.source.clone(),
        _ => "(none)".to_string(),
    }
}

#[derive(Default)]
struct Tally {
    row: FunnelRow,
    hours: Vec<f64>,
    in_time: i64,
}

impl Tally {
    fn add(&mut self, a: &FunnelFacts, base_stage: &str, followup: Option<&Followup>) {
        let r = &mut self.row.counts;
        r.identified += 1;
        let hot = a.first_hot.is_some();
        r.warm += i64::from(hot || (!a.stage.is_empty() && a.stage != base_stage));
        r.hot += i64::from(hot);
        let contacted = a.statuses.iter().find(|(_, s)| s.is_worked()).map(|(at, _)| *at);
        r.contacted += i64::from(contacted.is_some());
        r.qualified += i64::from(a.statuses.iter().any(|(_, s)| s.is_qualified()));
        match a.statuses.last().map(|(_, s)| *s) {
            Some(Status::Won) => r.won += 1,
            Some(Status::Lost) => r.lost += 1,
            _ => {}
        }
        if let (Some(hot_at), Some(at)) = (a.first_hot, contacted) {
            let secs = (at - hot_at).max(0);
            self.hours.push(secs as f64 / 3600.0);
            if followup.is_some_and(|f| at.saturating_mul(1000) <= crate::sla::due_ms(hot_at * 1000, f)) {
                self.in_time += 1;
            }
        }
    }

    fn finish(mut self, followup: Option<&Followup>) -> FunnelRow {
        self.hours.sort_by(f64::total_cmp);
        let n = self.hours.len();
        let c = &mut self.row.counts;
        c.median_hours_to_contact = match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.hours[n / 2]),
            _ => Some((self.hours[n / 2 - 1] + self.hours[n / 2]) / 2.0),
        }
        .map(|h| (h * 100.0).round() / 100.0);
        c.followed_up_in_time = followup.filter(|_| c.hot > 0).map(|_| round3(self.in_time as f64 / c.hot as f64));
        self.row
    }
}

/// The funnel of `accounts`: per period, newest first, a row for every campaign of the period (`None`)
/// then one per campaign by name. `followup` is `[sla] hot_followup`.
pub fn funnel(
    accounts: &[FunnelFacts],
    period: Period,
    base_stage: &str,
    followup: Option<&Followup>,
) -> Vec<FunnelRow> {
    let mut tallies: BTreeMap<(String, Option<String>), Tally> = BTreeMap::new();
    for a in accounts {
        let p = period.of(a.first_seen);
        for campaign in [None, Some(first_touch(&a.campaigns))] {
            let t = tallies.entry((p.clone(), campaign.clone())).or_insert_with(|| Tally {
                row: FunnelRow { period: p.clone(), campaign, ..FunnelRow::default() },
                ..Tally::default()
            });
            t.add(a, base_stage, followup);
        }
    }
    let mut rows: Vec<FunnelRow> = tallies.into_values().map(|t| t.finish(followup)).collect();
    // Newest period first; within it the total, then campaigns by name (the map's order).
    rows.sort_by(|a, b| b.period.cmp(&a.period));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const DAY: i64 = 86_400;
    // Monday 2026-11-23 00:00 UTC.
    const MON: i64 = 1_795_392_000;

    fn facts(first_seen: i64, stage: &str, campaign: &str, hot: Option<i64>, statuses: &[(i64, &str)]) -> FunnelFacts {
        FunnelFacts {
            domain: format!("{first_seen}-{stage}"),
            first_seen,
            stage: stage.into(),
            campaigns: if campaign.is_empty() {
                vec![]
            } else {
                vec![Campaign { source: "src".into(), medium: String::new(), campaign: campaign.into() }]
            },
            first_hot: hot,
            statuses: statuses.iter().map(|(t, s)| (*t, s.parse().unwrap())).collect(),
        }
    }

    #[test]
    fn periods_start_on_monday_and_on_the_first() {
        assert_eq!(format_secs(MON), "2026-11-23 00:00:00");
        assert_eq!(Period::Week.of(MON + 6 * DAY + 86_399), "2026-11-23");
        assert_eq!(Period::Week.of(MON - 1), "2026-11-16");
        assert_eq!(Period::Month.of(MON), "2026-11");
    }

    #[test]
    fn steps_count_what_reached_them_or_later_with_conversions_and_times() {
        let h = 3600;
        let accounts = vec![
            facts(MON, "cold", "q4", None, &[]),
            facts(MON + h, "warm", "q4", None, &[]),
            // Hot, contacted after 2 h (in time), then won.
            facts(MON + 2 * h, "hot", "q4", Some(MON + 3 * h), &[(MON + 5 * h, "contacted"), (MON + 9 * h, "won")]),
            // Hot, contacted after 30 h (late), lost.
            facts(MON + DAY, "warm", "", Some(MON + DAY), &[(MON + DAY + 30 * h, "lost")]),
            // Last week.
            facts(MON - DAY, "hot", "q3", Some(MON - DAY), &[]),
        ];
        let rows = funnel(&accounts, Period::Week, "cold", Some(&Followup::plain(Duration::from_secs(24 * 3600))));
        let keys: Vec<(&str, Option<&str>)> = rows.iter().map(|r| (r.period.as_str(), r.campaign.as_deref())).collect();
        assert_eq!(
            keys,
            [
                ("2026-11-23", None),
                ("2026-11-23", Some("(none)")),
                ("2026-11-23", Some("q4")),
                ("2026-11-16", None),
                ("2026-11-16", Some("q3")),
            ]
        );
        let all = &rows[0];
        assert_eq!(
            (
                all.counts.identified,
                all.counts.warm,
                all.counts.hot,
                all.counts.contacted,
                all.counts.qualified,
                all.counts.won,
                all.counts.lost
            ),
            (4, 3, 2, 2, 1, 1, 1)
        );
        assert_eq!(all.counts.median_hours_to_contact, Some(16.0), "2 h and 30 h");
        assert_eq!(all.counts.followed_up_in_time, Some(0.5));
        assert_eq!(
            all.conversions(),
            [
                ("warm", Some(0.75)),
                ("hot", Some(0.667)),
                ("contacted", Some(1.0)),
                ("qualified", Some(0.5)),
                ("won", Some(1.0)),
                ("lost", Some(0.5))
            ]
        );
        let q4 = &rows[2];
        assert_eq!((q4.counts.identified, q4.counts.hot, q4.counts.won), (3, 1, 1));
        assert_eq!(q4.counts.median_hours_to_contact, Some(2.0));
        let last = &rows[3];
        assert_eq!((last.counts.hot, last.counts.contacted, last.counts.median_hours_to_contact), (1, 0, None));
        assert_eq!(last.counts.followed_up_in_time, Some(0.0));
        assert_eq!(funnel(&accounts, Period::Month, "cold", None)[0].counts.followed_up_in_time, None);
        assert_eq!(last.conversions()[3], ("qualified", None), "nothing contacted");
    }
}
