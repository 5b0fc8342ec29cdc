//! RDAP through the real binary against a loopback RDAP server with ARIN- and RIPE-style documents: a
//! reassigned network becomes its registrant's company (the visit's first page view included, and the
//! whole network from memory afterwards); a person, the ISP's own allocation, 404, 500, a truncated body
//! and a slow reply name nobody; a 429 is waited out.

use crate::common;

use common::rdap::{allocation, arin_reassigned, ripe_assigned, RdapServer, Reply};
use common::Server;
use serde_json::json;
use std::time::Duration;

fn registry() -> RdapServer {
    RdapServer::start(vec![
        ("198.18.0.0/15", Reply::Doc(allocation("198.18.0.0/15", "Example Broadband"))),
        (
            "198.18.20.0/24",
            Reply::Doc(arin_reassigned(
                "198.18.20.0/24",
                "NET-198-18-20-0-1",
                "Contoso Logistics LLC",
                Some("noc@contoso-logistics.example"),
            )),
        ),
        (
            "198.18.21.0/24",
            Reply::Doc(ripe_assigned(
                "198.18.21.0/24",
                "198.18.21.0 - 198.18.21.255",
                "Fabrikam Industrie GmbH",
                "org",
            )),
        ),
        ("198.18.22.0/24", Reply::Doc(ripe_assigned("198.18.22.0/24", "PERSON-NET", "Jane Doe", "individual"))),
        (
            "198.18.23.0/24",
            Reply::TooManyThen(1, arin_reassigned("198.18.23.0/24", "NET-198-18-23-0-1", "Tailspin Toys Inc", None)),
        ),
        ("198.18.24.0/24", Reply::ServerError),
        ("198.18.25.0/24", Reply::Truncated),
        ("198.18.26.0/24", Reply::Slow(Duration::from_secs(30))),
    ])
}

fn enrich(rdap: &RdapServer, ips: &[&str]) -> String {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "[enrich]\nrdap_timeout = \"3s\"\n").unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["enrich", "--no-rdns", "--rdap", "--rdap-server", &rdap.url, "--config"])
        .arg(config.path())
        .arg("--asn-csv")
        .arg(common::repo_root().join("fixtures/asn.csv"))
        .args(ips)
        .output()
        .expect("run vtrack enrich");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn registrants_of_reassigned_networks_and_nothing_else() {
    let rdap = registry();
    let ips = [
        "198.18.20.7",
        "198.18.21.9",
        "198.18.22.5",
        "198.18.5.5",
        "198.18.24.1",
        "198.18.25.1",
        "198.18.26.1",
        "198.18.23.4",
    ];
    let out = enrich(&rdap, &ips);
    let expect = [
        ("198.18.20.7", "= contoso-logistics.example (business, rdap, confidence 70), learns 198.18.20.0/24"),
        ("198.18.21.9", "= org:fabrikam-industrie (business, rdap, confidence 70), learns 198.18.21.0/24"),
        ("198.18.22.5", "refused: rdap_not_an_organisation"),
        ("198.18.5.5", "refused: rdap_not_assigned"),
        ("198.18.24.1", "for now (the registry failed: HTTP 500"),
        ("198.18.25.1", "refused: rdap_malformed"),
        ("198.18.26.1", "for now (no answer within the timeout"),
        ("198.18.23.4", "= org:tailspin-toys (business, rdap, confidence 70), learns 198.18.23.0/24"),
    ];
    for (ip, line) in expect {
        let at = out.find(&format!("{ip}\n")).unwrap_or_else(|| panic!("{ip} in:\n{out}"));
        let next =
            ips.iter().filter_map(|o| out.find(&format!("{o}\n"))).filter(|&p| p > at).min().unwrap_or(out.len());
        assert!(out[at..next].contains(line), "{ip}: {line:?} in:\n{}", &out[at..next]);
    }
    // The 429 was waited out: asked again no sooner than its Retry-After.
    let asked = rdap.requests_for("198.18.23.0/24");
    assert_eq!(asked.len(), 2, "asked once, told to wait, asked again");
    assert!(asked[1] - asked[0] >= Duration::from_secs(1), "Retry-After honoured: {:?}", asked[1] - asked[0]);
    // 500s are retried (with backoff) before the lookup gives up.
    assert!(rdap.requests_for("198.18.24.0/24").len() >= 2);
}

#[test]
fn a_reassigned_network_becomes_an_account_through_serve() {
    let rdap = registry();
    let server = Server::start(&[
        "--site",
        "s1",
        "--trusted-proxy",
        "127.0.0.1/32",
        "--no-rdns",
        "--rdap",
        "--rdap-server",
        &rdap.url,
    ]);
    let page = |eid: &str, vid: &str| {
        json!([{ "site": "s1", "type": "pageview", "url": "https://www.vtrack-demo.example/pricing",
                 "vid": vid, "eid": eid, "title": "Pricing" }])
        .to_string()
    };
    assert_eq!(server.post_events("198.18.20.7", &page("c-1", "v-c1")).status, 202);
    // The first page view, sent before the registry answered, counts for the registrant.
    let first = server
        .wait_for("SELECT company_domain, id_source, id_confidence FROM events WHERE event_id = 'c-1'", |rows| {
            rows[0]["company_domain"] == "contoso-logistics.example"
        });
    assert_eq!(
        first,
        json!([{"company_domain": "contoso-logistics.example", "id_source": "rdap", "id_confidence": 70}])
    );
    // A colleague elsewhere in the reassigned /24 resolves from memory: the registry is not asked again.
    assert_eq!(server.post_events("198.18.20.200", &page("c-2", "v-c2")).status, 202);
    let second = server.wait_for("SELECT company_domain FROM events WHERE event_id = 'c-2'", |rows| {
        rows.as_array().is_some_and(|a| a.len() == 1)
    });
    assert_eq!(second[0]["company_domain"], "contoso-logistics.example");
    assert_eq!(rdap.requests_for("198.18.20.0/24").len(), 1);
    let learned = server.sql("SELECT network, company_domain, source, confidence, evidence FROM learned_ranges");
    assert_eq!(
        learned,
        json!([{"network": "198.18.20.0/24", "company_domain": "contoso-logistics.example", "source": "rdap",
                "confidence": 70, "evidence": "NET-198-18-20-0-1"}])
    );
    let accounts = server.wait_for(
        "SELECT company_domain, id_source, visitors FROM accounts WHERE company_domain = 'contoso-logistics.example'",
        |rows| rows.as_array().is_some_and(|a| a.len() == 1 && a[0]["visitors"] == 2),
    );
    assert_eq!(accounts[0]["id_source"], "rdap", "{accounts}");
}
