//! The accounts list as CSV, for spreadsheets and CRMs.

use super::{error, Resp};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body_util::Full;
use serde_json::Value;

const COLUMNS: &[&str] = &[
    "domain",
    "name",
    "class",
    "country",
    "stage",
    "score",
    "visitors",
    "sessions",
    "pageviews",
    "return_visits",
    "first_seen",
    "last_seen",
    "top_page",
    "top_topic",
    "first_campaign",
    "last_campaign",
    "status",
    "id_source",
    "id_confidence",
    "owner",
    "followup_due",
    "overdue",
];

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        // Company names come from IP databases, titles from visitors: neither may run as a formula.
        Value::String(s) => vtrack_model::text::spreadsheet_cell(s).into_owned(),
        other => other.to_string(),
    }
}

fn campaign(v: &Value) -> String {
    if v.is_null() {
        return String::new();
    }
    [&v["source"], &v["medium"], &v["campaign"]].iter().map(|p| text(p)).collect::<Vec<_>>().join(" / ")
}

/// The accounts list from its JSON items ([`crate::answers::account_item`]), so the two formats cannot
/// disagree on a value (a score rounds the same, `null` is an empty cell).
pub(crate) fn accounts(site: &str, accounts: &[Value]) -> Resp {
    let mut rows = vec![COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>()];
    for a in accounts {
        let mut row: Vec<String> = COLUMNS[..12].iter().map(|c| text(&a[*c])).collect();
        row.push(text(&a["top_pages"][0]["path"]));
        row.push(text(&a["top_topic"]));
        row.push(campaign(&a["first_campaign"]));
        row.push(campaign(&a["last_campaign"]));
        row.push(text(&a["status"]));
        row.push(text(&a["id_source"]));
        row.push(text(&a["id_confidence"]));
        for c in &COLUMNS[19..] {
            row.push(text(&a[*c]));
        }
        rows.push(row);
    }
    attachment(&format!("vtrack-accounts-{site}.csv"), rows)
}

/// The funnel's rows ([`crate::answers::funnel`]'s items) as CSV: one line per period and campaign (an
/// empty campaign is the period's total), the counts, the conversions, the times.
pub(crate) fn funnel(site: &str, period: &str, rows: &[Value]) -> Resp {
    const STEPS: [&str; 7] = ["identified", "warm", "hot", "contacted", "qualified", "won", "lost"];
    const TIMES: [&str; 2] = ["median_hours_to_contact", "followed_up_in_time"];
    let mut header: Vec<String> = vec!["period".into(), "campaign".into()];
    header.extend(STEPS.iter().map(|s| s.to_string()));
    header.extend(STEPS[1..].iter().map(|s| format!("conversion_{s}")));
    header.extend(TIMES.iter().map(|s| s.to_string()));
    let mut out = vec![header];
    for r in rows {
        let mut line = vec![text(&r["period"]), text(&r["campaign"])];
        line.extend(STEPS.iter().map(|s| text(&r[*s])));
        line.extend(STEPS[1..].iter().map(|s| text(&r["conversion"][*s])));
        line.extend(TIMES.iter().map(|s| text(&r[*s])));
        out.push(line);
    }
    attachment(&format!("vtrack-funnel-{site}-{period}.csv"), out)
}

/// Writes `rows` and answers them as a CSV download named `filename`.
fn attachment(filename: &str, rows: Vec<Vec<String>>) -> Resp {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows {
        if let Err(e) = w.write_record(&row) {
            return error(StatusCode::INTERNAL_SERVER_ERROR, format!("csv: {e}"));
        }
    }
    let body = match w.into_inner() {
        Ok(b) => b,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("csv: {e}")),
    };
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let disposition = format!("attachment; filename=\"{filename}\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_defused() {
        assert_eq!(text(&Value::String("=HYPERLINK(\"x\")".into())), "'=HYPERLINK(\"x\")");
        assert_eq!(text(&Value::String("@SUM(A1)".into())), "'@SUM(A1)");
        assert_eq!(text(&Value::String("Acme".into())), "Acme");
        assert_eq!(text(&serde_json::json!(-1.5)), "-1.5", "numbers stay numbers");
    }
}
