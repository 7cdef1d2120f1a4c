//! From the command line to what to probe: one [`ProbeConfig`] per target (and per `--mx` domain), every
//! configuration validated before anything connects. Everything refused here exits 3.

use std::net::SocketAddr;

use smtp_probe_tokio::proto::{AuthMechanism, ProbeConfigBuilder, Thresholds};
use smtp_probe_tokio::{AddressFamily, AddressPolicy, Domain, ProbeConfig, Target, TlsConfig, TlsMode};

#[cfg(feature = "demo")]
use smtp_probe_testserver::demo::Demo;
use smtp_probe_tokio::default_ehlo_name;

use crate::Failure;
use crate::args::{Args, AuthType};
use crate::credentials::credentials;
use crate::token;

/// The recipient checked when `-f` is given without `--rcpt`: every SMTP server must accept it (RFC 5321 §4.5.1).
pub const DEFAULT_RCPT: &str = "postmaster";

/// What to probe, and how.
#[derive(Debug)]
pub struct Plan {
    /// The targets' configurations, in command-line order.
    pub probes: Vec<ProbeConfig>,
    /// The `--mx` domains, in command-line order.
    pub mx: Vec<MxCheck>,
    /// The `--domain` checks, in command-line order.
    pub domains: Vec<DomainCheck>,
    /// How they are checked.
    pub domain_settings: crate::domain::DomainSettings,
    /// The DNS server `--mx` asks instead of the system's ([`crate::mx::DNS_SERVER_ENV`], for tests).
    pub dns_server: Option<SocketAddr>,
    /// The thresholds shared by every probe (renderers show them).
    pub thresholds: Thresholds,
    /// How many targets and MX domains may be probed at once (`--parallel`).
    pub parallel: usize,
    /// The bundled demo server, when no target was given (kept alive while probing).
    #[cfg(feature = "demo")]
    pub demo: Option<Demo>,
}

/// One `--mx` domain: every MX host is probed with `config`, retargeted to the host (and its TLS name to the
/// host's name) by the adapter, on the port of `config`'s target: `-p`, else 25 (465 with `-s`).
#[derive(Debug, Clone)]
pub struct MxCheck {
    /// The domain.
    pub domain: Domain,
    /// The configuration each host's probe starts from; its target is the domain on the MX hosts' port.
    pub config: ProbeConfig,
}

/// One `--domain`: its MX hosts are probed with `config` as `--mx` probes them, and judged under the domain's
/// policies.
#[derive(Debug, Clone)]
pub struct DomainCheck {
    /// The domain.
    pub domain: Domain,
    /// The configuration each MX host's probe starts from.
    pub config: ProbeConfig,
}

impl Plan {
    /// Reads the command line into a plan. Without any target, starts the demo server and plans a probe of it.
    pub fn from_args(args: &Args) -> Result<Plan, Failure> {
        if args.warning.zip(args.critical).is_some_and(|(w, c)| w > c) {
            return Err(Failure::new("the warning time (-w) must not exceed the critical time (-c)"));
        }
        if (!args.mx.is_empty() || !args.domain.is_empty()) && args.tls_name.is_some() {
            return Err(Failure::new(
                "--tls-name cannot be used with --mx or --domain: each MX host's certificate is checked against its \
                 own name",
            ));
        }
        let inputs: Vec<&str> = args.hostname.iter().chain(&args.targets).map(String::as_str).collect();
        if inputs.is_empty() && args.mx.is_empty() && args.domain.is_empty() {
            return Plan::demo(args);
        }
        let tls = tls_config(args)?;
        let auth = credentials(args)?;
        let policy = address_policy(&args.allow_address, &args.deny_address)?;
        let configure = |target: Target, mode: TlsMode, index: usize| -> Result<ProbeConfig, Failure> {
            let mut builder = common(args, target).tls(mode).address_policy(policy.clone());
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
            envelope(args, builder, index)?.build().map_err(Failure::config)
        };
        let mut probes = Vec::with_capacity(inputs.len());
        for (index, input) in inputs.iter().enumerate() {
            let invalid = |e: smtp_probe_tokio::TargetError| Failure::new(format!("invalid target {input:?}: {e}"));
            let target: Target = input.parse().map_err(invalid)?;
            let mode = tls_mode(args, target.tls_mode())?;
            // `-p` stands in for a port the target does not name; so does 465 for `-s` without a scheme.
            let implicit_port = (target.tls_mode().is_none() && mode == TlsMode::Implicit).then_some(465);
            let target = match args.port.or(implicit_port) {
                Some(port) => Target::parse_with_default_port(input, port).map_err(invalid)?,
                None => target,
            };
            probes.push(configure(target, mode, index)?);
        }
        let mut mx = Vec::with_capacity(args.mx.len());
        for (index, input) in args.mx.iter().enumerate() {
            let domain: Domain =
                input.parse().map_err(|e| Failure::new(format!("invalid --mx domain {input:?}: {e}")))?;
            let mode = tls_mode(args, None)?;
            let port = args.port.unwrap_or(if mode == TlsMode::Implicit { 465 } else { 25 });
            let target = domain.mx_target().with_port(port).map_err(|e| Failure::new(e.to_string()))?;
            let config = configure(target, mode, inputs.len() + index)?;
            mx.push(MxCheck { domain, config });
        }
        let mut domains = Vec::with_capacity(args.domain.len());
        for (index, input) in args.domain.iter().enumerate() {
            let domain: Domain = input.parse().map_err(|e| Failure::new(format!("invalid --domain {input:?}: {e}")))?;
            let mode = tls_mode(args, None)?;
            let port = args.port.unwrap_or(if mode == TlsMode::Implicit { 465 } else { 25 });
            let target = domain.mx_target().with_port(port).map_err(|e| Failure::new(e.to_string()))?;
            let config = configure(target, mode, inputs.len() + mx.len() + index)?;
            domains.push(DomainCheck { domain, config });
        }
        let domain_settings = if domains.is_empty() {
            crate::domain::DomainSettings::default()
        } else {
            crate::domain::DomainSettings::new(
                args.trust_anchor.as_deref(),
                args.dns_server.as_deref(),
                &args.connect_to,
                args.strict_records,
            )?
        };
        let dns_server = if mx.is_empty() { None } else { crate::mx::dns_server_from_env()? };
        let thresholds = probes
            .first()
            .or(mx.first().map(|m| &m.config))
            .or(domains.first().map(|d| &d.config))
            .map_or_else(Thresholds::default, |c| *c.thresholds());
        Ok(Plan {
            probes,
            mx,
            domains,
            domain_settings,
            dns_server,
            thresholds,
            parallel: args.parallel,
            #[cfg(feature = "demo")]
            demo: None,
        })
    }

    /// Without any target: a probe of the bundled demo server, started here.
    #[cfg(feature = "demo")]
    fn demo(args: &Args) -> Result<Plan, Failure> {
        demo_options_allowed(args)?;
        let demo = Demo::start().map_err(|e| Failure::new(format!("cannot start the demo server: {e}")))?;
        let config = demo.configure(common(args, demo.target())).build().map_err(Failure::config)?;
        let thresholds = *config.thresholds();
        Ok(Plan {
            probes: vec![config],
            mx: Vec::new(),
            domains: Vec::new(),
            domain_settings: crate::domain::DomainSettings::default(),
            dns_server: None,
            thresholds,
            parallel: args.parallel,
            demo: Some(demo),
        })
    }

    /// Without any target and without the demo server (built without the `demo` feature): nothing to do.
    #[cfg(not(feature = "demo"))]
    fn demo(_: &Args) -> Result<Plan, Failure> {
        Err(Failure::new("no TARGET or --mx DOMAIN given (this build has no bundled demo server)"))
    }

    /// What the demo probe does, when this plan is one.
    pub fn demo_description(&self) -> Option<String> {
        #[cfg(feature = "demo")]
        return self.demo.as_ref().map(Demo::description);
        #[cfg(not(feature = "demo"))]
        return None;
    }
}

/// The settings every target shares.
fn common(args: &Args, target: Target) -> ProbeConfigBuilder {
    let family = match (args.ipv4, args.ipv6) {
        (true, _) => AddressFamily::Ipv4Only,
        (_, true) => AddressFamily::Ipv6Only,
        _ => AddressFamily::Any,
    };
    let days = args.certificate;
    let mut builder = ProbeConfig::builder(target)
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

/// The address policy of `--allow-address` and `--deny-address`, for targets typed on the command line.
pub(crate) fn address_policy(allow: &[String], deny: &[String]) -> Result<AddressPolicy, Failure> {
    let mut policy = AddressPolicy::default();
    for range in allow {
        policy = policy.allow(range).map_err(|e| Failure::new(format!("--allow-address: {e}")))?;
    }
    for range in deny {
        policy = policy.deny(range).map_err(|e| Failure::new(format!("--deny-address: {e}")))?;
    }
    Ok(policy)
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
    trust(args.ca_file.as_deref(), args.insecure)
}

/// The trust settings from a CA file and the inspect-only switch (`--ca-file`, `--insecure`); `None` keeps the
/// default (webpki roots, full checks).
pub fn trust(ca_file: Option<&std::path::Path>, insecure: bool) -> Result<Option<TlsConfig>, Failure> {
    if ca_file.is_none() && !insecure {
        return Ok(None);
    }
    let mut builder = TlsConfig::builder().inspect_only(insecure);
    if let Some(path) = ca_file {
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
#[cfg(feature = "demo")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(line: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("smtp-probe").chain(line.iter().copied())).unwrap()
    }

    fn one(line: &[&str]) -> (Target, ProbeConfig) {
        let config = Plan::from_args(&args(line)).unwrap().probes.remove(0);
        (config.target().clone(), config)
    }

    #[test]
    fn explicit_ports() {
        let port = |line: &[&str]| one(line).0.port();
        assert_eq!(port(&["mx:26", "-p", "1"]), 26);
        assert_eq!(port(&["smtps://mx:466/", "-p", "1"]), 466);
        assert_eq!(port(&["[::1]:25", "-p", "1"]), 25);
        assert_eq!(port(&["[::1]", "-p", "1"]), 1);
        assert_eq!(port(&["2001:db8::1", "-p", "1"]), 1);
        assert_eq!(port(&["submission://mx", "-p", "1"]), 1);
        assert_eq!(port(&["submission://mx"]), 587);
        assert_eq!(port(&["[::1]", "-s"]), 465);
    }

    #[test]
    fn ports_and_modes() {
        let (target, config) = one(&["-H", "192.0.2.1"]);
        assert_eq!((target.port(), config.tls_mode()), (25, TlsMode::StartTlsOpportunistic));
        let (target, config) = one(&["-H", "192.0.2.1", "-s"]);
        assert_eq!((target.port(), config.tls_mode()), (465, TlsMode::Implicit));
        let (target, config) = one(&["192.0.2.1:2465", "-s", "-p", "1"]);
        assert_eq!((target.port(), config.tls_mode()), (2465, TlsMode::Implicit));
        let (target, config) = one(&["submission://192.0.2.1", "-S"]);
        assert_eq!((target.port(), config.tls_mode()), (587, TlsMode::StartTlsRequired));
        let (_, config) = one(&["192.0.2.1", "-D", "30"]);
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
        let (_, config) = one(&["smtp://192.0.2.1", "-D", "30,5"]);
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
        assert_eq!(config.thresholds().certificate_days_critical, Some(5));
        assert!(Plan::from_args(&args(&["smtps://192.0.2.1", "-S"])).is_err());
        assert!(Plan::from_args(&args(&["submission://192.0.2.1", "-s"])).is_err());
        assert!(Plan::from_args(&args(&["smtp://192.0.2.1", "-s"])).is_err());
        let (_, config) = one(&["smtp://192.0.2.1", "-S"]);
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
    }

    #[test]
    fn mx_domains() {
        let mixed = Plan::from_args(&args(&["--mx", "example.com.", "192.0.2.1", "--mx", "example.org"])).unwrap();
        assert!(mixed.demo_description().is_none());
        assert_eq!(mixed.probes.len(), 1);
        let domains: Vec<_> = mixed.mx.iter().map(|m| (m.domain.as_str(), m.config.target().port())).collect();
        assert_eq!(domains, [("example.com", 25), ("example.org", 25)]);
        assert_eq!(mixed.mx[0].config.tls_mode(), TlsMode::StartTlsOpportunistic);
        assert_eq!(mixed.mx[0].config.tls_name(), Some("example.com"), "replaced by each host's name");

        let only = |line: &[&str]| {
            let mut only = Plan::from_args(&args(line)).unwrap();
            assert!(only.probes.is_empty() && only.demo_description().is_none());
            only.mx.remove(0)
        };
        let check = only(&["--mx", "example.com", "-p", "2525", "-D", "30,7", "-w", "1"]);
        assert_eq!((check.config.target().port(), check.config.tls_mode()), (2525, TlsMode::StartTlsRequired));
        assert_eq!(check.config.thresholds().certificate_days_critical, Some(7));
        let check = only(&["--mx", "example.com", "-s"]);
        assert_eq!((check.config.target().port(), check.config.tls_mode()), (465, TlsMode::Implicit));
        let check = only(&["--mx", "example.com", "-6"]);
        assert_eq!(check.config.address_family(), AddressFamily::Ipv6Only);

        for line in [
            &["--mx", "example.com", "--tls-name", "mx.example.com"][..],
            &["--mx", "192.0.2.1"],
            &["--mx", "example.com:25"],
            &["--mx", "."],
            &["--mx", "example.com", "--rcpt", "a@b"],
        ] {
            assert!(Plan::from_args(&args(line)).is_err(), "{line:?}");
        }
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
            assert!(Plan::from_args(&args(line)).is_err(), "{line:?}");
        }
    }
}
