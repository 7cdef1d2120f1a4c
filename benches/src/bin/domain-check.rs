//! `domain-check`: N domain checks of the bed's `good.mail.test` (two MX hosts on the loopback Postfix, MTA-STS
//! enforce served over HTTPS, TLSA, SPF, DMARC, TLS-RPT, every answer validated with DNSSEC from the bed's anchor
//! against Knot), and where the time goes: DNS, the policy fetch, the MX probes — beside a plain probe of one MX
//! host and the MX mode without policies, in the same run.
//!
//! ```text
//! cargo run --release -p smtp-probe-benches --bin domain-check -- [--runs 30] [--json]
//! ```
//!
//! Needs `.ci/postfix.sh`, `.ci/exim.sh` and `.ci/dns.sh`. Runs are sequential on a current-thread runtime, the
//! policy server in the same process (on another thread). Exits 0 when every check was up, 1 otherwise, 2 when
//! the bed is not there.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use smtp_probe_testserver::domain_bed::{self, MxServer, Scenario};
use smtp_probe_testserver::policy_server;
use smtp_probe_testsuite::postfix;
use smtp_probe_tokio::domain::{DnssecResolver, DomainConfig, check_domain};
use smtp_probe_tokio::proto::connect::{AddressPolicy, Origin};
use smtp_probe_tokio::{Domain, ProbeConfig, Target, TlsConfig, Verdict};

/// Domain checks against the DNSSEC bed.
#[derive(Debug, Parser)]
#[command(name = "domain-check")]
struct Args {
    /// Checks to run and measure (after one warm-up).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// A new resolver for every check (no DNS cache, every DNSSEC chain validated again), as one `smtp-probe
    /// --domain` run has; by default one resolver serves every check, as in a monitor.
    #[arg(long)]
    cold: bool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (Some(dns), Some(postfix), Some(exim)) = (domain_bed::dns_env(), postfix::env(), domain_bed::exim_env()) else {
        eprintln!("domain-check: the bed is not there (run .ci/postfix.sh, .ci/exim.sh, .ci/dns.sh)");
        return ExitCode::from(2);
    };
    let server_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let policies = server_runtime.block_on(policy_server::start_for_bed(&dns, &postfix.dir)).expect("policy server");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let domain: Domain = dns.zone(Scenario::Good).parse().unwrap();
    let tls = TlsConfig::builder().add_ca_pem("test CA", postfix.ca_pem.as_bytes()).unwrap().build().unwrap();
    // MX hosts come from DNS, where loopback addresses are denied: the bed lifts that.
    let loopback = AddressPolicy::new(Origin::Typed).allow("127.0.0.0/8").unwrap().allow("::1").unwrap();
    let probe = ProbeConfig::builder(domain.mx_target())
        .address_policy(loopback)
        .tls_config(tls.clone())
        .ehlo_name("bench.mail.test")
        .overall_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let make_config = || {
        let resolver = DnssecResolver::with_anchor(&[dns.authoritative], &dns.trust_anchor).unwrap();
        let mut config =
            DomainConfig::new(probe.clone(), resolver).override_host(&format!("mta-sts.{domain}"), policies.addr());
        for host in dns.postfix_hosts.iter().chain(&dns.exim_hosts) {
            let port = if dns.server_for(host) == Some(MxServer::Exim) { exim.port } else { postfix.plain_port };
            config = config.override_host(host, SocketAddr::from(([127, 0, 0, 1], port)));
        }
        config
    };
    let mut config = make_config();
    // One plain probe of an MX host: STARTTLS with the same trust settings.
    let single = ProbeConfig::builder(Target::new("127.0.0.1", postfix.plain_port).unwrap())
        .tls_name(format!("mx1.{domain}"))
        .tls_config(tls)
        .ehlo_name("bench.mail.test")
        .build()
        .unwrap();

    let mut rows: Vec<[f64; 6]> = Vec::new();
    let mut all_up = true;
    for run in 0..=args.runs {
        if args.cold {
            config = make_config();
        }
        let (report, single_ms) = runtime.block_on(async {
            let started = Instant::now();
            let _ = smtp_probe_tokio::probe(&single).await;
            let single_ms = ms(started.elapsed());
            (check_domain(&domain, &config).await, single_ms)
        });
        if run == 0 {
            continue; // warm-up: caches, page faults
        }
        all_up &= report.verdict == Verdict::Up;
        let slowest_probe = report.mx.hosts.iter().flat_map(|h| &h.reports).map(|r| ms(r.total)).fold(0.0, f64::max);
        let t = report.timings;
        rows.push([ms(t.dns), t.policy_fetch.map_or(0.0, ms), ms(t.mx_probes), slowest_probe, ms(t.total), single_ms]);
    }
    let column = |i: usize| median(rows.iter().map(|r| r[i]).collect());
    let names = ["dns", "policy_fetch", "mx_probes", "slowest_mx_probe", "total", "single_probe"];
    if args.json {
        let fields: serde_json::Map<String, serde_json::Value> =
            names.iter().enumerate().map(|(i, n)| (format!("{n}_ms"), json!(column(i)))).collect();
        println!("{}", json!({ "runs": args.runs, "cold": args.cold, "median": fields, "all_up": all_up }));
    } else {
        let cache = if args.cold { "a new resolver each" } else { "one resolver" };
        println!("{} checks of {domain} (two MX hosts, {cache}), medians:", args.runs);
        for (i, name) in names.iter().enumerate() {
            println!("  {name:<18} {:>8.2} ms", column(i));
        }
    }
    if all_up { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
