//! The bot filter against two public lists nobody here wrote: npm `crawler-user-agents` (every crawler
//! agent it lists) must be dropped at 99 % or more, and npm `user-agents` (real browsers, by traffic) never.
//! `scripts/fetch-ua-lists.sh` fetches them into `.cache/ua-lists/` (not committed); without them the test
//! says so and passes, unless `VTRACK_REQUIRE_DATA=1` (the full run; see `vtrack_testkit::missing`).

use std::path::PathBuf;
use vtrack_ingest::bot::is_bot;

fn lists_dir() -> PathBuf {
    std::env::var_os("VTRACK_UA_LISTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/ua-lists"))
}

fn read(name: &str) -> Option<serde_json::Value> {
    let path = lists_dir().join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("a JSON list")),
        Err(_) => {
            vtrack_testkit::missing(&path.display().to_string(), "run scripts/fetch-ua-lists.sh");
            None
        }
    }
}

#[test]
fn crawlers_are_dropped_and_browsers_kept() {
    let (Some(crawlers), Some(browsers)) = (read("crawler-user-agents.json"), read("user-agents.json")) else {
        return;
    };
    let agents: Vec<&str> = crawlers
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["instances"].as_array().into_iter().flatten())
        .filter_map(|i| i.as_str())
        .collect();
    assert!(agents.len() > 1000, "the crawler list has {} agents", agents.len());
    let kept: Vec<&&str> = agents.iter().filter(|a| !is_bot(Some(a))).collect();
    let dropped = 1.0 - kept.len() as f64 / agents.len() as f64;
    eprintln!("crawlers dropped: {} of {} ({:.2} %)", agents.len() - kept.len(), agents.len(), dropped * 100.0);
    assert!(dropped >= 0.99, "{:.2} % dropped; kept: {kept:#?}", dropped * 100.0);

    let people: Vec<&str> = browsers.as_array().unwrap().iter().filter_map(|b| b.as_str()).collect();
    assert!(people.len() > 500, "the browser list has {} agents", people.len());
    let flagged: Vec<&&str> = people.iter().filter(|a| is_bot(Some(a))).collect();
    eprintln!("browsers dropped: {} of {}", flagged.len(), people.len());
    assert!(flagged.is_empty(), "real browsers taken for bots: {flagged:#?}");
}
