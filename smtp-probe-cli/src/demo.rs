//! The bundled demo server, probed when no target is given: smtp-probe-testserver's ESMTP responder on loopback,
//! with a certificate from a throw-away CA that this run (and only this run) trusts, STARTTLS, and a demo user.
//! `cargo run -p smtp-probe-cli` thus shows a complete, real probe on a machine without network.

use smtp_probe_testserver::{Responder, ServerBuilder, TestPki, TestServer};
use smtp_probe_tokio::proto::{AuthMechanism, ProbeConfigBuilder, Secret};
use smtp_probe_tokio::{Target, TlsConfig, TlsMode};

use crate::Failure;

/// The demo server's user.
pub const USER: &str = "demo";
/// The demo user's password.
pub const PASSWORD: &str = "demo-password";
/// The name in the demo certificate, sent as SNI and verified.
pub const TLS_NAME: &str = "mx.test";
const FROM: &str = "demo@example.test";
const RCPT: &str = "postmaster@mx.test";

/// A running demo server; dropping it stops the server.
#[derive(Debug)]
pub struct Demo {
    server: TestServer,
    tls: TlsConfig,
}

impl Demo {
    /// Makes a CA and a certificate, and starts the server on `127.0.0.1` (an ephemeral port).
    pub fn start() -> Result<Demo, Failure> {
        let failed = |e: &dyn std::fmt::Display| Failure::new(format!("cannot start the demo server: {e}"));
        let pki = TestPki::new().map_err(|e| failed(&e))?;
        let cert = pki.default_cert().map_err(|e| failed(&e))?;
        let responder =
            Responder::new().cert(&cert).user(USER, PASSWORD).require_tls_for_mail(true).require_auth_for_mail(true);
        let server = ServerBuilder::new(responder).record(false).start().map_err(|e| failed(&e))?;
        let tls = TlsConfig::builder()
            .webpki_roots(false)
            .add_ca_pem("the demo CA", pki.ca_pem().as_bytes())
            .and_then(|b| b.build())
            .map_err(|e| failed(&e))?;
        Ok(Demo { server, tls })
    }

    /// Where the server listens.
    pub fn target(&self) -> Target {
        Target::new(self.server.addr().ip().to_string(), self.server.port()).expect("a bound socket address")
    }

    /// The full sequence: STARTTLS required (verified against the demo CA), AUTH PLAIN as the demo user, MAIL FROM
    /// and RCPT TO, stop before DATA.
    pub fn configure(&self, builder: ProbeConfigBuilder) -> ProbeConfigBuilder {
        builder
            .tls(TlsMode::StartTlsRequired)
            .tls_name(TLS_NAME)
            .tls_config(self.tls.clone())
            .auth(USER, Secret::new(PASSWORD))
            .auth_mechanisms([AuthMechanism::Plain])
            .mail_from(FROM)
            .rcpt_to(RCPT)
    }

    /// The line printed before the probe.
    pub fn announcement(&self) -> String {
        format!(
            "smtp-probe: no TARGET given, probing the bundled demo server at {} (STARTTLS required, certificate for \
             {TLS_NAME} from a CA made for this run, AUTH PLAIN as {USER:?}, MAIL FROM:<{FROM}>, RCPT TO:<{RCPT}>, \
             stopping before DATA)",
            self.target()
        )
    }
}
