//! Processing: sessions, return visits, account state and scoring, alerts — and the batch write that
//! applies them, once for every store.
//!
//! This crate holds state and rules only; it does no I/O. The batch write ([`batch::Processor::write`])
//! calls the narrow store traits of [`batch::store`], which SQLite implements inside one transaction and
//! ClickHouse as ordered, idempotent steps; the rules under it (the session row, the account state and score, who hears about an
//! alert) are pure functions both call.

pub mod account;
pub mod batch;
pub mod digest;
pub mod funnel;
pub mod identity;
pub mod network_finding;
pub mod outbox;
pub mod owners;
pub mod pattern;
pub mod scoring;
pub mod session;
pub mod session_row;
pub mod sla;

pub use account::{AccountEvent, AccountHistory, AccountScore, AccountState, SessionChange, StoredScore};
pub use batch::{
    AccountStore, AlertStore, BatchRules, BatchStore, EventRow, EventStore, FollowupStore, IdentityStore, KeyedOrg,
    NetworkStore, OwnerStore, PriorEvent, Processor, RekeyStore, Rekeyed, RescoreStore, Scope, ScopedEvent,
    SessionStore, TrafficRow, Transactional, Written,
};
pub use identity::Identity;
pub use network_finding::NetworkFinding;
pub use outbox::{Delivery, DeliveryTarget};
pub use owners::{OwnerChange, OwnerRule, OwnerRules};
pub use scoring::Scorer;
pub use session::{Assignment, Sessionizer, VisitorKey, VisitorState};
pub use session_row::SessionRow;
pub use sla::HotFollowup;
