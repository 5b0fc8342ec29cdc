//! Webhook bodies: vtrack's own JSON for programs, or a Slack message for people.
//!
//! Both are built from the [`Alert`] alone (no clock, no config), so the same alert always yields the same
//! bytes — a retry sends exactly what the first attempt sent, and the signature covers the same text.

use serde_json::{json, Value};
use vtrack_model::config::WebhookFormat;
use vtrack_model::time::format_ms;
use vtrack_model::{Alert, AlertKind};

/// The body for one webhook: vtrack's JSON or a Slack incoming-webhook message (`text` + `blocks`).
pub fn payload(alert: &Alert, format: WebhookFormat) -> Vec<u8> {
    let value = match (&alert.digest, format) {
        (Some(d), format) => crate::digest_payload::digest_payload(alert, d, format),
        (None, WebhookFormat::Json) => json_payload(alert),
        (None, WebhookFormat::Slack) => slack_payload(alert),
    };
    // `Value`'s Display cannot fail (its keys are strings), unlike `to_vec`'s generic signature.
    value.to_string().into_bytes()
}

/// Scores are decayed floats; two decimals is what a person or a CRM rule needs, and it keeps
/// `62.49999999999` out of payloads.
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn json_payload(a: &Alert) -> Value {
    json!({
        "type": "vtrack.alert",
        "alert_id": a.alert_id,
        "kind": a.kind.as_str(),
        "site": a.site,
        "account": {
            "domain": a.company_domain,
            "name": a.company_name,
            "network_class": a.network_class.as_str(),
            "class_confidence": a.class_confidence,
            "country": a.country,
        },
        "score": round2(a.score),
        "stage": a.stage,
        "raised_at": format_ms(a.raised_ms),
        "visitors": a.visitors,
        "sessions": a.sessions,
        "why": {
            "top_pages": a.top_pages.iter()
                .map(|p| json!({"path": p.path, "views": p.views, "points": round2(p.points)}))
                .collect::<Vec<_>>(),
        },
        "recent_pages": a.recent_pages,
        "campaigns": a.campaigns.iter()
            .map(|c| json!({"source": c.source, "medium": c.medium, "campaign": c.campaign}))
            .collect::<Vec<_>>(),
        "contacts": a.contacts,
        "owner": a.owner,
    })
}

/// The account as people call it: its name, or its domain when the name is unknown.
fn account_label(a: &Alert) -> &str {
    if a.company_name.is_empty() {
        &a.company_domain
    } else {
        &a.company_name
    }
}

/// The owner as a message names them.
fn owner_label(a: &Alert) -> &str {
    if a.owner.is_empty() {
        "nobody"
    } else {
        &a.owner
    }
}

/// One line that says what happened; Slack shows it in notifications and where blocks cannot be rendered.
fn summary(a: &Alert) -> String {
    let what = match a.kind {
        AlertKind::BecameHot => format!("is now {}", a.stage),
        AlertKind::HotReturnVisit => format!("({}) is back on {}", a.stage, a.site),
        AlertKind::HotPage => "visited a hot page".to_string(),
        AlertKind::SlaMissed => format!("is still new past its follow-up deadline (owner: {})", owner_label(a)),
        AlertKind::WeeklyDigest => "has a weekly digest".to_string(),
    };
    format!("{} ({}) {what} — score {:.1}", account_label(a), a.company_domain, a.score)
}

// Slack's limits (api.slack.com/reference/block-kit/blocks): header text 150 chars, section text 3,000,
// at most 10 fields of 2,000 each. Text from visitors (paths, campaign names) is cut to stay inside them.
const HEADER_MAX: usize = 150;
const FIELD_MAX: usize = 1_900;
const SECTION_MAX: usize = 2_900;
const LIST_MAX: usize = 10;

/// Cuts `s` to at most `max` characters, marking the cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes the three characters Slack's mrkdwn treats as markup, so a crafted page path cannot inject a
/// link or a mention.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub(crate) fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text})
}

pub(crate) fn section(text: String) -> Value {
    json!({"type": "section", "text": mrkdwn(cut(&text, SECTION_MAX))})
}

fn slack_payload(a: &Alert) -> Value {
    let header = match a.kind {
        AlertKind::BecameHot => format!("🔥 {} is {}", account_label(a), a.stage),
        AlertKind::HotReturnVisit => format!("🔁 {} is back", account_label(a)),
        AlertKind::HotPage => format!("👀 {} visited a hot page", account_label(a)),
        AlertKind::SlaMissed => format!("⏰ {} missed its follow-up deadline", account_label(a)),
        AlertKind::WeeklyDigest => format!("📊 Weekly digest for {}", a.site),
    };
    let field = |label: &str, value: String| mrkdwn(cut(&format!("*{label}*\n{}", esc(&value)), FIELD_MAX));
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&header, HEADER_MAX), "emoji": true}}),
        json!({"type": "section", "fields": [
            field("Account", format!("{} ({})", account_label(a), a.company_domain)),
            field("Score", format!("{:.1} ({})", a.score, a.stage)),
            field("Visitors", a.visitors.to_string()),
            field("Sessions", a.sessions.to_string()),
            field("Country", if a.country.is_empty() { "–".into() } else { a.country.clone() }),
            field("Class", format!("{} ({} % sure)", a.network_class.as_str(), a.class_confidence)),
            field("Site", a.site.clone()),
        ]}),
    ];
    if !a.top_pages.is_empty() {
        let lines: Vec<String> = a
            .top_pages
            .iter()
            .take(LIST_MAX)
            .map(|p| format!("• `{}` — {} views, {:.1} pts", esc(&cut(&p.path, 200)), p.views, p.points))
            .collect();
        blocks.push(section(format!("*Why: top pages*\n{}", lines.join("\n"))));
    }
    if !a.recent_pages.is_empty() {
        let lines: Vec<String> =
            a.recent_pages.iter().take(LIST_MAX).map(|p| format!("• `{}`", esc(&cut(p, 200)))).collect();
        blocks.push(section(format!("*Recent pages*\n{}", lines.join("\n"))));
    }
    if !a.campaigns.is_empty() {
        let lines: Vec<String> = a
            .campaigns
            .iter()
            .take(LIST_MAX)
            .map(|c| format!("• {} / {} / {}", esc(&c.source), esc(&c.medium), esc(&c.campaign)))
            .collect();
        blocks.push(section(format!("*Campaigns*\n{}", lines.join("\n"))));
    }
    if !a.contacts.is_empty() {
        let contacts: Vec<String> = a.contacts.iter().take(LIST_MAX).map(|c| esc(c)).collect();
        blocks.push(section(format!("*Contacts*\n{}", contacts.join(", "))));
    }
    blocks.push(json!({"type": "context", "elements": [
        mrkdwn(esc(&format!("{} · raised {} UTC · alert {}", a.kind.as_str(), format_ms(a.raised_ms), a.alert_id))),
    ]}));
    json!({"text": summary(a), "blocks": blocks})
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vtrack_model::alert::{Campaign, PageContribution};
    use vtrack_model::NetworkClass;

    pub(crate) fn alert() -> Alert {
        Alert {
            alert_id: "alert-acme-1".into(),
            kind: AlertKind::BecameHot,
            site: "acme-web".into(),
            company_domain: "acme-robotics.example".into(),
            company_name: "Acme Robotics".into(),
            network_class: NetworkClass::Business,
            class_confidence: 90,
            country: "DE".into(),
            score: 62.456,
            stage: "hot".into(),
            raised_ms: 1_795_000_000_123,
            visitors: 3,
            sessions: 7,
            top_pages: vec![
                PageContribution { path: "/pricing".into(), views: 4, points: 38.123 },
                PageContribution { path: "/demo<script>".into(), views: 1, points: 14.0 },
            ],
            recent_pages: vec!["/pricing".into(), "/docs/setup".into()],
            campaigns: vec![Campaign { source: "linkedin".into(), medium: "paid".into(), campaign: "q4".into() }],
            contacts: vec!["ana@acme-robotics.example".into()],
            owner: String::new(),
            digest: None,
        }
    }

    fn parse(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn json_shape() {
        let v = parse(&payload(&alert(), WebhookFormat::Json));
        let expected = json!({
            "type": "vtrack.alert",
            "alert_id": "alert-acme-1",
            "kind": "became_hot",
            "site": "acme-web",
            "account": {"domain": "acme-robotics.example", "name": "Acme Robotics",
                        "network_class": "business", "class_confidence": 90, "country": "DE"},
            "score": 62.46,
            "stage": "hot",
            "raised_at": "2026-11-18 11:06:40",
            "visitors": 3,
            "sessions": 7,
            "why": {"top_pages": [
                {"path": "/pricing", "views": 4, "points": 38.12},
                {"path": "/demo<script>", "views": 1, "points": 14.0},
            ]},
            "recent_pages": ["/pricing", "/docs/setup"],
            "campaigns": [{"source": "linkedin", "medium": "paid", "campaign": "q4"}],
            "contacts": ["ana@acme-robotics.example"],
            "owner": "",
        });
        assert_eq!(v, expected);
        assert_eq!(payload(&alert(), WebhookFormat::Json), payload(&alert(), WebhookFormat::Json), "deterministic");
    }

    #[test]
    fn slack_shape() {
        let v = parse(&payload(&alert(), WebhookFormat::Slack));
        assert_eq!(v["text"], "Acme Robotics (acme-robotics.example) is now hot — score 62.5");
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[0]["text"]["text"], "🔥 Acme Robotics is hot");
        let fields = blocks[1]["fields"].as_array().unwrap();
        assert!(fields.len() <= 10);
        assert_eq!(fields[1]["text"], "*Score*\n62.5 (hot)");
        assert_eq!(fields[5]["text"], "*Class*\nbusiness (90 % sure)");
        let text = |i: usize| blocks[i]["text"]["text"].as_str().unwrap().to_string();
        assert!(text(2).starts_with("*Why: top pages*\n• `/pricing` — 4 views, 38.1 pts"));
        assert!(text(2).contains("/demo&lt;script&gt;"), "mrkdwn escaped: {}", text(2));
        assert!(text(3).contains("`/docs/setup`"));
        assert!(text(4).contains("linkedin / paid / q4"));
        assert!(text(5).contains("ana@acme-robotics.example"));
        assert_eq!(blocks.last().unwrap()["type"], "context");
        for b in blocks {
            assert!(["header", "section", "context"].contains(&b["type"].as_str().unwrap()));
        }
    }

    #[test]
    fn slack_respects_limits() {
        let mut a = alert();
        a.company_name = "N".repeat(400);
        a.kind = AlertKind::HotPage;
        a.top_pages = (0..100)
            .map(|i| PageContribution { path: format!("/{}{i}", "p".repeat(500)), views: 1, points: 1.0 })
            .collect();
        a.recent_pages.clear();
        a.campaigns.clear();
        a.contacts.clear();
        let v = parse(&payload(&a, WebhookFormat::Slack));
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
        for f in blocks[1]["fields"].as_array().unwrap() {
            assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
        }
        assert!(blocks[2]["text"]["text"].as_str().unwrap().chars().count() <= 3000);
        assert_eq!(blocks.len(), 4, "header, fields, top pages, context; empty lists leave no block");
    }
}
