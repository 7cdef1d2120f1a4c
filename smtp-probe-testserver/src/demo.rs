//! The demo server: the [`Responder`] on loopback with a certificate from a throw-away CA that only this process
//! trusts, STARTTLS, and a demo user. `smtp-probe` with no target probes it, and the example services' `--demo`
//! does too, so a complete, real probe runs on a machine without network.
//!
//! ```
//! use smtp_probe_proto::ProbeConfig;
//! use smtp_probe_testserver::demo::Demo;
//!
//! let demo = Demo::start()?;
//! let config = demo.configure(ProbeConfig::builder(demo.target())).build()?;
//! assert_eq!(config.target().host(), "127.0.0.1");
//! assert!(demo.description().contains("STARTTLS required"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use smtp_probe_proto::{AuthMechanism, ProbeConfigBuilder, Secret, Target, TlsConfig, TlsMode};

use crate::{Error, Responder, ServerBuilder, TestPki, TestServer};

/// The demo server's user.
pub const USER: &str = "demo";
/// The demo user's password.
pub const PASSWORD: &str = "demo-password";
/// The name in the demo certificate, sent as SNI and verified.
pub const TLS_NAME: &str = "mx.test";
/// The sender the demo probe uses.
pub const FROM: &str = "demo@example.test";
/// The recipient the demo probe checks.
pub const RCPT: &str = "postmaster@mx.test";

/// A running demo server; dropping it stops the server.
#[derive(Debug)]
pub struct Demo {
    server: TestServer,
    tls: TlsConfig,
    ca_pem: String,
}

impl Demo {
    /// Makes a CA and a certificate, and starts the server on `127.0.0.1` (an ephemeral port), recording nothing.
    pub fn start() -> Result<Demo, Error> {
        let pki = TestPki::new()?;
        let cert = pki.default_cert()?;
        let responder =
            Responder::new().cert(&cert).user(USER, PASSWORD).require_tls_for_mail(true).require_auth_for_mail(true);
        let server = ServerBuilder::new(responder).record(false).start()?;
        let tls = TlsConfig::builder()
            .webpki_roots(false)
            .add_ca_pem("the demo CA", pki.ca_pem().as_bytes())
            .and_then(|b| b.build())
            .map_err(|e| Error::Config(format!("the demo CA: {e}")))?;
        Ok(Demo { server, tls, ca_pem: pki.ca_pem().to_owned() })
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

    /// The demo CA's certificate (PEM), for a client configured from files (the monitor's `ca_file`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// What a probe of the demo does, for a line printed before it.
    pub fn description(&self) -> String {
        format!(
            "the bundled demo server at {} (STARTTLS required, certificate for {TLS_NAME} from a CA made for this \
             run, AUTH PLAIN as {USER:?}, MAIL FROM:<{FROM}>, RCPT TO:<{RCPT}>, stopping before DATA)",
            self.target()
        )
    }
}
