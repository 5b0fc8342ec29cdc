//! What processing needs from a store, split by who calls it.
//!
//! Each trait is one concern: the batch write needs all of them except the last two ([`BatchStore`] is
//! their sum, implemented for any store that has them all); the follow-up deadline check and the weekly
//! digest need [`AlertStore`] and [`FollowupStore`]; `vtrack rescore` needs [`AccountStore`] and
//! [`RescoreStore`]. SQLite and ClickHouse implement each; a method's doc states the contract both keep.
//! Times are Unix seconds unless a name says otherwise.

use std::collections::HashMap;

use vtrack_model::{Alert, EnrichedEvent, NetworkEvidence, Status};

use crate::account::{AccountHistory, AccountScore, AccountState};
use crate::identity::Identity;
use crate::outbox::Delivery;
use crate::owners::OwnerChange;
use crate::sla::HotFollowup;
use crate::{SessionRow, VisitorState};

/// A store's transactions, under every other trait.
#[allow(async_fn_in_trait)]
pub trait Transactional {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether the store writes a batch atomically (between `begin` and `commit`): an event it has was fully
    /// processed, and a failed batch leaves nothing behind.
    fn atomic(&self) -> bool;

    async fn begin(&mut self) -> Result<(), Self::Error>;
    async fn commit(&mut self) -> Result<(), Self::Error>;
    /// Undoes what an atomic store wrote since `begin`; nothing for the others.
    async fn rollback(&mut self);
}

/// Runs `work` between `begin` and `commit`; when it or the commit fails, rolls back (an atomic store then
/// holds nothing of it, and is out of its transaction) and returns the error. The one place a transaction
/// of processing ends: the batch write, rescore, the deadline check and the digest all go through it.
pub async fn transaction<S: Transactional, T>(
    store: &mut S,
    work: impl AsyncFnOnce(&mut S) -> Result<T, S::Error>,
) -> Result<T, S::Error> {
    store.begin().await?;
    let result = match work(store).await {
        Ok(value) => store.commit().await.map(|()| value),
        Err(e) => Err(e),
    };
    if result.is_err() {
        store.rollback().await;
    }
    result
}

/// Events: the source of truth.
#[allow(async_fn_in_trait)]
pub trait EventStore: Transactional {
    /// Which of `events` (events of `visitors` on `site`) are stored, by `event_id`, with their sessions.
    async fn stored_events(
        &mut self,
        site: &str,
        visitors: &[&str],
        events: &[&EnrichedEvent],
    ) -> Result<HashMap<String, PriorEvent>, Self::Error>;

    /// Where each of `visitors` on `site` stands: their latest stored event.
    async fn last_visits(
        &mut self,
        site: &str,
        visitors: &[&str],
    ) -> Result<HashMap<String, VisitorState>, Self::Error>;

    async fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<(), Self::Error>;

    /// Every stored event of the sessions in `scope`, with its session, in time order.
    async fn scope_events(&mut self, site: &str, scope: Scope<'_>) -> Result<Vec<ScopedEvent>, Self::Error>;

    /// Rewrites the organisation of stored events: name, domain, class and identification.
    async fn relabel_events(&mut self, site: &str, events: &[&ScopedEvent]) -> Result<(), Self::Error>;
}

/// Session rows, derived from the events.
#[allow(async_fn_in_trait)]
pub trait SessionStore: Transactional {
    /// The stored rows of `session_ids` (sessions of `visitors` on `site`), as they count the stored events.
    async fn session_rows(
        &mut self,
        site: &str,
        visitors: &[&str],
        session_ids: &[&str],
    ) -> Result<Vec<SessionRow>, Self::Error>;

    /// Writes whole session rows, replacing what was stored.
    async fn write_sessions(&mut self, rows: &[&SessionRow]) -> Result<(), Self::Error>;
}

/// What visitors told a site: identities and the account keys learned from them.
#[allow(async_fn_in_trait)]
pub trait IdentityStore: Transactional {
    /// Every stored identity of `site`'s visitors.
    async fn site_identities(&mut self, site: &str) -> Result<Vec<Identity>, Self::Error>;

    /// Records identities, one per visitor and site: a later one replaces what is stored.
    async fn save_identities(&mut self, identities: &[&Identity]) -> Result<(), Self::Error>;

    /// The account keys `site` has learned: AS-only key → the domain its people gave.
    async fn learned_keys(&mut self, site: &str) -> Result<HashMap<String, String>, Self::Error>;

    /// Records a learned key (once; the first learned stands).
    async fn save_learned_key(&mut self, site: &str, from: &str, to: &str, learned_ms: i64) -> Result<(), Self::Error>;
}

/// Account rows: aggregates, scoring state and the last verdict.
#[allow(async_fn_in_trait)]
pub trait AccountStore: Transactional {
    /// The stored state of each of `domains` on `site` that has an account row. A row written before states
    /// were stored comes back with an empty `scoring` (so it is recomputed) and its last verdict.
    async fn account_states(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountState>, Self::Error>;

    /// The stored sessions and events of each of `domains` on `site`, events in time order.
    async fn account_histories(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountHistory>, Self::Error>;

    /// Writes each account's row: aggregates, verdict and state.
    async fn save_accounts(&mut self, accounts: &[(&AccountState, &AccountScore)]) -> Result<(), Self::Error>;

    /// Removes the rows of accounts left without sessions (their events now count for another account).
    async fn drop_accounts(&mut self, site: &str, domains: &[&str]) -> Result<(), Self::Error>;
}

/// Who follows an account up.
#[allow(async_fn_in_trait)]
pub trait OwnerStore: Transactional {
    /// The current owner of each of `domains` on `site` that has one.
    async fn account_owners(&mut self, site: &str, domains: &[&str]) -> Result<HashMap<String, String>, Self::Error>;

    /// Records owner changes: the current owner and a line of history each. A change written again (a
    /// replay) is kept once.
    async fn save_owners(&mut self, changes: &[OwnerChange]) -> Result<(), Self::Error>;
}

/// Alerts and their deliveries: the batch write, the deadline check and the digest all raise alerts.
#[allow(async_fn_in_trait)]
pub trait AlertStore: Transactional {
    /// Records alerts; one id is one alert however often it is written.
    async fn insert_alerts(&mut self, alerts: &[&Alert]) -> Result<(), Self::Error>;

    /// The account's latest status and the score it had when sales set it; `None` until sales sets one.
    async fn latest_status(&mut self, site: &str, domain: &str) -> Result<Option<(Status, f64)>, Self::Error>;

    /// Whether the delivery's webhook has another delivery for the same account created after `since`.
    async fn delivered_since(&mut self, d: &Delivery<'_>, since: i64) -> Result<bool, Self::Error>;

    /// Queues a delivery (once per id); returns whether it was new.
    async fn queue_delivery(&mut self, d: &Delivery<'_>) -> Result<bool, Self::Error>;
}

/// What is known about networks beyond their names (`vtrack_model::evidence`): the evidence and decided
/// classes the resolver's side wrote, and the traffic processing counts.
#[allow(async_fn_in_trait)]
pub trait NetworkStore: Transactional {
    /// Every network's evidence and the class decided with it, the latest per AS number.
    async fn network_evidence(&mut self) -> Result<Vec<NetworkEvidence>, Self::Error>;

    /// Adds each row's sets to what is stored for its site, AS number and day (bitwise OR, so a row written
    /// again, or by two processors, changes nothing).
    async fn add_traffic(&mut self, rows: &[TrafficRow]) -> Result<(), Self::Error>;
}

/// Everything the batch write calls. Implemented for every store that has each part.
pub trait BatchStore:
    EventStore + SessionStore + IdentityStore + AccountStore + OwnerStore + AlertStore + NetworkStore
{
}

impl<S: EventStore + SessionStore + IdentityStore + AccountStore + OwnerStore + AlertStore + NetworkStore> BatchStore
    for S
{
}

/// One network's traffic on one site and day, as 64-bit sets of hashed buckets
/// (`vtrack_model::evidence::{prefix_bucket, text_bucket}`): no address, visitor id or city is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficRow<'a> {
    pub site: &'a str,
    pub asn: u32,
    /// UTC day number.
    pub day: i64,
    pub visitors: u64,
    pub prefixes: u64,
    pub cities: u64,
}

/// What the follow-up deadline check and the weekly digest read.
#[allow(async_fn_in_trait)]
pub trait FollowupStore: AlertStore {
    /// Every account's latest `became_hot` alert, with its stage, status and owner now and whether that
    /// crossing raised its `sla_missed` alert.
    async fn hot_followups(&mut self) -> Result<Vec<HotFollowup>, Self::Error>;
}

/// What `vtrack rescore` walks.
#[allow(async_fn_in_trait)]
pub trait RescoreStore: AccountStore {
    /// Every account, as (site, domain).
    async fn all_accounts(&mut self) -> Result<Vec<(String, String)>, Self::Error>;
}

/// An event with what processing added: the session it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    pub event: &'a EnrichedEvent,
    /// The `event_id` of the session's first event: stable across replays.
    pub session_id: &'a str,
    /// The visitor had an earlier session.
    pub is_return: bool,
}

/// A stored event of the batch: the session it was given when first written, so a replay keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorEvent {
    pub session_id: String,
    pub is_return: bool,
}

/// Which stored events [`EventStore::scope_events`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Every event of one visitor.
    Visitor(&'a str),
    /// Every event of the sessions with an event keyed by this account key.
    Key(&'a str),
    /// Every event of the sessions with an event the AS layer answered for this network (`id_source` `asn`,
    /// its AS number, keyed `as<N>` or by the evidence's key) that does not carry the evidence's key, class
    /// and class confidence yet: what a network's evidence relabels, and nothing once it has.
    Network(&'a NetworkEvidence),
}

/// A stored event as a relabelling reads and rewrites it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedEvent {
    /// The fields sessions and attribution need: time, type, visitor, path, referrer, campaign, engaged
    /// time, email and the organisation.
    pub event: EnrichedEvent,
    pub session_id: String,
    pub is_return: bool,
}
