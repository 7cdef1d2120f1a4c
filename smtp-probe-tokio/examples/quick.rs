//! Probe one target: `cargo run -p smtp-probe-tokio --example quick -- HOST:PORT [starttls|smtps|none] [CA.pem] [TLS_NAME]`.
use smtp_probe_tokio::{ProbeConfig, Target, TlsConfig, TlsMode, probe};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target: Target = args.first().map(String::as_str).unwrap_or("127.0.0.1:2525").parse()?;
    let mode = match args.get(1).map(String::as_str) {
        Some("smtps") => TlsMode::Implicit,
        Some("none") => TlsMode::None,
        _ => TlsMode::StartTlsRequired,
    };
    let mut builder = ProbeConfig::builder(target).tls(mode);
    if let Some(ca) = args.get(2) {
        builder = builder.tls_config(TlsConfig::builder().add_ca_pem(ca, &std::fs::read(ca)?)?.build()?);
    }
    if let Some(name) = args.get(3) {
        builder = builder.tls_name(name);
    }
    let report = probe(&builder.build()?).await;
    println!("{}", report.summary());
    for line in &report.transcript {
        println!("{:>8.3} ms {:?} {}", line.at.as_secs_f64() * 1000.0, line.direction, line.text);
    }
    if let Some(tls) = &report.tls {
        println!("{tls:#?}");
    }
    Ok(())
}
