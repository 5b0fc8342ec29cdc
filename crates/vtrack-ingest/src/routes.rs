//! Request handling: routing, the beacon endpoints, CORS.

use crate::{bot, limit, Ingest};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::hash::BuildHasher;
use std::net::IpAddr;
use vtrack_bus::PublishError;
use vtrack_edge::Client;
use vtrack_model::event::{Beacon, CompanyInfo, UrlParts, Utm};
use vtrack_model::time::now_ms;
use vtrack_model::EnrichedEvent;

pub(crate) type Resp = Response<Full<Bytes>>;

/// A 1×1 transparent GIF, the answer to the no-script pixel.
const PIXEL_GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// How far ahead of the server a client clock may be before its `ts` is ignored.
const MAX_CLOCK_AHEAD_MS: i64 = 60_000;

/// Most events one request may carry.
pub(crate) const MAX_BATCH: usize = 100;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub(crate) fn json(status: StatusCode, value: serde_json::Value) -> Resp {
    respond(status, "application/json", value.to_string())
}

pub(crate) fn error(status: StatusCode, message: impl std::fmt::Display) -> Resp {
    json(status, serde_json::json!({ "error": message.to_string() }))
}

/// Answers one request from `client`, the address the edge found for it at the connection.
pub(crate) async fn handle(ingest: &Ingest, client: Client, req: Request<Incoming>) -> Resp {
    let started = std::time::Instant::now();
    if let Some(extra) = ingest.extra.as_ref().filter(|x| x.claims(req.uri().path())) {
        let resp = extra.handle(req).await;
        observe(ingest, "dashboard", started);
        return resp;
    }
    let route = route_name(req.uri().path());
    let origin = req.headers().get(header::ORIGIN).cloned();
    if let Some(refused) = address_limit(ingest, client, &req) {
        return counted(ingest, route, started, refused);
    }
    let mut resp = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/healthz") => health(ingest),
        (&Method::GET, "/metrics") => metrics(ingest),
        (&Method::GET | &Method::HEAD, "/t.js") => {
            let mut r = respond(StatusCode::OK, "application/javascript; charset=utf-8", ingest.tracker_js.clone());
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            r
        }
        (&Method::OPTIONS, "/v1/events" | "/v1/p.gif") => preflight(ingest, req.headers()),
        (&Method::POST, "/v1/events") => post_events(ingest, client, req).await,
        (&Method::POST, "/v1/server/events") => crate::server_api::post(ingest, client, req).await,
        (&Method::GET, "/v1/p.gif") => pixel(ingest, client, &req).await,
        // A link checker's HEAD is answered like the image, and records nothing (HEAD must be safe).
        (&Method::HEAD, "/v1/p.gif") => pixel_gif(),
        (_, path @ ("/v1/events" | "/v1/p.gif" | "/v1/server/events" | "/t.js" | "/healthz" | "/metrics")) => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, format!("{} is not allowed here", req.method()));
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allowed_methods(path)));
            r
        }
        (&Method::GET | &Method::HEAD, path) => match ingest.static_files.get(path) {
            Some(file) => respond(StatusCode::OK, file.content_type, file.body.clone()),
            None => error(StatusCode::NOT_FOUND, format!("no such path {path:?}")),
        },
        _ => error(StatusCode::NOT_FOUND, "no such path"),
    };
    // Only the beacon endpoints are for other origins; /metrics and the rest are not to be read by pages.
    if route == "events" || route == "pixel" {
        allow_origin(ingest, origin.as_ref(), resp.headers_mut());
    }
    counted(ingest, route, started, resp)
}

/// Counts the answer by route and status and times it.
fn counted(ingest: &Ingest, route: &'static str, started: std::time::Instant, resp: Resp) -> Resp {
    ingest
        .metrics
        .requests
        .get_or_create(&crate::metrics::StatusLabels { route, status: resp.status().as_u16() })
        .inc();
    observe(ingest, route, started);
    resp
}

fn observe(ingest: &Ingest, route: &'static str, started: std::time::Instant) {
    ingest
        .metrics
        .request_duration
        .get_or_create(&crate::metrics::RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
}

/// The methods a path answers, for `Allow` on a 405.
fn allowed_methods(path: &str) -> &'static str {
    match path {
        "/v1/events" => "POST, OPTIONS",
        "/v1/server/events" => "POST",
        "/v1/p.gif" => "GET, HEAD, OPTIONS",
        "/metrics" => "GET",
        _ => "GET, HEAD",
    }
}

/// 429 for a beacon request past its address's bucket (`limits.per_address`), keyed by the client behind
/// the trusted proxies; `None` when it may pass or is not a beacon.
fn address_limit(ingest: &Ingest, client: Client, req: &Request<Incoming>) -> Option<Resp> {
    let beacon = matches!(
        (req.method(), req.uri().path()),
        (&Method::POST, "/v1/events" | "/v1/server/events") | (&Method::GET, "/v1/p.gif")
    );
    if !beacon || !ingest.per_address.enabled() {
        return None;
    }
    let wait = ingest.per_address.take(&ingest.address_key.of(client.ip), 1.0, std::time::Instant::now()).err()?;
    ingest.metrics.rate_limited.get_or_create(&crate::metrics::ScopeLabels { scope: "address" }).inc();
    ingest.metrics.drop_events("rate_limited", 1);
    Some(too_many(wait, "this address sends more than limits.per_address allows"))
}

/// 429 for events past their site's bucket (`limits.per_site`).
fn site_limit(ingest: &Ingest, beacons: &[Beacon]) -> Option<Resp> {
    if !ingest.per_site.enabled() {
        return None;
    }
    let now = std::time::Instant::now();
    let mut refused = None;
    for b in beacons {
        if let Err(wait) = ingest.per_site.take(&b.site, 1.0, now) {
            refused = Some(wait.max(refused.unwrap_or_default()));
        }
    }
    let wait = refused?;
    ingest.metrics.rate_limited.get_or_create(&crate::metrics::ScopeLabels { scope: "site" }).inc();
    ingest.metrics.drop_events("rate_limited", beacons.len());
    Some(too_many(wait, "this site receives more events than limits.per_site allows"))
}

pub(crate) fn too_many(wait: std::time::Duration, why: &str) -> Resp {
    let secs = limit::retry_after_secs(wait);
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, format!("{why}; retry in {secs} s"));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// A bounded label for metrics, whatever path was asked for.
fn route_name(path: &str) -> &'static str {
    match path {
        "/v1/events" => "events",
        "/v1/p.gif" => "pixel",
        "/v1/server/events" => "server",
        "/t.js" => "script",
        "/healthz" => "health",
        "/metrics" => "metrics",
        _ => "other",
    }
}

/// 200 when a beacon would be kept; 503 with `Retry-After` and the reasons while it would not.
fn health(ingest: &Ingest) -> Resp {
    let mut problems: Vec<String> = ingest.publisher.problem().map(|p| format!("bus: {p}")).into_iter().collect();
    problems.extend(ingest.health.problems());
    if problems.is_empty() {
        return respond(StatusCode::OK, "text/plain", "ok\n");
    }
    let mut r = respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", format!("not ready: {}\n", problems.join("; ")));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

fn metrics(ingest: &Ingest) -> Resp {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &ingest.registry) {
        Ok(()) => respond(StatusCode::OK, "application/openmetrics-text; version=1.0.0; charset=utf-8", text),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode metrics: {e}")),
    }
}

/// Whether a browser on `origin` may post at all (before the site is known).
fn origin_allowed_anywhere(ingest: &Ingest, origin: &str) -> bool {
    ingest.any_origin || ingest.sites.values().any(|s| s.origins.iter().any(|o| o == origin))
}

fn allow_origin(ingest: &Ingest, origin: Option<&HeaderValue>, resp: &mut HeaderMap) {
    resp.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        if origin.to_str().is_ok_and(|o| origin_allowed_anywhere(ingest, o)) {
            resp.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
    }
}

fn preflight(ingest: &Ingest, headers: &HeaderMap) -> Resp {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("");
    if !origin_allowed_anywhere(ingest, origin) {
        return error(StatusCode::FORBIDDEN, format!("origin {origin:?} is not allowed for any site"));
    }
    let mut r = respond(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, GET, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    r
}

/// What every event of one request shares.
pub(crate) struct RequestContext<'a> {
    /// The client's address as the edge found it (never walked again here).
    ip: IpAddr,
    user_agent: &'a str,
    origin: Option<&'a str>,
    /// For the pixel, the origin of the page that embeds it, from `Referer`: an `<img>` sends no `Origin`,
    /// so this is what tells a site's own page from a third party's. `None` for `/v1/events`.
    page: Option<Page>,
}

/// Where a pixel request says it comes from.
enum Page {
    /// The `Referer`'s origin (`scheme://host[:port]`).
    Origin(String),
    /// No `Referer` (a `Referrer-Policy: no-referrer` page, or a request made outside a page).
    Unknown,
}

impl<'a> RequestContext<'a> {
    fn new(client: Client, headers: &'a HeaderMap) -> Self {
        RequestContext {
            ip: client.ip,
            user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
            origin: headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()),
            page: None,
        }
    }

    /// A server-side API request's context: the client's address when the backend named it, no browser.
    pub(crate) fn server(ip: IpAddr) -> Self {
        RequestContext { ip, user_agent: "", origin: None, page: None }
    }

    /// A pixel request's context: its page's origin is read from `Referer`.
    fn pixel(client: Client, headers: &'a HeaderMap) -> Self {
        let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok());
        let page = referer.and_then(origin_of).map_or(Page::Unknown, Page::Origin);
        RequestContext { page: Some(page), ..RequestContext::new(client, headers) }
    }

    /// Why the events may not be recorded for `site`, when its `origins` say so: a browser's `Origin` must
    /// be one of them; a pixel without one must name one by its `Referer`.
    fn refusal(&self, site: &vtrack_model::config::SiteConfig) -> Option<String> {
        if site.origins.is_empty() {
            return None;
        }
        let allowed = |o: &str| site.origins.iter().any(|a| a == o);
        match (self.origin, &self.page) {
            (Some(origin), _) if !allowed(origin) => {
                Some(format!("origin {origin:?} may not post for site {:?}", site.key))
            }
            (Some(_), _) | (None, None) => None,
            (None, Some(Page::Origin(page))) if allowed(page) => None,
            (None, Some(Page::Origin(page))) => {
                Some(format!("a page on {page:?} (Referer) may not record for site {:?}", site.key))
            }
            (None, Some(Page::Unknown)) => Some(format!(
                "site {:?} takes the pixel only from its origins, and this request names none (no Origin or \
                 Referer: a Referrer-Policy of no-referrer sends none)",
                site.key
            )),
        }
    }
}

/// The origin (`scheme://host[:port]`, scheme and host in lower case) of an absolute http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host_port.is_empty()).then(|| format!("{scheme}://{}", host_port.to_ascii_lowercase()))
}

/// Reads a request's body, at most `[server] body_limit` bytes: 413 past it, said before reading when the
/// request declares its length.
pub(crate) async fn read_body(ingest: &Ingest, req: Request<Incoming>) -> Result<(http::request::Parts, Bytes), Resp> {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        ingest.metrics.drop_events("too_large", 1);
        error(StatusCode::PAYLOAD_TOO_LARGE, format!("body is over the {} byte limit", ingest.body_limit))
    };
    if declared.is_some_and(|n| n > ingest.body_limit) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    match Limited::new(body, ingest.body_limit).collect().await {
        Ok(collected) => Ok((parts, collected.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(error(StatusCode::BAD_REQUEST, format!("could not read the body: {e}"))),
    }
}

async fn post_events(ingest: &Ingest, client: Client, req: Request<Incoming>) -> Resp {
    let (parts, body) = match read_body(ingest, req).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let beacons = match parse_body(&body) {
        Ok(b) => b,
        Err(message) => {
            ingest.metrics.drop_events("invalid", 1);
            return error(StatusCode::BAD_REQUEST, message);
        }
    };
    let ctx = RequestContext::new(client, &parts.headers);
    accept(ingest, &ctx, beacons, |n| json(StatusCode::ACCEPTED, serde_json::json!({ "accepted": n }))).await
}

/// One object or an array of them; the first non-blank byte decides, so the body is parsed once.
fn parse_body(body: &[u8]) -> Result<Vec<Beacon>, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let parsed = match first {
        None => return Err("empty body: expected a JSON event object or an array of them".into()),
        Some(b'[') => serde_json::from_slice::<Vec<Beacon>>(body),
        Some(_) => serde_json::from_slice::<Beacon>(body).map(|b| vec![b]),
    };
    let beacons = parsed.map_err(|e| format!("malformed JSON: {e}"))?;
    if beacons.is_empty() {
        return Err("empty array: send at least one event".into());
    }
    if beacons.len() > MAX_BATCH {
        return Err(format!("{} events in one request; at most {MAX_BATCH}", beacons.len()));
    }
    Ok(beacons)
}

async fn pixel(ingest: &Ingest, client: Client, req: &Request<Incoming>) -> Resp {
    let mut b = Beacon { kind: "pageview".into(), ..Default::default() };
    for (k, v) in vtrack_model::event::form_pairs(req.uri().query().unwrap_or("")) {
        match k.as_str() {
            "site" => b.site = v,
            "type" => b.kind = v,
            "url" => b.url = v,
            "ref" => b.referrer = v,
            "title" => b.title = v,
            "vid" => b.vid = v,
            "eid" => b.eid = v,
            _ => {}
        }
    }
    if b.url.is_empty() {
        // An <img> in a page sends the page as its Referer.
        if let Some(r) = req.headers().get(header::REFERER).and_then(|v| v.to_str().ok()) {
            b.url = r.to_string();
        }
    }
    let ctx = RequestContext::pixel(client, req.headers());
    accept(ingest, &ctx, vec![b], |_| pixel_gif()).await
}

fn pixel_gif() -> Resp {
    let mut r = respond(StatusCode::OK, "image/gif", Bytes::from_static(PIXEL_GIF));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Validates, authorises, enriches and publishes; `ok` builds the success answer from the count taken, once
/// the bus holds the events as durably as it keeps them (on disk, or acknowledged by Kafka).
async fn accept(
    ingest: &Ingest,
    ctx: &RequestContext<'_>,
    mut beacons: Vec<Beacon>,
    ok: impl FnOnce(usize) -> Resp,
) -> Resp {
    let n = beacons.len();
    for (i, b) in beacons.iter_mut().enumerate() {
        if let Err(e) = b.validate() {
            ingest.metrics.drop_events("invalid", n);
            let at = if n > 1 { format!("event {i}: ") } else { String::new() };
            return error(StatusCode::BAD_REQUEST, format!("{at}{e}"));
        }
        b.normalize();
        let Some(site) = ingest.sites.get(&b.site) else {
            ingest.metrics.drop_events("forbidden", n);
            return error(StatusCode::FORBIDDEN, format!("unknown site key {:?}", b.site));
        };
        if let Some(why) = ctx.refusal(site) {
            ingest.metrics.drop_events("forbidden", n);
            return error(StatusCode::FORBIDDEN, why);
        }
    }
    if bot::is_bot(Some(ctx.user_agent)) {
        // Answered like any other request: telling bots they were spotted only teaches them to hide.
        ingest.metrics.drop_events("bot", n);
        return ok(n);
    }
    // The tracker saw the page driven by automation: answered like a bot, for the same reason. The drop is
    // tied to the browser beacon's `auto`, not to the request, so a caller that sends none is not affected.
    let automated = if ingest.keep_automated { 0 } else { beacons.iter().filter(|b| b.automated()).count() };
    if automated > 0 {
        ingest.metrics.drop_events("automation", automated);
        beacons.retain(|b| !b.automated());
        if beacons.is_empty() {
            return ok(n);
        }
    }
    if let Some(refused) = site_limit(ingest, &beacons) {
        return refused;
    }
    let company = ingest.companies.company(ctx.ip);
    let now = now_ms();
    let events: Vec<EnrichedEvent> = beacons.into_iter().map(|b| enrich(ingest, ctx, &company, now, b)).collect();
    for e in &events {
        ingest.companies.seen(ctx.ip, &company, &e.site, &e.visitor_id, e.ts_ms);
    }
    publish(ingest, events, || ok(n)).await
}

/// Hands `events` to the bus and answers `ok()` once it holds them as durably as it keeps them (on disk, or
/// acknowledged by Kafka); 503 with `Retry-After` when it cannot.
pub(crate) async fn publish(ingest: &Ingest, events: Vec<EnrichedEvent>, ok: impl FnOnce() -> Resp) -> Resp {
    let kept = events.len();
    let published = ingest.publisher.publish_all(events).await;
    ingest.metrics.queue_depth.set(ingest.publisher.depth() as i64);
    match published {
        Ok(()) => {
            ingest.metrics.accepted.inc_by(kept as u64);
            ok()
        }
        Err(e) => {
            let reason = match e {
                PublishError::Full => "full",
                PublishError::Closed => "closed",
                PublishError::Unavailable => "unavailable",
            };
            ingest.metrics.drop_events(reason, kept);
            let mut r = error(StatusCode::SERVICE_UNAVAILABLE, format!("{e}; retry shortly"));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

pub(crate) fn enrich(
    ingest: &Ingest,
    ctx: &RequestContext<'_>,
    company: &CompanyInfo,
    now: i64,
    b: Beacon,
) -> EnrichedEvent {
    // A client clock may lag (queued events, a laptop waking up) but an event cannot come from the future.
    let ts_ms = match b.ts {
        Some(ts) if ts >= now - ingest.clock_window_ms && ts <= now + MAX_CLOCK_AHEAD_MS => ts.min(now),
        _ => now,
    };
    let (path, utm) = match UrlParts::parse(&b.url) {
        Some(p) => (p.path.to_string(), Utm::from_query(p.query)),
        None => (String::new(), Utm::default()),
    };
    let visitor_id = if b.vid.is_empty() {
        // Cookieless: a visitor id that lives one day and cannot be traced back to the address.
        let day = now.div_euclid(86_400_000);
        let h = ingest.cookieless_key.hash_one((day, &b.site, ctx.ip, ctx.user_agent));
        format!("d-{h:016x}")
    } else {
        b.vid
    };
    EnrichedEvent {
        event_id: if b.eid.is_empty() { uuid::Uuid::now_v7().to_string() } else { b.eid },
        site: b.site,
        ts_ms,
        received_ms: now,
        kind: b.kind,
        visitor_id,
        url: b.url,
        path,
        referrer: vtrack_model::event::kept_referrer(b.referrer),
        title: b.title,
        utm,
        eng_ms: b.eng_ms.unwrap_or(0),
        email: b.email.unwrap_or_default(),
        props: b.props.map(|p| p.to_string()).unwrap_or_default(),
        company: company.clone(),
        // Six bits of a hash of the visitor's /24, never the address: how processing counts a network's
        // spread (`vtrack_model::evidence`).
        prefix_bucket: Some(vtrack_model::evidence::prefix_bucket(ctx.ip)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_body;
    use proptest::prelude::*;

    proptest! {
        /// Any body is a list of beacons or a reason, never a panic; whatever parses validates or says why.
        #[test]
        fn any_body_parses_or_is_refused(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(beacons) = parse_body(&body) {
                for b in beacons {
                    let _ = b.validate();
                }
            }
        }

        /// Bodies that look like beacons, with arbitrary text in every field.
        #[test]
        fn beacon_shaped_bodies_validate_or_are_refused(
            fields in proptest::collection::vec(("[a-z_]{1,6}", ".{0,80}"), 0..8),
            ts in any::<i64>(),
            eng in any::<u64>(),
        ) {
            let mut obj = serde_json::Map::new();
            for (k, v) in fields {
                obj.insert(k, serde_json::Value::String(v));
            }
            obj.insert("ts".into(), ts.into());
            obj.insert("eng_ms".into(), eng.into());
            let body = serde_json::Value::Object(obj).to_string();
            if let Ok(beacons) = parse_body(body.as_bytes()) {
                for b in beacons {
                    let _ = b.validate();
                }
            }
        }
    }

    #[test]
    fn a_referers_origin() {
        use super::origin_of;
        assert_eq!(origin_of("https://WWW.Example.com/p?q=1").as_deref(), Some("https://www.example.com"));
        assert_eq!(origin_of("http://w.example:8080").as_deref(), Some("http://w.example:8080"));
        assert_eq!(origin_of("https://u:p@w.example/x").as_deref(), Some("https://w.example"));
        assert_eq!(origin_of("android-app://x/"), None);
        assert_eq!(origin_of("/relative"), None);
    }

    #[test]
    fn bodies() {
        assert_eq!(parse_body(br#" {"site":"a"}"#).unwrap().len(), 1);
        assert_eq!(parse_body(br#"[{"site":"a"},{"site":"b"}]"#).unwrap().len(), 2);
        assert!(parse_body(b"  ").unwrap_err().contains("empty body"));
        assert!(parse_body(b"[]").unwrap_err().contains("empty array"));
        assert!(parse_body(b"{\"site\":").unwrap_err().starts_with("malformed JSON"));
        assert!(parse_body(b"\"just a string\"").unwrap_err().starts_with("malformed JSON"));
        let many = format!("[{}]", vec!["{}"; 101].join(","));
        assert!(parse_body(many.as_bytes()).unwrap_err().contains("at most 100"));
    }
}
