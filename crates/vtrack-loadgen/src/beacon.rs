//! Beacons that look like the tracker's, made before the run so sending one costs a copy.
//!
//! Ingest's work depends on what it is sent: bot filtering reads the user agent, the resolver the address,
//! validation every field, processing the URL, its UTM tags and the visitor. So the traffic is a stable
//! pool of visitors (each with one address, one browser and one e-mail) producing the tracker's mix of
//! page views, engagement and identify events on a plausible B2B site. Request bodies are rendered into
//! templates once; at send time only the event ids (unique per run, so the store never sees a duplicate)
//! and the client timestamps are written into them.

use std::net::Ipv4Addr;

use bytes::Bytes;
use hyper::header::HeaderValue;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

use crate::ips::IpRanges;

/// The site every URL is on.
pub(crate) const ORIGIN: &str = "https://www.example.com";

/// Desktop browsers as they identify themselves; nothing here may look automated, since ingest drops bots.
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
];

/// Pages with their titles and how often they are visited (relative weights).
const PAGES: &[(&str, &str, u32)] = &[
    ("/", "Example | Fleet telematics for modern operators", 22),
    ("/pricing", "Pricing | Example", 10),
    ("/demo", "Book a demo | Example", 3),
    ("/products/fleet-tracking", "Fleet tracking | Example", 8),
    ("/products/route-planner", "Route planner | Example", 5),
    ("/products/ev-charging", "EV charging management | Example", 4),
    ("/docs/", "Documentation | Example", 4),
    ("/docs/getting-started", "Getting started | Example Docs", 5),
    ("/docs/api/authentication", "API authentication | Example Docs", 3),
    ("/docs/integrations/salesforce", "Salesforce integration | Example Docs", 2),
    ("/blog/", "Blog | Example", 3),
    ("/blog/ev-fleets", "What EV fleets taught us about uptime | Example Blog", 6),
    ("/blog/route-planning-guide", "The route planning guide for 2026 | Example Blog", 4),
    ("/blog/telematics-roi", "Measuring telematics ROI | Example Blog", 3),
    ("/customers", "Customers | Example", 3),
    ("/about", "About us | Example", 2),
    ("/careers", "Careers | Example", 2),
    ("/contact", "Contact sales | Example", 2),
];

/// Where visitors come from (relative weights); `None` is a link from another page of the site.
const REFERRERS: &[(Option<&str>, u32)] = &[
    (Some(""), 30),
    (Some("https://www.google.com/"), 32),
    (Some("https://www.bing.com/"), 4),
    (Some("https://duckduckgo.com/"), 2),
    (Some("https://www.linkedin.com/"), 7),
    (Some("https://news.ycombinator.com/"), 1),
    (Some("https://www.g2.com/"), 2),
    (None, 22),
];

/// UTM tags that campaign links carry: source, medium, campaign.
const CAMPAIGNS: &[(&str, &str, &str)] = &[
    ("google", "cpc", "fleet-tracking-q4"),
    ("linkedin", "paid", "abm-enterprise"),
    ("newsletter", "email", "2026-11-digest"),
    ("g2", "referral", "category-leaders"),
    ("partner", "referral", "reseller-program"),
];

/// Share of page loads that arrive through a campaign link.
const CAMPAIGN_SHARE: f64 = 0.15;

/// Visitors in the pool: enough for many sessions and accounts, few enough that visitors come back.
const VISITORS: usize = 5_000;

/// Upper bound on the template bytes kept in memory; the pool shrinks for large batches.
const TEMPLATE_BYTES: usize = 16 << 20;

/// Width of the event id's counter, in hex digits.
const EID_DIGITS: usize = 16;
const EID_MARK: u8 = b'#';
/// A client timestamp is a 13-digit millisecond count; its placeholder is an 11-character JSON string,
/// which serialised with its quotes takes the same 13 bytes.
const TS_DIGITS: usize = 13;
const TS_MARK: &str = "%%%%%%%%%%%";

pub(crate) struct Visitor {
    pub(crate) ip: HeaderValue,
    pub(crate) user_agent: HeaderValue,
}

/// One request body with the places its event ids and timestamps go.
pub(crate) struct Template {
    body: Vec<u8>,
    eid_slots: Vec<usize>,
    ts_slots: Vec<usize>,
    pub(crate) visitor: usize,
}

impl Template {
    /// The body with fresh event ids from `next_id` and the client clock `now_ms`.
    pub(crate) fn render(&self, mut next_id: impl FnMut() -> u64, now_ms: u64) -> Bytes {
        let mut body = self.body.clone();
        for &at in &self.eid_slots {
            write_hex(&mut body[at..at + EID_DIGITS], next_id());
        }
        for &at in &self.ts_slots {
            write_decimal(&mut body[at..at + TS_DIGITS], now_ms);
        }
        Bytes::from(body)
    }
}

/// Everything the connections send, shared read-only between them.
pub(crate) struct Traffic {
    pub(crate) visitors: Vec<Visitor>,
    pub(crate) templates: Vec<Template>,
}

impl Traffic {
    /// `run_id` goes into every event id, so that two runs against the same store do not collide.
    pub(crate) fn generate(
        site: &str,
        events_per_request: usize,
        ips: &IpRanges,
        run_id: u32,
        rng: &mut StdRng,
    ) -> Traffic {
        let visitors: Vec<VisitorState> = (0..VISITORS).map(|i| VisitorState::new(i, ips, rng)).collect();
        let per_request = events_per_request.max(1);
        let count = (TEMPLATE_BYTES / (per_request * 400)).clamp(64, 8192);
        let eid_prefix = format!("lg-{run_id:08x}-");
        let templates = (0..count)
            .map(|_| {
                let v = rng.random_range(0..visitors.len());
                let events: Vec<Value> = (0..per_request)
                    .map(|_| visitors[v].event(site, &format!("{eid_prefix}{}", "#".repeat(EID_DIGITS)), rng))
                    .collect();
                let json =
                    if per_request == 1 { events.into_iter().next().unwrap_or(Value::Null) } else { events.into() };
                Template::from_json(&json, v)
            })
            .collect();
        let visitors = visitors
            .into_iter()
            .map(|v| Visitor {
                ip: header_value(&v.ip.to_string()),
                user_agent: HeaderValue::from_static(v.user_agent),
            })
            .collect();
        Traffic { visitors, templates }
    }
}

/// Converts text that is ASCII by construction; an address or a table entry never fails.
fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))
}

struct VisitorState {
    vid: String,
    ip: Ipv4Addr,
    user_agent: &'static str,
    email: String,
}

impl VisitorState {
    fn new(i: usize, ips: &IpRanges, rng: &mut StdRng) -> VisitorState {
        const FIRST: &[&str] = &["alex", "sam", "maria", "li", "noah", "priya", "jonas", "fatima", "tom", "yuki"];
        const DOMAINS: &[&str] = &["acme", "northwind", "globex", "initech", "umbrella", "hooli", "stark"];
        VisitorState {
            vid: format!("v-{i}"),
            ip: ips.draw(rng),
            user_agent: USER_AGENTS[rng.random_range(0..USER_AGENTS.len())],
            email: format!(
                "{}{i}@{}.example",
                FIRST[rng.random_range(0..FIRST.len())],
                DOMAINS[rng.random_range(0..DOMAINS.len())]
            ),
        }
    }

    /// One event in the tracker's shape: about 80% page views, 15% engagement, 5% identify.
    fn event(&self, site: &str, eid: &str, rng: &mut StdRng) -> Value {
        let (path, title) = pick_page(rng);
        let mut url = format!("{ORIGIN}{path}");
        if rng.random_bool(CAMPAIGN_SHARE) {
            let (source, medium, campaign) = CAMPAIGNS[rng.random_range(0..CAMPAIGNS.len())];
            url.push_str(&format!("?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"));
        }
        let referrer = match pick(REFERRERS, rng) {
            Some(r) => r.to_string(),
            None => format!("{ORIGIN}{}", pick_page(rng).0),
        };
        let roll: f64 = rng.random();
        let kind = if roll < 0.80 {
            "pageview"
        } else if roll < 0.95 {
            "engagement"
        } else {
            "identify"
        };
        let mut event = json!({
            "site": site, "type": kind, "url": url, "ref": referrer, "title": title,
            "vid": self.vid, "eid": eid, "ts": TS_MARK,
        });
        match kind {
            // Mostly short looks, some long reads: the square skews towards the low end.
            "engagement" => event["eng_ms"] = json!(1_000 + (rng.random::<f64>().powi(2) * 179_000.0) as u64),
            "identify" => event["email"] = json!(self.email),
            _ => {}
        }
        event
    }
}

fn pick_page(rng: &mut StdRng) -> (&'static str, &'static str) {
    let total: u32 = PAGES.iter().map(|p| p.2).sum();
    let mut n = rng.random_range(0..total);
    for &(path, title, w) in PAGES {
        if n < w {
            return (path, title);
        }
        n -= w;
    }
    (PAGES[0].0, PAGES[0].1)
}

fn pick<T: Copy>(choices: &[(T, u32)], rng: &mut StdRng) -> T {
    let total: u32 = choices.iter().map(|c| c.1).sum();
    let mut n = rng.random_range(0..total);
    for &(c, w) in choices {
        if n < w {
            return c;
        }
        n -= w;
    }
    choices[0].0
}

impl Template {
    fn from_json(json: &Value, visitor: usize) -> Template {
        let mut body = json.to_string().into_bytes();
        let ts_mark = format!("\"{TS_MARK}\"");
        let ts_slots = find_all(&body, ts_mark.as_bytes());
        let eid_slots = find_all(&body, &[EID_MARK; EID_DIGITS]);
        // Placeholders stay valid JSON until rendered; fill them with something sensible anyway.
        for &at in &ts_slots {
            write_decimal(&mut body[at..at + TS_DIGITS], 0);
        }
        Template { body, eid_slots, ts_slots, visitor }
    }
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        if &haystack[i..i + needle.len()] == needle {
            found.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    found
}

fn write_hex(out: &mut [u8], mut v: u64) {
    for b in out.iter_mut().rev() {
        *b = b"0123456789abcdef"[(v & 0xf) as usize];
        v >>= 4;
    }
}

/// Right-aligned, padded with spaces: JSON allows whitespace before a number but not leading zeros.
fn write_decimal(out: &mut [u8], mut v: u64) {
    for (i, b) in out.iter_mut().rev().enumerate() {
        *b = if v == 0 && i > 0 { b' ' } else { b'0' + (v % 10) as u8 };
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn traffic(per_request: usize) -> Traffic {
        let mut rng = StdRng::seed_from_u64(42);
        Traffic::generate("demo", per_request, &IpRanges::fixtures(), 0xabcd, &mut rng)
    }

    fn render_all(t: &Traffic) -> Vec<Value> {
        let mut id = 0u64;
        let mut events = Vec::new();
        for tpl in &t.templates {
            let body = tpl.render(
                || {
                    id += 1;
                    id
                },
                1_795_445_463_000,
            );
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Array(a)) => events.extend(a),
                Ok(v) => events.push(v),
                Err(e) => panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)),
            }
        }
        events
    }

    #[test]
    fn beacons_are_the_trackers_json_with_unique_ids_and_a_realistic_mix() {
        let t = traffic(1);
        let events = render_all(&t);
        let mut eids = HashSet::new();
        let mut kinds = std::collections::HashMap::<String, usize>::new();
        let mut campaigns = 0;
        for e in &events {
            assert_eq!(e["site"], "demo");
            let url = e["url"].as_str().expect("url");
            assert!(url.starts_with("https://www.example.com/"), "{url}");
            campaigns += url.contains("utm_source=") as usize;
            assert!(e["ref"].is_string() && e["title"].as_str().is_some_and(|t| !t.is_empty()));
            assert!(e["vid"].as_str().is_some_and(|v| v.starts_with("v-")));
            assert_eq!(e["ts"], 1_795_445_463_000u64);
            let eid = e["eid"].as_str().expect("eid");
            assert!(eid.starts_with("lg-0000abcd-") && eid.len() == 28, "{eid}");
            assert!(eids.insert(eid.to_string()), "duplicate {eid}");
            let kind = e["type"].as_str().expect("type");
            *kinds.entry(kind.into()).or_default() += 1;
            match kind {
                "engagement" => assert!(e["eng_ms"].as_u64().is_some_and(|ms| ms >= 1000)),
                "identify" => assert!(e["email"].as_str().is_some_and(|m| m.contains('@') && m.ends_with(".example"))),
                "pageview" => assert!(e.get("eng_ms").is_none() && e.get("email").is_none()),
                other => panic!("unexpected type {other}"),
            }
        }
        let share = |k: &str| kinds.get(k).copied().unwrap_or(0) as f64 / events.len() as f64;
        assert!((0.75..0.85).contains(&share("pageview")), "{kinds:?}");
        assert!((0.11..0.19).contains(&share("engagement")), "{kinds:?}");
        assert!((0.02..0.08).contains(&share("identify")), "{kinds:?}");
        assert!(campaigns > events.len() / 20 && campaigns < events.len() / 4);
    }

    #[test]
    fn batches_are_arrays_from_one_visitor() {
        let t = traffic(5);
        let tpl = &t.templates[0];
        let body = tpl.render(|| 7, 1);
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        let arr = v.as_array().expect("array");
        assert_eq!(arr.len(), 5);
        assert!(arr.iter().all(|e| e["vid"] == arr[0]["vid"]));
        assert_eq!(arr[0]["eid"], "lg-0000abcd-0000000000000007");
        assert_eq!(arr[0]["ts"], 1);
    }

    #[test]
    fn user_agents_look_like_people() {
        for ua in USER_AGENTS {
            let ua = ua.to_ascii_lowercase();
            assert!(ua.starts_with("mozilla/5.0 (") && !ua.contains("headless") && !ua.contains("bot"), "{ua}");
        }
    }
}
