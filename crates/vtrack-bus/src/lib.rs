//! The bus between ingest and processing.
//!
//! Ingest answers a beacon with 2xx only once the bus has taken the event, and with 503 when the bus is
//! full, so a slow consumer shows up as back-pressure at the edge instead of unbounded memory or silent
//! loss. Consumers receive events in batches and acknowledge a batch only after the store has it.
//!
//! `vtrack serve` uses the [`journal`] (a durable queue: 202 once the event is on disk), or with
//! `durability = "memory"` the in-process [`memory`] queue; `vtrack ingest` and `vtrack process` meet at
//! [`kafka`].

mod batching;
pub mod journal;
pub mod kafka;
pub mod memory;

use thiserror::Error;
use vtrack_model::EnrichedEvent;

/// Why the bus refused events. Nothing of a refused call was taken.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PublishError {
    /// The queue is at capacity; the client should retry later (ingest answers 503).
    #[error("the event queue is full")]
    Full,
    /// Processing has stopped (shutdown); nothing can be accepted any more.
    #[error("the event queue is closed")]
    Closed,
    /// The events could not be made durable (a full or read-only disk, a broker that did not acknowledge);
    /// the client should retry later.
    #[error("events cannot be stored right now")]
    Unavailable,
}

/// The sending half, cheap to clone into every connection.
#[derive(Clone, Debug)]
pub enum Publisher {
    Memory(memory::MemoryPublisher),
    Journal(journal::JournalPublisher),
    Kafka(kafka::KafkaPublisher),
}

impl Publisher {
    /// Takes all of `events` or none of them. Returns once they are as durable as the bus makes them: in the
    /// in-memory queue at once; in the journal once it is on disk (one flush for every request meanwhile);
    /// on Kafka once the broker acknowledged them. Nothing waits for room: a full bus answers at once.
    pub async fn publish_all(&self, events: Vec<EnrichedEvent>) -> Result<(), PublishError> {
        match self {
            Publisher::Memory(p) => p.publish_all(events),
            Publisher::Journal(p) => p.publish_all(events).await,
            Publisher::Kafka(p) => p.publish_all(events).await,
        }
    }

    /// Why the bus cannot take events right now (a full or read-only disk), for `/healthz`.
    pub fn problem(&self) -> Option<String> {
        match self {
            Publisher::Memory(_) => None,
            Publisher::Journal(p) => p.problem(),
            Publisher::Kafka(p) => p.problem(),
        }
    }

    /// Events taken and not yet handed on: waiting to be consumed, or (Kafka) to reach the broker.
    pub fn depth(&self) -> usize {
        match self {
            Publisher::Memory(p) => p.depth(),
            Publisher::Journal(p) => p.depth(),
            Publisher::Kafka(p) => p.depth(),
        }
    }
}

/// A batch handed to processing; [`Subscriber::ack`] it once the store has its rows.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<EnrichedEvent>,
    /// The Kafka partition of each event (empty for the in-process queue).
    pub partitions: Vec<i32>,
    /// Last offset per partition, committed on ack.
    offsets: Vec<(i32, i64)>,
    /// Journal: once this batch is stored, every segment before this one is.
    journal_through: Option<u64>,
}

/// The receiving half.
pub enum Subscriber {
    Memory(memory::MemorySubscriber),
    Journal(journal::JournalSubscriber),
    Kafka(kafka::KafkaSubscriber),
}

impl Subscriber {
    /// Waits for at least one event, then gathers up to `max` more for at most `linger`.
    /// `None` once the bus is closed and drained: processing can stop.
    ///
    /// Dropping the future before it finishes (a `select!` on shutdown) loses nothing: the in-process
    /// queue keeps what it had taken for the next call, and Kafka messages not yet acknowledged are
    /// delivered again, since their offsets are committed only by [`Subscriber::ack`].
    pub async fn next_batch(&mut self, max: usize, linger: std::time::Duration) -> Option<Batch> {
        match self {
            Subscriber::Memory(s) => s.next_batch(max, linger).await,
            Subscriber::Journal(s) => s.next_batch(max, linger).await,
            Subscriber::Kafka(s) => s.next_batch(max, linger).await,
        }
    }

    /// Refuses further events (publishers get [`PublishError::Closed`]) while what is queued can still be
    /// drained: the first step of a graceful shutdown.
    pub fn close(&mut self) {
        match self {
            Subscriber::Memory(s) => s.close(),
            Subscriber::Journal(s) => s.close(),
            Subscriber::Kafka(s) => s.close(),
        }
    }

    /// The Kafka partitions this member holds, kept current across rebalances; `None` for the in-process
    /// queue, where one process holds everything.
    pub fn owned_partitions(&self) -> Option<kafka::OwnedPartitions> {
        match self {
            Subscriber::Memory(_) | Subscriber::Journal(_) => None,
            Subscriber::Kafka(s) => Some(s.owned_partitions()),
        }
    }

    /// The lag of each Kafka partition this member holds, kept current; `None` for the other buses.
    pub fn consumer_lag(&self) -> Option<kafka::ConsumerLag> {
        match self {
            Subscriber::Memory(_) | Subscriber::Journal(_) => None,
            Subscriber::Kafka(s) => Some(s.consumer_lag()),
        }
    }

    /// Whether the partitions this member holds changed since the last call: per-visitor and per-account
    /// state held in memory may be stale and must be reloaded from the store.
    pub fn take_rebalanced(&self) -> bool {
        match self {
            Subscriber::Memory(_) | Subscriber::Journal(_) => false,
            Subscriber::Kafka(s) => s.take_rebalanced(),
        }
    }

    /// Marks a batch as stored. The in-process queue has nothing to commit; the journal deletes the segments
    /// the batch completed; Kafka commits offsets here.
    pub async fn ack(&mut self, batch: Batch) -> Result<(), AckError> {
        match self {
            Subscriber::Memory(_) => {
                drop(batch);
                Ok(())
            }
            Subscriber::Journal(s) => {
                if let Some(through) = batch.journal_through {
                    tokio::task::block_in_place(|| s.stored_through(through));
                }
                Ok(())
            }
            Subscriber::Kafka(s) => {
                tokio::task::block_in_place(|| s.commit(&batch.offsets)).map_err(|e| AckError(e.to_string()))
            }
        }
    }
}

/// Why a batch could not be acknowledged; the batch will be delivered again.
#[derive(Debug, Error)]
#[error("could not acknowledge the batch: {0}")]
pub struct AckError(pub String);
