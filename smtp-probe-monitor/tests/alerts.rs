//! Alert delivery end to end: real checks against loopback SMTP servers that fail and recover, alerts through
//! the outbox to a loopback webhook receiver (one that is down for a while, one that rate-limits, one that
//! rejects), Slack and Teams payloads as received, and email through the loopback Postfix.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_probe_monitor::alert::{Alert, AlertKind};
use smtp_probe_monitor::clock::Timestamp;
use smtp_probe_monitor::delivery::ChannelState;
use smtp_probe_monitor::id::MonitorId;
use smtp_probe_monitor::incident::Severity;
use smtp_probe_monitor::storage::{AlertQuery, Batch, OutboxEntry, SqlStore, Store, Transition};
use support::fast::{DOWN, channel, config, events, id, start};
use support::flip::FlipServer;
use support::receiver::{Receiver, Reply, free_addr};

/// A scripted server made to fail and then recover gives exactly one "down" and one "recovered" at the
/// receiver, in the documented JSON, each attempt recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_fails_and_recovers_gives_one_down_and_one_recovered() {
    let rx = Receiver::start().await;
    let server = FlipServer::start(true, DOWN).await;
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let channels = format!("[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\n", rx.url("/hook"));
    let engine = start(config(dir.path(), &[("mx", server.addr)], &channels, &[]), &store).await;
    let mut stream = engine.subscribe();

    support::wait_for(Duration::from_secs(20), "two good checks", async || {
        engine.monitor(&id("mx")).unwrap().checks >= 2
    })
    .await;
    server.set_up(false);
    support::wait_for(Duration::from_secs(20), "the opened alert", async || {
        events(&rx.accepted_alerts()).contains(&"opened".to_owned())
    })
    .await;
    server.set_up(true);
    support::wait_for(Duration::from_secs(20), "the recovered alert", async || {
        events(&rx.accepted_alerts()).contains(&"recovered".to_owned())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // nothing else comes
    let alerts = rx.accepted_alerts();
    assert_eq!(events(&alerts), ["opened", "recovered"], "{alerts:#?}");

    let received = rx.accepted();
    let opened = &received[0];
    assert_eq!(opened.path, "/hook");
    assert_eq!(opened.header("content-type").as_deref(), Some("application/json"));
    assert!(opened.header("user-agent").unwrap().starts_with("smtp-probe-monitor/"));
    assert_eq!(opened.body["version"], 1);
    assert_eq!(opened.body["instance"], "alerts-test");
    let a = &alerts[0];
    assert_eq!(opened.header("idempotency-key").as_deref(), a["id"].as_str(), "the alert's stable id");
    assert_eq!(a["monitor"]["id"], "mx");
    assert_eq!(a["monitor"]["target"], server.addr.to_string());
    assert_eq!(a["incident"]["severity"], "down");
    assert_eq!(a["incident"]["cause"], "greeting_rejected");
    assert!(a["incident"]["server_text"].as_str().unwrap().contains("554 5.3.2 mx.test is not accepting mail"));
    assert!(a["summary"].as_str().unwrap().starts_with("DOWN: mx: greeting_rejected since "));
    let r = &alerts[1];
    assert_eq!(r["incident"]["started"], a["incident"]["started"], "the same incident");
    assert!(r["incident"]["duration_secs"].as_u64().is_some());

    engine.flush(Duration::from_secs(5)).await;
    support::wait_for(Duration::from_secs(10), "both rows finished", async || {
        let rows = store.alerts(&AlertQuery::default(), 10).await.unwrap();
        rows.len() == 2 && rows.iter().all(|r| r.status == "delivered" && r.done_at.is_some())
    })
    .await;
    for row in store.alerts(&AlertQuery::default(), 10).await.unwrap() {
        let attempts = store.deliveries_of(row.id).await.unwrap();
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        assert_eq!((attempts[0].channel.as_str(), attempts[0].attempt), ("hook", 1));
        assert_eq!(attempts[0].status, "delivered");
        assert_eq!(attempts[0].detail.as_deref(), Some("HTTP 200: ok"));
    }
    let health = channel(&engine, "hook");
    assert_eq!(health.state, ChannelState::Ok);
    assert_eq!((health.delivered_total, health.attempts_total, health.failures_total), (2, 2, 0));
    let mut delivered = Vec::new();
    while let Ok(e) = stream.try_recv() {
        if let smtp_probe_monitor::events::Event::Delivery { kind, channel, status, attempt, .. } = e {
            delivered.push((kind, channel, status, attempt));
        }
    }
    assert_eq!(
        delivered,
        [
            (AlertKind::Opened, "hook".into(), "delivered".into(), 1),
            (AlertKind::Recovered, "hook".into(), "delivered".into(), 1)
        ],
        "the event stream tells of each attempt"
    );
    engine.shutdown(Duration::from_secs(5)).await;
}

/// The receiver is down (connection refused), then answers 503 with `Retry-After: 1`, then takes alerts: the
/// alert arrives once, after the pause it asked for, and every attempt is recorded; the channel shows as
/// failing meanwhile and as delivering afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_everything_later() {
    let addr = free_addr();
    let server = FlipServer::start(false, DOWN).await;
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let channels = format!("[channels.hook]\ntype = \"webhook\"\nurl = \"http://{addr}/hook\"\n");
    let engine = start(config(dir.path(), &[("mx", server.addr)], &channels, &[]), &store).await;

    support::wait_for(Duration::from_secs(20), "the channel to fail", async || {
        channel(&engine, "hook").consecutive_failures >= 2
    })
    .await;
    let failing = channel(&engine, "hook");
    assert_eq!(failing.state, ChannelState::Failing);
    assert!(failing.last_error.as_deref().unwrap().contains("cannot connect"), "{failing:?}");
    assert!(!failing.last_error.as_deref().unwrap().contains(&addr.to_string()), "no URL in errors");

    let rx = Receiver::start_on(addr).await;
    rx.script([Reply::status(503).retry_after(1)]);
    support::wait_for(Duration::from_secs(20), "the opened alert", async || !rx.accepted_alerts().is_empty()).await;
    server.set_up(true);
    support::wait_for(Duration::from_secs(20), "the recovered alert", async || rx.accepted_alerts().len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(events(&rx.accepted_alerts()), ["opened", "recovered"], "nothing lost, nothing twice");

    let all = rx.received();
    assert_eq!(all[0].status, 503);
    assert_eq!(all[1].status, 200);
    assert_eq!(all[0].alerts()[0]["id"], all[1].alerts()[0]["id"], "the same alert, tried again");
    let gap = all[1].at.duration_since(all[0].at);
    assert!(gap >= Duration::from_millis(950), "Retry-After honoured: {gap:?}");

    engine.flush(Duration::from_secs(5)).await;
    let mut opened = None;
    support::wait_for(Duration::from_secs(10), "the rows finished", async || {
        let rows = store.alerts(&AlertQuery::default(), 10).await.unwrap();
        opened = rows.iter().find(|r| r.alert.kind == AlertKind::Opened).cloned();
        rows.iter().all(|r| r.status == "delivered")
    })
    .await;
    let attempts = store.deliveries_of(opened.unwrap().id).await.unwrap();
    let statuses: Vec<&str> = attempts.iter().map(|d| d.status.as_str()).collect();
    assert!(statuses.len() >= 3, "{attempts:#?}");
    assert_eq!(statuses.last(), Some(&"delivered"));
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == "failed"));
    assert!(attempts[0].detail.as_deref().unwrap().contains("cannot connect"));
    assert_eq!(attempts[attempts.len() - 2].detail.as_deref(), Some("HTTP 503: try later"));
    let numbers: Vec<i64> = attempts.iter().map(|d| d.attempt).collect();
    assert_eq!(numbers, (1..=attempts.len() as i64).collect::<Vec<_>>(), "attempts numbered in order");
    let health = channel(&engine, "hook");
    assert_eq!(health.state, ChannelState::Ok);
    assert!(health.failures_total >= 3 && health.last_error.is_none(), "{health:?}");
    engine.shutdown(Duration::from_secs(5)).await;
}

/// Alerts written straight to the outbox, as a storm of incidents would.
async fn queue_alerts(store: &Arc<SqlStore>, n: usize, channel: &str) {
    let at = Timestamp::now();
    let alerts = (0..n)
        .map(|i| OutboxEntry {
            alert: Alert {
                dedup_key: format!("m-{i}:{}:opened", at.0),
                kind: AlertKind::Opened,
                monitor: MonitorId::parse(&format!("m-{i}")),
                at,
                incident_started: Some(at),
                severity: Some(Severity::Down),
                cause: Some("connect_refused".into()),
                server_text: None,
                threshold_days: None,
                days_left: None,
                after_silence: false,
                changes: Vec::new(),
            },
            channels: vec![channel.to_owned()],
        })
        .collect();
    let t = Transition {
        monitor: id("m-0"),
        at,
        incidents: vec![],
        alerts,
        state: None,
        cert_threshold: None,
        published: None,
        maintenance: None,
    };
    store.write(&Batch { transitions: vec![t], ..Batch::default() }, "test").await.unwrap();
}

/// Thirty alerts at once to a Slack-like receiver that answers 429 past 12 a second: the channel's pace (10 a
/// second, bursts of 5, two at a time) gets every one through without a single 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_alerts_at_once_are_paced_not_rate_limited() {
    let rx = Receiver::start().await;
    rx.rate_limit(12.0, 6.0);
    rx.delay(Duration::from_millis(20));
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let channels =
        "[channels.chat]\ntype = \"slack\"\nurl_env = \"HOOK\"\nmax_per_minute = 600\nburst = 5\nconcurrency = 2\n";
    let cfg = config(dir.path(), &[], channels, &[("HOOK", rx.url("/slack"))]);
    let started = Instant::now();
    queue_alerts(&store, 30, "chat").await;
    let engine = start(cfg, &store).await;
    support::wait_for(Duration::from_secs(30), "thirty deliveries", async || rx.accepted().len() >= 30).await;
    let took = started.elapsed();
    let all = rx.received();
    assert_eq!(all.iter().filter(|r| r.status == 429).count(), 0, "never rate-limited");
    assert_eq!(all.len(), 30, "each alert once");
    let mut names: Vec<String> = all.iter().map(|r| r.body["text"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 30, "thirty different alerts: {names:?}");
    assert!(rx.max_in_flight() <= 2, "at most two at once: {}", rx.max_in_flight());
    assert!(took >= Duration::from_millis(2300), "25 after the burst at 10 a second: {took:?}");
    support::wait_for(Duration::from_secs(10), "the rows finished", async || {
        store.alerts(&AlertQuery::default(), 100).await.unwrap().iter().all(|r| r.status == "delivered")
    })
    .await;
    assert_eq!(channel(&engine, "chat").delivered_total, 30);
    engine.shutdown(Duration::from_secs(5)).await;
}

/// With `group_wait`, alerts that come within it go as one message listing them all; the next ones wait for
/// `group_interval`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_alerts_go_as_one_message() {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let channels = format!(
        "[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\ngroup_wait = \"1500ms\"\ngroup_interval = \"3s\"\n",
        rx.url("/hook")
    );
    let engine = start(config(dir.path(), &[], &channels, &[]), &store).await;
    // Five alerts, decided 150 ms apart, as incidents opening one after another.
    for i in 0..5 {
        queue_alert(&store, &format!("a-{i}"), "hook").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    support::wait_for(Duration::from_secs(10), "a message", async || !rx.accepted().is_empty()).await;
    let first_at = rx.accepted()[0].at;
    queue_alert(&store, "late-1", "hook").await;
    queue_alert(&store, "late-2", "hook").await;
    support::wait_for(Duration::from_secs(10), "a second message", async || rx.accepted().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = rx.accepted();
    assert_eq!(got.len(), 2, "two messages for seven alerts");
    assert_eq!(got[0].alerts().len(), 5, "the first lists all five");
    assert!(got[0].header("idempotency-key").unwrap().starts_with("group-"));
    assert_eq!(got[1].alerts().len(), 2);
    let gap = got[1].at.duration_since(first_at);
    assert!(gap >= Duration::from_millis(2900), "group_interval kept: {gap:?}");
    support::wait_for(Duration::from_secs(10), "the rows finished", async || {
        store.alerts(&AlertQuery::default(), 100).await.unwrap().iter().all(|r| r.status == "delivered")
    })
    .await;
    assert_eq!(channel(&engine, "hook").delivered_total, 7);
    engine.shutdown(Duration::from_secs(5)).await;
}

/// One alert for monitor `m` written straight to the outbox, decided now.
async fn queue_alert(store: &Arc<SqlStore>, m: &str, channel: &str) {
    let at = Timestamp::now();
    let alert = Alert {
        dedup_key: format!("{m}:{}:opened", at.0),
        kind: AlertKind::Opened,
        monitor: MonitorId::parse(m),
        at,
        incident_started: Some(at),
        severity: Some(Severity::Down),
        cause: Some("connect_refused".into()),
        server_text: None,
        threshold_days: None,
        days_left: None,
        after_silence: false,
        changes: Vec::new(),
    };
    let t = Transition {
        monitor: id(m),
        at,
        incidents: vec![],
        alerts: vec![OutboxEntry { alert, channels: vec![channel.to_owned()] }],
        state: None,
        cert_threshold: None,
        published: None,
        maintenance: None,
    };
    store.write(&Batch { transitions: vec![t], ..Batch::default() }, "test").await.unwrap();
}

/// A receiver that refuses for good (404) is not asked again; one that never answers is given up at the
/// deadline. Both show in the records and the channel's health.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_alerts_are_not_retried_and_late_ones_are_given_up() {
    let rx = Receiver::start().await;
    rx.script([Reply::status(404)]);
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let channels = format!(
        "[channels.gone]\ntype = \"webhook\"\nurl = \"{}\"\n\
         [channels.dead]\ntype = \"webhook\"\nurl = \"http://{}/\"\ngive_up_after = \"1s\"\nretry_initial = \"200ms\"\n",
        rx.url("/gone"),
        free_addr()
    );
    let cfg = config(dir.path(), &[], &channels, &[]);
    queue_alerts(&store, 1, "gone").await;
    // A second alert, for the dead channel.
    let mut t = store.alerts(&AlertQuery::default(), 1).await.unwrap()[0].alert.clone();
    t.dedup_key.push_str(":dead");
    let entry = OutboxEntry { alert: t.clone(), channels: vec!["dead".into()] };
    let tr = Transition {
        monitor: id("m-0"),
        at: t.at,
        incidents: vec![],
        alerts: vec![entry],
        state: None,
        cert_threshold: None,
        published: None,
        maintenance: None,
    };
    store.write(&Batch { transitions: vec![tr], ..Batch::default() }, "test").await.unwrap();
    let engine = start(cfg, &store).await;
    support::wait_for(Duration::from_secs(15), "both rows finished", async || {
        let rows = store.alerts(&AlertQuery::default(), 10).await.unwrap();
        rows.len() == 2 && rows.iter().all(|r| r.done_at.is_some())
    })
    .await;
    assert_eq!(rx.received().len(), 1, "a 404 is not retried");
    for row in store.alerts(&AlertQuery::default(), 10).await.unwrap() {
        assert_eq!(row.status, "failed");
        let attempts = store.deliveries_of(row.id).await.unwrap();
        let last = attempts.last().unwrap();
        if row.channels == ["gone"] {
            assert_eq!(attempts.len(), 1);
            assert_eq!((last.status.as_str(), last.detail.as_deref()), ("rejected", Some("HTTP 404: try later")));
        } else {
            assert_eq!(last.status, "expired", "{attempts:#?}");
            assert!(last.detail.as_deref().unwrap().contains("given up"), "{last:?}");
        }
    }
    for name in ["gone", "dead"] {
        let h = channel(&engine, name);
        assert_eq!((h.state, h.given_up_total), (ChannelState::Failing, 1), "{h:?}");
    }
    engine.shutdown(Duration::from_secs(5)).await;
}

/// Slack and Teams get their own formats, with the server's hostile words escaped for their markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_teams_payloads_escape_the_servers_words() {
    let rx = Receiver::start().await;
    let hostile = "554 5.3.2 <!channel> `x` ```rm -rf``` {{DATE(2017-02-14T06:00:00Z, SHORT)}} **bold** & <https://evil.example|click>";
    let server = FlipServer::start(false, hostile).await;
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let url_file = dir.path().join("teams-url");
    std::fs::write(&url_file, rx.url("/teams")).unwrap();
    let channels = format!(
        "[channels.slack]\ntype = \"slack\"\nurl_env = \"SLACK\"\n[channels.teams]\ntype = \"teams\"\nurl_file = \"{}\"\n",
        url_file.display()
    );
    let mut cfg = config(dir.path(), &[("edge mx", server.addr)], &channels, &[("SLACK", rx.url("/slack"))]);
    cfg.monitors[0].tags = vec!["edge".into()];
    let engine = start(cfg, &store).await;
    support::wait_for(Duration::from_secs(20), "both messages", async || rx.accepted().len() >= 2).await;
    let got = rx.accepted();
    let slack = got.iter().find(|r| r.path == "/slack").expect("Slack message");
    let teams = got.iter().find(|r| r.path == "/teams").expect("Teams message");

    let b = &slack.body;
    assert_eq!(b["text"], "DOWN: edge mx");
    assert_eq!(b["unfurl_links"], false);
    let section = b["blocks"][0]["text"]["text"].as_str().unwrap();
    assert_eq!(b["blocks"][0]["type"], "section");
    assert!(section.starts_with(":red_circle: *DOWN*  edge mx"), "{section}");
    assert!(section.contains("&lt;!channel&gt;") && !section.contains("<!channel>"), "{section}");
    assert!(!section.contains("<https://evil"), "no link: {section}");
    assert_eq!(section.matches("```").count(), 2, "one code block, not broken out of: {section}");
    let context = b["blocks"].as_array().unwrap().last().unwrap();
    assert_eq!(context["type"], "context");

    let card = &teams.body["attachments"][0];
    assert_eq!(teams.body["type"], "message");
    assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    let text = serde_json::to_string(&card["content"]["body"]).unwrap();
    assert!(!text.contains("{{DATE"), "card functions broken up: {text}");
    assert!(text.contains("\"fontType\":\"Monospace\""));
    assert!(text.contains("<!channel>"), "no Markdown in RichTextBlock runs, so no escaping needed: {text}");
    assert!(card["content"]["body"].as_array().unwrap().iter().all(|b| b["type"] == "RichTextBlock"));
    engine.shutdown(Duration::from_secs(5)).await;
}

/// Email through the loopback Postfix's submission port (STARTTLS verified against the test CA, then AUTH),
/// to a local mailbox where the message is found with its subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_through_the_loopback_postfix() {
    let env = "/var/tmp/smtp-probe-postfix/env";
    let Some(port) = support::require("SMTP_PROBE_POSTFIX_SUBMISSION_PORT", env, ".ci/postfix.sh") else { return };
    let ca = support::service_var("SMTP_PROBE_POSTFIX_CA", env).unwrap();
    let user = support::service_var("SMTP_PROBE_POSTFIX_USER", env).unwrap();
    let password = support::service_var("SMTP_PROBE_POSTFIX_PASSWORD", env).unwrap();
    // The round-trip Maildir when Dovecot's bed is up, else root's mbox (probe@mx.test is aliased to root).
    let dovecot_env = "/var/tmp/smtp-probe-dovecot/env";
    let (rcpt, mailbox) = match (
        support::service_var("SMTP_PROBE_DOVECOT_RCPT", dovecot_env),
        support::service_var("SMTP_PROBE_DOVECOT_DIR", dovecot_env),
    ) {
        (Some(rcpt), Some(dir)) if Path::new(&dir).join("mail").is_dir() => (rcpt, Path::new(&dir).join("mail")),
        _ => ("probe@mx.test".to_owned(), Path::new("/var/mail/root").to_owned()),
    };
    let token = format!("{:08x}", fastrand::u32(..));
    let name = format!("mail-{token}");
    let server = FlipServer::start(false, DOWN).await;
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let channels = format!(
        "[channels.mail]\ntype = \"email\"\nrelay = \"submission://127.0.0.1:{port}\"\ntls_name = \"mx.test\"\n\
         ca_file = \"{ca}\"\nfrom = \"{user}\"\nto = [\"{rcpt}\"]\nusername = \"{user}\"\npassword_env = \"PF_PASSWORD\"\n"
    );
    let cfg = config(dir.path(), &[(&name, server.addr)], &channels, &[("PF_PASSWORD", password)]);
    let engine = start(cfg, &store).await;

    let subject = format!("Subject: [smtp-probe] DOWN: {name} - greeting_rejected");
    let mut found = None;
    support::wait_for(Duration::from_secs(40), "the message in the mailbox", async || {
        found = find_mail(&mailbox, &token);
        found.as_deref().is_some_and(|m| m.contains(&subject))
    })
    .await;
    let message = found.unwrap();
    assert!(message.contains("Cause:       greeting_rejected"), "{message}");
    assert!(message.contains("The server said:"), "{message}");
    assert!(message.contains("Message-ID: <alert-"), "{message}");
    support::wait_for(Duration::from_secs(10), "the attempt recorded", async || {
        store.alerts(&AlertQuery::default(), 10).await.unwrap().iter().all(|r| r.status == "delivered")
    })
    .await;
    let rows = store.alerts(&AlertQuery::default(), 10).await.unwrap();
    let attempts = store.deliveries_of(rows[0].id).await.unwrap();
    assert_eq!(attempts.last().unwrap().status, "delivered", "{attempts:?}");
    assert!(attempts.last().unwrap().detail.as_deref().unwrap().starts_with("250"), "{attempts:?}");
    engine.shutdown(Duration::from_secs(5)).await;

    // Without credentials, smtp:// is opportunistic STARTTLS: the test CA is not trusted here, and the mail
    // still goes, encrypted (RFC 7435) — nothing secret rides on the certificate.
    let plain = support::service_var("SMTP_PROBE_POSTFIX_PLAIN_PORT", env).unwrap();
    let text = format!(
        "[service]\ninstance = \"optls-{token}\"\n[channels.mx]\ntype = \"email\"\n\
         relay = \"smtp://127.0.0.1:{plain}\"\nfrom = \"{user}\"\nto = [\"{rcpt}\"]\n"
    );
    let c = smtp_probe_monitor::config::Config::from_toml_str(&text, Path::new(".")).unwrap();
    let said = smtp_probe_monitor::delivery::send_test(&c, "mx").await.expect("delivered");
    assert!(said.starts_with("250"), "{said}");
    let subject = format!("Subject: [smtp-probe] TEST: optls-{token} - ");
    support::wait_for(Duration::from_secs(40), "the test message", async || {
        find_mail(&mailbox, &format!("optls-{token}")).is_some_and(|m| m.contains(&subject))
    })
    .await;
}

/// The message (headers unfolded) in a Maildir tree or an mbox file that contains `token`.
fn find_mail(path: &Path, token: &str) -> Option<String> {
    let unfold = |s: String| s.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ");
    if path.is_file() {
        let text = unfold(std::fs::read_to_string(path).ok()?);
        // An mbox: messages start with "From " lines; take the last one with the token.
        return text.split("\nFrom ").filter(|m| m.contains(token)).last().map(str::to_owned);
    }
    let mut stack = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        for entry in std::fs::read_dir(&p).ok()?.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = std::fs::read_to_string(&p)
                && text.contains(token)
            {
                return Some(unfold(text));
            }
        }
    }
    None
}

/// Two instances on one PostgreSQL: both dispatchers poll the outbox, each alert goes out once; when the
/// instance holding the monitor is killed, the other takes over and sends the "recovered", once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_deliver_each_alert_once() {
    let Some(base) = support::pg_url() else { return };
    let db = support::PgDatabase::create(&base).await;
    let rx = Receiver::start().await;
    let server = FlipServer::start(false, DOWN).await;
    let dir = tempfile::tempdir().unwrap();
    let channels = format!("[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\n", rx.url("/hook"));
    let make = |instance: &str| {
        let mut c = config(dir.path(), &[("mx", server.addr)], &channels, &[]);
        c.storage = support::pg_config(&db.url);
        c.service.instance = instance.to_owned();
        c.lease = smtp_probe_monitor::config::LeaseConfig {
            ttl: Duration::from_secs(3),
            renew_every: Duration::from_secs(1),
        };
        c
    };
    let (store_a, store_b) = (support::pg_store(&db.url).await, support::pg_store(&db.url).await);
    let a = start(make("a"), &store_a).await;
    support::wait_for(Duration::from_secs(10), "a to hold the lease", async || a.scheduler_stats().owned == 1).await;
    let b = start(make("b"), &store_b).await;
    support::wait_for(Duration::from_secs(20), "opened", async || !rx.accepted_alerts().is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(events(&rx.accepted_alerts()), ["opened"], "two dispatchers, one message");

    a.abort();
    support::wait_for(Duration::from_secs(15), "b to take over", async || b.scheduler_stats().owned == 1).await;
    server.set_up(true);
    support::wait_for(Duration::from_secs(20), "recovered", async || rx.accepted_alerts().len() >= 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(events(&rx.accepted_alerts()), ["opened", "recovered"]);
    support::wait_for(Duration::from_secs(10), "the rows finished", async || {
        store_b.alerts(&AlertQuery::default(), 10).await.unwrap().iter().all(|r| r.status == "delivered")
    })
    .await;
    b.shutdown(Duration::from_secs(5)).await;
    store_a.close().await;
    store_b.close().await;
}

/// An operator fixes a channel's URL and reloads: the alert that kept failing goes out to the new address,
/// and a channel removed from the configuration gives up its alerts as `skipped`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_fixes_a_channel_and_the_waiting_alert_goes_out() {
    let rx = Receiver::start().await;
    let dead = free_addr();
    // The old channel's receiver is slow and failing: an attempt is likely in flight when the reload comes.
    let slow = Receiver::start().await;
    slow.delay(Duration::from_millis(700));
    slow.script(std::iter::repeat_n(Reply::status(503), 50));
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let broken = format!(
        "[channels.hook]\ntype = \"webhook\"\nurl = \"http://{dead}/hook\"\n\
         [channels.old]\ntype = \"webhook\"\nurl = \"{}\"\n",
        slow.url("/old")
    );
    queue_alerts(&store, 1, "hook").await;
    let mut row = store.alerts(&AlertQuery::default(), 1).await.unwrap()[0].alert.clone();
    row.dedup_key.push_str(":old");
    let tr = Transition {
        monitor: id("m-0"),
        at: row.at,
        incidents: vec![],
        alerts: vec![OutboxEntry { alert: row, channels: vec!["old".into()] }],
        state: None,
        cert_threshold: None,
        published: None,
        maintenance: None,
    };
    store.write(&Batch { transitions: vec![tr], ..Batch::default() }, "test").await.unwrap();
    let engine = start(config(dir.path(), &[], &broken, &[]), &store).await;
    support::wait_for(Duration::from_secs(10), "the channels to fail", async || {
        channel(&engine, "hook").consecutive_failures >= 2 && channel(&engine, "old").consecutive_failures >= 1
    })
    .await;

    let fixed = format!("[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\n", rx.url("/hook"));
    engine.reload(config(dir.path(), &[], &fixed, &[])).await.unwrap();
    support::wait_for(Duration::from_secs(10), "the alert at the new URL", async || rx.accepted().len() == 1).await;
    support::wait_for(Duration::from_secs(10), "both rows finished", async || {
        store.alerts(&AlertQuery::default(), 10).await.unwrap().iter().all(|r| r.done_at.is_some())
    })
    .await;
    for row in store.alerts(&AlertQuery::default(), 10).await.unwrap() {
        let last = store.deliveries_of(row.id).await.unwrap().pop().unwrap();
        if row.channels == ["old"] {
            assert_eq!((row.status.as_str(), last.status.as_str()), ("suppressed", "skipped"), "{last:?}");
        } else {
            assert_eq!((row.status.as_str(), last.status.as_str()), ("delivered", "delivered"));
        }
    }
    assert_eq!(engine.channel_health().len(), 1, "the removed channel is gone from the health list");
    engine.shutdown(Duration::from_secs(5)).await;
}

/// "Send a test": through a running engine and through the binary's `test-channel`, outside the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_notification_checks_a_channel() {
    use smtp_probe_monitor::delivery::ChannelTestError;
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = support::sqlite_store(dir.path()).await;
    let channels = format!("[channels.hook]\ntype = \"webhook\"\nurl = \"{}\"\n", rx.url("/hook"));
    let engine = start(config(dir.path(), &[], &channels, &[]), &store).await;
    assert_eq!(engine.test_channel("hook").await, Ok("HTTP 200: ok".to_owned()));
    let got = rx.accepted_alerts();
    assert_eq!(events(&got), ["test"]);
    assert!(got[0]["monitor"].is_null());
    assert!(got[0]["summary"].as_str().unwrap().starts_with("TEST: alerts-test"));
    rx.script([Reply::status(404)]);
    assert!(
        matches!(engine.test_channel("hook").await, Err(ChannelTestError::Rejected(d)) if d.starts_with("HTTP 404"))
    );
    assert_eq!(engine.test_channel("nope").await, Err(ChannelTestError::NoSuchChannel("nope".into())));
    assert!(store.alerts(&AlertQuery::default(), 10).await.unwrap().is_empty(), "nothing queued or recorded");
    engine.shutdown(Duration::from_secs(5)).await;

    let file = dir.path().join("monitor.toml");
    std::fs::write(&file, format!("[service]\ninstance = \"cli\"\n{channels}")).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_smtp-probe-monitor"))
            .args(["test-channel", "--config"])
            .arg(&file)
            .arg("hook")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hook: delivered (HTTP 200: ok)\n");
    assert_eq!(rx.accepted().last().unwrap().body["instance"], "cli");
}
