//! Cluster mode: vtrack's tables on a ClickHouse cluster of shards and replicas (`[clickhouse] cluster`).
//!
//! Each table of [`schema::MIGRATIONS`] becomes two. `T_local` has the same columns, ordering and version
//! column in the `Replicated…` engine (ZooKeeper keeps a shard's replicas equal) and is created on every
//! node `ON CLUSTER`; `T` is a `Distributed` table over the `T_local` of every shard, and every read and
//! write goes through it. The Distributed tables carry the single server's names, so the store's queries,
//! `vtrack sql`, the API and the dashboard run unchanged on a cluster; only DDL and mutations name the local
//! tables, through [`ClickHouseStore::alter`].
//!
//! **The sharding rule.** `FINAL` and the merges of a `ReplacingMergeTree` collapse the copies of a row only
//! within one shard, so every copy a writer makes of a row (a replayed batch, a relabelled event, a session
//! row written again with more events) must land on the shard of the first. A table's sharding key therefore
//! reads only columns that are the same in every copy: its sorting key, or what the sorting key fixes. Then
//! `FINAL`, `argMax(…, version)` and every per-account read through the Distributed table answer exactly
//! what one server would. See [`SHARD_KEYS`] for each table and why.
//!
//! **Reads.** Two settings, [`READ_SETTINGS`], sent by the store's client and by `vtrack sql`:
//! `distributed_product_mode = global` computes an `IN (SELECT … FROM T)` over a Distributed table once and
//! sends the result to the shards, so the subquery sees every shard; `prefer_localhost_replica = 0` reads
//! the entry node's own shard over a connection like the others, because 18.16 reading it in-process
//! drops the sorting key's columns that `FINAL` needs ("Cannot find column site in source stream").
//!
//! **Writes.** The store's client also sends (see [`Cluster::settings`]): `insert_distributed_sync`
//! makes an insert return only once every shard it touches has the rows in a part on a replica, so a
//! batch's Kafka offsets are committed after the shards have it, and a shard that cannot be reached fails
//! the insert: the batch is retried and its offsets wait. `load_balancing = in_order` sends reads and writes
//! to the first healthy replica of each shard, so a processor reads what it has just written (the other
//! replica may be a moment behind) and moves to the next replica only when the first is down.
//!
//! **Reading after a failover.** A replica killed before its last parts were fetched by the other leaves the
//! other without rows whose Kafka offsets are committed (replication is asynchronous, and 18.16's quorum
//! inserts take one writer per table at a time, so they are not used). A processor that reloaded its state
//! from there would continue an account from an older state and undercount it for good; the cluster tests
//! saw exactly that. So each batch begins with [`ClickHouseStore::check_replicas`]: it asks the replica that
//! serves each shard (`cluster()` picks it as the Distributed tables do) whether it still has parts to fetch,
//! and while one has, the batch fails and is retried — processing waits (503, lag) until the killed replica
//! is back and its parts are fetched, or goes on at once when the survivor has everything.
//!
//! **DDL.** `vtrack migrate` applies [`schema::MIGRATIONS`] translated by [`plan`]: `CREATE TABLE IF NOT
//! EXISTS` of both tables `ON CLUSTER`, and `ALTER … ADD COLUMN` on the replicated table when a shard lacks
//! the column (18.16 has no `ADD COLUMN IF NOT EXISTS`), then the table's Distributed table dropped and
//! created again over it (18.16 refuses `ALTER … ON CLUSTER` of a table that is not replicated, and a
//! Distributed table holds no data when inserts are synchronous). Each step is idempotent, so a migration
//! cut short is finished by running `migrate` again. The applied version is one row per migration in
//! `vtrack_schema`, a table replicated to every node of the cluster (one ZooKeeper path, all nodes its
//! replicas), so any node answers the cluster's version.

use super::{schema, ClickHouseStore};
use crate::StoreError;
use clickhouse::query::Query;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Every table's sharding key. Each reads only columns fixed for all copies of a row (the module docs):
///
/// - `events` by site and visitor: an event's organisation is not fixed — when a visitor later identifies
///   with a business email, or enrichment learns her network, her stored events are written again under the
///   new account (`EventStore::relabel_events`), and that copy must replace the first on the same shard.
///   Sharded by account, the two copies would sit on two shards and `FINAL` would count the event twice.
///   `identities` go with their visitor.
/// - `sessions` by site and account, or by site and visitor for sessions of networks that make no account
///   (their `company_domain` is empty): a session row's account is in its sorting key, and a relabelled
///   session is deleted and written as a new row, so its copies never change account; its visitor never
///   changes either. One account's sessions are on one shard, and one ISP's many visitors spread over all.
/// - `accounts`, `alerts`, `alert_deliveries`, `account_status`, `account_owners`, `account_owner_history`
///   by site and account: every row of one account is on one shard (a delivery is sorted by its id alone,
///   but the id is its alert's, so its account never changes).
/// - `learned_keys` by the key learned from, `learned_ranges` by network: their sorting keys.
/// - `network_evidence` and `network_traffic` by AS number (their sorting key's first column; a network's
///   decisions replace each other with `FINAL`, its traffic sets are OR-ed together), `rekeyed` by rule.
///
/// Reads through a Distributed table ask every shard (18.16 cannot skip shards by the key), so keeping one
/// account's events together would buy no read; keeping each row's copies together is what makes reads exact.
pub const SHARD_KEYS: &[(&str, &str)] = &[
    ("events", "cityHash64(site, visitor_id)"),
    ("sessions", "cityHash64(site, if(company_domain = '', visitor_id, company_domain))"),
    ("accounts", "cityHash64(site, company_domain)"),
    ("alerts", "cityHash64(site, company_domain)"),
    ("alert_deliveries", "cityHash64(site, company_domain)"),
    ("account_status", "cityHash64(site, company_domain)"),
    ("identities", "cityHash64(site, visitor_id)"),
    ("learned_keys", "cityHash64(site, from_key)"),
    ("learned_ranges", "cityHash64(network)"),
    ("account_owners", "cityHash64(site, company_domain)"),
    ("account_owner_history", "cityHash64(site, company_domain)"),
    ("network_evidence", "cityHash64(asn)"),
    ("network_traffic", "cityHash64(asn)"),
    ("rekeyed", "cityHash64(rule)"),
];

/// The settings reads on a cluster need (module docs, **Reads**). A read-only user may not send them, so a
/// read-only profile must carry them (docs/cluster.md).
pub const READ_SETTINGS: &[(&str, &str)] = &[("distributed_product_mode", "global"), ("prefer_localhost_replica", "0")];

/// The suffix of the replicated table under each Distributed table.
pub const LOCAL_SUFFIX: &str = "_local";

/// How long a mutation `ON CLUSTER` waits for every node before [`ClickHouseStore::alter`] looks at which
/// shards have it (a node that is down keeps the default, 180 s, from holding a batch).
const MUTATION_WAIT: Duration = Duration::from_secs(15);

/// Cluster mode's own failures; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("bad cluster name {0:?}: letters, digits and _ only, as in the servers' <remote_servers>")]
    BadName(String),
    #[error(
        "ClickHouse at {endpoint} has no cluster {cluster:?} in its <remote_servers> (it has: {known}); \
         configure the servers first (docs/cluster.md)"
    )]
    UnknownCluster { endpoint: String, cluster: String, known: String },
    #[error(
        "database {database} at {endpoint} holds a single-server vtrack store (its `events` is {engine}, not \
         Distributed), and `migrate` with a cluster set does not touch it: nothing was created. Either keep it \
         as one server (drop `cluster`), or create the cluster store in a new database — `vtrack migrate \
         --clickhouse-cluster {cluster} --clickhouse http://…/NEW` — and copy each table into it with \
         processing stopped (`INSERT INTO NEW.T SELECT * FROM remote('HOST:9000', {database}, T)`), then point \
         vtrack at NEW. The steps: docs/cluster.md#moving-a-single-server-store"
    )]
    SingleServerStore { endpoint: String, database: String, engine: String, cluster: String },
    #[error(
        "database {database} at {endpoint} is a cluster store (its tables are Distributed): set [clickhouse] \
         cluster (--clickhouse-cluster NAME), without which inserts would be queued by the Distributed tables \
         and Kafka offsets committed before the shards have the rows"
    )]
    ClusterStore { endpoint: String, database: String },
    #[error(
        "replica {replica} serves its shard but has {parts} parts of {table} still to fetch from another replica, \
         so reading it could miss rows already acknowledged to Kafka; waiting for replication"
    )]
    ReplicaBehind { replica: String, table: String, parts: u64 },
    #[error("migration statement has no cluster form ({why}): {statement}")]
    Untranslatable { statement: String, why: &'static str },
}

/// A cluster as `[clickhouse] cluster` names it: the name in the servers' `<remote_servers>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    name: String,
}

impl Cluster {
    pub fn new(name: &str) -> Result<Cluster, ClusterError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ClusterError::BadName(name.to_string()));
        }
        Ok(Cluster { name: name.to_string() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The settings every query of the store sends in cluster mode (module docs, **Reads** and **Writes**).
    fn settings(&self, client: clickhouse::Client) -> clickhouse::Client {
        READ_SETTINGS
            .iter()
            .fold(client, |c, (k, v)| c.with_setting(*k, *v))
            .with_setting("insert_distributed_sync", "1")
            .with_setting("load_balancing", "in_order")
    }
}

/// One step of a migration on a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Idempotent DDL (`CREATE … IF NOT EXISTS`, `DROP … IF EXISTS`), run as it is.
    Ddl(String),
    /// `ALTER … ADD COLUMN` on a replicated table, run unless every shard has the column.
    AddColumn { table: String, column: String, ddl: String },
}

impl Step {
    pub fn sql(&self) -> &str {
        match self {
            Step::Ddl(sql) | Step::AddColumn { ddl: sql, .. } => sql,
        }
    }
}

/// A host name as ZooKeeper's DDL queue writes it (`escapeForFileName`: `%XX` for every byte but
/// letters, digits and `_`), back to the name in `<remote_servers>`.
fn unescape_host(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a database holds, by its `events` table.
#[derive(Debug, PartialEq, Eq)]
enum Layout {
    Empty,
    SingleServer(String),
    Cluster,
}

fn shard_key(table: &str) -> Option<&'static str> {
    SHARD_KEYS.iter().find(|(t, _)| *t == table).map(|(_, k)| *k)
}

/// The table recording applied migrations, replicated to every node: one ZooKeeper path for the whole
/// cluster, each node a replica under its own `{shard}-{replica}` name.
pub fn version_table(database: &str, cluster: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS `{database}`.vtrack_schema ON CLUSTER `{cluster}` \
         (version UInt32, applied_at DateTime('UTC')) \
         ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/vtrack_schema', '{{shard}}-{{replica}}') \
         ORDER BY version"
    )
}

/// The Distributed table `table` over `table_local` on every shard.
fn distributed(database: &str, cluster: &str, table: &str) -> Result<String, ClusterError> {
    let key = shard_key(table).ok_or(ClusterError::Untranslatable {
        statement: table.to_string(),
        why: "the table has no sharding key in SHARD_KEYS",
    })?;
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS `{database}`.{table} ON CLUSTER `{cluster}` AS `{database}`.{table}{LOCAL_SUFFIX} \
         ENGINE = Distributed('{cluster}', '{database}', '{table}{LOCAL_SUFFIX}', {key})"
    ))
}

/// One migration statement of [`schema::MIGRATIONS`] as the steps that do it on a cluster.
pub fn translate(statement: &str, database: &str, cluster: &str) -> Result<Vec<Step>, ClusterError> {
    let bad = |why| ClusterError::Untranslatable { statement: statement.to_string(), why };
    let words: Vec<&str> = statement.split_whitespace().collect();
    if let Some(rest) = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
        let name_end = rest.find(|c: char| c.is_whitespace() || c == '(').ok_or(bad("no table name"))?;
        let table = &rest[..name_end];
        let engine_at = rest.find(") ENGINE = ").ok_or(bad("no `) ENGINE = `"))?;
        let columns = rest[name_end..=engine_at].trim();
        let engine = &rest[engine_at + ") ENGINE = ".len()..];
        let open = engine.find('(').ok_or(bad("an engine without arguments"))?;
        let close = open + engine[open..].find(')').ok_or(bad("an engine without `)`"))?;
        let (name, args, tail) = (&engine[..open], engine[open + 1..close].trim(), engine[close + 1..].trim());
        if !name.ends_with("MergeTree") || name.starts_with("Replicated") {
            return Err(bad("only plain *MergeTree engines are replicated"));
        }
        let zk = format!("'/clickhouse/tables/{{shard}}/{database}/{table}', '{{replica}}'");
        let args = if args.is_empty() { zk } else { format!("{zk}, {args}") };
        let local = format!(
            "CREATE TABLE IF NOT EXISTS `{database}`.{table}{LOCAL_SUFFIX} ON CLUSTER `{cluster}` {columns} \
             ENGINE = Replicated{name}({args}) {tail}"
        );
        return Ok(vec![
            Step::Ddl(local),
            Step::Ddl(
                distributed(database, cluster, table)
                    .map_err(|_| bad("the table has no sharding key in SHARD_KEYS"))?,
            ),
        ]);
    }
    if let ["ALTER", "TABLE", table, "ADD", "COLUMN", column, ..] = words.as_slice() {
        let definition = statement.splitn(6, char::is_whitespace).nth(5).ok_or(bad("no column"))?.trim();
        shard_key(table).ok_or(bad("the table has no sharding key in SHARD_KEYS"))?;
        return Ok(vec![Step::AddColumn {
            table: table.to_string(),
            column: column.to_string(),
            ddl: format!(
                "ALTER TABLE `{database}`.{table}{LOCAL_SUFFIX} ON CLUSTER `{cluster}` ADD COLUMN {definition}"
            ),
        }]);
    }
    Err(bad("only CREATE TABLE IF NOT EXISTS and ALTER TABLE … ADD COLUMN are translated"))
}

/// Every migration as the steps that apply it on a cluster: each statement translated, then the Distributed
/// table of each table the migration altered dropped and created again over the altered replicated table.
pub fn plan(database: &str, cluster: &str) -> Result<Vec<Vec<Step>>, ClusterError> {
    schema::MIGRATIONS
        .iter()
        .map(|migration| {
            let mut steps = Vec::new();
            let mut altered = BTreeSet::new();
            for statement in schema::statements(migration) {
                for step in translate(statement, database, cluster)? {
                    if let Step::AddColumn { table, .. } = &step {
                        altered.insert(table.clone());
                    }
                    steps.push(step);
                }
            }
            for table in altered {
                steps.push(Step::Ddl(format!("DROP TABLE IF EXISTS `{database}`.{table} ON CLUSTER `{cluster}`")));
                steps.push(Step::Ddl(distributed(database, cluster, &table)?));
            }
            Ok(steps)
        })
        .collect()
}

impl ClickHouseStore {
    /// The store `[clickhouse]` describes: one server, or cluster mode when `cluster` names one.
    pub fn open(config: &vtrack_model::config::ClickHouseConfig) -> Result<ClickHouseStore, StoreError> {
        let store = ClickHouseStore::new(&config.url.parse()?);
        if config.cluster.is_empty() {
            Ok(store)
        } else {
            store.on_cluster(&config.cluster)
        }
    }

    /// This store in cluster mode on `name`: its client sends the cluster settings (module docs) and DDL
    /// and mutations run `ON CLUSTER`.
    pub fn on_cluster(mut self, name: &str) -> Result<ClickHouseStore, StoreError> {
        let cluster = Cluster::new(name)?;
        self.client = cluster.settings(self.client);
        self.server = cluster.settings(self.server);
        self.cluster = Some(std::sync::Arc::new(cluster));
        Ok(self)
    }

    /// The cluster this store writes to, if any.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_deref()
    }

    /// `ALTER TABLE {table} {action}` (a mutation or a partition drop, `?` bound by the caller), run by
    /// [`ClickHouseStore::run_alter`]: on one server as written; on a cluster, on the replicated table of
    /// every shard (Distributed tables take no mutations).
    pub(crate) fn alter(&self, table: &str, action: &str) -> Query {
        match &self.cluster {
            None => self.client.query(&format!("ALTER TABLE {table} {action}")),
            Some(c) => self
                .client
                .query(&format!(
                    "ALTER TABLE `{}`.{table}{LOCAL_SUFFIX} ON CLUSTER `{}` {action}",
                    self.url.database, c.name
                ))
                .with_setting("distributed_ddl_task_timeout", MUTATION_WAIT.as_secs().to_string()),
        }
    }

    /// Runs an [`ClickHouseStore::alter`] query. On a cluster, a node that is down does not hold the batch:
    /// when the wait for every node runs out, the mutation stands if each shard has a replica that ran it
    /// (ZooKeeper then carries it to the others), and fails otherwise.
    pub(crate) async fn run_alter(&self, query: Query) -> Result<(), StoreError> {
        let Err(e) = query.execute().await else { return Ok(()) };
        let Some(cluster) = &self.cluster else { return Err(e.into()) };
        let text = e.to_string();
        let Some(task) = text.split("Watching task ").nth(1).and_then(|t| t.split_whitespace().next()) else {
            return Err(e.into());
        };
        let missing = self.shards_without(cluster, task).await?;
        if missing.is_empty() {
            tracing::warn!(task, "clickhouse cluster: a node did not answer a mutation; every shard has it");
            Ok(())
        } else {
            tracing::warn!(task, ?missing, "clickhouse cluster: shards without a replica that ran the mutation");
            Err(e.into())
        }
    }

    /// The shards of `cluster` none of whose replicas has finished the distributed DDL `task` successfully.
    async fn shards_without(&self, cluster: &Cluster, task: &str) -> Result<Vec<u32>, StoreError> {
        let finished: Vec<(String, String)> = self
            .client
            .query("SELECT name, value FROM system.zookeeper WHERE path = ?")
            .bind(format!("{task}/finished"))
            .fetch_all()
            .await?;
        // Node names are `host:port` with the host's dots escaped; the value starts with the status code.
        let done: BTreeSet<String> = finished
            .into_iter()
            .filter(|(_, status)| status.lines().next().map(str::trim) == Some("0"))
            .map(|(name, _)| unescape_host(&name))
            .collect();
        let hosts: Vec<(u32, String, u16)> = self
            .client
            .query("SELECT shard_num, host_name, port FROM system.clusters WHERE cluster = ?")
            .bind(&cluster.name)
            .fetch_all()
            .await?;
        let mut shards: HashMap<u32, bool> = HashMap::new();
        for (shard, host, port) in hosts {
            *shards.entry(shard).or_default() |= done.contains(&format!("{host}:{port}"));
        }
        let mut missing: Vec<u32> = shards.into_iter().filter(|(_, ok)| !ok).map(|(s, _)| s).collect();
        missing.sort_unstable();
        Ok(missing)
    }

    /// Before a batch, in cluster mode: fails while the replica that serves a shard (the one the Distributed
    /// tables read and write, picked the same way) still has inserted parts to fetch from another replica
    /// (module docs, **Reading after a failover**). One small query to one replica per shard; nothing on one
    /// server.
    pub(crate) async fn check_replicas(&self) -> Result<(), StoreError> {
        let Some(cluster) = &self.cluster else { return Ok(()) };
        let behind: Vec<(String, String, u64)> = self
            .client
            .query(&format!(
                "SELECT replica_name, table, toUInt64(inserts_in_queue) FROM cluster('{}', system, replicas)
                 WHERE database = ? AND inserts_in_queue > 0 ORDER BY replica_name, table LIMIT 1",
                cluster.name
            ))
            .bind(&self.url.database)
            .fetch_all()
            .await?;
        match behind.into_iter().next() {
            None => Ok(()),
            Some((replica, table, parts)) => Err(ClusterError::ReplicaBehind { replica, table, parts }.into()),
        }
    }

    /// What the database holds, by its `events` table.
    async fn layout(&self) -> Result<Layout, StoreError> {
        let engines: Vec<String> = self
            .server
            .query("SELECT engine FROM system.tables WHERE database = ? AND name = 'events'")
            .bind(&self.url.database)
            .fetch_all()
            .await?;
        Ok(match engines.into_iter().next() {
            None => Layout::Empty,
            Some(e) if e == "Distributed" => Layout::Cluster,
            Some(e) => Layout::SingleServer(e),
        })
    }

    /// Fails unless the database is what this store is configured for: a cluster store only in cluster
    /// mode, a single-server store only without it (an empty database fits both).
    pub(crate) async fn check_layout(&self) -> Result<(), StoreError> {
        match (self.layout().await?, &self.cluster) {
            (Layout::Cluster, None) => Err(ClusterError::ClusterStore {
                endpoint: self.url.endpoint.clone(),
                database: self.url.database.clone(),
            }
            .into()),
            (Layout::SingleServer(engine), Some(c)) => Err(ClusterError::SingleServerStore {
                endpoint: self.url.endpoint.clone(),
                database: self.url.database.clone(),
                engine,
                cluster: c.name.clone(),
            }
            .into()),
            _ => Ok(()),
        }
    }

    /// How many shards `cluster` has, or why it cannot be used.
    async fn shard_count(&self, cluster: &Cluster) -> Result<u64, StoreError> {
        let names: Vec<(String, u64)> = self
            .server
            .query("SELECT cluster, uniqExact(shard_num) FROM system.clusters GROUP BY cluster ORDER BY cluster")
            .fetch_all()
            .await?;
        match names.iter().find(|(n, _)| *n == cluster.name) {
            Some((_, shards)) => Ok(*shards),
            None => Err(ClusterError::UnknownCluster {
                endpoint: self.url.endpoint.clone(),
                cluster: cluster.name.clone(),
                known: names.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
            }
            .into()),
        }
    }

    /// Whether every shard's replicated `table` has `column` (one replica asked per shard).
    async fn every_shard_has(&self, table: &str, column: &str, shards: u64) -> Result<bool, StoreError> {
        let n: u64 = self
            .client
            .query(&format!(
                "SELECT count() FROM cluster('{}', system, columns) WHERE database = ? AND table = ? AND name = ?",
                self.cluster.as_ref().map(|c| c.name.as_str()).unwrap_or_default()
            ))
            .bind(&self.url.database)
            .bind(format!("{table}{LOCAL_SUFFIX}"))
            .bind(column)
            .fetch_one()
            .await?;
        Ok(n >= shards)
    }

    /// `vtrack migrate` in cluster mode (module docs, **DDL**): refuses a single-server store before
    /// creating anything, then applies the migrations the cluster lacks. Returns the version in place.
    pub(super) async fn migrate_cluster(&self, cluster: &Cluster) -> Result<u32, StoreError> {
        let (db, name) = (&self.url.database, &cluster.name);
        let shards = self.shard_count(cluster).await?;
        self.check_layout().await?;
        self.server.query(&format!("CREATE DATABASE IF NOT EXISTS `{db}` ON CLUSTER `{name}`")).execute().await?;
        self.server.query(&version_table(db, name)).execute().await?;
        let current = self.schema_version().await?;
        let plan = plan(db, name)?;
        let known = plan.len() as u32;
        if current > known {
            return Err(StoreError::SchemaTooNew { found: current as i64, known: known as i64 });
        }
        for (i, steps) in plan.iter().enumerate().skip(current as usize) {
            for step in steps {
                match step {
                    Step::Ddl(sql) => self.server.query(sql).execute().await?,
                    Step::AddColumn { table, column, ddl } => {
                        if self.every_shard_has(table, column, shards).await? {
                            continue;
                        }
                        // A shard that has it already (a run cut short) fails its part; the check decides.
                        if let Err(e) = self.server.query(ddl).execute().await {
                            if !self.every_shard_has(table, column, shards).await? {
                                return Err(e.into());
                            }
                        }
                    }
                }
            }
            let version = i as u32 + 1;
            self.client.query("INSERT INTO vtrack_schema VALUES (?, now())").bind(version).execute().await?;
            tracing::info!(version, cluster = %name, "clickhouse cluster schema migrated");
        }
        Ok(known)
    }

    /// Retention on a cluster: the day partitions older than `cutoff_id` (YYYYMMDD) on any shard, each
    /// dropped from the replicated table of every shard.
    pub(super) async fn drop_partitions_on_cluster(
        &self,
        cluster: &Cluster,
        cutoff_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut dropped = Vec::new();
        for table in ["events", "sessions"] {
            let parts: Vec<String> = self
                .client
                .query(&format!(
                    "SELECT DISTINCT partition FROM cluster('{}', system, parts)
                     WHERE database = ? AND table = ? AND active AND partition < ? ORDER BY partition",
                    cluster.name
                ))
                .bind(&self.url.database)
                .bind(format!("{table}{LOCAL_SUFFIX}"))
                .bind(cutoff_id)
                .fetch_all()
                .await?;
            for p in parts {
                if p.len() != 8 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                self.run_alter(self.alter(table, &format!("DROP PARTITION {p}"))).await?;
                dropped.push(format!("{table}/{p}"));
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_steps() -> Vec<Step> {
        plan("vtrack", "vtrack").unwrap().into_iter().flatten().collect()
    }

    #[test]
    fn every_migration_statement_has_a_cluster_form() {
        let steps = all_steps();
        let created: BTreeSet<&str> = steps
            .iter()
            .filter_map(|s| s.sql().strip_prefix("CREATE TABLE IF NOT EXISTS `vtrack`."))
            .filter_map(|s| s.split_whitespace().next())
            .collect();
        let tables: BTreeSet<&str> = SHARD_KEYS.iter().map(|(t, _)| *t).collect();
        for t in &tables {
            assert!(created.contains(t), "{t} gets a Distributed table");
            assert!(created.contains(format!("{t}_local").as_str()), "{t} gets a replicated table");
        }
        assert_eq!(created.len(), 2 * tables.len(), "no table without a sharding key: {created:?}");
    }

    #[test]
    fn replicated_tables_keep_their_ordering_and_version() {
        let steps = translate(
            "CREATE TABLE IF NOT EXISTS accounts (\n  site String,\n  version UInt64\n) ENGINE = ReplacingMergeTree(version)\nORDER BY (site, company_domain)",
            "db",
            "c",
        )
        .unwrap();
        assert_eq!(
            steps[0].sql(),
            "CREATE TABLE IF NOT EXISTS `db`.accounts_local ON CLUSTER `c` (\n  site String,\n  version UInt64\n) \
             ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/accounts', '{replica}', version) \
             ORDER BY (site, company_domain)"
        );
        assert_eq!(
            steps[1].sql(),
            "CREATE TABLE IF NOT EXISTS `db`.accounts ON CLUSTER `c` AS `db`.accounts_local \
             ENGINE = Distributed('c', 'db', 'accounts_local', cityHash64(site, company_domain))"
        );
        let plain = translate(
            "CREATE TABLE IF NOT EXISTS alerts (a String) ENGINE = ReplacingMergeTree()\nORDER BY a",
            "db",
            "c",
        )
        .unwrap();
        assert!(plain[0]
            .sql()
            .contains("ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/alerts', '{replica}') ORDER BY a"));
    }

    #[test]
    fn an_added_column_is_guarded_and_its_distributed_table_made_again() {
        let steps = &plan("db", "c").unwrap()[2];
        assert_eq!(
            steps[0],
            Step::AddColumn {
                table: "accounts".into(),
                column: "state".into(),
                ddl: "ALTER TABLE `db`.accounts_local ON CLUSTER `c` ADD COLUMN state String DEFAULT ''".into(),
            }
        );
        let tail: Vec<&str> = steps[2..].iter().map(Step::sql).collect();
        assert_eq!(
            tail,
            [
                "DROP TABLE IF EXISTS `db`.accounts ON CLUSTER `c`",
                "CREATE TABLE IF NOT EXISTS `db`.accounts ON CLUSTER `c` AS `db`.accounts_local \
                 ENGINE = Distributed('c', 'db', 'accounts_local', cityHash64(site, company_domain))",
            ]
        );
    }

    /// Columns a sharding key may read beyond its table's sorting key, because the sorting key fixes them.
    const FIXED_BY_THE_KEY: &[(&str, &str)] = &[
        // A session is one visitor's.
        ("sessions", "visitor_id"),
        // A delivery's id is its alert's id and the webhook's index, and an alert is one account's.
        ("alert_deliveries", "site"),
        ("alert_deliveries", "company_domain"),
    ];

    /// The rule of the module docs: a sharding key reads only the sorting key's columns or what they fix,
    /// so every copy of a row goes to one shard.
    #[test]
    fn sharding_keys_read_only_columns_every_copy_shares() {
        for (table, key) in SHARD_KEYS {
            let create = schema::MIGRATIONS
                .iter()
                .flat_map(|m| schema::statements(m))
                .find(|s| s.starts_with(&format!("CREATE TABLE IF NOT EXISTS {table} ")))
                .unwrap_or_else(|| panic!("{table} is created by a migration"));
            let order = create.rsplit("ORDER BY").next().unwrap();
            let inner = key.trim_start_matches("cityHash64(").trim_end_matches(')');
            let columns: Vec<&str> = inner
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| !w.is_empty() && *w != "if" && w.chars().any(|c| c.is_ascii_lowercase()))
                .collect();
            for column in columns {
                let fixed = order.contains(column) || FIXED_BY_THE_KEY.contains(&(*table, column));
                assert!(fixed, "{table}: its sharding key reads {column}, which a copy of a row may change");
            }
        }
    }

    #[test]
    fn ddl_queue_host_names_are_unescaped() {
        assert_eq!(unescape_host("127%2E0%2E0%2E1:19132"), "127.0.0.1:19132");
        assert_eq!(unescape_host("ch%2Ds1r1:9000"), "ch-s1r1:9000");
        assert_eq!(unescape_host("plain_host:9000"), "plain_host:9000");
        assert_eq!(unescape_host("odd%2"), "odd%2");
    }

    #[test]
    fn refuses_what_it_cannot_translate_and_bad_names() {
        assert!(translate("DROP TABLE events", "db", "c").is_err());
        assert!(translate("CREATE TABLE IF NOT EXISTS mystery (a String) ENGINE = MergeTree() ORDER BY a", "db", "c")
            .is_err());
        assert!(Cluster::new("vtrack").is_ok());
        for bad in ["", "a b", "a`b", "x;DROP"] {
            assert!(Cluster::new(bad).is_err(), "{bad:?}");
        }
    }

    /// `docs/cluster-schema.sql` is what `vtrack migrate` runs on an empty cluster named `vtrack` for the
    /// database `analytics`; the dialect check runs it on 18.16 and parses it with current ClickHouse.
    #[test]
    fn the_documented_cluster_schema_is_the_generated_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cluster-schema.sql");
        let generated = cluster_schema_sql("analytics", "vtrack");
        if std::env::var_os("VTRACK_WRITE_CLUSTER_SCHEMA").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/cluster-schema.sql is stale: VTRACK_WRITE_CLUSTER_SCHEMA=1 cargo test -p vtrack-store cluster"
        );
    }

    fn cluster_schema_sql(database: &str, cluster: &str) -> String {
        let mut out = String::from(
            "-- What `vtrack migrate --clickhouse-cluster vtrack` runs on an empty cluster for the database\n\
             -- `analytics`, in order (generated from crates/vtrack-store/src/clickhouse/cluster.rs by its tests;\n\
             -- see docs/cluster.md). Each statement ends with `;` at the end of a line.\n\n",
        );
        out.push_str(&format!("CREATE DATABASE IF NOT EXISTS `{database}` ON CLUSTER `{cluster}`;\n\n"));
        out.push_str(&version_table(database, cluster));
        out.push_str(";\n");
        for (i, steps) in plan(database, cluster).unwrap().iter().enumerate() {
            out.push_str(&format!("\n-- migration {}\n", i + 1));
            for step in steps {
                out.push_str(step.sql());
                out.push_str(";\n");
            }
            out.push_str(&format!("INSERT INTO `{database}`.vtrack_schema VALUES ({}, now());\n", i + 1));
        }
        out
    }
}
