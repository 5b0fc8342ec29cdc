//! The dashboard and its JSON API, served on ingest's address: the one screen marketing and sales share.
//!
//! Reads come from the same store as `vtrack sql`, through `vtrack_store::dashboard::DashboardReads`, as
//! typed rows; the only write is sales' status of an account. The JSON is built here alone ([`answers`]).
//! Every route but the static assets needs a configured token, a session or a trusted proxy's user, which
//! makes the request's [`Identity`] (see [`auth`]); writes need a role that may write and are recorded under
//! the identity's name. Every answer passes the browser rules of [`guard`] (host names, writes, headers).
//! `API.md` documents the routes.

mod answers;
pub use answers::ReceiverNames;
pub mod auth;
mod csv_export;
pub mod guard;

use auth::{Access, Identity, SignIn, Verdict};
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use vtrack_model::time::{format_ms, now_ms};
use vtrack_model::IdSource;
use vtrack_store::dashboard::{AccountFilter, DashboardError, DashboardReads, OwnerUpdate, Status, StatusUpdate};

type Resp = Response<Full<Bytes>>;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
/// The API described as OpenAPI 3.0, written by hand beside API.md; `crates/vtrack/tests/openapi.rs` checks
/// every operation and answer of the real server against it.
const OPENAPI_JSON: &str = include_str!("../assets/openapi.json");

/// Largest status update body.
const BODY_LIMIT: usize = 16 * 1024;
/// Most accounts one list request returns.
const MAX_ACCOUNTS: usize = 10_000;

/// Who may enter and from where: sign-ins, the host names answered, and whether the dashboard is reached
/// over https (`[dashboard] public_url`), which marks the session cookie `Secure`.
pub struct Security {
    pub sign_in: SignIn,
    pub hosts: guard::Hosts,
    pub https: bool,
}

/// The dashboard's state: its store (either one, through the one reading trait), who may enter, which
/// sites exist.
pub struct Dashboard<R> {
    store: R,
    security: Security,
    sites: Vec<String>,
    /// Stage names, lowest first, as configured.
    stages: Vec<String>,
    /// HTML for the page footer, asked on each page load (see [`Dashboard::with_footer`]).
    footer: Option<Box<dyn Fn() -> String + Send + Sync>>,
    /// The configured owners' names: the only ones an account can be given to.
    owners: Vec<String>,
    /// `[sla] hot_followup` and the stage it applies to (the highest), when a deadline is agreed.
    followup: Option<(vtrack_model::schedule::Followup, String)>,
    /// The receivers' names, which deliveries are shown by instead of their URLs.
    receivers: ReceiverNames,
}

impl<R: DashboardReads> Dashboard<R> {
    /// `sites` are the configured site keys, the first being the default; `stages` the stage names, lowest
    /// first.
    pub fn new(store: R, security: Security, sites: Vec<String>, stages: Vec<String>) -> Dashboard<R> {
        Dashboard {
            store,
            security,
            sites,
            stages,
            footer: None,
            owners: Vec::new(),
            followup: None,
            receivers: ReceiverNames::default(),
        }
    }

    /// The configured receivers of alerts, `(url, name)`: an account's deliveries name theirs.
    pub fn with_receivers(mut self, receivers: ReceiverNames) -> Dashboard<R> {
        self.receivers = receivers;
        self
    }

    /// The follow-up deadline (`[sla] hot_followup`) of accounts at `top_stage`: accounts gain
    /// `followup_due` and `overdue`, and the list puts overdue accounts first.
    pub fn with_followup(mut self, followup: vtrack_model::schedule::Followup, top_stage: String) -> Dashboard<R> {
        self.followup = Some((followup, top_stage));
        self
    }

    /// Adds `followup_due` (UTC text, or null when no follow-up is pending) and `overdue` (seconds late,
    /// 0 when not) to an account's JSON.
    fn with_deadline(&self, a: &vtrack_store::dashboard::AccountRow, mut item: Value, now: i64) -> Value {
        use vtrack_store::dashboard::{due_ms, overdue_secs};
        let (due, late) = match (&self.followup, a.hot_since) {
            (Some((d, top)), Some(hot)) => match overdue_secs(hot * 1000, a.status, &a.stage, top, d, now) {
                Some(late) => (json!(format_ms(due_ms(hot * 1000, d))), late),
                None => (Value::Null, 0),
            },
            _ => (Value::Null, 0),
        };
        if let Some(o) = item.as_object_mut() {
            o.insert("followup_due".into(), due);
            o.insert("overdue".into(), json!(late));
        }
        item
    }

    /// The owners (`[[owners]]` names) accounts can be reassigned to.
    pub fn with_owners(mut self, owners: Vec<String>) -> Dashboard<R> {
        self.owners = owners;
        self
    }

    /// Shows `footer()`, an HTML fragment the caller has escaped, at the foot of the page when it is not
    /// empty: the IP data's licences ask for credit wherever the data is used. It is called on each page
    /// load, so data that changes while the process runs shows without a restart.
    pub fn with_footer(mut self, footer: impl Fn() -> String + Send + Sync + 'static) -> Dashboard<R> {
        self.footer = Some(Box::new(footer));
        self
    }

    /// The page, with the footer in place of its marker.
    fn page(&self) -> String {
        let footer = self.footer.as_ref().map(|f| f()).unwrap_or_default();
        if footer.is_empty() {
            // No marker left behind: the page is the committed file with an empty footer.
            return INDEX_HTML.replace("<!--vtrack:footer-->", "");
        }
        INDEX_HTML.replace(
            "<!--vtrack:footer-->",
            &format!("<footer class=\"credits\" data-testid=\"credits\">{footer}</footer>"),
        )
    }

    /// Every answer, with the headers of [`guard::secure`].
    async fn route(&self, req: Request<Incoming>) -> Resp {
        let assets = req.uri().path().starts_with("/ui/");
        let mut r = if self.security.hosts.allows(req.headers()) {
            self.route_allowed(req).await
        } else {
            error(
                StatusCode::FORBIDDEN,
                "this host name is not the dashboard's: open it by a loopback address or [dashboard] public_url",
            )
        };
        guard::secure(r.headers_mut(), !assets);
        r
    }

    async fn route_allowed(&self, req: Request<Incoming>) -> Resp {
        let path = req.uri().path().to_string();
        let query: HashMap<String, String> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        let client = req.extensions().get::<vtrack_edge::Client>().copied();
        let client_ip = client.map(|c| c.ip).unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let proxied = client.is_some_and(|c| c.proxied);
        match (req.method(), path.as_str()) {
            (&Method::GET | &Method::HEAD, "/ui/app.js") => asset("application/javascript; charset=utf-8", APP_JS),
            (&Method::GET | &Method::HEAD, "/ui/app.css") => asset("text/css; charset=utf-8", APP_CSS),
            (&Method::GET | &Method::HEAD, p) if p.starts_with("/ui/") => {
                error(StatusCode::NOT_FOUND, format!("no such file {p:?}"))
            }
            (&Method::GET | &Method::HEAD, "/") => self.index(&req, &query, client),
            (_, p) if p.starts_with("/api/") => {
                if guard::from_another_site(req.headers()) {
                    return error(StatusCode::FORBIDDEN, "the API answers the dashboard's own pages only");
                }
                let who = match self.security.sign_in.check(req.headers(), client_ip, proxied) {
                    Verdict::Allowed(who) => who,
                    Verdict::Throttled(wait) => return throttled(wait),
                    Verdict::Missing | Verdict::Wrong => return error(StatusCode::UNAUTHORIZED, self.refusal()),
                };
                if req.method() == Method::POST {
                    if let Some((status, why)) = guard::write_refusal(req.headers()) {
                        return error(status, why);
                    }
                    if !who.role.can_write() {
                        return error(
                            StatusCode::FORBIDDEN,
                            format!(
                                "{} is a {}: only sales and admin may change accounts",
                                name_of(&who),
                                who.role.as_str()
                            ),
                        );
                    }
                }
                let get = matches!(*req.method(), Method::GET | Method::HEAD);
                match path.as_str() {
                    // Not about one site: who they are (with the sites they may see), and the API's description.
                    "/api/me" if get => {
                        return json_ok(answers::me(who.name.as_deref(), who.role, &self.visible(&who)))
                    }
                    "/api/openapi.json" if get => return asset("application/json", OPENAPI_JSON),
                    _ => {}
                }
                let site = match self.site(&query, &who) {
                    Ok(s) => s,
                    Err((status, why)) => return error(status, why),
                };
                self.api(req, &path, &query, site, &who).await
            }
            _ => with_allow(error(StatusCode::METHOD_NOT_ALLOWED, "use GET"), "GET, HEAD"),
        }
    }

    fn refusal(&self) -> &'static str {
        match self.security.sign_in.access() {
            Access::Closed => {
                "the dashboard needs [dashboard] token (or [[dashboard.users]]) in the config file when listening \
                 beyond loopback"
            }
            _ => "a token is required: send Authorization: Bearer TOKEN, or open /?token=TOKEN",
        }
    }

    fn index(
        &self,
        req: &Request<Incoming>,
        query: &HashMap<String, String>,
        client: Option<vtrack_edge::Client>,
    ) -> Resp {
        let client_ip = client.map(|c| c.ip).unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let mut wrong = "";
        if let Some(t) = query.get("token").filter(|_| matches!(self.security.sign_in.access(), Access::Users(_))) {
            match self.security.sign_in.sign_in(t, client_ip) {
                Ok(session) => {
                    let mut r = respond(StatusCode::SEE_OTHER, "text/plain", "");
                    let secure = if self.security.https || client.is_some_and(|c| c.https) { "; Secure" } else { "" };
                    let cookie = format!(
                        "{}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                        auth::COOKIE,
                        self.security.sign_in.ttl().as_secs()
                    );
                    if let Ok(v) = HeaderValue::from_str(&cookie) {
                        r.headers_mut().insert(header::SET_COOKIE, v);
                    }
                    // Keep a `site` the link carried; drop the token from the address bar.
                    let to = match query.get("site") {
                        Some(site) => {
                            format!("/?site={}", form_urlencoded::byte_serialize(site.as_bytes()).collect::<String>())
                        }
                        None => "/".to_string(),
                    };
                    if let Ok(v) = HeaderValue::from_str(&to) {
                        r.headers_mut().insert(header::LOCATION, v);
                    }
                    return r;
                }
                Err(Verdict::Throttled(wait)) => return throttled(wait),
                Err(_) => wrong = "<p class=err>That token is not right.</p>",
            }
        }
        let proxied = client.is_some_and(|c| c.proxied);
        if wrong.is_empty()
            && matches!(self.security.sign_in.check(req.headers(), client_ip, proxied), Verdict::Allowed(_))
        {
            return respond(StatusCode::OK, "text/html; charset=utf-8", self.page());
        }
        let page = format!(
            "<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\">\
             <title>vtrack</title><link rel=stylesheet href=/ui/app.css>\
             <body class=login><h1>vtrack</h1><p>{}</p>{wrong}<form method=get action=/><input name=token \
             type=password placeholder=token autofocus> <button>Open</button></form>",
            self.refusal()
        );
        respond(StatusCode::UNAUTHORIZED, "text/html; charset=utf-8", page)
    }

    /// The sites `who` may see, in the config's order.
    fn visible(&self, who: &Identity) -> Vec<String> {
        self.sites.iter().filter(|s| who.may_see(s)).cloned().collect()
    }

    /// The site a request is about: `?site=`, else the first site `who` may see. A person limited to some
    /// sites gets 403 for any other (known or not, so the answer does not tell which keys exist); for
    /// everyone else an unknown key is a 400.
    fn site(&self, query: &HashMap<String, String>, who: &Identity) -> Result<String, (StatusCode, String)> {
        match query.get("site").filter(|s| !s.is_empty()) {
            Some(s) if !who.may_see(s) => Err((
                StatusCode::FORBIDDEN,
                format!("{} may not see site {s:?} ([[dashboard.users]] sites)", name_of(who)),
            )),
            Some(s) if self.sites.contains(s) => Ok(s.clone()),
            Some(s) => Err((StatusCode::BAD_REQUEST, format!("unknown site {s:?}"))),
            None => self
                .visible(who)
                .into_iter()
                .next()
                .ok_or_else(|| (StatusCode::FORBIDDEN, "no configured site is open to this person".to_string())),
        }
    }

    async fn api(
        &self,
        req: Request<Incoming>,
        path: &str,
        query: &HashMap<String, String>,
        site: String,
        who: &Identity,
    ) -> Resp {
        let rest = &path["/api/".len()..];
        // Unix ms, the one unit the store's reads take.
        let now = now_ms();
        // HEAD is answered as GET is; hyper sends the head (Content-Length included) and leaves the body out.
        let method = if req.method() == Method::HEAD { Method::GET } else { req.method().clone() };
        match (method, rest.split('/').collect::<Vec<_>>().as_slice()) {
            (Method::GET, ["accounts"]) => {
                let filter = match account_filter(query) {
                    Ok(f) => f,
                    Err(e) => return error(StatusCode::BAD_REQUEST, e),
                };
                let csv = query.get("format").is_some_and(|f| f == "csv");
                match self.store.accounts(&site, &filter, now).await.map_err(fail) {
                    Ok(accounts) => {
                        let mut items: Vec<Value> =
                            accounts.iter().map(|a| self.with_deadline(a, answers::account_item(a), now)).collect();
                        // Overdue first, the latest first; the rest keep the store's order (score).
                        items.sort_by_key(|v| std::cmp::Reverse(v["overdue"].as_i64().unwrap_or(0)));
                        if csv {
                            csv_export::accounts(&site, &items)
                        } else {
                            json_ok(answers::accounts(&site, &self.stages, &items))
                        }
                    }
                    Err(e) => e,
                }
            }
            (Method::GET, ["accounts", domain]) => {
                let domain = decode(domain);
                match self.store.account(&site, &domain, now).await.map_err(fail) {
                    Ok(Some(detail)) => {
                        let admin = who.role == vtrack_model::users::Role::Admin;
                        let mut v = answers::account_detail(&detail, &self.receivers, admin);
                        v["account"] = self.with_deadline(&detail.account, v["account"].take(), now);
                        json_ok(v)
                    }
                    Ok(None) => error(StatusCode::NOT_FOUND, format!("no account {domain:?} on this site")),
                    Err(e) => e,
                }
            }
            (Method::POST, ["accounts", domain, "status"]) => {
                let domain = decode(domain);
                let update = match read_status(req, who).await {
                    Ok(u) => u,
                    Err(e) => return error(StatusCode::BAD_REQUEST, e),
                };
                // Stamped when the body has arrived, not when the request began.
                match self.store.set_status(&site, &domain, &update, now_ms()).await.map_err(fail) {
                    Ok(Some(change)) => json_ok(answers::status(&change)),
                    Ok(None) => error(StatusCode::NOT_FOUND, format!("no account {domain:?} on this site")),
                    Err(e) => e,
                }
            }
            (Method::POST, ["accounts", domain, "owner"]) => {
                let domain = decode(domain);
                let update = match read_owner(req, &self.owners, who).await {
                    Ok(u) => u,
                    Err(e) => return error(StatusCode::BAD_REQUEST, e),
                };
                match self.store.set_owner(&site, &domain, &update, now_ms()).await.map_err(fail) {
                    Ok(Some(change)) => json_ok(answers::owner_change(&change)),
                    Ok(None) => error(StatusCode::NOT_FOUND, format!("no account {domain:?} on this site")),
                    Err(e) => e,
                }
            }
            (Method::GET, ["funnel"]) => {
                use vtrack_process::funnel::{funnel, Period};
                let (name, period) = match query.get("period").map(String::as_str) {
                    None | Some("week") => ("week", Period::Week),
                    Some("month") => ("month", Period::Month),
                    Some(_) => return error(StatusCode::BAD_REQUEST, "period must be week or month"),
                };
                if let Some(f) = query.get("format").filter(|f| *f != "csv" && *f != "json") {
                    return error(StatusCode::BAD_REQUEST, format!("format {f:?}: use json or csv"));
                }
                match self.store.funnel_facts(&site).await.map_err(fail) {
                    Ok(facts) => {
                        let base = self.stages.first().map(String::as_str).unwrap_or_default();
                        let followup = self.followup.as_ref().map(|(d, _)| d);
                        let rows = answers::funnel_rows(&funnel(&facts, period, base, followup));
                        if query.get("format").is_some_and(|f| f == "csv") {
                            csv_export::funnel(&site, name, &rows)
                        } else {
                            let hours = followup.map(|d| d.within.as_secs_f64() / 3600.0);
                            json_ok(answers::funnel(&site, name, hours, rows))
                        }
                    }
                    Err(e) => e,
                }
            }
            (Method::GET, ["campaigns"]) => match self.store.campaigns(&site).await.map_err(fail) {
                Ok(campaigns) => json_ok(answers::campaigns(&site, &self.stages, &campaigns)),
                Err(e) => e,
            },
            (Method::GET, ["live"]) => {
                let minutes = match query.get("minutes").map(|m| m.parse::<i64>()) {
                    None => 5,
                    Some(Ok(m)) if (1..=1440).contains(&m) => m,
                    Some(_) => return error(StatusCode::BAD_REQUEST, "minutes must be 1 to 1440"),
                };
                let since = now - minutes * 60_000;
                match self.store.live(&site, since).await.map_err(fail) {
                    Ok(visits) => json_ok(answers::live(&site, &format_ms(since), &visits)),
                    Err(e) => e,
                }
            }
            (Method::GET, _) | (Method::POST, _) => error(StatusCode::NOT_FOUND, format!("no such API path {path:?}")),
            _ => with_allow(
                error(StatusCode::METHOD_NOT_ALLOWED, "use GET, or POST for a status or an owner"),
                "GET, HEAD, POST",
            ),
        }
    }
}

impl<R: DashboardReads + 'static> vtrack_edge::ExtraRoutes for Dashboard<R> {
    fn claims(&self, path: &str) -> bool {
        path == "/" || path.starts_with("/api/") || path.starts_with("/ui/")
    }

    fn handle(&self, req: Request<Incoming>) -> Pin<Box<dyn Future<Output = Resp> + Send + '_>> {
        Box::pin(self.route(req))
    }
}

fn account_filter(q: &HashMap<String, String>) -> Result<AccountFilter, String> {
    let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let limit = match q.get("limit") {
        None => 1000,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_ACCOUNTS).contains(&n) => n,
            _ => return Err(format!("limit must be 1 to {MAX_ACCOUNTS}")),
        },
    };
    let status = match get("status").as_str() {
        "" => None,
        s => Some(s.parse::<Status>().map_err(|e| e.to_string())?),
    };
    if let Some(f) = q.get("format").filter(|f| *f != "csv" && *f != "json") {
        return Err(format!("format {f:?}: use json or csv"));
    }
    let identified_by = get("identified_by");
    if !identified_by.is_empty() && identified_by.parse::<IdSource>().is_err() {
        let names: Vec<&str> = IdSource::ALL.iter().map(|s| s.as_str()).filter(|s| !s.is_empty()).collect();
        return Err(format!("identified_by must be one of {}", names.join(", ")));
    }
    Ok(AccountFilter {
        identified_by,
        stage: get("stage"),
        class: get("class"),
        country: get("country"),
        campaign: get("campaign"),
        status,
        text: get("q"),
        limit,
    })
}

/// A write's JSON body, at most [`BODY_LIMIT`] bytes.
async fn read_json(req: Request<Incoming>) -> Result<Value, String> {
    let body = Limited::new(req.into_body(), BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("cannot read the body (at most {BODY_LIMIT} bytes): {e}"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("the body must be JSON: {e}"))
}

/// How an error names a person.
fn name_of(who: &Identity) -> &str {
    who.name.as_deref().unwrap_or("this token")
}

/// Who made a write: the signed-in person; the body's `by` is ignored then, so no one can write in another's
/// name. Only the shared `[dashboard] token` and an open dashboard (loopback, no token), which name no one,
/// take `by`, else `dashboard`, as before there were people.
fn written_by(v: &Value, who: &Identity) -> Result<String, String> {
    if let Some(name) = &who.name {
        return Ok(name.clone());
    }
    match &v["by"] {
        Value::Null => Ok("dashboard".into()),
        Value::String(s) if s.chars().count() <= 100 => {
            let s = s.trim();
            Ok(if s.is_empty() { "dashboard".into() } else { s.to_string() })
        }
        Value::String(_) => Err("by is longer than 100 characters".into()),
        _ => Err("by must be a string".into()),
    }
}

/// Reads `{"owner", "by"?}`; the owner must be one of `owners`.
async fn read_owner(req: Request<Incoming>, owners: &[String], who: &Identity) -> Result<OwnerUpdate, String> {
    let v = read_json(req).await?;
    let owner = v["owner"].as_str().unwrap_or("");
    if !owners.iter().any(|o| o == owner) {
        return Err(if owners.is_empty() {
            "no owners are configured ([[owners]])".to_string()
        } else {
            format!("owner must be one of {}", owners.join(", "))
        });
    }
    Ok(OwnerUpdate { owner: owner.to_string(), set_by: written_by(&v, who)? })
}

/// Reads `{"status", "note"?, "by"?}` and checks the status.
async fn read_status(req: Request<Incoming>, who: &Identity) -> Result<StatusUpdate, String> {
    let v = read_json(req).await?;
    let status: Status =
        v["status"].as_str().unwrap_or("").parse().map_err(|e: vtrack_model::status::UnknownStatus| e.to_string())?;
    let text = |k: &str, max: usize| -> Result<String, String> {
        match &v[k] {
            Value::Null => Ok(String::new()),
            Value::String(s) if s.chars().count() <= max => Ok(s.trim().to_string()),
            Value::String(_) => Err(format!("{k} is longer than {max} characters")),
            _ => Err(format!("{k} must be a string")),
        }
    };
    Ok(StatusUpdate { status, note: text("note", 2000)?, set_by: written_by(&v, who)? })
}

fn decode(segment: &str) -> String {
    form_urlencoded::parse(format!("d={segment}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// A failed store call as the API answers it.
fn fail(e: DashboardError) -> Resp {
    tracing::error!(error = %e, "dashboard: store query failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, e)
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn with_allow(mut r: Resp, methods: &'static str) -> Resp {
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(methods));
    r
}

/// 429 for an address past its failed sign-ins.
fn throttled(wait: std::time::Duration) -> Resp {
    let secs = vtrack_edge::limit::retry_after_secs(wait);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many wrong tokens from this address (limits.sign_in_failures); retry in {secs} s"),
    );
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn asset(content_type: &'static str, body: &'static str) -> Resp {
    respond(StatusCode::OK, content_type, body)
}

fn json_ok(v: Value) -> Resp {
    respond(StatusCode::OK, "application/json", v.to_string())
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Resp {
    respond(status, "application/json", json!({ "error": message.to_string() }).to_string())
}
