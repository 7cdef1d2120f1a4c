//! From the command line to what to probe: one `(Target, ProbeConfig)` per target, every configuration validated
//! before anything connects. Everything refused here exits 3.

use smtp_probe_tokio::proto::{AuthMechanism, ProbeConfigBuilder, Thresholds};
use smtp_probe_tokio::{AddressFamily, ProbeConfig, Target, TlsConfig, TlsMode};

use crate::Failure;
use crate::args::{Args, AuthType};
use crate::credentials::credentials;
use crate::demo::Demo;
use crate::hostname::default_ehlo_name;
use crate::token;

/// The recipient checked when `-f` is given without `--rcpt`: every SMTP server must accept it (RFC 5321 §4.5.1).
pub const DEFAULT_RCPT: &str = "postmaster";

/// What to probe, and how.
#[derive(Debug)]
pub struct Plan {
    /// The targets and their configurations, in command-line order.
    pub probes: Vec<(Target, ProbeConfig)>,
    /// The thresholds shared by every probe (renderers show them).
    pub thresholds: Thresholds,
    /// The bundled demo server, when no target was given (kept alive while probing).
    pub demo: Option<Demo>,
}

/// Reads the command line into a plan. Without any target, starts the demo server and plans a probe of it.
pub fn plan(args: &Args) -> Result<Plan, Failure> {
    if args.warning.zip(args.critical).is_some_and(|(w, c)| w > c) {
        return Err(Failure::new("the warning time (-w) must not exceed the critical time (-c)"));
    }
    let inputs: Vec<&str> = args.hostname.iter().chain(&args.targets).map(String::as_str).collect();
    let (probes, demo) = if inputs.is_empty() {
        let demo = demo_options_allowed(args).and_then(|()| Demo::start())?;
        let config = demo.configure(common(args, "127.0.0.1")).build().map_err(Failure::config)?;
        (vec![(demo.target(), config)], Some(demo))
    } else {
        let tls = tls_config(args)?;
        let auth = credentials(args)?;
        let mut probes = Vec::with_capacity(inputs.len());
        for (index, input) in inputs.into_iter().enumerate() {
            let (mut target, scheme) =
                Target::parse(input).map_err(|e| Failure::new(format!("invalid target {input:?}: {e}")))?;
            let mode = tls_mode(args, scheme)?;
            if !has_explicit_port(input) {
                match args.port {
                    Some(port) => target.port = port,
                    None if scheme.is_none() && mode == TlsMode::Implicit => target.port = 465,
                    None => {}
                }
            }
            let mut builder = common(args, &target.host).tls(mode);
            if let Some(name) = &args.tls_name {
                builder = builder.tls_name(name);
            }
            if let Some(tls) = &tls {
                builder = builder.tls_config(tls.clone());
            }
            if let Some((user, password)) = &auth {
                builder = builder.auth(user, password.clone());
                if let Some(mechanism) = args.authtype {
                    builder = builder.auth_mechanisms([mechanism_of(mechanism)]);
                }
            }
            let config = envelope(args, builder, index)?.build().map_err(Failure::config)?;
            probes.push((target, config));
        }
        (probes, None)
    };
    let thresholds = *probes[0].1.thresholds();
    Ok(Plan { probes, thresholds, demo })
}

/// The settings every target shares.
fn common(args: &Args, host: &str) -> ProbeConfigBuilder {
    let family = match (args.ipv4, args.ipv6) {
        (true, _) => AddressFamily::Ipv4Only,
        (_, true) => AddressFamily::Ipv6Only,
        _ => AddressFamily::Any,
    };
    let days = args.certificate;
    let mut builder = ProbeConfig::builder(host)
        .ehlo_name(args.fqdn.clone().unwrap_or_else(default_ehlo_name))
        .overall_timeout(args.timeout)
        .response_time(args.warning, args.critical)
        .certificate_days(days.map(|d| d.warning), days.and_then(|d| d.critical))
        .address_family(family)
        .allow_plaintext_auth(args.allow_plaintext_auth)
        .transcript(args.transcript);
    if let Some(text) = &args.expect {
        builder = builder.expect_greeting(text);
    }
    builder
}

/// The TLS mode from the scheme and the flags; a flag contradicting the scheme is a usage error. `-D` needs a
/// certificate, so it makes STARTTLS required where it would otherwise be opportunistic.
fn tls_mode(args: &Args, scheme: Option<TlsMode>) -> Result<TlsMode, Failure> {
    let flag = match (args.starttls, args.ssl) {
        (true, _) => Some(TlsMode::StartTlsRequired),
        (_, true) => Some(TlsMode::Implicit),
        _ => None,
    };
    Ok(match (scheme, flag) {
        (Some(TlsMode::Implicit), Some(TlsMode::StartTlsRequired)) => {
            return Err(Failure::new("-S/--starttls contradicts smtps:// (implicit TLS)"));
        }
        (Some(TlsMode::StartTlsRequired | TlsMode::StartTlsOpportunistic), Some(TlsMode::Implicit)) => {
            return Err(Failure::new("-s/--ssl contradicts smtp:// and submission:// (STARTTLS): use smtps://"));
        }
        (_, Some(flag)) => flag,
        (Some(TlsMode::Implicit | TlsMode::StartTlsRequired), None) => scheme.unwrap_or_default(),
        _ if args.certificate.is_some() => TlsMode::StartTlsRequired,
        _ => TlsMode::StartTlsOpportunistic,
    })
}

/// The trust settings from `--ca-file` and `--insecure`; `None` keeps the default (webpki roots, full checks).
fn tls_config(args: &Args) -> Result<Option<TlsConfig>, Failure> {
    if args.ca_file.is_none() && !args.insecure {
        return Ok(None);
    }
    let mut builder = TlsConfig::builder().inspect_only(args.insecure);
    if let Some(path) = &args.ca_file {
        let origin = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| Failure::new(format!("cannot read the CA file {origin}: {e}")))?;
        builder = builder.add_ca_pem(&origin, &pem).map_err(|e| Failure::new(e.to_string()))?;
    }
    builder.build().map(Some).map_err(|e| Failure::new(e.to_string()))
}

/// MAIL FROM and RCPT TO, and the test message if asked for.
fn envelope(args: &Args, mut builder: ProbeConfigBuilder, index: usize) -> Result<ProbeConfigBuilder, Failure> {
    let Some(from) = &args.from else {
        if !args.rcpt.is_empty() {
            return Err(Failure::new("--rcpt needs a sender (-f/--from)"));
        }
        return Ok(builder);
    };
    builder = builder.mail_from(from);
    if args.rcpt.is_empty() {
        builder = builder.rcpt_to(DEFAULT_RCPT);
    }
    for rcpt in &args.rcpt {
        builder = builder.rcpt_to(rcpt);
    }
    if args.send_test_message {
        builder = builder.send_test_message(token::unique_token(index)).test_message_date(token::rfc5322_now());
    }
    Ok(builder)
}

fn mechanism_of(authtype: AuthType) -> AuthMechanism {
    match authtype {
        AuthType::Plain => AuthMechanism::Plain,
        AuthType::Login => AuthMechanism::Login,
    }
}

/// The demo server decides its own connection, TLS, credentials and envelope: options about those need a TARGET.
fn demo_options_allowed(args: &Args) -> Result<(), Failure> {
    let given = [
        (args.port.is_some(), "-p/--port"),
        (args.ipv6, "-6"),
        (args.starttls, "-S/--starttls"),
        (args.ssl, "-s/--ssl"),
        (args.tls_name.is_some(), "--tls-name"),
        (args.ca_file.is_some(), "--ca-file"),
        (args.insecure, "--insecure"),
        (args.authtype.is_some(), "-A/--authtype"),
        (args.authuser.is_some(), "-U/--authuser"),
        (args.authpass.is_some(), "-P/--authpass"),
        (args.authpass_file.is_some(), "--authpass-file"),
        (args.from.is_some(), "-f/--from"),
        (!args.rcpt.is_empty(), "--rcpt"),
        (args.send_test_message, "--send-test-message"),
    ];
    match given.iter().find(|(present, _)| *present) {
        Some((_, name)) => Err(Failure::new(format!(
            "{name} needs a TARGET (without one, smtp-probe probes its bundled demo server, which sets that itself)"
        ))),
        None => Ok(()),
    }
}

/// Whether a target as typed names its port (`host:port`, `[v6]:port`, `scheme://host:port`).
fn has_explicit_port(input: &str) -> bool {
    let rest = input.trim().split_once("://").map_or(input.trim(), |(_, rest)| rest).trim_end_matches('/');
    match rest.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').is_some_and(|(_, after)| after.starts_with(':')),
        None => rest.matches(':').count() == 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(line: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("smtp-probe").chain(line.iter().copied())).unwrap()
    }

    fn one(line: &[&str]) -> (Target, ProbeConfig) {
        plan(&args(line)).unwrap().probes.remove(0)
    }

    #[test]
    fn explicit_ports() {
        assert!(has_explicit_port("mx:26"));
        assert!(has_explicit_port("smtps://mx:466/"));
        assert!(has_explicit_port("[::1]:25"));
        assert!(!has_explicit_port("[::1]"));
        assert!(!has_explicit_port("2001:db8::1"));
        assert!(!has_explicit_port("submission://mx"));
    }

    #[test]
    fn ports_and_modes() {
        let (target, config) = one(&["-H", "192.0.2.1"]);
        assert_eq!((target.port, config.tls_mode()), (25, TlsMode::StartTlsOpportunistic));
        let (target, config) = one(&["-H", "192.0.2.1", "-s"]);
        assert_eq!((target.port, config.tls_mode()), (465, TlsMode::Implicit));
        let (target, config) = one(&["192.0.2.1:2465", "-s", "-p", "1"]);
        assert_eq!((target.port, config.tls_mode()), (2465, TlsMode::Implicit));
        let (target, config) = one(&["submission://192.0.2.1", "-S"]);
        assert_eq!((target.port, config.tls_mode()), (587, TlsMode::StartTlsRequired));
        let (_, config) = one(&["192.0.2.1", "-D", "30"]);
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
        let (_, config) = one(&["smtp://192.0.2.1", "-D", "30,5"]);
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
        assert_eq!(config.thresholds().certificate_days_critical, Some(5));
        assert!(plan(&args(&["smtps://192.0.2.1", "-S"])).is_err());
        assert!(plan(&args(&["submission://192.0.2.1", "-s"])).is_err());
        assert!(plan(&args(&["smtp://192.0.2.1", "-s"])).is_err());
        let (_, config) = one(&["smtp://192.0.2.1", "-S"]);
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
    }

    #[test]
    fn refusals() {
        for line in [
            &["192.0.2.1", "--rcpt", "a@b"][..],
            &["192.0.2.1", "-P", "x"],
            &["192.0.2.1", "-w", "2", "-c", "1"],
            &["192.0.2.1", "--ca-file", "/nonexistent/ca.pem"],
            &["http://192.0.2.1"],
            &["-f", "a@b"],
            &["-U", "a"],
        ] {
            assert!(plan(&args(line)).is_err(), "{line:?}");
        }
    }
}
