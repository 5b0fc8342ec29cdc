//! Bot filtering by user agent.
//!
//! Crawlers, uptime checkers, link previewers, headless browsers and HTTP libraries are not visitors. The
//! patterns are the npm package `isbot`'s (`data/isbot-patterns.json`, refreshed by
//! `scripts/update-isbot-patterns.sh`): a list the ecosystem maintains and tests against real traffic, where
//! a hand-written one here let a third of a public crawler list through. A request without a user agent is
//! a bot too (isbot lets it pass; no browser sends none).
//!
//! The patterns are JavaScript regexes, case-insensitive. All but a few compile into one `regex` automaton,
//! which answers in one pass; the few with look-around, which `regex` does not do, are tried one by one with
//! `fancy-regex`, only when the automaton found nothing.
//!
//! Verdicts are remembered per user agent: a site's traffic comes from a few thousand distinct browsers and
//! crawlers, and matching every request anew spent about a third of ingest's CPU, mostly in the look-around
//! patterns that every browser (the common case, no match) runs through. The memory is bounded: past
//! [`REMEMBERED`] agents it starts over, so a client that makes up a new agent per request costs only what
//! matching costs.

use dashmap::DashMap;
use std::sync::LazyLock;

/// User agents whose verdict is remembered at most.
const REMEMBERED: usize = 16_384;
/// Longer agents are matched every time rather than kept (browsers' are about 100–250 bytes).
const REMEMBERED_MAX_LEN: usize = 512;

/// The `isbot` release the patterns come from, as shipped.
const PATTERNS: &str = include_str!("../data/isbot-patterns.json");

struct Matcher {
    plain: regex::Regex,
    look_around: Vec<fancy_regex::Regex>,
}

/// Whether a pattern needs look-around (`(?=`, `(?!`, `(?<=`, `(?<!`).
fn needs_look_around(p: &str) -> bool {
    ["(?=", "(?!", "(?<=", "(?<!"].iter().any(|l| p.contains(l))
}

/// A JavaScript pattern in Rust's syntax. The one difference the list meets: JavaScript reads a `-` next to
/// a class escape (`[\w\d-.]`) as a literal dash, Rust refuses it; escaping it means the same in both, inside
/// a class or out.
fn from_js(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 4);
    let mut chars = p.chars().peekable();
    let mut after_class_escape = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            let next = chars.next().unwrap_or('\\');
            out.push(c);
            out.push(next);
            after_class_escape = "wdsWDS".contains(next);
            continue;
        }
        let before_class_escape =
            chars.peek() == Some(&'\\') && chars.clone().nth(1).is_some_and(|n| "wdsWDS".contains(n));
        if c == '-' && (after_class_escape || before_class_escape) {
            out.push_str("\\-");
        } else {
            out.push(c);
        }
        after_class_escape = false;
    }
    out
}

fn compile(list_json: &str) -> Result<Matcher, String> {
    let doc: serde_json::Value = serde_json::from_str(list_json).map_err(|e| format!("pattern list: {e}"))?;
    let patterns: Vec<String> = doc["patterns"]
        .as_array()
        .ok_or("pattern list: no `patterns` array")?
        .iter()
        .filter_map(|p| p.as_str())
        .map(from_js)
        .collect();
    let (fancy, plain): (Vec<String>, Vec<String>) = patterns.into_iter().partition(|p| needs_look_around(p));
    let joined = plain.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
    let plain = regex::RegexBuilder::new(&joined)
        .case_insensitive(true)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| format!("bot patterns: {e}"))?;
    let look_around = fancy
        .iter()
        .map(|p| fancy_regex::Regex::new(&format!("(?i){p}")).map_err(|e| format!("bot pattern {p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Matcher { plain, look_around })
}

static MATCHER: LazyLock<Matcher> =
    LazyLock::new(|| compile(PATTERNS).unwrap_or_else(|e| panic!("the shipped bot pattern list: {e}")));

static VERDICTS: LazyLock<DashMap<Box<str>, bool>> = LazyLock::new(DashMap::new);

/// Whether a request with this `User-Agent` (or none) comes from automation.
pub fn is_bot(user_agent: Option<&str>) -> bool {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return true;
    };
    if let Some(known) = VERDICTS.get(ua) {
        return *known;
    }
    let bot = matches(&MATCHER, ua);
    if ua.len() <= REMEMBERED_MAX_LEN {
        if VERDICTS.len() >= REMEMBERED {
            VERDICTS.clear();
        }
        VERDICTS.insert(ua.into(), bot);
    }
    bot
}

fn matches(m: &Matcher, ua: &str) -> bool {
    // A look-around pattern that cannot finish (backtracking limit) counts as no match: keep the visitor.
    m.plain.is_match(ua) || m.look_around.iter().any(|r| r.is_match(ua).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::is_bot;

    #[test]
    fn javascript_dashes_beside_class_escapes_are_literal() {
        assert_eq!(super::from_js(r"[\w\d-.]+"), r"[\w\d\-.]+");
        assert_eq!(super::from_js(r"[a-z]-\d"), r"[a-z]\-\d");
        assert_eq!(super::from_js(r"[a-z]"), r"[a-z]");
    }

    #[test]
    fn the_shipped_list_compiles() {
        let m = super::compile(super::PATTERNS).unwrap();
        assert!(m.look_around.len() < 20, "most patterns go to the one automaton");
    }

    #[test]
    fn people_pass() {
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        ] {
            assert!(!is_bot(Some(ua)), "{ua}");
        }
    }

    #[test]
    fn automation_is_caught() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.32.3",
            "facebookexternalhit/1.1",
            "Pingdom.com_bot_version_1.4",
        ] {
            assert!(is_bot(Some(ua)), "{ua}");
        }
        assert!(is_bot(None));
        assert!(is_bot(Some("  ")));
    }

    #[test]
    fn a_remembered_verdict_is_the_matched_one() {
        let browser = "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0 remembered";
        let crawler = "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots) remembered";
        for _ in 0..3 {
            assert!(!is_bot(Some(browser)));
            assert!(is_bot(Some(crawler)));
        }
        assert_eq!(super::VERDICTS.get(browser).map(|v| *v), Some(false));
        assert_eq!(super::VERDICTS.get(crawler).map(|v| *v), Some(true));
    }
}
