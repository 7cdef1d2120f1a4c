//! Every output format, parsed: JSON against smtp-probe-proto/schema/report.schema.json, Nagios by a grammar of the status line
//! and perfdata, Prometheus by `promtool check metrics`, OpenMetrics by the reference parser, human by its layout. The same outcomes feed each one.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{NagiosGrammar, run, target, temp_file};
use serde_json::Value;
use smtp_probe_testserver::{CertSpec, Responder, Script, TestPki, TestServer, Validity};

/// Loopback servers with distinct outcomes, and the extra arguments each needs.
struct Fixtures {
    _ca_file: tempfile::NamedTempFile,
    _servers: Vec<TestServer>,
    cases: Vec<Vec<String>>,
}

fn fixtures() -> Fixtures {
    let pki = TestPki::new().unwrap();
    let ca_file = temp_file(pki.ca_pem());
    let ca = ca_file.path().to_str().unwrap().to_owned();
    let expiring = Responder::new()
        .cert(&pki.issue(CertSpec::default().validity(Validity::ExpiresInDays(3))).unwrap())
        .user("alice", "pw")
        .start()
        .unwrap();
    let expired = Responder::new()
        .cert(&pki.issue(CertSpec::default().validity(Validity::Expired { days_ago: 2 })).unwrap())
        .implicit_tls(true)
        .start()
        .unwrap();
    let greylist = Responder::new().greylist(true).start().unwrap();
    let silent = Script::new().hang().start().unwrap();
    let rejecting = Script::new().reply("554 5.7.1 No SMTP service here | go away").close().start().unwrap();
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let strings = |args: &[&str]| args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let cases = vec![
        // up, TLS verified, AUTH, envelope, transcript
        strings(&[
            &target(&expiring),
            "-S",
            "--ca-file",
            &ca,
            "-U",
            "alice",
            "-P",
            "pw",
            "-f",
            "a@example.test",
            "--rcpt",
            "probe@mx.test",
            "--transcript",
            "-w",
            "5",
            "-c",
            "9",
        ]),
        // degraded: certificate expiring, with -D thresholds
        strings(&[&target(&expiring), "--ca-file", &ca, "-D", "30"]),
        // down: expired certificate over implicit TLS
        strings(&[&format!("smtps://{}", target(&expired)), "--ca-file", &ca]),
        // degraded with --insecure: the probe carries on
        strings(&[&format!("smtps://{}", target(&expired)), "--ca-file", &ca, "--insecure", "-v"]),
        // degraded: greylisted
        strings(&[&target(&greylist), "-f", "a@example.test", "--rcpt", "probe@mx.test"]),
        // down: timeout, and several targets at once
        strings(&[&target(&silent), &target(&greylist), "-t", "0.5"]),
        // down: greeting refused, with a pipe in the server's text
        strings(&[&target(&rejecting)]),
        // down: nothing listening
        strings(&[&refused]),
    ];
    Fixtures { _ca_file: ca_file, _servers: vec![expiring, expired, greylist, silent, rejecting], cases }
}

fn with_format(case: &[String], format: &str) -> Vec<String> {
    let mut args = case.to_vec();
    args.extend(["--format".to_owned(), format.to_owned()]);
    args
}

fn run_case(case: &[String], format: &str) -> common::Run {
    let args = with_format(case, format);
    let run = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!((0..=2).contains(&run.code), "{run:?}");
    run
}

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-probe-proto/schema/report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn json_matches_the_schema() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let fixtures = fixtures();
    let mut seen_array = false;
    for case in &fixtures.cases {
        let run = run_case(case, "json");
        let document = run.json();
        let errors: Vec<String> =
            validator.iter_errors(&document).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{case:?}: {errors:#?}\n{document:#}");
        let reports = match &document {
            Value::Array(many) => {
                seen_array = true;
                many.clone()
            }
            one => vec![one.clone()],
        };
        let worst = reports.iter().map(|r| match r["verdict"].as_str().unwrap() {
            "up" => 0,
            "degraded" => 1,
            _ => 2,
        });
        assert_eq!(run.code, worst.max().unwrap(), "the exit code is the worst verdict: {case:?}");
        let transcript = case.iter().any(|a| a == "--transcript");
        assert_eq!(reports[0].get("transcript").is_some(), transcript, "transcript only when asked: {case:?}");
    }
    assert!(seen_array);
    // The schema rejects what it should: an unknown cause, a missing field.
    let mut bad = run_case(&fixtures.cases[4], "json").json();
    bad["cause"] = "mystery".into();
    assert!(!validator.is_valid(&bad));
    bad.as_object_mut().unwrap().remove("cause");
    assert!(!validator.is_valid(&bad));
}

#[test]
fn schema_names_every_cause() {
    let schema = schema();
    let listed: Vec<&str> =
        schema["$defs"]["cause"]["enum"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let known: Vec<&str> = smtp_probe_tokio::Cause::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, known, "schema/report.schema.json and JSON-SCHEMA.md must list the core's causes");
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-probe-proto/JSON-SCHEMA.md")).unwrap();
    for cause in known {
        assert!(doc.contains(&format!("`{cause}`")), "JSON-SCHEMA.md does not document {cause}");
    }
}

#[test]
fn documented_examples_match_the_schema() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-probe-proto/JSON-SCHEMA.md")).unwrap();
    let examples: Vec<Value> = doc
        .split("```json\n")
        .skip(1)
        .map(|rest| serde_json::from_str(rest.split("```").next().expect("a closed block")).expect("JSON"))
        .collect();
    assert_eq!(examples.len(), 3, "a target example, an MX example and a round-trip example (`smtp-probe roundtrip`)");
    for example in examples {
        let errors: Vec<String> =
            validator.iter_errors(&example).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

/// The Nagios plugin output grammar: status line `SMTP <STATE> - <text>|<perfdata>`, each perfdata item
/// `'label'=value[UOM];[warn];[crit];[min];[max]`.
#[test]
fn nagios_output_follows_the_plugin_grammar() {
    let grammar = NagiosGrammar::new();
    let fixtures = fixtures();
    for case in &fixtures.cases {
        let run = run_case(case, "nagios");
        let first = run.stdout.lines().next().unwrap();
        let (state, labels) = grammar.check(first);
        assert_eq!(state, ["OK", "WARNING", "CRITICAL"][run.code as usize], "{first}");
        let perfdata = first.split_once('|').unwrap().1;
        for p in grammar.item.captures_iter(perfdata) {
            let item = &p[0];
            if p[1].ends_with("time") && case.iter().any(|a| a == "-w") {
                assert_eq!((&p[4], &p[5]), ("5.000000", "9.000000"), "warning before critical: {item}");
            }
            if p[1].ends_with("cert_days") && case.iter().any(|a| a == "-D") {
                assert_eq!(&p[4], "30:", "days left below 30 warn: {item}");
            }
        }
        assert!(labels.iter().any(|l| l.ends_with("time")), "{first}");
        if case.iter().any(|a| a == "-v") {
            assert!(run.stdout.lines().count() > 1, "-v adds long output: {}", run.stdout);
        }
    }
    // The server's words are in the status line, with its '|' kept out of the perfdata.
    let run = run_case(&fixtures.cases[6], "nagios");
    assert!(run.stdout.starts_with("SMTP CRITICAL - ") && run.stdout.contains("554 5.7.1 No SMTP service here"));
    assert_eq!(run.stdout.lines().next().unwrap().matches('|').count(), 1);
    let run = run_case(&fixtures.cases[1], "nagios");
    assert!(run.stdout.contains("cert_days'=") && run.stdout.starts_with("SMTP WARNING - "), "{}", run.stdout);
}

#[test]
fn nagios_unknown_on_bad_arguments() {
    let clap_error = run(&["--format", "nagios", "--no-such-option"]);
    assert_eq!(clap_error.code, 3);
    assert!(clap_error.stdout.starts_with("SMTP UNKNOWN - "), "{clap_error:?}");
    let unreadable = run(&["--format", "nagios", "127.0.0.1:1", "--ca-file", "/nonexistent/ca.pem"]);
    assert_eq!(unreadable.code, 3);
    assert!(unreadable.stdout.starts_with("SMTP UNKNOWN - cannot read the CA file"), "{unreadable:?}");
}

#[test]
fn prometheus_output_passes_promtool() {
    let fixtures = fixtures();
    for case in &fixtures.cases {
        let run = run_case(case, "prometheus");
        let Some(checked) = smtp_probe_testsuite::promtool::check_metrics(&run.stdout) else { return };
        checked.unwrap_or_else(|e| panic!("promtool: {e}\n{}", run.stdout));
        let up = run.stdout.lines().filter(|l| l.starts_with("smtp_probe_up{")).count();
        assert_eq!(up, run.stdout.matches("smtp_probe_duration_seconds{").count());
        assert!(run.stdout.contains("# TYPE smtp_probe_phase_duration_seconds gauge"));
    }
    // The values agree with the verdict.
    let run = run_case(&fixtures.cases[1], "prometheus");
    let t = &fixtures.cases[1][0];
    for line in [
        format!("smtp_probe_up{{target=\"{t}\"}} 1"),
        format!("smtp_probe_verdict{{target=\"{t}\",verdict=\"degraded\"}} 1"),
        format!("smtp_probe_cause{{target=\"{t}\",cause=\"certificate_expiring\"}} 1"),
        format!("smtp_probe_tls_certificate_verified{{target=\"{t}\"}} 1"),
    ] {
        assert!(run.stdout.lines().any(|l| l == line), "missing {line}:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("smtp_probe_tls_certificate_expiry_timestamp_seconds{"));
    let run = run_case(&fixtures.cases[7], "prometheus");
    assert!(run.stdout.contains("cause=\"connect_refused\"} 1") && run.stdout.contains("} 0\n"));
}

#[test]
fn openmetrics_output_passes_the_reference_parser() {
    let fixtures = fixtures();
    for case in &fixtures.cases {
        let run = run_case(case, "openmetrics");
        assert!(run.stdout.ends_with("# EOF\n"), "{}", run.stdout);
        let Some(checked) = smtp_probe_testsuite::openmetrics::check("openmetrics_output", &run.stdout) else {
            return;
        };
        checked.unwrap_or_else(|e| panic!("OpenMetrics: {e}\n{}", run.stdout));
        // The same samples as the Prometheus text format.
        let text = run_case(case, "prometheus").stdout;
        let names = |t: &str| t.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(names(&text), names(&run.stdout), "{case:?}");
    }
}

#[test]
fn human_output_leads_with_the_verdict_and_has_no_colour_in_a_pipe() {
    let fixtures = fixtures();
    let run = run_case(&fixtures.cases[0], "human");
    let first = run.stdout.lines().next().unwrap();
    assert!(first.starts_with(&fixtures.cases[0][0]) && first.contains(" UP "), "{first}");
    for part in ["phase ", "greeting", "starttls", "tls_handshake", "auth", "rcpt_to", "TLS ", "certificate  verified"]
    {
        assert!(run.stdout.contains(part), "missing {part:?}:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("capabilities before TLS:") && run.stdout.contains("after TLS :"));
    assert!(run.stdout.contains("transcript") && run.stdout.contains("C: AUTH PLAIN <redacted>"));
    assert!(!run.stdout.contains('\x1b'), "no colour when stdout is not a terminal");

    let run = run_case(&fixtures.cases[4], "human");
    let first = run.stdout.lines().next().unwrap();
    assert!(first.contains("DEGRADED  temporary_failure (rcpt_to)") && first.contains("450 4.7.1"), "{first}");

    let run = run_case(&fixtures.cases[5], "human");
    assert!(run.stdout.ends_with("2 targets: 1 up, 0 degraded, 1 down\n"), "{}", run.stdout);
    assert!(run.elapsed < Duration::from_secs(5));
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) to run the binary on a terminal");
        return;
    }
    let server = Responder::new().start().unwrap();
    let line = format!("{} {}", env!("CARGO_BIN_EXE_smtp-probe"), target(&server));
    let on_a_terminal = |no_color: Option<&str>| {
        let mut command = Command::new("script");
        command.args(["-qec", &line, "/dev/null"]).env_remove("NO_COLOR");
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        common::run_command(&mut command)
    };
    let coloured = on_a_terminal(None);
    assert_eq!(coloured.code, 0, "{coloured:?}");
    assert!(coloured.stdout.contains("\x1b[1m\x1b[32mUP\x1b[0m"), "{coloured:?}");
    assert!(!on_a_terminal(Some("1")).stdout.contains('\x1b'));
    assert!(on_a_terminal(Some("")).stdout.contains('\x1b'), "an empty NO_COLOR does not count (no-color.org)");
}
