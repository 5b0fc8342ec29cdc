//! An RDAP server on loopback for the tests: hyper, answering `GET /ip/{addr}` by longest match from
//! documents modelled on ARIN's and RIPE's answers (RFC 9083 `ip network` objects with registrant
//! entities), and able to answer 404, 429 with `Retry-After`, 500, a truncated body and a slow reply.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use ipnetwork::IpNetwork;
use serde_json::{json, Value};

/// How a network answers.
#[derive(Clone)]
pub enum Reply {
    Doc(Value),
    /// `429` with `Retry-After: secs` the first time, then the document.
    TooManyThen(u64, Value),
    ServerError,
    Truncated,
    Slow(Duration),
}

pub struct RdapServer {
    pub url: String,
    /// Request times per network.
    pub requests: Arc<Mutex<HashMap<IpNetwork, Vec<Instant>>>>,
    _runtime: tokio::runtime::Runtime,
}

/// An ARIN-style reassignment to a customer organisation.
pub fn arin_reassigned(cidr: &str, handle: &str, org: &str, email: Option<&str>) -> Value {
    let net: IpNetwork = cidr.parse().unwrap();
    let mut card =
        vec![json!(["version", {}, "text", "4.0"]), json!(["fn", {}, "text", org]), json!(["kind", {}, "text", "org"])];
    if let Some(e) = email {
        card.push(json!(["email", {}, "text", e]));
    }
    json!({
        "rdapConformance": ["rdap_level_0", "cidr0"], "objectClassName": "ip network", "handle": handle,
        "startAddress": net.network().to_string(), "endAddress": net.broadcast().to_string(),
        "ipVersion": "v4", "name": format!("{}-NET", org.split(' ').next().unwrap_or("X").to_uppercase()),
        "type": "REASSIGNED", "parentHandle": "NET-198-18-0-0-1",
        "cidr0_cidrs": [{"v4prefix": net.network().to_string(), "length": net.prefix()}],
        "entities": [
            {"objectClassName": "entity", "handle": "C0000001", "roles": ["registrant"], "vcardArray": ["vcard", card]},
            {"objectClassName": "entity", "handle": "NOC1-ARIN", "roles": ["abuse", "technical"],
             "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Network Operations"],
                                      ["kind", {}, "text", "group"]]]}
        ],
        "events": [{"eventAction": "registration", "eventDate": "2019-04-11T10:12:34-04:00"}],
        "links": [{"rel": "self", "href": format!("https://rdap.arin.net/registry/ip/{}", net.network())}],
        "port43": "whois.arin.net", "status": ["active"]
    })
}

/// A RIPE-style `ASSIGNED PA` network whose registrant is an organisation or a person.
pub fn ripe_assigned(cidr: &str, handle: &str, name: &str, kind: &str) -> Value {
    let net: IpNetwork = cidr.parse().unwrap();
    json!({
        "rdapConformance": ["rdap_level_0", "cidr0"], "objectClassName": "ip network", "handle": handle,
        "startAddress": net.network().to_string(), "endAddress": net.broadcast().to_string(),
        "ipVersion": "v4", "name": "EXAMPLE-CUSTOMER", "type": "ASSIGNED PA", "country": "DE",
        "entities": [
            {"objectClassName": "entity", "handle": "ORG-X1-RIPE", "roles": ["registrant"],
             "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name], ["kind", {}, "text", kind],
                                      ["adr", {"label": "Musterstrasse 1\n10115 Berlin"}, "text", ["", "", "", "", "", "", ""]]]]},
            {"objectClassName": "entity", "handle": "EB1-RIPE", "roles": ["technical", "administrative"]}
        ],
        "port43": "whois.ripe.net", "status": ["active"]
    })
}

/// The ISP's own allocation, registered to the ISP.
pub fn allocation(cidr: &str, isp: &str) -> Value {
    let mut doc = arin_reassigned(cidr, "NET-198-18-0-0-1", isp, None);
    doc["type"] = json!("DIRECT ALLOCATION");
    doc
}

impl RdapServer {
    pub fn start(networks: Vec<(&str, Reply)>) -> RdapServer {
        let networks: Vec<(IpNetwork, Reply)> = networks.into_iter().map(|(c, r)| (c.parse().unwrap(), r)).collect();
        let networks = Arc::new(networks);
        let requests: Arc<Mutex<HashMap<IpNetwork, Vec<Instant>>>> = Arc::default();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind the RDAP server");
        let addr: SocketAddr = listener.local_addr().unwrap();
        let seen = requests.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (networks, seen) = (networks.clone(), seen.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (networks, seen) = (networks.clone(), seen.clone());
                        async move { Ok::<_, Infallible>(answer(&networks, &seen, req).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        RdapServer { url: format!("http://{addr}/rdap"), requests, _runtime: runtime }
    }

    /// Requests made for the network `cidr`.
    pub fn requests_for(&self, cidr: &str) -> Vec<Instant> {
        let net: IpNetwork = cidr.parse().unwrap();
        self.requests.lock().unwrap().get(&net).cloned().unwrap_or_default()
    }
}

async fn answer(
    networks: &[(IpNetwork, Reply)],
    seen: &Mutex<HashMap<IpNetwork, Vec<Instant>>>,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let respond = |status: StatusCode, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", "application/rdap+json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let Some(ip) = req.uri().path().strip_prefix("/rdap/ip/").and_then(|a| a.parse::<IpAddr>().ok()) else {
        return respond(StatusCode::BAD_REQUEST, "{}".into());
    };
    let Some((net, reply)) = networks.iter().filter(|(n, _)| n.contains(ip)).max_by_key(|(n, _)| n.prefix()) else {
        return respond(StatusCode::NOT_FOUND, json!({"errorCode": 404, "title": "Not Found"}).to_string());
    };
    let count = {
        let mut seen = seen.lock().unwrap();
        let times = seen.entry(*net).or_default();
        times.push(Instant::now());
        times.len()
    };
    match reply {
        Reply::Doc(doc) => respond(StatusCode::OK, doc.to_string()),
        Reply::TooManyThen(secs, doc) if count == 1 => {
            let mut r = respond(StatusCode::TOO_MANY_REQUESTS, json!({"errorCode": 429}).to_string());
            r.headers_mut().insert("retry-after", secs.to_string().parse().unwrap());
            r
        }
        Reply::TooManyThen(_, doc) => respond(StatusCode::OK, doc.to_string()),
        Reply::ServerError => respond(StatusCode::INTERNAL_SERVER_ERROR, "oops".into()),
        Reply::Truncated => {
            let full = ripe_assigned(&net.to_string(), "TRUNC", "Truncated Org", "org").to_string();
            respond(StatusCode::OK, full[..full.len() / 2].to_string())
        }
        Reply::Slow(wait) => {
            tokio::time::sleep(*wait).await;
            respond(StatusCode::OK, ripe_assigned(&net.to_string(), "SLOW", "Slow Org", "org").to_string())
        }
    }
}
