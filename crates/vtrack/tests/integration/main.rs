//! The binary crate's integration tests, in one test binary (as ripgrep's `tests/integration`): each suite
//! is a module here, and `common` the harness they share (a real `vtrack serve`, `ingest`, `process` and
//! `api` as processes, Kafka (tansu) and ClickHouse through `deploy/`, DNS and RDAP servers, webhook
//! receivers). One binary links the crate's dependencies once instead of once per suite, and its tests
//! share one pool of test threads instead of running suite after suite.
//!
//! - Everything: `cargo test -p vtrack` (the bin's unit tests, then this binary).
//! - One suite: `cargo test -p vtrack --test integration digest::` (the module path filters the tests);
//!   one test: `cargo test -p vtrack --test integration digest::the_same_digests`.
//! - A new suite is a file here and a `mod` line below. A file directly in `tests/` would become a test
//!   binary of its own: only for a suite that needs its own process (none does today: every suite drives
//!   vtrack as child processes and shares nothing process-wide but the started servers).
//!
//! Switches: `VTRACK_REQUIRE_DATA=1` (set by `scripts/test.sh`) makes every test that needs data from
//! outside the repository fail instead of skipping (`vtrack_testkit::missing`); `VTRACK_OFFLINE=1` skips
//! the one that fetches from the npm registry. Tests that depend on the date run the binary on a
//! [`common::TestClock`] (its test-only `VTRACK_TEST_NOW_MS`), not on the day they are run.

mod common;

mod alerts;
mod cli;
mod cluster;
mod dashboard;
mod data_update;
mod deploy_metrics;
mod digest;
mod durability;
mod edge;
mod edge_gaps;
mod evidence;
mod followup;
mod funnel;
mod identity;
mod loadgen;
mod openapi;
mod owners;
mod production;
mod rdap;
mod rekey;
mod rescore;
mod reverse_dns;
mod roles;
mod serve;
mod server_api;
