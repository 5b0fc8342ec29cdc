//! Webhook delivery for vtrack alerts.
//!
//! Processing raises an [`Alert`](vtrack_model::Alert) when an account turns hot and writes one delivery per
//! configured webhook into a durable outbox (the store). This crate turns those deliveries into signed HTTP
//! requests and records each outcome back into the outbox, so a restart resends whatever was not delivered:
//!
//! - [`payload`] builds the body: vtrack's JSON, or a Slack incoming-webhook message;
//! - [`signature`] / [`verify`] sign it (`X-Vtrack-Signature: t=…,v1=<hex HMAC-SHA256 of "t.body">`) so
//!   receivers can tell a vtrack request from a forged or replayed one;
//! - [`Sender`] makes one attempt and classifies it as an [`Outcome`];
//! - [`run_deliveries`] is the loop over an [`Outbox`], a queue per receiver so that a slow one delays no
//!   other: due deliveries are sent, failures retried with exponential [`backoff`] and full jitter (or after
//!   `Retry-After`), up to the webhook's `max_attempts`.
//!
//! Delivery is at least once: a request can arrive and its acknowledgement be lost, so every request carries
//! `Idempotency-Key: <alert_id>` for receivers to de-duplicate on.

mod backoff;
mod deliver;
mod digest_payload;
mod payload;
mod send;
mod sign;

pub use backoff::{backoff, Backoff};
pub use deliver::{run_deliveries, Delivery, DeliveryMetrics, DeliveryOptions, Outbox};
pub use payload::payload;
pub use send::{Outcome, Sender, SIGNATURE_HEADER, USER_AGENT};
pub use sign::{signature, verify};

use thiserror::Error;

/// Why the alert machinery could not start.
#[derive(Debug, Error)]
pub enum AlertError {
    /// The TLS client could not be set up (no usable protocol versions for the crypto provider).
    #[error("cannot set up the TLS client for webhooks: {0}")]
    Tls(#[from] rustls::Error),
}
