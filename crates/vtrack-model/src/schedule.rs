//! Local-time rules: when a weekly digest falls due in a site's time zone.
//!
//! Pure functions of an instant and a time zone, so the schedule is tested across daylight-saving changes
//! without waiting for them. The instant of "Monday 08:00 in Berlin" moves by an hour twice a year in UTC;
//! jiff resolves a wall-clock time that does not exist (the spring gap) to the instant after the gap, and
//! one that exists twice (the autumn fold) to the earlier one, so each week has exactly one digest time.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

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
}
