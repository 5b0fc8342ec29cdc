//! The configured store, chosen once: [`Store`] is SQLite in `[server] data_dir` or ClickHouse at
//! `[clickhouse] url`, and implements every store trait by handing each call to the one it is. The binary
//! opens it from the config and never asks which it is again; what only one backend has (ClickHouse's
//! retention, its outbox's partition filter) it reaches through [`Store::clickhouse`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use vtrack_model::{Alert, Config, EnrichedEvent, LearnedRange, NetworkEvidence, Status};
use vtrack_process::account::{AccountHistory, AccountScore, AccountState};
use vtrack_process::batch::{
    AccountStore, AlertStore, EventRow, EventStore, FollowupStore, IdentityStore, KeyedOrg, NetworkStore, OwnerStore,
    PriorEvent, RekeyStore, RescoreStore, Scope, ScopedEvent, SessionStore, TrafficRow, Transactional,
};
use vtrack_process::owners::OwnerChange;
use vtrack_process::{Delivery, HotFollowup, Identity, SessionRow, VisitorState};

use crate::dashboard::{
    AccountDetail, AccountFilter, AccountRow, CampaignRow, DashboardError, DashboardReads, FunnelFacts, LiveVisit,
    OwnerHistoryRow, OwnerUpdate, SqliteDashboard, StatusChange, StatusUpdate,
};
use crate::{ClickHouseStore, SqliteStore, StoreError};

/// The store a process writes and reads: one of the two backends.
pub enum Store {
    /// The embedded store: one transaction per batch; its calls block (see [`Store::run`]).
    Sqlite { store: SqliteStore, dir: PathBuf },
    /// ClickHouse: ordered, idempotent steps per batch.
    ClickHouse(Box<ClickHouseStore>),
}

/// Hands a call to the backend `$self` is.
macro_rules! each {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite { store: $s, .. } => $call,
            Store::ClickHouse($s) => $call,
        }
    };
}

impl Store {
    /// Opens the configured store: ClickHouse (whose schema `vtrack migrate` must have brought up to date)
    /// when `[clickhouse]` is set, else SQLite in the data dir (created and migrated as needed).
    pub async fn open(config: &Config) -> Result<Store, StoreError> {
        match &config.clickhouse {
            Some(c) => {
                let store = ClickHouseStore::open(c)?;
                store.check_schema().await?;
                Ok(Store::ClickHouse(Box::new(store)))
            }
            None => Store::sqlite(config.server.data_dir.clone()),
        }
    }

    fn sqlite(dir: PathBuf) -> Result<Store, StoreError> {
        Ok(Store::Sqlite { store: SqliteStore::open(&dir)?, dir })
    }

    /// Another handle on the same store, for a task of its own (SQLite: a connection; ClickHouse: a client).
    pub fn another(&self) -> Result<Store, StoreError> {
        match self {
            Store::Sqlite { dir, .. } => Store::sqlite(dir.clone()),
            Store::ClickHouse(c) => Ok(Store::ClickHouse(c.clone())),
        }
    }

    /// Where it stores, for the log.
    pub fn describe(&self) -> String {
        match self {
            Store::Sqlite { dir, .. } => format!("sqlite in {}", dir.display()),
            Store::ClickHouse(c) => format!("clickhouse at {} ({})", c.url().endpoint, c.url().database),
        }
    }

    /// ClickHouse, when it is: for what only that backend has.
    pub fn clickhouse(&self) -> Option<&ClickHouseStore> {
        match self {
            Store::ClickHouse(c) => Some(c),
            Store::Sqlite { .. } => None,
        }
    }

    /// Runs `work` on the store the way its I/O wants: SQLite's calls block and finish without waiting on a
    /// future, so they run off the reactor (`block_in_place`); ClickHouse's are awaited.
    pub async fn run<T>(&mut self, work: impl AsyncFnOnce(&mut Store) -> T) -> T {
        match self {
            Store::Sqlite { .. } => {
                tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(work(self)))
            }
            Store::ClickHouse(_) => work(self).await,
        }
    }

    /// How many accounts were scored with another scoring config than `fingerprint`.
    pub async fn accounts_scored_otherwise(&mut self, fingerprint: &str) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite { store, .. } => store.accounts_scored_otherwise(fingerprint),
            Store::ClickHouse(c) => c.accounts_scored_otherwise(fingerprint).await,
        }
    }

    /// The dashboard's reads over a handle of their own.
    pub fn dashboard(&self) -> Result<Dashboard, StoreError> {
        Ok(match self.another()? {
            Store::Sqlite { store, .. } => Dashboard::Sqlite(SqliteDashboard::new(store)),
            Store::ClickHouse(c) => Dashboard::ClickHouse(c),
        })
    }

    /// Where learned ranges are kept beside the resolver's memory, over a handle of its own.
    pub fn learned(&self) -> Result<Learned, StoreError> {
        Ok(match self.another()? {
            Store::Sqlite { store, .. } => Learned::Sqlite(Arc::new(Mutex::new(store))),
            Store::ClickHouse(c) => Learned::ClickHouse(c),
        })
    }
}

/// The dashboard's reads of [`Store`].
pub enum Dashboard {
    Sqlite(SqliteDashboard),
    ClickHouse(Box<ClickHouseStore>),
}

/// Hands a dashboard read to the backend.
macro_rules! read {
    ($self:expr, $r:ident => $call:expr) => {
        match $self {
            Dashboard::Sqlite($r) => $call,
            Dashboard::ClickHouse($r) => $call,
        }
    };
}

impl DashboardReads for Dashboard {
    async fn accounts(&self, site: &str, f: &AccountFilter, now_ms: i64) -> Result<Vec<AccountRow>, DashboardError> {
        read!(self, r => r.accounts(site, f, now_ms).await)
    }
    async fn account(&self, site: &str, domain: &str, now_ms: i64) -> Result<Option<AccountDetail>, DashboardError> {
        read!(self, r => r.account(site, domain, now_ms).await)
    }
    async fn set_status(
        &self,
        site: &str,
        domain: &str,
        update: &StatusUpdate,
        now_ms: i64,
    ) -> Result<Option<StatusChange>, DashboardError> {
        read!(self, r => r.set_status(site, domain, update, now_ms).await)
    }
    async fn set_owner(
        &self,
        site: &str,
        domain: &str,
        update: &OwnerUpdate,
        now_ms: i64,
    ) -> Result<Option<OwnerHistoryRow>, DashboardError> {
        read!(self, r => r.set_owner(site, domain, update, now_ms).await)
    }
    async fn campaigns(&self, site: &str) -> Result<Vec<CampaignRow>, DashboardError> {
        read!(self, r => r.campaigns(site).await)
    }
    async fn funnel_facts(&self, site: &str) -> Result<Vec<FunnelFacts>, DashboardError> {
        read!(self, r => r.funnel_facts(site).await)
    }
    async fn live(&self, site: &str, since_ms: i64) -> Result<Vec<LiveVisit>, DashboardError> {
        read!(self, r => r.live(site, since_ms).await)
    }
}

/// Where learned ranges are kept: the store's `learned_ranges`. SQLite's connection is shared by the tasks
/// that save and reload (the calls block, so they run on the blocking pool).
#[derive(Clone)]
pub enum Learned {
    Sqlite(Arc<Mutex<SqliteStore>>),
    ClickHouse(Box<ClickHouseStore>),
}

impl Learned {
    /// Records `ranges` (a newer finding for a network replaces the older).
    pub async fn save(&self, ranges: Vec<LearnedRange>) -> Result<(), StoreError> {
        match self {
            Learned::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.lock().map_err(|_| StoreError::Poisoned)?.save_learned_ranges(&ranges)).await
            }
            Learned::ClickHouse(c) => c.save_learned_ranges(&ranges).await,
        }
    }

    /// The ranges not expired at `now_ms`.
    pub async fn load(&self, now_ms: i64) -> Result<Vec<LearnedRange>, StoreError> {
        match self {
            Learned::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.lock().map_err(|_| StoreError::Poisoned)?.learned_ranges(now_ms)).await
            }
            Learned::ClickHouse(c) => c.learned_ranges(now_ms).await,
        }
    }

    /// Records networks' evidence and the classes decided with it (`network_evidence`).
    pub async fn save_evidence(&self, found: Vec<NetworkEvidence>) -> Result<(), StoreError> {
        match self {
            Learned::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.lock().map_err(|_| StoreError::Poisoned)?.save_network_evidence(&found)).await
            }
            Learned::ClickHouse(c) => c.save_network_evidence(&found).await,
        }
    }

    /// Every network's evidence.
    pub async fn load_evidence(&self) -> Result<Vec<NetworkEvidence>, StoreError> {
        match self {
            Learned::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.lock().map_err(|_| StoreError::Poisoned)?.all_network_evidence()).await
            }
            Learned::ClickHouse(c) => c.all_network_evidence().await,
        }
    }

    /// Every network's traffic sets of the days from `since_day` on.
    pub async fn load_traffic(&self, since_day: i64) -> Result<Vec<crate::TrafficSets>, StoreError> {
        match self {
            Learned::Sqlite(s) => {
                let s = s.clone();
                blocking(move || s.lock().map_err(|_| StoreError::Poisoned)?.network_traffic(since_day)).await
            }
            Learned::ClickHouse(c) => c.network_traffic(since_day).await,
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| StoreError::Poisoned)?
}

impl Transactional for Store {
    type Error = StoreError;

    fn atomic(&self) -> bool {
        each!(self, s => s.atomic())
    }

    async fn begin(&mut self) -> Result<(), StoreError> {
        each!(self, s => s.begin().await)
    }
    async fn commit(&mut self) -> Result<(), StoreError> {
        each!(self, s => s.commit().await)
    }
    async fn rollback(&mut self) {
        each!(self, s => s.rollback().await)
    }
}

impl EventStore for Store {
    async fn stored_events(
        &mut self,
        site: &str,
        visitors: &[&str],
        events: &[&EnrichedEvent],
    ) -> Result<std::collections::HashMap<String, PriorEvent>, StoreError> {
        each!(self, s => s.stored_events(site, visitors, events).await)
    }
    async fn last_visits(
        &mut self,
        site: &str,
        visitors: &[&str],
    ) -> Result<std::collections::HashMap<String, VisitorState>, StoreError> {
        each!(self, s => s.last_visits(site, visitors).await)
    }
    async fn insert_events(&mut self, rows: &[EventRow<'_>]) -> Result<(), StoreError> {
        each!(self, s => s.insert_events(rows).await)
    }
    async fn scope_events(&mut self, site: &str, scope: Scope<'_>) -> Result<Vec<ScopedEvent>, StoreError> {
        each!(self, s => s.scope_events(site, scope).await)
    }
    async fn relabel_events(&mut self, site: &str, events: &[&ScopedEvent]) -> Result<(), StoreError> {
        each!(self, s => s.relabel_events(site, events).await)
    }
}

impl SessionStore for Store {
    async fn session_rows(
        &mut self,
        site: &str,
        visitors: &[&str],
        session_ids: &[&str],
    ) -> Result<Vec<SessionRow>, StoreError> {
        each!(self, s => s.session_rows(site, visitors, session_ids).await)
    }
    async fn write_sessions(&mut self, rows: &[&SessionRow]) -> Result<(), StoreError> {
        each!(self, s => s.write_sessions(rows).await)
    }
}

impl IdentityStore for Store {
    async fn site_identities(&mut self, site: &str) -> Result<Vec<Identity>, StoreError> {
        each!(self, s => s.site_identities(site).await)
    }
    async fn save_identities(&mut self, identities: &[&Identity]) -> Result<(), StoreError> {
        each!(self, s => s.save_identities(identities).await)
    }
    async fn learned_keys(&mut self, site: &str) -> Result<std::collections::HashMap<String, String>, StoreError> {
        each!(self, s => s.learned_keys(site).await)
    }
    async fn save_learned_key(&mut self, site: &str, from: &str, to: &str, learned_ms: i64) -> Result<(), StoreError> {
        each!(self, s => s.save_learned_key(site, from, to, learned_ms).await)
    }
}

impl AccountStore for Store {
    async fn account_states(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountState>, StoreError> {
        each!(self, s => s.account_states(site, domains).await)
    }
    async fn account_histories(&mut self, site: &str, domains: &[&str]) -> Result<Vec<AccountHistory>, StoreError> {
        each!(self, s => s.account_histories(site, domains).await)
    }
    async fn save_accounts(&mut self, accounts: &[(&AccountState, &AccountScore)]) -> Result<(), StoreError> {
        each!(self, s => s.save_accounts(accounts).await)
    }
    async fn drop_accounts(&mut self, site: &str, domains: &[&str]) -> Result<(), StoreError> {
        each!(self, s => s.drop_accounts(site, domains).await)
    }
}

impl OwnerStore for Store {
    async fn account_owners(
        &mut self,
        site: &str,
        domains: &[&str],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        each!(self, s => s.account_owners(site, domains).await)
    }
    async fn save_owners(&mut self, changes: &[OwnerChange]) -> Result<(), StoreError> {
        each!(self, s => s.save_owners(changes).await)
    }
}

impl AlertStore for Store {
    async fn insert_alerts(&mut self, alerts: &[&Alert]) -> Result<(), StoreError> {
        each!(self, s => s.insert_alerts(alerts).await)
    }
    async fn latest_status(&mut self, site: &str, domain: &str) -> Result<Option<(Status, f64)>, StoreError> {
        each!(self, s => s.latest_status(site, domain).await)
    }
    async fn delivered_since(&mut self, d: &Delivery<'_>, since: i64) -> Result<bool, StoreError> {
        each!(self, s => s.delivered_since(d, since).await)
    }
    async fn queue_delivery(&mut self, d: &Delivery<'_>) -> Result<bool, StoreError> {
        each!(self, s => s.queue_delivery(d).await)
    }
}

impl FollowupStore for Store {
    async fn hot_followups(&mut self) -> Result<Vec<HotFollowup>, StoreError> {
        each!(self, s => s.hot_followups().await)
    }
}

impl RescoreStore for Store {
    async fn all_accounts(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        each!(self, s => s.all_accounts().await)
    }
}

impl NetworkStore for Store {
    async fn network_evidence(&mut self) -> Result<Vec<NetworkEvidence>, StoreError> {
        each!(self, s => s.network_evidence().await)
    }
    async fn add_traffic(&mut self, rows: &[TrafficRow<'_>]) -> Result<(), StoreError> {
        each!(self, s => s.add_traffic(rows).await)
    }
}

impl RekeyStore for Store {
    async fn keyed_organisations(&mut self) -> Result<Vec<KeyedOrg>, StoreError> {
        each!(self, s => s.keyed_organisations().await)
    }
    async fn move_account_records(&mut self, site: &str, old: &str, new: &[&str]) -> Result<(), StoreError> {
        each!(self, s => s.move_account_records(site, old, new).await)
    }
}

impl Store {
    /// Whether the account-key migration was done, and whether with the IP data (`crate::rekey`).
    pub async fn rekeyed(&mut self) -> Result<Option<bool>, StoreError> {
        match self {
            Store::Sqlite { store, .. } => store.rekeyed(),
            Store::ClickHouse(c) => c.rekeyed().await,
        }
    }

    /// Records that the account-key migration was done; on ClickHouse after its deletions have run (at most
    /// a minute: they go on in the background after that).
    pub async fn mark_rekeyed(&mut self, with_as_data: bool) -> Result<(), StoreError> {
        match self {
            Store::Sqlite { store, .. } => store.mark_rekeyed(with_as_data),
            Store::ClickHouse(c) => {
                if !c.wait_for_mutations(std::time::Duration::from_secs(60)).await? {
                    tracing::warn!("ClickHouse is still deleting the rows of old keys in the background");
                }
                c.mark_rekeyed(with_as_data).await
            }
        }
    }
}
