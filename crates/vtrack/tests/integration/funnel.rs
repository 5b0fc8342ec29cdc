//! `GET /api/funnel` through the real `vtrack serve` (SQLite): three accounts from three campaigns, one
//! of them hot, contacted and won; the counts agree with what `vtrack sql` answers, per campaign and in
//! total, in JSON and CSV. (`production.rs` checks that ClickHouse gives the same funnel.)

use crate::common;

use common::{api, start_site, view, TOKEN};
use serde_json::{json, Value};

#[test]
fn the_funnel_counts_each_step_per_campaign_as_sql_does() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_site(dir.path(), "[sla]\nhot_followup = \"24h\"\n");
    // Acme: hot, from the `launch` campaign.
    view(&s, "198.51.100.10", "alex", "a1", "/pricing?utm_source=linkedin&utm_campaign=launch");
    view(&s, "198.51.100.10", "alex", "a2", "/demo");
    view(&s, "198.51.100.11", "sam", "a3", "/demo");
    // Globex: cold, from a newsletter (a source without a campaign name).
    view(&s, "198.51.100.70", "gia", "g1", "/blog/post?utm_source=newsletter");
    // Initech: warm, no campaign.
    view(&s, "198.51.100.97", "ivy", "i1", "/pricing");
    view(&s, "198.51.100.97", "ivy", "i2", "/pricing/enterprise");
    view(&s, "198.51.100.97", "ivy", "i3", "/docs/setup");
    s.wait_for("SELECT count(*) AS n FROM events", |r| r[0]["n"] == 7);
    s.wait_for("SELECT count(*) AS n FROM alerts", |r| r[0]["n"] == 1);
    for status in ["contacted", "won"] {
        let r = api(
            &s,
            TOKEN,
            "POST",
            "/api/accounts/acme-robotics.example/status",
            &format!(r#"{{"status":"{status}"}}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }

    // What SQL says.
    let sql = s.sql(
        "SELECT (SELECT count(*) FROM accounts WHERE excluded = 0) AS identified,
                (SELECT count(*) FROM accounts WHERE stage != 'cold') AS warm,
                (SELECT count(DISTINCT company_domain) FROM alerts WHERE kind = 'became_hot') AS hot,
                (SELECT count(DISTINCT company_domain) FROM account_status WHERE status != 'new') AS contacted",
    );
    assert_eq!(sql, json!([{ "identified": 3, "warm": 2, "hot": 1, "contacted": 1 }]));

    let r = api(&s, TOKEN, "GET", "/api/funnel?period=week", "");
    assert_eq!(r.status, 200, "{}", r.body);
    let f = r.json();
    assert_eq!((&f["period"], &f["followup_hours"]), (&json!("week"), &json!(24.0)));
    let rows = f["rows"].as_array().unwrap();
    let campaigns: Vec<&Value> = rows.iter().map(|r| &r["campaign"]).collect();
    assert_eq!(campaigns, [&Value::Null, &json!("(none)"), &json!("launch"), &json!("newsletter")], "{f}");
    let total = &rows[0];
    let counts: Vec<i64> = ["identified", "warm", "hot", "contacted", "qualified", "won", "lost"]
        .iter()
        .map(|k| total[*k].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [3, 2, 1, 1, 1, 1, 0]);
    assert_eq!(total["conversion"]["hot"], json!(0.5));
    assert_eq!(total["conversion"]["won"], json!(1.0));
    assert_eq!(total["followed_up_in_time"], json!(1.0), "contacted within the day");
    assert!(total["median_hours_to_contact"].as_f64().unwrap() < 0.1);
    assert_eq!((&rows[2]["identified"], &rows[2]["won"]), (&json!(1), &json!(1)), "launch brought the win");
    assert_eq!((&rows[3]["identified"], &rows[3]["warm"]), (&json!(1), &json!(0)));
    assert_eq!(rows[3]["median_hours_to_contact"], Value::Null);
    assert_eq!(rows[0]["period"], rows[3]["period"], "one week");

    let month = api(&s, TOKEN, "GET", "/api/funnel?period=month", "").json();
    assert_eq!(month["rows"][0]["identified"], 3);
    assert_eq!(month["rows"][0]["period"].as_str().unwrap().len(), 7, "YYYY-MM");
    assert_eq!(api(&s, TOKEN, "GET", "/api/funnel?period=day", "").status, 400);

    let csv = api(&s, TOKEN, "GET", "/api/funnel?period=week&format=csv", "");
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(lines[0].starts_with("period,campaign,identified,warm,hot,contacted,qualified,won,lost,conversion_warm"));
    assert_eq!(lines.len(), 5);
    assert!(lines[3].contains(",launch,1,1,1,1,1,1,0,"), "{}", lines[3]);
}
