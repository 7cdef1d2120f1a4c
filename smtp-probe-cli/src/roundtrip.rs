//! `smtp-probe roundtrip`: submit a message carrying a unique token, watch it arrive in a mailbox over IMAP, and
//! say whether mail flows, how fast, and where it landed.
//!
//! ```text
//! smtp-probe roundtrip --submit submission://smtp.example.org --imap imaps://imap.example.org \
//!     -f monitor@example.org --rcpt roundtrip@example.org -U monitor@example.org --authpass-file smtp.pw \
//!     --imap-pass-file imap.pw --junk-folder Junk -w 30 -c 90 --deadline 120
//! ```
//!
//! The endpoints take the forms people type:
//!
//! | `--submit` | port | TLS |
//! | --- | --- | --- |
//! | `host`, `host:port` | 587 | STARTTLS, required |
//! | `submission://host[:port]` | 587 | STARTTLS, required |
//! | `smtps://host[:port]` | 465 | implicit TLS |
//! | `smtp://host[:port]` | 25 | STARTTLS when offered (no credentials then, unless `--allow-plaintext-auth`) |
//!
//! | `--imap` | port | TLS |
//! | --- | --- | --- |
//! | `imaps://host[:port]` | 993 | implicit TLS |
//! | `imap://host[:port]` | 143 | STARTTLS, required (when offered, with `--allow-plaintext-auth`) |
//! | `host`, `host:port` | 993 | implicit TLS; STARTTLS on port 143 |
//!
//! Credentials never need the command line: the SMTP password comes from `--authpass-file` or
//! `SMTP_PROBE_PASSWORD`, the IMAP password from `--imap-pass-file` or `SMTP_PROBE_IMAP_PASSWORD` (each file's first
//! line, at most [`MAX_PASSWORD_FILE`](crate::credentials::MAX_PASSWORD_FILE) bytes read). Both go only over TLS whose
//! certificate verified (`--ca-file` adds a CA for both servers), unless `--insecure` (carry on past certificate
//! problems, which the report names) or `--allow-plaintext-auth` says otherwise.
//!
//! Every format is rendered by `smtp-probe-render` ([`Item::RoundTrip`]), and the exit code is the verdict's: 0
//! delivered to the inbox in time, 1 degraded (late, in the junk folder), 2 down (not delivered by the deadline,
//! not sent, the mailbox unreadable), 3 could not run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Parser;
use smtp_probe_render::{HumanOptions, Item, JsonOptions, NagiosOptions};
use smtp_probe_tokio::proto::imap::{Cleanup, IMAP_PORT, MailboxConfig, parse_target};
use smtp_probe_tokio::proto::{AuthMechanism, RoundTripConfig, Secret};
use smtp_probe_tokio::{AddressFamily, ProbeConfig, Target, TlsMode, default_ehlo_name};

use crate::Failure;
use crate::args::{AuthType, Format, parse_seconds, parse_timeout};
use crate::credentials::{PASSWORD_ENV, password_from_file};
use crate::status::Status;

/// The environment variable read for the IMAP password when `--imap-pass-file` is not given.
pub const IMAP_PASSWORD_ENV: &str = "SMTP_PROBE_IMAP_PASSWORD";

/// `smtp-probe roundtrip`: the command line of a round trip.
#[derive(Debug, Clone, Parser)]
#[command(
    about = "Send a test message and watch it arrive over IMAP: does mail flow end to end?",
    long_about = "Send a test message carrying a unique token through a submission server, watch the mailbox over \
                  IMAP until it shows up (in the inbox, or the junk folder), delete it, and say whether mail flows: \
                  up when delivered to the inbox within the warning time, degraded when late or in the junk \
                  folder, down when not delivered by the deadline, not accepted, or the mailbox cannot be read.\n\n\
                  The mailbox is logged in to first, so a wrong IMAP password never leaves a message behind; only \
                  the probe's own message is deleted.\n\n\
                  --submit: host[:port] or submission://host (587, STARTTLS required), smtps://host (465, implicit \
                  TLS), smtp://host (25, STARTTLS when offered).\n\
                  --imap: imaps://host (993, implicit TLS), imap://host (143, STARTTLS required), host[:port] (993; \
                  STARTTLS on 143).",
    after_help = "Exit status: 0 up, 1 degraded, 2 down, 3 could not run (bad arguments, unreadable files).\n\
                  Passwords never need the command line: the SMTP one from --authpass-file or SMTP_PROBE_PASSWORD, \
                  the IMAP one from --imap-pass-file or SMTP_PROBE_IMAP_PASSWORD."
)]
pub struct RoundTripArgs {
    /// Where to submit the message.
    #[arg(
        long,
        value_name = "URL",
        help = "Submission server: host[:port] or submission://host[:587] (STARTTLS required), smtps://host[:465] \
                (implicit TLS), smtp://host[:25] (STARTTLS when offered)"
    )]
    pub submit: String,

    /// The mailbox's IMAP server.
    #[arg(
        long,
        value_name = "URL",
        help = "IMAP server of the mailbox: imaps://host[:993] (implicit TLS), imap://host[:143] (STARTTLS \
                required), host[:port] (993, implicit TLS; STARTTLS on 143)"
    )]
    pub imap: String,

    /// Sender for MAIL FROM and the message's From.
    #[arg(short = 'f', long, value_name = "ADDR")]
    pub from: String,

    /// The mailbox's address: the recipient.
    #[arg(long, value_name = "ADDR")]
    pub rcpt: String,

    /// User name for SMTP AUTH (without it, the message is submitted without AUTH).
    #[arg(short = 'U', long, value_name = "USER")]
    pub authuser: Option<String>,

    /// Read the SMTP AUTH password from this file (its first line); else SMTP_PROBE_PASSWORD.
    #[arg(long, value_name = "PATH", requires = "authuser")]
    pub authpass_file: Option<PathBuf>,

    /// SASL mechanism for SMTP AUTH [default: PLAIN, then LOGIN, whichever the server offers first].
    #[arg(short = 'A', long, value_name = "TYPE", ignore_case = true, requires = "authuser")]
    pub authtype: Option<AuthType>,

    /// IMAP user name [default: the recipient address].
    #[arg(long, value_name = "USER")]
    pub imap_user: Option<String>,

    /// Read the IMAP password from this file (its first line); else SMTP_PROBE_IMAP_PASSWORD.
    #[arg(long, value_name = "PATH")]
    pub imap_pass_file: Option<PathBuf>,

    /// The folder mail should arrive in.
    #[arg(long, value_name = "FOLDER", default_value = "INBOX")]
    pub inbox: String,

    /// Also look in this folder (Junk, Spam, [Gmail]/Spam): found there, the round trip is degraded.
    #[arg(long, value_name = "FOLDER")]
    pub junk_folder: Option<String>,

    /// Seconds from the start by which the message must be in the mailbox (at most 86400).
    #[arg(short = 't', long, value_name = "SECONDS", default_value = "60", value_parser = parse_timeout)]
    pub deadline: Duration,

    /// Delivery time (acceptance to visible), in seconds, above which the round trip is degraded.
    #[arg(short = 'w', long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub warning: Option<Duration>,

    /// Delivery time, in seconds, above which the round trip is down.
    #[arg(short = 'c', long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub critical: Option<Duration>,

    /// Name to verify the submission server's certificate against [default: its host].
    #[arg(long, value_name = "NAME")]
    pub submit_tls_name: Option<String>,

    /// Name to verify the IMAP server's certificate against [default: its host].
    #[arg(long, value_name = "NAME")]
    pub imap_tls_name: Option<String>,

    /// Also trust the CA certificates in this PEM file (for both servers).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Carry on past certificate problems (reported, degraded), credentials included.
    #[arg(long)]
    pub insecure: bool,

    /// Allow credentials over a connection without TLS (SMTP AUTH on smtp://, IMAP login on imap://).
    #[arg(long)]
    pub allow_plaintext_auth: bool,

    /// Connect to both servers over IPv4 only.
    #[arg(short = '4', long = "use-ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Connect to both servers over IPv6 only.
    #[arg(short = '6', long = "use-ipv6")]
    pub ipv6: bool,

    /// Also connect to this address range (repeatable), e.g. 127.0.0.0/8, as for probes.
    #[arg(long = "allow-address", value_name = "CIDR")]
    pub allow_address: Vec<String>,

    /// Never connect to this address range (repeatable), e.g. 10.0.0.0/8: it applies to both servers.
    #[arg(long = "deny-address", value_name = "CIDR")]
    pub deny_address: Vec<String>,

    /// Leave the message in the mailbox instead of deleting it.
    #[arg(long)]
    pub keep: bool,

    /// Name sent in EHLO [default: this machine's host name if it has a dot, else localhost].
    #[arg(short = 'F', long, value_name = "FQDN")]
    pub fqdn: Option<String>,

    /// More detail in human output: both sides step by step (repeatable).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Record both conversations (credentials redacted) and show them.
    #[arg(long)]
    pub transcript: bool,

    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "human", ignore_case = true)]
    pub format: Format,
}

/// The submission target and its TLS mode: the scheme's, or, for `host[:port]`, STARTTLS required on 587.
pub fn submit_target(input: &str) -> Result<(Target, TlsMode), Failure> {
    let invalid = |e: smtp_probe_tokio::TargetError| Failure::new(format!("invalid --submit {input:?}: {e}"));
    let target: Target = input.parse().map_err(invalid)?;
    match target.tls_mode() {
        Some(mode) => Ok((target, mode)),
        None => Ok((Target::parse_with_default_port(input, 587).map_err(invalid)?, TlsMode::StartTlsRequired)),
    }
}

/// The IMAP target and its TLS mode: `imaps://` implicit TLS (993), `imap://` required STARTTLS (143), else the
/// port's (993 by default: implicit TLS; 143: STARTTLS). With `plaintext` allowed, `imap://` uses STARTTLS when
/// offered and logs in without it otherwise.
pub fn imap_target(input: &str, plaintext: bool) -> Result<(Target, TlsMode), Failure> {
    let (target, scheme) = parse_target(input).map_err(|e| Failure::new(format!("invalid --imap {input:?}: {e}")))?;
    let mode = match scheme {
        Some(TlsMode::StartTlsRequired) if plaintext => TlsMode::StartTlsOpportunistic,
        Some(mode) => mode,
        None if target.port() == IMAP_PORT => TlsMode::StartTlsRequired,
        None => TlsMode::Implicit,
    };
    Ok((target, mode))
}

/// Reads the command line into a round-trip configuration; everything refused here exits 3.
pub fn plan(args: &RoundTripArgs) -> Result<RoundTripConfig, Failure> {
    if args.warning.zip(args.critical).is_some_and(|(w, c)| w > c) {
        return Err(Failure::new("the warning time (-w) must not exceed the critical time (-c)"));
    }
    let tls = crate::plan::trust(args.ca_file.as_deref(), args.insecure)?;
    let policy = crate::plan::address_policy(&args.allow_address, &args.deny_address)?;
    let family = match (args.ipv4, args.ipv6) {
        (true, _) => AddressFamily::Ipv4Only,
        (_, true) => AddressFamily::Ipv6Only,
        _ => AddressFamily::Any,
    };
    let (target, mode) = submit_target(&args.submit)?;
    let mut submit = ProbeConfig::builder(target)
        .tls(mode)
        .address_family(family)
        .address_policy(policy.clone())
        .ehlo_name(args.fqdn.clone().unwrap_or_else(default_ehlo_name))
        .allow_plaintext_auth(args.allow_plaintext_auth)
        .transcript(args.transcript)
        .mail_from(&args.from)
        .rcpt_to(&args.rcpt);
    if let Some(name) = &args.submit_tls_name {
        submit = submit.tls_name(name);
    }
    if let Some(tls) = &tls {
        submit = submit.tls_config(tls.clone());
    }
    if let Some(user) = &args.authuser {
        let password = password(args.authpass_file.as_deref(), PASSWORD_ENV, "the SMTP password (-U)")?;
        submit = submit.auth(user, password);
        if let Some(mechanism) = args.authtype {
            submit = submit.auth_mechanisms([match mechanism {
                AuthType::Plain => AuthMechanism::Plain,
                AuthType::Login => AuthMechanism::Login,
            }]);
        }
    }
    let (target, mode) = imap_target(&args.imap, args.allow_plaintext_auth)?;
    let imap_password = password(args.imap_pass_file.as_deref(), IMAP_PASSWORD_ENV, "the IMAP password")?;
    let user = args.imap_user.as_deref().unwrap_or(&args.rcpt);
    let mut mailbox = MailboxConfig::builder(target, user, imap_password)
        .tls(mode)
        .address_family(family)
        .address_policy(policy)
        .allow_plaintext_login(args.allow_plaintext_auth)
        .inbox(&args.inbox)
        .transcript(args.transcript)
        .cleanup(if args.keep { Cleanup::Keep } else { Cleanup::Delete });
    if let Some(junk) = &args.junk_folder {
        mailbox = mailbox.junk_folder(junk);
    }
    if let Some(name) = &args.imap_tls_name {
        mailbox = mailbox.tls_name(name);
    }
    if let Some(tls) = tls {
        mailbox = mailbox.tls_config(tls);
    }
    let submit = submit.build().map_err(Failure::config)?;
    let mailbox = mailbox.build().map_err(Failure::config)?;
    RoundTripConfig::builder(submit, mailbox)
        .deadline(args.deadline)
        .delivery_time(args.warning, args.critical)
        .build()
        .map_err(Failure::config)
}

/// A password from its file, else from the environment variable `env`; missing both is a usage error.
fn password(file: Option<&Path>, env: &str, what: &str) -> Result<Secret, Failure> {
    if let Some(path) = file {
        return password_from_file(path).map(Secret::new);
    }
    match std::env::var_os(env) {
        Some(value) => {
            value.into_string().map(Secret::new).map_err(|_| Failure::new(format!("{env} is not valid UTF-8")))
        }
        None => Err(Failure::new(format!("{what} is needed: give its file, or set {env}"))),
    }
}

/// Plans, runs the round trip, prints it; returns its status.
pub fn run(args: &RoundTripArgs) -> Result<Status, Failure> {
    let config = plan(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(smtp_probe_tokio::roundtrip(&config));
    let out = render(args, &config, &[Item::from(&report)]);
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not a failed round trip.
    let _ = stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush());
    Ok(Status::from_verdict(report.verdict))
}

/// The output, ending with a newline: each format one call into `smtp-probe-render`. The only clock read for
/// rendering is here (`now`, for metrics).
pub fn render(args: &RoundTripArgs, config: &RoundTripConfig, items: &[Item<'_>]) -> String {
    match args.format {
        Format::Human => smtp_probe_render::human(
            items,
            &HumanOptions {
                color: smtp_probe_render::color_wanted(),
                verbose: args.verbose,
                transcript: args.transcript,
            },
        ),
        Format::Json => smtp_probe_render::json(items, &JsonOptions { pretty: true, array: false }),
        Format::Nagios => smtp_probe_render::nagios(
            items,
            &NagiosOptions {
                delivery_time: config.delivery_thresholds(),
                verbose: args.verbose > 0,
                transcript: args.transcript,
                ..NagiosOptions::default()
            },
        ),
        Format::Prometheus => smtp_probe_render::prometheus(items, SystemTime::now()),
        Format::Openmetrics => smtp_probe_render::openmetrics(items, SystemTime::now()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> RoundTripArgs {
        RoundTripArgs::try_parse_from(std::iter::once("roundtrip").chain(line.iter().copied())).unwrap()
    }

    #[test]
    fn submission_forms() {
        let at = |input: &str| submit_target(input).map(|(t, mode)| (t.to_string(), mode)).unwrap();
        assert_eq!(at("smtp.example.org"), ("smtp.example.org:587".into(), TlsMode::StartTlsRequired));
        assert_eq!(at("smtp.example.org:2587"), ("smtp.example.org:2587".into(), TlsMode::StartTlsRequired));
        assert_eq!(at("submission://smtp.example.org"), ("smtp.example.org:587".into(), TlsMode::StartTlsRequired));
        assert_eq!(at("smtps://smtp.example.org"), ("smtp.example.org:465".into(), TlsMode::Implicit));
        assert_eq!(at("smtp://mx.example.org"), ("mx.example.org:25".into(), TlsMode::StartTlsOpportunistic));
        assert_eq!(at("[::1]:2587"), ("[::1]:2587".into(), TlsMode::StartTlsRequired));
        let err = submit_target("imap://x").unwrap_err().to_string();
        assert!(err.contains("invalid --submit") && err.contains("unknown scheme"), "{err}");
    }

    #[test]
    fn imap_forms() {
        let at = |input: &str, plaintext| imap_target(input, plaintext).map(|(t, mode)| (t.to_string(), mode)).unwrap();
        assert_eq!(at("imap.example.org", false), ("imap.example.org:993".into(), TlsMode::Implicit));
        assert_eq!(at("imaps://imap.example.org/", false), ("imap.example.org:993".into(), TlsMode::Implicit));
        assert_eq!(at("imap://imap.example.org", false), ("imap.example.org:143".into(), TlsMode::StartTlsRequired));
        assert_eq!(at("imap.example.org:143", false), ("imap.example.org:143".into(), TlsMode::StartTlsRequired));
        assert_eq!(at("IMAP://127.0.0.1:10143", false), ("127.0.0.1:10143".into(), TlsMode::StartTlsRequired));
        assert_eq!(at("imaps://127.0.0.1:10993", false), ("127.0.0.1:10993".into(), TlsMode::Implicit));
        assert_eq!(
            at("imap://imap.example.org", true),
            ("imap.example.org:143".into(), TlsMode::StartTlsOpportunistic)
        );
        assert_eq!(at("imaps://imap.example.org", true).1, TlsMode::Implicit, "imaps:// is always TLS");
        for bad in ["pop3://x", "imap://", "imaps://x:0", "smtp://x", "imap://a b"] {
            assert!(imap_target(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_come_from_files_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let imap = dir.path().join("imap.pw");
        std::fs::write(&imap, "imap-secret\n").unwrap();
        let line = |extra: &[&str]| {
            let mut all = vec!["--submit", "smtp.example.org", "--imap", "imap.example.org", "-f", "a@example.org"];
            all.extend(["--rcpt", "rt@example.org", "--imap-pass-file", imap.to_str().unwrap()]);
            all.extend(extra);
            args(&all)
        };
        let config = plan(&line(&["--junk-folder", "Junk", "-w", "5", "-c", "10"])).unwrap();
        assert_eq!(config.mailbox().junk_folder(), Some("Junk"));
        assert_eq!(config.delivery_thresholds(), (Some(Duration::from_secs(5)), Some(Duration::from_secs(10))));
        assert_eq!(config.submit().target().to_string(), "smtp.example.org:587");
        assert!(!format!("{config:?}").contains("imap-secret"), "secrets never print");

        let big = dir.path().join("big.pw");
        std::fs::write(&big, "x".repeat(5000)).unwrap();
        let err = plan(&line(&["-U", "a@example.org", "--authpass-file", big.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("larger than 4096 bytes"), "{err}");
        assert!(plan(&line(&["-w", "10", "-c", "5"])).unwrap_err().to_string().contains("must not exceed"));
        let err = plan(&line(&["--submit-tls-name", "bad name"])).unwrap_err().to_string();
        assert!(err.starts_with("invalid configuration"), "{err}");

        // The address family and the address lists apply to both servers.
        let config = plan(&line(&["-6", "--deny-address", "10.0.0.0/8"])).unwrap();
        assert_eq!(config.submit().address_family(), AddressFamily::Ipv6Only);
        assert_eq!(config.mailbox().address_family(), AddressFamily::Ipv6Only);
        assert_eq!(config.submit().address_policy(), config.mailbox().address_policy());
        assert_ne!(config.mailbox().address_policy(), &smtp_probe_tokio::AddressPolicy::default());
        let err = plan(&line(&["--allow-address", "not-a-range"])).unwrap_err().to_string();
        assert!(err.contains("--allow-address"), "{err}");
    }

    #[test]
    fn definition_is_consistent() {
        use clap::CommandFactory;
        RoundTripArgs::command().debug_assert();
    }
}
