//! `update` against a registry on loopback that serves tiny generated packages: a good release is
//! installed; a release with the wrong sha512, a malformed CSV, too few rows, a tarball on another host or
//! a registry that is down each fail with the reason and leave the last good snapshot as it was.

use base64::Engine as _;
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use vtrack_data::{update, DataError, UpdateOptions, PACKAGES};
use vtrack_resolve::Table;

type Routes = Arc<Mutex<HashMap<String, (u16, Vec<u8>)>>>;

/// A registry on loopback: answers each GET from `routes`, 404 otherwise, one connection per request.
struct FakeRegistry {
    addr: SocketAddr,
    routes: Routes,
}

impl FakeRegistry {
    fn start() -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Routes = Arc::default();
        let r = routes.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let routes = r.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).map(|n| n == 1).unwrap_or(false) {
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let (status, body) =
                        routes.lock().unwrap().get(&path).cloned().unwrap_or((404, b"not found".to_vec()));
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                });
            }
        });
        FakeRegistry { addr, routes }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Publishes `version` of every package: `files` are (name, contents) inside `package/`, `integrity`
    /// what the metadata claims (`None`: the tarball's real sha512).
    fn publish(&self, version: &str, files: &dyn Fn(&str) -> Vec<(String, String)>, integrity: Option<&str>) {
        for p in PACKAGES {
            let tgz = tarball(&files(p.name));
            let tail = p.name.rsplit('/').next().unwrap();
            let path = format!("/{}/-/{tail}-{version}.tgz", p.name);
            let sri = format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&tgz)));
            let meta = serde_json::json!({
                "name": p.name,
                "version": version,
                "license": "CC-BY-4.0",
                "dist": { "tarball": format!("{}{path}", self.url()), "integrity": integrity.unwrap_or(&sri) },
            });
            let mut routes = self.routes.lock().unwrap();
            routes.insert(format!("/{}/latest", p.name), (200, meta.to_string().into_bytes()));
            routes.insert(path, (200, tgz));
        }
    }
}

fn tarball(files: &[(String, String)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, format!("package/{name}"), text.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Good data: two AS ranges and a country range per family, and a licence file.
fn good(package: &str) -> Vec<(String, String)> {
    let mut files = vec![("DBIP-LICENSE".to_string(), "licensed CC BY 4.0".to_string())];
    if package.ends_with("/asn") {
        files.push(("asn-ipv4.csv".into(), "73.0.0.0,73.255.255.255,7922,\"Comcast Cable Communications, LLC\"\n128.32.0.0,128.32.255.255,25,University of California at Berkeley\n".into()));
        files.push(("asn-ipv6.csv".into(), "2601::,2601:ffff:ffff:ffff:ffff:ffff:ffff:ffff,7922,Comcast\n2607:f140::,2607:f140:ffff:ffff:ffff:ffff:ffff:ffff,25,University of California at Berkeley\n".into()));
    } else {
        files.push((
            "geo-whois-asn-country-ipv4.csv".into(),
            "73.0.0.0,73.255.255.255,US\n128.32.0.0,128.32.255.255,US\n".into(),
        ));
        files.push((
            "geo-whois-asn-country-ipv6.csv".into(),
            "2601::,2601:ffff:ffff:ffff:ffff:ffff:ffff:ffff,US\n2a00::,2a00::ffff,NL\n".into(),
        ));
    }
    files
}

fn options(dir: &std::path::Path, registry: &str) -> UpdateOptions {
    UpdateOptions { min_rows: Some(2), ..UpdateOptions::new(dir, registry) }
}

/// The snapshot's and attribution's bytes, and whether any work directory is left behind.
fn installed(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, usize) {
    let sub = dir.join("ip-data");
    let leftovers = std::fs::read_dir(&sub)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".update"))
        .count();
    (
        std::fs::read(vtrack_data::snapshot_path(dir)).unwrap(),
        std::fs::read(vtrack_data::attribution_path(dir)).unwrap(),
        leftovers,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_release_is_installed_and_every_bad_one_keeps_it() {
    let registry = FakeRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = options(dir, &registry.url());

    registry.publish("1.0.0", &good, None);
    let done = update(&opts).await.expect("a good release installs");
    assert!(!done.unchanged);
    let table = Table::read_snapshot(&done.snapshot).unwrap();
    let comcast = table.resolve("73.0.0.1".parse().unwrap()).info;
    assert_eq!((comcast.asn, comcast.network_class.as_str(), comcast.country.as_str()), (7922, "isp", "US"));
    let berkeley = table.resolve("2607:f140::1".parse().unwrap()).info;
    assert_eq!(berkeley.network_class.as_str(), "education");
    assert_eq!(table.resolve("2a00::1".parse().unwrap()).info.country, "NL", "a place without an organisation");
    assert_eq!(done.attribution.packages.iter().map(|p| p.version.as_str()).collect::<Vec<_>>(), ["1.0.0", "1.0.0"]);
    assert_eq!(done.attribution.packages[0].notices, [("DBIP-LICENSE".to_string(), "licensed CC BY 4.0".to_string())]);
    let on_disk = vtrack_data::Attribution::read(&vtrack_data::attribution_path(dir)).unwrap().unwrap();
    assert_eq!(on_disk, done.attribution);
    let good_copy = installed(dir);
    assert_eq!(good_copy.2, 0, "the work directory is removed");

    // The same release again: nothing is downloaded or rewritten.
    let again = update(&opts).await.unwrap();
    assert!(again.unchanged);
    assert_eq!(installed(dir), good_copy);

    // Each bad release fails with its reason, and the good copy stays byte for byte.
    let wrong_sri = "sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    registry.publish("1.0.1", &good, Some(wrong_sri));
    let err = update(&opts).await.unwrap_err();
    assert!(matches!(err, DataError::Integrity { .. }), "{err}");
    assert!(err.to_string().contains("integrity mismatch"), "{err}");
    assert_eq!(installed(dir), good_copy);

    let malformed = |p: &str| {
        let mut files = good(p);
        for (name, text) in &mut files {
            if name.ends_with("country-ipv4.csv") {
                text.push_str("9.9.9.0,9.9.9.255,Switzerland\n");
            }
        }
        files
    };
    registry.publish("1.0.2", &malformed, None);
    let err = update(&opts).await.unwrap_err().to_string();
    assert!(err.contains("geo-whois-asn-country-ipv4.csv:3") && err.contains("Switzerland"), "{err}");
    assert_eq!(installed(dir), good_copy);

    let truncated = |p: &str| {
        let mut files = good(p);
        for (name, text) in &mut files {
            if name == "asn-ipv6.csv" {
                *text = text.lines().next().unwrap().to_string();
            }
        }
        files
    };
    registry.publish("1.0.3", &truncated, None);
    let err = update(&opts).await.unwrap_err();
    assert!(matches!(err, DataError::TooFewRows { rows: 1, min: 2, .. }), "{err}");
    assert!(err.to_string().contains("asn-ipv6.csv"), "{err}");
    assert_eq!(installed(dir), good_copy);

    let missing = |p: &str| good(p).into_iter().filter(|(n, _)| n != "asn-ipv4.csv").collect();
    registry.publish("1.0.4", &missing, None);
    let err = update(&opts).await.unwrap_err().to_string();
    assert!(err.contains("no package/asn-ipv4.csv"), "{err}");

    // A tarball anywhere but the registry is never fetched.
    let meta = serde_json::json!({
        "name": "@ip-location-db/asn", "version": "1.0.5",
        "dist": { "tarball": "http://198.51.100.1/asn.tgz", "integrity": wrong_sri },
    });
    registry.routes.lock().unwrap().insert("/@ip-location-db/asn/latest".into(), (200, meta.to_string().into_bytes()));
    let err = update(&opts).await.unwrap_err();
    assert!(matches!(err, DataError::ForeignTarball { .. }), "{err}");
    assert_eq!(installed(dir), good_copy);

    // A registry that is down.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let err = update(&options(dir, &down)).await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert_eq!(installed(dir), good_copy);

    // A later good release replaces it.
    registry.publish("1.1.0", &good, None);
    let done = update(&opts).await.unwrap();
    assert_eq!(done.attribution.packages[0].version, "1.1.0");
    assert_eq!(installed(dir).2, 0);
}

#[tokio::test]
async fn a_registry_url_that_is_not_http_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = update(&UpdateOptions::new(tmp.path(), "file:///etc")).await.unwrap_err();
    assert!(matches!(err, DataError::BadRegistry { .. }), "{err}");
}
