//! Local-time rules: when a weekly digest falls due in a site's time zone, and when a follow-up deadline
//! counted in business hours ends.
//!
//! Pure functions of an instant and a time zone, so the schedule is tested across daylight-saving changes
//! without waiting for them. The instant of "Monday 08:00 in Berlin" moves by an hour twice a year in UTC;
//! jiff resolves a wall-clock time that does not exist (the spring gap) to the instant after the gap, and
//! one that exists twice (the autumn fold) to the earlier one, so each week has exactly one digest time.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use std::time::Duration;

/// `monday` … `sunday` (any case, or the first three letters).
pub fn weekday(name: &str) -> Option<Weekday> {
    let name = name.to_ascii_lowercase();
    let days = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    days.iter().find(|(full, _)| name == *full || (name.len() == 3 && full.starts_with(name.as_str()))).map(|d| d.1)
}

/// The digest time of the local week holding day `date`: `hour`:00 on `day` of that week (weeks start on
/// Monday), as an instant.
fn slot_of_week(date: jiff::civil::Date, day: Weekday, hour: i8, tz: &TimeZone) -> Option<Timestamp> {
    let monday = date.checked_sub((date.weekday().to_monday_zero_offset() as i32).days()).ok()?;
    let local = monday.checked_add((day.to_monday_zero_offset() as i32).days()).ok()?.at(hour, 0, 0, 0);
    tz.to_ambiguous_zoned(local).compatible().ok().map(|z| z.timestamp())
}

/// The latest digest time at or before `now`: the one a digest is due for, unless it was sent. A digest
/// missed while nothing ran is still this one until the next digest time replaces it, so a process back
/// within the week sends it late, and one back after the next time sends only the new one.
pub fn last_digest_at(now: Timestamp, day: Weekday, hour: i8, tz: &TimeZone) -> Option<Timestamp> {
    let today = now.to_zoned(tz.clone()).date();
    let this_week = slot_of_week(today, day, hour, tz)?;
    if this_week <= now {
        return Some(this_week);
    }
    slot_of_week(today.checked_sub(7.days()).ok()?, day, hour, tz)
}

/// The first digest time after `now`: when the sender next has something to do.
pub fn next_digest_at(now: Timestamp, day: Weekday, hour: i8, tz: &TimeZone) -> Option<Timestamp> {
    let today = now.to_zoned(tz.clone()).date();
    let this_week = slot_of_week(today, day, hour, tz)?;
    if this_week > now {
        return Some(this_week);
    }
    slot_of_week(today.checked_add(7.days()).ok()?, day, hour, tz)
}

/// The local date of a digest time: names the digest (`site:digest:<date>`), once per week and site.
pub fn local_date(at: Timestamp, tz: &TimeZone) -> String {
    Zoned::new(at, tz.clone()).date().to_string()
}

/// The hours sales works (`[sla] business_hours`, `business_days`, `timezone`): the follow-up deadline
/// counts only these.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    /// Minutes after local midnight the day starts and ends, start < end.
    pub start_min: i32,
    pub end_min: i32,
    pub days: Vec<Weekday>,
    pub tz: TimeZone,
}

impl BusinessHours {
    /// `"09:00-17:00"` as minutes after midnight.
    pub fn parse_span(text: &str) -> Option<(i32, i32)> {
        let minutes = |t: &str| -> Option<i32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
            ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 1440).then_some(h * 60 + m)
        };
        let (a, b) = text.split_once('-')?;
        let (a, b) = (minutes(a)?, minutes(b)?);
        (a < b).then_some((a, b))
    }

    /// The instant `min` minutes into local day `date` (a skipped time falls after the gap).
    fn at(&self, date: jiff::civil::Date, min: i32) -> Option<Timestamp> {
        let midnight = self.tz.to_ambiguous_zoned(date.at(0, 0, 0, 0)).compatible().ok()?;
        let local = midnight.datetime().checked_add(i64::from(min).minutes()).ok()?;
        self.tz.to_ambiguous_zoned(local).compatible().ok().map(|z| z.timestamp())
    }
}

/// The follow-up deadline's length and, when agreed, the business hours it counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Followup {
    pub within: Duration,
    pub hours: Option<BusinessHours>,
}

impl Followup {
    /// Plain time: `within` from `from`.
    pub fn plain(within: Duration) -> Followup {
        Followup { within, hours: None }
    }

    /// When a follow-up started at `from_ms` (Unix ms) is due: `within` later, counting only business
    /// hours when they are set (so 8 h from Friday 15:00 with 09:00-17:00 Monday to Friday is Monday
    /// 15:00). Local days are walked in the zone, so a DST change shortens or lengthens only the night.
    pub fn due_ms(&self, from_ms: i64) -> i64 {
        let within_ms = i64::try_from(self.within.as_millis()).unwrap_or(i64::MAX);
        match &self.hours {
            None => from_ms.saturating_add(within_ms),
            Some(h) => business_due(from_ms, within_ms, h).unwrap_or(i64::MAX),
        }
    }
}

/// [`Followup::due_ms`] over business hours; `None` past ten years of days (no business day configured).
fn business_due(from_ms: i64, mut left_ms: i64, h: &BusinessHours) -> Option<i64> {
    let from = Timestamp::from_millisecond(from_ms).ok()?;
    let mut date = from.to_zoned(h.tz.clone()).date();
    for _ in 0..3660 {
        if h.days.contains(&date.weekday()) {
            let open = h.at(date, h.start_min)?.as_millisecond().max(from_ms);
            let close = h.at(date, h.end_min)?.as_millisecond();
            if open < close {
                if left_ms <= close - open {
                    return Some(open + left_ms);
                }
                left_ms -= close - open;
            }
        }
        date = date.tomorrow().ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn weekday_names() {
        assert_eq!(weekday("Monday"), Some(Weekday::Monday));
        assert_eq!(weekday("sun"), Some(Weekday::Sunday));
        assert_eq!(weekday("mo"), None);
        assert_eq!(weekday("funday"), None);
    }

    #[test]
    fn monday_eight_in_berlin_is_seven_utc_in_winter_and_six_in_summer() {
        let tz = berlin();
        // Tuesday 2026-12-01: the last one was Monday 2026-11-30 08:00 CET, the next a week later.
        let now = at("2026-12-01T05:00:00Z");
        assert_eq!(last_digest_at(now, Weekday::Monday, 8, &tz), Some(at("2026-11-30T07:00:00Z")));
        assert_eq!(next_digest_at(now, Weekday::Monday, 8, &tz), Some(at("2026-12-07T07:00:00Z")));
        // Summer: CEST.
        let june = at("2026-06-10T12:00:00Z");
        assert_eq!(last_digest_at(june, Weekday::Monday, 8, &tz), Some(at("2026-06-08T06:00:00Z")));
        // Exactly at the time: due now, and the next is a week on.
        let t = at("2026-11-30T07:00:00Z");
        assert_eq!(last_digest_at(t, Weekday::Monday, 8, &tz), Some(t));
        assert_eq!(next_digest_at(t, Weekday::Monday, 8, &tz), Some(at("2026-12-07T07:00:00Z")));
        assert_eq!(local_date(t, &tz), "2026-11-30");
    }

    #[test]
    fn across_daylight_saving_changes_the_wall_clock_hour_holds() {
        let tz = berlin();
        // Clocks go forward on Sunday 2026-03-29: Monday the 23rd 08:00 is 07:00Z, the 30th is 06:00Z.
        let sat = at("2026-03-28T12:00:00Z");
        assert_eq!(next_digest_at(sat, Weekday::Monday, 8, &tz), Some(at("2026-03-30T06:00:00Z")));
        assert_eq!(last_digest_at(sat, Weekday::Monday, 8, &tz), Some(at("2026-03-23T07:00:00Z")));
        // Back on Sunday 2026-10-25: the 26th is 07:00Z again.
        let sun = at("2026-10-25T12:00:00Z");
        assert_eq!(next_digest_at(sun, Weekday::Monday, 8, &tz), Some(at("2026-10-26T07:00:00Z")));
        // A Sunday digest at 02:00 on the spring-forward day (02:00-03:00 does not exist) is at 03:00 CEST.
        assert_eq!(next_digest_at(sat, Weekday::Sunday, 2, &tz), Some(at("2026-03-29T01:00:00Z")));
        // At 02:00 on the fall-back day (it happens twice) the first one counts: 02:00 CEST.
        let fall = next_digest_at(at("2026-10-24T12:00:00Z"), Weekday::Sunday, 2, &tz);
        assert_eq!(fall, Some(at("2026-10-25T00:00:00Z")));
        // One per week: the next after it is a week of wall-clock later, not the repeated hour.
        assert_eq!(next_digest_at(fall.unwrap(), Weekday::Sunday, 2, &tz), Some(at("2026-11-01T01:00:00Z")));
    }

    #[test]
    fn the_local_week_decides_not_the_utc_one() {
        // Monday 08:00 in Auckland (NZDT, +13) is Sunday 19:00 UTC.
        let tz = TimeZone::get("Pacific/Auckland").unwrap();
        let now = at("2026-11-29T20:00:00Z");
        assert_eq!(last_digest_at(now, Weekday::Monday, 8, &tz), Some(at("2026-11-29T19:00:00Z")));
        assert_eq!(local_date(at("2026-11-29T19:00:00Z"), &tz), "2026-11-30");
        assert_eq!(last_digest_at(now, Weekday::Monday, 8, &TimeZone::UTC), Some(at("2026-11-23T08:00:00Z")));
    }

    fn weekdays() -> BusinessHours {
        BusinessHours {
            start_min: 9 * 60,
            end_min: 17 * 60,
            days: vec![Weekday::Monday, Weekday::Tuesday, Weekday::Wednesday, Weekday::Thursday, Weekday::Friday],
            tz: berlin(),
        }
    }

    fn due(from: &str, hours: u64, h: &BusinessHours) -> Timestamp {
        let f = Followup { within: Duration::from_secs(hours * 3600), hours: Some(h.clone()) };
        Timestamp::from_millisecond(f.due_ms(at(from).as_millisecond())).unwrap()
    }

    #[test]
    fn business_hours_parse() {
        assert_eq!(BusinessHours::parse_span("09:00-17:30"), Some((540, 1050)));
        assert_eq!(BusinessHours::parse_span("00:00-24:00"), Some((0, 1440)));
        assert_eq!(BusinessHours::parse_span("17:00-09:00"), None);
        assert_eq!(BusinessHours::parse_span("9-17"), None);
    }

    #[test]
    fn the_deadline_counts_business_hours_only_across_a_weekend() {
        let h = weekdays();
        // Friday 2026-11-27 15:00 CET (14:00Z) + 8 business hours: 2 on Friday, 6 on Monday → Monday 15:00.
        assert_eq!(due("2026-11-27T14:00:00Z", 8, &h), at("2026-11-30T14:00:00Z"));
        // Turned hot on Saturday night: the clock starts Monday 09:00.
        assert_eq!(due("2026-11-28T22:00:00Z", 1, &h), at("2026-11-30T09:00:00Z"));
        // Within the day.
        assert_eq!(due("2026-11-30T08:00:00Z", 2, &h), at("2026-11-30T10:00:00Z"));
        // 24 business hours = three working days.
        assert_eq!(due("2026-11-30T08:00:00Z", 24, &h), at("2026-12-02T16:00:00Z"));
        // Without business hours: plain time.
        assert_eq!(Followup::plain(Duration::from_secs(3600)).due_ms(0), 3_600_000);
    }

    #[test]
    fn across_a_daylight_saving_change_business_hours_stay_local() {
        // Friday 2026-03-27 16:00 CET (15:00Z) + 2 h: 1 on Friday, 1 on Monday after clocks went forward:
        // Monday 10:00 CEST = 08:00Z.
        assert_eq!(due("2026-03-27T15:00:00Z", 2, &weekdays()), at("2026-03-30T08:00:00Z"));
        // Every day 00:00-24:00: business time is elapsed time, also over the 23-hour spring-forward Sunday
        // (the walk goes by local days, whose length the zone decides).
        let all = BusinessHours { start_min: 0, end_min: 1440, days: weekdays_all(), tz: berlin() };
        assert_eq!(due("2026-03-27T23:00:00Z", 24, &all), at("2026-03-28T23:00:00Z"));
        assert_eq!(due("2026-03-28T23:00:00Z", 24, &all), at("2026-03-29T23:00:00Z"), "a 23-hour day");
        // 09:00-17:00 on the autumn Monday after clocks went back: 8 h from Friday 17:00 is Monday 17:00 CET.
        assert_eq!(due("2026-10-23T15:00:00Z", 8, &weekdays()), at("2026-10-26T16:00:00Z"));
    }

    fn weekdays_all() -> Vec<Weekday> {
        let mut d = weekdays().days;
        d.extend([Weekday::Saturday, Weekday::Sunday]);
        d
    }
}
