//! The real loopback Postfix that `.ci/postfix.sh` sets up, as the adapters' interop tests see it.
//!
//! [`env()`] reads the `SMTP_PROBE_POSTFIX_*` variables. `.ci/run` exports them (it sources the env file
//! that `.ci/postfix.sh` writes); when they are unset — a plain `cargo test` on a machine where the script
//! ran — [`env()`] loads `$SMTP_PROBE_POSTFIX_DIR/env` (default `/var/tmp/smtp-probe-postfix/env`) itself.
//! When neither is there, [`env_or_skip`] prints
//! `skipped: no loopback Postfix (run .ci/postfix.sh)` to stderr and the test returns without failing — unless
//! `SMTP_PROBE_REQUIRE_SERVICES=1` is set (CI sets it), where it fails (see `smtp_probe_testserver::services`).
//!
//! [`cases`] lists the interop cases as [`Scenario`](crate::conformance::Scenario)s, so every adapter runs
//! the same ones (with [`postfix_tests!`](crate::postfix_tests)) and their reports can be compared with the
//! conformance normalizer. Some run without the test CA, as a new user would: opportunistic STARTTLS is up with
//! the certificate problem reported, required STARTTLS is down, and credentials are withheld — which
//! [`assert_no_sasl_attempt`] proves from Postfix's own log.
//!
//! ```
//! if let Some(postfix) = smtp_probe_testsuite::postfix::env_or_skip("doc example") {
//!     assert!(postfix.host.parse::<std::net::IpAddr>()?.is_loopback());
//!     assert!(postfix.ca_pem.contains("BEGIN CERTIFICATE"));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use smtp_probe_testserver::services;

/// The default state directory of `.ci/postfix.sh`.
pub const DEFAULT_DIR: &str = "/var/tmp/smtp-probe-postfix";

/// What `.ci/postfix.sh` wrote to its `env` file (see `.ci/README.md`), with the CA certificate read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostfixEnv {
    /// The state directory.
    pub dir: PathBuf,
    /// The IPv4 loopback address Postfix listens on.
    pub host: String,
    /// The IPv6 loopback address, when the machine has one.
    pub host6: Option<String>,
    /// Plain SMTP with STARTTLS offered (2525).
    pub plain_port: u16,
    /// Submission: STARTTLS required, AUTH (2587).
    pub submission_port: u16,
    /// Implicit TLS (2465).
    pub smtps_port: u16,
    /// The test CA certificate, PEM.
    pub ca_pem: String,
    /// The name in the server certificate (`mx.test`).
    pub tls_name: String,
    /// The SASL user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// A recipient Postfix accepts.
    pub good_rcpt: String,
    /// A local recipient that does not exist (`550 5.1.1`).
    pub unknown_rcpt: String,
    /// A recipient in another domain (`554 5.7.1` relay access denied without AUTH).
    pub relay_rcpt: String,
    /// The sender to use.
    pub from: String,
    /// Postfix's log file.
    pub log: PathBuf,
}

/// The loopback Postfix, from the environment or from its `env` file; `None` when neither is there (or the
/// values are unusable, e.g. a non-loopback host).
pub fn env() -> Option<PostfixEnv> {
    let dir = std::env::var("SMTP_PROBE_POSTFIX_DIR").unwrap_or_else(|_| DEFAULT_DIR.to_owned());
    from_vars(&services::vars("SMTP_PROBE_POSTFIX_", "HOST", Path::new(&dir))?)
}

/// [`env()`], or `None` after printing `skipped: no loopback Postfix (run .ci/postfix.sh)` (naming `test`) to
/// stderr. Interop tests return early on `None`: without the server there is nothing to check.
pub fn env_or_skip(test: &str) -> Option<PostfixEnv> {
    env().or_else(|| services::skip(test, "loopback Postfix", "run .ci/postfix.sh"))
}

fn from_vars(vars: &HashMap<String, String>) -> Option<PostfixEnv> {
    let get = |name: &str| vars.get(&format!("SMTP_PROBE_POSTFIX_{name}")).filter(|v| !v.is_empty()).cloned();
    let port = |name: &str| get(name)?.parse::<u16>().ok();
    let loopback = |host: &str| host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let dir = PathBuf::from(get("DIR").unwrap_or_else(|| DEFAULT_DIR.to_owned()));
    let host = get("HOST").filter(|h| loopback(h))?;
    let ca_path = get("CA").map_or_else(|| dir.join("ca.pem"), PathBuf::from);
    Some(PostfixEnv {
        host,
        host6: get("HOST6").filter(|h| loopback(h)),
        plain_port: port("PLAIN_PORT")?,
        submission_port: port("SUBMISSION_PORT")?,
        smtps_port: port("SMTPS_PORT")?,
        ca_pem: std::fs::read_to_string(ca_path).ok()?,
        tls_name: get("TLS_NAME")?,
        user: get("USER")?,
        password: get("PASSWORD")?,
        good_rcpt: get("GOOD_RCPT")?,
        unknown_rcpt: get("UNKNOWN_RCPT")?,
        relay_rcpt: get("RELAY_RCPT")?,
        from: get("FROM")?,
        log: get("LOG").map_or_else(|| dir.join("maillog"), PathBuf::from),
        dir,
    })
}

pub use cases::cases;

/// A SASL user name no other test uses, made once per process: were AUTH sent with it, Postfix would log it
/// (`SASL ... authentication failed: ..., sasl_username=<it>`), so its absence from the log shows that no AUTH
/// was attempted.
pub fn withheld_user() -> &'static str {
    static USER: OnceLock<String> = OnceLock::new();
    USER.get_or_init(|| format!("withheld-{}@{}", unique(), "mx.test"))
}

/// Asserts that Postfix's log shows no SASL attempt for `user`. A marker session (a refused recipient, which
/// Postfix logs with its sender) is made after the probe, and the log is read once the marker is in it: whatever
/// the probe's session made Postfix log is in the log by then.
///
/// # Panics
/// When the log names `user`, or the marker does not show within 10 seconds.
pub fn assert_no_sasl_attempt(env: &PostfixEnv, user: &str) {
    let marker = format!("marker-{}@mx.test", unique());
    log_marker(env, &marker).expect("a marker session with the loopback Postfix");
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read_to_string(&env.log).unwrap_or_default();
        if log.contains(&marker) {
            break log;
        }
        assert!(Instant::now() < deadline, "the marker {marker} never reached {}", env.log.display());
        std::thread::sleep(Duration::from_millis(50));
    };
    let attempts: Vec<&str> = log.lines().filter(|l| l.contains(user)).collect();
    assert!(attempts.is_empty(), "Postfix saw a SASL attempt for {user}: {attempts:#?}");
}

/// Something unique to this process and moment, for names in Postfix's log.
fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A plain session on the plain port that Postfix logs with `marker` as the sender: MAIL FROM it, RCPT TO an
/// unknown local user (refused, and logged with the sender), QUIT.
fn log_marker(env: &PostfixEnv, marker: &str) -> std::io::Result<()> {
    let stream = TcpStream::connect((env.host.as_str(), env.plain_port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut reply = || -> std::io::Result<String> {
        let mut last = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(last);
            }
            let done = line.as_bytes().get(3) != Some(&b'-');
            last = line;
            if done {
                return Ok(last);
            }
        }
    };
    reply()?;
    for command in [
        "EHLO marker.smtp-probe.test".to_owned(),
        format!("MAIL FROM:<{marker}>"),
        format!("RCPT TO:<{}>", env.unknown_rcpt),
    ] {
        writer.write_all(format!("{command}\r\n").as_bytes())?;
        reply()?;
    }
    writer.write_all(b"QUIT\r\n")?;
    reply()?;
    Ok(())
}

mod cases {
    use smtp_probe_proto::{Cause, ProbeConfig, ProbeConfigBuilder, Secret, Target, TlsConfig, TlsMode, Verdict};

    use super::PostfixEnv;
    use crate::conformance::{Expected, Scenario, trusting};

    /// The loopback address and `port` as the target, the certificate's name as the TLS name.
    fn base(env: &PostfixEnv, port: u16, mode: TlsMode) -> ProbeConfigBuilder {
        let target = Target::new(env.host.as_str(), port).expect("a loopback address and a port");
        ProbeConfig::builder(target)
            .tls(mode)
            .tls_name(env.tls_name.as_str())
            .tls_config(trusting(&env.ca_pem))
            .ehlo_name("probe.smtp-probe.test")
    }

    /// As a new user would probe: no CA given, so the private test CA is unknown (the bundled webpki roots only).
    fn untrusting(env: &PostfixEnv, port: u16, mode: TlsMode) -> ProbeConfigBuilder {
        base(env, port, mode).tls_config(TlsConfig::default())
    }

    fn build(config: ProbeConfigBuilder) -> ProbeConfig {
        config.build().expect("a valid Postfix case configuration")
    }

    fn envelope(env: &PostfixEnv, rcpt: &str) -> ProbeConfig {
        build(base(env, env.plain_port, TlsMode::StartTlsOpportunistic).mail_from(env.from.as_str()).rcpt_to(rcpt))
    }

    fn submission(env: &PostfixEnv, password: &str) -> ProbeConfig {
        build(base(env, env.submission_port, TlsMode::StartTlsRequired).auth(env.user.as_str(), Secret::new(password)))
    }

    /// The interop cases against the loopback Postfix (names start with `postfix_`). Their
    /// [`prepare`](Scenario::prepare) returns `None` (after printing the skip line) when there is no Postfix.
    pub fn cases() -> Vec<Scenario> {
        let up = Expected::new(Verdict::Up, None);
        vec![
            Scenario::postfix(
                "postfix_plain_starttls_up",
                "port 2525, STARTTLS when offered: verified with the test CA for mx.test",
                up.clone().with_check(checks::verified_tls),
                |env| build(base(env, env.plain_port, TlsMode::StartTlsOpportunistic)),
            ),
            Scenario::postfix(
                "postfix_submission_auth_up",
                "port 2587, STARTTLS required, AUTH with the good password: 235",
                up.clone().with_check(checks::auth_235),
                |env| submission(env, &env.password),
            ),
            Scenario::postfix(
                "postfix_submission_auth_failed",
                "port 2587, AUTH with a bad password: 535 5.7.8",
                Expected::new(Verdict::Down, Some(Cause::AuthFailed)).finding("535 5.7.8"),
                |env| submission(env, "not-the-password"),
            ),
            Scenario::postfix(
                "postfix_unknown_recipient",
                "port 2525, RCPT to a local user that does not exist: 550 5.1.1",
                Expected::new(Verdict::Down, Some(Cause::RecipientRejected)).finding("550 5.1.1"),
                |env| envelope(env, &env.unknown_rcpt),
            ),
            Scenario::postfix(
                "postfix_relay_denied",
                "port 2525, RCPT to another domain without AUTH: 554 5.7.1 relay access denied",
                Expected::new(Verdict::Down, Some(Cause::RecipientRejected)).finding("554 5.7.1"),
                |env| envelope(env, &env.relay_rcpt),
            ),
            Scenario::postfix(
                "postfix_smtps_up",
                "port 2465, implicit TLS: TLSv1.3, certificate verified",
                up.clone().with_check(checks::tls13_verified),
                |env| build(base(env, env.smtps_port, TlsMode::Implicit)),
            ),
            Scenario::postfix(
                "postfix_plain_untrusted_opportunistic_up",
                "port 2525 without the test CA, no TLS asked for: up, the certificate problem reported, not counted",
                up.with_check(checks::untrusted_reported),
                |env| build(untrusting(env, env.plain_port, TlsMode::StartTlsOpportunistic)),
            ),
            Scenario::postfix(
                "postfix_plain_untrusted_required_down",
                "port 2525 without the test CA, STARTTLS required: down, certificate_invalid",
                Expected::new(Verdict::Down, Some(Cause::CertificateInvalid)).finding("untrusted authority"),
                |env| build(untrusting(env, env.plain_port, TlsMode::StartTlsRequired)),
            ),
            Scenario::postfix(
                "postfix_submission_untrusted_withholds_credentials",
                "port 2587 without the test CA, credentials given: no AUTH (Postfix logs no SASL attempt), down",
                Expected::new(Verdict::Down, Some(Cause::CertificateInvalid))
                    .finding("credentials withheld")
                    .with_check(checks::credentials_withheld),
                |env| {
                    let config = untrusting(env, env.submission_port, TlsMode::StartTlsOpportunistic);
                    build(config.auth(super::withheld_user(), Secret::new("not-sent")))
                },
            ),
            Scenario::postfix(
                "postfix_submission_insecure_sends_credentials",
                "port 2587 without the test CA, inspect-only: AUTH sent (235), the finding names the override",
                Expected::new(Verdict::Degraded, Some(Cause::CertificateInvalid))
                    .finding("the inspect-only override allows it")
                    .with_check(checks::auth_235_unverified),
                |env| {
                    let trust = TlsConfig::builder().inspect_only(true).build().expect("the webpki roots");
                    let config = base(env, env.submission_port, TlsMode::StartTlsOpportunistic).tls_config(trust);
                    build(config.auth(env.user.as_str(), Secret::new(env.password.as_str())))
                },
            ),
        ]
    }

    mod checks {
        use smtp_probe_proto::{CertificateProblem, Direction, Phase, Report, Severity};

        pub(super) fn verified_tls(report: &Report) {
            let tls = report.tls.as_ref().expect("STARTTLS was offered and used");
            assert!(tls.verified, "certificate not verified: {:?}", tls.verify_error);
            assert_eq!(tls.verified_name.as_deref(), Some("mx.test"));
            assert!(report.capabilities_tls.is_some(), "no EHLO inside TLS");
        }

        pub(super) fn auth_235(report: &Report) {
            verified_tls(report);
            let auth = report.steps.iter().find(|s| s.phase == Phase::Auth).expect("an AUTH step");
            let reply = auth.reply.as_ref().expect("AUTH was answered");
            assert_eq!(reply.code.get(), 235, "{}", reply.text_lossy());
        }

        pub(super) fn tls13_verified(report: &Report) {
            verified_tls(report);
            let tls = report.tls.as_ref().expect("TLS");
            assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
        }

        fn unverified(report: &Report) {
            let tls = report.tls.as_ref().expect("the certificate is reported");
            assert!(!tls.verified);
            assert_eq!(tls.verify_error, Some(CertificateProblem::UnknownIssuer));
            assert!(tls.leaf().is_some_and(|leaf| leaf.subject.contains("mx.test")), "{:?}", tls.leaf());
        }

        pub(super) fn untrusted_reported(report: &Report) {
            unverified(report);
            let f = report.findings.iter().find(|f| f.message.contains("untrusted authority")).expect("reported");
            assert_eq!((f.severity, f.cause, f.phase), (Severity::Info, None, Some(Phase::TlsHandshake)));
            assert!(report.capabilities_tls.is_some(), "EHLO inside TLS");
        }

        pub(super) fn credentials_withheld(report: &Report) {
            unverified(report);
            assert!(report.steps.iter().all(|s| s.phase != Phase::Auth), "{:#?}", report.steps);
            let auth_lines = report.transcript.iter().filter(|l| l.direction == Direction::Client);
            assert!(auth_lines.clone().all(|l| !l.text.starts_with("AUTH")), "{:#?}", report.transcript);
            assert!(auth_lines.clone().any(|l| l.text == "QUIT"), "the probe says goodbye");
            let offered = report.capabilities_tls.as_ref().expect("EHLO inside TLS");
            assert!(
                !offered.auth_mechanisms.is_empty(),
                "Postfix offers AUTH inside TLS: it was withheld, not missing"
            );
            if let Some(env) = super::super::env() {
                super::super::assert_no_sasl_attempt(&env, super::super::withheld_user());
            }
        }

        pub(super) fn auth_235_unverified(report: &Report) {
            unverified(report);
            let auth = report.steps.iter().find(|s| s.phase == Phase::Auth).expect("an AUTH step");
            assert_eq!(auth.reply.as_ref().map(|r| r.code.get()), Some(235));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_env_file_format() {
        let vars = services::parse_env_file(
            "# comment\nSMTP_PROBE_POSTFIX_HOST=127.0.0.1\nSMTP_PROBE_POSTFIX_HOST6=''\nX='a b'\n",
        );
        assert_eq!(vars["SMTP_PROBE_POSTFIX_HOST"], "127.0.0.1");
        assert_eq!(vars["SMTP_PROBE_POSTFIX_HOST6"], "");
        assert_eq!(vars["X"], "a b");
    }

    #[test]
    fn refuses_a_non_loopback_host() {
        let vars = HashMap::from([("SMTP_PROBE_POSTFIX_HOST".to_owned(), "192.0.2.1".to_owned())]);
        assert_eq!(from_vars(&vars), None);
    }
}
