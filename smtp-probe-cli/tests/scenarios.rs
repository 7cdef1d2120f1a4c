//! The binary against broken and working loopback servers: verdict, cause (from `--format json`) and exit code.

mod common;

use std::time::Duration;

use common::{expect, phases, run, target, temp_file};
use smtp_probe_testserver::{CertSpec, Responder, Script, TestPki, Validity};

const GREETING: &str = "220 mx.test ESMTP scripted";

#[test]
fn greeting_421_is_a_temporary_failure() {
    let server = Script::new().reply("421 4.3.2 mx.test Service shutting down, try later").close().start().unwrap();
    let report = expect(&[&target(&server)], "degraded", Some("temporary_failure"), 1);
    assert_eq!(report["greeting"]["code"], 421);
    assert_eq!(report["greeting"]["enhanced"], "4.3.2");
    assert_eq!(report["findings"][0]["phase"], "greeting");
    let nagios = run(&[&target(&server), "--format", "nagios"]);
    assert!(nagios.stdout.starts_with("SMTP WARNING - "), "{nagios:?}");
    assert!(nagios.stdout.contains("421 4.3.2 mx.test Service shutting down"), "the server's words: {nagios:?}");
}

#[test]
fn silent_server_times_out_within_t() {
    let server = Script::new().hang().start().unwrap();
    let report = expect(&[&target(&server), "-t", "1"], "down", Some("greeting_timeout"), 2);
    assert!(report["total_ms"].as_f64().unwrap() < 2000.0, "{report:#}");
    let run = run(&[&target(&server), "-t", "0.5"]);
    assert_eq!(run.code, 2);
    assert!(run.elapsed < Duration::from_secs(3), "-t bounds the run: {:?}", run.elapsed);
}

#[test]
fn garbage_instead_of_a_greeting_is_not_smtp() {
    let server = Script::new().send("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").close().start().unwrap();
    expect(&[&target(&server)], "down", Some("not_smtp"), 2);
}

#[test]
fn helo_only_server_is_up_through_helo() {
    let server = Responder::new().helo_only(true).start().unwrap();
    let report = expect(&[&target(&server)], "up", None, 0);
    assert_eq!(phases(&report), ["connect", "greeting", "ehlo", "helo", "quit"]);
    assert_eq!(report["phases"][2]["reply"]["code"], 502);
    // STARTTLS cannot happen without EHLO: required TLS makes it down.
    expect(&[&target(&server), "-S"], "down", Some("starttls_unavailable"), 2);
}

#[test]
fn certificate_problems() {
    let pki = TestPki::new().unwrap();
    let ca = temp_file(pki.ca_pem());
    let ca = ca.path().to_str().unwrap();
    let serve = |spec: CertSpec| Responder::new().cert(&pki.issue(spec).unwrap()).start().unwrap();

    let expired = serve(CertSpec::default().validity(Validity::Expired { days_ago: 3 }));
    let report = expect(&[&target(&expired), "-S", "--ca-file", ca], "down", Some("certificate_invalid"), 2);
    assert_eq!(report["tls"]["verify_error"], "expired");
    assert!(report["tls"]["leaf"]["days_left"].as_i64().unwrap() < 0);
    // --insecure: reported, but the probe carries on to the end.
    let report =
        expect(&[&target(&expired), "-S", "--ca-file", ca, "--insecure"], "degraded", Some("certificate_invalid"), 1);
    assert!(phases(&report).contains(&"ehlo_tls".to_owned()));

    let wrong_name = serve(CertSpec::default().names(["other.example"]));
    let report = expect(&[&target(&wrong_name), "-S", "--ca-file", ca], "down", Some("certificate_invalid"), 2);
    assert_eq!(report["tls"]["verify_error"], "name_mismatch");
    let report = expect(&[&target(&wrong_name), "-S", "--ca-file", ca, "--tls-name", "other.example"], "up", None, 0);
    assert_eq!(report["tls"]["sni"], "other.example");

    let expiring = serve(CertSpec::default().validity(Validity::ExpiresInDays(5)));
    let report =
        expect(&[&target(&expiring), "--ca-file", ca, "-D", "30"], "degraded", Some("certificate_expiring"), 1);
    assert_eq!(report["tls"]["verified"], true);
    assert!(report["tls"]["chain_earliest_days_left"].as_i64().unwrap() <= 5);
    expect(&[&target(&expiring), "--ca-file", ca, "-D", "30,10"], "down", Some("certificate_expiring"), 2);
    expect(&[&target(&expiring), "--ca-file", ca, "-D", "3"], "up", None, 0);

    // Without the CA, the test CA is unknown.
    let good = serve(CertSpec::default());
    let report = expect(&[&target(&good), "-S"], "down", Some("certificate_invalid"), 2);
    assert_eq!(report["tls"]["verify_error"], "unknown_issuer");
}

#[test]
fn mixed_reply_codes_are_a_protocol_violation() {
    let server =
        Script::new().reply(GREETING).expect("EHLO").send("250-mx.test\r\n550-oops\r\n250 SIZE 1000\r\n").close();
    let server = server.start().unwrap();
    expect(&[&target(&server)], "down", Some("protocol_violation"), 2);
}

#[test]
fn reset_after_the_greeting_is_a_closed_connection() {
    let server = Script::new().reply(GREETING).expect("EHLO").reset().start().unwrap();
    let report = expect(&[&target(&server)], "down", Some("connection_closed"), 2);
    assert_eq!(report["greeting"]["code"], 220);
}

#[test]
fn slow_replies_cross_the_thresholds() {
    let server = Responder::new().reply_delay(Duration::from_millis(200)).start().unwrap();
    let report = expect(&[&target(&server), "-w", "0.25", "-c", "30"], "degraded", Some("slow_response"), 1);
    assert!(report["response_ms"].as_f64().unwrap() > 250.0);
    expect(&[&target(&server), "-w", "0.1", "-c", "0.25"], "down", Some("slow_response"), 2);
    expect(&[&target(&server), "-w", "20", "-c", "30"], "up", None, 0);
}

#[test]
fn auth_outcomes_and_password_sources() {
    let pki = TestPki::new().unwrap();
    let ca = temp_file(pki.ca_pem());
    let server = Responder::new().cert(&pki.default_cert().unwrap()).user("alice", "s3cret").start().unwrap();
    let base = [target(&server), "-S".into(), "--ca-file".into(), ca.path().to_str().unwrap().into()];
    let base: Vec<&str> = base.iter().map(String::as_str).collect();

    let wrong = [&base[..], &["-U", "alice", "-P", "nope"]].concat();
    let report = expect(&wrong, "down", Some("auth_failed"), 2);
    assert!(report["findings"][0]["message"].as_str().unwrap().contains("535 5.7.8"), "{report:#}");

    let good = [&base[..], &["-U", "alice", "-P", "s3cret", "-A", "LOGIN"]].concat();
    let report = expect(&good, "up", None, 0);
    assert_eq!(report["phases"].as_array().unwrap().iter().filter(|p| p["phase"] == "auth").count(), 3);

    let file = temp_file("s3cret\n");
    let from_file = [&base[..], &["-U", "alice", "--authpass-file", file.path().to_str().unwrap()]].concat();
    expect(&from_file, "up", None, 0);

    let from_env = [&base[..], &["-U", "alice", "--format", "json"]].concat();
    let run = common::run_command(common::command().args(&from_env).env("SMTP_PROBE_PASSWORD", "s3cret"));
    assert_eq!((run.code, &run.json()["verdict"]), (0, &serde_json::json!("up")), "{run:?}");
    assert!(!run.stdout.contains("s3cret"));
}

#[test]
fn greylisted_recipient_is_degraded() {
    let server = Responder::new().greylist(true).start().unwrap();
    let args = [&target(&server), "-f", "probe@example.test", "--rcpt", "postmaster@mx.test"];
    let report = expect(&args, "degraded", Some("temporary_failure"), 1);
    let rcpt = report["phases"].as_array().unwrap().iter().find(|p| p["phase"] == "rcpt_to").unwrap().clone();
    assert_eq!(rcpt["reply"]["code"], 450);
    assert_eq!(rcpt["reply"]["enhanced"], "4.7.1");
}

#[test]
fn envelope_checks() {
    let server = Responder::new().start().unwrap();
    let t = target(&server);
    // -f alone checks RCPT TO:<postmaster>; the envelope stops before DATA.
    let report = expect(&[&t, "-f", "probe@example.test"], "up", None, 0);
    assert_eq!(phases(&report), ["connect", "greeting", "ehlo", "mail_from", "rcpt_to", "rset", "quit"]);
    assert_eq!(report["phases"][4]["command"], "RCPT TO:<postmaster>");
    let report =
        expect(&[&t, "-f", "a@example.test", "--rcpt", "nobody@mx.test"], "down", Some("recipient_rejected"), 2);
    assert!(report["summary"].as_str().unwrap().contains("550 5.1.1"));
    expect(&[&t, "-f", "a@example.test", "--rcpt", "x@elsewhere.example"], "down", Some("recipient_rejected"), 2);
    assert!(server.messages().is_empty(), "no mail without --send-test-message");
}

#[test]
fn test_message_carries_a_unique_token() {
    let server = Responder::new().start().unwrap();
    let args = [&target(&server), "-f", "probe@example.test", "--rcpt", "probe@mx.test", "--send-test-message"];
    let first = expect(&args, "up", None, 0);
    let second = expect(&args, "up", None, 0);
    let token = first["message_token"].as_str().unwrap();
    assert_ne!(Some(token), second["message_token"].as_str());
    assert!(server.wait_for_messages(2, Duration::from_secs(10)));
    let message = &server.messages()[0];
    assert_eq!(message.header("X-Smtp-Probe-Token").as_deref(), Some(token));
    assert!(message.header("Date").is_some_and(|d| d.ends_with("+0000")));
}

#[test]
fn greeting_expectation() {
    let server = Responder::new().start().unwrap();
    expect(&[&target(&server), "-e", "ESMTP"], "up", None, 0);
    expect(&[&target(&server), "-e", "Exchange"], "down", Some("expectation_failed"), 2);
}

#[test]
fn ehlo_name_and_quit_flag() {
    let server = Responder::new().start().unwrap();
    expect(&[&target(&server), "-F", "monitor.example.org", "-q", "-v"], "up", None, 0);
    assert!(server.transcripts().iter().any(|t| t.first().is_some_and(|l| l == "EHLO monitor.example.org")));
}

#[test]
fn refused_connection() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let report = expect(&[&format!("127.0.0.1:{port}")], "down", Some("connect_refused"), 2);
    assert_eq!(phases(&report), ["connect"]);
    assert!(report["phases"][0]["reply"].is_null() && report["greeting"].is_null());
}

#[test]
fn implicit_tls_and_ipv6() {
    let pki = TestPki::new().unwrap();
    let ca = temp_file(pki.ca_pem());
    let server = Responder::new().cert(&pki.default_cert().unwrap()).implicit_tls(true).start().unwrap();
    let url = format!("smtps://127.0.0.1:{}", server.port());
    let report = expect(&[&url, "--ca-file", ca.path().to_str().unwrap()], "up", None, 0);
    assert_eq!(phases(&report)[..3], ["connect", "tls_handshake", "greeting"]);
    assert!(report["capabilities"]["plain"].is_null() && report["capabilities"]["tls"].is_object());
    let flag = expect(
        &["-H", "127.0.0.1", "-p", &server.port().to_string(), "-s", "--ca-file", ca.path().to_str().unwrap()],
        "up",
        None,
        0,
    );
    assert_eq!(flag["tls"]["verified"], true);

    // -6 against an IPv4-only target: no address of that family.
    let plain = Responder::new().start().unwrap();
    expect(&[&target(&plain), "-6"], "down", Some("dns_failure"), 2);
    if let Ok(v6) = smtp_probe_testserver::ServerBuilder::new(Responder::new()).ipv6().start() {
        expect(&[&format!("[::1]:{}", v6.port()), "-6"], "up", None, 0);
    } else {
        eprintln!("skipping the IPv6 half: no ::1 on this machine");
    }
}

#[test]
fn several_targets_are_probed_concurrently_and_the_worst_wins() {
    let silent_a = Script::new().hang().start().unwrap();
    let silent_b = Script::new().hang().start().unwrap();
    let up = Responder::new().start().unwrap();
    let run = run(&[&target(&up), &target(&silent_a), &target(&silent_b), "-t", "1", "--format", "json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let reports = run.json();
    let reports = reports.as_array().expect("an array for several targets");
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[0]["target"], target(&up));
    assert_eq!(reports[0]["verdict"], "up");
    assert_eq!(reports[1]["cause"], "greeting_timeout");
    assert_eq!(reports[2]["target"], target(&silent_b));
    assert!(run.elapsed < Duration::from_millis(1900), "two 1 s timeouts ran at once: {:?}", run.elapsed);

    let degraded = Responder::new().greylist(true).start().unwrap();
    let run = common::run(&[&target(&up), &target(&degraded), "-f", "a@example.test", "--rcpt", "probe@mx.test"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("2 targets: 1 up, 1 degraded, 0 down"), "{}", run.stdout);
}
