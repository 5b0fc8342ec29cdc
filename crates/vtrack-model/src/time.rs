//! UTC timestamps as the store writes them.
//!
//! Both stores keep times as `YYYY-MM-DD HH:MM:SS` in UTC: it is what ClickHouse's `DateTime` prints, it
//! sorts as text in SQLite, and SQLite's own date functions read it. Second precision is enough for
//! sessions and scores.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How far [`now_ms`] reads from the system clock, ms: 0 unless a test set the clock ([`set_now_for_tests`]).
static SHIFT_MS: AtomicI64 = AtomicI64::new(0);

fn system_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now: the one clock behind every "now" of vtrack (the client clock
/// window, digests due, deadlines missed, webhook signatures and retries, sign-in expiry). The system
/// clock, unless a test set it with [`set_now_for_tests`].
pub fn now_ms() -> i64 {
    system_ms().saturating_add(SHIFT_MS.load(Ordering::Relaxed))
}

/// For tests only: from this moment [`now_ms`] reads `ms` and runs on at the system clock's pace, so a
/// process under test lives on a day and hour the test chose (the weekly digest on a Monday at 00:30 UTC)
/// while its timers, retries and timeouts behave as they do in real time. The binary calls it once at
/// start when `VTRACK_TEST_NOW_MS` is set (`crates/vtrack/src/clock.rs`); nothing else should.
pub fn set_now_for_tests(ms: i64) {
    SHIFT_MS.store(ms.saturating_sub(system_ms()), Ordering::Relaxed);
}

/// Days since 1970-01-01 to a civil (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A civil date to days since 1970-01-01 (the inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_secs(secs: i64) -> String {
    match SecsText::new(secs) {
        Some(t) => t.as_str().to_string(),
        None => {
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
        }
    }
}

/// Formats Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC), dropping the milliseconds.
pub fn format_ms(ms: i64) -> String {
    format_secs(ms.div_euclid(1000))
}

/// [`format_secs`]'s text held on the stack, for the batch write, which formats several times per event:
/// written digit by digit, it costs a small fraction of `format!` and allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecsText([u8; 19]);

impl SecsText {
    /// The text of `secs`; `None` for a year outside 0000–9999 (use [`format_secs`]).
    pub fn new(secs: i64) -> Option<SecsText> {
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        if !(0..=9999).contains(&y) {
            return None;
        }
        let rem = secs.rem_euclid(86_400) as u32;
        let mut b = *b"0000-00-00 00:00:00";
        let two = |b: &mut [u8], v: u32| {
            b[0] = b'0' + (v / 10) as u8;
            b[1] = b'0' + (v % 10) as u8;
        };
        let y = y as u32;
        two(&mut b[0..2], y / 100);
        two(&mut b[2..4], y % 100);
        two(&mut b[5..7], m);
        two(&mut b[8..10], d);
        two(&mut b[11..13], rem / 3600);
        two(&mut b[14..16], rem / 60 % 60);
        two(&mut b[17..19], rem % 60);
        Some(SecsText(b))
    }

    /// Of Unix milliseconds, dropping the milliseconds.
    pub fn of_ms(ms: i64) -> Option<SecsText> {
        SecsText::new(ms.div_euclid(1000))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl std::fmt::Debug for SecsText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS` (or with a `T`) back to Unix seconds; `None` when it is not that shape.
pub fn parse_secs(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') {
        return None;
    }
    // Digits only (what `str::parse` would also take, less its sign): read byte by byte, as this runs for
    // every row the batch write reads back.
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_set_for_tests_reads_the_time_given_and_runs_on() {
        let monday = parse_secs("2026-03-02 00:30:00").unwrap() * 1000;
        set_now_for_tests(monday);
        let now = now_ms();
        assert!((monday..monday + 5_000).contains(&now), "{}", format_ms(now));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(now_ms() >= now + 20, "it runs on");
        SHIFT_MS.store(0, Ordering::Relaxed);
    }

    #[test]
    fn known_instants() {
        assert_eq!(format_secs(0), "1970-01-01 00:00:00");
        assert_eq!(format_secs(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_secs(1_795_427_999), "2026-11-23 09:59:59");
        assert_eq!(format_ms(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn round_trips_across_four_centuries() {
        let mut t = -5_000_000_000i64;
        while t < 10_000_000_000 {
            assert_eq!(parse_secs(&format_secs(t)), Some(t), "{t}");
            t += 7_777_777;
        }
    }

    #[test]
    fn the_stack_text_is_format_secs_text() {
        let slow = |secs: i64| {
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let rem = secs.rem_euclid(86_400);
            format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
        };
        let mut t = -62_167_219_200i64; // 0000-01-01
        while t < 253_402_300_800 {
            assert_eq!(SecsText::new(t).map(|s| s.as_str().to_string()), Some(slow(t)), "{t}");
            t += 86_399 * 37 + 13;
        }
        assert_eq!(SecsText::new(253_402_300_800), None, "year 10000");
        assert_eq!(format_secs(253_402_300_800), "10000-01-01 00:00:00");
        assert_eq!(format_secs(-62_167_219_201), "-001-12-31 23:59:59");
    }

    #[test]
    fn rejects_other_shapes() {
        assert_eq!(parse_secs("2026-11-23"), None);
        assert_eq!(parse_secs("2026-13-01 00:00:00"), None);
        assert_eq!(parse_secs("yesterday at noon!!"), None);
        assert_eq!(parse_secs("2026-11-23T12:00:00Z"), Some(1_795_435_200));
    }
}
