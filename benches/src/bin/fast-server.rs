//! `fast-server`: smtp-probe's own loopback responder in a process of its own, so that its CPU is accounted apart
//! from the client's. Serves plain + STARTTLS on one port and implicit TLS on another (certificate for `mx.test`,
//! `localhost`, 127.0.0.1 and ::1 from a fresh test CA, ECDSA P-256), records nothing, and runs until killed.
//!
//! ```text
//! fast-server [--ca-out PATH] [--port P] [--tls-port P] [--reply-delay-ms MS] [--greeting-delay-ms MS]
//! ```
//!
//! Prints one JSON line once listening: `{"plain":PORT,"tls":PORT,"pid":PID,"ca":PATH}`.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use smtp_probe_benches::load::acct;
use smtp_probe_testserver::certs::TestPki;
use smtp_probe_testserver::{Responder, ServerBuilder};

/// smtp-probe's loopback responder as a stand-alone server for load runs.
#[derive(Debug, Parser)]
#[command(name = "fast-server")]
struct Args {
    /// Write the test CA (PEM) here.
    #[arg(long, default_value = "/tmp/smtp-probe-fast-server-ca.pem")]
    ca_out: String,
    /// Plain + STARTTLS port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Implicit TLS port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    tls_port: u16,
    /// Wait this long before every reply (holds probes in flight for memory measurements).
    #[arg(long, default_value_t = 0)]
    reply_delay_ms: u64,
    /// Wait this long before the greeting.
    #[arg(long, default_value_t = 0)]
    greeting_delay_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fast-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    // One descriptor per connection, and a 10,000-probe run connects 10,000 at once.
    acct::raise_nofile(65_536);
    let pki = TestPki::new()?;
    let cert = pki.default_cert()?;
    std::fs::write(&args.ca_out, pki.ca_pem())?;
    let responder = Responder::new()
        .cert(&cert)
        .reply_delay(Duration::from_millis(args.reply_delay_ms))
        .greeting_delay(Duration::from_millis(args.greeting_delay_ms));
    let plain = ServerBuilder::new(responder.clone())
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .record(false)
        .start()?;
    let tls = ServerBuilder::new(responder.implicit_tls(true))
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.tls_port)))
        .record(false)
        .start()?;
    let line = serde_json::json!({
        "plain": plain.port(),
        "tls": tls.port(),
        "pid": std::process::id(),
        "ca": args.ca_out,
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    drop(stdout);
    // Serve until killed; the servers run on their own threads.
    loop {
        std::thread::park();
    }
}
