//! The batch write, once for every store: [`Processor::write`] runs these steps for each site's events, in
//! event-time order, each a function of its own file with typed input and output:
//!
//! 1. [`attribute`]: the identities and learned keys the batch brings, enrichment's findings, and the
//!    networks' evidence ([`networks`]), applied to its events and to the stored events they change
//!    (relabelled, their sessions rebuilt);
//! 2. [`events::place`]: which events are stored already, and the session of each new one;
//! 3. [`sessions::read`]: the rows of the touched sessions that memory does not hold;
//! 4. [`events::insert`]: the new events, and [`networks::count_traffic`]: their networks' traffic sets;
//! 5. [`sessions::write`]: each touched session's row, continued and written;
//! 6. [`accounts::score`]: each touched account continued from its state, or recomputed from its history;
//! 7. [`owners::assign`]: an owner for each new account, by the rules;
//! 8. [`alerts::raise`]: the alerts, with their owners, and their deliveries;
//! 9. [`accounts::save`]: the account rows;
//! 10. [`attribute::save`]: the identities and keys, last, so a replay after a failure relabels again.
//!
//! The steps do no I/O of their own: they call the narrow traits of [`store`]. SQLite implements them inside
//! one transaction ([`store::Transactional::atomic`]): a stored event was fully processed, so a replayed one
//! is skipped. ClickHouse has no transactions; its steps are ordered and idempotent instead, and a stored
//! event may lack its derived rows (a crash between two steps). Such an event, when its session is not in
//! memory, marks its account for recomputation, which heals whatever the crash left behind; alerts are
//! written before the accounts, so the replay raises the same alert ids again, which the store keeps once.
//! What processing follows between batches is held in memory ([`warm`]).

mod accounts;
mod alerts;
mod attribute;
mod events;
mod networks;
mod owners;
pub mod rekey;
mod rescore;
mod sessions;
pub mod store;
mod warm;
mod write;

pub use alerts::{queue_deliveries, record as record_alerts};
pub use networks::NETWORKS_TTL;
pub use rekey::{rekey, KeyedOrg, RekeyStore, Rekeyed};
pub use rescore::rescore;
pub use store::*;
pub use warm::WARM_TTL;
pub use write::{BatchRules, Processor, Written};

use write::{distinct, Batched};
