//! The server-side API (`POST /v1/server/events`): what a site's backend knows for sure and a browser may not
//! send — the email a form was filled with, a conversion (a trial started, a demo booked), a page it rendered.
//!
//! A backend authenticates with one of its site's `secrets` (`Authorization: Bearer`; several per site, so
//! one can be rotated). Its events are validated like beacons ([`ServerEvent::into_beacon`]) and must name a
//! visitor id. They are not a browser's: no bot or automation filter, no origin check, and the backend's own
//! address is never resolved — an event names the client's address (`ip`) when the backend saw the client's
//! request, and only then is an address resolved; else the event joins the visitor's session, or counts by
//! her identity, like any other of her events. Each secret has its own bucket (`[limits] per_secret`); a
//! wrong secret counts against the caller's address like any beacon request.

use std::net::IpAddr;

use http::header::{self, HeaderValue};
use http::{Request, StatusCode};
use hyper::body::Incoming;
use vtrack_edge::{bearer_tokens, same_secret, Client};
use vtrack_model::event::{CompanyInfo, ServerEvent};
use vtrack_model::time::now_ms;
use vtrack_model::EnrichedEvent;

use crate::routes::{enrich, error, json, publish, read_body, too_many, RequestContext, Resp, MAX_BATCH};
use crate::Ingest;

/// Which site and which of its secrets a request authenticated with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SecretKey {
    pub site: String,
    pub index: usize,
}

/// The site and secret of the request's bearer token, comparing every configured secret in constant time.
fn authenticate(ingest: &Ingest, req: &Request<Incoming>) -> Option<SecretKey> {
    let mut found = None;
    for token in bearer_tokens(req.headers()) {
        for site in ingest.sites.values() {
            for (index, secret) in site.secrets.iter().enumerate() {
                if same_secret(token, secret) {
                    found = Some(SecretKey { site: site.key.clone(), index });
                }
            }
        }
    }
    found
}

pub(crate) async fn post(ingest: &Ingest, client: Client, req: Request<Incoming>) -> Resp {
    let Some(key) = authenticate(ingest, &req) else {
        ingest.metrics.drop_events("unauthorized", 1);
        let mut r = error(StatusCode::UNAUTHORIZED, "a site secret is required: Authorization: Bearer SECRET");
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    let (_, body) = match read_body(ingest, req).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let events = match parse(&body, &key.site) {
        Ok(events) => events,
        Err(message) => {
            ingest.metrics.drop_events("invalid", 1);
            return error(StatusCode::BAD_REQUEST, message);
        }
    };
    if ingest.per_secret.enabled() {
        if let Err(wait) = ingest.per_secret.take(&key, events.len() as f64, std::time::Instant::now()) {
            ingest.metrics.drop_events("rate_limited", events.len());
            return too_many(wait, "this secret sends more events than limits.per_secret allows");
        }
    }
    let n = events.len();
    let now = now_ms();
    let enriched: Vec<EnrichedEvent> = events
        .into_iter()
        .map(|(beacon, ip)| {
            let company = ip.map(|ip| ingest.companies.company(ip)).unwrap_or_else(CompanyInfo::default);
            // The cookieless id is never made here (`vid` is required), so the context's address only
            // matters for enrichment, and is the client's when the backend named it.
            let ctx = RequestContext::server(ip.unwrap_or(client.ip));
            let e = enrich(ingest, &ctx, &company, now, beacon);
            if let Some(ip) = ip {
                ingest.companies.seen(ip, &company, &e.site, &e.visitor_id, e.ts_ms);
            }
            e
        })
        .collect();
    publish(ingest, enriched, || json(StatusCode::ACCEPTED, serde_json::json!({ "accepted": n }))).await
}

/// One object or an array of them, each validated for `site`; one bad event refuses the request.
fn parse(body: &[u8], site: &str) -> Result<Vec<(vtrack_model::Beacon, Option<IpAddr>)>, String> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let parsed = match first {
        None => return Err("empty body: expected a JSON event object or an array of them".into()),
        Some(b'[') => serde_json::from_slice::<Vec<ServerEvent>>(body),
        Some(_) => serde_json::from_slice::<ServerEvent>(body).map(|e| vec![e]),
    };
    let events = parsed.map_err(|e| format!("malformed event: {e}"))?;
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(format!("send 1 to {MAX_BATCH} events in one request"));
    }
    let n = events.len();
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            e.into_beacon(site).map_err(|why| if n > 1 { format!("event {i}: {why}") } else { why.to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn events_are_validated_for_the_secrets_site() {
        let ok = parse(br#"{"type":"trial_started","vid":"v1","props":{"plan":"pro"}}"#, "s1").unwrap();
        assert_eq!((ok[0].0.site.as_str(), ok[0].0.kind.as_str(), ok[0].1), ("s1", "trial_started", None));
        let view = parse(br#"[{"type":"pageview","vid":"v1","url":"/pricing","ip":"192.0.2.7"}]"#, "s1").unwrap();
        assert_eq!(view[0].1, Some("192.0.2.7".parse().unwrap()));
        for (body, says) in [
            (r#"{"type":"trial_started"}"#, "vid"),
            (r#"{"type":"x","vid":"v1","site":"s2"}"#, "another site"),
            (r#"{"type":"pageview","vid":"v1","ip":"nope"}"#, "not an IP address"),
            (r#"{"type":"identify","vid":"v1"}"#, "email"),
            (r#"{"type":"x","vid":"v1","auto":1}"#, "unknown field"),
            (r#"[]"#, "1 to 100"),
        ] {
            let e = parse(body.as_bytes(), "s1").unwrap_err();
            assert!(e.contains(says), "{body}: {e}");
        }
    }
}
