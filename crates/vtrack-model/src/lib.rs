//! The vocabulary of vtrack.
//!
//! Every stage — ingest, bus, processing, store — speaks in these types, so that a stage can be swapped
//! (in-process queue for Kafka, SQLite for ClickHouse) without the others noticing. Nothing here does I/O
//! beyond reading the config file.

pub mod alert;
pub mod class;
pub mod config;
pub mod digest;
pub mod domain;
pub mod email;
pub mod event;
pub mod evidence;
pub mod identity;
pub mod learned;
pub mod owners;
pub mod schedule;
pub mod status;
pub mod text;
pub mod time;
pub mod users;

pub use alert::{Alert, AlertKind};
pub use class::NetworkClass;
pub use config::Config;
pub use event::{Beacon, EnrichedEvent};
pub use evidence::NetworkEvidence;
pub use identity::IdSource;
pub use learned::LearnedRange;
pub use status::Status;
