//! The command line, as clap reads it. Meanings follow check_smtp where the option exists there.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use smtp_probe_tokio::proto::MAX_TIMEOUT;

/// Probe SMTP servers: can they take mail right now?
#[derive(Debug, Clone, Parser)]
#[command(
    name = "smtp-probe",
    version,
    about,
    long_about = "Probe SMTP servers: connect, read the greeting, EHLO, STARTTLS, AUTH, MAIL FROM and RCPT TO as \
                  asked, stop before DATA (or send a test message), and say whether each server can take mail.\n\n\
                  TLS: without a scheme or flag, STARTTLS is used when the server offers it, as MTAs deliver \
                  (opportunistic, RFC 7435: a server without STARTTLS, or with a certificate that does not verify, \
                  is still up; the certificate is reported, not counted). -S (or submission://) requires STARTTLS \
                  and -s (or smtps://) uses implicit TLS: then the certificate must verify (see --ca-file, \
                  --tls-name), or the probe is down. With -D, STARTTLS is required unless a scheme or flag says \
                  otherwise.\n\n\
                  Credentials (-U) are sent only over TLS whose certificate verified; otherwise AUTH is withheld \
                  and the probe is down (certificate_invalid). --insecure and --allow-plaintext-auth are the only \
                  ways round, and the report names the one used.\n\n\
                  --mx DOMAIN probes every MX host of a domain, looked up through the system's DNS resolver. --domain \
                  DOMAIN also reads its published policies (MTA-STS, DANE, SPF, DMARC, TLS-RPT) and judges every \
                  MX host as the senders honouring them do.\n\n\
                  Without any TARGET or --mx, smtp-probe starts its bundled loopback demo server and probes it.\n\n\
                  `smtp-probe roundtrip --help`: send a test message and watch it arrive over IMAP.",
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true,
    after_help = "Exit status: 0 up, 1 degraded, 2 down, 3 could not run (bad arguments, unreadable files). With \
                  several targets or MX domains, the worst (an MX domain counts by its aggregate verdict).\n\
                  Password sources, first found wins: -P, --authpass-file, the SMTP_PROBE_PASSWORD environment \
                  variable (the last two keep it out of the process list)."
)]
pub struct Args {
    /// A subcommand instead of probing targets: `roundtrip`.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Servers to probe: `host[:port]`, `smtp://`, `submission://` or `smtps://` URLs.
    #[arg(
        value_name = "TARGET",
        help = "Servers to probe: host[:port], smtp://host[:25], submission://host[:587] (STARTTLS required) or \
                smtps://host[:465] (implicit TLS). Several are probed concurrently"
    )]
    pub targets: Vec<String>,

    /// Probe every MX host of this domain (repeatable); combines with TARGETs.
    #[arg(
        long = "mx",
        value_name = "DOMAIN",
        help = "Probe every MX host of DOMAIN (repeatable; with or without TARGETs): port 25 unless -p (465 \
                with -s), each host's certificate checked against its own name (so not with --tls-name). A \
                domain without MX records is probed itself (implicit MX); a null MX is down. The exit status \
                follows the domain's aggregate verdict: up when every host is up, degraded when some host \
                still takes mail, down when none does"
    )]
    pub mx: Vec<String>,

    /// Check a domain as senders honouring MTA-STS and DANE see it (repeatable).
    #[arg(
        long = "domain",
        value_name = "DOMAIN",
        help = "Check DOMAIN as senders honouring MTA-STS and DANE see it (repeatable): its MX, MTA-STS, TLS-RPT, \
                DMARC, SPF and TLSA records validated with DNSSEC, the MTA-STS policy fetched over HTTPS, every MX \
                host probed and judged under the policies. Down when policy-honouring senders cannot deliver \
                (mta_sts_violation under enforce, dane_mismatch, dnssec_bogus); degraded for MTA-STS testing \
                failures and an unavailable policy (policy_unavailable). Record problems are reported, and count \
                only with --strict-records"
    )]
    pub domain: Vec<String>,

    /// DNSSEC trust anchor for --domain: a file of DNSKEY records [default: the DNS root key].
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,

    /// DNS server --domain asks, validating its answers itself [default: the system's resolvers].
    #[arg(long, value_name = "IP[:PORT]")]
    pub dns_server: Option<String>,

    /// Reach HOST (an MX host or mta-sts.DOMAIN) at this address instead of its DNS addresses (repeatable).
    #[arg(
        long = "connect-to",
        value_name = "HOST=IP:PORT",
        help = "Reach HOST (an MX host, or the policy host mta-sts.DOMAIN) at IP:PORT instead of its DNS addresses \
                and the usual port (repeatable): for staging hosts and private views. HOST is still the name \
                certificates and policies are checked against"
    )]
    pub connect_to: Vec<String>,

    /// With --domain: record problems (SPF over the lookup limit, DMARC p=none, ...) make the verdict degraded.
    #[arg(long)]
    pub strict_records: bool,

    /// Host name or address to probe (as check_smtp); added to the TARGETs.
    #[arg(short = 'H', long = "hostname", value_name = "HOST")]
    pub hostname: Option<String>,

    /// Port for targets that do not name one (default 25; 465 with -s).
    #[arg(short = 'p', long, value_name = "PORT", value_parser = parse_port)]
    pub port: Option<u16>,

    /// Connect over IPv4 only.
    #[arg(short = '4', long = "use-ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Connect over IPv6 only.
    #[arg(short = '6', long = "use-ipv6")]
    pub ipv6: bool,

    /// Also connect to this address range (repeatable), e.g. 127.0.0.0/8: it lifts the denial of loopback,
    /// link-local, unspecified and cloud-metadata addresses, which applies to MX hosts.
    #[arg(long = "allow-address", value_name = "CIDR")]
    pub allow_address: Vec<String>,

    /// Never connect to this address range (repeatable), e.g. 10.0.0.0/8.
    #[arg(long = "deny-address", value_name = "CIDR")]
    pub deny_address: Vec<String>,

    /// Text the greeting must contain.
    #[arg(short = 'e', long, value_name = "STRING")]
    pub expect: Option<String>,

    /// Name sent in EHLO/HELO [default: this machine's host name if it has a dot, else localhost].
    #[arg(short = 'F', long, value_name = "FQDN")]
    pub fqdn: Option<String>,

    /// Sender for MAIL FROM; without `--rcpt`, the postmaster recipient is checked.
    #[arg(
        short = 'f',
        long,
        value_name = "ADDR",
        help = "Sender for MAIL FROM (\"\" for <>). Without --rcpt, RCPT TO:<postmaster> is checked (RFC 5321 §4.5.1)"
    )]
    pub from: Option<String>,

    /// Recipient for RCPT TO (repeatable); needs -f. The probe stops before DATA.
    #[arg(long, value_name = "ADDR")]
    pub rcpt: Vec<String>,

    /// Send a small test message (a unique token in X-Smtp-Probe-Token) instead of stopping before DATA.
    #[arg(long, requires = "rcpt")]
    pub send_test_message: bool,

    /// SASL mechanism to use [default: PLAIN, then LOGIN, whichever the server offers first].
    #[arg(short = 'A', long, value_name = "TYPE", ignore_case = true)]
    pub authtype: Option<AuthType>,

    /// User name for AUTH (sent only over TLS whose certificate verified, unless --insecure).
    #[arg(short = 'U', long, value_name = "USER")]
    pub authuser: Option<String>,

    /// Password for AUTH (visible in the process list: prefer --authpass-file or SMTP_PROBE_PASSWORD).
    #[arg(short = 'P', long, value_name = "PASSWORD", conflicts_with = "authpass_file")]
    pub authpass: Option<String>,

    /// Read the AUTH password from this file (its first line).
    #[arg(long, value_name = "PATH")]
    pub authpass_file: Option<PathBuf>,

    /// Allow AUTH over a connection without TLS (and so over TLS whose certificate does not verify).
    #[arg(long)]
    pub allow_plaintext_auth: bool,

    /// Require STARTTLS (down when the server does not offer it).
    #[arg(short = 'S', long, conflicts_with = "ssl")]
    pub starttls: bool,

    /// Implicit TLS from the first byte (SMTPS; default port 465).
    #[arg(short = 's', long = "ssl", visible_alias = "tls")]
    pub ssl: bool,

    /// Name to send as SNI and to verify the certificate against [default: the target host].
    #[arg(long, value_name = "NAME")]
    pub tls_name: Option<String>,

    /// Also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// Inspect only: carry on past a certificate that does not verify (degraded, not down, where it counts) and
    /// send credentials over it anyway; the report names the override.
    #[arg(long)]
    pub insecure: bool,

    /// Certificate days left below which the probe is degraded (WARN) or down (CRIT).
    #[arg(short = 'D', long = "certificate", value_name = "WARN[,CRIT]", value_parser = parse_days)]
    pub certificate: Option<CertificateDays>,

    /// Total response time, in seconds, above which the probe is degraded.
    #[arg(short = 'w', long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub warning: Option<Duration>,

    /// Total response time, in seconds, above which the probe is down.
    #[arg(short = 'c', long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub critical: Option<Duration>,

    /// Overall deadline per target, in seconds (at most 86400, 24 h).
    #[arg(short = 't', long, value_name = "SECONDS", default_value = "10", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// How many targets and MX domains to probe at once; the rest wait for a turn.
    #[arg(long, value_name = "N", default_value = "16", value_parser = parse_parallel)]
    pub parallel: usize,

    /// Accepted for check_smtp compatibility: an unanswered QUIT never fails a probe.
    #[arg(short = 'q', long)]
    pub ignore_quit_failure: bool,

    /// More detail in human output (repeatable).
    #[arg(short = 'v', long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Record the conversation (credentials redacted) and show it.
    #[arg(long)]
    pub transcript: bool,

    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "human", ignore_case = true)]
    pub format: Format,
}

/// What `smtp-probe` can do besides probing targets (a target named like a subcommand is written with its port,
/// `roundtrip:25`).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Send a test message and watch it arrive over IMAP: does mail flow end to end?
    Roundtrip(Box<crate::roundtrip::RoundTripArgs>),
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: verdict first, then phases, TLS and capabilities.
    Human,
    /// One JSON object per target and per MX domain (an array when several); see smtp-probe-proto's JSON-SCHEMA.md.
    Json,
    /// A Nagios plugin status line with perfdata.
    Nagios,
    /// Prometheus text exposition (format 0.0.4).
    Prometheus,
    /// OpenMetrics 1.0 text: the same metrics, with units and `# EOF`.
    Openmetrics,
}

/// A SASL mechanism the probe can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthType {
    /// AUTH PLAIN (RFC 4616).
    Plain,
    /// AUTH LOGIN.
    Login,
}

/// `-D WARN[,CRIT]`: certificate days-left thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateDays {
    /// Fewer days left than this: degraded.
    pub warning: u32,
    /// Fewer days left than this: down.
    pub critical: Option<u32>,
}

fn parse_days(text: &str) -> Result<CertificateDays, String> {
    let number = |s: &str| decimal::<u32>(s.trim()).ok_or_else(|| format!("{s:?} is not a number of days"));
    match text.split_once(',') {
        None => Ok(CertificateDays { warning: number(text)?, critical: None }),
        Some((warning, critical)) => {
            let days = CertificateDays { warning: number(warning)?, critical: Some(number(critical)?) };
            if days.critical.is_some_and(|c| c > days.warning) {
                return Err("the critical number of days must not exceed the warning one".to_owned());
            }
            Ok(days)
        }
    }
}

/// Plain decimal digits (no sign, no spaces) for a number of this type: Rust's own parsers accept `+25`.
fn decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

/// `-p`: a port from 1 to 65535, in plain decimal digits (`+25` and `0x19` are refused, as in targets).
fn parse_port(text: &str) -> Result<u16, String> {
    decimal::<u16>(text)
        .filter(|port| *port > 0)
        .ok_or_else(|| format!("{text:?} is not a port: a number from 1 to 65535, in plain decimal digits"))
}

/// A number of seconds, fractions allowed, from zero to 24 h (no probe may take longer, and the core refuses
/// longer timeouts): `-w` and `-c`.
pub(crate) fn parse_seconds(text: &str) -> Result<Duration, String> {
    let max = MAX_TIMEOUT.as_secs();
    let seconds = text.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0);
    match seconds {
        None => Err(format!("{text:?} is not a number of seconds")),
        Some(s) if s > max as f64 => Err(format!("{text:?} seconds is more than {max} (24 h)")),
        Some(s) => Ok(Duration::from_secs_f64(s)),
    }
}

/// `-t`: above zero, at most 24 h.
pub(crate) fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_seconds(text).and_then(|d| if d.is_zero() { Err("the timeout must be above zero".to_owned()) } else { Ok(d) })
}

/// The most targets probed at once that `--parallel` accepts: beyond it, a machine runs out of descriptors.
pub const MAX_PARALLEL: usize = 4096;

/// `--parallel`: from 1 to [`MAX_PARALLEL`].
fn parse_parallel(text: &str) -> Result<usize, String> {
    decimal::<usize>(text)
        .filter(|n| (1..=MAX_PARALLEL).contains(n))
        .ok_or_else(|| format!("{text:?} is not a number from 1 to {MAX_PARALLEL}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_smtp_style_values() {
        assert_eq!(parse_days("30").unwrap(), CertificateDays { warning: 30, critical: None });
        assert_eq!(parse_days("30,7").unwrap(), CertificateDays { warning: 30, critical: Some(7) });
        assert!(parse_days("7,30").is_err());
        assert!(parse_days("x").is_err());
        assert_eq!(parse_seconds("0.25").unwrap(), Duration::from_millis(250));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("nan").is_err());
        assert!(parse_timeout("0").is_err());
        assert_eq!(parse_timeout("86400").unwrap(), MAX_TIMEOUT);
        for absurd in ["86400.001", "1e19", "99999999999", "inf", "1e400", "-0.5", ""] {
            assert!(parse_timeout(absurd).is_err(), "{absurd}");
        }
        assert!(parse_days("+30").is_err());
    }

    #[test]
    fn ports_and_limits_are_plain_decimal() {
        assert_eq!(parse_port("25"), Ok(25));
        assert_eq!(parse_port("65535"), Ok(65535));
        for bad in ["+25", "0", "65536", "0x19", " 25", "-1", ""] {
            assert!(parse_port(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_parallel("1"), Ok(1));
        assert!(parse_parallel("0").is_err() && parse_parallel("4097").is_err() && parse_parallel("+2").is_err());
    }

    #[test]
    fn definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
