//! A server that does nothing but HTTP, set up like vtrack's ingest.
//!
//! Requests per second on their own say little: they depend on the machine, the client and the kernel. The
//! ratio of vtrack's figure to this server's, measured the same way on the same machine, is what tells how
//! much vtrack's own work (validation, the resolver, bot filtering, the queue, the store) costs. So this
//! server shares everything with ingest that is not vtrack's work: hyper's HTTP/1 with keep-alive, a header
//! timeout, `TCP_NODELAY`, a graceful shutdown, and reading every request body in full under the same limit.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// Ingest's default `body_limit`.
const BODY_LIMIT: usize = 64 * 1024;

/// Serves until `shutdown` resolves, then lets requests in flight finish (up to 10 s) and returns: `204`
/// to any `POST`, `200 ok` to `GET /healthz`, `404` to anything else, `413` to a body over 64 KiB.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10)).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle)));
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {}
    }
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = match (req.method(), req.uri().path()) {
        (&Method::POST, _) => match Limited::new(req.into_body(), BODY_LIMIT).collect().await {
            Ok(_) => StatusCode::NO_CONTENT,
            Err(e) if e.is::<LengthLimitError>() => StatusCode::PAYLOAD_TOO_LARGE,
            Err(_) => StatusCode::BAD_REQUEST,
        },
        (&Method::GET | &Method::HEAD, "/healthz") => {
            return Ok(Response::new(Full::new(Bytes::from_static(b"ok\n"))));
        }
        _ => StatusCode::NOT_FOUND,
    };
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    Ok(resp)
}
