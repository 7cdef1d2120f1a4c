//! `--mx DOMAIN` end to end, on loopback only: a tiny DNS server on 127.0.0.1 (`smtp_probe_testserver::dns`)
//! answers for a few `.test` domains and the binary is pointed at it alone through `SMTP_PROBE_DNS_SERVER`
//! (never the system resolver); the MX hosts are test SMTP servers on 127.0.0.1, 127.0.0.2 and 127.0.0.3, on
//! one port chosen at runtime and passed with `-p`. Every format is checked: JSON against the schema, Nagios by
//! its grammar, Prometheus by `promtool check metrics`.

mod common;

use std::process::Command;

use common::{NagiosGrammar, Run, run_command, temp_file};
use regex::Regex;
use serde_json::Value;
use smtp_probe_testserver::dns::{MX1, MX2, MxWorld, REJECTING, RecordType};
use smtp_probe_testserver::{Responder, TestServer};

struct Fixture {
    world: MxWorld,
    ca_file: tempfile::NamedTempFile,
    /// A plain target (no STARTTLS) to combine with `--mx`.
    plain: TestServer,
}

impl std::ops::Deref for Fixture {
    type Target = MxWorld;
    fn deref(&self) -> &MxWorld {
        &self.world
    }
}

impl Fixture {
    fn start() -> Fixture {
        let world = MxWorld::start().unwrap();
        let ca_file = temp_file(world.pki.ca_pem());
        Fixture { world, ca_file, plain: Responder::new().start().unwrap() }
    }

    /// The binary asking only the test DNS server, the test servers' port and CA given.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = common::command();
        command
            .env("SMTP_PROBE_DNS_SERVER", self.dns.addr().to_string())
            .args([
                "-p",
                &self.port.to_string(),
                "--ca-file",
                self.ca_file.path().to_str().unwrap(),
                "-F",
                "probe.test",
                // MX hosts come from DNS: their loopback addresses are denied unless allowed.
                "--allow-address",
                "127.0.0.0/8",
                "--allow-address",
                "::1",
            ])
            .args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        run_command(&mut self.command(args))
    }

    fn json(&self, args: &[&str]) -> (Run, Value) {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let run = self.run(&all);
        let document = run.json();
        assert_valid(&document);
        (run, document)
    }

    /// The plain target, `127.0.0.1:<its port>`.
    fn target(&self) -> String {
        self.plain.addr().to_string()
    }
}

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-probe-proto/schema/report.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[track_caller]
fn assert_valid(document: &Value) {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let errors: Vec<String> = validator.iter_errors(document).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{document:#}");
}

fn hosts(mx: &Value) -> Vec<(u64, String, String)> {
    mx["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["preference"].as_u64().unwrap(),
                h["host"].as_str().unwrap().into(),
                h["verdict"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn host(preference: u64, name: &str, verdict: &str) -> (u64, String, String) {
    (preference, name.into(), verdict.into())
}

#[test]
fn two_mx_hosts_up_exit_0_each_verified_against_its_own_name() {
    let f = Fixture::start();
    let (run, mx) = f.json(&["--mx", "two.test"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(mx["mx"], "two.test");
    assert_eq!((&mx["verdict"], &mx["cause"]), (&Value::from("up"), &Value::Null), "{mx:#}");
    assert_eq!((&mx["null_mx"], &mx["implicit_mx"]), (&Value::from(false), &Value::from(false)));
    assert_eq!(hosts(&mx), [host(10, "mx1.two.test", "up"), host(20, "mx2.two.test", "up")]);
    for (h, ip) in mx["hosts"].as_array().unwrap().iter().zip([MX1, MX2]) {
        let name = h["host"].as_str().unwrap();
        let report = &h["reports"][0];
        assert_eq!(report["target"], format!("{name}:{}", f.port));
        assert_eq!(report["address"], f.addr(ip));
        assert_eq!(report["tls"]["verified_name"], name, "each host is checked against its own name");
        assert_eq!(report["tls"]["sni"], name);
        assert_eq!(report["tls"]["verified"], true);
    }
    assert_eq!((f.mx1.connections(), f.mx2.connections()), (1, 1));
    assert!(f.dns.asked("two.test", RecordType::MX) && f.dns.asked("mx2.two.test", RecordType::A));

    // Human: the MX header, the hosts by preference, then each host's report as usual.
    let run = f.run(&["--mx", "two.test"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("MX two.test  UP  all 2 MX host(s) are up"), "{}", run.stdout);
    assert!(Regex::new(r"^  hosts +10 mx1\.two\.test +UP$").unwrap().is_match(lines[1]), "{}", run.stdout);
    assert!(Regex::new(r"^ +20 mx2\.two\.test +UP$").unwrap().is_match(lines[2]), "{}", run.stdout);
    let block = format!("\nmx1.two.test:{}  UP  in ", f.port);
    assert!(run.stdout.contains(&block) && run.stdout.contains("certificate  verified for mx2.two.test"));
}

#[test]
fn a_down_backup_mx_exits_1() {
    let f = Fixture::start();
    let (run, mx) = f.json(&["--mx", "backup-down.test"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!((&mx["verdict"], &mx["cause"]), (&Value::from("degraded"), &Value::from("greeting_rejected")));
    assert_eq!(hosts(&mx), [host(10, "mx1.two.test", "up"), host(20, "rejecting.test", "down")]);
    assert_eq!(mx["hosts"][1]["cause"], "greeting_rejected");
    assert_eq!(mx["hosts"][1]["reports"][0]["address"], f.addr(REJECTING));
    assert!(mx["summary"].as_str().unwrap().contains("rejecting.test (preference 20) is down"), "{mx:#}");
    assert_eq!(f.rejecting.connections(), 1);

    let run = f.run(&["--mx", "backup-down.test"]);
    assert_eq!(run.code, 1);
    let first = run.stdout.lines().next().unwrap();
    assert!(first.starts_with("MX backup-down.test  DEGRADED  greeting_rejected"), "{first}");
    assert!(run.stdout.contains("rejecting.test  DOWN (greeting_rejected)"), "{}", run.stdout);
}

#[test]
fn a_null_mx_exits_2_with_null_mx_and_probes_nothing() {
    let f = Fixture::start();
    let (run, mx) = f.json(&["--mx", "null.test"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(mx["null_mx"], true);
    assert_eq!((&mx["verdict"], &mx["cause"]), (&Value::from("down"), &Value::from("dns_failure")));
    assert!(mx["hosts"].as_array().unwrap().is_empty());
    assert!(!f.dns.asked("null.test", RecordType::A));
    assert_eq!(f.mx1.connections(), 0);
    let run = f.run(&["--mx", "null.test"]);
    assert!(run.stdout.contains("null MX      the domain accepts no mail"), "{}", run.stdout);
}

#[test]
fn nxdomain_exits_2_with_dns_failure() {
    let f = Fixture::start();
    let (run, mx) = f.json(&["--mx", "nxdomain.test"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!((&mx["verdict"], &mx["cause"]), (&Value::from("down"), &Value::from("dns_failure")));
    assert_eq!((&mx["null_mx"], &mx["implicit_mx"]), (&Value::from(false), &Value::from(false)));
    assert!(mx["summary"].as_str().unwrap().contains("NXDOMAIN"), "{mx:#}");
    assert!(mx["hosts"].as_array().unwrap().is_empty());

    // A host that does not resolve is a dns_failure report of its own.
    let (run, mx) = f.json(&["--mx", "dangling.test"]);
    assert_eq!(run.code, 2);
    assert_eq!(hosts(&mx), [host(10, "missing.test", "down")]);
    assert_eq!(mx["hosts"][0]["reports"][0]["cause"], "dns_failure");
}

#[test]
fn implicit_mx_and_options_reach_every_host() {
    let f = Fixture::start();
    let (run, mx) = f.json(&["--mx", "implicit.test", "-S"]);
    assert_eq!(mx["implicit_mx"], true);
    assert_eq!(hosts(&mx), [host(0, "implicit.test", "down")]);
    // -S applies, and the certificate (for mx2.two.test) is checked against the implicit host's name.
    assert_eq!(mx["hosts"][0]["reports"][0]["tls"]["verify_error"], "name_mismatch", "{mx:#}");
    assert_eq!(run.code, 2);

    // -D and -6 reach the hosts' probes.
    let (run, mx) = f.json(&["--mx", "two.test", "-D", "3650"]);
    assert_eq!((run.code, &mx["cause"]), (1, &Value::from("certificate_expiring")), "{mx:#}");
    let (run, mx) = f.json(&["--mx", "two.test", "-6"]);
    assert_eq!((run.code, &mx["hosts"][0]["cause"]), (2, &Value::from("dns_failure")), "no AAAA: {mx:#}");
}

#[test]
fn mx_domains_and_targets_together_exit_with_the_worst() {
    let f = Fixture::start();
    let target = f.target();
    let (run, document) = f.json(&[&target, "--mx", "two.test", "--mx", "backup-down.test"]);
    assert_eq!(run.code, 1, "{run:?}");
    let items = document.as_array().expect("an array for several");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["target"], target.as_str());
    assert_eq!((&items[1]["mx"], &items[2]["mx"]), (&Value::from("two.test"), &Value::from("backup-down.test")));
    let run = f.run(&[&target, "--mx", "two.test", "--mx", "backup-down.test"]);
    assert!(run.stdout.ends_with("3 checks (1 target, 2 MX domains): 2 up, 1 degraded, 0 down\n"), "{}", run.stdout);
    let run = f.run(&[&target, "--mx", "null.test"]);
    assert_eq!(run.code, 2);
}

#[test]
fn the_schema_rejects_a_broken_mx_object() {
    let f = Fixture::start();
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let (_, mut mx) = f.json(&["--mx", "backup-down.test"]);
    mx["hosts"][0]["reports"][0]["cause"] = "mystery".into();
    assert!(!validator.is_valid(&mx));
    let (_, mut mx) = f.json(&["--mx", "null.test"]);
    mx["verdict"] = "up".into();
    assert!(!validator.is_valid(&mx), "a null MX is down");
    mx.as_object_mut().unwrap().remove("null_mx");
    assert!(!validator.is_valid(&mx));
}

/// One status line for the whole run; perfdata per MX host address, plus each domain's hosts that take mail.
#[test]
fn nagios_one_status_line_with_the_mx_aggregate() {
    let f = Fixture::start();
    let grammar = NagiosGrammar::new();
    let check = |args: &[&str], state: &str| {
        let mut all = args.to_vec();
        all.extend(["--format", "nagios"]);
        let run = f.run(&all);
        let first = run.stdout.lines().next().unwrap().to_owned();
        let (got, labels) = grammar.check(&first);
        assert_eq!(got, state, "{first}");
        (run, first, labels)
    };
    let (run, first, labels) = check(&["--mx", "backup-down.test"], "WARNING");
    assert_eq!(run.code, 1);
    assert!(first.contains("MX backup-down.test degraded: greeting_rejected"), "{first}");
    assert!(first.contains("[10 mx1.two.test up, 20 rejecting.test down]"), "{first}");
    for label in [
        format!("mx1.two.test {} time", f.addr(MX1)),
        format!("rejecting.test {} time", f.addr(REJECTING)),
        "backup-down.test mx_hosts_up".to_owned(),
    ] {
        assert!(labels.contains(&label), "{label:?} in {labels:?}");
    }
    assert!(first.contains("'backup-down.test mx_hosts_up'=1;;;0;2"), "{first}");

    let (_, first, labels) = check(&[&f.target(), "--mx", "two.test", "--mx", "null.test"], "CRITICAL");
    assert!(first.contains("1 of 3 checks not up: "), "{first}");
    assert!(labels.contains(&format!("two.test mx2.two.test {} time", f.addr(MX2))), "{labels:?}");
    assert!(labels.contains(&format!("{} time", f.target())), "{labels:?}");
    assert!(first.contains("'null.test mx_hosts_up'=0;;;0;0"), "{first}");

    let (run, _, _) = check(&["--mx", "two.test", "-v"], "OK");
    assert!(run.stdout.lines().count() == 1, "no finding to list: {}", run.stdout);
    // Its certificate names mx2.two.test: opportunistic STARTTLS reports that without counting it (RFC 7435).
    let (run, _, _) = check(&["--mx", "implicit.test", "-v"], "OK");
    assert!(run.stdout.contains("MX implicit.test [info] implicit.test has no MX records"), "{}", run.stdout);
    assert!(run.stdout.contains("is not valid for implicit.test"), "{}", run.stdout);
}

#[test]
fn prometheus_mx_output_passes_promtool() {
    let f = Fixture::start();
    let target = f.target();
    for args in [
        &["--mx", "two.test"][..],
        &["--mx", "backup-down.test"],
        &["--mx", "null.test"],
        &["--mx", "nxdomain.test"],
        &[&target, "--mx", "two.test", "--mx", "backup-down.test", "--mx", "null.test"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--format", "prometheus"]);
        let run = f.run(&all);
        assert!((0..=2).contains(&run.code), "{run:?}");
        if let Some(checked) = smtp_probe_testsuite::promtool::check_metrics(&run.stdout) {
            checked.unwrap_or_else(|e| panic!("promtool: {e}\n{}", run.stdout));
        }
        assert!(run.stdout.contains("# TYPE smtp_probe_mx_up gauge"), "{}", run.stdout);
    }
    let run = f.run(&[&target, "--mx", "backup-down.test", "--format", "prometheus"]);
    let (port, domain) = (f.port, "mx_domain=\"backup-down.test\"");
    for line in [
        format!("smtp_probe_up{{target=\"{target}\"}} 1"),
        format!("smtp_probe_up{{target=\"mx1.two.test:{port}\",{domain}}} 1"),
        format!("smtp_probe_up{{target=\"rejecting.test:{port}\",{domain}}} 0"),
        format!("smtp_probe_cause{{target=\"rejecting.test:{port}\",{domain},cause=\"greeting_rejected\"}} 1"),
        "smtp_probe_mx_up{domain=\"backup-down.test\"} 1".to_owned(),
        "smtp_probe_mx_verdict{domain=\"backup-down.test\",verdict=\"degraded\"} 1".to_owned(),
        "smtp_probe_mx_cause{domain=\"backup-down.test\",cause=\"greeting_rejected\"} 1".to_owned(),
        "smtp_probe_mx_hosts{domain=\"backup-down.test\"} 2".to_owned(),
    ] {
        assert!(run.stdout.lines().any(|l| l == line), "missing {line}:\n{}", run.stdout);
    }
    let run = f.run(&["--mx", "null.test", "--format", "prometheus"]);
    assert!(run.stdout.contains("smtp_probe_mx_up{domain=\"null.test\"} 0\n"), "{}", run.stdout);
    assert!(run.stdout.contains("smtp_probe_mx_hosts{domain=\"null.test\"} 0\n"));
    assert!(!run.stdout.contains("smtp_probe_up{"), "no host, no per-report sample");
}

#[test]
fn mx_usage_errors_exit_3() {
    // Nothing is resolved for these; a dead loopback DNS server makes sure the system's is never asked.
    for args in [
        &["--mx", "two.test", "--tls-name", "mx.example"][..],
        &["--mx", "192.0.2.1"],
        &["--mx", "user@two.test"],
        &["--mx", ""],
        &["--mx", "two.test", "-w", "2", "-c", "1"],
    ] {
        let run = run_command(common::command().env("SMTP_PROBE_DNS_SERVER", "127.0.0.1:9").args(args));
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty() && !run.stderr.is_empty(), "{args:?}: {run:?}");
    }
    let run = run_command(common::command().env("SMTP_PROBE_DNS_SERVER", "not-an-address").args(["--mx", "two.test"]));
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("SMTP_PROBE_DNS_SERVER"), "{run:?}");
    let run = run_command(common::command().env("SMTP_PROBE_DNS_SERVER", "127.0.0.1:9").args([
        "--mx",
        "a.test",
        "--tls-name",
        "x",
    ]));
    assert!(run.stderr.contains("--tls-name cannot be used with --mx"), "{run:?}");
}

#[test]
fn mx_hosts_on_loopback_are_denied_without_allow_address() {
    let f = Fixture::start();
    let mut command = common::command();
    command.env("SMTP_PROBE_DNS_SERVER", f.dns.addr().to_string());
    command.args(["-p", &f.port.to_string(), "--mx", "two.test", "--format", "json"]);
    let run = run_command(&mut command);
    assert_eq!(run.code, 2, "{run:?}");
    let mx = run.json();
    assert_eq!(mx["cause"], "address_denied", "{mx:#}");
    assert_eq!(mx["hosts"][0]["reports"][0]["address"], Value::Null, "nothing was contacted");
    assert_eq!((f.mx1.connections(), f.mx2.connections()), (0, 0));
    let run = f.run(&["--mx", "two.test", "--deny-address", "127.0.0.2", "--format", "json"]);
    assert_eq!(run.code, 1, "mx2 denied, mx1 up: degraded ({run:?})");
    let run = f.run(&["--mx", "two.test", "--allow-address", "not-a-range"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("--allow-address: invalid address range \"not-a-range\""), "{}", run.stderr);
}

#[test]
fn the_timeout_bounds_the_whole_mx_check() {
    // The MX query is never answered: -t ends the command, lookup included.
    let f = Fixture::start();
    let started = std::time::Instant::now();
    let (run, mx) = f.json(&["--mx", "hung.test", "-t", "1"]);
    let took = started.elapsed();
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(mx["cause"], "dns_failure");
    assert!(took < std::time::Duration::from_millis(1900), "took {took:?} with -t 1");
}
