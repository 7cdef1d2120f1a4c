//! `smtp-probe roundtrip` through the binary against the real loopback Postfix (`.ci/postfix.sh`) and Dovecot
//! (`.ci/dovecot.sh`): delivered (up), held back by Postfix (down at the deadline), a wrong IMAP password (its
//! cause, nothing sent), the junk folder (degraded), and every output format parsed: JSON against the schema, Nagios
//! by the plugin grammar, Prometheus by promtool, OpenMetrics by the reference parser. Skipped, with the reason
//! printed, when the servers are not set up (a failure with `SMTP_PROBE_REQUIRE_SERVICES=1`).

mod common;

use std::time::Duration;

use common::{NagiosGrammar, Run, command, run_command, temp_file};
use serde_json::Value;
use smtp_probe_testsuite::dovecot::{DovecotEnv, delete_queued, env_or_skip};
use smtp_probe_testsuite::postfix::PostfixEnv;

/// Both servers, the CA in a file and the IMAP password in another.
struct Loop {
    postfix: PostfixEnv,
    dovecot: DovecotEnv,
    ca: tempfile::NamedTempFile,
    imap_password: tempfile::NamedTempFile,
}

fn setup(test: &str) -> Option<Loop> {
    let (postfix, dovecot) = env_or_skip(test)?;
    let ca = temp_file(&postfix.ca_pem);
    let imap_password = temp_file(&format!("{}\n", dovecot.password));
    Some(Loop { postfix, dovecot, ca, imap_password })
}

impl Loop {
    /// The arguments of a round trip over STARTTLS on both sides to `rcpt`, then `extra`.
    fn args(&self, rcpt: &str, extra: &[&str]) -> Vec<String> {
        let (p, d) = (&self.postfix, &self.dovecot);
        let mut args: Vec<String> = [
            "roundtrip",
            "--submit",
            &format!("submission://{}:{}", p.host, p.submission_port),
            "--submit-tls-name",
            &p.tls_name,
            "--imap",
            &format!("imap://{}:{}", d.host, d.imap_port),
            "--imap-tls-name",
            &d.tls_name,
            "--ca-file",
            self.ca.path().to_str().unwrap(),
            "-U",
            &p.user,
            "-f",
            &p.from,
            "--rcpt",
            rcpt,
            "--imap-user",
            &d.user,
            "--imap-pass-file",
            self.imap_password.path().to_str().unwrap(),
            "-F",
            "probe.smtp-probe.test",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    }

    /// Runs the binary with the SMTP password in the environment.
    fn run(&self, args: &[String]) -> Run {
        let run = run_command(command().args(args).env("SMTP_PROBE_PASSWORD", &self.postfix.password));
        assert!((0..=3).contains(&run.code), "{run:?}");
        eprintln!("{}: exit {} in {} ms", args.join(" "), run.code, run.elapsed.as_millis());
        run
    }

    /// A round trip to `rcpt` in JSON: the report, validated against the schema.
    fn json(&self, rcpt: &str, extra: &[&str]) -> (Run, Value) {
        let mut extra = extra.to_vec();
        extra.extend(["--format", "json"]);
        let run = self.run(&self.args(rcpt, &extra));
        let report = run.json();
        assert_valid(&report);
        (run, report)
    }
}

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-probe-proto/schema/report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The whole schema (not one definition): what `smtp-probe --format json` prints, round trips included.
#[track_caller]
fn assert_valid(report: &Value) {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{report:#}");
}

/// Removes the message Postfix kept queued (the held-back case), whatever the test's checks say.
struct Dequeue(Option<String>);

impl Drop for Dequeue {
    fn drop(&mut self) {
        if let Some(id) = &self.0 {
            let _ = delete_queued(id);
        }
    }
}

#[test]
fn a_delivered_message_is_up_and_deleted() {
    let Some(rt) = setup("a_delivered_message_is_up_and_deleted") else { return };
    let (run, report) = rt.json(&rt.dovecot.rcpt, &["--junk-folder", &rt.dovecot.junk_folder, "-w", "20", "-c", "40"]);
    assert_eq!((run.code, report["verdict"].as_str()), (0, Some("up")), "{run:?}");
    assert_eq!(report["submit_target"], format!("{}:{}", rt.postfix.host, rt.postfix.submission_port));
    assert_eq!(report["delivery"]["folder"], "INBOX");
    assert_eq!(report["delivery"]["junk"], false);
    assert!(report["end_to_end_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{report:#}");
    assert_eq!(report["mailbox"]["cleanup"], "expunged");
    assert_eq!(report["submit"]["tls"]["verified"], true);
    assert_eq!(report["mailbox"]["tls"]["verified"], true);
    let queue_id = report["delivery"]["queue_id"].as_str().expect("Postfix's queue id");
    assert!(report["delivery"]["hops"].as_array().unwrap().iter().any(|h| h["id"] == queue_id), "{report:#}");
    let token = report["token"].as_str().unwrap();
    assert_eq!(rt.dovecot.count("INBOX", "X-Smtp-Probe-Token", token).unwrap(), 0, "the probe removed its message");
    assert!(!run.stdout.contains(&rt.postfix.password) && !run.stdout.contains(&rt.dovecot.password));
    assert!(report["submit"].get("transcript").is_none(), "transcripts only when asked");

    // Implicit TLS on both sides, the IMAP server named by host:port alone (993 → IMAPS is the rule; 10993 too).
    let mut args = rt.args(&rt.dovecot.rcpt, &["--format", "json"]);
    let submit = args.iter().position(|a| a == "--submit").unwrap() + 1;
    args[submit] = format!("smtps://{}:{}", rt.postfix.host, rt.postfix.smtps_port);
    let imap = args.iter().position(|a| a == "--imap").unwrap() + 1;
    args[imap] = format!("{}:{}", rt.dovecot.host, rt.dovecot.imaps_port);
    let run = rt.run(&args);
    let report = run.json();
    assert_valid(&report);
    assert_eq!((run.code, report["verdict"].as_str()), (0, Some("up")), "{run:?}");
    let phases: Vec<&str> =
        report["mailbox"]["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert!(!phases.contains(&"imap_starttls") && phases.contains(&"imap_tls_handshake"), "{phases:?}");
}

#[test]
fn every_format_of_a_round_trip_parses() {
    let Some(rt) = setup("every_format_of_a_round_trip_parses") else { return };
    let extra = ["--junk-folder", rt.dovecot.junk_folder.as_str(), "-w", "20", "-c", "40"];
    let with = |format: &str, more: &[&str]| {
        let mut all = extra.to_vec();
        all.extend(["--format", format]);
        all.extend(more);
        rt.run(&rt.args(&rt.dovecot.rcpt, &all))
    };

    let submit = format!("{}:{}", rt.postfix.host, rt.postfix.submission_port);
    let imap = format!("{}:{}", rt.dovecot.host, rt.dovecot.imap_port);
    let human = with("human", &["-v", "--transcript"]);
    assert_eq!(human.code, 0, "{human:?}");
    let first = human.stdout.lines().next().unwrap();
    assert!(first.starts_with(&format!("roundtrip {submit} → {imap}  UP  delivered to INBOX in ")), "{first}");
    let parts: Vec<String> = vec![
        format!("  mailbox      logged in to {imap} in "),
        format!("certificate verified for {}", rt.dovecot.tls_name),
        format!("  submitted    {submit} in "),
        format!("certificate verified for {}", rt.postfix.tls_name),
        " into the run, queued as ".into(),
        "  delivered    to INBOX, visible ".into(),
        "  cleanup      expunged".into(),
        "  hops ".into(),
        "── submission ──".into(),
        "── mailbox ──".into(),
        "C: AUTH PLAIN <redacted>".into(),
        "AUTHENTICATE PLAIN <redacted>".into(),
        format!("transcript   mailbox {imap}"),
    ];
    for part in &parts {
        assert!(human.stdout.contains(part), "missing {part:?}:\n{}", human.stdout);
    }
    assert!(!human.stdout.contains('\x1b'), "no colour in a pipe");
    assert!(!human.stdout.contains(&rt.dovecot.password) && !human.stdout.contains(&rt.postfix.password));

    let nagios = with("nagios", &["-v"]);
    assert_eq!(nagios.code, 0, "{nagios:?}");
    let line = nagios.stdout.lines().next().unwrap();
    let (state, labels) = NagiosGrammar::new().check(line);
    assert_eq!(state, "OK", "{line}");
    assert_eq!(labels, ["delivery", "submit", "mailbox_ready", "total", "searches"], "{line}");
    assert!(line.contains("s;20.000000;40.000000;0; 'submit'="), "the delivery thresholds as ranges: {line}");
    assert!(line.starts_with(&format!("SMTP OK - roundtrip {submit} → {imap} up: delivered to INBOX in ")), "{line}");

    let prometheus = with("prometheus", &[]);
    assert_eq!(prometheus.code, 0, "{prometheus:?}");
    if let Some(checked) = smtp_probe_testsuite::promtool::check_metrics(&prometheus.stdout) {
        checked.unwrap_or_else(|e| panic!("promtool: {e}\n{}", prometheus.stdout));
    }
    let labels = format!(r#"submit="{submit}",mailbox="{imap}""#);
    for line in [
        format!("smtp_probe_roundtrip_up{{{labels}}} 1"),
        format!("smtp_probe_roundtrip_verdict{{{labels},verdict=\"up\"}} 1"),
        format!("smtp_probe_roundtrip_folder{{{labels},folder=\"INBOX\"}} 1"),
        format!("smtp_probe_roundtrip_junk{{{labels}}} 0"),
    ] {
        assert!(prometheus.stdout.lines().any(|l| l == line), "missing {line}:\n{}", prometheus.stdout);
    }
    assert!(prometheus.stdout.contains("smtp_probe_roundtrip_delivery_seconds{"), "{}", prometheus.stdout);

    let openmetrics = with("openmetrics", &[]);
    assert_eq!(openmetrics.code, 0, "{openmetrics:?}");
    assert!(openmetrics.stdout.ends_with("# EOF\n"));
    if let Some(checked) = smtp_probe_testsuite::openmetrics::check("openmetrics", &openmetrics.stdout) {
        checked.unwrap_or_else(|e| panic!("OpenMetrics: {e}\n{}", openmetrics.stdout));
    }
    // Two runs: whether the first search missed (not_visible_after) may differ, the rest may not.
    let delivery = "smtp_probe_roundtrip_delivery_seconds";
    assert!(openmetrics.stdout.contains(&format!("# UNIT {delivery} seconds\n")), "{}", openmetrics.stdout);
    assert!(openmetrics.stdout.contains(&format!("{delivery}{{{labels}}} ")), "{}", openmetrics.stdout);
}

#[test]
fn a_message_held_back_is_down_at_the_deadline() {
    let Some(rt) = setup("a_message_held_back_is_down_at_the_deadline") else { return };
    let deadline = Duration::from_secs(2);
    let (run, report) = rt.json(&rt.dovecot.held_rcpt, &["--deadline", "2"]);
    let _dequeue =
        Dequeue(report["delivery"]["queue_id"].as_str().or(report["submit"]["queue_id"].as_str()).map(Into::into));
    assert_eq!(
        (run.code, report["verdict"].as_str(), report["cause"].as_str()),
        (2, Some("down"), Some("not_delivered"))
    );
    assert!(report["submit"]["queue_id"].is_string(), "accepted by Postfix: {report:#}");
    assert!(report["delivery"].is_null());
    assert!(run.elapsed >= deadline, "searched until the deadline: {:?}", run.elapsed);
    assert!(run.elapsed < deadline + Duration::from_secs(4), "and not much longer: {:?}", run.elapsed);
    assert!(report["mailbox"]["searches"].as_u64().unwrap() > 2, "{report:#}");
    assert!(report["summary"].as_str().unwrap().contains("not in INBOX"), "{report:#}");

    let nagios = rt.run(&rt.args(&rt.dovecot.held_rcpt, &["--deadline", "1", "--format", "nagios"]));
    // The queue id is in the line, to look for in the server's logs (and to remove the message here).
    let queued = nagios.stdout.split("(queued as ").nth(1).map(|s| s.split(')').next().unwrap_or_default().to_owned());
    assert!(queued.is_some(), "{nagios:?}");
    let _dequeue_too = Dequeue(queued);
    assert_eq!(nagios.code, 2, "{nagios:?}");
    let line = nagios.stdout.lines().next().unwrap();
    let (state, labels) = NagiosGrammar::new().check(line);
    assert_eq!(state, "CRITICAL");
    assert!(!labels.contains(&"delivery".to_owned()), "no delivery time when nothing arrived: {line}");
    assert!(line.contains("not_delivered (delivery)"), "{line}");
}

#[test]
fn a_wrong_imap_password_is_its_cause_and_sends_nothing() {
    let Some(rt) = setup("a_wrong_imap_password_is_its_cause_and_sends_nothing") else { return };
    let wrong = temp_file("not-the-imap-password\n");
    let mut args = rt.args(&rt.dovecot.rcpt, &["--format", "json"]);
    let file = args.iter().position(|a| a == "--imap-pass-file").unwrap() + 1;
    args[file] = wrong.path().to_str().unwrap().to_owned();
    let run = rt.run(&args);
    let report = run.json();
    assert_valid(&report);
    assert_eq!((run.code, report["cause"].as_str()), (2, Some("mailbox_auth_failed")), "{run:?}");
    assert!(report["submit"].is_null(), "nothing is sent when the mailbox cannot be read: {report:#}");
    assert!(report["summary"].as_str().unwrap().contains("AUTHENTICATIONFAILED"), "{report:#}");
    assert!(!run.stdout.contains("not-the-imap-password"));
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);

    // The same from the environment, in human output: the cause first.
    let mut args = rt.args(&rt.dovecot.rcpt, &[]);
    let file = args.iter().position(|a| a == "--imap-pass-file").unwrap();
    args.drain(file..=file + 1);
    let run = run_command(
        command()
            .args(&args)
            .env("SMTP_PROBE_PASSWORD", &rt.postfix.password)
            .env("SMTP_PROBE_IMAP_PASSWORD", "not-the-imap-password"),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.lines().next().unwrap().contains("DOWN  mailbox_auth_failed (imap_login)"), "{run:?}");
    assert!(run.stdout.contains("submitted    nothing"), "{}", run.stdout);
}

#[test]
fn a_message_in_the_junk_folder_is_degraded() {
    let Some(rt) = setup("a_message_in_the_junk_folder_is_degraded") else { return };
    let (run, report) = rt.json(&rt.dovecot.junk_rcpt, &["--junk-folder", &rt.dovecot.junk_folder]);
    assert_eq!(
        (run.code, report["verdict"].as_str(), report["cause"].as_str()),
        (1, Some("degraded"), Some("delivered_to_junk")),
        "{run:?}"
    );
    assert_eq!(
        (report["delivery"]["folder"].as_str(), report["delivery"]["junk"].as_bool()),
        (Some("Junk"), Some(true))
    );
    let token = report["token"].as_str().unwrap();
    assert_eq!(rt.dovecot.count(&rt.dovecot.junk_folder, "X-Smtp-Probe-Token", token).unwrap(), 0, "deleted there too");
}

#[test]
fn bad_round_trip_arguments_exit_3() {
    let unknown = |args: &[&str]| {
        let run = common::run(args);
        assert_eq!(run.code, 3, "{run:?}");
        run
    };
    let base =
        ["roundtrip", "--submit", "127.0.0.1:1", "--imap", "127.0.0.1:1", "-f", "a@b.test", "--rcpt", "c@d.test"];
    let run = unknown(&base);
    assert!(run.stderr.contains("SMTP_PROBE_IMAP_PASSWORD"), "{run:?}");
    let mut nagios = base.to_vec();
    nagios[4] = "pop3://x";
    nagios.extend(["--format", "nagios", "--imap-pass-file", "/nonexistent"]);
    let run = unknown(&nagios);
    assert!(run.stdout.starts_with("SMTP UNKNOWN - invalid --imap \"pop3://x\""), "{run:?}");
    let run = unknown(&["roundtrip", "--submit", "x"]);
    assert!(run.stderr.contains("required"), "{run:?}");
    let big = temp_file(&"x".repeat(5000));
    let mut args = base.to_vec();
    args.extend(["--imap-pass-file", big.path().to_str().unwrap()]);
    let run = unknown(&args);
    assert!(run.stderr.contains("larger than 4096 bytes"), "{run:?}");
}
