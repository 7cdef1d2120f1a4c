//! The real loopback Dovecot that `.ci/dovecot.sh` sets up (with the loopback Postfix of `.ci/postfix.sh`
//! delivering into it), as the adapters' round-trip tests see it.
//!
//! [`env()`] reads the `SMTP_PROBE_DOVECOT_*` variables, or the env file at `$SMTP_PROBE_DOVECOT_DIR/env`
//! (default `/var/tmp/smtp-probe-dovecot/env`). [`env_or_skip`] returns both servers, or `None` after printing
//! `skipped: …` — unless `SMTP_PROBE_REQUIRE_SERVICES=1` (CI sets it), where a missing server fails the test (see
//! `smtp_probe_testserver::services`).
//!
//! [`cases`] are the round-trip interop cases every adapter runs with [`roundtrip_tests!`](crate::roundtrip_tests):
//! a normal round trip over STARTTLS and over implicit TLS, a held-back message giving `not_delivered` at its
//! deadline, a wrong IMAP password, the cleanup leaving other messages alone, delivery to the junk folder, and an
//! IMAP certificate for another name (refused; then accepted with inspect-only, which the report names). Every case
//! also checks that its report's JSON is the documented round-trip object (`schema/report.schema.json` of the core).
//!
//! ```
//! if let Some((postfix, dovecot)) = smtp_probe_testsuite::dovecot::env_or_skip("doc example") {
//!     assert!(dovecot.host.parse::<std::net::IpAddr>()?.is_loopback());
//!     assert_eq!(postfix.ca_pem, dovecot.ca_pem, "one CA verifies both servers");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use smtp_probe_proto::imap::{MailboxConfig, MailboxConfigBuilder};
use smtp_probe_proto::{ProbeConfig, RoundTripConfig, RoundTripConfigBuilder, Secret, Target, TlsMode};

use smtp_probe_testserver::services;

use crate::conformance::trusting;
use crate::postfix::{self, PostfixEnv};

/// The default state directory of `.ci/dovecot.sh`.
pub const DEFAULT_DIR: &str = "/var/tmp/smtp-probe-dovecot";

/// What `.ci/dovecot.sh` wrote to its `env` file (see `.ci/README.md`), with the CA certificate read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DovecotEnv {
    /// The state directory.
    pub dir: PathBuf,
    /// The instance's configuration file (for `doveadm -c`).
    pub conf: PathBuf,
    /// The loopback address Dovecot listens on.
    pub host: String,
    /// IMAP with STARTTLS (10143).
    pub imap_port: u16,
    /// IMAPS, implicit TLS (10993).
    pub imaps_port: u16,
    /// The test CA certificate (the Postfix one), PEM.
    pub ca_pem: String,
    /// The name in the IMAP certificate.
    pub tls_name: String,
    /// The IMAP user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The address delivered to the user's inbox.
    pub rcpt: String,
    /// An address delivered to the same inbox through a transport Postfix always defers.
    pub held_rcpt: String,
    /// An address delivered to the user's junk folder.
    pub junk_rcpt: String,
    /// The junk folder's name.
    pub junk_folder: String,
}

/// The loopback Dovecot, from the environment or its `env` file; `None` when neither is there (or the values are
/// unusable, e.g. a non-loopback host).
pub fn env() -> Option<DovecotEnv> {
    let dir = std::env::var("SMTP_PROBE_DOVECOT_DIR").unwrap_or_else(|_| DEFAULT_DIR.to_owned());
    from_vars(&services::vars("SMTP_PROBE_DOVECOT_", "HOST", Path::new(&dir))?)
}

/// Both loopback servers, or `None` after printing `<test>: skipped: no loopback …` to stderr (a failure instead
/// when [`services::required`]). Round-trip tests return early on `None`.
pub fn env_or_skip(test: &str) -> Option<(PostfixEnv, DovecotEnv)> {
    let Some(postfix) = postfix::env() else {
        return services::skip(test, "loopback Postfix", "run .ci/postfix.sh");
    };
    let Some(dovecot) = env() else { return services::skip(test, "loopback Dovecot", "run .ci/dovecot.sh") };
    Some((postfix, dovecot))
}

fn from_vars(vars: &HashMap<String, String>) -> Option<DovecotEnv> {
    let get = |name: &str| vars.get(&format!("SMTP_PROBE_DOVECOT_{name}")).filter(|v| !v.is_empty()).cloned();
    let port = |name: &str| get(name)?.parse::<u16>().ok().filter(|p| *p != 0);
    let dir = PathBuf::from(get("DIR").unwrap_or_else(|| DEFAULT_DIR.to_owned()));
    let host = get("HOST").filter(|h| h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))?;
    Some(DovecotEnv {
        conf: get("CONF").map_or_else(|| dir.join("dovecot.conf"), PathBuf::from),
        host,
        imap_port: port("IMAP_PORT")?,
        imaps_port: port("IMAPS_PORT")?,
        ca_pem: std::fs::read_to_string(get("CA")?).ok()?,
        tls_name: get("TLS_NAME")?,
        user: get("USER")?,
        password: get("PASSWORD")?,
        rcpt: get("RCPT")?,
        held_rcpt: get("HELD_RCPT")?,
        junk_rcpt: get("JUNK_RCPT")?,
        junk_folder: get("JUNK_FOLDER")?,
        dir,
    })
}

impl DovecotEnv {
    /// The IMAP target for a TLS mode: IMAPS for implicit TLS, else the STARTTLS port.
    pub fn target(&self, mode: TlsMode) -> Target {
        let port = if mode == TlsMode::Implicit { self.imaps_port } else { self.imap_port };
        Target::new(self.host.as_str(), port).expect("a loopback address and a port")
    }

    /// A mailbox configuration for this Dovecot: the port of the TLS mode, the certificate's name verified with the
    /// test CA, the given password, the junk folder set.
    pub fn mailbox(&self, mode: TlsMode, password: &str) -> MailboxConfigBuilder {
        MailboxConfig::builder(self.target(mode), self.user.as_str(), Secret::new(password))
            .tls(mode)
            .tls_name(self.tls_name.as_str())
            .tls_config(trusting(&self.ca_pem))
            .junk_folder(self.junk_folder.as_str())
    }

    /// A round trip: submission through the loopback Postfix (`submit_mode`: STARTTLS on 2587 or implicit TLS on
    /// 2465, with AUTH, verified with the test CA) to `rcpt`, read from this Dovecot with `mailbox`.
    pub fn roundtrip(
        &self,
        postfix: &PostfixEnv,
        submit_mode: TlsMode,
        rcpt: &str,
        mailbox: MailboxConfig,
    ) -> RoundTripConfigBuilder {
        let port = if submit_mode == TlsMode::Implicit { postfix.smtps_port } else { postfix.submission_port };
        let target = Target::new(postfix.host.as_str(), port).expect("a loopback address and a port");
        let submit = ProbeConfig::builder(target)
            .tls(submit_mode)
            .tls_name(postfix.tls_name.as_str())
            .tls_config(trusting(&postfix.ca_pem))
            .ehlo_name("probe.smtp-probe.test")
            .auth(postfix.user.as_str(), Secret::new(postfix.password.as_str()))
            .mail_from(postfix.from.as_str())
            .rcpt_to(rcpt)
            .build()
            .expect("a valid submission through the loopback Postfix");
        RoundTripConfig::builder(submit, mailbox)
    }

    fn doveadm(&self, args: &[&str], stdin: Option<&[u8]>) -> io::Result<String> {
        use std::io::Write;
        let mut command = Command::new("doveadm");
        command.arg("-c").arg(&self.conf).args(args);
        command.stdin(if stdin.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() });
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = command.spawn()?;
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(bytes)?;
        }
        let output = child.wait_with_output()?;
        if !output.status.success() {
            let why = String::from_utf8_lossy(&output.stderr).into_owned();
            return Err(io::Error::other(format!("doveadm {args:?}: {why}")));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Saves `message` into `folder` of the test user (`doveadm save`), as another sender's mail would be.
    pub fn save(&self, folder: &str, message: &[u8]) -> io::Result<()> {
        self.doveadm(&["save", "-u", &self.user, "-m", folder], Some(message)).map(drop)
    }

    /// How many messages in `folder` have `header` containing `value`.
    pub fn count(&self, folder: &str, header: &str, value: &str) -> io::Result<usize> {
        let out = self.doveadm(&["search", "-u", &self.user, "mailbox", folder, "header", header, value], None)?;
        Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
    }

    /// Adds `flag` to the messages in `folder` whose `header` contains `value`.
    pub fn add_flag(&self, folder: &str, flag: &str, header: &str, value: &str) -> io::Result<()> {
        self.doveadm(&["flags", "add", "-u", &self.user, flag, "mailbox", folder, "header", header, value], None)
            .map(drop)
    }

    /// Removes the messages in `folder` whose `header` contains `value` (test clean-up).
    pub fn expunge(&self, folder: &str, header: &str, value: &str) -> io::Result<()> {
        self.doveadm(&["expunge", "-u", &self.user, "mailbox", folder, "header", header, value], None).map(drop)
    }
}

/// Deletes one message from Postfix's queue by its queue id (`postsuper -d`): the held-back case leaves its
/// message deferred, and only that message is removed.
pub fn delete_queued(queue_id: &str) -> io::Result<()> {
    if queue_id.is_empty() || !queue_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(io::Error::other(format!("not a Postfix queue id: {queue_id:?}")));
    }
    let status = Command::new("postsuper").args(["-d", queue_id]).stderr(std::process::Stdio::null()).status()?;
    if status.success() { Ok(()) } else { Err(io::Error::other(format!("postsuper -d {queue_id}: {status}"))) }
}

pub use cases::{Case, cases};

mod cases {
    use std::time::Duration;

    use smtp_probe_proto::imap::{CleanupOutcome, LoginMethod, MailboxConfigBuilder};
    use smtp_probe_proto::{Cause, Phase, RoundTripConfig, RoundTripReport, TlsConfig, TlsMode, Verdict};

    use super::{DovecotEnv, delete_queued, env_or_skip};
    use crate::postfix::PostfixEnv;

    /// One round-trip interop case: how to configure it, and what to check (with clean-up) afterwards.
    pub struct Case {
        /// The test's name.
        pub name: &'static str,
        /// What it shows.
        pub description: &'static str,
        configure: fn(&PostfixEnv, &DovecotEnv) -> RoundTripConfig,
        before: fn(&DovecotEnv, &str),
        check: fn(&DovecotEnv, &RoundTripReport, std::time::Duration),
    }

    impl Case {
        /// Runs the case with `roundtrip` (an adapter's entry point), or skips when the servers are not there.
        pub fn run(&self, roundtrip: impl FnOnce(&RoundTripConfig) -> RoundTripReport) {
            let Some((postfix, dovecot)) = env_or_skip(self.name) else { return };
            let config = (self.configure)(&postfix, &dovecot);
            let seed = format!("seed-{}-{}", self.name, std::process::id());
            (self.before)(&dovecot, &seed);
            let started = std::time::Instant::now();
            let report = roundtrip(&config);
            let took = started.elapsed();
            eprintln!("{}: {} ({} ms in all)", self.name, report.summary(), took.as_millis());
            // The held-back message stays queued: remove it (and only it), whatever the checks say.
            let _held = Held(report.submit.as_ref().and_then(|s| s.queue_id.clone()));
            let _seeds = Seeds(&dovecot, seed.clone());
            assert_documented_json(&report);
            (self.check)(&dovecot, &report, took);
        }
    }

    /// Every real round trip serializes as the documented object: the `round_trip_report` definition of the core's
    /// `schema/report.schema.json` validates it.
    fn assert_documented_json(report: &RoundTripReport) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-probe-proto/schema/report.schema.json");
        let text = std::fs::read_to_string(path).expect("the core's JSON schema");
        let mut schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
        let root = schema.as_object_mut().expect("the schema is an object");
        root.remove("oneOf");
        root.insert("$ref".to_owned(), "#/$defs/round_trip_report".into());
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        let value = serde_json::to_value(report).expect("a report serializes");
        let errors: Vec<String> =
            validator.iter_errors(&value).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "the round trip's JSON is not the documented object: {errors:#?}\n{value:#}");
    }

    struct Held(Option<String>);

    impl Drop for Held {
        fn drop(&mut self) {
            if let Some(id) = &self.0 {
                // Delivered messages are no longer queued: postsuper then finds nothing, which is fine.
                let _ = delete_queued(id);
            }
        }
    }

    struct Seeds<'a>(&'a DovecotEnv, String);

    impl Drop for Seeds<'_> {
        fn drop(&mut self) {
            let _ = self.0.expunge("INBOX", "X-Seed", &self.1);
        }
    }

    fn no_seed(_: &DovecotEnv, _: &str) {}

    /// The shape of one round trip against the loopback servers.
    struct Loop<'a> {
        submit: TlsMode,
        rcpt: &'a str,
        imap: TlsMode,
        login: LoginMethod,
        password: &'a str,
        deadline: Duration,
    }

    fn config(postfix: &PostfixEnv, dovecot: &DovecotEnv, l: Loop<'_>) -> RoundTripConfig {
        config_with(postfix, dovecot, l, |mailbox| mailbox)
    }

    fn config_with(
        postfix: &PostfixEnv,
        dovecot: &DovecotEnv,
        l: Loop<'_>,
        tweak: impl FnOnce(MailboxConfigBuilder) -> MailboxConfigBuilder,
    ) -> RoundTripConfig {
        let mailbox =
            tweak(dovecot.mailbox(l.imap, l.password).login_method(l.login)).build().expect("a valid mailbox config");
        dovecot
            .roundtrip(postfix, l.submit, l.rcpt, mailbox)
            .deadline(l.deadline)
            .cleanup_time(Duration::from_secs(3))
            .build()
            .expect("a valid round-trip config")
    }

    fn assert_delivered(dovecot: &DovecotEnv, report: &RoundTripReport, folder: &str) {
        let delivery = report.delivery.as_ref().unwrap_or_else(|| panic!("not delivered: {}", report.summary()));
        assert_eq!(delivery.folder, folder);
        let latency = report.timings.end_to_end.expect("an end-to-end latency");
        assert!(latency > Duration::ZERO && latency < Duration::from_secs(15), "latency {latency:?}");
        let accepted = report.timings.accepted.expect("an acceptance time");
        assert!(accepted < report.timings.total);
        let submit = report.submit.as_ref().expect("the submission report");
        assert!(submit.queue_id.is_some(), "Postfix names its queue id: {:?}", submit.steps.last());
        assert_eq!(delivery.queue_id, submit.queue_id);
        assert!(
            delivery.hops.iter().any(|h| h.by.as_deref() == Some("mx.test") && h.id == submit.queue_id),
            "the Received header of mx.test names the queue id: {:?}",
            delivery.hops
        );
        assert_eq!(report.mailbox.cleanup, Some(CleanupOutcome::Expunged), "{:?}", report.mailbox.steps);
        let tls = report.mailbox.tls.as_ref().expect("IMAP over TLS");
        assert!(tls.verified, "{:?}", tls.verify_error);
        let left = dovecot.count("*", "X-Smtp-Probe-Token", report.token.as_str()).expect("doveadm search");
        assert_eq!(left, 0, "the probe's message is deleted");
    }

    /// The round-trip cases against the loopback Postfix and Dovecot.
    pub fn cases() -> Vec<Case> {
        vec![
            Case {
                name: "roundtrip_starttls_up",
                description: "submission with STARTTLS and AUTH, IMAP with STARTTLS: delivered to INBOX, timed, deleted",
                configure: |p, d| {
                    let shape = Loop {
                        submit: TlsMode::StartTlsRequired,
                        rcpt: &d.rcpt,
                        imap: TlsMode::StartTlsRequired,
                        login: LoginMethod::Auto,
                        password: &d.password,
                        deadline: Duration::from_secs(20),
                    };
                    config(p, d, shape)
                },
                before: no_seed,
                check: |d, report, _| {
                    assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{}", report.summary());
                    assert_delivered(d, report, "INBOX");
                    assert!(report.summary().starts_with("up: delivered to INBOX in "), "{}", report.summary());
                },
            },
            Case {
                name: "roundtrip_implicit_tls_up",
                description: "submission and IMAP over implicit TLS, LOGIN: delivered to INBOX",
                configure: |p, d| {
                    let shape = Loop {
                        submit: TlsMode::Implicit,
                        rcpt: &d.rcpt,
                        imap: TlsMode::Implicit,
                        login: LoginMethod::Login,
                        password: &d.password,
                        deadline: Duration::from_secs(20),
                    };
                    config(p, d, shape)
                },
                before: no_seed,
                check: |d, report, _| {
                    assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{}", report.summary());
                    assert_delivered(d, report, "INBOX");
                    assert!(
                        report.mailbox.steps.iter().any(|s| s.command.as_deref().is_some_and(|c| c.contains("LOGIN")))
                    );
                },
            },
            Case {
                name: "roundtrip_held_not_delivered",
                description: "a message Postfix holds in its queue: down, not_delivered, at the 3 s deadline",
                configure: |p, d| {
                    let shape = Loop {
                        submit: TlsMode::StartTlsRequired,
                        rcpt: &d.held_rcpt,
                        imap: TlsMode::Implicit,
                        login: LoginMethod::Auto,
                        password: &d.password,
                        deadline: Duration::from_secs(3),
                    };
                    config(p, d, shape)
                },
                before: no_seed,
                check: |_, report, took| {
                    assert_eq!(
                        (report.verdict, report.cause),
                        (Verdict::Down, Some(Cause::NotDelivered)),
                        "{}",
                        report.summary()
                    );
                    assert!(report.delivery.is_none());
                    assert!(report.mailbox.searches >= 3, "searched repeatedly: {}", report.mailbox.searches);
                    assert!(took >= Duration::from_millis(2900), "searched until the deadline: {took:?}");
                    assert!(took < Duration::from_secs(5), "ended soon after the deadline: {took:?}");
                    assert!(report.submit.as_ref().is_some_and(|s| s.queue_id.is_some()));
                },
            },
            Case {
                name: "roundtrip_wrong_imap_password",
                description: "a wrong IMAP password: down, mailbox_auth_failed, quickly, and nothing sent",
                configure: |p, d| {
                    let shape = Loop {
                        submit: TlsMode::StartTlsRequired,
                        rcpt: &d.rcpt,
                        imap: TlsMode::Implicit,
                        login: LoginMethod::Auto,
                        password: "not-the-password",
                        deadline: Duration::from_secs(20),
                    };
                    config(p, d, shape)
                },
                before: no_seed,
                check: |_, report, took| {
                    assert_eq!(
                        (report.verdict, report.cause),
                        (Verdict::Down, Some(Cause::MailboxAuthFailed)),
                        "{}",
                        report.summary()
                    );
                    let finding = report.primary_finding().expect("a primary finding");
                    assert!(finding.message.contains("AUTHENTICATIONFAILED"), "{}", finding.message);
                    assert!(!format!("{report:?}").contains("not-the-password"), "the password never shows");
                    assert!(report.submit.is_none(), "no message is sent when the mailbox cannot be read");
                    assert!(took < Duration::from_secs(2), "answered quickly: {took:?}");
                },
            },
            Case {
                name: "roundtrip_cleanup_leaves_others",
                description: "other messages in the inbox, one flagged \\Deleted: all still there after the round trip",
                configure: |p, d| {
                    let shape = Loop {
                        submit: TlsMode::Implicit,
                        rcpt: &d.rcpt,
                        imap: TlsMode::Implicit,
                        login: LoginMethod::Auto,
                        password: &d.password,
                        deadline: Duration::from_secs(20),
                    };
                    config(p, d, shape)
                },
                before: |d, seed| {
                    for n in 0..3 {
                        let message = format!(
                            "From: <someone@example.org>\r\nSubject: not the probe's {n}\r\nX-Seed: {seed}\r\n\r\nkeep me\r\n"
                        );
                        d.save("INBOX", message.as_bytes()).expect("doveadm save");
                    }
                    d.add_flag("INBOX", "\\Deleted", "Subject", "not the probe's 0").expect("doveadm flags");
                },
                check: |d, report, _| {
                    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
                    assert_delivered(d, report, "INBOX");
                    let seed = format!("seed-roundtrip_cleanup_leaves_others-{}", std::process::id());
                    assert_eq!(
                        d.count("INBOX", "X-Seed", &seed).expect("doveadm search"),
                        3,
                        "other messages untouched"
                    );
                },
            },
            Case {
                name: "roundtrip_junk_degraded",
                description: "a message filed as junk: degraded, delivered_to_junk, found in Junk and deleted there",
                configure: |p, d| {
                    let shape = Loop {
                        submit: TlsMode::StartTlsRequired,
                        rcpt: &d.junk_rcpt,
                        imap: TlsMode::StartTlsRequired,
                        login: LoginMethod::Plain,
                        password: &d.password,
                        deadline: Duration::from_secs(20),
                    };
                    config(p, d, shape)
                },
                before: no_seed,
                check: |d, report, _| {
                    assert_eq!(
                        (report.verdict, report.cause),
                        (Verdict::Degraded, Some(Cause::DeliveredToJunk)),
                        "{}",
                        report.summary()
                    );
                    assert_delivered(d, report, &d.junk_folder);
                    assert!(report.delivery.as_ref().is_some_and(|d| d.junk));
                },
            },
            Case {
                name: "roundtrip_imap_certificate_wrong_name",
                description: "an IMAP certificate not valid for the name: down, certificate_invalid, no password sent",
                configure: |p, d| {
                    let shape = Loop {
                        submit: TlsMode::StartTlsRequired,
                        rcpt: &d.rcpt,
                        imap: TlsMode::StartTlsRequired,
                        login: LoginMethod::Auto,
                        password: &d.password,
                        deadline: Duration::from_secs(20),
                    };
                    config_with(p, d, shape, |m| m.tls_name("imap.wrong.example"))
                },
                before: no_seed,
                check: |_, report, _| {
                    assert_eq!(
                        (report.verdict, report.cause),
                        (Verdict::Down, Some(Cause::CertificateInvalid)),
                        "{}",
                        report.summary()
                    );
                    assert_eq!(report.primary_finding().and_then(|f| f.phase), Some(Phase::ImapTlsHandshake));
                    assert!(report.mailbox.steps.iter().all(|s| s.phase != Phase::ImapLogin), "no login attempted");
                    assert!(report.submit.is_none(), "nothing sent");
                    let tls = report.mailbox.tls.as_ref().expect("the certificate is reported");
                    assert!(tls.leaf().is_some_and(|leaf| leaf.subject.contains("imap.roundtrip.test")));
                },
            },
            Case {
                name: "roundtrip_imap_inspect_only",
                description: "the same certificate with inspect-only: delivered, degraded, the override named",
                configure: |p, d| {
                    let shape = Loop {
                        submit: TlsMode::StartTlsRequired,
                        rcpt: &d.rcpt,
                        imap: TlsMode::Implicit,
                        login: LoginMethod::Auto,
                        password: &d.password,
                        deadline: Duration::from_secs(20),
                    };
                    let ca = d.ca_pem.clone();
                    config_with(p, d, shape, move |m| {
                        let inspect = TlsConfig::builder()
                            .webpki_roots(false)
                            .add_ca_pem("the test CA", ca.as_bytes())
                            .and_then(|b| b.inspect_only(true).build())
                            .expect("a valid TLS config");
                        m.tls_name("imap.wrong.example").tls_config(inspect)
                    })
                },
                before: no_seed,
                check: |d, report, _| {
                    assert_eq!(
                        (report.verdict, report.cause),
                        (Verdict::Degraded, Some(Cause::CertificateInvalid)),
                        "{}",
                        report.summary()
                    );
                    assert_eq!(report.delivery.as_ref().map(|d| d.folder.as_str()), Some("INBOX"));
                    assert!(
                        report.mailbox.findings.iter().any(|f| f.message.starts_with("inspect-only:")),
                        "the override is named: {:?}",
                        report.mailbox.findings
                    );
                    let left = d.count("*", "X-Smtp-Probe-Token", report.token.as_str()).expect("doveadm search");
                    assert_eq!(left, 0, "the probe's message is deleted");
                },
            },
        ]
    }
}

/// Generates one `#[test]` per round-trip case (see [`dovecot::cases`](crate::dovecot::cases)), each running the
/// adapter's round trip given as `$roundtrip` (a closure `|&RoundTripConfig| -> RoundTripReport`), plus a test that
/// the list is complete. Cases skip when the loopback servers are not there, unless
/// `SMTP_PROBE_REQUIRE_SERVICES=1`.
#[macro_export]
macro_rules! roundtrip_tests {
    ($roundtrip:expr) => {
        $crate::__roundtrip_tests! { $roundtrip;
            roundtrip_starttls_up roundtrip_implicit_tls_up roundtrip_held_not_delivered roundtrip_wrong_imap_password
            roundtrip_cleanup_leaves_others roundtrip_junk_degraded roundtrip_imap_certificate_wrong_name
            roundtrip_imap_inspect_only
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __roundtrip_tests {
    ($roundtrip:expr; $($name:ident)*) => {
        $(
            #[test]
            fn $name() {
                let case = $crate::dovecot::cases().into_iter().find(|c| c.name == stringify!($name)).expect("a case");
                case.run($roundtrip);
            }
        )*

        #[test]
        fn every_roundtrip_case_has_a_test() {
            let generated: &[&str] = &[$(stringify!($name)),*];
            let cases: Vec<&str> = $crate::dovecot::cases().iter().map(|c| c.name).collect();
            assert_eq!(generated, cases.as_slice());
        }
    };
}
