//! Bot filtering by user agent.
//!
//! Crawlers, uptime checkers, link previewers, headless browsers and HTTP libraries are not visitors.
//! The list matches lowercase substrings; it errs towards keeping people: a phrase must be specific to
//! automation to be on it.

/// Substrings (lowercase) that mark automated clients.
const MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "scrap",
    "headlesschrome",
    "phantomjs",
    "puppeteer",
    "playwright",
    "selenium",
    "lighthouse",
    "pagespeed",
    "pingdom",
    "uptime",
    "statuscake",
    "site24x7",
    "monitor",
    "facebookexternalhit",
    "embedly",
    "preview",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "go-http-client",
    "java/",
    "okhttp",
    "apache-httpclient",
    "libwww",
    "node-fetch",
    "axios/",
    "postmanruntime",
    "insomnia",
    "feedfetcher",
    "validator",
    "archive.org",
];

/// Whether a request with this `User-Agent` (or none) comes from automation.
pub fn is_bot(user_agent: Option<&str>) -> bool {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return true;
    };
    let ua = ua.to_ascii_lowercase();
    MARKERS.iter().any(|m| ua.contains(m))
}

#[cfg(test)]
mod tests {
    use super::is_bot;

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
}
