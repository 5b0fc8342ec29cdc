//! The in-process bounded queue of `vtrack serve`.

use crate::{Batch, PublishError};
use std::time::Duration;
use tokio::sync::mpsc;
use vtrack_model::EnrichedEvent;

/// Makes a queue that holds at most `capacity` events.
pub fn channel(capacity: usize) -> (crate::Publisher, crate::Subscriber) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        crate::Publisher::Memory(MemoryPublisher { tx }),
        crate::Subscriber::Memory(MemorySubscriber { rx, pending: Vec::new() }),
    )
}

#[derive(Clone, Debug)]
pub struct MemoryPublisher {
    tx: mpsc::Sender<EnrichedEvent>,
}

impl MemoryPublisher {
    pub(crate) fn publish_all(&self, events: Vec<EnrichedEvent>) -> Result<(), PublishError> {
        if events.is_empty() {
            return Ok(());
        }
        // Reserve every slot first, so a batch is taken whole or refused whole.
        let permits = self.tx.try_reserve_many(events.len()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => PublishError::Full,
            mpsc::error::TrySendError::Closed(()) => PublishError::Closed,
        })?;
        for (permit, event) in permits.zip(events) {
            permit.send(event);
        }
        Ok(())
    }

    pub(crate) fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

pub struct MemorySubscriber {
    rx: mpsc::Receiver<EnrichedEvent>,
    /// The batch being collected. It lives here, not in `next_batch`'s future, so a caller that stops
    /// waiting (a shutdown `select!`) loses nothing: the next call hands these events on.
    pending: Vec<EnrichedEvent>,
}

impl MemorySubscriber {
    pub(crate) fn close(&mut self) {
        self.rx.close();
    }

    /// Cancel-safe: events taken from the queue stay in `pending` until a call returns them.
    pub(crate) async fn next_batch(&mut self, max: usize, linger: Duration) -> Option<Batch> {
        if !crate::batching::fill(&mut self.rx, &mut self.pending, max, linger).await {
            return None;
        }
        Some(Batch { events: std::mem::take(&mut self.pending), ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> EnrichedEvent {
        EnrichedEvent { event_id: id.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn a_batch_whose_wait_is_abandoned_is_handed_on_by_the_next_call() {
        let (p, mut s) = channel(10);
        p.publish_all(vec![ev("a"), ev("b")]).await.unwrap();
        // The caller stops waiting while the batch lingers for more, as a shutdown `select!` does.
        let abandoned = tokio::time::timeout(Duration::from_millis(20), s.next_batch(5, Duration::from_secs(5))).await;
        assert!(abandoned.is_err());
        s.close();
        let ids: Vec<String> =
            s.next_batch(5, Duration::from_millis(10)).await.unwrap().events.into_iter().map(|e| e.event_id).collect();
        assert_eq!(ids, ["a", "b"], "nothing taken from the queue is lost");
        assert!(s.next_batch(5, Duration::from_millis(10)).await.is_none());
    }

    #[tokio::test]
    async fn a_batch_is_taken_whole_or_refused_whole() {
        let (p, mut s) = channel(3);
        p.publish_all(vec![ev("a"), ev("b")]).await.unwrap();
        assert_eq!(p.publish_all(vec![ev("c"), ev("d")]).await, Err(PublishError::Full));
        assert_eq!(p.depth(), 2);
        p.publish_all(vec![ev("c")]).await.unwrap();
        let batch = s.next_batch(10, Duration::from_millis(10)).await.unwrap();
        let ids: Vec<_> = batch.events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn drains_then_ends_when_closed() {
        let (p, mut s) = channel(8);
        p.publish_all(vec![ev("a")]).await.unwrap();
        drop(p);
        assert_eq!(s.next_batch(10, Duration::from_millis(10)).await.unwrap().events.len(), 1);
        assert!(s.next_batch(10, Duration::from_millis(10)).await.is_none());
    }

    #[tokio::test]
    async fn closing_refuses_new_events_but_keeps_queued_ones() {
        let (p, mut s) = channel(8);
        p.publish_all(vec![ev("a"), ev("b")]).await.unwrap();
        s.close();
        assert_eq!(p.publish_all(vec![ev("c")]).await, Err(PublishError::Closed));
        assert_eq!(s.next_batch(10, Duration::from_millis(10)).await.unwrap().events.len(), 2);
        assert!(s.next_batch(10, Duration::from_millis(10)).await.is_none(), "ends although a publisher lives");
    }
}
