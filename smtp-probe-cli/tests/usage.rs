//! The command line itself: exit 3 for everything that cannot run (clap's own errors included), help and
//! version, and the demo mode that runs without any target.

mod common;

use common::{expect, run, temp_file};

#[test]
fn bad_command_lines_exit_3() {
    let ca = temp_file("not a certificate");
    for args in [
        &["--no-such-option"][..],
        &["127.0.0.1", "-4", "-6"],
        &["127.0.0.1", "-S", "-s"],
        &["127.0.0.1", "-P", "secret", "--authpass-file", "/etc/hostname", "-U", "u"],
        &["127.0.0.1", "--format", "xml"],
        &["127.0.0.1", "-w", "fast"],
        &["127.0.0.1", "-t", "0"],
        &["127.0.0.1", "-D", "7,30"],
        &["127.0.0.1", "-p", "0"],
        &["127.0.0.1", "-A", "CRAM-MD5", "-U", "u", "-P", "p"],
        &["127.0.0.1", "--send-test-message", "-f", "a@b"],
        &["127.0.0.1", "--ca-file", "/nonexistent/ca.pem"],
        &["127.0.0.1", "--ca-file", ca.path().to_str().unwrap()],
        &["127.0.0.1", "--authpass-file", "/nonexistent/pw", "-U", "u"],
        &["smtps://127.0.0.1", "-S"],
        &["submission://127.0.0.1", "--ssl"],
        &["http://127.0.0.1"],
        &["127.0.0.1:99999"],
        &["127.0.0.1", "--rcpt", "a@b"],
        &["127.0.0.1", "-f", "a b@c"],
        &["127.0.0.1", "-w", "3", "-c", "1"],
        &["127.0.0.1", "-U", "user"],
        &["127.0.0.1", "-P", "pw"],
        &["127.0.0.1", "-U", "u", "-P", "p", "-F", "bad\tname\r\n"],
        &["-U", "u", "-P", "p"],
        &["--rcpt", "a@b", "-f", "c@d"],
    ] {
        let run = run(args);
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: nothing on stdout: {run:?}");
        assert!(!run.stderr.is_empty(), "{args:?}: a reason on stderr");
    }
}

#[test]
fn help_and_version_exit_0() {
    let help = run(&["--help"]);
    assert_eq!(help.code, 0);
    for text in ["opportunistic", "--hostname", "--authpass-file", "SMTP_PROBE_PASSWORD", "--format", "demo server"] {
        assert!(help.stdout.contains(text), "--help mentions {text:?}:\n{}", help.stdout);
    }
    assert!(help.stdout.contains("--mx <DOMAIN>"), "{}", help.stdout);
    let version = run(&["--version"]);
    assert_eq!(version.code, 0);
    assert!(version.stdout.starts_with("smtp-probe "));
}

#[test]
fn demo_mode_probes_the_bundled_server() {
    let run = run(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("probing the bundled demo server"), "{}", run.stderr);
    assert!(run.stdout.lines().next().unwrap().contains(" UP "), "{}", run.stdout);

    let report = expect(&["-D", "30,7", "-w", "5", "-c", "10"], "up", None, 0);
    let phases = common::phases(&report);
    for phase in ["starttls", "tls_handshake", "ehlo_tls", "auth", "mail_from", "rcpt_to", "rset", "quit"] {
        assert!(phases.contains(&phase.to_owned()), "{phase} in {phases:?}");
    }
    assert!(!phases.contains(&"data".to_owned()), "stops before DATA");
    assert_eq!(report["tls"]["verified"], true);
    assert_eq!(report["tls"]["sni"], "mx.test");
    let auth = report["phases"].as_array().unwrap().iter().find(|p| p["phase"] == "auth").unwrap();
    assert_eq!(auth["command"], "AUTH PLAIN <redacted>");
    assert_eq!(auth["reply"]["code"], 235);
}
