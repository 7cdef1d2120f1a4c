//! `--domain DOMAIN` end to end against the real bed: Knot signing the `mail.test` zones (asked through
//! `--dns-server`, every answer validated from `--trust-anchor`), the loopback Postfix and Exim as MX hosts and
//! the test server crate's HTTPS policy server, all reached through `--connect-to`. Every format is checked:
//! JSON (verdict, cause, exit code), Nagios by its grammar, Prometheus by `promtool check metrics`. Each test
//! prints `skipped: …` without the bed, and fails with `SMTP_PROBE_REQUIRE_SERVICES=1`.

mod common;

use std::process::Command;

use common::{NagiosGrammar, Run, run_command, temp_file};
use smtp_probe_testserver::domain_bed::{self, DnsEnv, MxServer, Scenario};
use smtp_probe_testserver::policy_server::{self, PolicyServer};
use smtp_probe_testsuite::postfix;

struct Bed {
    dns: DnsEnv,
    ca_file: tempfile::NamedTempFile,
    anchor_file: tempfile::NamedTempFile,
    connect_to: Vec<String>,
    _policies: PolicyServer,
    _runtime: tokio::runtime::Runtime,
}

fn bed(test: &str) -> Option<Bed> {
    let dns = domain_bed::dns_env_or_skip(test)?;
    let postfix = postfix::env_or_skip(test)?;
    let exim = domain_bed::exim_env_or_skip(test)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let policies =
        runtime.block_on(policy_server::start_for_bed(&dns, &postfix.dir)).expect("the policy server starts");
    let mut connect_to = Vec::new();
    for host in dns.postfix_hosts.iter().chain(&dns.exim_hosts) {
        let port = if dns.server_for(host) == Some(MxServer::Exim) { exim.port } else { postfix.plain_port };
        connect_to.push(format!("{host}=127.0.0.1:{port}"));
    }
    for scenario in Scenario::ALL {
        connect_to.push(format!("mta-sts.{}={}", dns.zone(*scenario), policies.addr()));
    }
    Some(Bed {
        ca_file: temp_file(&postfix.ca_pem),
        anchor_file: temp_file(&dns.trust_anchor),
        dns,
        connect_to,
        _policies: policies,
        _runtime: runtime,
    })
}

impl Bed {
    fn command(&self, scenario: Scenario, extra: &[&str]) -> Command {
        let mut command = common::command();
        command.args(["--domain", self.dns.zone(scenario)]).args([
            "--dns-server",
            &self.dns.authoritative.to_string(),
            "--trust-anchor",
            self.anchor_file.path().to_str().unwrap(),
            "--ca-file",
            self.ca_file.path().to_str().unwrap(),
            "-F",
            "probe.mail.test",
            // MX hosts come from DNS, where loopback addresses are denied: the bed lifts that.
            "--allow-address",
            "127.0.0.0/8",
        ]);
        for c in &self.connect_to {
            command.args(["--connect-to", c]);
        }
        command.args(extra);
        command
    }

    fn run(&self, scenario: Scenario, extra: &[&str]) -> Run {
        run_command(&mut self.command(scenario, extra))
    }

    #[track_caller]
    fn expect(&self, scenario: Scenario, verdict: &str, cause: Option<&str>, code: i32) -> serde_json::Value {
        let run = self.run(scenario, &["--format", "json"]);
        assert_eq!(run.code, code, "{scenario:?}: {run:?}");
        let report = run.json();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-probe-proto/schema/report.schema.json");
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        if let Err(e) = validator.validate(&report) {
            panic!("{scenario:?}: the JSON does not follow the schema: {e}\n{report:#}");
        }
        assert_eq!(report["verdict"], verdict, "{scenario:?}: {}", report["summary"]);
        assert_eq!(report["cause"].as_str(), cause, "{scenario:?}: {}", report["summary"]);
        report
    }
}

#[test]
fn every_scenario_gets_the_verdict_senders_give_it() {
    let Some(bed) = bed("every_scenario_gets_the_verdict_senders_give_it") else { return };
    let good = bed.expect(Scenario::Good, "up", None, 0);
    assert_eq!(good["policy_mode"], "enforce");
    assert_eq!(good["dane_usable"], true);
    bed.expect(Scenario::ExpiredCert, "down", Some("mta_sts_violation"), 2);
    bed.expect(Scenario::Testing, "degraded", Some("mta_sts_violation"), 1);
    bed.expect(Scenario::TlsaMismatch, "down", Some("dane_mismatch"), 2);
    bed.expect(Scenario::Bogus, "down", Some("dnssec_bogus"), 2);
    let missing = bed.expect(Scenario::Policy404, "degraded", Some("policy_unavailable"), 1);
    assert_eq!(missing["mta_sts"]["fetch"]["error"]["kind"], "http_status");
    assert_eq!(missing["mta_sts"]["fetch"]["status"], 404);
    let spf = bed.expect(Scenario::Spf11, "up", None, 0);
    assert_eq!(spf["spf"]["lookups"], 11);
    assert!(spf["record_findings"].as_array().unwrap().iter().any(|f| f["problem"] == "spf_too_many_lookups"));
}

#[test]
fn strict_records_count_record_problems() {
    let Some(bed) = bed("strict_records_count_record_problems") else { return };
    let run = bed.run(Scenario::DmarcNone, &["--format", "json", "--strict-records"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["cause"], "record_problem");
}

#[test]
fn human_nagios_and_prometheus_outputs() {
    let Some(bed) = bed("human_nagios_and_prometheus_outputs") else { return };
    let human = bed.run(Scenario::ExpiredCert, &[]);
    assert_eq!(human.code, 2, "{human:?}");
    for needle in ["mta_sts_violation", "MTA-STS", "mode enforce", "secure", "expired"] {
        assert!(human.stdout.contains(needle), "{needle:?} missing:\n{}", human.stdout);
    }
    let nagios = bed.run(Scenario::ExpiredCert, &["--format", "nagios"]);
    let first = nagios.stdout.lines().next().unwrap();
    let (state, perf) = NagiosGrammar::new().check(first);
    assert_eq!(state, "CRITICAL", "{first}");
    assert!(perf.iter().any(|p| p.contains("mx_policy_ok")), "{first}");
    let prometheus = bed.run(Scenario::Good, &["--format", "prometheus"]);
    assert_eq!(prometheus.code, 0, "{prometheus:?}");
    for needle in [
        "smtp_probe_domain_up{domain=\"good.mail.test\"} 1",
        "smtp_probe_domain_policy_mode{domain=\"good.mail.test\",mode=\"enforce\"} 1",
        "smtp_probe_domain_dane_usable{domain=\"good.mail.test\"} 1",
        "smtp_probe_domain_mx_policy_ok{domain=\"good.mail.test\",host=\"mx1.good.mail.test\"} 1",
    ] {
        assert!(prometheus.stdout.contains(needle), "{needle} missing:\n{}", prometheus.stdout);
    }
    if let Some(checked) = smtp_probe_testsuite::promtool::check_metrics(&prometheus.stdout) {
        checked.unwrap_or_else(|e| panic!("promtool: {e}\n{}", prometheus.stdout));
    }
}

#[test]
fn bad_domain_options_are_usage_errors() {
    for args in [
        &["--domain", "example.com", "--connect-to", "nonsense"][..],
        &["--domain", "example.com", "--dns-server", "not-an-address"],
        &["--domain", "example.com", "--tls-name", "mx.example.com"],
    ] {
        let run = common::run(args);
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
    }
}
