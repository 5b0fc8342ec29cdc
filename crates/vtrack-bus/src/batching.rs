//! The one batch-filling loop of the in-process subscribers (the memory queue and the journal): wait for a
//! first event, then up to a linger for more, up to a batch size.
//!
//! Cancel-safe by construction: events taken from the channel go into the caller's `pending` buffer, which
//! outlives the future, so a caller that stops waiting (a shutdown `select!`) loses nothing and the next call
//! hands them on.

use std::time::Duration;

use tokio::sync::mpsc;

/// A channel receiver that can take several items at once (tokio's bounded and unbounded ones).
pub(crate) trait RecvMany<T> {
    /// Waits for at least one item and moves up to `limit` into `buf`; 0 when the channel is closed and empty.
    async fn recv_many(&mut self, buf: &mut Vec<T>, limit: usize) -> usize;
}

impl<T> RecvMany<T> for mpsc::Receiver<T> {
    async fn recv_many(&mut self, buf: &mut Vec<T>, limit: usize) -> usize {
        mpsc::Receiver::recv_many(self, buf, limit).await
    }
}

impl<T> RecvMany<T> for mpsc::UnboundedReceiver<T> {
    async fn recv_many(&mut self, buf: &mut Vec<T>, limit: usize) -> usize {
        mpsc::UnboundedReceiver::recv_many(self, buf, limit).await
    }
}

/// Fills `pending` to at most `max` items: waits for a first one unless some are pending, then up to `linger`
/// for more. Returns false when nothing is pending and the channel is closed and empty.
pub(crate) async fn fill<T>(rx: &mut impl RecvMany<T>, pending: &mut Vec<T>, max: usize, linger: Duration) -> bool {
    if pending.is_empty() && rx.recv_many(pending, max).await == 0 {
        return false;
    }
    let deadline = tokio::time::Instant::now() + linger;
    while pending.len() < max {
        let want = max - pending.len();
        match tokio::time::timeout_at(deadline, rx.recv_many(pending, want)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    true
}
