//! Task 1: probe one mail server once, STARTTLS required, trusting the organisation's private CA, and keep the
//! report as JSON (the adapter's `serde` feature: the documented shape, the one `smtp-probe --format json` prints).

mod support;

// ---- user code ------------------------------------------------------------------------------------------------
use std::time::Duration;

use smtp_probe_tokio::{Error, ProbeConfig, Target, TlsConfig, TlsMode, Verdict, probe};

/// Probes `host:port` with STARTTLS required; the certificate must verify for `tls_name` against `ca_pem`.
async fn check_mail_server(host: &str, port: u16, tls_name: &str, ca_pem: &[u8]) -> Result<serde_json::Value, Error> {
    let config = ProbeConfig::builder(Target::new(host, port)?)
        .tls(TlsMode::StartTlsRequired)
        .tls_name(tls_name) // the name in the certificate, whatever address we connect to
        .tls_config(TlsConfig::builder().add_ca_pem("our CA", ca_pem)?.build()?)
        .ehlo_name("monitor.example.com")
        .certificate_days(Some(21), Some(7))
        .overall_timeout(Duration::from_secs(10))
        .build()?;
    let report = probe(&config).await; // what the server does is in the report, never an Err
    if report.verdict != Verdict::Up {
        eprintln!("mail server not healthy: {}", report.summary());
    }
    Ok(serde_json::to_value(&report).expect("a report always serializes"))
}
// ---- end of user code -----------------------------------------------------------------------------------------

#[tokio::test]
async fn a_starttls_probe_with_a_private_ca_is_up_and_verified() {
    let Some(env) = support::postfix() else { return };
    let (host, port) = (support::get(&env, "HOST"), support::get(&env, "PLAIN_PORT").parse().unwrap());
    let ca = std::fs::read(support::get(&env, "CA")).expect("the test CA");
    let json = check_mail_server(host, port, support::get(&env, "TLS_NAME"), &ca).await.expect("a valid setup");

    assert_eq!(json["verdict"], "up", "{}", json["summary"]);
    assert_eq!(json["target"], format!("{host}:{port}"));
    assert_eq!(json["tls"]["verified"], true);
    assert_eq!(json["tls"]["verified_name"], "mx.test");
    let phases: Vec<&str> = json["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert!(phases.contains(&"starttls") && phases.contains(&"ehlo_tls"), "{phases:?}");
    assert!(json["tls"]["chain_earliest_days_left"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn a_setup_mistake_is_an_error_before_anything_is_sent() {
    // Not a certificate: refused while building, with an error the caller can match, and no connection made.
    let err = check_mail_server("127.0.0.1", 9, "mx.test", b"not a certificate").await.unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    // A target is checked when made: an empty host never reaches the network.
    let err = check_mail_server("", 25, "mx.test", b"").await.unwrap_err();
    assert!(matches!(err, Error::Target(_)), "{err:?}");
}
