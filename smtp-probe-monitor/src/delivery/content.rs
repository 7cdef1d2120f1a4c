//! What an alert says, in each channel's format: the generic webhook's versioned JSON, Slack's blocks, a Teams
//! Adaptive Card, and an email's subject and plain-text body. Pure functions of the alerts and the monitors
//! they are about.
//!
//! The server's words are hostile data. They arrive bounded and stripped of control characters
//! ([`crate::check::clip`]); here they are also escaped for each format's markup: Slack's `&`, `<`, `>`
//! (which would otherwise make links and `@channel` mentions) and code fences, Teams' Markdown (the text goes in
//! `RichTextBlock` runs, which render no Markdown) and its `{{DATE()}}` functions.

use std::time::Duration;

use serde::Serialize;

use crate::alert::{Alert, AlertKind};
use crate::check::clip;
use crate::clock::Timestamp;
use crate::id::MonitorId;
use crate::incident::Severity;

/// The generic webhook body's version. It changes only when a field changes meaning or goes away; new fields
/// may appear within a version.
pub const WEBHOOK_VERSION: u32 = 1;

/// The most alerts in one message (a Slack message holds at most 50 blocks).
pub const MAX_GROUP: usize = 20;

/// The monitor an alert is about, as people know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitorInfo {
    /// Stable id.
    pub id: MonitorId,
    /// Display name.
    pub name: String,
    /// Target as people read it (`mx1.example.com:25`, `mx:example.com`).
    pub target: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// One alert with what a reader needs: the monitor's name and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The alert as decided.
    pub alert: Alert,
    /// The monitor (`None` for the monitor service's own alerts).
    pub monitor: Option<MonitorInfo>,
}

impl Notification {
    /// The state in capitals: `DOWN`, `DEGRADED`, `RECOVERED`, `STILL DOWN`, `CERTIFICATE EXPIRING`, `POLICY
    /// CHANGED`, ...
    pub fn label(&self) -> &'static str {
        let a = &self.alert;
        let down = a.severity != Some(Severity::Degraded);
        match a.kind {
            AlertKind::Opened | AlertKind::Escalated if down => "DOWN",
            AlertKind::Opened | AlertKind::Escalated => "DEGRADED",
            AlertKind::Recovered => "RECOVERED",
            AlertKind::Reminder if down => "STILL DOWN",
            AlertKind::Reminder => "STILL DEGRADED",
            AlertKind::CertificateExpiring if a.days_left.is_some_and(|d| d <= 0) => "CERTIFICATE EXPIRED",
            AlertKind::CertificateExpiring => "CERTIFICATE EXPIRING",
            AlertKind::MonitorOffline => "MONITOR OFFLINE",
            AlertKind::MonitorOnline => "MONITOR ONLINE",
            AlertKind::Test => "TEST",
            AlertKind::PolicyChanged => "POLICY CHANGED",
        }
    }

    /// Whether this is good news (recovered, back online).
    pub fn is_good_news(&self) -> bool {
        matches!(self.alert.kind, AlertKind::Recovered | AlertKind::MonitorOnline | AlertKind::Test)
    }

    /// The monitor's name, or the instance's for its own alerts.
    pub fn subject_name<'a>(&'a self, instance: &'a str) -> &'a str {
        self.monitor.as_ref().map_or(instance, |m| m.name.as_str())
    }

    /// `DOWN: MX 1 (Frankfurt)`.
    pub fn headline(&self, instance: &str) -> String {
        format!("{}: {}", self.label(), self.subject_name(instance))
    }

    /// How long the incident has lasted (or lasted, when recovered), if it is about one.
    pub fn duration(&self) -> Option<Duration> {
        self.alert.incident_started.map(|s| self.alert.at.since(s))
    }

    /// What happened, in one line without the headline: `greeting_rejected since 2026-03-01T10:00:00.000Z`.
    pub fn detail(&self) -> String {
        let a = &self.alert;
        let severity = a.severity.map_or("down", |s| s.as_str());
        let mut out = match a.kind {
            AlertKind::Opened | AlertKind::Escalated | AlertKind::Reminder => {
                let mut s = a.cause.clone().unwrap_or_else(|| severity.to_owned());
                if a.kind == AlertKind::Escalated {
                    s.push_str(" (was degraded)");
                }
                if let Some(started) = a.incident_started {
                    s.push_str(&format!(" since {started}"));
                }
                if a.kind == AlertKind::Reminder
                    && let Some(d) = self.duration()
                {
                    s.push_str(&format!(" ({} so far)", human(d)));
                }
                s
            }
            AlertKind::Recovered => match self.duration() {
                Some(d) => format!("was {severity} for {}", human(d)),
                None => format!("was {severity}"),
            },
            AlertKind::CertificateExpiring => match (a.days_left, a.threshold_days) {
                (Some(d), _) if d <= 0 => "the certificate has expired".to_owned(),
                (Some(d), Some(t)) => format!("the certificate expires in {d} day(s) (threshold {t})"),
                _ => "the certificate expires soon".to_owned(),
            },
            AlertKind::MonitorOffline => {
                "every canary fails: this monitor's own network is in doubt; results are recorded as unknown and \
                 alerts are held"
                    .to_owned()
            }
            AlertKind::MonitorOnline => "a canary passes again: checks and alerts are back to normal".to_owned(),
            AlertKind::Test => "a test notification, sent on request: this channel reaches you".to_owned(),
            AlertKind::PolicyChanged => format!("what the domain publishes changed: {}", a.changes.join("; ")),
        };
        if a.after_silence {
            out.push_str(" (decided during a maintenance window or while the monitor was offline)");
        }
        out
    }

    /// `DOWN: MX 1 (Frankfurt): greeting_rejected since …`: one line for logs, fallbacks and subjects.
    pub fn summary(&self, instance: &str) -> String {
        format!("{}: {}", self.headline(instance), self.detail())
    }
}

/// A duration for people: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

// ------------------------------------------------------------------------------------------------ webhook JSON

/// The generic webhook's body (`Content-Type: application/json`): always a list, so grouped and single
/// messages have one shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookBody<'a> {
    /// [`WEBHOOK_VERSION`].
    pub version: u32,
    /// Always `smtp-probe-monitor`.
    pub source: &'static str,
    /// The monitor instance that sent it.
    pub instance: &'a str,
    /// When this message was built (RFC 3339, UTC). A retry has a later one; alerts keep their `at`.
    pub sent_at: String,
    /// The alerts, oldest first.
    pub alerts: Vec<WebhookAlert<'a>>,
}

/// One alert in a [`WebhookBody`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookAlert<'a> {
    /// Unique and stable: the same on every retry and from every instance. Receivers drop repeats by it (a
    /// crash between sending and recording can repeat a message).
    pub id: &'a str,
    /// `opened`, `escalated`, `recovered`, `reminder`, `certificate_expiring`, `policy_changed`,
    /// `monitor_offline`, `monitor_online`, or `test` (sent on request, about nothing).
    pub event: &'static str,
    /// When it was decided (RFC 3339, UTC).
    pub at: String,
    /// One line for people: `DOWN: MX 1: greeting_rejected since …`.
    pub summary: String,
    /// Decided while alerts were held (a maintenance window, the monitor offline) and sent when that ended.
    pub after_silence: bool,
    /// The monitor, or `null` for the monitor service's own alerts.
    pub monitor: Option<&'a MonitorInfo>,
    /// The incident, for `opened`, `escalated`, `recovered` and `reminder`.
    pub incident: Option<WebhookIncident<'a>>,
    /// For `certificate_expiring`.
    pub certificate: Option<WebhookCertificate>,
    /// For `policy_changed`: one line per change of what the domain publishes (DNS data: still untrusted text).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub changes: &'a [String],
}

/// The incident an alert is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookIncident<'a> {
    /// When it started: the first failed check (RFC 3339, UTC).
    pub started: String,
    /// `degraded` or `down` (for `recovered`: what it was).
    pub severity: Option<&'static str>,
    /// The probe's cause, from a fixed vocabulary (`greeting_rejected`, `connect_refused`, ...).
    pub cause: Option<&'a str>,
    /// The server's own words (bounded, control characters removed; still untrusted text).
    pub server_text: Option<&'a str>,
    /// From `started` to this alert, in seconds.
    pub duration_secs: u64,
}

/// A certificate alert's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WebhookCertificate {
    /// The threshold crossed (e.g. 14 of 30/14/7/1).
    pub threshold_days: Option<u32>,
    /// Whole days left (0 or less: expired).
    pub days_left: Option<i64>,
}

/// The generic webhook body for these alerts.
pub fn webhook_body<'a>(notes: &'a [Notification], instance: &'a str, now: Timestamp) -> WebhookBody<'a> {
    WebhookBody {
        version: WEBHOOK_VERSION,
        source: "smtp-probe-monitor",
        instance,
        sent_at: now.rfc3339(),
        alerts: notes
            .iter()
            .map(|n| {
                let a = &n.alert;
                WebhookAlert {
                    id: &a.dedup_key,
                    event: a.kind.as_str(),
                    at: a.at.rfc3339(),
                    summary: n.summary(instance),
                    after_silence: a.after_silence,
                    monitor: n.monitor.as_ref(),
                    incident: a.incident_started.map(|started| WebhookIncident {
                        started: started.rfc3339(),
                        severity: a.severity.map(Severity::as_str),
                        cause: a.cause.as_deref(),
                        server_text: a.server_text.as_deref(),
                        duration_secs: a.at.since(started).as_secs(),
                    }),
                    certificate: (a.kind == AlertKind::CertificateExpiring)
                        .then_some(WebhookCertificate { threshold_days: a.threshold_days, days_left: a.days_left }),
                    changes: &a.changes,
                }
            })
            .collect(),
    }
}

// ------------------------------------------------------------------------------------------------ Slack

/// Text for Slack's `mrkdwn`: `&`, `<` and `>` escaped, so server text can make no link and no mention.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Text for inside a Slack code block: escaped, and with no backtick to close the block early.
fn slack_code(s: &str) -> String {
    slack_escape(s).replace('`', "\u{2035}")
}

fn slack_emoji(n: &Notification) -> &'static str {
    match n.alert.kind {
        AlertKind::Test => ":white_check_mark:",
        AlertKind::Recovered | AlertKind::MonitorOnline => ":large_green_circle:",
        AlertKind::CertificateExpiring | AlertKind::PolicyChanged => ":warning:",
        AlertKind::MonitorOffline => ":grey_question:",
        _ if n.alert.severity == Some(Severity::Degraded) => ":large_orange_circle:",
        _ => ":red_circle:",
    }
}

/// A Slack-compatible incoming-webhook body: a `text` fallback (notifications, old clients) and blocks.
pub fn slack_body(notes: &[Notification], instance: &str) -> serde_json::Value {
    use serde_json::json;
    let mut blocks = Vec::new();
    if notes.len() > 1 {
        blocks.push(json!({
            "type": "header",
            "text": { "type": "plain_text", "text": format!("{} alerts from smtp-probe-monitor", notes.len()) }
        }));
    }
    for n in notes {
        let mut text = format!("{} *{}*  {}", slack_emoji(n), n.label(), slack_escape(n.subject_name(instance)));
        if let Some(m) = &n.monitor {
            text.push_str(&format!("  `{}`", slack_code(&m.target)));
        }
        text.push('\n');
        text.push_str(&slack_escape(&n.detail()));
        if let Some(server) = &n.alert.server_text {
            text.push_str(&format!("\n```{}```", slack_code(server)));
        }
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip_keep_lines(&text, 2900) } }));
    }
    let footer = match notes {
        [one] => format!("smtp-probe-monitor · {} · {}", slack_escape(instance), slack_escape(&one.alert.dedup_key)),
        _ => format!("smtp-probe-monitor · {}", slack_escape(instance)),
    };
    blocks.push(json!({ "type": "context", "elements": [ { "type": "mrkdwn", "text": footer } ] }));
    let fallback: Vec<String> = notes.iter().map(|n| slack_escape(&n.headline(instance))).collect();
    json!({
        "text": fallback.join("; "),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// Cuts text to `max` bytes on a character boundary, keeping its line breaks (they are the block's layout).
fn clip_keep_lines(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ------------------------------------------------------------------------------------------------ Teams

/// Text for a Teams card: the card's `{{DATE()}}`/`{{TIME()}}` functions broken up. It goes only into
/// `RichTextBlock` runs, which render no Markdown.
pub fn teams_text(s: &str) -> String {
    s.replace("{{", "{\u{200b}{")
}

/// A Microsoft-Teams-compatible body: an Adaptive Card (1.4) in a `message`, the shape Teams workflow
/// webhooks (and the older connectors) take.
pub fn teams_body(notes: &[Notification], instance: &str) -> serde_json::Value {
    use serde_json::json;
    let run = |text: &str| json!({ "type": "TextRun", "text": teams_text(text) });
    let mut body = Vec::new();
    if notes.len() > 1 {
        body.push(json!({
            "type": "RichTextBlock",
            "inlines": [ { "type": "TextRun", "text": format!("{} alerts", notes.len()), "size": "Large", "weight": "Bolder" } ]
        }));
    }
    for (i, n) in notes.iter().enumerate() {
        let color = if n.is_good_news() {
            "Good"
        } else if n.alert.severity == Some(Severity::Degraded)
            || matches!(n.alert.kind, AlertKind::CertificateExpiring | AlertKind::PolicyChanged)
        {
            "Warning"
        } else {
            "Attention"
        };
        let mut title = json!({
            "type": "RichTextBlock",
            "inlines": [
                { "type": "TextRun", "text": n.label(), "weight": "Bolder", "color": color },
                { "type": "TextRun", "text": format!("  {}", teams_text(n.subject_name(instance))), "weight": "Bolder" },
            ]
        });
        if i > 0 {
            title["separator"] = json!(true);
        }
        body.push(title);
        let mut facts = Vec::new();
        if let Some(m) = &n.monitor {
            facts.push(run(&format!("{}\n", m.target)));
        }
        facts.push(run(&n.detail()));
        body.push(json!({ "type": "RichTextBlock", "inlines": facts }));
        if let Some(server) = &n.alert.server_text {
            body.push(json!({
                "type": "RichTextBlock",
                "inlines": [ { "type": "TextRun", "text": teams_text(server), "fontType": "Monospace" } ]
            }));
        }
    }
    body.push(json!({
        "type": "RichTextBlock",
        "inlines": [ { "type": "TextRun", "text": format!("smtp-probe-monitor · {}", teams_text(instance)), "isSubtle": true, "size": "Small" } ]
    }));
    json!({
        "type": "message",
        "attachments": [ {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
            }
        } ]
    })
}

// ------------------------------------------------------------------------------------------------ email

/// The subject: state, monitor and cause — `[smtp-probe] DOWN: MX 1 (Frankfurt) - greeting_rejected`; for
/// several alerts, how many and which. ASCII punctuation only, so a subject with an ASCII monitor name needs
/// no encoded words.
pub fn email_subject(notes: &[Notification], instance: &str) -> String {
    let text = match notes {
        [n] => {
            let why = match n.alert.kind {
                AlertKind::Opened | AlertKind::Escalated | AlertKind::Reminder => {
                    n.alert.cause.clone().unwrap_or_else(|| n.detail())
                }
                AlertKind::PolicyChanged => match n.alert.changes.as_slice() {
                    [] => n.detail(),
                    [one] => one.replace('→', "->"),
                    [first, rest @ ..] => format!("{} (+{} more)", first.replace('→', "->"), rest.len()),
                },
                _ => n.detail(),
            };
            format!("[smtp-probe] {} - {why}", n.headline(instance))
        }
        _ => {
            let list: Vec<String> =
                notes.iter().map(|n| format!("{} {}", n.label(), n.subject_name(instance))).collect();
            format!("[smtp-probe] {} alerts: {}", notes.len(), list.join("; "))
        }
    };
    // One line, bounded: header injection is impossible and long subjects are cut.
    clip(&text, 200)
}

/// The plain-text body: the facts, one block per alert.
pub fn email_body(notes: &[Notification], instance: &str) -> String {
    let mut out = String::new();
    for (i, n) in notes.iter().enumerate() {
        if i > 0 {
            out.push_str("\n----------------------------------------------------------------\n\n");
        }
        let a = &n.alert;
        out.push_str(&n.headline(instance));
        out.push_str("\n\n");
        let mut fact = |k: &str, v: &str| out.push_str(&format!("{k:<12} {v}\n"));
        if let Some(m) = &n.monitor {
            fact("Monitor:", &format!("{} ({})", m.name, m.id));
            fact("Target:", &m.target);
            if !m.tags.is_empty() {
                fact("Tags:", &m.tags.join(", "));
            }
        }
        fact("What:", &n.detail());
        if let Some(c) = &a.cause {
            fact("Cause:", c);
        }
        if let Some(s) = a.severity {
            fact("Severity:", s.as_str());
        }
        if let Some(started) = a.incident_started {
            fact("Started:", &started.rfc3339());
        }
        if let (Some(d), AlertKind::Recovered) = (n.duration(), a.kind) {
            fact("Duration:", &human(d));
        }
        if let Some(d) = a.days_left {
            fact("Days left:", &d.to_string());
        }
        for (i, change) in a.changes.iter().enumerate() {
            fact(if i == 0 { "Changes:" } else { "" }, change);
        }
        fact("Decided at:", &a.at.rfc3339());
        fact("Alert id:", &a.dedup_key);
        if let Some(server) = &a.server_text {
            out.push_str("\nThe server said:\n    ");
            out.push_str(server);
            out.push('\n');
        }
    }
    out.push_str(&format!("\n-- \nsmtp-probe-monitor, instance {instance}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(kind: AlertKind, severity: Option<Severity>) -> Alert {
        Alert {
            dedup_key: "mx-1:1772359200000:opened".into(),
            kind,
            monitor: MonitorId::parse("mx-1"),
            at: Timestamp(1_772_359_200_000 + 720_000),
            incident_started: Some(Timestamp(1_772_359_200_000)),
            severity,
            cause: Some("greeting_rejected".into()),
            server_text: Some(
                "554 5.3.2 <!channel> & `rm` {{DATE(2017-02-14T06:00:00Z)}} **bold** <https://x|y>".into(),
            ),
            threshold_days: None,
            days_left: None,
            after_silence: false,
            changes: Vec::new(),
        }
    }

    fn note(kind: AlertKind, severity: Option<Severity>) -> Notification {
        Notification {
            alert: alert(kind, severity),
            monitor: Some(MonitorInfo {
                id: MonitorId::parse("mx-1").unwrap(),
                name: "MX 1 (Frankfurt)".into(),
                target: "mx1.example.com:25".into(),
                tags: vec!["eu".into()],
            }),
        }
    }

    #[test]
    fn labels_and_lines() {
        let n = note(AlertKind::Opened, Some(Severity::Down));
        assert_eq!(n.headline("i"), "DOWN: MX 1 (Frankfurt)");
        assert_eq!(n.detail(), "greeting_rejected since 2026-03-01T10:00:00.000Z");
        let r = note(AlertKind::Recovered, Some(Severity::Down));
        assert_eq!(r.summary("i"), "RECOVERED: MX 1 (Frankfurt): was down for 12m");
        assert_eq!(note(AlertKind::Reminder, Some(Severity::Degraded)).label(), "STILL DEGRADED");
        let mut c = note(AlertKind::CertificateExpiring, None);
        c.alert.days_left = Some(6);
        c.alert.threshold_days = Some(7);
        assert_eq!(c.detail(), "the certificate expires in 6 day(s) (threshold 7)");
        let off = Notification { alert: alert(AlertKind::MonitorOffline, None), monitor: None };
        assert_eq!(off.headline("monitor-a"), "MONITOR OFFLINE: monitor-a");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 300)), "3h 5m");
        assert_eq!(human(Duration::from_secs(2 * 86_400 + 4 * 3600)), "2d 4h");
    }

    #[test]
    fn webhook_json_is_the_documented_shape() {
        let notes = [note(AlertKind::Opened, Some(Severity::Down))];
        let body = serde_json::to_value(webhook_body(&notes, "monitor-a", Timestamp(1_772_360_000_000))).unwrap();
        assert_eq!(body["version"], 1);
        assert_eq!(body["source"], "smtp-probe-monitor");
        assert_eq!(body["instance"], "monitor-a");
        let a = &body["alerts"][0];
        assert_eq!(a["id"], "mx-1:1772359200000:opened");
        assert_eq!(a["event"], "opened");
        assert_eq!(a["at"], "2026-03-01T10:12:00.000Z");
        assert_eq!(a["monitor"]["name"], "MX 1 (Frankfurt)");
        assert_eq!(a["monitor"]["tags"][0], "eu");
        assert_eq!(a["incident"]["severity"], "down");
        assert_eq!(a["incident"]["cause"], "greeting_rejected");
        assert_eq!(a["incident"]["duration_secs"], 720);
        assert!(a["incident"]["server_text"].as_str().unwrap().starts_with("554 5.3.2"));
        assert!(a["certificate"].is_null());
        assert!(a["summary"].as_str().unwrap().starts_with("DOWN: MX 1 (Frankfurt): greeting_rejected"));
    }

    #[test]
    fn slack_escapes_server_text() {
        let notes = [note(AlertKind::Opened, Some(Severity::Down))];
        let body = slack_body(&notes, "monitor-a");
        let text = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(text.starts_with(":red_circle: *DOWN*  MX 1 (Frankfurt)  `mx1.example.com:25`\n"), "{text}");
        assert!(!text.contains("<!channel>") && text.contains("&lt;!channel&gt;"), "no mention: {text}");
        assert!(!text.contains("<https://"), "no link: {text}");
        assert!(text.contains("&amp;"));
        let code = text.split("```").nth(1).expect("a code block");
        assert!(!code.contains('`'), "nothing closes the code block early: {code}");
        assert_eq!(text.matches("```").count(), 2);
        assert_eq!(body["unfurl_links"], false);
        assert_eq!(body["text"], "DOWN: MX 1 (Frankfurt)");
        assert_eq!(body["blocks"].as_array().unwrap().last().unwrap()["type"], "context");
    }

    #[test]
    fn teams_card_shape_and_escaping() {
        let notes = [note(AlertKind::Opened, Some(Severity::Down)), note(AlertKind::Recovered, Some(Severity::Down))];
        let body = teams_body(&notes, "monitor-a");
        assert_eq!(body["type"], "message");
        let att = &body["attachments"][0];
        assert_eq!(att["contentType"], "application/vnd.microsoft.card.adaptive");
        let card = &att["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        let blocks = card["body"].as_array().unwrap();
        assert!(blocks.iter().all(|b| b["type"] == "RichTextBlock"), "no TextBlock: no Markdown anywhere");
        let all = serde_json::to_string(card).unwrap();
        assert!(!all.contains("{{DATE"), "card functions are broken up");
        assert!(all.contains("\"color\":\"Good\"") && all.contains("\"color\":\"Attention\""));
        assert!(all.contains("Monospace"));
    }

    #[test]
    fn email_subject_and_body() {
        let notes = [note(AlertKind::Opened, Some(Severity::Down))];
        assert_eq!(email_subject(&notes, "i"), "[smtp-probe] DOWN: MX 1 (Frankfurt) - greeting_rejected");
        let body = email_body(&notes, "monitor-a");
        assert!(body.contains("Target:      mx1.example.com:25\n"), "{body}");
        assert!(body.contains("Cause:       greeting_rejected\n"));
        assert!(body.contains("The server said:\n    554 5.3.2"));
        let r = [note(AlertKind::Recovered, Some(Severity::Down))];
        assert_eq!(email_subject(&r, "i"), "[smtp-probe] RECOVERED: MX 1 (Frankfurt) - was down for 12m");
        let two = [notes[0].clone(), r[0].clone()];
        assert_eq!(
            email_subject(&two, "i"),
            "[smtp-probe] 2 alerts: DOWN MX 1 (Frankfurt); RECOVERED MX 1 (Frankfurt)"
        );
        let mut evil = notes[0].clone();
        evil.monitor.as_mut().unwrap().name = "x\r\nBcc: victim@example.org".into();
        assert!(!email_subject(&[evil], "i").contains(['\r', '\n']));
    }

    fn policy_changed() -> Notification {
        let mut n = note(AlertKind::PolicyChanged, None);
        n.alert.incident_started = None;
        n.alert.cause = None;
        n.alert.server_text = None;
        n.alert.changes = vec![
            "MTA-STS id: 20261101 → 20261130".into(),
            "TLSA _25._tcp.mx1.example.com: 3 1 1 aa → 3 1 1 <bb>: the live certificate matches none of them".into(),
        ];
        n
    }

    #[test]
    fn policy_changes_are_listed_in_every_format() {
        let n = policy_changed();
        assert_eq!(n.headline("i"), "POLICY CHANGED: MX 1 (Frankfurt)");
        assert!(n.detail().starts_with("what the domain publishes changed: MTA-STS id: 20261101 → 20261130; TLSA"));
        let notes = [n];
        let body = serde_json::to_value(webhook_body(&notes, "i", Timestamp(1_772_360_000_000))).unwrap();
        let a = &body["alerts"][0];
        assert_eq!(a["event"], "policy_changed");
        assert_eq!(a["changes"][0], "MTA-STS id: 20261101 → 20261130");
        assert!(a["incident"].is_null());
        let other =
            serde_json::to_value(webhook_body(&[note(AlertKind::Opened, Some(Severity::Down))], "i", Timestamp(0)))
                .unwrap();
        assert!(other["alerts"][0].get("changes").is_none(), "only policy changes carry the field");
        let slack = slack_body(&notes, "i");
        let text = slack["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(text.starts_with(":warning: *POLICY CHANGED*"), "{text}");
        assert!(text.contains("3 1 1 &lt;bb&gt;"), "DNS data is escaped like server text: {text}");
        let email = email_body(&notes, "i");
        assert!(email.contains("Changes:     MTA-STS id: 20261101 → 20261130\n             TLSA _25._tcp"), "{email}");
        assert_eq!(
            email_subject(&notes, "i"),
            "[smtp-probe] POLICY CHANGED: MX 1 (Frankfurt) - MTA-STS id: 20261101 -> 20261130 (+1 more)"
        );
    }
}
