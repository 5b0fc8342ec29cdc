//! One delivery attempt: a signed POST, classified into what the loop should do next.

use crate::sign::signature;
use crate::AlertError;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT as UA};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::{Duration, SystemTime};
use vtrack_model::config::WebhookConfig;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-vtrack-signature";
/// What vtrack calls itself in `User-Agent`.
pub const USER_AGENT: &str = concat!("vtrack/", env!("CARGO_PKG_VERSION"));

/// Response bodies are read (so the connection can be reused) but only this much is kept, for the reason.
const BODY_KEEP: usize = 64 * 1024;
const REASON_MAX: usize = 200;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver accepted it (2xx).
    Delivered(u16),
    /// Worth trying again: 5xx, 408, 429, a timeout or a connection error. `retry_after` is the receiver's
    /// `Retry-After`, when it sent one.
    Retry { reason: String, retry_after: Option<Duration> },
    /// Trying again cannot help: another 4xx, a redirect, or a request that cannot be built (bad URL).
    Permanent(String),
}

/// Sends webhook requests over one pooled HTTP/1.1 client that speaks https (rustls, Mozilla's roots from
/// `webpki-roots`, so it needs no system certificate store) and plain http (for receivers on a private
/// network and for tests). Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Sender {
    pub fn new() -> Result<Sender, AlertError> {
        // The provider is named rather than taken from the process default, which panics when a second
        // rustls provider is compiled into the binary by some other crate.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        Ok(Sender { client })
    }

    /// POSTs `body` to the webhook with `Content-Type: application/json`, `X-Vtrack-Signature` (signed now),
    /// `Idempotency-Key: <alert_id>` and `User-Agent: vtrack/<version>`. The whole exchange, response body
    /// included, is bounded by the webhook's `timeout`.
    pub async fn send(&self, hook: &WebhookConfig, alert_id: &str, body: &[u8]) -> Outcome {
        let sig = signature(&hook.secret, vtrack_model::time::now_ms().div_euclid(1000), body);
        let Ok(key) = HeaderValue::from_str(alert_id) else {
            return Outcome::Permanent(format!("alert id {alert_id:?} cannot be sent as Idempotency-Key"));
        };
        let request = http::Request::post(hook.url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(UA, USER_AGENT)
            .header(SIGNATURE_HEADER, sig)
            .header("idempotency-key", key)
            .body(Full::new(Bytes::copy_from_slice(body)));
        let request = match request {
            Ok(r) => r,
            // The URL is left out: it is a credential, and this reason is logged and stored.
            Err(e) => return Outcome::Permanent(format!("bad webhook url: {e}")),
        };
        match tokio::time::timeout(hook.timeout, self.exchange(request)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Retry { reason: format!("timed out after {:?}", hook.timeout), retry_after: None },
        }
    }

    async fn exchange(&self, request: http::Request<Full<Bytes>>) -> Outcome {
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => return connection_error(&e),
        };
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(String::from);
        // Read the body so the pooled connection can be reused; a failure here does not change the status.
        let text = match Limited::new(response.into_body(), BODY_KEEP).collect().await {
            Ok(b) => snippet(&b.to_bytes()),
            Err(_) => String::new(),
        };
        classify(status, retry_after, location, &text)
    }
}

/// A failure before any response: refused, reset, DNS, TLS handshake. The receiver may be down or being
/// redeployed, so it is retried; the config check already refuses URLs that could never work, and
/// `max_attempts` bounds the rest. The whole source chain goes into the reason (hyper's top-level message
/// alone is just "client error (Connect)").
fn connection_error(e: &hyper_util::client::legacy::Error) -> Outcome {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    Outcome::Retry { reason, retry_after: None }
}

fn classify(status: http::StatusCode, retry_after: Option<Duration>, location: Option<String>, text: &str) -> Outcome {
    let code = status.as_u16();
    let reason = if text.is_empty() { format!("HTTP {code}") } else { format!("HTTP {code}: {text}") };
    if status.is_success() {
        Outcome::Delivered(code)
    } else if status.is_server_error() || code == 429 || code == 408 {
        Outcome::Retry { reason, retry_after }
    } else if status.is_redirection() {
        // Not followed: a redirect could turn the POST into a GET or send the signed body elsewhere.
        Outcome::Permanent(format!("{reason} (redirect to {}; configure that url)", location.unwrap_or_default()))
    } else {
        Outcome::Permanent(reason)
    }
}

/// The first bytes of a response body as one printable line, for the error recorded in the outbox.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(REASON_MAX).collect();
    line.trim().to_string()
}

/// `Retry-After` is either delta-seconds or an HTTP date; a date in the past means now.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
        let d = parse_retry_after(&later).unwrap();
        assert!(d > Duration::from_secs(80) && d <= Duration::from_secs(90), "{d:?}");
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-5"), None);
    }

    #[test]
    fn statuses() {
        let c = |code: u16| classify(StatusCode::from_u16(code).unwrap(), None, None, "");
        assert_eq!(c(200), Outcome::Delivered(200));
        assert_eq!(c(204), Outcome::Delivered(204));
        for code in [500, 502, 503, 504, 429, 408] {
            assert!(matches!(c(code), Outcome::Retry { .. }), "{code}");
        }
        for code in [400, 401, 403, 404, 410, 413, 301, 302] {
            assert!(matches!(c(code), Outcome::Permanent(_)), "{code}");
        }
        let r = classify(StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(3)), None, &snippet(b"slow\ndown\n"));
        assert_eq!(
            r,
            Outcome::Retry { reason: "HTTP 429: slow down".into(), retry_after: Some(Duration::from_secs(3)) }
        );
    }

    #[test]
    fn user_agent_names_the_version() {
        assert_eq!(USER_AGENT, format!("vtrack/{}", env!("CARGO_PKG_VERSION")));
    }
}
