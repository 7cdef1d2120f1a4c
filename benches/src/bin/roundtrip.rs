//! `roundtrip`: N round trips through the loopback Postfix and Dovecot (`.ci/postfix.sh`, `.ci/dovecot.sh`), the
//! end-to-end latency they measure, and what the probe itself costs — beside a minimal Python mail loop (the
//! style of Checkmk's `check_mail_loop`) doing the same steps in the same run.
//!
//! ```text
//! cargo run --release -p smtp-probe-benches --bin roundtrip -- [--runs 30] [--poll-ms 100] [--peer] [--json]
//! ```
//!
//! Runs are sequential (one message in flight), through the tokio adapter on a current-thread runtime: STARTTLS
//! submission with AUTH on 2587, IMAPS on 10993. CPU is this process's (`getrusage`), so it is the probe's own
//! cost: TLS handshakes on both sides, both protocols, the report. Exits 0 when every run was up, 1 otherwise, 2
//! when the servers are not there.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use smtp_probe_benches::load::acct;
use smtp_probe_proto::imap::PollInterval;
use smtp_probe_proto::{TlsMode, Verdict};
use smtp_probe_testsuite::dovecot;

/// Round trips against the loopback Postfix and Dovecot.
#[derive(Debug, Parser)]
#[command(name = "roundtrip")]
struct Args {
    /// Round trips to run and measure (after one warm-up).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// The first wait between two searches, in ms (it grows by half each time, up to 5 s).
    #[arg(long, default_value_t = 100)]
    poll_ms: u64,
    /// Also run the Python mail loop (`benches/peers/mail-loop.py`) as many times.
    #[arg(long)]
    peer: bool,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default)]
struct Sample {
    end_to_end: f64,
    not_visible_after: Option<f64>,
    submit: f64,
    mailbox_ready: f64,
    total: f64,
    cpu: f64,
    searches: u32,
    commands: u32,
    bytes_sent: u64,
    bytes_received: u64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn quantiles(mut values: Vec<f64>) -> serde_json::Value {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values.get(((values.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    json!({ "min": at(0.0), "median": at(0.5), "p90": at(0.9), "max": at(1.0) })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some((postfix, dovecot)) = dovecot::env_or_skip("roundtrip bench") else { return ExitCode::from(2) };
    let poll = PollInterval { initial: Duration::from_millis(args.poll_ms), max: Duration::from_secs(5) };
    let mailbox = dovecot.mailbox(TlsMode::Implicit, &dovecot.password).poll_interval(poll).build().expect("config");
    let config = dovecot
        .roundtrip(&postfix, TlsMode::StartTlsRequired, &dovecot.rcpt, mailbox)
        .deadline(Duration::from_secs(20))
        .build()
        .expect("a valid round-trip configuration");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");

    let mut samples = Vec::new();
    let mut failed = 0;
    for run in 0..=args.runs {
        let cpu = acct::self_cpu();
        let report = runtime.block_on(smtp_probe_tokio::roundtrip(&config));
        let cpu = acct::self_cpu().since(cpu).total() * 1000.0;
        if report.verdict != Verdict::Up {
            failed += 1;
            eprintln!("run {run}: {}", report.summary());
            continue;
        }
        if run == 0 {
            continue; // warm-up: first connections, page cache
        }
        let t = &report.timings;
        samples.push(Sample {
            end_to_end: t.end_to_end.map_or(f64::NAN, ms),
            not_visible_after: t.not_visible_after.map(ms),
            submit: t.submit.map_or(f64::NAN, ms),
            mailbox_ready: t.mailbox_ready.map_or(f64::NAN, ms),
            total: ms(t.total),
            cpu,
            searches: report.mailbox.searches,
            commands: report.mailbox.commands,
            bytes_sent: report.mailbox.bytes_sent,
            bytes_received: report.mailbox.bytes_received,
        });
    }

    let mut peer = None;
    if args.peer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/mail-loop.py");
        let ca = std::env::temp_dir().join("smtp-probe-roundtrip-bench-ca.pem");
        std::fs::write(&ca, &dovecot.ca_pem).expect("CA file");
        let mut latencies = Vec::new();
        let mut searches = Vec::new();
        let cpu = acct::children_cpu();
        let started = Instant::now();
        for _ in 0..args.runs {
            let output = Command::new("python3")
                .arg(script)
                .args([&postfix.host, &postfix.submission_port.to_string(), &postfix.user, &postfix.password])
                .args([&postfix.from, &dovecot.rcpt, &dovecot.host, &dovecot.imaps_port.to_string()])
                .args([&dovecot.user, &dovecot.password])
                .arg(&ca)
                .args([&format!("{}", args.poll_ms as f64 / 1000.0), "20"])
                .output()
                .expect("python3");
            let text = String::from_utf8_lossy(&output.stdout);
            match text.split_whitespace().collect::<Vec<_>>()[..] {
                [latency, n] if output.status.success() => {
                    latencies.push(latency.parse::<f64>().unwrap_or(f64::NAN));
                    searches.push(n.parse::<f64>().unwrap_or(f64::NAN));
                }
                _ => eprintln!("mail-loop.py: {} {}", output.status, String::from_utf8_lossy(&output.stderr)),
            }
        }
        let wall = started.elapsed().as_secs_f64() * 1000.0 / args.runs as f64;
        let cpu = acct::children_cpu().since(cpu).total() * 1000.0 / args.runs as f64;
        peer = Some(json!({
            "runs": latencies.len(),
            "end_to_end_ms": quantiles(latencies),
            "searches_mean": searches.iter().sum::<f64>() / searches.len().max(1) as f64,
            "wall_ms_per_run": wall,
            "cpu_ms_per_run": cpu,
        }));
    }

    let n = samples.len().max(1) as f64;
    let mean = |f: fn(&Sample) -> f64| samples.iter().map(f).sum::<f64>() / n;
    let result = json!({
        "runs": samples.len(),
        "failed": failed,
        "poll_initial_ms": args.poll_ms,
        "end_to_end_ms": quantiles(samples.iter().map(|s| s.end_to_end).collect()),
        "not_visible_after_ms": quantiles(samples.iter().filter_map(|s| s.not_visible_after).collect()),
        "found_on_first_search": samples.iter().filter(|s| s.searches == 1).count(),
        "submit_ms": quantiles(samples.iter().map(|s| s.submit).collect()),
        "mailbox_ready_ms": quantiles(samples.iter().map(|s| s.mailbox_ready).collect()),
        "total_ms": quantiles(samples.iter().map(|s| s.total).collect()),
        "cpu_ms_per_run": quantiles(samples.iter().map(|s| s.cpu).collect()),
        "searches_mean": mean(|s| f64::from(s.searches)),
        "imap_commands_mean": mean(|s| f64::from(s.commands)),
        "imap_bytes_sent_mean": mean(|s| s.bytes_sent as f64),
        "imap_bytes_received_mean": mean(|s| s.bytes_received as f64),
        "peer_python_mail_loop": peer,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result).expect("JSON"));
    } else {
        for (key, value) in result.as_object().expect("an object") {
            println!("{key:>28}  {value}");
        }
    }
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
