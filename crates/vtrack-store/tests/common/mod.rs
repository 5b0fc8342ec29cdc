//! Shared by the store's tests.

use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Runs a future of the SQLite store to completion. Its primitives block instead of waiting, so the
/// future is ready on its first poll; anything else is a bug in the test.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a SQLite store future waited"),
    }
}
