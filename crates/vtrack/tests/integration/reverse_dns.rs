//! Reverse DNS through the real binary and a real DNS server (dnsmasq on loopback): an office address in
//! an ISP's space whose PTR name is in its company's domain and leads back to it becomes that company;
//! a home line, a spoofed PTR, NXDOMAIN and a timeout stay `isp`; what was learned is stored, and after a
//! restart answers from memory with the DNS server gone, while ingest keeps accepting.

use crate::common;

use common::dns::Dnsmasq;
use common::{poll, Server};
use serde_json::{json, Value};
use std::time::Duration;

const SECS_30: Duration = Duration::from_secs(30);

// All in the fixtures' Example Broadband (AS64500, isp), 198.18.0.0/16.
const OFFICE: &str = "198.18.7.40";
const HOME: &str = "198.18.7.10";
const SPOOFED: &str = "198.18.7.41";
const NO_PTR: &str = "198.18.8.5";
const SLOW: &str = "198.18.9.5";

fn records() -> Vec<String> {
    vec![
        // Forward-confirmed: A and PTR.
        format!("--host-record=mail.northwind-traders.example,{OFFICE}"),
        // A home line's generated name.
        "--ptr-record=10.7.18.198.in-addr.arpa,c-198-18-7-10.hsd1.example-broadband.example".into(),
        // Anyone can write a bank's name into their own PTR; its forward lookup does not lead back.
        "--ptr-record=41.7.18.198.in-addr.arpa,vpn.bigbank.example".into(),
        "--local=/8.18.198.in-addr.arpa/".into(),
        // Forwarded to a port nobody answers on: a timeout.
        "--server=/9.18.198.in-addr.arpa/127.0.0.1#9".into(),
    ]
}

fn pageview(eid: &str, vid: &str) -> String {
    json!([{ "site": "s1", "type": "pageview", "url": "https://www.vtrack-demo.example/pricing",
             "vid": vid, "eid": eid, "title": "Pricing" }])
    .to_string()
}

fn metric(server: &Server, name: &str) -> f64 {
    let body = server.request("GET", "/metrics", &[], b"").map(|r| r.body).unwrap_or_default();
    body.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

fn event(server: &Server, eid: &str) -> Value {
    let rows = server.sql(&format!(
        "SELECT company_domain, network_class, id_source, id_confidence FROM events WHERE event_id = '{eid}'"
    ));
    rows[0].clone()
}

#[test]
fn a_confirmed_office_ptr_names_the_company_and_nothing_else_does() {
    let mut dns = Dnsmasq::start(&records());
    let data = tempfile::tempdir().expect("temp dir");
    let flags = ["--site", "s1", "--trusted-proxy", "127.0.0.1/32", "--rdns-server", &dns.addr()];
    let mut server = Server::start_in(data.path(), &flags);

    for (ip, eid) in [(OFFICE, "office-1"), (HOME, "home-1"), (SPOOFED, "spoof-1"), (NO_PTR, "nx-1"), (SLOW, "slow-1")]
    {
        assert_eq!(server.post_events(ip, &pageview(eid, &format!("v-{eid}"))).status, 202);
    }
    // Every lookup but the slow one settles; the office is learned.
    poll("three rejected lookups", SECS_30, || metric(&server, "vtrack_enrich_rejected_total"), |n| *n >= 3.0);
    poll("the office learned", SECS_30, || metric(&server, "vtrack_enrich_ranges"), |n| *n >= 1.0);
    // A colleague's visit from the office after the lookup.
    assert_eq!(server.post_events(OFFICE, &pageview("office-2", "v-office-2")).status, 202);
    assert_eq!(server.post_events(HOME, &pageview("home-2", "v-home-1")).status, 202);
    server.wait_for("SELECT count(*) AS n FROM events", |rows| rows[0]["n"] == 7);

    assert_eq!(
        event(&server, "office-2"),
        json!({"company_domain": "northwind-traders.example", "network_class": "business",
               "id_source": "rdns", "id_confidence": 60}),
        "the next visit from the office resolves to the company, from memory"
    );
    // The first visit, sent on under the ISP's name before the lookup answered, counts for the company too.
    let first = server.wait_for(
        "SELECT company_domain, network_class, id_source, id_confidence FROM events WHERE event_id = 'office-1'",
        |rows| rows[0]["company_domain"] == "northwind-traders.example",
    );
    assert_eq!(first[0]["id_source"], "rdns", "the visit's first page view: {first}");
    for eid in ["home-1", "home-2", "spoof-1", "nx-1", "slow-1"] {
        let e = event(&server, eid);
        assert_eq!((&e["company_domain"], &e["network_class"]), (&json!("as64500"), &json!("isp")), "{eid}: {e}");
    }
    let accounts = server.wait_for(
        "SELECT company_domain, id_source, id_confidence, visitors, sessions FROM accounts
         WHERE company_domain = 'northwind-traders.example'",
        |rows| rows.as_array().is_some_and(|a| a.len() == 1 && a[0]["visitors"] == 2),
    );
    assert_eq!(
        accounts,
        json!([{"company_domain": "northwind-traders.example", "id_source": "rdns", "id_confidence": 60,
                "visitors": 2, "sessions": 2}]),
        "both people at the office, the first one's visit included"
    );
    assert!(
        server
            .sql("SELECT session_id FROM sessions WHERE visitor_id = 'v-office-1' AND company_domain = 'as64500'")
            .as_array()
            .is_some_and(Vec::is_empty),
        "no session is left under the ISP"
    );
    let learned = server.sql("SELECT network, company_domain, source, confidence, evidence FROM learned_ranges");
    assert_eq!(
        learned,
        json!([{"network": format!("{OFFICE}/32"), "company_domain": "northwind-traders.example", "source": "rdns",
                "confidence": 60, "evidence": "mail.northwind-traders.example"}]),
        "only the office is learned, as a single address"
    );
    for reason in ["generated_from_address", "unconfirmed", "nxdomain"] {
        assert!(metric(&server, &format!("vtrack_enrich_rejected_total{{reason=\"{reason}\"}}")) >= 1.0, "{reason}");
    }

    // Restarted with the DNS server gone: the office still resolves (from the store), and ingest still
    // accepts an ISP address whose lookup now fails in the background.
    server.terminate();
    dns.stop();
    let server = Server::start_in(data.path(), &flags);
    assert_eq!(server.post_events(OFFICE, &pageview("office-3", "v-office-3")).status, 202);
    assert_eq!(server.post_events("198.18.10.1", &pageview("other-1", "v-other")).status, 202);
    server.wait_for("SELECT count(*) AS n FROM events", |rows| rows[0]["n"] == 9);
    assert_eq!(event(&server, "office-3")["company_domain"], "northwind-traders.example");
    assert_eq!(event(&server, "other-1")["network_class"], "isp");
}

/// With Kafka and ClickHouse: what one ingest learns is stored in ClickHouse, and another ingest started
/// later answers it from memory without asking DNS.
#[test]
fn ranges_one_ingest_learns_reach_another_through_clickhouse() {
    use common::prod::{shared_clickhouse, shared_kafka, Pipeline};
    let mut dns = Dnsmasq::start(&records());
    let p = Pipeline::new(shared_kafka(), shared_clickhouse());
    let _process = p.process("");
    let enrich =
        |servers: &str| format!("[clickhouse]\nurl = \"{}\"\n[enrich]\ndns_servers = [{servers}]\n", p.clickhouse);
    let first = p.ingest(&enrich(&format!("\"{}\"", dns.addr())));
    assert_eq!(first.post(OFFICE, &pageview("ch-office-1", "v-ch-1")).expect("POST").status, 202);
    poll("the office learned", SECS_30, || first.metric("vtrack_enrich_ranges"), |n| *n >= 1.0);
    // In memory first, stored right after: wait for the row, then check it is the only one.
    let query = "SELECT network, company_domain, source FROM learned_ranges FINAL";
    let learned = poll("the office's row in ClickHouse", SECS_30, || p.sql(query), |rows| rows != &json!([]));
    assert_eq!(
        learned,
        json!([{"network": format!("{OFFICE}/32"), "company_domain": "northwind-traders.example", "source": "rdns"}])
    );
    // The second ingest's DNS server is gone: it knows the office from ClickHouse alone.
    dns.stop();
    let second = p.ingest(&enrich(&format!("\"{}\"", dns.addr())));
    assert_eq!(second.post(OFFICE, &pageview("ch-office-2", "v-ch-2")).expect("POST").status, 202);
    let query = "SELECT event_id, company_domain, id_source FROM events FINAL ORDER BY event_id";
    let expected = json!([
        {"event_id": "ch-office-1", "company_domain": "northwind-traders.example", "id_source": "rdns"},
        {"event_id": "ch-office-2", "company_domain": "northwind-traders.example", "id_source": "rdns"},
    ]);
    // The first visit is relabelled once the lookup answers; the second ingest resolved the office from the
    // range the first one learned.
    poll(&format!("the events to read {expected}"), SECS_30, || p.sql(query), |events| *events == expected);
}

/// `vtrack enrich` against a real unbound answering SERVFAIL, and against dnsmasq for a confirmed office:
/// a failed server is a failure to retry, not an answer, and the office's checks all pass.
#[test]
fn enrich_explains_servfail_and_a_confirmed_name() {
    let servfail = common::dns::ServFail::start("18.198.in-addr.arpa.");
    let run = |server: &str, ip: &str| {
        let out = std::process::Command::new(common::bin())
            .args(["enrich", "--asn-csv"])
            .arg(common::repo_root().join("fixtures/asn.csv"))
            .args(["--rdns-server", server, ip])
            .output()
            .expect("run vtrack enrich");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let failed = run(&format!("127.0.0.1:{}", servfail.port), "198.18.11.5");
    assert!(failed.contains("✗ ptr       the server failed (SERVFAIL)"), "{failed}");
    assert!(failed.contains("= stays isp for now"), "{failed}");

    let dns = Dnsmasq::start(&records());
    let found = run(&dns.addr(), OFFICE);
    for line in [
        "✓ ptr       mail.northwind-traders.example",
        "✓ forward   mail.northwind-traders.example resolves back to the address",
        "= northwind-traders.example (business, rdns, confidence 60), learns 198.18.7.40/32",
    ] {
        assert!(found.contains(line), "{line:?} in:\n{found}");
    }
    let home = run(&dns.addr(), HOME);
    assert!(home.contains("the name spells the address"), "{home}");
}
