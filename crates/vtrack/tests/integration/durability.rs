//! Nothing answered 202 is lost: `kill -9` of `vtrack serve` in the middle of a burst, and a data directory
//! that fills up, through the real binary and read back through `vtrack sql`.

use crate::common;

use common::{Server, BROWSER_UA};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Client addresses of four fixture companies (`fixtures/companies.csv`), one per client: four accounts.
const COMPANY_IPS: [&str; 4] = ["198.51.100.10", "198.51.100.70", "198.51.100.100", "198.51.100.245"];

/// What a burst's clients saw.
#[derive(Default)]
struct Seen {
    /// Event ids answered 202.
    accepted: Vec<String>,
    /// Answers by status.
    statuses: HashMap<u16, usize>,
}

/// Four clients posting batches of five page views (each client its own company and twenty visitors) until
/// `stop` is raised or the server is gone.
fn burst(
    addr: SocketAddr,
    tag: &'static str,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Seen>>, Vec<std::thread::JoinHandle<()>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let workers = (0..4)
        .map(|w| {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let ids: Vec<String> = (0..5).map(|j| format!("{tag}-w{w}-{i}-{j}")).collect();
                    let events: Vec<Value> = ids
                        .iter()
                        .enumerate()
                        .map(|(j, eid)| {
                            let page = ["/", "/pricing", "/docs/start", "/blog/a", "/demo"][j];
                            json!({ "site": "s1", "type": "pageview", "url": format!("https://w.example{page}"),
                                    "vid": format!("v{w}-{}", i % 20), "eid": eid })
                        })
                        .collect();
                    let body = Value::Array(events).to_string();
                    let headers = [("user-agent", BROWSER_UA), ("x-forwarded-for", COMPANY_IPS[w])];
                    match common::http(addr, "POST", "/v1/events", &headers, body.as_bytes()) {
                        Ok(r) => {
                            let mut s = seen.lock().unwrap();
                            *s.statuses.entry(r.status).or_default() += 1;
                            if r.status == 202 {
                                s.accepted.extend(ids);
                            } else if r.status == 503 {
                                assert!(r.header("retry-after").is_some(), "a 503 says when to retry");
                            }
                        }
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    (seen, workers)
}

/// Every id in `accepted` is stored exactly once, and the derived tables count each stored event once.
fn assert_stored_once_and_counted_once(data: &Path, accepted: &[String]) {
    let stored: Vec<String> = common::sql(data, "SELECT event_id FROM events")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "an event is stored twice");
    let missing: Vec<_> = accepted.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events answered 202 are missing, e.g. {:?}",
        missing.len(),
        accepted.len(),
        &missing[..missing.len().min(5)]
    );
    // Each session counts exactly its stored events.
    let off = common::sql(
        data,
        "SELECT s.session_id, s.events, s.pageviews, (SELECT count(*) FROM events e WHERE e.session_id = s.session_id) AS n
         FROM sessions s WHERE s.events != (SELECT count(*) FROM events e WHERE e.session_id = s.session_id)
            OR s.pageviews != (SELECT count(*) FROM events e WHERE e.session_id = s.session_id AND e.type = 'pageview')",
    );
    assert_eq!(off, json!([]), "sessions whose counts differ from their events");
    let orphans = common::sql(
        data,
        "SELECT count(*) AS n FROM events e WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = e.session_id)",
    );
    assert_eq!(orphans[0]["n"], 0, "every stored event is in a session");
    // Each account counts exactly its sessions and page views.
    let accounts = common::sql(
        data,
        "SELECT a.company_domain, a.sessions, a.pageviews,
            (SELECT count(*) FROM sessions s WHERE s.site = a.site AND s.company_domain = a.company_domain) AS s_rows,
            (SELECT count(*) FROM events e WHERE e.site = a.site AND e.company_domain = a.company_domain
                AND e.type = 'pageview') AS pv_rows
         FROM accounts a ORDER BY a.company_domain",
    );
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len(), 4, "one account per client's company: {accounts:?}");
    for a in accounts {
        assert_eq!(a["sessions"], a["s_rows"], "account sessions counted once: {a}");
        assert_eq!(a["pageviews"], a["pv_rows"], "account page views counted once: {a}");
    }
}

/// The journal's segment files.
fn segments(data: &Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(data.join("journal")) {
        Ok(dir) => dir.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "log")).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn kill_9_during_a_burst_then_a_restart_stores_every_202_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let args = ["--site", "s1", "--trusted-proxy", "127.0.0.1/32"];
    let mut s = Server::start_in(&data, &args);
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, workers) = burst(s.addr, "k", stop.clone());
    // Into the burst, with batches written and more queued behind them.
    // On a slow machine the kill lands after a minute whatever was accepted by then: enough to mean something
    // is checked below.
    common::wait_at_most(Duration::from_secs(60), || seen.lock().unwrap().accepted.len() >= 20_000);
    s.child.kill().expect("kill -9 vtrack serve");
    s.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let accepted = std::mem::take(&mut seen.lock().unwrap().accepted);
    assert!(accepted.len() >= 1_000, "the burst was too small to mean anything: {}", accepted.len());
    assert!(!segments(&data).is_empty(), "the killed process left its journal behind");

    // The restart replays the journal before anything new: everything answered 202 is stored, once.
    let s = Server::start_in(&data, &args);
    let want: HashSet<&String> = accepted.iter().collect();
    let missing = || {
        let stored = common::sql(&data, "SELECT event_id FROM events");
        let have: HashSet<&str> = stored.as_array().unwrap().iter().map(|r| r["event_id"].as_str().unwrap()).collect();
        want.iter().filter(|id| !have.contains(id.as_str())).count()
    };
    common::poll("every event answered 202 stored after the restart", Duration::from_secs(60), missing, |n| *n == 0);
    assert_stored_once_and_counted_once(&data, &accepted);
    // Events stored from the segment being written stay in the journal until a later segment is stored:
    // killed again, a restart replays them, and that changes nothing.
    let mut more = Vec::new();
    for i in 0..50 {
        let eid = format!("m-{i}");
        let body = json!({ "site": "s1", "type": "pageview", "url": "https://w.example/", "vid": "v0-1", "eid": eid });
        assert_eq!(s.post_events(COMPANY_IPS[0], &body.to_string()).status, 202);
        more.push(eid);
    }
    s.wait_for("SELECT count(*) AS n FROM events WHERE event_id LIKE 'm-%'", |r| r[0]["n"] == 50);
    let accepted: Vec<String> = accepted.into_iter().chain(more).collect();
    let before = common::sql(&data, "SELECT company_domain, visitors, sessions, pageviews FROM accounts ORDER BY 1");
    drop(s);
    let left = segments(&data);
    assert!(!left.is_empty(), "the segment being written is kept until a later one is stored");
    let _s = Server::start_in(&data, &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while left.iter().any(|p| p.exists()) {
        assert!(Instant::now() < deadline, "the replayed segments were not deleted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_stored_once_and_counted_once(&data, &accepted);
    assert_eq!(
        common::sql(&data, "SELECT company_domain, visitors, sessions, pageviews FROM accounts ORDER BY 1"),
        before
    );
}

/// Runs a command that must succeed; returns its stdout.
fn run(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tmpfs of its own, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_data_directory_answers_503_keeps_the_dashboard_and_recovers_when_space_returns() {
    if run("id", &["-u"]).trim() != "0" {
        vtrack_testkit::missing("root (to mount a small filesystem for the data directory)", "run as root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    run("mount", &["-t", "tmpfs", "-o", "size=32m", "tmpfs", mnt.to_str().unwrap()]);
    let disk = SmallDisk(mnt.clone());
    let data = mnt.join("data");
    let args = ["--site", "s1", "--trusted-proxy", "127.0.0.1/32"];
    let mut s = Server::start_in(&data, &args);
    // Leave about 2 MiB free: the burst fills it in moments.
    let avail: u64 = run("df", &["-B1", "--output=avail", mnt.to_str().unwrap()])
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df prints the free bytes");
    let filler = mnt.join("filler");
    run("fallocate", &["-l", &(avail - (2 << 20)).to_string(), filler.to_str().unwrap()]);

    let stop = Arc::new(AtomicBool::new(false));
    let (seen, workers) = burst(s.addr, "f", stop.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().statuses.get(&503).copied().unwrap_or(0) < 200 {
        assert!(Instant::now() < deadline, "the full disk never turned into 503s: {:?}", seen.lock().unwrap().statuses);
        std::thread::sleep(Duration::from_millis(20));
    }
    // While it is full: not ready, with the reason and when to retry; the dashboard still reads.
    let health = s.request("GET", "/healthz", &[], b"").unwrap();
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(health.header("retry-after").is_some());
    assert!(health.body.contains("No space left"), "says why: {}", health.body);
    let dashboard = s.request("GET", "/api/accounts", &[], b"").unwrap();
    assert_eq!(dashboard.status, 200, "the dashboard reads while the disk is full: {}", dashboard.body);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let accepted = std::mem::take(&mut seen.lock().unwrap().accepted);
    assert!(!accepted.is_empty(), "some events were accepted before the disk filled");

    // Space returns: readiness and acceptance come back without a restart.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.request("GET", "/healthz", &[], b"").unwrap().status != 200 {
        assert!(Instant::now() < deadline, "/healthz stayed 503 after space returned");
        std::thread::sleep(Duration::from_millis(100));
    }
    let body = json!({ "site": "s1", "type": "pageview", "url": "https://w.example/", "vid": "v0-1", "eid": "after" });
    assert_eq!(s.post_events(COMPANY_IPS[0], &body.to_string()).status, 202, "accepting again");
    let accepted: Vec<String> = accepted.into_iter().chain(["after".to_string()]).collect();
    let want = accepted.len();
    s.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"].as_u64().unwrap_or(0) >= want as u64);
    assert!(s.terminate().success());
    assert_stored_once_and_counted_once(&data, &accepted);
    drop(disk);
}
