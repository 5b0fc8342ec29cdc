//! The bus between ingest and processing.
//!
//! Ingest answers a beacon with 2xx only once the bus has taken the event, and with 503 when the bus is
//! full, so a slow consumer shows up as back-pressure at the edge instead of unbounded memory or silent
//! loss. Consumers receive events in batches and acknowledge a batch only after the store has it.
//!
//! `vtrack serve` uses the in-process [`memory`] queue.

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
}

/// The sending half, cheap to clone into every connection.
#[derive(Clone, Debug)]
pub enum Publisher {
    Memory(memory::MemoryPublisher),
}

impl Publisher {
    /// Takes all of `events` or none of them, without waiting.
    pub fn publish_all(&self, events: Vec<EnrichedEvent>) -> Result<(), PublishError> {
        match self {
            Publisher::Memory(p) => p.publish_all(events),
        }
    }

    /// Events waiting to be consumed (for metrics).
    pub fn depth(&self) -> usize {
        match self {
            Publisher::Memory(p) => p.depth(),
        }
    }
}

/// A batch handed to processing; [`Subscriber::ack`] it once the store has its rows.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<EnrichedEvent>,
}

/// The receiving half.
pub enum Subscriber {
    Memory(memory::MemorySubscriber),
}

impl Subscriber {
    /// Waits for at least one event, then gathers up to `max` more for at most `linger`.
    /// `None` once the bus is closed and drained: processing can stop.
    pub async fn next_batch(&mut self, max: usize, linger: std::time::Duration) -> Option<Batch> {
        match self {
            Subscriber::Memory(s) => s.next_batch(max, linger).await,
        }
    }

    /// Refuses further events (publishers get [`PublishError::Closed`]) while what is queued can still be
    /// drained: the first step of a graceful shutdown.
    pub fn close(&mut self) {
        match self {
            Subscriber::Memory(s) => s.close(),
        }
    }

    /// Marks a batch as stored. The in-process queue has nothing to commit; Kafka commits offsets here.
    pub async fn ack(&mut self, batch: Batch) -> Result<(), AckError> {
        match self {
            Subscriber::Memory(_) => {
                drop(batch);
                Ok(())
            }
        }
    }
}

/// Why a batch could not be acknowledged; the batch will be delivered again.
#[derive(Debug, Error)]
#[error("could not acknowledge the batch: {0}")]
pub struct AckError(pub String);
