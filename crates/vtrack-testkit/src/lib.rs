//! What the test suites, fixtures and benchmarks of several vtrack crates share (a dev-dependency only):
//! when a test whose data lives outside the repository skips or fails ([`missing`]), and a small MaxMind DB
//! writer ([`mmdb`]) for the project's own test databases.
//!
//! Some tests need what the repository does not hold: the real AS data, MaxMind's test databases and the
//! public user-agent lists (each fetched by a script under `scripts/`), the npm registry, or root (to mount
//! a small filesystem). Run alone, such a test skips with a notice when its data is missing, so a plain
//! `cargo test` works offline and unprivileged. In the full run (`scripts/test.sh`, what CI runs) the same
//! test must run: the script sets `VTRACK_REQUIRE_DATA=1`, and every one of them then fails instead of
//! skipping. That rule lives here, in [`missing`], and nowhere else.

pub mod mmdb;

/// The switch `scripts/test.sh` sets: every data-dependent test is required to run.
pub const REQUIRE_DATA_ENV: &str = "VTRACK_REQUIRE_DATA";

/// Whether data-dependent tests must run (`VTRACK_REQUIRE_DATA=1`) rather than skip.
pub fn data_required() -> bool {
    std::env::var(REQUIRE_DATA_ENV).is_ok_and(|v| v == "1")
}

/// What a test does when `what` it needs is missing: under `VTRACK_REQUIRE_DATA=1` it panics, saying `how`
/// to get it; otherwise it prints `SKIPPED` with the same and returns, and the test returns too:
///
/// ```no_run
/// # let path = std::path::Path::new(".cache/x.csv");
/// if !path.is_file() {
///     vtrack_testkit::missing("the real AS data", "run scripts/fetch-asn-data.sh");
///     return;
/// }
/// ```
#[track_caller]
pub fn missing(what: &str, how: &str) {
    if data_required() {
        panic!("missing {what}, which {REQUIRE_DATA_ENV}=1 requires: {how}");
    }
    eprintln!("SKIPPED: missing {what}; {how} to include this test (required when {REQUIRE_DATA_ENV}=1)");
}
