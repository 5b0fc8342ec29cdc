//! A small HTTP/1.1 client for the demo's traffic and the load generator.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// A keep-alive connection pool over plain HTTP.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        HttpClient { inner: Client::builder(TokioExecutor::new()).build(connector) }
    }
}

impl HttpClient {
    /// POSTs `body` and returns the status and the response body.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let mut req = hyper::Request::post(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.inner.request(req.body(Full::new(body.into()))?).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
