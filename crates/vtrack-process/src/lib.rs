//! Processing: sessions, return visitors and account scoring.
//!
//! This crate holds state and rules only; it does no I/O. The caller asks which visitors it does not know
//! ([`Sessionizer::unknown_visitors`]), fetches their last visit from the store, hands it over
//! ([`Sessionizer::prime`]), and then assigns sessions. That keeps the rules identical on SQLite and
//! ClickHouse and lets a restarted or rebalanced processor pick up exactly where the store says it was.

pub mod pattern;
pub mod scoring;
pub mod session;

pub use scoring::Scorer;
pub use session::{Assignment, Sessionizer, VisitorKey, VisitorState};
