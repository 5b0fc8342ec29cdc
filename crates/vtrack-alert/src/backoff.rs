//! How long to wait before retrying a delivery.
//!
//! Exponential so that a receiver that is down is not hammered; with full jitter (a uniform draw between
//! zero and the exponential bound) so that alerts that failed together — the receiver was down for all of
//! them — do not retry in lockstep and knock it over again when it comes back.

use std::time::Duration;

/// The backoff schedule: the bound doubles from `base` after each failed attempt, up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s … capped at 10 minutes.
    fn default() -> Self {
        Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(600) }
    }
}

impl Backoff {
    /// The wait after `attempt` failed attempts (1-based: after the first failure the bound is `base`),
    /// given a uniform draw `jitter` in [0, 1] (clamped; NaN counts as 1). Pure, so it is testable.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        // 2^31 × base is beyond any sensible cap already; saturating keeps huge attempt counts at the cap.
        let doublings = attempt.saturating_sub(1).min(31);
        let bound = self.base.saturating_mul(1u32 << doublings).min(self.cap);
        let jitter = if jitter.is_nan() { 1.0 } else { jitter.clamp(0.0, 1.0) };
        bound.mul_f64(jitter)
    }
}

/// [`Backoff::default`]'s wait after `attempt` failed attempts: exponential from 1 s, capped at 10 minutes,
/// scaled by `jitter` in [0, 1].
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    Backoff::default().delay(attempt, jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_the_cap() {
        let secs = |n| backoff(n, 1.0).as_secs_f64();
        assert_eq!(secs(0), 1.0);
        assert_eq!(secs(1), 1.0);
        assert_eq!(secs(2), 2.0);
        assert_eq!(secs(3), 4.0);
        assert_eq!(secs(10), 512.0);
        assert_eq!(secs(11), 600.0);
        assert_eq!(secs(40), 600.0);
        assert_eq!(secs(u32::MAX), 600.0);
    }

    #[test]
    fn full_jitter_stays_within_bounds() {
        for n in 1..50 {
            let bound = backoff(n, 1.0);
            assert!(bound <= Duration::from_secs(600));
            assert_eq!(backoff(n, 0.0), Duration::ZERO);
            for j in [0.1, 0.5, 0.999] {
                let d = backoff(n, j);
                assert!(d <= bound, "attempt {n}, jitter {j}: {d:?} > {bound:?}");
            }
            assert_eq!(backoff(n, 0.5), bound / 2);
        }
        assert_eq!(backoff(3, 7.0), backoff(3, 1.0), "out-of-range draws are clamped");
        assert_eq!(backoff(3, -1.0), Duration::ZERO);
        assert_eq!(backoff(3, f64::NAN), backoff(3, 1.0));
    }

    #[test]
    fn configurable_base() {
        let b = Backoff { base: Duration::from_millis(10), cap: Duration::from_millis(50) };
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(10));
        assert_eq!(b.delay(3, 1.0), Duration::from_millis(40));
        assert_eq!(b.delay(4, 1.0), Duration::from_millis(50));
    }
}
