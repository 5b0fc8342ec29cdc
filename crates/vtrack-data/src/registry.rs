//! The npm registry, as far as an update needs it: a package's latest version and its tarball, checked
//! against the registry's own sha512.
//!
//! The client is the one the webhook sender uses (hyper 1, hyper-util's pooled client, rustls with
//! Mozilla's roots from `webpki-roots`, so no system certificate store is needed, and the CA files npm and
//! OpenSSL are pointed at, see [`tls_config`]), speaking https and plain
//! http (a private mirror, the tests' loopback registry). It contacts the registry and nothing else: a
//! tarball URL on another host is refused, and redirects are not followed.

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, USER_AGENT};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha512};
use std::time::Duration;

use crate::DataError;

/// npm's public registry, the default when neither `--registry` nor `npm_config_registry` says otherwise.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org";

/// What vtrack calls itself in `User-Agent`.
const UA: &str = concat!("vtrack/", env!("CARGO_PKG_VERSION"));
/// A `/latest` document is a few kilobytes.
const METADATA_LIMIT: usize = 1024 * 1024;
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
/// The AS package is about 19 MB gzipped; ten times that is not a release, it is a mistake.
const TARBALL_LIMIT: usize = 256 * 1024 * 1024;
const TARBALL_TIMEOUT: Duration = Duration::from_secs(600);

/// The registry to use: the flag, else the `npm_config_registry` environment variable (as npm itself
/// reads it), else [`DEFAULT_REGISTRY`].
pub fn registry_url(flag: Option<&str>) -> String {
    let env = || {
        ["npm_config_registry", "NPM_CONFIG_REGISTRY"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    };
    let url = flag.map(str::to_string).or_else(env).unwrap_or_else(|| DEFAULT_REGISTRY.to_string());
    url.trim().trim_end_matches('/').to_string()
}

/// One package version as the registry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    pub version: String,
    pub tarball: String,
    /// `sha512-<base64>`, the Subresource Integrity form npm publishes.
    pub integrity: String,
    /// The package's `license` field, as published.
    pub license: String,
}

/// A client for one registry.
pub struct Registry {
    base: String,
    /// `scheme://authority` of the registry, which every URL fetched must share.
    origin: String,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Registry {
    /// A client for the registry at `base` (`https://registry.npmjs.org`, or a mirror's root URL).
    pub fn new(base: &str) -> Result<Registry, DataError> {
        let base = base.trim_end_matches('/').to_string();
        let origin = origin(&base).ok_or_else(|| DataError::BadRegistry { url: base.clone() })?;
        let tls = tls_config()
            .map_err(|e| DataError::Unreachable { url: base.clone(), reason: format!("TLS setup: {e}") })?;
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https);
        Ok(Registry { base, origin, client })
    }

    /// The registry's root URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The latest release of `package` (`GET <registry>/<package>/latest`).
    pub async fn latest(&self, package: &str) -> Result<Release, DataError> {
        let url = format!("{}/{package}/latest", self.base);
        let body = self.get(&url, "application/json", METADATA_LIMIT, METADATA_TIMEOUT).await?;
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| DataError::Metadata { package: package.into(), reason: format!("not JSON: {e}") })?;
        let field = |path: &[&str]| {
            let mut v = &doc;
            for key in path {
                v = &v[*key];
            }
            v.as_str().filter(|s| !s.is_empty()).map(str::to_string).ok_or_else(|| DataError::Metadata {
                package: package.into(),
                reason: format!("no {}", path.join(".")),
            })
        };
        let release = Release {
            name: field(&["name"])?,
            version: field(&["version"])?,
            tarball: field(&["dist", "tarball"])?,
            integrity: field(&["dist", "integrity"])?,
            license: field(&["license"]).unwrap_or_default(),
        };
        if release.name != package {
            return Err(DataError::Metadata {
                package: package.into(),
                reason: format!("the registry answered for {:?}", release.name),
            });
        }
        if !release.integrity.starts_with("sha512-") {
            return Err(DataError::Metadata {
                package: package.into(),
                reason: format!("integrity {:?} is not sha512", release.integrity),
            });
        }
        if origin(&release.tarball).as_deref() != Some(self.origin.as_str()) {
            return Err(DataError::ForeignTarball {
                package: package.into(),
                tarball: release.tarball,
                registry: self.base.clone(),
            });
        }
        Ok(release)
    }

    /// Downloads a release's tarball and checks it against the published sha512.
    pub async fn tarball(&self, release: &Release) -> Result<Bytes, DataError> {
        let data = self.get(&release.tarball, "application/octet-stream", TARBALL_LIMIT, TARBALL_TIMEOUT).await?;
        check_integrity(&release.name, &release.integrity, &data)?;
        Ok(data)
    }

    async fn get(&self, url: &str, accept: &str, limit: usize, timeout: Duration) -> Result<Bytes, DataError> {
        let request = http::Request::get(url)
            .header(ACCEPT, accept)
            .header(USER_AGENT, UA)
            .body(Empty::new())
            .map_err(|e| DataError::Http { url: url.into(), reason: format!("cannot build the request: {e}") })?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| DataError::Unreachable { url: url.into(), reason: chain(&e) })?;
            let status = response.status();
            if !status.is_success() {
                let reason = if status.is_redirection() {
                    format!("HTTP {status}: redirects are not followed; point --registry at the final address")
                } else {
                    format!("HTTP {status}")
                };
                return Err(DataError::Http { url: url.into(), reason });
            }
            let body = Limited::new(response.into_body(), limit).collect().await.map_err(|e| DataError::Http {
                url: url.into(),
                reason: format!("reading the body (at most {limit} bytes): {e}"),
            })?;
            Ok(body.to_bytes())
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| DataError::Unreachable { url: url.into(), reason: format!("timed out after {timeout:?}") })?
    }
}

/// Mozilla's roots (`webpki-roots`), plus the certificates of the PEM files named by `npm_config_cafile`
/// (npm's own setting) and `SSL_CERT_FILE` (OpenSSL's): a network that inspects TLS has its own authority,
/// which npm and curl on that machine are told of the same way. The ring provider is named rather than
/// taken from the process default, which panics when a second rustls provider is compiled in.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for var in ["npm_config_cafile", "NPM_CONFIG_CAFILE", "SSL_CERT_FILE"] {
        let Some(path) = std::env::var_os(var).filter(|v| !v.is_empty()) else { continue };
        match std::fs::read(&path) {
            Ok(pem) => {
                let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
                let (added, _) = roots.add_parsable_certificates(certs);
                tracing::debug!(var, file = %std::path::Path::new(&path).display(), added, "extra CA certificates");
            }
            Err(e) => {
                tracing::warn!(var, file = %std::path::Path::new(&path).display(), error = %e, "cannot read CA file")
            }
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Checks `data` against an SRI `sha512-<base64>` value.
pub fn check_integrity(package: &str, integrity: &str, data: &[u8]) -> Result<(), DataError> {
    let actual = format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(Sha512::digest(data)));
    if actual == integrity {
        Ok(())
    } else {
        Err(DataError::Integrity { package: package.into(), expected: integrity.into(), actual })
    }
}

/// `scheme://authority` of an http(s) URL, lowercased; `None` for anything else.
fn origin(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    Some(format!("{scheme}://{}", uri.authority()?.as_str().to_ascii_lowercase()))
}

/// The error and its sources: hyper's top-level message alone is just "client error (Connect)".
fn chain(e: &dyn std::error::Error) -> String {
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_is_sri_sha512() {
        // `printf abc | openssl dgst -sha512 -binary | base64`
        let abc = "sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==";
        check_integrity("p", abc, b"abc").unwrap();
        let err = check_integrity("p", abc, b"abd").unwrap_err().to_string();
        assert!(err.contains("integrity mismatch") && err.contains("p:"), "{err}");
    }

    #[test]
    fn origins_and_registry_choice() {
        assert_eq!(origin("https://Registry.npmjs.org/@a/b/-/b-1.tgz").as_deref(), Some("https://registry.npmjs.org"));
        assert_eq!(origin("http://127.0.0.1:4873").as_deref(), Some("http://127.0.0.1:4873"));
        assert_eq!(origin("ftp://x/y"), None);
        assert_eq!(registry_url(Some("http://127.0.0.1:9/ ")), "http://127.0.0.1:9");
    }
}
