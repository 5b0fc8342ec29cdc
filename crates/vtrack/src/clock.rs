//! The test clock: `VTRACK_TEST_NOW_MS=<Unix ms>` starts every command of this process on that time, for
//! tests only.
//!
//! Read here and nowhere else, once at start: it sets `vtrack_model::time::now_ms`, the one clock every
//! "now" of vtrack goes through (the digest's schedule and content, the follow-up deadlines, the client
//! clock window, signatures), which then runs on from the given time at the system clock's pace. So a test
//! can run the weekly digest on a Monday at 00:30 UTC whatever day it is run on. It is not a flag and not in
//! `--help`: nobody runs a pipeline on a made-up time but a test (`crates/vtrack/tests/integration/digest.rs`).

/// The variable's name.
pub const TEST_NOW_ENV: &str = "VTRACK_TEST_NOW_MS";

/// Sets the clock from [`TEST_NOW_ENV`] when it is set; an unreadable value is an error, not ignored.
pub fn init_from_env() -> anyhow::Result<()> {
    let Some(value) = std::env::var_os(TEST_NOW_ENV) else { return Ok(()) };
    let ms: i64 = value
        .to_str()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{TEST_NOW_ENV}={value:?}: expected milliseconds since the Unix epoch"))?;
    vtrack_model::time::set_now_for_tests(ms);
    tracing::info!(now = %vtrack_model::time::format_ms(ms), "{TEST_NOW_ENV} is set: the clock is a test's");
    Ok(())
}
