//! `/healthz` and `/metrics` for a process that runs no ingest (`vtrack process`, `vtrack api`), and the
//! dashboard for `vtrack api`.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::registry::Registry;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use vtrack_edge::Health;

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    resp
}

fn handle(registry: &Registry, health: &Health, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => {
            let problems = health.problems();
            if problems.is_empty() {
                return respond(StatusCode::OK, "text/plain", "ok\n".into());
            }
            let mut r =
                respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", format!("not ready: {}\n", problems.join("; ")));
            r.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("5"));
            r
        }
        (&Method::GET, "/metrics") => {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, registry) {
                Ok(()) => respond(StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", text),
                Err(e) => {
                    respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("cannot encode metrics: {e}\n"))
                }
            }
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: this process serves /healthz and /metrics\n".into(),
        ),
    }
}

/// Serves until `shutdown` resolves, within the port's limits (`[server]`: timeouts, connections);
/// `/healthz` answers 503 while `health` lists a problem.
pub async fn serve(
    listener: TcpListener,
    server: &vtrack_model::config::ServerConfig,
    limits: &vtrack_model::config::LimitsConfig,
    mut registry: Registry,
    health: Health,
    extra: Option<Arc<dyn vtrack_edge::ExtraRoutes>>,
    shutdown: impl Future<Output = ()>,
) {
    let metrics = vtrack_edge::ConnMetrics::register(&mut registry);
    let registry = Arc::new(registry);
    let handler = move |_client, req: Request<hyper::body::Incoming>| {
        let (registry, health, extra) = (registry.clone(), health.clone(), extra.clone());
        async move {
            match extra.filter(|x| x.claims(req.uri().path())) {
                Some(x) => x.handle(req).await,
                None => handle(&registry, &health, &req),
            }
        }
    };
    let limits = vtrack_edge::ConnLimits::from_config(server, limits);
    vtrack_edge::conn::serve(listener, limits, metrics, handler, shutdown).await;
}
