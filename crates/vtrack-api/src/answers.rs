//! The JSON answers of the API, built from the store's typed rows: the one place the shapes `API.md`
//! documents are made, whichever store answered.

use serde_json::{json, Value};
use vtrack_process::funnel::FunnelRow;
use vtrack_store::dashboard::{
    AccountAlert, AccountDetail, AccountRow, AccountSession, Campaign, CampaignRow, LiveVisit, OwnerHistoryRow,
    PageContribution, StatusChange, TopicScore,
};

/// How many of an account's pages the list and the account itself show; the breakdown has them all.
const TOP_PAGES: usize = 3;

/// `GET /api/accounts`.
pub(crate) fn accounts(site: &str, stages: &[String], items: &[Value]) -> Value {
    json!({ "site": site, "total": items.len(), "stages": stages, "accounts": items })
}

/// An item of the accounts list (the CSV export has the same values).
pub(crate) fn account_item(a: &AccountRow) -> Value {
    json!({
        "domain": a.domain,
        "name": a.name,
        "class": a.class,
        "country": a.country,
        "stage": a.stage,
        "score": (a.score * 10.0).round() / 10.0,
        "visitors": a.visitors,
        "sessions": a.sessions,
        "pageviews": a.pageviews,
        "return_visits": a.return_visits,
        "first_seen": a.first_seen,
        "last_seen": a.last_seen,
        "top_pages": pages(a.top_pages.iter().take(TOP_PAGES)),
        "top_topic": a.topics.first().map(|t| t.topic.as_str()),
        "first_campaign": a.campaigns.first().map(campaign),
        "last_campaign": a.campaigns.last().map(campaign),
        "status": a.status,
        "owner": if a.owner.is_empty() { Value::Null } else { json!(a.owner) },
        "activity": a.activity,
        "id_source": a.id_source,
        "id_confidence": a.id_confidence,
        "class_confidence": a.class_confidence,
    })
}

/// How an answer names the receivers of alerts: by the name the config gives each (`Config::receivers`),
/// and, to an admin only, by its URL redacted too ([`vtrack_model::owners::redact_url`]). A receiver's URL is
/// a credential (a Slack incoming webhook's is; others carry passwords or tokens): whoever holds it can post
/// forged alerts into a sales channel.
#[derive(Debug, Clone, Default)]
pub struct ReceiverNames {
    /// `(url, name)` of every configured receiver.
    by_url: Vec<(String, String)>,
}

impl ReceiverNames {
    pub fn new(receivers: impl IntoIterator<Item = (String, String)>) -> ReceiverNames {
        ReceiverNames { by_url: receivers.into_iter().collect() }
    }

    fn name_of(&self, url: &str) -> &str {
        self.by_url.iter().find(|(u, _)| u == url).map_or("a receiver no longer configured", |(_, n)| n.as_str())
    }
}

/// `GET /api/accounts/{domain}`: the list item with the account's own fields, and its parts. `admin` says
/// whether the deliveries may show their receiver's redacted URL.
pub(crate) fn account_detail(d: &AccountDetail, receivers: &ReceiverNames, admin: bool) -> Value {
    let a = &d.account;
    let mut account = account_item(a);
    if let Some(o) = account.as_object_mut() {
        o.insert("topics".into(), a.topics.iter().map(topic).collect());
        o.insert("contacts".into(), json!(a.contacts));
        o.insert("is_target".into(), json!(a.is_target));
        o.insert("excluded".into(), json!(a.excluded));
        o.insert("score_at".into(), json!(a.score_at));
    }
    json!({
        "account": account,
        "breakdown": {
            "pages": pages(a.top_pages.iter()),
            "visits": a.sessions,
            "return_visits": a.return_visits,
            "visitors": a.visitors,
        },
        "sessions": d.sessions.iter().map(session).collect::<Vec<_>>(),
        "alerts": d.alerts.iter().map(|a| alert(a, receivers, admin)).collect::<Vec<_>>(),
        "status": d.status_history.first().map(status),
        "status_history": d.status_history.iter().map(status).collect::<Vec<_>>(),
        "owner_history": d.owner_history.iter().map(owner_change).collect::<Vec<_>>(),
    })
}

/// A recorded change of owner: `POST /api/accounts/{domain}/owner`, and the detail's `owner_history`.
pub(crate) fn owner_change(o: &OwnerHistoryRow) -> Value {
    json!({ "owner": o.owner, "previous": o.previous, "changed_by": o.changed_by, "reason": o.reason,
            "changed_at": o.changed_at })
}

/// `GET /api/me`: who is signed in (null on an open dashboard, where nobody signs in), their role, whether
/// they may change accounts, so the page can hide what they cannot do, and the sites they may see (the site
/// picker's choices; the first is the default).
pub(crate) fn me(name: Option<&str>, role: vtrack_model::users::Role, sites: &[String]) -> Value {
    json!({ "name": name, "role": role.as_str(), "can_write": role.can_write(), "sites": sites })
}

/// A recorded status: `POST /api/accounts/{domain}/status`, and the detail's `status` and history.
pub(crate) fn status(s: &StatusChange) -> Value {
    json!({ "status": s.status, "note": s.note, "set_by": s.set_by, "set_at": s.set_at })
}

/// `GET /api/funnel`: the rows of [`vtrack_process::funnel::funnel`], each with its counts and conversions.
pub(crate) fn funnel_rows(rows: &[FunnelRow]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            let conversion: serde_json::Map<String, Value> =
                r.conversions().into_iter().map(|(step, share)| (step.to_string(), json!(share))).collect();
            let mut row = json!(r.counts);
            row["period"] = json!(r.period);
            row["campaign"] = json!(r.campaign);
            row["conversion"] = Value::Object(conversion);
            row
        })
        .collect()
}

/// `GET /api/funnel`.
pub(crate) fn funnel(site: &str, period: &str, followup_hours: Option<f64>, rows: Vec<Value>) -> Value {
    json!({ "site": site, "period": period, "followup_hours": followup_hours, "rows": rows })
}

/// `GET /api/campaigns`.
pub(crate) fn campaigns(site: &str, stages: &[String], rows: &[CampaignRow]) -> Value {
    let campaigns: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "source": c.source, "medium": c.medium, "campaign": c.campaign, "sessions": c.sessions,
                "accounts": c.accounts, "by_stage": c.by_stage, "won": c.won, "lost": c.lost,
            })
        })
        .collect();
    json!({ "site": site, "stages": stages, "campaigns": campaigns })
}

/// `GET /api/live`; `since` is UTC text.
pub(crate) fn live(site: &str, since: &str, visits: &[LiveVisit]) -> Value {
    let visits: Vec<Value> = visits
        .iter()
        .map(|v| {
            json!({
                "ts": v.ts, "received_at": v.received_at, "company_name": v.company_name,
                "company_domain": v.company_domain, "network_class": v.network_class, "country": v.country,
                "path": v.path, "title": v.title, "visitor_id": v.visitor_id, "session_id": v.session_id,
            })
        })
        .collect();
    json!({ "site": site, "since": since, "visits": visits })
}

fn pages<'a>(pages: impl Iterator<Item = &'a PageContribution>) -> Value {
    pages.map(|p| json!({ "path": p.path, "views": p.views, "points": p.points })).collect()
}

fn topic(t: &TopicScore) -> Value {
    json!({ "topic": t.topic, "points": t.points })
}

fn campaign(c: &Campaign) -> Value {
    json!({ "source": c.source, "medium": c.medium, "campaign": c.campaign })
}

fn session(s: &AccountSession) -> Value {
    let pages: Vec<Value> = s
        .pages
        .iter()
        .map(|e| json!({ "ts": e.ts, "type": e.kind, "path": e.path, "title": e.title, "eng_ms": e.eng_ms }))
        .collect();
    json!({
        "session_id": s.session_id, "visitor_id": s.visitor_id, "started_at": s.started_at,
        "ended_at": s.ended_at, "pageviews": s.pageviews, "engaged_ms": s.engaged_ms, "is_return": s.is_return,
        "entry_path": s.entry_path, "referrer": s.referrer, "utm_source": s.utm_source,
        "utm_medium": s.utm_medium, "utm_campaign": s.utm_campaign, "id_source": s.id_source,
        "id_confidence": s.id_confidence, "pages": pages,
    })
}

fn alert(a: &AccountAlert, receivers: &ReceiverNames, admin: bool) -> Value {
    let deliveries: Vec<Value> = a
        .deliveries
        .iter()
        .map(|d| {
            let webhook = admin.then(|| vtrack_model::owners::redact_url(&d.webhook));
            json!({ "receiver": receivers.name_of(&d.webhook), "webhook": webhook, "status": d.status,
                    "attempts": d.attempts, "http_status": d.http_status, "delivered_at": d.delivered_at })
        })
        .collect();
    json!({ "alert_id": a.alert_id, "kind": a.kind, "stage": a.stage, "score": a.score,
            "raised_at": a.raised_at, "deliveries": deliveries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_store::dashboard::ACTIVITY_DAYS;

    fn acme() -> AccountRow {
        AccountRow {
            domain: "acme.example".into(),
            score: 152.34,
            top_pages: (0..5).map(|i| PageContribution { path: format!("/p{i}"), views: i, points: 1.5 }).collect(),
            campaigns: vec![
                Campaign { source: "linkedin".into(), medium: "paid".into(), campaign: "a".into() },
                Campaign { source: "newsletter".into(), medium: "email".into(), campaign: "b".into() },
            ],
            status: vtrack_model::Status::New,
            activity: vec![0; ACTIVITY_DAYS],
            ..AccountRow::default()
        }
    }

    #[test]
    fn the_list_item_rounds_the_score_keeps_three_pages_and_nulls_what_is_missing() {
        let v = account_item(&acme());
        assert_eq!(v["score"], json!(152.3));
        assert_eq!(v["top_pages"].as_array().map(Vec::len), Some(TOP_PAGES));
        assert_eq!(v["top_pages"][0], json!({ "path": "/p0", "views": 0, "points": 1.5 }));
        assert_eq!(v["top_topic"], Value::Null);
        assert_eq!(v["first_campaign"]["source"], "linkedin");
        assert_eq!(v["last_campaign"]["campaign"], "b");
        assert_eq!(v["activity"].as_array().map(Vec::len), Some(ACTIVITY_DAYS));
        for detail_only in ["topics", "contacts", "is_target", "excluded", "score_at", "all_pages"] {
            assert!(v.get(detail_only).is_none(), "{detail_only} is the detail's");
        }
        let bare = account_item(&AccountRow::default());
        assert_eq!((&bare["first_campaign"], &bare["last_campaign"]), (&Value::Null, &Value::Null));
    }

    #[test]
    fn the_detail_has_every_page_in_its_breakdown_and_no_status_until_one_is_set() {
        let d = AccountDetail { account: acme(), ..AccountDetail::default() };
        let v = account_detail(&d, &ReceiverNames::default(), false);
        assert_eq!(v["breakdown"]["pages"].as_array().map(Vec::len), Some(5));
        assert_eq!(v["account"]["top_pages"].as_array().map(Vec::len), Some(TOP_PAGES));
        assert_eq!(v["account"]["topics"], json!([]));
        assert_eq!(v["account"]["is_target"], json!(false));
        assert!(v["account"].get("all_pages").is_none());
        assert_eq!(v["status"], Value::Null);
        assert_eq!(v["status_history"], json!([]));
        let set = StatusChange { status: vtrack_model::Status::Won, ..StatusChange::default() };
        let d = AccountDetail { status_history: vec![set.clone()], ..d };
        assert_eq!(account_detail(&d, &ReceiverNames::default(), false)["status"], status(&set));
    }

    #[test]
    fn deliveries_name_their_receiver_and_show_an_admin_no_more_than_a_redacted_url() {
        let url = "https://hooks.slack.example/services/T0/B0/s3cretS3cretS3cret";
        let delivery = vtrack_store::dashboard::AlertDelivery { webhook: url.into(), ..Default::default() };
        let gone =
            vtrack_store::dashboard::AlertDelivery { webhook: "http://old.example/x".into(), ..Default::default() };
        let a = AccountAlert { deliveries: vec![delivery, gone], ..AccountAlert::default() };
        let d = AccountDetail { account: acme(), alerts: vec![a], ..AccountDetail::default() };
        let names = ReceiverNames::new([(url.to_string(), "ana (slack)".to_string())]);
        let viewer = account_detail(&d, &names, false);
        assert!(!viewer.to_string().contains("slack.example"), "{viewer}");
        assert_eq!(viewer["alerts"][0]["deliveries"][0]["receiver"], "ana (slack)");
        assert_eq!(viewer["alerts"][0]["deliveries"][0]["webhook"], Value::Null);
        assert_eq!(viewer["alerts"][0]["deliveries"][1]["receiver"], "a receiver no longer configured");
        let admin = account_detail(&d, &names, true);
        assert_eq!(admin["alerts"][0]["deliveries"][0]["webhook"], "https://hooks.slack.example/…cret");
        assert!(!admin.to_string().contains("s3cretS3cret"), "{admin}");
    }
}
