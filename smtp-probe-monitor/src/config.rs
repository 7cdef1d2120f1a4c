//! The monitor's configuration: TOML, validated into plain types.
//!
//! Errors name the line, the column and the field (`monitors[2].interval`), for syntax and type errors as
//! well as for rules checked after parsing. Secrets are never accepted inline: passwords and webhook URLs come
//! from an environment variable (`*_env`) or a file (`*_file`), read each time the file is loaded, so a reload
//! picks up a rotated secret.
//!
//! ```
//! use smtp_probe_monitor::config::Config;
//!
//! let config = Config::from_toml_str(r#"
//!     [[monitors]]
//!     name = "MX 1"
//!     target = "smtp://mx1.example.com"
//!     interval = "60s"
//!     tags = ["eu"]
//!
//!     [[monitors]]
//!     name = "example.com inbound"
//!     target = "mx:example.com"
//! "#, std::path::Path::new("."))?;
//! assert_eq!(config.monitors[0].id.as_str(), "mx-1");
//! # Ok::<(), smtp_probe_monitor::config::ConfigError>(())
//! ```
//!
//! The full reference is in the crate's README; every field is documented on the types below.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;
use smtp_probe_tokio::proto::Domain;
use smtp_probe_tokio::{AddressPolicy, Target, TlsMode};

use crate::alert::AlertPolicy;
use crate::clock::Timestamp;
use crate::id::MonitorId;
use crate::incident::IncidentPolicy;
use crate::maintenance::{MaintenanceWindow, Repeat};
use crate::schedule::SchedulerLimits;

mod http;
pub use http::{Area, BasicAuth, HttpAuth, HttpConfig, ProbeEndpoint, ProbeModule, RoundTripModule};

/// The shortest interval between two regular checks of one monitor, unless `scheduler.min_interval` lowers it
/// (for servers the user runs: a lab, a demo, tests).
pub const MIN_INTERVAL: Duration = Duration::from_secs(30);

/// The interval of a round-trip check when the monitor sets none: each one sends real mail.
pub const ROUNDTRIP_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The shortest interval of a round-trip check (`scheduler.min_interval` does not lower it).
pub const ROUNDTRIP_MIN_INTERVAL: Duration = Duration::from_secs(60);

/// A round trip's deadline when the monitor sets no `timeout` (cut to half the interval).
pub const ROUNDTRIP_TIMEOUT: Duration = Duration::from_secs(60);

/// A configuration that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A setting is wrong.
    #[error("line {line}, column {column}: {field}: {message}")]
    Invalid {
        /// 1-based line (0 when the position is unknown).
        line: usize,
        /// 1-based column.
        column: usize,
        /// The setting, as a path: `monitors[2].interval`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A secret: redacted in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl Secret {
    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything the monitor runs with.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Service-wide settings.
    pub service: ServiceConfig,
    /// Where history is kept.
    pub storage: StorageConfig,
    /// How long it is kept.
    pub retention: Retention,
    /// Scheduler limits.
    pub scheduler: SchedulerLimits,
    /// Leases (several instances on one PostgreSQL).
    pub lease: LeaseConfig,
    /// The monitors, in file order, ids unique.
    pub monitors: Vec<MonitorConfig>,
    /// Alert channels by name.
    pub channels: BTreeMap<String, ChannelConfig>,
    /// Maintenance windows.
    pub maintenance: Vec<MaintenanceWindow>,
    /// The HTTP side: credentials, what is public, `/probe`.
    pub http: HttpConfig,
}

/// Service-wide settings (`[service]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// The data directory (the SQLite file lives here). Default `data`, relative to the config file.
    pub data_dir: PathBuf,
    /// The HTTP listen address. Default `127.0.0.1:8080`: loopback unless told otherwise.
    pub listen: SocketAddr,
    /// This instance's name (lease owner). Default: host name and process id.
    pub instance: String,
    /// The EHLO name checks use unless a monitor sets one.
    pub ehlo_name: String,
    /// A DNS server for `mx:` and `domain:` monitors (default: the system's resolver).
    pub dns_server: Option<SocketAddr>,
    /// The DNSSEC trust anchor of `domain:` monitors (`trust_anchor_file`: DNSKEY records; default: the root
    /// key).
    pub trust_anchor: Option<String>,
}

/// Where history is kept (`[storage]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// An SQLite file (the default: `monitor.db` in the data directory).
    Sqlite {
        /// The file.
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// The connection URL, password included (from `password_env`/`password_file`/`url_env`).
        url: Secret,
        /// Pool size.
        max_connections: u32,
    },
}

/// Retention (`[retention]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw check results. Default 30 days.
    pub raw: Duration,
    /// Hourly rollups. Default 400 days (a year and some).
    pub rollups: Duration,
}

/// Leases (`[lease]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How long a lease holds without renewal. Default 30 s.
    pub ttl: Duration,
    /// How often it is renewed. Default 10 s.
    pub renew_every: Duration,
}

/// What a monitor checks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckKind {
    /// One SMTP server.
    Smtp {
        /// Host and port.
        target: Target,
        /// How to probe it.
        probe: ProbeSpec,
    },
    /// Every MX host of a domain (`mx:example.com`).
    Mx {
        /// The domain.
        domain: Domain,
        /// The port (25 unless `mx:example.com:2525`).
        port: u16,
        /// How to probe each host.
        probe: ProbeSpec,
    },
    /// A domain as senders honouring MTA-STS and DANE see it (`domain:example.com`): its records validated with
    /// DNSSEC, its MTA-STS policy, every MX host probed and judged under the policies.
    Domain {
        /// The domain.
        domain: Domain,
        /// The MX port (25 unless `domain:example.com:2525`).
        port: u16,
        /// How to probe each MX host.
        probe: ProbeSpec,
        /// The DNS server asked (`service.dns_server`; default: the system's), every answer validated here.
        dns_server: Option<SocketAddr>,
        /// The trust anchor (`service.trust_anchor_file`; default: the root key).
        trust_anchor: Option<String>,
        /// `connect_to = ["HOST=IP:PORT"]`: reach an MX host or the policy host `mta-sts.<domain>` there instead
        /// of its DNS addresses (staging hosts, private views); the names checked stay the real ones.
        connect_to: Vec<(String, SocketAddr)>,
    },
    /// A round trip: a test message submitted to `submit`, watched for in a mailbox over IMAP
    /// (`[monitors.roundtrip]`).
    RoundTrip {
        /// The submission server (`target`).
        submit: Target,
        /// How to submit: TLS, credentials, EHLO name, response-time and certificate thresholds; `timeout` is
        /// the round trip's deadline.
        probe: ProbeSpec,
        /// The mailbox side.
        roundtrip: Box<RoundTripSpec>,
    },
}

impl CheckKind {
    /// The host whose spacing the scheduler keeps: the server, or the domain for MX checks.
    pub fn destination(&self) -> &str {
        match self {
            CheckKind::Smtp { target, .. } => target.host(),
            CheckKind::Mx { domain, .. } | CheckKind::Domain { domain, .. } => domain.as_str(),
            CheckKind::RoundTrip { submit, .. } => submit.host(),
        }
    }

    /// As written people read it: `mx1.example.com:25`, `mx:example.com`, `domain:example.com`.
    pub fn describe(&self) -> String {
        match self {
            CheckKind::Smtp { target, .. } => target.to_string(),
            CheckKind::Mx { domain, port: 25, .. } => format!("mx:{domain}"),
            CheckKind::Mx { domain, port, .. } => format!("mx:{domain}:{port}"),
            CheckKind::Domain { domain, port: 25, .. } => format!("domain:{domain}"),
            CheckKind::Domain { domain, port, .. } => format!("domain:{domain}:{port}"),
            CheckKind::RoundTrip { submit, roundtrip, .. } => format!("roundtrip:{submit}->{}", roundtrip.imap),
        }
    }

    /// The probe settings.
    pub fn probe(&self) -> &ProbeSpec {
        match self {
            CheckKind::Smtp { probe, .. }
            | CheckKind::Mx { probe, .. }
            | CheckKind::Domain { probe, .. }
            | CheckKind::RoundTrip { probe, .. } => probe,
        }
    }
}

/// How to probe: the settings `smtp-probe` takes, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// TLS mode.
    pub tls: TlsMode,
    /// The name to verify in the certificate, if not the host.
    pub tls_name: Option<String>,
    /// Extra trusted CAs (PEM), with the file they came from.
    pub ca_pem: Option<(PathBuf, Vec<u8>)>,
    /// The EHLO name.
    pub ehlo_name: String,
    /// Credentials.
    pub auth: Option<AuthSpec>,
    /// MAIL FROM and RCPT TO (stopped with RSET: no mail is sent).
    pub envelope: Option<EnvelopeSpec>,
    /// A substring the greeting must contain.
    pub expect_greeting: Option<String>,
    /// EHLO keywords that must be offered.
    pub expect_capabilities: Vec<String>,
    /// The least SIZE the server must advertise.
    pub expect_min_size: Option<u64>,
    /// Response time above which the check is degraded / down.
    pub response_warning: Option<Duration>,
    /// Response time above which the check is down.
    pub response_critical: Option<Duration>,
    /// Certificate days below which the check is degraded.
    pub cert_days_warning: Option<u32>,
    /// Certificate days below which the check is down.
    pub cert_days_critical: Option<u32>,
    /// The whole check's deadline.
    pub timeout: Duration,
    /// Address ranges the check may connect to although their origin would deny them: an `mx:` check's hosts come
    /// from DNS, so loopback, link-local, unspecified and cloud-metadata addresses are refused unless listed here
    /// (`127.0.0.0/8` for MX hosts on this machine). Each is checked when the configuration is read.
    pub allow_addresses: Vec<String>,
}

/// Credentials for AUTH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSpec {
    /// User name.
    pub username: String,
    /// Password (from the environment or a file).
    pub password: Secret,
    /// Mechanisms, most preferred first.
    pub mechanisms: Vec<String>,
    /// Send credentials without TLS (off unless set: credentials go only over verified TLS).
    pub allow_plaintext: bool,
}

/// The mailbox side of a round trip (`[monitors.roundtrip]`): where the test message must arrive, and how to
/// look for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTripSpec {
    /// The IMAP server.
    pub imap: Target,
    /// How to reach it: implicit TLS (`imaps://`, port 993) or STARTTLS (`imap://`, port 143).
    pub imap_tls: TlsMode,
    /// The name to verify in the IMAP server's certificate, if not its host.
    pub imap_tls_name: Option<String>,
    /// The sender (MAIL FROM and From).
    pub from: String,
    /// The mailbox's address (RCPT TO and To).
    pub to: String,
    /// The IMAP user name (default: `to`).
    pub username: String,
    /// The IMAP password (from the environment or a file).
    pub password: Secret,
    /// The folder the message should land in (default `INBOX`).
    pub inbox: String,
    /// A second folder to look in (Junk, Spam): found there, the check is degraded.
    pub junk_folder: Option<String>,
    /// Delivery time (accepted to visible) above which the check is degraded.
    pub delivery_warning: Option<Duration>,
    /// Delivery time above which the check is down.
    pub delivery_critical: Option<Duration>,
    /// Log in to the mailbox without TLS (off unless set: the IMAP password goes only over verified TLS).
    pub allow_plaintext_login: bool,
}

/// The envelope to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSpec {
    /// MAIL FROM.
    pub from: String,
    /// RCPT TO, at least one.
    pub to: Vec<String>,
}

/// One monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Stable id (from `id`, else from the name).
    pub id: MonitorId,
    /// Display name.
    pub name: String,
    /// What it checks.
    pub check: CheckKind,
    /// Between regular checks, at least [`MIN_INTERVAL`].
    pub interval: Duration,
    /// Tags for grouping, figures and maintenance.
    pub tags: Vec<String>,
    /// Alert channels by name.
    pub channels: Vec<String>,
    /// A canary: when the canaries fail, the monitor's own connectivity is taken to be down.
    pub canary: bool,
    /// Incident rules.
    pub incident: IncidentPolicy,
    /// Alert rules.
    pub alert: AlertPolicy,
}

/// An alert channel (`[channels.<name>]`): where alerts go and how they are paced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Where and in which format.
    pub kind: ChannelKind,
    /// Timeouts, retries, rate limit, grouping (from `[delivery]`, overridden per channel).
    pub delivery: DeliverySettings,
}

/// What kind of channel, with its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelKind {
    /// A generic JSON webhook (the body is documented in the crate's README, versioned).
    Webhook {
        /// URL (may carry a token, so from `url`, `url_env` or `url_file`).
        url: Secret,
        /// Sent as `Authorization: Bearer …` (from `bearer_token_env` or `bearer_token_file`).
        bearer_token: Option<Secret>,
        /// Extra trusted CAs (PEM) for an `https://` URL, with the file they came from.
        ca_pem: Option<(PathBuf, Vec<u8>)>,
    },
    /// A Slack-compatible incoming webhook.
    Slack {
        /// Webhook URL (a secret: `url_env` or `url_file` only).
        url: Secret,
        /// Extra trusted CAs (PEM).
        ca_pem: Option<(PathBuf, Vec<u8>)>,
    },
    /// A Microsoft-Teams-compatible webhook (an Adaptive Card in a `message`, as Teams workflows take it).
    Teams {
        /// Webhook URL (a secret: `url_env` or `url_file` only).
        url: Secret,
        /// Extra trusted CAs (PEM).
        ca_pem: Option<(PathBuf, Vec<u8>)>,
    },
    /// Email through an SMTP relay.
    Email(EmailChannel),
}

impl ChannelKind {
    /// `webhook`, `slack`, `teams` or `email`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelKind::Webhook { .. } => "webhook",
            ChannelKind::Slack { .. } => "slack",
            ChannelKind::Teams { .. } => "teams",
            ChannelKind::Email(_) => "email",
        }
    }
}

/// Email through an SMTP relay. Credentials go only over TLS whose certificate verified: with a username, the
/// relay must use STARTTLS (required) or implicit TLS, unless `allow_plaintext` says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChannel {
    /// The relay: `smtp://host[:port]`, `submission://host` or `smtps://host` (the scheme sets the port and TLS).
    pub relay: Target,
    /// TLS towards the relay (from `tls`, else the scheme; required when credentials are set).
    pub tls: TlsMode,
    /// The name to verify in the relay's certificate, if not its host.
    pub tls_name: Option<String>,
    /// Extra trusted CAs (PEM) with the file they came from.
    pub ca_pem: Option<(PathBuf, Vec<u8>)>,
    /// From address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Relay user.
    pub username: Option<String>,
    /// Relay password.
    pub password: Option<Secret>,
    /// Send credentials without verified TLS (off unless set).
    pub allow_plaintext: bool,
}

/// How a channel's alerts are delivered (`[delivery]`, and the same keys in a channel to override them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// One attempt's deadline. Default 10 s (email 30 s).
    pub timeout: Duration,
    /// The first retry's delay; it doubles with each failure, with jitter. Default 10 s.
    pub retry_initial: Duration,
    /// The longest delay between attempts (a longer `Retry-After` is cut to it). Default 10 min.
    pub retry_max: Duration,
    /// An alert not delivered this long after it was decided is given up (status `failed`). Default 24 h.
    pub give_up_after: Duration,
    /// Messages per minute at most. Default 30 (email 10).
    pub max_per_minute: u32,
    /// Messages that may go at once before the rate applies. Default 5.
    pub burst: u32,
    /// Requests in flight at once. Default 2 (email 1).
    pub concurrency: usize,
    /// Collect alerts this long and send them as one message (`None`: one message per alert, at once).
    pub group_wait: Option<Duration>,
    /// With grouping, the least time between two messages. Default 1 min.
    pub group_interval: Duration,
}

impl DeliverySettings {
    /// The defaults for a kind of channel (`email` is slower and more conservative than webhooks).
    pub fn defaults_for(kind: &str) -> DeliverySettings {
        let email = kind == "email";
        DeliverySettings {
            timeout: Duration::from_secs(if email { 30 } else { 10 }),
            retry_initial: Duration::from_secs(10),
            retry_max: Duration::from_secs(600),
            give_up_after: Duration::from_secs(24 * 3600),
            max_per_minute: if email { 10 } else { 30 },
            burst: 5,
            concurrency: if email { 1 } else { 2 },
            group_wait: None,
            group_interval: Duration::from_secs(60),
        }
    }
}

// ------------------------------------------------------------------------------------------------ raw TOML

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    service: RawService,
    storage: Option<Spanned<RawStorage>>,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    scheduler: RawScheduler,
    #[serde(default)]
    lease: RawLease,
    #[serde(default)]
    incidents: RawIncidents,
    #[serde(default)]
    alerts: RawAlerts,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    monitors: Vec<Spanned<RawMonitor>>,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    channels: BTreeMap<String, Spanned<RawChannel>>,
    #[serde(default)]
    maintenance: Vec<Spanned<RawMaintenance>>,
    #[serde(default)]
    http: http::RawHttp,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawService {
    data_dir: Option<String>,
    listen: Option<Spanned<String>>,
    instance: Option<String>,
    ehlo_name: Option<String>,
    dns_server: Option<Spanned<String>>,
    trust_anchor_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
enum RawStorage {
    Sqlite {
        path: Option<String>,
    },
    Postgres {
        url: Option<String>,
        url_env: Option<String>,
        password_env: Option<String>,
        password_file: Option<String>,
        max_connections: Option<u32>,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    raw: Option<Spanned<String>>,
    rollups: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScheduler {
    max_concurrency: Option<usize>,
    min_host_spacing: Option<Spanned<String>>,
    min_interval: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLease {
    ttl: Option<Spanned<String>>,
    renew_every: Option<Spanned<String>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawIncidents {
    confirm: Option<bool>,
    recheck_after: Option<Spanned<String>>,
    open_after: Option<Spanned<u32>>,
    close_after: Option<Spanned<u32>>,
    flap_window: Option<u32>,
    flap_start: Option<u32>,
    flap_stop: Option<u32>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    alert_on_degraded: Option<bool>,
    reminder_every: Option<Spanned<String>>,
    certificate_days: Option<Vec<u32>>,
    policy_changes: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    channels: Option<Vec<Spanned<String>>>,
    ehlo_name: Option<String>,
    ca_file: Option<Spanned<String>>,
    allow_addresses: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitor {
    name: Spanned<String>,
    id: Option<Spanned<String>>,
    target: Spanned<String>,
    tls: Option<Spanned<String>>,
    tls_name: Option<String>,
    ca_file: Option<Spanned<String>>,
    ehlo_name: Option<String>,
    auth: Option<Spanned<RawAuth>>,
    envelope: Option<RawEnvelope>,
    #[serde(default)]
    expect: RawExpect,
    #[serde(default)]
    thresholds: RawThresholds,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    allow_addresses: Option<Vec<Spanned<String>>>,
    connect_to: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    tags: Vec<String>,
    channels: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    canary: bool,
    incidents: Option<RawIncidents>,
    alerts: Option<RawAlerts>,
    roundtrip: Option<Spanned<RawRoundTrip>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoundTrip {
    imap: Spanned<String>,
    imap_tls_name: Option<String>,
    from: String,
    to: String,
    username: Option<String>,
    password: Option<Spanned<String>>,
    password_env: Option<String>,
    password_file: Option<String>,
    inbox: Option<String>,
    junk_folder: Option<String>,
    delivery_warning: Option<Spanned<String>>,
    delivery_critical: Option<Spanned<String>>,
    #[serde(default)]
    allow_plaintext_login: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    username: String,
    password: Option<Spanned<String>>,
    password_env: Option<String>,
    password_file: Option<String>,
    mechanisms: Option<Vec<String>>,
    #[serde(default)]
    allow_plaintext: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    from: String,
    to: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    greeting: Option<String>,
    #[serde(default)]
    capabilities: Vec<String>,
    min_size: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    response_warning: Option<Spanned<String>>,
    response_critical: Option<Spanned<String>>,
    certificate_days_warning: Option<u32>,
    certificate_days_critical: Option<u32>,
}

/// `[delivery]`, and the same keys inside a channel.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    timeout: Option<Spanned<String>>,
    retry_initial: Option<Spanned<String>>,
    retry_max: Option<Spanned<String>>,
    give_up_after: Option<Spanned<String>>,
    max_per_minute: Option<Spanned<u32>>,
    burst: Option<Spanned<u32>>,
    concurrency: Option<Spanned<usize>>,
    group_wait: Option<Spanned<String>>,
    group_interval: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    url: Option<String>,
    url_env: Option<String>,
    url_file: Option<String>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<String>,
    ca_file: Option<Spanned<String>>,
    relay: Option<Spanned<String>>,
    tls: Option<Spanned<String>>,
    tls_name: Option<String>,
    from: Option<String>,
    to: Option<Vec<String>>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    #[serde(default)]
    allow_plaintext: bool,
    // The [delivery] keys, overriding it for this channel (listed, not flattened: flattening loses the spans).
    timeout: Option<Spanned<String>>,
    retry_initial: Option<Spanned<String>>,
    retry_max: Option<Spanned<String>>,
    give_up_after: Option<Spanned<String>>,
    max_per_minute: Option<Spanned<u32>>,
    burst: Option<Spanned<u32>>,
    concurrency: Option<Spanned<usize>>,
    group_wait: Option<Spanned<String>>,
    group_interval: Option<Spanned<String>>,
}

impl RawChannel {
    /// This channel's delivery keys over `base` (the `[delivery]` section).
    fn delivery_over(&self, base: &RawDelivery) -> RawDelivery {
        RawDelivery {
            timeout: self.timeout.clone().or_else(|| base.timeout.clone()),
            retry_initial: self.retry_initial.clone().or_else(|| base.retry_initial.clone()),
            retry_max: self.retry_max.clone().or_else(|| base.retry_max.clone()),
            give_up_after: self.give_up_after.clone().or_else(|| base.give_up_after.clone()),
            max_per_minute: self.max_per_minute.clone().or_else(|| base.max_per_minute.clone()),
            burst: self.burst.clone().or_else(|| base.burst.clone()),
            concurrency: self.concurrency.clone().or_else(|| base.concurrency.clone()),
            group_wait: self.group_wait.clone().or_else(|| base.group_wait.clone()),
            group_interval: self.group_interval.clone().or_else(|| base.group_interval.clone()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintenance {
    name: String,
    start: Spanned<RawDatetime>,
    duration: Spanned<String>,
    #[serde(default)]
    repeat: Option<Spanned<String>>,
    every: Option<u32>,
    weekdays: Option<Vec<Spanned<String>>>,
    until: Option<Spanned<RawDatetime>>,
    #[serde(default)]
    monitors: Vec<Spanned<String>>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDatetime {
    Toml(toml::value::Datetime),
    Text(String),
}

// ------------------------------------------------------------------------------------------------ loading

/// Looks up an environment variable (injectable for tests).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Reads and validates a configuration file. Relative paths in it are relative to its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml_str(&text, base)
    }

    /// Validates a configuration given as text; `base` resolves relative paths. Secrets come from the process
    /// environment.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Config, ConfigError> {
        Config::from_toml_with_env(text, base, &|name| std::env::var(name).ok())
    }

    /// As [`Config::from_toml_str`], with environment look-ups through `env`.
    pub fn from_toml_with_env(text: &str, base: &Path, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let raw: RawConfig = {
            let de = toml::de::Deserializer::parse(text).map_err(|e| syntax_error(text, &e, String::new()))?;
            serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                syntax_error(text, e.inner(), if path == "." { String::new() } else { path })
            })?
        };
        Builder { text, base, env }.build(raw)
    }

    /// The monitor with this id.
    pub fn monitor(&self, id: &MonitorId) -> Option<&MonitorConfig> {
        self.monitors.iter().find(|m| &m.id == id)
    }
}

fn syntax_error(text: &str, e: &toml::de::Error, field: String) -> ConfigError {
    let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
    ConfigError::Invalid { line, column, field, message: e.message().trim().to_owned() }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |i| before[i + 1..].chars().count()) + 1;
    (line, column)
}

struct Builder<'a> {
    text: &'a str,
    base: &'a Path,
    env: EnvLookup<'a>,
}

impl Builder<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        let (line, column) = line_col(self.text, span.start);
        Err(ConfigError::Invalid { line, column, field: field.into(), message: message.into() })
    }

    fn duration(&self, value: &Spanned<String>, field: &str) -> Result<Duration, ConfigError> {
        humantime::parse_duration(value.get_ref().trim()).or_else(|e| {
            self.err(
                value.span(),
                field,
                format!("not a duration ({e}); write e.g. \"30s\", \"5m\", \"1h 30m\", \"7d\""),
            )
        })
    }

    fn opt_duration(
        &self,
        value: &Option<Spanned<String>>,
        field: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        value.as_ref().map_or(Ok(default), |v| self.duration(v, field))
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) }
    }

    /// A secret from `*_env` or `*_file`; an inline value is refused.
    fn secret(
        &self,
        span: std::ops::Range<usize>,
        field: &str,
        inline: Option<&str>,
        env_var: Option<&str>,
        file: Option<&str>,
        inline_ok: bool,
    ) -> Result<Option<Secret>, ConfigError> {
        match (inline, env_var, file) {
            (None, None, None) => Ok(None),
            (Some(v), None, None) if inline_ok => Ok(Some(Secret(v.to_owned()))),
            (Some(_), None, None) => self.err(
                span,
                field,
                format!("secrets are not accepted inline: use {field}_env (an environment variable) or {field}_file"),
            ),
            (None, Some(var), None) => match (self.env)(var) {
                Some(v) if !v.is_empty() => Ok(Some(Secret(v))),
                _ => self.err(
                    span,
                    format!("{field}_env"),
                    format!("the environment variable {var} is not set or empty"),
                ),
            },
            (None, None, Some(file)) => {
                let path = self.path(file);
                match std::fs::read_to_string(&path) {
                    Ok(v) => {
                        let v = v.trim_end_matches(['\r', '\n']).to_owned();
                        if v.is_empty() {
                            return self.err(span, format!("{field}_file"), format!("{} is empty", path.display()));
                        }
                        Ok(Some(Secret(v)))
                    }
                    Err(e) => self.err(span, format!("{field}_file"), format!("{}: {e}", path.display())),
                }
            }
            _ => self.err(span, field, format!("give only one of {field}, {field}_env and {field}_file")),
        }
    }

    fn build(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let service = self.service(&raw.service)?;
        let storage = self.storage(raw.storage.as_ref(), &service)?;
        let retention = Retention {
            raw: self.opt_duration(&raw.retention.raw, "retention.raw", Duration::from_secs(30 * 86_400))?,
            rollups: self.opt_duration(
                &raw.retention.rollups,
                "retention.rollups",
                Duration::from_secs(400 * 86_400),
            )?,
        };
        if retention.raw < Duration::from_secs(3600) {
            return self.err(
                raw.retention.raw.as_ref().map_or(0..0, |s| s.span()),
                "retention.raw",
                "keep raw results for at least 1h",
            );
        }
        let scheduler = SchedulerLimits {
            max_concurrency: raw.scheduler.max_concurrency.unwrap_or(256).max(1),
            min_host_spacing: self.opt_duration(
                &raw.scheduler.min_host_spacing,
                "scheduler.min_host_spacing",
                Duration::from_secs(1),
            )?,
        };
        let min_interval = self.opt_duration(&raw.scheduler.min_interval, "scheduler.min_interval", MIN_INTERVAL)?;
        if min_interval < Duration::from_secs(1) {
            return self.err(
                raw.scheduler.min_interval.as_ref().map_or(0..0, |s| s.span()),
                "scheduler.min_interval",
                "at least 1s",
            );
        }
        let lease = LeaseConfig {
            ttl: self.opt_duration(&raw.lease.ttl, "lease.ttl", Duration::from_secs(30))?,
            renew_every: self.opt_duration(&raw.lease.renew_every, "lease.renew_every", Duration::from_secs(10))?,
        };
        if lease.renew_every * 2 > lease.ttl {
            return self.err(
                raw.lease.renew_every.as_ref().map_or(0..0, |s| s.span()),
                "lease.renew_every",
                "renew at least twice per ttl",
            );
        }

        let mut channels = BTreeMap::new();
        for (name, ch) in &raw.channels {
            channels.insert(name.clone(), self.channel(name, ch, &raw.delivery)?);
        }
        // The [delivery] section is checked even with no channel using it: a typo should not wait for one.
        self.delivery("delivery", &raw.delivery, "webhook")?;

        let default_channels: Vec<String> = match &raw.defaults.channels {
            Some(list) => {
                for c in list {
                    if !channels.contains_key(c.get_ref()) {
                        return self.err(c.span(), "defaults.channels", format!("no channel named {:?}", c.get_ref()));
                    }
                }
                list.iter().map(|c| c.get_ref().clone()).collect()
            }
            None => Vec::new(),
        };
        let default_interval =
            self.opt_duration(&raw.defaults.interval, "defaults.interval", Duration::from_secs(60))?;
        let default_timeout = self.opt_duration(&raw.defaults.timeout, "defaults.timeout", Duration::from_secs(10))?;
        let default_ca = match &raw.defaults.ca_file {
            Some(f) => Some(self.read_ca(f, "defaults.ca_file")?),
            None => None,
        };
        let default_allow = self.address_ranges(raw.defaults.allow_addresses.as_deref(), "defaults.allow_addresses")?;

        let mut monitors = Vec::with_capacity(raw.monitors.len());
        let mut ids = BTreeMap::new();
        for (i, m) in raw.monitors.iter().enumerate() {
            let field = format!("monitors[{i}]");
            let defaults = Defaults {
                min_interval,
                interval: default_interval,
                timeout: default_timeout,
                channels: &default_channels,
                ehlo: raw.defaults.ehlo_name.as_deref().unwrap_or(&service.ehlo_name),
                ca: default_ca.as_ref(),
                allow_addresses: default_allow.as_deref().unwrap_or_default(),
                incidents: &raw.incidents,
                alerts: &raw.alerts,
                dns_server: service.dns_server,
                trust_anchor: service.trust_anchor.as_deref(),
            };
            let monitor = self.monitor(&field, m.get_ref(), &defaults, &channels)?;
            if let Some(prev) = ids.insert(monitor.id.clone(), i) {
                let span = m.get_ref().id.as_ref().map_or(m.get_ref().name.span(), |s| s.span());
                return self.err(
                    span,
                    format!("{field}.id"),
                    format!("id {} is already used by monitors[{prev}]; give one of them an `id`", monitor.id),
                );
            }
            monitors.push(monitor);
        }

        let mut maintenance = Vec::new();
        for (i, w) in raw.maintenance.iter().enumerate() {
            maintenance.push(self.maintenance(&format!("maintenance[{i}]"), w, &ids)?);
        }

        let http = self.http(&raw.http, &service, &monitors)?;
        Ok(Config { service, storage, retention, scheduler, lease, monitors, channels, maintenance, http })
    }

    fn service(&self, raw: &RawService) -> Result<ServiceConfig, ConfigError> {
        let listen = match &raw.listen {
            Some(l) => match l.get_ref().parse() {
                Ok(a) => a,
                Err(_) => return self.err(l.span(), "service.listen", "not an address:port (e.g. 127.0.0.1:8080)"),
            },
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let dns_server = match &raw.dns_server {
            Some(d) => match d.get_ref().parse() {
                Ok(a) => Some(a),
                Err(_) => return self.err(d.span(), "service.dns_server", "not an address:port (e.g. 127.0.0.1:53)"),
            },
            None => None,
        };
        let trust_anchor = match &raw.trust_anchor_file {
            Some(f) => match std::fs::read_to_string(self.path(f.get_ref())) {
                Ok(text) => Some(text),
                Err(e) => return self.err(f.span(), "service.trust_anchor_file", format!("cannot read it: {e}")),
            },
            None => None,
        };
        let instance = raw.instance.clone().unwrap_or_else(default_instance_name);
        Ok(ServiceConfig {
            trust_anchor,
            data_dir: self.path(raw.data_dir.as_deref().unwrap_or("data")),
            listen,
            instance,
            ehlo_name: raw.ehlo_name.clone().unwrap_or_else(|| "localhost".into()),
            dns_server,
        })
    }

    fn storage(
        &self,
        raw: Option<&Spanned<RawStorage>>,
        service: &ServiceConfig,
    ) -> Result<StorageConfig, ConfigError> {
        let Some(raw) = raw else {
            return Ok(StorageConfig::Sqlite { path: service.data_dir.join("monitor.db") });
        };
        Ok(match raw.get_ref() {
            RawStorage::Sqlite { path } => StorageConfig::Sqlite {
                path: path.as_deref().map_or_else(
                    || service.data_dir.join("monitor.db"),
                    |p| {
                        let p = Path::new(p);
                        if p.is_absolute() { p.to_path_buf() } else { service.data_dir.join(p) }
                    },
                ),
            },
            RawStorage::Postgres { url, url_env, password_env, password_file, max_connections } => {
                let url = match (url, url_env) {
                    (Some(_), Some(_)) => return self.err(raw.span(), "storage.url", "give url or url_env, not both"),
                    (None, None) => {
                        return self.err(raw.span(), "storage.url", "a PostgreSQL URL is needed (url or url_env)");
                    }
                    (None, Some(var)) => match (self.env)(var) {
                        Some(v) if !v.is_empty() => v,
                        _ => {
                            return self.err(
                                raw.span(),
                                "storage.url_env",
                                format!("the environment variable {var} is not set or empty"),
                            );
                        }
                    },
                    (Some(u), None) => {
                        if url_has_password(u) {
                            return self.err(raw.span(), "storage.url", "no passwords inline: put it in password_env or password_file (or the whole URL in url_env)");
                        }
                        u.clone()
                    }
                };
                let password = self.secret(
                    raw.span(),
                    "storage.password",
                    None,
                    password_env.as_deref(),
                    password_file.as_deref(),
                    false,
                )?;
                let url = match password {
                    Some(p) => with_password(&url, p.expose()).or_else(|m| self.err(raw.span(), "storage.url", m))?,
                    None => url,
                };
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return self.err(raw.span(), "storage.url", "must start with postgres:// or postgresql://");
                }
                StorageConfig::Postgres { url: Secret(url), max_connections: max_connections.unwrap_or(8).max(2) }
            }
        })
    }

    fn channel(
        &self,
        name: &str,
        raw: &Spanned<RawChannel>,
        delivery: &RawDelivery,
    ) -> Result<ChannelConfig, ConfigError> {
        let field = format!("channels.{name}");
        let span = raw.span();
        let r = raw.get_ref();
        if MonitorId::parse(name).is_none() {
            return self.err(span, &field, "channel names are lower-case letters, digits and '-'");
        }
        let kind = r.kind.get_ref().as_str();
        // Keys that belong to another type of channel are refused by name, not ignored.
        let http_keys =
            [("url", r.url.is_some()), ("url_env", r.url_env.is_some()), ("url_file", r.url_file.is_some())];
        let webhook_keys =
            [("bearer_token_env", r.bearer_token_env.is_some()), ("bearer_token_file", r.bearer_token_file.is_some())];
        let email_keys = [
            ("relay", r.relay.is_some()),
            ("tls", r.tls.is_some()),
            ("tls_name", r.tls_name.is_some()),
            ("from", r.from.is_some()),
            ("to", r.to.is_some()),
            ("username", r.username.is_some()),
            ("password", r.password.is_some()),
            ("password_env", r.password_env.is_some()),
            ("password_file", r.password_file.is_some()),
            ("allow_plaintext", r.allow_plaintext),
        ];
        let refuse = |keys: &[(&str, bool)]| -> Result<(), ConfigError> {
            match keys.iter().find(|(_, set)| *set) {
                Some((key, _)) => {
                    self.err(span.clone(), format!("{field}.{key}"), format!("not a setting of a {kind} channel"))
                }
                None => Ok(()),
            }
        };
        let ca_pem = match &r.ca_file {
            Some(f) => Some(self.read_ca(f, &format!("{field}.ca_file"))?),
            None => None,
        };
        let url = |inline_ok: bool| match self.secret(
            span.clone(),
            &format!("{field}.url"),
            r.url.as_deref(),
            r.url_env.as_deref(),
            r.url_file.as_deref(),
            inline_ok,
        )? {
            Some(u) if u.expose().starts_with("https://") || u.expose().starts_with("http://") => {
                match reqwest::Url::parse(u.expose()) {
                    Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(u),
                    _ => self.err(span.clone(), format!("{field}.url"), "not a valid URL"),
                }
            }
            Some(_) => self.err(span.clone(), format!("{field}.url"), "must be an http:// or https:// URL"),
            None => self.err(span.clone(), format!("{field}.url"), "a URL is needed (url, url_env or url_file)"),
        };
        let kind = match kind {
            // A generic webhook's URL may be plain; Slack and Teams URLs are bearer secrets.
            "webhook" => {
                refuse(&email_keys)?;
                let bearer_token = self.secret(
                    span.clone(),
                    &format!("{field}.bearer_token"),
                    None,
                    r.bearer_token_env.as_deref(),
                    r.bearer_token_file.as_deref(),
                    false,
                )?;
                if bearer_token.as_ref().is_some_and(|t| t.expose().chars().any(|c| c.is_control() || c == ' ')) {
                    return self.err(
                        span,
                        format!("{field}.bearer_token"),
                        "a token has no spaces or control characters",
                    );
                }
                ChannelKind::Webhook { url: url(true)?, bearer_token, ca_pem }
            }
            "slack" | "teams" => {
                refuse(&email_keys)?;
                refuse(&webhook_keys)?;
                let url = url(false)?;
                if kind == "slack" { ChannelKind::Slack { url, ca_pem } } else { ChannelKind::Teams { url, ca_pem } }
            }
            "email" => {
                refuse(&http_keys)?;
                refuse(&webhook_keys)?;
                ChannelKind::Email(self.email_channel(&field, raw, ca_pem)?)
            }
            other => {
                return self.err(
                    r.kind.span(),
                    format!("{field}.type"),
                    format!("{other:?}: one of webhook, slack, teams, email"),
                );
            }
        };
        let delivery = self.delivery(&field, &r.delivery_over(delivery), kind.as_str())?;
        Ok(ChannelConfig { kind, delivery })
    }

    fn email_channel(
        &self,
        field: &str,
        raw: &Spanned<RawChannel>,
        ca_pem: Option<(PathBuf, Vec<u8>)>,
    ) -> Result<EmailChannel, ConfigError> {
        let span = raw.span();
        let r = raw.get_ref();
        let Some(relay_text) = &r.relay else {
            return self.err(
                span,
                format!("{field}.relay"),
                "a relay is needed: smtp://host[:port], submission://host or smtps://host",
            );
        };
        let relay = relay_text.get_ref().trim().parse::<Target>().or_else(|e| {
            self.err(
                relay_text.span(),
                format!("{field}.relay"),
                format!("{e}; use smtp://host[:port], submission://host or smtps://host"),
            )
        })?;
        let (Some(from), Some(to)) = (&r.from, &r.to) else {
            return self.err(span, field, "from and to are needed");
        };
        if to.is_empty() {
            return self.err(span, format!("{field}.to"), "at least one recipient");
        }
        for a in std::iter::once(from).chain(to) {
            if a.parse::<lettre::Address>().is_err() {
                return self.err(span, field, format!("{a:?} is not an email address"));
            }
        }
        let password = self.secret(
            span.clone(),
            &format!("{field}.password"),
            r.password.as_deref(),
            r.password_env.as_deref(),
            r.password_file.as_deref(),
            false,
        )?;
        if password.is_some() != r.username.is_some() {
            return self.err(span, field, "username and password go together");
        }
        let tls = match &r.tls {
            None => match relay.tls_mode() {
                Some(mode) => mode,
                // A bare host:port: STARTTLS, required when credentials are to be sent.
                None if r.username.is_some() => TlsMode::StartTlsRequired,
                None => TlsMode::StartTlsOpportunistic,
            },
            Some(t) => match t.get_ref().as_str() {
                "none" => TlsMode::None,
                "opportunistic" => TlsMode::StartTlsOpportunistic,
                "required" | "starttls" => TlsMode::StartTlsRequired,
                "implicit" => TlsMode::Implicit,
                _ => {
                    return self.err(
                        t.span(),
                        format!("{field}.tls"),
                        "one of none, opportunistic, required, implicit",
                    );
                }
            },
        };
        // smtp:// means "STARTTLS when offered"; with credentials it must be offered.
        let tls = if r.username.is_some() && tls == TlsMode::StartTlsOpportunistic && r.tls.is_none() {
            TlsMode::StartTlsRequired
        } else {
            tls
        };
        if r.username.is_some() && !matches!(tls, TlsMode::StartTlsRequired | TlsMode::Implicit) && !r.allow_plaintext {
            return self.err(
                span,
                format!("{field}.tls"),
                "credentials go only over verified TLS: use tls = \"required\" or \"implicit\" (or allow_plaintext = true)",
            );
        }
        Ok(EmailChannel {
            relay,
            tls,
            tls_name: r.tls_name.clone(),
            ca_pem,
            from: from.clone(),
            to: to.clone(),
            username: r.username.clone(),
            password,
            allow_plaintext: r.allow_plaintext,
        })
    }

    fn delivery(&self, field: &str, r: &RawDelivery, kind: &str) -> Result<DeliverySettings, ConfigError> {
        let d = DeliverySettings::defaults_for(kind);
        let dur = |v: &Option<Spanned<String>>, name: &str, default: Duration| {
            self.opt_duration(v, &format!("{field}.{name}"), default)
        };
        let timeout = dur(&r.timeout, "timeout", d.timeout)?;
        let retry_initial = dur(&r.retry_initial, "retry_initial", d.retry_initial)?;
        let retry_max = dur(&r.retry_max, "retry_max", d.retry_max)?;
        let give_up_after = dur(&r.give_up_after, "give_up_after", d.give_up_after)?;
        let group_interval = dur(&r.group_interval, "group_interval", d.group_interval)?;
        let group_wait = dur(&r.group_wait, "group_wait", Duration::ZERO)?;
        let span_of = |v: &Option<Spanned<String>>| v.as_ref().map_or(0..0, |s| s.span());
        if timeout.is_zero() || timeout > Duration::from_secs(300) {
            return self.err(span_of(&r.timeout), format!("{field}.timeout"), "more than zero and at most 5m");
        }
        if retry_initial.is_zero() || retry_initial > retry_max {
            return self.err(
                span_of(&r.retry_initial),
                format!("{field}.retry_initial"),
                "more than zero and at most retry_max",
            );
        }
        if give_up_after < retry_initial {
            return self.err(
                span_of(&r.give_up_after),
                format!("{field}.give_up_after"),
                "at least retry_initial: an alert deserves a second try",
            );
        }
        let count = |v: &Option<Spanned<u32>>, name: &str, default: u32, max: u32| match v {
            Some(n) if *n.get_ref() == 0 || *n.get_ref() > max => {
                self.err(n.span(), format!("{field}.{name}"), format!("1 to {max}"))
            }
            Some(n) => Ok(*n.get_ref()),
            None => Ok(default),
        };
        let max_per_minute = count(&r.max_per_minute, "max_per_minute", d.max_per_minute, 6000)?;
        let burst = count(&r.burst, "burst", d.burst, 1000)?;
        let concurrency = match &r.concurrency {
            Some(n) if *n.get_ref() == 0 || *n.get_ref() > 64 => {
                return self.err(n.span(), format!("{field}.concurrency"), "1 to 64");
            }
            Some(n) => *n.get_ref(),
            None => d.concurrency,
        };
        Ok(DeliverySettings {
            timeout,
            retry_initial,
            retry_max,
            give_up_after,
            max_per_minute,
            burst,
            concurrency,
            group_wait: (!group_wait.is_zero()).then_some(group_wait),
            group_interval,
        })
    }

    /// Address ranges (`127.0.0.0/8`, `10.1.2.3`), each one checked.
    fn address_ranges(
        &self,
        list: Option<&[Spanned<String>]>,
        field: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(list) = list else { return Ok(None) };
        for range in list {
            if let Err(e) = AddressPolicy::default().allow(range.get_ref()) {
                return self.err(range.span(), field, e.to_string());
            }
        }
        Ok(Some(list.iter().map(|r| r.get_ref().trim().to_owned()).collect()))
    }

    fn read_ca(&self, file: &Spanned<String>, field: &str) -> Result<(PathBuf, Vec<u8>), ConfigError> {
        let path = self.path(file.get_ref());
        match std::fs::read(&path) {
            Ok(pem) if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => Ok((path, pem)),
            Ok(_) => self.err(file.span(), field, format!("{} holds no PEM certificate", path.display())),
            Err(e) => self.err(file.span(), field, format!("{}: {e}", path.display())),
        }
    }

    fn monitor(
        &self,
        field: &str,
        m: &RawMonitor,
        d: &Defaults<'_>,
        channels: &BTreeMap<String, ChannelConfig>,
    ) -> Result<MonitorConfig, ConfigError> {
        let name = m.name.get_ref().trim().to_owned();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return self.err(m.name.span(), format!("{field}.name"), "a name of 1 to 200 printable characters");
        }
        let id = match &m.id {
            Some(id) => MonitorId::parse(id.get_ref()).ok_or(()).or_else(|()| {
                self.err(
                    id.span(),
                    format!("{field}.id"),
                    "lower-case letters, digits and '-', at most 64, not starting or ending with '-'",
                )
            })?,
            None => MonitorId::from_name(&name).ok_or(()).or_else(|()| {
                self.err(
                    m.name.span(),
                    format!("{field}.name"),
                    "the name has no letters or digits to make an id from; set `id`",
                )
            })?,
        };
        let is_roundtrip = m.roundtrip.is_some();
        let (default_interval, min_interval) =
            if is_roundtrip { (ROUNDTRIP_INTERVAL, ROUNDTRIP_MIN_INTERVAL) } else { (d.interval, d.min_interval) };
        let interval = self.opt_duration(&m.interval, &format!("{field}.interval"), default_interval)?;
        if is_roundtrip && interval < min_interval {
            let span = m.interval.as_ref().map_or(m.name.span(), |s| s.span());
            return self.err(
                span,
                format!("{field}.interval"),
                format!(
                    "at least {} for a round trip: each check sends a real message",
                    humantime::format_duration(min_interval)
                ),
            );
        }
        if interval < min_interval {
            let span = m.interval.as_ref().map_or(m.name.span(), |s| s.span());
            return self.err(
                span,
                format!("{field}.interval"),
                format!(
                    "at least {}: receivers rate-limit and block monitors that connect too often \
                     (scheduler.min_interval lowers the floor for servers you run yourself)",
                    humantime::format_duration(d.min_interval)
                ),
            );
        }
        let default_timeout = if is_roundtrip { ROUNDTRIP_TIMEOUT.min(interval / 2) } else { d.timeout };
        let timeout = self.opt_duration(&m.timeout, &format!("{field}.timeout"), default_timeout)?;
        if timeout.is_zero() || timeout >= interval {
            let span = m.timeout.as_ref().map_or(m.name.span(), |s| s.span());
            return self.err(span, format!("{field}.timeout"), "more than zero and less than the interval");
        }

        let tls_field = format!("{field}.tls");
        let explicit_tls = match &m.tls {
            None => None,
            Some(t) => Some(match t.get_ref().as_str() {
                "none" => TlsMode::None,
                "opportunistic" => TlsMode::StartTlsOpportunistic,
                "required" | "starttls" => TlsMode::StartTlsRequired,
                "implicit" => TlsMode::Implicit,
                _ => return self.err(t.span(), tls_field, "one of none, opportunistic, required, implicit"),
            }),
        };
        let auth = match &m.auth {
            None => None,
            Some(a) => {
                let r = a.get_ref();
                let password = self
                    .secret(
                        a.span(),
                        &format!("{field}.auth.password"),
                        r.password.as_ref().map(|p| p.get_ref().as_str()),
                        r.password_env.as_deref(),
                        r.password_file.as_deref(),
                        false,
                    )?
                    .ok_or(())
                    .or_else(|()| {
                        self.err(
                            a.span(),
                            format!("{field}.auth.password"),
                            "a password is needed (password_env or password_file)",
                        )
                    })?;
                Some(AuthSpec {
                    username: r.username.clone(),
                    password,
                    mechanisms: r.mechanisms.clone().unwrap_or_else(|| vec!["PLAIN".into(), "LOGIN".into()]),
                    allow_plaintext: r.allow_plaintext,
                })
            }
        };
        let ca_pem = match &m.ca_file {
            Some(f) => Some(self.read_ca(f, &format!("{field}.ca_file"))?),
            None => d.ca.cloned(),
        };
        let th = &m.thresholds;
        let opt = |v: &Option<Spanned<String>>, f: &str| {
            v.as_ref().map(|v| self.duration(v, &format!("{field}.thresholds.{f}"))).transpose()
        };
        let mut probe = ProbeSpec {
            tls: TlsMode::StartTlsOpportunistic,
            tls_name: m.tls_name.clone(),
            ca_pem,
            ehlo_name: m.ehlo_name.clone().unwrap_or_else(|| d.ehlo.to_owned()),
            auth,
            envelope: m.envelope.as_ref().map(|e| EnvelopeSpec { from: e.from.clone(), to: e.to.clone() }),
            expect_greeting: m.expect.greeting.clone(),
            expect_capabilities: m.expect.capabilities.clone(),
            expect_min_size: m.expect.min_size,
            response_warning: opt(&th.response_warning, "response_warning")?,
            response_critical: opt(&th.response_critical, "response_critical")?,
            cert_days_warning: th.certificate_days_warning,
            cert_days_critical: th.certificate_days_critical,
            timeout,
            allow_addresses: self
                .address_ranges(m.allow_addresses.as_deref(), &format!("{field}.allow_addresses"))?
                .unwrap_or_else(|| d.allow_addresses.to_vec()),
        };

        let target_text = m.target.get_ref().trim();
        let check = if let Some(rt) = &m.roundtrip {
            if m.envelope.is_some() {
                return self.err(
                    rt.span(),
                    format!("{field}.envelope"),
                    "a round trip's envelope is roundtrip.from and roundtrip.to",
                );
            }
            let submit = submission_target(target_text).or_else(|e| {
                self.err(m.target.span(), format!("{field}.target"), format!("the submission server: {e}"))
            })?;
            probe.tls = explicit_tls.or(submit.tls_mode()).unwrap_or(TlsMode::StartTlsRequired);
            let roundtrip = Box::new(self.roundtrip(&format!("{field}.roundtrip"), rt)?);
            CheckKind::RoundTrip { submit, probe, roundtrip }
        } else if let Some((rest, is_domain)) = target_text
            .strip_prefix("domain:")
            .map(|rest| (rest, true))
            .or_else(|| target_text.strip_prefix("mx:").map(|r| (r, false)))
        {
            let (domain, port) = match rest.rsplit_once(':') {
                Some((d, p)) => match p.parse::<u16>() {
                    Ok(p) if p > 0 => (d, p),
                    _ => {
                        return self.err(
                            m.target.span(),
                            format!("{field}.target"),
                            "the port after the domain must be 1 to 65535",
                        );
                    }
                },
                None => (rest, 25),
            };
            let domain = domain
                .parse::<Domain>()
                .or_else(|e| self.err(m.target.span(), format!("{field}.target"), e.to_string()))?;
            probe.tls = explicit_tls.unwrap_or(TlsMode::StartTlsOpportunistic);
            if is_domain {
                let mut connect_to = Vec::new();
                for entry in m.connect_to.iter().flatten() {
                    let parsed = entry.get_ref().split_once('=').and_then(|(host, addr)| {
                        let host = host.trim().parse::<Domain>().ok()?;
                        Some((host.as_str().to_owned(), addr.trim().parse::<SocketAddr>().ok()?))
                    });
                    match parsed {
                        Some(pair) => connect_to.push(pair),
                        None => {
                            return self.err(entry.span(), format!("{field}.connect_to"), "expected HOST=IP:PORT");
                        }
                    }
                }
                CheckKind::Domain {
                    connect_to,
                    domain,
                    port,
                    probe,
                    dns_server: d.dns_server,
                    trust_anchor: d.trust_anchor.map(str::to_owned),
                }
            } else {
                if let Some(entry) = m.connect_to.iter().flatten().next() {
                    return self.err(
                        entry.span(),
                        format!("{field}.connect_to"),
                        "only domain: monitors take connect_to",
                    );
                }
                CheckKind::Mx { domain, port, probe }
            }
        } else {
            let target = target_text.parse::<Target>().or_else(|e| {
                self.err(
                    m.target.span(),
                    format!("{field}.target"),
                    format!("{e}; or mx:domain for every MX host, domain:domain for the domain check"),
                )
            })?;
            probe.tls = explicit_tls.or(target.tls_mode()).unwrap_or(TlsMode::StartTlsOpportunistic);
            CheckKind::Smtp { target, probe }
        };
        // Everything the probe library would refuse is refused here, with the field named.
        if let Err(e) = crate::probe::prepare(&check, None) {
            return self.err(m.target.span(), field, e);
        }

        let channel_list = match &m.channels {
            Some(list) => {
                for c in list {
                    if !channels.contains_key(c.get_ref()) {
                        return self.err(
                            c.span(),
                            format!("{field}.channels"),
                            format!("no channel named {:?}", c.get_ref()),
                        );
                    }
                }
                list.iter().map(|c| c.get_ref().clone()).collect()
            }
            None => d.channels.to_vec(),
        };
        let mut tags: Vec<String> = m.tags.iter().map(|t| t.trim().to_owned()).collect();
        if let Some(bad) =
            tags.iter().find(|t| t.is_empty() || t.len() > 64 || t.chars().any(|c| c.is_control() || c == ','))
        {
            return self.err(
                m.name.span(),
                format!("{field}.tags"),
                format!("{bad:?}: tags are 1 to 64 printable characters, no commas"),
            );
        }
        tags.sort();
        tags.dedup();

        let incidents = merge_incidents(d.incidents, m.incidents.as_ref());
        let incident = self.incident_policy(&incidents, &format!("{field}.incidents"))?;
        let alerts = merge_alerts(d.alerts, m.alerts.as_ref());
        let alert = self.alert_policy(&alerts, &format!("{field}.alerts"))?;
        Ok(MonitorConfig { id, name, check, interval, tags, channels: channel_list, canary: m.canary, incident, alert })
    }

    fn roundtrip(&self, field: &str, raw: &Spanned<RawRoundTrip>) -> Result<RoundTripSpec, ConfigError> {
        let r = raw.get_ref();
        let (imap, scheme) = smtp_probe_tokio::proto::imap::parse_target(r.imap.get_ref().trim())
            .or_else(|e| self.err(r.imap.span(), format!("{field}.imap"), e.to_string()))?;
        let imap_tls = match scheme {
            Some(TlsMode::StartTlsRequired) if r.allow_plaintext_login => TlsMode::StartTlsOpportunistic,
            Some(mode) => mode,
            None if imap.port() == smtp_probe_tokio::proto::imap::IMAP_PORT => TlsMode::StartTlsRequired,
            None => TlsMode::Implicit,
        };
        let password = self
            .secret(
                raw.span(),
                &format!("{field}.password"),
                r.password.as_ref().map(|p| p.get_ref().as_str()),
                r.password_env.as_deref(),
                r.password_file.as_deref(),
                false,
            )?
            .ok_or(())
            .or_else(|()| {
                self.err(
                    raw.span(),
                    format!("{field}.password"),
                    "a password is needed (password_env or password_file)",
                )
            })?;
        let opt = |v: &Option<Spanned<String>>, f: &str| {
            v.as_ref().map(|v| self.duration(v, &format!("{field}.{f}"))).transpose()
        };
        let delivery_warning = opt(&r.delivery_warning, "delivery_warning")?;
        let delivery_critical = opt(&r.delivery_critical, "delivery_critical")?;
        if let (Some(w), Some(c)) = (delivery_warning, delivery_critical)
            && w > c
        {
            let span = r.delivery_warning.as_ref().map_or(raw.span(), |s| s.span());
            return self.err(span, format!("{field}.delivery_warning"), "must not exceed delivery_critical");
        }
        Ok(RoundTripSpec {
            imap,
            imap_tls,
            imap_tls_name: r.imap_tls_name.clone(),
            from: r.from.clone(),
            to: r.to.clone(),
            username: r.username.clone().unwrap_or_else(|| r.to.clone()),
            password,
            inbox: r.inbox.clone().unwrap_or_else(|| "INBOX".to_owned()),
            junk_folder: r.junk_folder.clone(),
            delivery_warning,
            delivery_critical,
            allow_plaintext_login: r.allow_plaintext_login,
        })
    }

    fn incident_policy(&self, r: &RawIncidents, field: &str) -> Result<IncidentPolicy, ConfigError> {
        let d = IncidentPolicy::default();
        let count = |v: &Option<Spanned<u32>>, name: &str, default: u32| match v {
            Some(n) if *n.get_ref() == 0 || *n.get_ref() > 100 => {
                self.err(n.span(), format!("{field}.{name}"), "1 to 100")
            }
            Some(n) => Ok(*n.get_ref()),
            None => Ok(default),
        };
        Ok(IncidentPolicy {
            confirm: r.confirm.unwrap_or(d.confirm),
            recheck_after: self.opt_duration(&r.recheck_after, &format!("{field}.recheck_after"), d.recheck_after)?,
            open_after: count(&r.open_after, "open_after", d.open_after)?,
            close_after: count(&r.close_after, "close_after", d.close_after)?,
            flap_window: r.flap_window.unwrap_or(d.flap_window).min(1000),
            flap_start: r.flap_start.unwrap_or(d.flap_start),
            flap_stop: r.flap_stop.unwrap_or(d.flap_stop),
        })
    }

    fn alert_policy(&self, r: &RawAlerts, field: &str) -> Result<AlertPolicy, ConfigError> {
        let d = AlertPolicy::default();
        let reminder_every = match &r.reminder_every {
            Some(v) if v.get_ref().trim() == "off" => None,
            Some(v) => {
                let every = self.duration(v, &format!("{field}.reminder_every"))?;
                if every < Duration::from_secs(300) {
                    return self.err(v.span(), format!("{field}.reminder_every"), "at least 5m, or \"off\"");
                }
                Some(every)
            }
            None => d.reminder_every,
        };
        let mut cert_thresholds = r.certificate_days.clone().unwrap_or(d.cert_thresholds);
        cert_thresholds.sort_unstable_by(|a, b| b.cmp(a));
        cert_thresholds.dedup();
        Ok(AlertPolicy {
            alert_on_degraded: r.alert_on_degraded.unwrap_or(d.alert_on_degraded),
            reminder_every,
            cert_thresholds,
            policy_changes: r.policy_changes.unwrap_or(d.policy_changes),
        })
    }

    fn maintenance(
        &self,
        field: &str,
        w: &Spanned<RawMaintenance>,
        ids: &BTreeMap<MonitorId, usize>,
    ) -> Result<MaintenanceWindow, ConfigError> {
        let r = w.get_ref();
        let (start, utc_offset_secs) = self.datetime(&r.start, &format!("{field}.start"))?;
        let until =
            r.until.as_ref().map(|u| self.datetime(u, &format!("{field}.until")).map(|(t, _)| t)).transpose()?;
        let duration = self.duration(&r.duration, &format!("{field}.duration"))?;
        if duration.is_zero() {
            return self.err(r.duration.span(), format!("{field}.duration"), "more than zero");
        }
        let every = r.every.unwrap_or(1).max(1);
        let repeat_text = r.repeat.as_ref().map_or("once", |s| s.get_ref().as_str());
        let repeat_span = r.repeat.as_ref().map_or(w.span(), |s| s.span());
        let repeat = match repeat_text {
            "once" => Repeat::Once,
            "daily" => Repeat::Daily { every },
            "weekly" => {
                let weekdays = match &r.weekdays {
                    None => {
                        vec![((start.0 + i64::from(utc_offset_secs) * 1000).div_euclid(86_400_000) + 3).rem_euclid(7)
                            as u8]
                    }
                    Some(days) => {
                        let mut out = Vec::new();
                        for d in days {
                            let i = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                                .iter()
                                .position(|n| d.get_ref().to_ascii_lowercase().starts_with(n));
                            match i {
                                Some(i) => out.push(i as u8),
                                None => {
                                    return self.err(
                                        d.span(),
                                        format!("{field}.weekdays"),
                                        "mon, tue, wed, thu, fri, sat or sun",
                                    );
                                }
                            }
                        }
                        out
                    }
                };
                Repeat::Weekly { every, weekdays }
            }
            _ => return self.err(repeat_span, format!("{field}.repeat"), "once, daily or weekly"),
        };
        let period = match &repeat {
            Repeat::Once => None,
            Repeat::Daily { every } => Some(Duration::from_secs(86_400 * u64::from(*every))),
            Repeat::Weekly { .. } => Some(Duration::from_secs(86_400)),
        };
        if period.is_some_and(|p| duration > p) {
            return self.err(
                r.duration.span(),
                format!("{field}.duration"),
                "longer than the time between two occurrences",
            );
        }
        let mut monitors = Vec::new();
        for m in &r.monitors {
            let id = MonitorId::parse(m.get_ref()).or_else(|| MonitorId::from_name(m.get_ref()));
            match id.filter(|id| ids.contains_key(id)) {
                Some(id) => monitors.push(id),
                None => {
                    return self.err(m.span(), format!("{field}.monitors"), format!("no monitor {:?}", m.get_ref()));
                }
            }
        }
        if monitors.is_empty() && r.tags.is_empty() {
            return self.err(w.span(), field, "name the monitors or tags the window covers");
        }
        Ok(MaintenanceWindow {
            name: r.name.clone(),
            start,
            utc_offset_secs,
            duration,
            repeat,
            until,
            monitors,
            tags: r.tags.clone(),
        })
    }

    fn datetime(&self, v: &Spanned<RawDatetime>, field: &str) -> Result<(Timestamp, i32), ConfigError> {
        let text = match v.get_ref() {
            RawDatetime::Toml(d) => d.to_string(),
            RawDatetime::Text(s) => s.clone(),
        };
        match time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339) {
            Ok(t) => Ok((Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64), t.offset().whole_seconds())),
            Err(e) => self.err(
                v.span(),
                field,
                format!("not an RFC 3339 time with an offset, e.g. 2026-03-07T02:00:00Z ({e})"),
            ),
        }
    }
}

struct Defaults<'a> {
    min_interval: Duration,
    interval: Duration,
    timeout: Duration,
    channels: &'a [String],
    ehlo: &'a str,
    ca: Option<&'a (PathBuf, Vec<u8>)>,
    allow_addresses: &'a [String],
    incidents: &'a RawIncidents,
    alerts: &'a RawAlerts,
    dns_server: Option<SocketAddr>,
    trust_anchor: Option<&'a str>,
}

/// A submission server as a round trip names it: `submission://` or a bare `host[:port]` on 587 with STARTTLS
/// required, `smtps://` on 465, `smtp://` on 25.
fn submission_target(text: &str) -> Result<Target, smtp_probe_tokio::TargetError> {
    let target: Target = text.parse()?;
    match target.tls_mode() {
        Some(_) => Ok(target),
        None => Target::parse_with_default_port(text, 587),
    }
}

fn merge_incidents(base: &RawIncidents, over: Option<&RawIncidents>) -> RawIncidents {
    let Some(o) = over else { return base.clone() };
    RawIncidents {
        confirm: o.confirm.or(base.confirm),
        recheck_after: o.recheck_after.clone().or_else(|| base.recheck_after.clone()),
        open_after: o.open_after.clone().or_else(|| base.open_after.clone()),
        close_after: o.close_after.clone().or_else(|| base.close_after.clone()),
        flap_window: o.flap_window.or(base.flap_window),
        flap_start: o.flap_start.or(base.flap_start),
        flap_stop: o.flap_stop.or(base.flap_stop),
    }
}

fn merge_alerts(base: &RawAlerts, over: Option<&RawAlerts>) -> RawAlerts {
    let Some(o) = over else { return base.clone() };
    RawAlerts {
        alert_on_degraded: o.alert_on_degraded.or(base.alert_on_degraded),
        reminder_every: o.reminder_every.clone().or_else(|| base.reminder_every.clone()),
        certificate_days: o.certificate_days.clone().or_else(|| base.certificate_days.clone()),
        policy_changes: o.policy_changes.or(base.policy_changes),
    }
}

fn default_instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "monitor".into());
    format!("{host}-{}", std::process::id())
}

/// Whether `postgres://user:password@host` carries a password.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Puts a password into a URL's user info, percent-encoding it.
fn with_password(url: &str, password: &str) -> Result<String, String> {
    let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
    let (userinfo, host) =
        rest.split_once('@').ok_or("the URL needs a user name (postgres://user@host/db) to go with the password")?;
    let mut enc = String::new();
    for b in password.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(format!("{scheme}://{userinfo}:{enc}@{host}"))
}

/// Which monitors differ between two configurations: (added or changed, removed).
pub fn diff(old: &Config, new: &Config) -> (Vec<MonitorId>, Vec<MonitorId>) {
    let old_ids: BTreeSet<&MonitorId> = old.monitors.iter().map(|m| &m.id).collect();
    let new_ids: BTreeSet<&MonitorId> = new.monitors.iter().map(|m| &m.id).collect();
    let changed = new.monitors.iter().filter(|m| old.monitor(&m.id) != Some(m)).map(|m| m.id.clone()).collect();
    let removed = old_ids.difference(&new_ids).map(|id| (*id).clone()).collect();
    (changed, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "MX_PASSWORD" => Some("s3cret".into()),
            "PG_URL" => Some("postgres://monitor:pw@127.0.0.1:55432/monitordb".into()),
            "SLACK_URL" => Some("https://hooks.example.invalid/T000/B000/XXX".into()),
            _ => None,
        }
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_with_env(text, Path::new("/etc/monitor"), &env)
    }

    fn invalid(text: &str) -> (usize, usize, String, String) {
        match load(text) {
            Err(ConfigError::Invalid { line, column, field, message }) => (line, column, field, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    const FULL: &str = r#"
[service]
listen = "127.0.0.1:9090"
data_dir = "/var/lib/smtp-probe-monitor"
ehlo_name = "monitor.example.org"

[storage]
kind = "postgres"
url_env = "PG_URL"

[retention]
raw = "14d"

[scheduler]
max_concurrency = 64
min_host_spacing = "2s"

[incidents]
open_after = 3

[alerts]
reminder_every = "2h"
certificate_days = [7, 30, 14]

[defaults]
interval = "2m"
channels = ["ops"]

[channels.ops]
type = "webhook"
url = "https://alerts.example.org/hook"

[channels.chat]
type = "slack"
url_env = "SLACK_URL"

[channels.mail]
type = "email"
relay = "submission://relay.example.org"
from = "monitor@example.org"
to = ["oncall@example.org"]

[[monitors]]
name = "MX 1"
target = "smtp://mx1.example.com"
tls = "required"
tags = ["eu", "inbound"]
thresholds = { response_warning = "2s", certificate_days_warning = 21 }
incidents = { close_after = 4 }

[[monitors]]
name = "Submission"
id = "submission"
target = "submission://mail.example.com"
auth = { username = "monitor@example.com", password_env = "MX_PASSWORD" }
envelope = { from = "monitor@example.com", to = ["postmaster@example.com"] }
channels = ["chat", "mail"]
interval = "30s"

[[monitors]]
name = "example.com inbound"
target = "mx:example.com"
canary = true
alerts = { policy_changes = false }

[[maintenance]]
name = "weekly patching"
start = 2026-03-07T02:00:00+01:00
duration = "2h"
repeat = "weekly"
weekdays = ["sat", "sun"]
tags = ["eu"]
monitors = ["submission"]
"#;

    const ROUNDTRIP: &str = r#"
[[monitors]]
name = "mail flows"
target = "smtp.example.org"
auth = { username = "probe@example.org", password_env = "MX_PASSWORD" }
[monitors.roundtrip]
imap = "imap://imap.example.org"
from = "probe@example.org"
to = "loop@example.org"
password_env = "MX_PASSWORD"
junk_folder = "Junk"
delivery_warning = "30s"
delivery_critical = "90s"
"#;

    #[test]
    fn a_round_trip() {
        let c = load(ROUNDTRIP).unwrap();
        let m = &c.monitors[0];
        assert_eq!((m.interval, m.check.probe().timeout), (ROUNDTRIP_INTERVAL, ROUNDTRIP_TIMEOUT));
        let CheckKind::RoundTrip { submit, probe, roundtrip } = &m.check else { panic!("{:?}", m.check) };
        assert_eq!((submit.to_string(), probe.tls), ("smtp.example.org:587".into(), TlsMode::StartTlsRequired));
        assert_eq!(
            (roundtrip.imap.to_string(), roundtrip.imap_tls),
            ("imap.example.org:143".into(), TlsMode::StartTlsRequired)
        );
        assert_eq!((roundtrip.username.as_str(), roundtrip.password.expose()), ("loop@example.org", "s3cret"));
        assert_eq!((roundtrip.inbox.as_str(), roundtrip.junk_folder.as_deref()), ("INBOX", Some("Junk")));
        assert_eq!(roundtrip.delivery_warning, Some(Duration::from_secs(30)));
        assert!(!format!("{:?}", m.check).contains("s3cret"), "never printed");
        assert_eq!(m.check.describe(), "roundtrip:smtp.example.org:587->imap.example.org:143");
        assert_eq!(m.check.destination(), "smtp.example.org");

        let c = load(
            &ROUNDTRIP
                .replace("target = \"smtp.example.org\"", "target = \"smtps://smtp.example.org\"\ninterval = \"1m\""),
        )
        .unwrap();
        let CheckKind::RoundTrip { submit, probe, .. } = &c.monitors[0].check else { unreachable!() };
        assert_eq!((submit.port(), probe.tls), (465, TlsMode::Implicit));
        assert_eq!(probe.timeout, Duration::from_secs(30), "the default deadline is at most half the interval");
    }

    #[test]
    fn a_round_trip_is_refused_what_would_be_unsafe_or_too_often() {
        let cases = [
            (
                "password_env = \"MX_PASSWORD\"\njunk",
                "password = \"hunter2\"\njunk",
                "monitors[0].roundtrip.password",
                "not accepted inline",
            ),
            ("password_env = \"MX_PASSWORD\"\njunk", "junk", "monitors[0].roundtrip.password", "a password is needed"),
            (
                "password_env = \"MX_PASSWORD\"\njunk",
                "password_env = \"NOPE\"\njunk",
                "monitors[0].roundtrip.password_env",
                "NOPE is not set",
            ),
            (
                "target = \"smtp.example.org\"",
                "target = \"smtp.example.org\"\ninterval = \"30s\"",
                "monitors[0].interval",
                "at least 1m for a round trip",
            ),
            (
                "target = \"smtp.example.org\"",
                "target = \"smtp.example.org\"\ntimeout = \"5m\"",
                "monitors[0].timeout",
                "less than the interval",
            ),
            (
                "target = \"smtp.example.org\"",
                "target = \"smtp.example.org\"\nenvelope = { from = \"a@b.c\", to = [\"d@e.f\"] }",
                "monitors[0].envelope",
                "roundtrip.from",
            ),
            ("imap://imap", "pop3://imap", "monitors[0].roundtrip.imap", "unknown scheme"),
            (
                "delivery_warning = \"30s\"",
                "delivery_warning = \"2m\"",
                "monitors[0].roundtrip.delivery_warning",
                "must not exceed",
            ),
            ("target = \"smtp.example.org\"", "target = \"smtp://smtp.example.org\"", "monitors[0]", "opportunistic"),
        ];
        for (from, to, field, message) in cases {
            assert!(ROUNDTRIP.contains(from), "{from}");
            let (_, _, got_field, got_message) = invalid(&ROUNDTRIP.replacen(from, to, 1));
            assert_eq!(got_field, field, "{to}: {got_message}");
            assert!(got_message.contains(message), "{to}: {got_message}");
        }
    }

    #[test]
    fn a_full_file() {
        let c = load(FULL).unwrap();
        assert_eq!(c.service.listen, "127.0.0.1:9090".parse().unwrap());
        assert!(matches!(&c.storage, StorageConfig::Postgres { url, .. } if url.expose().contains("55432")));
        assert_eq!(c.retention.raw, Duration::from_secs(14 * 86_400));
        assert_eq!(c.scheduler.max_concurrency, 64);
        assert_eq!(c.monitors.len(), 3);
        let mx1 = &c.monitors[0];
        assert_eq!(mx1.id.as_str(), "mx-1");
        assert_eq!(mx1.interval, Duration::from_secs(120));
        assert_eq!(mx1.channels, ["ops"]);
        assert_eq!(mx1.check.probe().tls, TlsMode::StartTlsRequired);
        assert_eq!(mx1.check.probe().ehlo_name, "monitor.example.org");
        assert_eq!((mx1.incident.open_after, mx1.incident.close_after), (3, 4));
        assert_eq!(mx1.alert.cert_thresholds, [30, 14, 7]);
        assert!(mx1.alert.policy_changes, "on by default");
        assert!(!c.monitors[2].alert.policy_changes);
        assert_eq!(c.monitors[2].alert.cert_thresholds, [30, 14, 7], "the rest of [alerts] still applies");
        let sub = &c.monitors[1];
        assert_eq!(sub.check.probe().auth.as_ref().unwrap().password.expose(), "s3cret");
        assert_eq!(
            format!("{:?}", sub.check.probe().auth),
            format!("{:?}", sub.check.probe().auth).replace("s3cret", "?"),
            "never printed"
        );
        assert_eq!(sub.check.probe().tls, TlsMode::StartTlsRequired);
        assert!(
            matches!(&c.monitors[2].check, CheckKind::Mx { domain, port: 25, .. } if domain.as_str() == "example.com")
        );
        assert!(c.monitors[2].canary);
        let w = &c.maintenance[0];
        assert_eq!(w.utc_offset_secs, 3600);
        assert_eq!(w.repeat, Repeat::Weekly { every: 1, weekdays: vec![5, 6] });
        assert_eq!(c.channels.len(), 3);
        assert!(!format!("{c:?}").contains("T000"), "secrets stay out of Debug");
    }

    #[test]
    fn defaults_are_sqlite_on_loopback() {
        let c = load("[[monitors]]\nname = \"a\"\ntarget = \"127.0.0.1:2525\"\n").unwrap();
        assert_eq!(c.storage, StorageConfig::Sqlite { path: PathBuf::from("/etc/monitor/data/monitor.db") });
        assert!(c.service.listen.ip().is_loopback());
        assert_eq!(c.monitors[0].interval, Duration::from_secs(60));
    }

    #[test]
    fn allowed_address_ranges_from_defaults_or_the_monitor() {
        let c = load(
            "[defaults]\nallow_addresses = [\"127.0.0.0/8\"]\n\
             [[monitors]]\nname = \"local mx\"\ntarget = \"mx:example.test\"\n\
             [[monitors]]\nname = \"own\"\ntarget = \"mx:example.org\"\nallow_addresses = [\"10.1.2.3\", \"::1\"]\n",
        )
        .unwrap();
        assert_eq!(c.monitors[0].check.probe().allow_addresses, ["127.0.0.0/8"]);
        assert_eq!(c.monitors[1].check.probe().allow_addresses, ["10.1.2.3", "::1"]);
        let none = load("[[monitors]]\nname = \"a\"\ntarget = \"mx:example.org\"\n").unwrap();
        assert!(none.monitors[0].check.probe().allow_addresses.is_empty(), "MX hosts on loopback are denied");

        let (line, column, field, message) =
            invalid("[[monitors]]\nname = \"a\"\ntarget = \"mx:example.org\"\nallow_addresses = [\"localhost\"]\n");
        assert_eq!((line, column, field.as_str()), (4, 20, "monitors[0].allow_addresses"));
        assert!(message.contains("invalid address range \"localhost\""), "{message}");
    }

    #[test]
    fn domain_monitors_parse_with_their_overrides() {
        let text = "[service]\ndns_server = \"127.0.0.1:53\"\n[[monitors]]\nname = \"d\"\ntarget = \"domain:example.com\"\n\
                    connect_to = [\"mx1.example.com=127.0.0.1:2525\"]\n";
        let cfg = Config::from_toml_str(text, Path::new(".")).unwrap();
        let CheckKind::Domain { domain, port, dns_server, connect_to, .. } = &cfg.monitors[0].check else {
            panic!("a domain check: {:?}", cfg.monitors[0].check)
        };
        assert_eq!((domain.as_str(), *port), ("example.com", 25));
        assert_eq!(*dns_server, Some("127.0.0.1:53".parse().unwrap()));
        assert_eq!(connect_to, &[("mx1.example.com".to_owned(), "127.0.0.1:2525".parse().unwrap())]);
        assert_eq!(cfg.monitors[0].check.describe(), "domain:example.com");

        let (_, _, field, message) =
            invalid("[[monitors]]\nname = \"a\"\ntarget = \"domain:example.com\"\nconnect_to = [\"nonsense\"]\n");
        assert_eq!(field, "monitors[0].connect_to");
        assert!(message.contains("HOST=IP:PORT"), "{message}");
        let (_, _, field, _) = invalid(
            "[[monitors]]\nname = \"a\"\ntarget = \"mx:example.com\"\nconnect_to = [\"a.example=1.2.3.4:25\"]\n",
        );
        assert_eq!(field, "monitors[0].connect_to");
    }

    #[test]
    fn errors_name_line_column_and_field() {
        let (line, column, field, message) =
            invalid("\n[[monitors]]\nname = \"a\"\ntarget = \"mx.example.com\"\ninterval = \"10s\"\n");
        assert_eq!((line, column, field.as_str()), (5, 12, "monitors[0].interval"));
        assert!(message.contains("at least 30s"), "{message}");

        let (line, _, field, message) =
            invalid("[[monitors]]\nname = \"a\"\ntarget = \"mx.example.com\"\nintervall = \"60s\"\n");
        assert_eq!(line, 4);
        assert!(field.starts_with("monitors"), "{field}");
        assert!(message.contains("unknown field `intervall`"), "{message}");

        let (line, _, field, _) = invalid("[scheduler]\nmax_concurrency = \"many\"\n");
        assert_eq!((line, field.as_str()), (2, "scheduler.max_concurrency"));

        let (_, _, field, message) =
            invalid("[[monitors]]\nname = \"a\"\ntarget = \"mx\"\nauth = { username = \"u\", password = \"p\" }\n");
        assert_eq!(field, "monitors[0].auth.password");
        assert!(message.contains("not accepted inline"), "{message}");

        let (_, _, field, message) = invalid(
            "[[monitors]]\nname = \"a\"\ntarget = \"mx\"\nauth = { username = \"u\", password_env = \"NOPE\" }\n",
        );
        assert_eq!(field, "monitors[0].auth.password_env");
        assert!(message.contains("NOPE"), "{message}");

        let (_, _, field, _) = invalid("[storage]\nkind = \"postgres\"\nurl = \"postgres://u:pw@h/db\"\n");
        assert_eq!(field, "storage.url");

        let (_, _, field, message) =
            invalid("[[monitors]]\nname = \"a b\"\ntarget = \"x\"\n[[monitors]]\nname = \"A-B\"\ntarget = \"y\"\n");
        assert_eq!(field, "monitors[1].id");
        assert!(message.contains("already used"), "{message}");

        let (_, _, field, _) = invalid("[[monitors]]\nname = \"a\"\ntarget = \"http://x\"\n");
        assert_eq!(field, "monitors[0].target");

        let (_, _, field, _) = invalid("[[monitors]]\nname = \"a\"\ntarget = \"x\"\nchannels = [\"nope\"]\n");
        assert_eq!(field, "monitors[0].channels");

        let (_, _, field, _) = invalid("[channels.c]\ntype = \"slack\"\nurl = \"https://hooks.example.invalid/x\"\n");
        assert_eq!(field, "channels.c.url");

        let (line, _, _, _) = invalid("[[monitors]\nname = 1");
        assert_eq!(line, 1, "syntax errors have positions too");
    }

    #[test]
    fn channels_with_delivery_settings() {
        let c = load(
            r#"
[delivery]
retry_initial = "5s"
max_per_minute = 20
group_wait = "30s"

[channels.hook]
type = "webhook"
url = "http://127.0.0.1:9000/hook"
timeout = "3s"
concurrency = 4

[channels.chat]
type = "slack"
url_env = "SLACK_URL"
group_wait = "0s"

[channels.mail]
type = "email"
relay = "smtp://relay.example.org"
from = "monitor@example.org"
to = ["oncall@example.org"]
username = "monitor"
password_env = "MX_PASSWORD"
"#,
        )
        .unwrap();
        let hook = &c.channels["hook"];
        assert_eq!(hook.kind.as_str(), "webhook");
        assert_eq!(hook.delivery.timeout, Duration::from_secs(3), "the channel's own");
        assert_eq!(hook.delivery.concurrency, 4);
        assert_eq!(hook.delivery.retry_initial, Duration::from_secs(5), "from [delivery]");
        assert_eq!(hook.delivery.max_per_minute, 20);
        assert_eq!(hook.delivery.group_wait, Some(Duration::from_secs(30)));
        assert_eq!(hook.delivery.retry_max, Duration::from_secs(600), "the default");
        assert_eq!(c.channels["chat"].delivery.group_wait, None, "\"0s\" turns grouping off");
        let ChannelKind::Email(mail) = &c.channels["mail"].kind else { panic!("email") };
        assert_eq!(mail.tls, TlsMode::StartTlsRequired, "credentials make STARTTLS required on smtp://");
        assert_eq!((mail.relay.host(), mail.relay.port()), ("relay.example.org", 25));
        assert_eq!(c.channels["mail"].delivery.timeout, Duration::from_secs(30), "email's default");
    }

    #[test]
    fn channel_errors_name_the_field() {
        let slack_relay = "[channels.c]\ntype = \"slack\"\nurl_env = \"SLACK_URL\"\nrelay = \"smtp://x\"\n";
        assert_eq!(invalid(slack_relay).2, "channels.c.relay");
        let (_, _, field, message) = invalid("[channels.c]\ntype = \"pager\"\n");
        assert_eq!(field, "channels.c.type");
        assert!(message.contains("webhook, slack, teams, email"), "{message}");
        let plain = "[channels.m]\ntype = \"email\"\nrelay = \"smtp://relay.example.org\"\ntls = \"opportunistic\"\n\
                     from = \"a@example.org\"\nto = [\"b@example.org\"]\nusername = \"u\"\npassword_env = \"MX_PASSWORD\"\n";
        let (_, _, field, message) = invalid(plain);
        assert_eq!(field, "channels.m.tls");
        assert!(message.contains("verified TLS"), "{message}");
        assert!(load(&format!("{plain}allow_plaintext = true\n")).is_ok(), "an explicit override");
        let bad_rate = "[delivery]\nmax_per_minute = 0\n";
        assert_eq!(invalid(bad_rate).2, "delivery.max_per_minute");
        let bad_retry = "[channels.h]\ntype = \"webhook\"\nurl = \"http://h/\"\nretry_initial = \"20m\"\n";
        assert_eq!(invalid(bad_retry).2, "channels.h.retry_initial");
        let bad_to =
            "[channels.m]\ntype = \"email\"\nrelay = \"smtp://r\"\nfrom = \"a@b\"\nto = [\"not an address\"]\n";
        assert!(invalid(bad_to).3.contains("not an email address"));
    }

    #[test]
    fn min_interval_lowers_the_floor() {
        let m = "[[monitors]]\nname = \"lab\"\ntarget = \"127.0.0.1:2525\"\ninterval = \"2s\"\ntimeout = \"1s\"\n";
        assert_eq!(invalid(m).2, "monitors[0].interval");
        let c = load(&format!("[scheduler]\nmin_interval = \"1s\"\n{m}")).unwrap();
        assert_eq!(c.monitors[0].interval, Duration::from_secs(2));
        assert_eq!(invalid("[scheduler]\nmin_interval = \"100ms\"\n").2, "scheduler.min_interval");
    }

    #[test]
    fn secrets_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "from-file\n").unwrap();
        let c = Config::from_toml_with_env(
            "[[monitors]]\nname = \"a\"\ntarget = \"mx\"\nauth = { username = \"u\", password_file = \"pw\" }\n",
            dir.path(),
            &env,
        )
        .unwrap();
        assert_eq!(c.monitors[0].check.probe().auth.as_ref().unwrap().password.expose(), "from-file");
    }

    #[test]
    fn diff_finds_changes_by_id() {
        let a =
            load("[[monitors]]\nname = \"a\"\ntarget = \"x\"\n[[monitors]]\nname = \"b\"\ntarget = \"y\"\n").unwrap();
        let b = load("[[monitors]]\nname = \"a\"\ntarget = \"x\"\ninterval = \"5m\"\n[[monitors]]\nname = \"c\"\ntarget = \"z\"\n").unwrap();
        let (changed, removed) = diff(&a, &b);
        assert_eq!(changed.iter().map(MonitorId::as_str).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(removed.iter().map(MonitorId::as_str).collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn url_helpers() {
        assert!(url_has_password("postgres://u:p@h/db"));
        assert!(!url_has_password("postgres://u@h/db"));
        assert!(!url_has_password("postgres://h/db?x=a:b@c"));
        assert_eq!(with_password("postgres://u@h/db", "p@ss word").unwrap(), "postgres://u:p%40ss%20word@h/db");
    }
}
