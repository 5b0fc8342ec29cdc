//! Kafka between ingest and processing, through rdkafka (bundled librdkafka).
//!
//! **Producing.** A request's events go to librdkafka's queue, which sends them in batches (`linger.ms`), and
//! the request waits for their delivery reports: ingest answers 2xx only once the broker acknowledged every
//! event (`acks=all`), so a `kill -9` of ingest loses nothing it answered 2xx for. One round trip to the
//! broker serves every request that arrived during the linger. The queue is bounded by our own count of
//! undelivered messages, reserved for a whole request before anything is queued, so a request is taken whole
//! or refused whole and a broker outage turns into 503s instead of memory growth. A request whose events are
//! not acknowledged within `delivery_timeout` is answered 503: never a 2xx for what may be lost. Its messages
//! stay queued and still reach the broker when it returns (they never time out, `message.timeout.ms = 0`:
//! an idempotent producer whose messages expire must be rebuilt, and tansu refuses its later writes), so a
//! 503 means "maybe": a client's retry with the same `eid` is de-duplicated by the store.

//! **Keys.** Events of a company that can become an account are keyed by site and company domain; all
//! other events by site and visitor. One account's events therefore meet in one partition, in order, at
//! one consumer: scoring needs nothing from other consumers. A visitor keeps one partition as long as they
//! stay on one network, which is what sessionizing needs.
//!
//! **Consuming.** A consumer-group member with auto-commit off. A batch's offsets are committed by
//! [`crate::Subscriber::ack`], after the store has the rows, so a crash replays what was not stored and
//! the store's `event_id` dedupe absorbs the replay. A rebalance raises a flag that processing reads to drop
//! its per-visitor state, which another member may have moved on meanwhile.
//!
//! **Rejoining.** A member restarted at once after a `kill -9` joins while the dead member is still in the
//! group (it is evicted after the session timeout). tansu then assigns the newcomer nothing and, after the
//! eviction, starts no rebalance: nothing would be processed, for good. So a member that holds no partitions
//! while it waits checks every few seconds whether the topic has lag that nobody consumes (the group's
//! committed offsets do not move), and if so leaves and rejoins the group, which makes the broker rebalance
//! among the live members. Against Apache Kafka the eviction rebalances by itself and the check never fires;
//! with more members than partitions the others' commits move and it does not fire either.

use crate::{Batch, PublishError};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::oneshot;
use vtrack_model::config::KafkaConfig;
use vtrack_model::EnrichedEvent;

/// Kafka client failures outside publishing (which reports [`PublishError`]).
#[derive(Debug, Error)]
pub enum KafkaBusError {
    #[error("kafka: {0}")]
    Client(#[from] KafkaError),
    #[error("kafka: creating topic {topic}: {code}")]
    CreateTopic { topic: String, code: RDKafkaErrorCode },
}

/// The message key: the account for events that can make one, else the visitor (see the module docs).
pub fn partition_key(e: &EnrichedEvent) -> String {
    if e.company.network_class.is_account() && !e.company.company_domain.is_empty() {
        format!("{}\x1fa\x1f{}", e.site, e.company.company_domain)
    } else {
        format!("{}\x1fv\x1f{}", e.site, e.visitor_id)
    }
}

/// Counters the producer keeps for `/metrics`.
#[derive(Debug, Default)]
pub struct ProducerStats {
    /// Messages queued and not yet acknowledged by the broker.
    pub in_flight: AtomicUsize,
    /// Messages the broker acknowledged.
    pub delivered: AtomicU64,
    /// Messages librdkafka gave up on (only fatal errors: messages never time out); their requests got 503.
    pub failed: AtomicU64,
    /// The latest delivery error, until a delivery succeeds again (for `/healthz`).
    problem: Mutex<Option<String>>,
}

/// One request's messages: the request is answered once every one has its delivery report.
struct RequestWait {
    left: AtomicUsize,
    failed: AtomicBool,
    done: Mutex<Option<oneshot::Sender<bool>>>,
}

struct DeliveryCounter(Arc<ProducerStats>);

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = Arc<RequestWait>;

    fn delivery(&self, result: &DeliveryResult<'_>, wait: Arc<RequestWait>) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut p) = self.0.problem.lock() {
                    p.take();
                }
            }
            Err((e, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                wait.failed.store(true, Ordering::Release);
                tracing::warn!(error = %e, "kafka: an event was not acknowledged; its request is answered 503");
                if let Ok(mut p) = self.0.problem.lock() {
                    *p = Some(format!("kafka does not acknowledge events: {e}"));
                }
            }
        }
        if wait.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(done) = wait.done.lock().ok().and_then(|mut d| d.take()) {
                let _ = done.send(!wait.failed.load(Ordering::Acquire));
            }
        }
    }
}

/// Producer settings.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    pub brokers: String,
    pub topic: String,
    /// Undelivered messages held at most; beyond it ingest answers 503.
    pub max_in_flight: usize,
    /// How long a message may wait for the broker's acknowledgement before its request gets 503.
    pub delivery_timeout: Duration,
}

impl From<&KafkaConfig> for ProducerOptions {
    fn from(k: &KafkaConfig) -> Self {
        ProducerOptions {
            brokers: k.brokers.clone(),
            topic: k.topic.clone(),
            max_in_flight: k.max_in_flight,
            delivery_timeout: k.delivery_timeout,
        }
    }
}

/// The producing half of the Kafka bus.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: Arc<ThreadedProducer<DeliveryCounter>>,
    topic: Arc<str>,
    delivery_timeout: Duration,
    max_in_flight: usize,
    stats: Arc<ProducerStats>,
    closed: Arc<AtomicBool>,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher").field("topic", &self.topic).finish_non_exhaustive()
    }
}

/// Connects a producer. Nothing is sent yet: a broker that is down shows up as requests answered 503 after
/// `delivery_timeout`, then at once when `max_in_flight` events wait.
pub fn publisher(opts: &ProducerOptions) -> Result<crate::Publisher, KafkaBusError> {
    let max = opts.max_in_flight.max(1);
    let stats = Arc::new(ProducerStats::default());
    let producer: ThreadedProducer<DeliveryCounter> = ClientConfig::new()
        .set("bootstrap.servers", &opts.brokers)
        .set("client.id", "vtrack-ingest")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "0")
        // Our own bound is the real one; librdkafka's must never refuse what we reserved.
        .set("queue.buffering.max.messages", (max + 1024).min(2_147_483_647).to_string())
        .set("queue.buffering.max.kbytes", "2097151")
        .create_with_context(DeliveryCounter(stats.clone()))?;
    Ok(crate::Publisher::Kafka(KafkaPublisher {
        producer: Arc::new(producer),
        topic: opts.topic.as_str().into(),
        delivery_timeout: opts.delivery_timeout,
        max_in_flight: max,
        stats,
        closed: Arc::new(AtomicBool::new(false)),
    }))
}

impl KafkaPublisher {
    /// Returns once the broker acknowledged every event of the request (see the module docs).
    pub(crate) async fn publish_all(&self, events: Vec<EnrichedEvent>) -> Result<(), PublishError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PublishError::Closed);
        }
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        // Reserve room for the whole request first.
        let reserved = self.stats.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            (cur + n <= self.max_in_flight).then_some(cur + n)
        });
        if reserved.is_err() {
            return Err(PublishError::Full);
        }
        let (done, delivered) = oneshot::channel();
        let wait = Arc::new(RequestWait {
            left: AtomicUsize::new(n),
            failed: AtomicBool::new(false),
            done: Mutex::new(Some(done)),
        });
        for (i, e) in events.iter().enumerate() {
            let payload = match serde_json::to_vec(e) {
                Ok(p) => p,
                Err(err) => {
                    // Cannot happen for these plain structs; refuse the rest rather than panic.
                    tracing::error!(error = %err, "kafka: could not encode an event");
                    self.stats.in_flight.fetch_sub(n - i, Ordering::AcqRel);
                    return Err(PublishError::Full);
                }
            };
            let key = partition_key(e);
            let record = BaseRecord::with_opaque_to(&self.topic, wait.clone()).key(&key).payload(&payload);
            if let Err((err, _)) = self.producer.send(record) {
                // The events before `i` are queued and will arrive; the client retries the whole request
                // and the store's event_id dedupe absorbs the repeats.
                tracing::warn!(error = %err, "kafka: producer refused an event");
                self.stats.in_flight.fetch_sub(n - i, Ordering::AcqRel);
                return Err(PublishError::Full);
            }
        }
        match tokio::time::timeout(self.delivery_timeout, delivered).await {
            Ok(Ok(true)) => Ok(()),
            Ok(_) => Err(PublishError::Unavailable),
            Err(_) => {
                if let Ok(mut p) = self.stats.problem.lock() {
                    *p = Some(format!("kafka has not acknowledged events within {:?}", self.delivery_timeout));
                }
                Err(PublishError::Unavailable)
            }
        }
    }

    pub(crate) fn problem(&self) -> Option<String> {
        self.stats.problem.lock().ok().and_then(|p| p.clone())
    }

    pub(crate) fn depth(&self) -> usize {
        self.stats.in_flight.load(Ordering::Acquire)
    }

    /// The producer's counters.
    pub fn stats(&self) -> &Arc<ProducerStats> {
        &self.stats
    }

    /// Refuses new events and waits up to `timeout` for the queued ones to reach the broker; returns how
    /// many are still undelivered.
    pub fn close_and_flush(&self, timeout: Duration) -> usize {
        self.closed.store(true, Ordering::Release);
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "kafka: flush did not finish");
        }
        self.depth()
    }
}

/// The partitions a member holds, shared with tasks that work per partition (webhook delivery).
pub type OwnedPartitions = Arc<Mutex<Vec<i32>>>;

/// Messages behind the end of each partition this member holds, from librdkafka's statistics (every 5 s).
pub type ConsumerLag = Arc<Mutex<BTreeMap<i32, i64>>>;

/// Raises a flag on every assignment change, for processing to drop state another member may have
/// changed, and keeps the current assignment and its lag.
pub struct RebalanceFlag {
    flag: Arc<AtomicBool>,
    owned: OwnedPartitions,
    topic: String,
    lag: ConsumerLag,
}

impl ClientContext for RebalanceFlag {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let now: BTreeMap<i32, i64> = statistics
            .topics
            .get(&self.topic)
            .map(|t| {
                t.partitions
                    .iter()
                    .filter(|(&id, p)| id >= 0 && p.consumer_lag >= 0)
                    .map(|(&id, p)| (id, p.consumer_lag))
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(mut lag) = self.lag.lock() {
            *lag = now;
        }
    }
}

impl ConsumerContext for RebalanceFlag {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let now: Vec<i32> = match consumer.assignment() {
            Ok(tpl) => tpl.elements().iter().map(|e| e.partition()).collect(),
            Err(_) => Vec::new(),
        };
        match rebalance {
            Rebalance::Assign(_) => tracing::info!(holding = ?now, "kafka: partitions assigned"),
            Rebalance::Revoke(_) => tracing::info!(holding = ?now, "kafka: partitions revoked"),
            Rebalance::Error(e) => tracing::warn!(error = %e, "kafka: rebalance error"),
        }
        if let Ok(mut owned) = self.owned.lock() {
            *owned = now;
        }
        self.flag.store(true, Ordering::Release);
    }
}

/// How often a member waiting for messages checks whether it should rejoin (see the module docs).
const ORPHAN_CHECK_EVERY: Duration = Duration::from_secs(3);
/// Checks in a row that see unmoved lag before a member holding nothing rejoins.
const REJOIN_AFTER_CHECKS: u32 = 2;

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub brokers: String,
    pub topic: String,
    pub group: String,
}

impl From<&KafkaConfig> for ConsumerOptions {
    fn from(k: &KafkaConfig) -> Self {
        ConsumerOptions { brokers: k.brokers.clone(), topic: k.topic.clone(), group: k.group.clone() }
    }
}

/// The consuming half of the Kafka bus.
pub struct KafkaSubscriber {
    consumer: StreamConsumer<RebalanceFlag>,
    /// While holding no partitions: the group's committed offsets at the last check, and how many checks
    /// in a row saw them unmoved with lag.
    stalled: Option<(i64, u32)>,
    rebalanced: Arc<AtomicBool>,
    owned: OwnedPartitions,
    lag: ConsumerLag,
    closed: bool,
    topic: String,
    /// Messages that were not an event (counted and skipped, their offsets committed).
    pub undecodable: u64,
}

/// Joins the consumer group and subscribes to the topic.
pub fn subscriber(opts: &ConsumerOptions) -> Result<crate::Subscriber, KafkaBusError> {
    let rebalanced = Arc::new(AtomicBool::new(false));
    let owned = OwnedPartitions::default();
    let lag = ConsumerLag::default();
    let consumer: StreamConsumer<RebalanceFlag> = ClientConfig::new()
        .set("bootstrap.servers", &opts.brokers)
        .set("group.id", &opts.group)
        .set("client.id", "vtrack-process")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("statistics.interval.ms", "5000")
        .create_with_context(RebalanceFlag {
            flag: rebalanced.clone(),
            owned: owned.clone(),
            topic: opts.topic.clone(),
            lag: lag.clone(),
        })?;
    consumer.subscribe(&[&opts.topic])?;
    Ok(crate::Subscriber::Kafka(KafkaSubscriber {
        consumer,
        stalled: None,
        rebalanced,
        owned,
        lag,
        closed: false,
        topic: opts.topic.clone(),
        undecodable: 0,
    }))
}

impl KafkaSubscriber {
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    pub(crate) fn take_rebalanced(&self) -> bool {
        self.rebalanced.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn owned_partitions(&self) -> OwnedPartitions {
        self.owned.clone()
    }

    pub(crate) fn consumer_lag(&self) -> ConsumerLag {
        self.lag.clone()
    }

    pub(crate) async fn next_batch(&mut self, max: usize, linger: Duration) -> Option<Batch> {
        if self.closed {
            return None;
        }
        let mut batch = Batch::default();
        let mut offsets = BTreeMap::new();
        let mut deadline = None;
        while batch.events.len() < max {
            let msg = match deadline {
                None => match tokio::time::timeout(ORPHAN_CHECK_EVERY, self.consumer.recv()).await {
                    Ok(m) => m,
                    Err(_) => {
                        tokio::task::block_in_place(|| self.rejoin_if_orphaned());
                        continue;
                    }
                },
                Some(d) => match tokio::time::timeout_at(d, self.consumer.recv()).await {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "kafka: receive failed");
                    if deadline.is_none() {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    break;
                }
            };
            offsets.insert(msg.partition(), msg.offset());
            match msg.payload().map(serde_json::from_slice::<EnrichedEvent>) {
                Some(Ok(e)) => {
                    batch.events.push(e);
                    batch.partitions.push(msg.partition());
                }
                Some(Err(e)) => {
                    self.undecodable += 1;
                    tracing::warn!(error = %e, partition = msg.partition(), offset = msg.offset(),
                        "kafka: skipping a message that is not an event");
                }
                None => self.undecodable += 1,
            }
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + linger);
        }
        batch.offsets = offsets.into_iter().collect();
        Some(batch)
    }

    /// See "Rejoining" in the module docs.
    fn rejoin_if_orphaned(&mut self) {
        if self.owned.lock().map(|o| !o.is_empty()).unwrap_or(true) {
            self.stalled = None;
            return;
        }
        let (lag, committed) = match self.group_position() {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "kafka: cannot read the group's lag");
                return;
            }
        };
        if lag == 0 {
            self.stalled = None;
            return;
        }
        let checks = match self.stalled {
            Some((before, n)) if before == committed => n + 1,
            _ => 1,
        };
        self.stalled = Some((committed, checks));
        if checks > REJOIN_AFTER_CHECKS {
            tracing::info!(
                lag,
                "kafka: holding no partitions while the topic has lag nobody consumes; rejoining the group"
            );
            self.stalled = None;
            self.consumer.unsubscribe();
            if let Err(e) = self.consumer.subscribe(&[&self.topic]) {
                tracing::warn!(error = %e, "kafka: cannot rejoin the group");
            }
        }
    }

    /// The topic's total lag behind the group's committed offsets, and the sum of those offsets.
    fn group_position(&self) -> Result<(i64, i64), KafkaError> {
        let timeout = Duration::from_secs(5);
        let metadata = self.consumer.fetch_metadata(Some(&self.topic), timeout)?;
        let mut tpl = TopicPartitionList::new();
        for t in metadata.topics() {
            for p in t.partitions() {
                tpl.add_partition(&self.topic, p.id());
            }
        }
        let committed = self.consumer.committed_offsets(tpl, timeout)?;
        let (mut lag, mut sum) = (0i64, 0i64);
        for e in committed.elements() {
            let (low, high) = self.consumer.fetch_watermarks(&self.topic, e.partition(), timeout)?;
            let at = match e.offset() {
                Offset::Offset(o) => o,
                _ => low,
            };
            lag += (high - at).max(0);
            sum += at;
        }
        Ok((lag, sum))
    }

    pub(crate) fn commit(&self, offsets: &[(i32, i64)]) -> Result<(), KafkaError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for &(partition, offset) in offsets {
            tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset + 1))?;
        }
        self.consumer.commit(&tpl, CommitMode::Sync)
    }
}

/// Creates `topic` with `partitions` partitions unless it exists (tansu does not create topics on use).
/// Returns whether it was created.
pub async fn ensure_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<bool, KafkaBusError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics([&new], &opts).await?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(false),
        Some(Err((topic, code))) => Err(KafkaBusError::CreateTopic { topic, code }),
    }
}
