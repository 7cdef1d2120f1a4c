//! `probe-load`: N probes at concurrency C against a loopback SMTP server, and what they cost.
//!
//! ```text
//! cargo run --release -p smtp-probe-benches --bin probe-load -- --target 127.0.0.1:2525 --probes 1000 \
//!     --concurrency 8 [--starttls | --tls] [--ca-file PEM] [--tls-name mx.test] [--json]
//!     [--tool smtp-probe|floor|check-smtp|blackbox] [--runtime current|multi] [--server-pid PID]...
//! ```
//!
//! Prints a table, or with `--json` one JSON object (`probes`, `ok`, `failed_by_cause`, `wall_s`, `cpu_s`,
//! `cpu_per_probe_us`, `probes_per_sec`, `peak_rss_kib`, `rss_per_inflight_kib`, server and machine CPU, ...).
//! Exits 0 when every probe came back up, 1 when some did not, 2 on bad usage. See `benches/compare.sh` for the
//! side-by-side run and BENCHMARKS.md for the method.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use serde_json::json;
use smtp_probe_benches::load::floor::{Floor, FloorTls};
use smtp_probe_benches::load::peers::{Blackbox, CheckSmtp};
use smtp_probe_benches::load::{self, Flavor, Spec, Tool, acct};
use smtp_probe_tokio::{ProbeConfig, Target, TlsConfig, TlsMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ToolArg {
    /// smtp-probe's tokio adapter.
    SmtpProbe,
    /// The minimal hand-written tokio client (the floor).
    Floor,
    /// check_smtp, one process per probe.
    CheckSmtp,
    /// blackbox_exporter's tcp prober, one HTTP request per probe.
    Blackbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RuntimeArg {
    /// tokio current_thread runtime.
    Current,
    /// tokio multi_thread runtime (`--threads` workers).
    Multi,
}

/// Load benchmark: N probes at concurrency C against a loopback SMTP server.
#[derive(Debug, Parser)]
#[command(name = "probe-load")]
struct Args {
    /// The server, HOST:PORT on loopback (127.0.0.0/8 or ::1).
    #[arg(long)]
    target: String,
    /// Probes to run and measure.
    #[arg(long, default_value_t = 1000)]
    probes: usize,
    /// Probes in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// STARTTLS (required) after EHLO.
    #[arg(long, conflicts_with = "tls")]
    starttls: bool,
    /// Implicit TLS (port 465 style).
    #[arg(long)]
    tls: bool,
    /// Floor only, with --tls: a TLS handshake and close, no SMTP (what the handshake alone costs).
    #[arg(long, requires = "tls")]
    handshake_only: bool,
    /// PEM file of the CA to trust (the only trust anchor).
    #[arg(long)]
    ca_file: Option<String>,
    /// The name to verify in the certificate (default: the target host).
    #[arg(long)]
    tls_name: Option<String>,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// The probing tool.
    #[arg(long, value_enum, default_value_t = ToolArg::SmtpProbe)]
    tool: ToolArg,
    /// The tokio runtime for smtp-probe, the floor and the blackbox HTTP driver.
    #[arg(long, value_enum, default_value_t = RuntimeArg::Current)]
    runtime: RuntimeArg,
    /// Worker threads of the multi-thread runtime (default: available parallelism).
    #[arg(long)]
    threads: Option<usize>,
    /// Probes run first and not measured.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// A server process (tree) whose CPU to report apart; repeatable.
    #[arg(long)]
    server_pid: Vec<u32>,
    /// A pid file naming a server process, e.g. /var/spool/postfix/pid/master.pid; repeatable.
    #[arg(long)]
    server_pid_file: Vec<String>,
    /// blackbox_exporter: its listen address (loopback).
    #[arg(long, default_value = "127.0.0.1:19115")]
    exporter: String,
    /// blackbox_exporter: its process, whose CPU is the tool's.
    #[arg(long)]
    exporter_pid: Option<u32>,
    /// blackbox_exporter: the module (default smtp_plain, smtp_starttls or smtp_tls by mode).
    #[arg(long)]
    module: Option<String>,
    /// check_smtp's path.
    #[arg(long, default_value = "/usr/lib/nagios/plugins/check_smtp")]
    check_smtp: String,
    /// A label copied into the results.
    #[arg(long)]
    label: Option<String>,
}

fn mode(args: &Args) -> &'static str {
    if args.starttls {
        "starttls"
    } else if args.handshake_only {
        "tls-handshake-only"
    } else if args.tls {
        "tls"
    } else {
        "plain"
    }
}

fn resolve(target: &str) -> Result<SocketAddr, String> {
    let addr = target
        .to_socket_addrs()
        .map_err(|e| format!("--target {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("--target {target}: no address"))?;
    load::check_loopback(&addr)?;
    Ok(addr)
}

fn read_ca(args: &Args) -> Result<Option<Vec<u8>>, String> {
    match &args.ca_file {
        Some(path) => std::fs::read(path).map(Some).map_err(|e| format!("--ca-file {path}: {e}")),
        None if args.starttls || args.tls => Err("--starttls and --tls need --ca-file".into()),
        None => Ok(None),
    }
}

fn build_tool(args: &Args, addr: SocketAddr) -> Result<Tool, String> {
    let host = addr.ip().to_string();
    let tls_name = args.tls_name.clone().unwrap_or_else(|| host.clone());
    match args.tool {
        ToolArg::SmtpProbe => {
            let mode = if args.starttls {
                TlsMode::StartTlsRequired
            } else if args.tls {
                TlsMode::Implicit
            } else {
                TlsMode::None
            };
            let target = Target::new(host.as_str(), addr.port()).map_err(|e| e.to_string())?;
            let mut builder = ProbeConfig::builder(target).tls(mode).ehlo_name("probe.example.org").transcript(false);
            if let Some(pem) = read_ca(args)? {
                let tls = TlsConfig::builder()
                    .webpki_roots(false)
                    .add_ca_pem("--ca-file", &pem)
                    .and_then(|b| b.build())
                    .map_err(|e| e.to_string())?;
                builder = builder.tls_config(tls).tls_name(tls_name);
            }
            let config = builder.build().map_err(|e| e.to_string())?;
            Ok(Tool::SmtpProbe { config })
        }
        ToolArg::Floor => {
            let tls = if args.starttls {
                FloorTls::StartTls
            } else if args.tls && args.handshake_only {
                FloorTls::HandshakeOnly
            } else if args.tls {
                FloorTls::Implicit
            } else {
                FloorTls::None
            };
            let connector = match read_ca(args)? {
                Some(pem) if tls != FloorTls::None => {
                    use rustls::pki_types::pem::PemObject;
                    let mut roots = rustls::RootCertStore::empty();
                    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
                    }
                    let name = rustls::pki_types::ServerName::try_from(tls_name).map_err(|e| e.to_string())?;
                    Some((tokio_rustls::TlsConnector::from(load::floor::client_config(roots)), name))
                }
                _ => None,
            };
            Ok(Tool::Floor(Floor { addr, tls, connector }))
        }
        ToolArg::CheckSmtp => {
            if args.tls {
                return Err("check_smtp 2.3 has no implicit TLS".into());
            }
            Ok(Tool::CheckSmtp(CheckSmtp::new(&args.check_smtp, &host, addr.port(), args.starttls)))
        }
        ToolArg::Blackbox => {
            let exporter = resolve(&args.exporter)?;
            let module = args.module.clone().unwrap_or_else(|| format!("smtp_{}", mode(args)));
            Ok(Tool::Blackbox(Blackbox::new(exporter, &module, &args.target)))
        }
    }
}

fn print_table(v: &serde_json::Value) {
    let get = |k: &str| match &v[k] {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!("{:<26} {}", "tool", get("tool"));
    for key in [
        "mode",
        "runtime",
        "target",
        "probes",
        "concurrency",
        "ok",
        "failed_by_cause",
        "wall_s",
        "probes_per_sec",
        "cpu_s",
        "cpu_user_s",
        "cpu_sys_s",
        "cpu_per_probe_us",
        "cpu_source",
        "driver_cpu_per_probe_us",
        "server_cpu_per_probe_us",
        "machine_cpu_per_probe_us",
        "latency_ms",
        "peak_inflight",
        "baseline_rss_kib",
        "peak_rss_kib",
        "rss_per_inflight_kib",
        "rss_per_peak_inflight_kib",
    ] {
        println!("{key:<26} {}", get(key));
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let addr = match resolve(&args.target) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("probe-load: {e}");
            return ExitCode::from(2);
        }
    };
    let tool = match build_tool(&args, addr) {
        Ok(tool) => tool,
        Err(e) => {
            eprintln!("probe-load: {e}");
            return ExitCode::from(2);
        }
    };
    // Every in-flight probe holds a socket (and the blackbox driver one more): leave room.
    let nofile = acct::raise_nofile(args.concurrency as u64 + 1024);
    let mut server_pids = args.server_pid.clone();
    for file in &args.server_pid_file {
        match acct::pid_from_file(file) {
            Some(pid) => server_pids.push(pid),
            None => eprintln!("probe-load: no pid in {file}; its CPU is not reported"),
        }
    }
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let spec = Spec {
        probes: args.probes.max(1),
        concurrency: args.concurrency.max(1),
        warmup: args.warmup,
        flavor: match args.runtime {
            RuntimeArg::Current => Flavor::CurrentThread,
            RuntimeArg::Multi => Flavor::MultiThread(threads),
        },
        server_pids,
        tool_pid: args.exporter_pid,
    };
    let meta = json!({
        "mode": mode(&args),
        "target": addr.to_string(),
        "label": args.label,
        "nofile_limit": nofile,
    });
    let result = match load::run(tool, &spec, meta) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("probe-load: {e}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        println!("{result}");
    } else {
        print_table(&result);
    }
    if result["ok"].as_u64() == Some(spec.probes as u64) { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
