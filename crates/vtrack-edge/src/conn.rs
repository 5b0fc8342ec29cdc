//! Connections: what every HTTP port of vtrack does before a request reaches its routes.
//!
//! A public port meets clients that send slowly on purpose. hyper's header timeout bounds the headers and
//! the idle time between keep-alive requests (its timer starts as soon as a connection waits for a request);
//! [`ConnLimits::request_timeout`] bounds the rest, body included: a request not answered in time gets 408 and
//! its connection is closed (dropping an unread body makes hyper close it). At most
//! [`ConnLimits::max_connections`] are served at once; one more is told 503 and closed, instead of the
//! process running out of file descriptors. Each request's [`Client`] is found once here, through the trusted
//! proxies, and handed to the handler (and put in the request's extensions for [`crate::ExtraRoutes`]):
//! nothing after this walks `X-Forwarded-For` again. Every answer says `nosniff`, and `/metrics` asks for
//! `[server] metrics_token` when one is set; wrong tokens are counted per client address like the dashboard's
//! sign-ins (`[limits] sign_in_failures`), so the token cannot be guessed at line rate. A request with two
//! `Host` headers is refused before any handler sees it: the dashboard's host check, a proxy and vtrack
//! could each read a different one.
//!
//! Ingest (`vtrack serve`, `vtrack ingest`) and the status port of `vtrack process` and `vtrack api` all serve
//! through [`serve`], so the rules are the same on every port.

use crate::client_ip;
use crate::limit::{AddressKey, Buckets};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use ipnetwork::IpNetwork;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use vtrack_model::config::{LimitsConfig, RateConfig, ServerConfig};

type Resp = Response<Full<Bytes>>;

/// How long a graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Refusals (503 past the connection limit) written at once; past this a connection is closed unanswered.
const MAX_REFUSING: usize = 256;
/// How long a refusal may take to write and to see the client hang up.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// The bounds of one port (`[server]` in the config file).
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    /// Peers that may name the client (`X-Forwarded-For`) and the scheme (`X-Forwarded-Proto`).
    pub trusted_proxies: Vec<IpNetwork>,
    /// When set, `/metrics` answers only `Authorization: Bearer` with it, on every port.
    pub metrics_token: Option<String>,
    /// Wrong `/metrics` tokens allowed per client address (`[limits] sign_in_failures`).
    pub metrics_failures: RateConfig,
}

impl ConnLimits {
    pub fn from_config(server: &ServerConfig, limits: &LimitsConfig) -> ConnLimits {
        ConnLimits {
            header_timeout: server.header_timeout,
            request_timeout: server.request_timeout,
            max_connections: server.max_connections,
            trusted_proxies: server.trusted_proxies.clone(),
            metrics_token: server.metrics_token.clone().filter(|t| !t.is_empty()),
            metrics_failures: limits.sign_in_failures,
        }
    }
}

/// Who sent a request, in its extensions: the client's address after the trusted proxies, and whether it
/// reached vtrack over https (a trusted proxy said `X-Forwarded-Proto: https`; vtrack itself speaks http).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    pub https: bool,
    /// The direct peer is one of `[server] trusted_proxies`, so headers it sets about the client (the
    /// signed-in user, `[dashboard] proxy_user_header`) may be believed.
    pub proxied: bool,
}

impl Client {
    /// The client of a request from `peer` with `headers`.
    pub fn of(peer: SocketAddr, headers: &http::HeaderMap, trusted: &[IpNetwork]) -> Client {
        let xff = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let proxied = client_ip::is_trusted(peer.ip().to_canonical(), trusted);
        let https = proxied
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Client { ip: client_ip::client_ip(peer.ip(), xff, trusted), https, proxied }
    }
}

/// Connection counters, under `vtrack_http_*`.
#[derive(Clone, Default, Debug)]
pub struct ConnMetrics {
    pub open: Gauge,
    pub refused: Counter,
    pub timed_out: Counter,
}

impl ConnMetrics {
    pub fn register(registry: &mut Registry) -> ConnMetrics {
        let m = ConnMetrics::default();
        registry.register("vtrack_http_connections_open", "Connections being served", m.open.clone());
        registry.register(
            "vtrack_http_connections_refused",
            "Connections answered 503 because server.max_connections were open",
            m.refused.clone(),
        );
        registry.register(
            "vtrack_http_request_timeouts",
            "Requests answered 408 because they took longer than server.request_timeout",
            m.timed_out.clone(),
        );
        m
    }
}

/// Serves `handler` on `listener` within `limits` until `shutdown` resolves, then stops accepting and lets
/// requests in flight finish (up to [`SHUTDOWN_GRACE`]). The handler is given each request's [`Client`].
pub async fn serve<H, F>(
    listener: TcpListener,
    limits: ConnLimits,
    metrics: ConnMetrics,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Client, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let limits = Arc::new(limits);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS)));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let metrics_guard = Arc::new(MetricsGuard {
        token: limits.metrics_token.clone(),
        failures: Buckets::new(limits.metrics_failures),
        address_key: AddressKey::default(),
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.refused.inc();
            if let Ok(refusal) = refusing.clone().try_acquire_owned() {
                let max = limits.max_connections;
                tokio::spawn(async move {
                    refuse(stream, max).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (limits, metrics_conn, handler) = (limits.clone(), metrics.clone(), handler.clone());
        let metrics_guard = metrics_guard.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let client = Client::of(peer, req.headers(), &limits.trusted_proxies);
            req.extensions_mut().insert(client);
            let refused = if req.headers().get_all(header::HOST).iter().nth(1).is_some() {
                Some(bad_request("a request carries one Host header, not several"))
            } else if req.uri().path() == "/metrics" {
                metrics_guard.refusal(req.headers(), client.ip)
            } else {
                None
            };
            let answer = tokio::time::timeout(limits.request_timeout, handler(client, req));
            let (limits, metrics) = (limits.clone(), metrics_conn.clone());
            async move {
                let answered = match refused {
                    Some(r) => Ok(r),
                    None => answer.await,
                };
                let mut resp = match answered {
                    Ok(resp) => resp,
                    Err(_) => {
                        metrics.timed_out.inc();
                        timed_out(limits.request_timeout)
                    }
                };
                resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let open = metrics.open.clone();
        open.inc();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            open.dec();
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("http: all connections closed"),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("http: connections still open after the grace period"),
    }
}

/// Who may read `/metrics`: the holders of `[server] metrics_token`, when one is set. Wrong tokens are
/// counted per address (a keyed hash, so no address is held); past the burst every request from that
/// address is answered 429 until the bucket refills, right token or not, so guessing cannot be sped up.
struct MetricsGuard {
    token: Option<String>,
    failures: Buckets<u64>,
    address_key: AddressKey,
}

impl MetricsGuard {
    /// The answer that refuses a `/metrics` request from `client`, or `None` when it may be served.
    fn refusal(&self, headers: &http::HeaderMap, client: IpAddr) -> Option<Resp> {
        let token = self.token.as_ref()?;
        let key = self.address_key.of(client);
        let now = std::time::Instant::now();
        if let Err(wait) = self.failures.check(&key, now) {
            return Some(metrics_throttled(wait));
        }
        let mut sent = crate::bearer_tokens(headers).peekable();
        if sent.peek().is_none() {
            return Some(metrics_unauthorized());
        }
        if sent.any(|t| crate::same_secret(t, token)) {
            return None;
        }
        let _ = self.failures.take(&key, 1.0, now);
        Some(metrics_unauthorized())
    }
}

fn json_answer(status: StatusCode, message: &str) -> Resp {
    let body = serde_json::json!({ "error": message });
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn metrics_unauthorized() -> Resp {
    json_answer(StatusCode::UNAUTHORIZED, "/metrics needs Authorization: Bearer with [server] metrics_token")
}

fn metrics_throttled(wait: Duration) -> Resp {
    let secs = crate::limit::retry_after_secs(wait);
    let mut r = json_answer(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("too many wrong /metrics tokens from this address (limits.sign_in_failures); retry in {secs} s"),
    );
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn bad_request(message: &str) -> Resp {
    let mut r = json_answer(StatusCode::BAD_REQUEST, message);
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn timed_out(limit: Duration) -> Resp {
    let body = serde_json::json!({
        "error": format!("the request took longer than {} s (server.request_timeout)", limit.as_secs_f64())
    });
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Tells a connection past the limit why it is closed, without reading its request: a raw 503, then the
/// write side shut and what the client still sends read away (closing with unread data would reset the
/// connection before the client reads the answer).
async fn refuse(mut stream: TcpStream, max: usize) {
    let body = serde_json::json!({
        "error": format!("too many connections ({max}, server.max_connections); retry shortly")
    })
    .to_string();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         x-content-type-options: nosniff\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => total += n,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}
