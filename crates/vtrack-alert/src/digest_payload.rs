//! The weekly digest's bodies: vtrack's JSON (`"type": "vtrack.digest"`) or a Slack message. Like alerts,
//! built from the stored alert alone, so a retry sends the same bytes.

use serde_json::{json, Value};
use vtrack_model::config::WebhookFormat;
use vtrack_model::digest::{Digest, DigestAccount, FunnelWeek};
use vtrack_model::time::format_ms;
use vtrack_model::Alert;

use crate::payload::{cut, esc, mrkdwn, section};

/// Accounts listed per section; the JSON carries them all.
const SLACK_LIST_MAX: usize = 10;

pub(crate) fn digest_payload(a: &Alert, d: &Digest, format: WebhookFormat) -> Value {
    match format {
        WebhookFormat::Json => json_payload(a, d),
        WebhookFormat::Slack => slack_payload(a, d),
    }
}

fn json_payload(a: &Alert, d: &Digest) -> Value {
    json!({
        "type": "vtrack.digest",
        "digest_id": a.alert_id,
        "site": a.site,
        "timezone": d.timezone,
        "scheduled_at": format_ms(d.scheduled_ms),
        "last_week": d.last_week,
        "week_before": d.week_before,
        "new_hot": d.new_hot.iter().map(account).collect::<Vec<_>>(),
        "overdue": d.overdue.iter().map(account).collect::<Vec<_>>(),
    })
}

fn account(a: &DigestAccount) -> Value {
    json!({
        "domain": a.domain,
        "name": a.name,
        "owner": a.owner,
        "score": (a.score * 100.0).round() / 100.0,
        "hot_at": format_ms(a.hot_ms),
        "overdue_hours": a.overdue_hours,
    })
}

/// `12 (+3)`: a count with its change from the week before.
fn versus(now: i64, before: i64) -> String {
    format!("{now} ({:+})", now - before)
}

fn funnel_line(w: &FunnelWeek, b: &FunnelWeek) -> String {
    format!(
        "identified {} · warm {} · hot {} · contacted {} · qualified {} · won {} · lost {}",
        versus(w.counts.identified, b.counts.identified),
        versus(w.counts.warm, b.counts.warm),
        versus(w.counts.hot, b.counts.hot),
        versus(w.counts.contacted, b.counts.contacted),
        versus(w.counts.qualified, b.counts.qualified),
        versus(w.counts.won, b.counts.won),
        versus(w.counts.lost, b.counts.lost),
    )
}

fn account_lines(list: &[DigestAccount], late: bool) -> String {
    if list.is_empty() {
        return "none".into();
    }
    let mut lines: Vec<String> = list
        .iter()
        .take(SLACK_LIST_MAX)
        .map(|a| {
            let name = if a.name.is_empty() || a.name == a.domain {
                esc(&a.domain)
            } else {
                format!("{} ({})", esc(&a.name), esc(&a.domain))
            };
            let owner = if a.owner.is_empty() { "nobody" } else { &a.owner };
            let when = match (late, a.overdue_hours) {
                (true, Some(h)) => format!(", {h} h late"),
                _ => String::new(),
            };
            format!("• {name} — owner {}{when}", esc(owner))
        })
        .collect();
    if list.len() > SLACK_LIST_MAX {
        lines.push(format!("…and {} more", list.len() - SLACK_LIST_MAX));
    }
    lines.join("\n")
}

fn slack_payload(a: &Alert, d: &Digest) -> Value {
    let title = format!("📊 Weekly digest for {} — week of {}", a.site, d.last_week.week);
    let funnel = format!(
        "*Funnel, week of {} (vs {})*\n{}",
        d.last_week.week,
        d.week_before.week,
        funnel_line(&d.last_week, &d.week_before)
    );
    let blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&title, 150), "emoji": true}}),
        section(esc(&funnel)),
        section(format!("*New hot accounts ({})*\n{}", d.new_hot.len(), account_lines(&d.new_hot, false))),
        section(format!("*Overdue follow-ups ({})*\n{}", d.overdue.len(), account_lines(&d.overdue, true))),
        json!({"type": "context", "elements": [
            mrkdwn(esc(&format!("due {} UTC ({}) · digest {}", format_ms(d.scheduled_ms), d.timezone, a.alert_id))),
        ]}),
    ];
    json!({"text": title, "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use crate::payload;
    use serde_json::Value;
    use vtrack_model::config::WebhookFormat;
    use vtrack_model::digest::{Digest, DigestAccount, FunnelCounts, FunnelWeek};
    use vtrack_model::AlertKind;

    fn digest_alert() -> vtrack_model::Alert {
        let acct = |domain: &str, owner: &str, late: Option<i64>| DigestAccount {
            domain: domain.into(),
            name: String::new(),
            owner: owner.into(),
            score: 71.234,
            hot_ms: 1_795_996_800_000,
            overdue_hours: late,
        };
        vtrack_model::Alert {
            alert_id: "s:digest:2026-11-30".into(),
            kind: AlertKind::WeeklyDigest,
            digest: Some(Box::new(Digest {
                timezone: "Europe/Berlin".into(),
                scheduled_ms: 1_796_022_000_000,
                last_week: FunnelWeek {
                    week: "2026-11-23".into(),
                    counts: FunnelCounts { identified: 5, hot: 2, ..FunnelCounts::default() },
                },
                week_before: FunnelWeek {
                    week: "2026-11-16".into(),
                    counts: FunnelCounts { identified: 3, hot: 2, ..FunnelCounts::default() },
                },
                new_hot: vec![acct("acme.example", "ana", None)],
                overdue: vec![acct("<evil>.example", "", Some(30))],
            })),
            ..crate::payload::tests::alert()
        }
    }

    #[test]
    fn json_carries_both_weeks_and_the_accounts() {
        let v: Value = serde_json::from_slice(&payload(&digest_alert(), WebhookFormat::Json)).unwrap();
        assert_eq!(v["type"], "vtrack.digest");
        assert_eq!(v["digest_id"], "s:digest:2026-11-30");
        assert_eq!(v["scheduled_at"], "2026-11-30 07:00:00");
        assert_eq!(
            (v["last_week"]["week"].as_str(), v["last_week"]["identified"].as_i64()),
            (Some("2026-11-23"), Some(5))
        );
        assert_eq!(v["week_before"]["identified"], 3);
        assert_eq!((v["new_hot"][0]["owner"].as_str(), v["new_hot"][0]["score"].as_f64()), (Some("ana"), Some(71.23)));
        assert_eq!(v["overdue"][0]["overdue_hours"], 30);
    }

    #[test]
    fn slack_compares_the_weeks_and_escapes_names() {
        let v: Value = serde_json::from_slice(&payload(&digest_alert(), WebhookFormat::Slack)).unwrap();
        let text = v.to_string();
        assert!(v["text"].as_str().unwrap().contains("Weekly digest for acme-web"), "{text}");
        assert!(text.contains("identified 5 (+2)") && text.contains("hot 2 (+0)"), "{text}");
        assert!(text.contains("owner ana") && text.contains("owner nobody, 30 h late"), "{text}");
        assert!(!text.contains("<evil>") && text.contains("&lt;evil&gt;"), "{text}");
    }
}
