//! What to check and how: [`ProbeConfig`], made with [`ProbeConfigBuilder`].
//!
//! Every caller-supplied string is validated when the configuration is built, so a probe never starts with a
//! string that could inject SMTP commands, nor with credentials it would send in the clear by accident.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::assess::TlsPolicy;
use crate::capabilities::{AuthMechanism, Keyword};
use crate::command::{Address, SafeText, Secret};
use crate::connect::{AddressPolicy, Origin};
use crate::error::{ConfigError, EnvelopePart, MIN_BUFFERED};
use crate::mx::MxLimits;
use crate::name::check_hostname;
use crate::reply::ReplyLimits;
use crate::target::Target;

/// How the probe uses TLS. Named `none`, `starttls`, `starttls_required` and `implicit` (`Display`, serde);
/// `FromStr` also takes the variants' `snake_case` names (`start_tls_opportunistic`, `start_tls_required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// Plain SMTP; STARTTLS is not attempted.
    None,
    /// STARTTLS when the server offers it; carry on in plaintext when it does not (a finding, not a failure).
    #[default]
    StartTlsOpportunistic,
    /// STARTTLS must be offered and must succeed.
    StartTlsRequired,
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
}

crate::vocabulary::names!(TlsMode, "TLS mode", {
    None => "none",
    StartTlsOpportunistic => "starttls",
    StartTlsRequired => "starttls_required",
    Implicit => "implicit",
}, aliases {
    "start_tls_opportunistic" => StartTlsOpportunistic,
    "starttls_opportunistic" => StartTlsOpportunistic,
    "start_tls_required" => StartTlsRequired,
});

/// What to do once every recipient is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeAction {
    /// `RSET` before `DATA`: the envelope is checked and no mail is sent. The default.
    StopBeforeData,
    /// Send a small test message carrying a unique token header (`X-Smtp-Probe-Token`).
    SendTestMessage {
        /// The token, unique per probe (the caller makes it: the core has no randomness or clock).
        token: SafeText,
        /// An RFC 5322 `Date:` value, when the caller supplies one.
        date: Option<SafeText>,
    },
}

/// The envelope to try: MAIL FROM, then every RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path.
    pub from: Address,
    /// The recipients, at least one.
    pub recipients: Vec<Address>,
    /// Stop before DATA, or send a test message.
    pub action: EnvelopeAction,
}

/// Credentials and how to use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The user name.
    pub username: SafeText,
    /// The password (redacted everywhere but on the wire).
    pub password: Secret,
    /// Mechanisms to use, most preferred first; the first the server offers is used.
    pub mechanisms: Vec<AuthMechanism>,
    /// Send credentials without TLS. Off by default.
    pub allow_plaintext: bool,
}

/// What the server must show for the probe to pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expectations {
    /// A substring the greeting must contain (as check_smtp's `-e`).
    pub greeting_contains: Option<String>,
    /// Keywords the final EHLO must advertise.
    pub capabilities: Vec<Keyword>,
    /// The smallest acceptable SIZE limit, in bytes.
    pub min_size: Option<u64>,
}

/// Where "slow" and "expiring" begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Thresholds {
    /// Total response time above which the probe is degraded.
    pub response_warning: Option<Duration>,
    /// Total response time above which the probe is down.
    pub response_critical: Option<Duration>,
    /// Certificate days left below which the probe is degraded.
    pub certificate_days_warning: Option<u32>,
    /// Certificate days left below which the probe is down.
    pub certificate_days_critical: Option<u32>,
}

/// The longest timeout a configuration accepts: 24 hours. No probe needs more, and the bound keeps every deadline
/// the core computes from overflowing.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// `start + timeout`, for a timeout of at most [`MAX_TIMEOUT`], without ever overflowing.
///
/// Every deadline in the crate is made here. `Instant` holds at least 63 bits of seconds on every platform std
/// supports, and no clock comes within a day of their end, so with the timeouts checked at build this addition
/// cannot overflow for any instant a clock produced. A caller can still construct such an instant (with
/// `checked_add`); the deadline is then the latest instant that can be represented, found by halving the step,
/// at most one addition per halving: never a panic.
pub(crate) fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    if let Some(deadline) = start.checked_add(timeout) {
        return deadline;
    }
    let (mut latest, mut step) = (start, timeout);
    while !step.is_zero() {
        match latest.checked_add(step) {
            Some(later) => latest = later,
            None => step /= 2,
        }
    }
    latest
}

/// Deadlines, each measured from the moment it starts. Every wait is also cut by `overall`. Each must be greater
/// than zero and at most [`MAX_TIMEOUT`] (checked when the configuration is built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Each TCP connection attempt (enforced by adapters), also cut by `overall`.
    pub connect: Duration,
    /// The whole probe. Adapters start it before resolving the name, so it bounds DNS, connecting and the SMTP
    /// session, QUIT included (every other deadline is cut to it). A [`Probe`](crate::Probe) or `Session` made
    /// with `new` starts it at the instant it is given; `with_deadline` takes the deadline from the caller.
    pub overall: Duration,
    /// From connection to the complete greeting.
    pub greeting: Duration,
    /// From a command sent to its complete reply.
    pub reply: Duration,
    /// The TLS handshake.
    pub tls_handshake: Duration,
    /// From the end of the message to the final reply (servers scan messages here).
    pub data: Duration,
    /// How long to wait for the reply to QUIT before closing anyway.
    pub quit: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            overall: Duration::from_secs(30),
            greeting: Duration::from_secs(15),
            reply: Duration::from_secs(15),
            tls_handshake: Duration::from_secs(15),
            data: Duration::from_secs(30),
            quit: Duration::from_secs(2),
        }
    }
}

/// Everything a probe needs to know. Cheap to clone (shared), so one configuration can drive many probes.
#[derive(Debug, Clone)]
pub struct ProbeConfig(Arc<ConfigInner>);

#[derive(Debug, Clone)]
pub(crate) struct ConfigInner {
    pub(crate) target: Target,
    /// `target` as reports name it (`host:port`), made once rather than for every probe.
    pub(crate) report_target: String,
    pub(crate) tls_mode: TlsMode,
    /// Whether `tls_mode` was set by the caller rather than implied by the target's scheme.
    pub(crate) tls_mode_explicit: bool,
    pub(crate) tls_name: Option<String>,
    /// Whether `tls_name` was set by the caller rather than derived from the target.
    pub(crate) tls_name_explicit: bool,
    pub(crate) ehlo_name: SafeText,
    pub(crate) auth: Option<AuthConfig>,
    pub(crate) envelope: Option<Envelope>,
    pub(crate) expectations: Expectations,
    pub(crate) thresholds: Thresholds,
    pub(crate) timeouts: Timeouts,
    pub(crate) limits: ReplyLimits,
    pub(crate) transcript: bool,
    pub(crate) address_family: AddressFamily,
    /// A policy the domain publishes for its servers' TLS, judged by `assess`.
    pub(crate) tls_policy: Option<Arc<dyn TlsPolicy>>,
    pub(crate) address_policy: AddressPolicy,
    pub(crate) mx_limits: MxLimits,
    #[cfg(feature = "rustls")]
    pub(crate) tls_config: Option<crate::tls::TlsConfig>,
}

impl ConfigInner {
    /// Whether the inspect-only override is on (trust settings, feature `rustls`; never without it).
    pub(crate) fn inspect_only(&self) -> bool {
        #[cfg(feature = "rustls")]
        {
            self.tls_config.as_ref().is_some_and(crate::tls::TlsConfig::inspect_only)
        }
        #[cfg(not(feature = "rustls"))]
        {
            false
        }
    }
}

/// Which addresses of a name adapters connect to (`snake_case` names with serde: `ipv4_only`, `both`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum AddressFamily {
    /// Addresses in resolver order; the first that connects is probed. The default.
    #[default]
    Any,
    /// IPv4 only (check_smtp's `-4`).
    Ipv4Only,
    /// IPv6 only (check_smtp's `-6`).
    Ipv6Only,
    /// IPv4 first, IPv6 if no IPv4 address connects.
    PreferIpv4,
    /// IPv6 first, IPv4 if no IPv6 address connects.
    PreferIpv6,
    /// One probe per address family, each with its own report: a broken family cannot hide behind the other.
    Both,
}

impl ProbeConfig {
    /// Starts a configuration for probing `target`. Its host is, by default, the name sent as SNI and verified in
    /// the certificate (none for an address); its scheme, if any, the TLS mode. The configuration owns the target:
    /// there is no other place a host or port could be given, so none can disagree with it.
    ///
    /// ```
    /// use smtp_probe_proto::{ProbeConfig, TlsMode};
    /// let config = ProbeConfig::builder("smtps://mail.example.com".parse()?).build()?;
    /// assert_eq!(config.target().to_string(), "mail.example.com:465");
    /// assert_eq!((config.tls_mode(), config.tls_name()), (TlsMode::Implicit, Some("mail.example.com")));
    /// # Ok::<(), smtp_probe_proto::Error>(())
    /// ```
    ///
    /// A string is not a target: it has to be parsed (and so checked) first.
    ///
    /// ```compile_fail
    /// let config = smtp_probe_proto::ProbeConfig::builder("mail.example.com:25");
    /// ```
    pub fn builder(target: Target) -> ProbeConfigBuilder {
        ProbeConfigBuilder::new(target)
    }

    pub(crate) fn inner(&self) -> &ConfigInner {
        &self.0
    }

    /// The same configuration for another target (an MX host, one of several servers). The TLS name and the TLS
    /// mode follow the new target (its host, its scheme) unless they were set explicitly; everything else is kept.
    pub fn with_target(&self, target: Target) -> ProbeConfig {
        let mut inner = ConfigInner::clone(&self.0);
        if !inner.tls_name_explicit {
            inner.tls_name = derived_tls_name(&target);
        }
        if !inner.tls_mode_explicit {
            inner.tls_mode = target.tls_mode().unwrap_or_default();
        }
        inner.report_target = target.to_string();
        inner.target = target;
        ProbeConfig(Arc::new(inner))
    }

    /// The same configuration judging its handshake under `policy` as well (see
    /// [`ProbeConfigBuilder::tls_policy`]): for a policy known only once the configuration exists, such as an MX
    /// host's DANE records.
    pub fn with_tls_policy(&self, policy: Arc<dyn TlsPolicy>) -> ProbeConfig {
        let mut inner = ConfigInner::clone(&self.0);
        inner.tls_policy = Some(policy);
        ProbeConfig(Arc::new(inner))
    }

    /// The same configuration sending a test message with `token` and the `Date:` value `date` (both made by the
    /// crate, so known to be safe) once its envelope is accepted, within `overall`: one round-trip run's
    /// submission. Without an envelope there is nothing to send, and the configuration is kept as it is.
    pub(crate) fn with_test_message(&self, token: &str, date: String, overall: Duration) -> ProbeConfig {
        let mut inner = ConfigInner::clone(&self.0);
        if let Some(envelope) = &mut inner.envelope {
            envelope.action = EnvelopeAction::SendTestMessage {
                token: SafeText::from_checked(token.to_owned()),
                date: Some(SafeText::from_checked(date)),
            };
        }
        inner.timeouts.overall = overall;
        ProbeConfig(Arc::new(inner))
    }

    /// Where to probe.
    pub fn target(&self) -> &Target {
        &self.0.target
    }

    /// The TLS mode.
    pub fn tls_mode(&self) -> TlsMode {
        self.0.tls_mode
    }

    /// The name to send as SNI and to verify the certificate against; `None` for an IP target with no name set.
    pub fn tls_name(&self) -> Option<&str> {
        self.0.tls_name.as_deref()
    }

    /// The deadlines.
    pub fn timeouts(&self) -> &Timeouts {
        &self.0.timeouts
    }

    /// The thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        &self.0.thresholds
    }

    /// The address-family policy adapters follow.
    pub fn address_family(&self) -> AddressFamily {
        self.0.address_family
    }

    /// The published TLS policy the handshake is judged against, if any.
    pub fn tls_policy(&self) -> Option<&Arc<dyn TlsPolicy>> {
        self.0.tls_policy.as_ref()
    }

    /// Which addresses adapters may connect to, after resolving the target.
    pub fn address_policy(&self) -> &AddressPolicy {
        &self.0.address_policy
    }

    /// The bounds of MX mode.
    pub fn mx_limits(&self) -> MxLimits {
        self.0.mx_limits
    }

    /// The same configuration for a target from `origin` (MX hosts come from DNS).
    pub(crate) fn with_origin(mut self, origin: Origin) -> ProbeConfig {
        let inner = Arc::make_mut(&mut self.0);
        inner.address_policy = inner.address_policy.clone().with_origin(origin);
        self
    }

    /// The TLS trust settings (the shared default when none were set).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls_config(&self) -> crate::tls::TlsConfig {
        self.0.tls_config.clone().unwrap_or_default()
    }
}

/// Builds a [`ProbeConfig`]; [`build`](Self::build) validates everything.
#[derive(Debug, Clone)]
pub struct ProbeConfigBuilder {
    target: Target,
    tls_mode: Option<TlsMode>,
    tls_name: Option<String>,
    ehlo_name: String,
    auth: Option<(String, Secret)>,
    auth_mechanisms: Vec<AuthMechanism>,
    allow_plaintext_auth: bool,
    mail_from: Option<String>,
    recipients: Vec<String>,
    test_message: Option<String>,
    test_message_date: Option<String>,
    expectations: Expectations,
    thresholds: Thresholds,
    timeouts: Timeouts,
    limits: ReplyLimits,
    transcript: bool,
    address_family: AddressFamily,
    tls_policy: Option<Arc<dyn TlsPolicy>>,
    address_policy: AddressPolicy,
    mx_limits: MxLimits,
    #[cfg(feature = "rustls")]
    tls_config: Option<crate::tls::TlsConfig>,
}

impl ProbeConfigBuilder {
    fn new(target: Target) -> Self {
        ProbeConfigBuilder {
            target,
            tls_mode: None,
            tls_name: None,
            ehlo_name: "localhost".to_owned(),
            auth: None,
            auth_mechanisms: vec![AuthMechanism::Plain, AuthMechanism::Login],
            allow_plaintext_auth: false,
            mail_from: None,
            recipients: Vec::new(),
            test_message: None,
            test_message_date: None,
            expectations: Expectations::default(),
            thresholds: Thresholds::default(),
            timeouts: Timeouts::default(),
            limits: ReplyLimits::default(),
            transcript: true,
            address_family: AddressFamily::default(),
            tls_policy: None,
            address_policy: AddressPolicy::default(),
            mx_limits: MxLimits::default(),
            #[cfg(feature = "rustls")]
            tls_config: None,
        }
    }

    /// TLS trust settings: roots, private CAs, pins, inspect-only mode (default: webpki roots, full
    /// verification).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls_config(mut self, config: crate::tls::TlsConfig) -> Self {
        self.tls_config = Some(config);
        self
    }

    /// Judge the handshake against a policy the domain publishes for its mail servers' TLS (MTA-STS, DANE): the
    /// [`TlsPolicy`](crate::TlsPolicy) checks the finished handshake, and the probe weighs what it says by the
    /// policy's mode (a failure is critical under `enforce`, a warning under `testing`; a policy that
    /// authenticates the server stands in for the roots). With a policy, the handshake always completes, so that
    /// the policy can see it.
    pub fn tls_policy(mut self, policy: Arc<dyn TlsPolicy>) -> Self {
        self.tls_policy = Some(policy);
        self
    }

    /// Which addresses to connect to (adapters).
    pub fn address_family(mut self, family: AddressFamily) -> Self {
        self.address_family = family;
        self
    }

    /// Which addresses adapters may connect to, and where the target came from (default: typed by the user, no
    /// lists). Set [`Origin::Request`] for targets that someone else chose, such as an exporter's `target`.
    pub fn address_policy(mut self, policy: AddressPolicy) -> Self {
        self.address_policy = policy;
        self
    }

    /// The bounds of MX mode: how many hosts, addresses per host, connections at once (each at least 1).
    pub fn mx_limits(mut self, limits: MxLimits) -> Self {
        self.mx_limits = limits;
        self
    }

    /// The TCP connect deadline (adapters).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.connect = timeout;
        self
    }

    /// How to use TLS (default: what the target's scheme implies, else STARTTLS when offered).
    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls_mode = Some(mode);
        self
    }

    /// The name sent as SNI and verified in the certificate, when it differs from the target's host (probing an
    /// MX by address, or a host with several certificates). A DNS name or an IP address; checked by `build`.
    pub fn tls_name(mut self, name: impl Into<String>) -> Self {
        self.tls_name = Some(name.into());
        self
    }

    /// The name sent in EHLO/HELO. Use the probing host's FQDN: some receivers reject odd names.
    /// Default `localhost`.
    pub fn ehlo_name(mut self, name: impl Into<String>) -> Self {
        self.ehlo_name = name.into();
        self
    }

    /// Authenticate with these credentials.
    pub fn auth(mut self, username: impl Into<String>, password: Secret) -> Self {
        self.auth = Some((username.into(), password));
        self
    }

    /// The SASL mechanisms to try, most preferred first (default PLAIN, then LOGIN).
    pub fn auth_mechanisms(mut self, mechanisms: impl IntoIterator<Item = AuthMechanism>) -> Self {
        self.auth_mechanisms = mechanisms.into_iter().collect();
        self
    }

    /// Allow credentials over a connection without TLS. Off by default.
    pub fn allow_plaintext_auth(mut self, allow: bool) -> Self {
        self.allow_plaintext_auth = allow;
        self
    }

    /// Check the envelope from this sender (`""` for the null sender `<>`).
    pub fn mail_from(mut self, from: impl Into<String>) -> Self {
        self.mail_from = Some(from.into());
        self
    }

    /// Add a recipient to check (repeatable).
    pub fn rcpt_to(mut self, to: impl Into<String>) -> Self {
        self.recipients.push(to.into());
        self
    }

    /// Send a test message carrying this unique token instead of stopping before DATA.
    pub fn send_test_message(mut self, token: impl Into<String>) -> Self {
        self.test_message = Some(token.into());
        self
    }

    /// The `Date:` header of the test message (the core reads no clock), given before or after
    /// [`send_test_message`](Self::send_test_message). Without a test message there is nothing to date.
    pub fn test_message_date(mut self, date: impl Into<String>) -> Self {
        self.test_message_date = Some(date.into());
        self
    }

    /// The greeting must contain this text.
    pub fn expect_greeting(mut self, text: impl Into<String>) -> Self {
        self.expectations.greeting_contains = Some(text.into());
        self
    }

    /// The final EHLO must advertise this keyword (repeatable).
    pub fn require_capability(mut self, keyword: Keyword) -> Self {
        self.expectations.capabilities.push(keyword);
        self
    }

    /// The SIZE limit must be at least this many bytes.
    pub fn min_size(mut self, bytes: u64) -> Self {
        self.expectations.min_size = Some(bytes);
        self
    }

    /// Total response time thresholds (as check_smtp's `-w`/`-c`).
    pub fn response_time(mut self, warning: Option<Duration>, critical: Option<Duration>) -> Self {
        self.thresholds.response_warning = warning;
        self.thresholds.response_critical = critical;
        self
    }

    /// Certificate days-left thresholds (as check_smtp's `-D`).
    pub fn certificate_days(mut self, warning: Option<u32>, critical: Option<u32>) -> Self {
        self.thresholds.certificate_days_warning = warning;
        self.thresholds.certificate_days_critical = critical;
        self
    }

    /// All deadlines at once.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The overall deadline; per-phase deadlines are cut to it.
    pub fn overall_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.overall = timeout;
        self
    }

    /// Parser limits (line length, lines per reply, buffered bytes).
    pub fn reply_limits(mut self, limits: ReplyLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Record a transcript in the report (default on; credentials are always redacted).
    pub fn transcript(mut self, record: bool) -> Self {
        self.transcript = record;
        self
    }

    /// Validates and freezes the configuration.
    pub fn build(self) -> Result<ProbeConfig, ConfigError> {
        let tls_mode_explicit = self.tls_mode.is_some();
        let tls_mode = self.tls_mode.or(self.target.tls_mode()).unwrap_or_default();
        let ehlo_name = SafeText::new("ehlo_name", self.ehlo_name)?;
        if ehlo_name.as_str().is_empty() {
            return Err(ConfigError::Empty { field: "ehlo_name" });
        }
        let tls_name_explicit = self.tls_name.is_some();
        let tls_name = match self.tls_name {
            Some(name) => Some(check_tls_name(name)?),
            None => derived_tls_name(&self.target),
        };
        let auth = match self.auth {
            None => None,
            Some((username, password)) => {
                let username = SafeText::new("auth username", username)?;
                SafeText::new("auth password", password.expose())?;
                if self.auth_mechanisms.is_empty() {
                    return Err(ConfigError::Empty { field: "auth mechanisms" });
                }
                if let Some(mechanism) = self.auth_mechanisms.iter().find(|m| !crate::auth::is_implemented(m)) {
                    return Err(ConfigError::UnsupportedMechanism { mechanism: mechanism.clone() });
                }
                if tls_mode == TlsMode::None && !self.allow_plaintext_auth {
                    return Err(ConfigError::PlaintextAuth);
                }
                Some(AuthConfig {
                    username,
                    password,
                    mechanisms: self.auth_mechanisms,
                    allow_plaintext: self.allow_plaintext_auth,
                })
            }
        };
        let incomplete =
            |missing| ConfigError::IncompleteEnvelope { missing, test_message: self.test_message.is_some() };
        let envelope = match (self.mail_from, self.recipients.is_empty()) {
            (None, true) => {
                if self.test_message.is_some() {
                    return Err(incomplete(EnvelopePart::Sender));
                }
                None
            }
            (None, false) => return Err(incomplete(EnvelopePart::Sender)),
            (Some(_), true) => return Err(incomplete(EnvelopePart::Recipient)),
            (Some(from), false) => Some(Envelope {
                from: Address::new("mail_from", from)?,
                recipients: self
                    .recipients
                    .into_iter()
                    .map(|r| Address::new("rcpt_to", r))
                    .collect::<Result<_, _>>()?,
                action: match self.test_message {
                    None => EnvelopeAction::StopBeforeData,
                    Some(token) => EnvelopeAction::SendTestMessage {
                        token: SafeText::new("test message token", token)?,
                        date: self.test_message_date.map(|d| SafeText::new("test message date", d)).transpose()?,
                    },
                },
            }),
        };
        if let Some(text) = &self.expectations.greeting_contains {
            SafeText::new("expected greeting", text.as_str())?;
        }
        let t = &self.timeouts;
        let each = [
            ("connect", t.connect),
            ("overall", t.overall),
            ("greeting", t.greeting),
            ("reply", t.reply),
            ("tls_handshake", t.tls_handshake),
            ("data", t.data),
            ("quit", t.quit),
        ];
        if let Some((field, value)) = each.into_iter().find(|(_, t)| t.is_zero() || *t > MAX_TIMEOUT) {
            return Err(ConfigError::TimeoutOutOfRange { field, value, max: MAX_TIMEOUT });
        }
        let mx = self.mx_limits;
        let mx_limits = [
            ("mx hosts", mx.hosts),
            ("mx addresses per host", mx.addresses_per_host),
            ("mx concurrent", mx.concurrent),
        ];
        if let Some((field, _)) = mx_limits.into_iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::ZeroLimit { field });
        }
        let limits = self.limits;
        if limits.max_line_len == 0 || limits.max_lines == 0 || limits.max_buffered < MIN_BUFFERED {
            return Err(ConfigError::ReplyLimitsTooSmall { limits });
        }
        Ok(ProbeConfig(Arc::new(ConfigInner {
            report_target: self.target.to_string(),
            target: self.target,
            tls_mode,
            tls_mode_explicit,
            tls_name,
            tls_name_explicit,
            ehlo_name,
            auth,
            envelope,
            expectations: self.expectations,
            thresholds: self.thresholds,
            timeouts: self.timeouts,
            limits: self.limits,
            transcript: self.transcript,
            address_family: self.address_family,
            tls_policy: self.tls_policy,
            address_policy: self.address_policy,
            mx_limits: self.mx_limits,
            #[cfg(feature = "rustls")]
            tls_config: self.tls_config,
        })))
    }
}

/// The TLS name a target implies: its host when that is a DNS name. An address is not a name: its IP SANs are
/// verified and no SNI is sent (RFC 6066).
pub(crate) fn derived_tls_name(target: &Target) -> Option<String> {
    target.ip().is_none().then(|| target.host().to_owned())
}

/// Checks an explicit TLS name the way the TLS stack will (an IPv6 address may come in brackets), so a bad name is
/// a configuration error now rather than a failed handshake later.
pub(crate) fn check_tls_name(name: String) -> Result<String, ConfigError> {
    let invalid = |name: &str, reason: String| ConfigError::InvalidTlsName { name: name.to_owned(), reason };
    let bare = match name.strip_prefix('[') {
        Some(bracketed) => bracketed.strip_suffix(']').ok_or_else(|| invalid(&name, "unclosed '['".to_owned()))?,
        None => name.as_str(),
    };
    if bare.parse::<core::net::IpAddr>().is_ok() {
        return Ok(bare.to_owned());
    }
    if let Some(byte) = crate::name::forbidden_byte(bare) {
        return Err(ConfigError::ForbiddenByte { field: "tls_name", byte });
    }
    check_hostname(bare).map_err(|reason| invalid(&name, reason.to_string()))?;
    #[cfg(feature = "rustls")]
    {
        // The syntax above is rustls', checked by hand so the check holds without the feature too; this keeps the
        // two from ever drifting apart.
        let unrooted = bare.strip_suffix('.').unwrap_or(bare);
        rustls::pki_types::ServerName::try_from(unrooted).map_err(|e| invalid(&name, e.to_string()))?;
    }
    Ok(bare.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(target: &str) -> ProbeConfigBuilder {
        ProbeConfig::builder(target.parse().unwrap())
    }

    #[test]
    fn injection_is_refused_at_build() {
        let err = builder("mx").ehlo_name("a\r\nMAIL FROM:<x>").build().unwrap_err();
        assert_eq!(err, ConfigError::ForbiddenByte { field: "ehlo_name", byte: b'\r' });
        let err = builder("mx").mail_from("a@b").rcpt_to("c@d>\nDATA").build().unwrap_err();
        assert!(matches!(err, ConfigError::ForbiddenByte { field: "rcpt_to", .. }));
        let err = builder("mx").tls(TlsMode::Implicit).auth("u\0", Secret::new("p")).build().unwrap_err();
        assert!(matches!(err, ConfigError::ForbiddenByte { field: "auth username", .. }));
        let err = builder("mx").tls(TlsMode::Implicit).auth("u", Secret::new("p\n")).build().unwrap_err();
        assert!(matches!(err, ConfigError::ForbiddenByte { field: "auth password", .. }));
    }

    #[test]
    fn plaintext_auth_needs_explicit_consent() {
        let err = builder("mx").tls(TlsMode::None).auth("u", Secret::new("p")).build().unwrap_err();
        assert_eq!(err, ConfigError::PlaintextAuth);
        assert!(err.to_string().contains("credentials in the clear"), "{err}");
        assert!(
            builder("mx").tls(TlsMode::None).auth("u", Secret::new("p")).allow_plaintext_auth(true).build().is_ok()
        );
    }

    #[test]
    fn ip_targets_send_no_sni_by_default() {
        assert_eq!(builder("192.0.2.1").build().unwrap().tls_name(), None);
        assert_eq!(builder("::1").build().unwrap().tls_name(), None);
        assert_eq!(builder("mx.example").build().unwrap().tls_name(), Some("mx.example"));
        let named = builder("192.0.2.1").tls_name("mx.example").build().unwrap();
        assert_eq!(named.tls_name(), Some("mx.example"));
    }

    #[test]
    fn the_target_is_given_once_and_its_scheme_sets_the_default_tls_mode() {
        let config = builder("submission://mail.example").build().unwrap();
        assert_eq!(config.target().to_string(), "mail.example:587");
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
        assert_eq!(config.tls_name(), Some("mail.example"));
        assert_eq!(builder("mx").build().unwrap().tls_mode(), TlsMode::StartTlsOpportunistic);
        let explicit = builder("smtps://mx").tls(TlsMode::None).build().unwrap();
        assert_eq!(explicit.tls_mode(), TlsMode::None, "an explicit mode wins over the scheme");
    }

    #[test]
    fn retargeting_follows_the_new_target_unless_set_explicitly() {
        let config = builder("submission://mail.example").ehlo_name("probe.example").build().unwrap();
        let other = config.with_target("smtps://[2001:db8::1]".parse().unwrap());
        assert_eq!(other.target().to_string(), "[2001:db8::1]:465");
        assert_eq!((other.tls_mode(), other.tls_name()), (TlsMode::Implicit, None));
        assert_eq!(other.inner().ehlo_name.as_str(), "probe.example");
        assert_eq!(other.inner().report_target, "[2001:db8::1]:465");
        let pinned = builder("mx.example").tls(TlsMode::StartTlsRequired).tls_name("mail.example").build().unwrap();
        let other = pinned.with_target("smtps://mx2.example".parse().unwrap());
        assert_eq!((other.tls_mode(), other.tls_name()), (TlsMode::StartTlsRequired, Some("mail.example")));
    }

    #[test]
    fn an_invalid_tls_name_is_refused_at_build() {
        for bad in ["mx example", "-mx.example", "mx..example", "mx_é.example", "192.0.2.300", "[mx.example"] {
            match builder("192.0.2.1").tls_name(bad).build() {
                Err(ConfigError::InvalidTlsName { name, reason }) => {
                    assert_eq!(name, bad);
                    assert!(!reason.is_empty());
                }
                Err(ConfigError::ForbiddenByte { field: "tls_name", .. }) if bad.contains(' ') => {}
                other => panic!("{bad}: {other:?}"),
            }
        }
        let err = builder("192.0.2.1").tls_name("mx..example").build().unwrap_err();
        assert!(err.to_string().starts_with("invalid TLS name \"mx..example\": "), "{err}");
        assert_eq!(builder("mx.example").tls_name("[2001:db8::1]").build().unwrap().tls_name(), Some("2001:db8::1"));
        assert_eq!(builder("mx.example").tls_name("mail.example.").build().unwrap().tls_name(), Some("mail.example."));
    }

    #[test]
    fn envelope_must_be_whole() {
        let missing = |missing, test_message| Err(ConfigError::IncompleteEnvelope { missing, test_message });
        assert_eq!(builder("mx").rcpt_to("a@b").build().map(drop), missing(EnvelopePart::Sender, false));
        assert_eq!(builder("mx").mail_from("a@b").build().map(drop), missing(EnvelopePart::Recipient, false));
        assert_eq!(builder("mx").send_test_message("t").build().map(drop), missing(EnvelopePart::Sender, true));
        let err = builder("mx").mail_from("a@b").send_test_message("t").build().unwrap_err();
        assert_eq!(err, ConfigError::IncompleteEnvelope { missing: EnvelopePart::Recipient, test_message: true });
        assert!(err.to_string().starts_with("a test message needs a sender (mail_from) and at least one"), "{err}");
    }

    #[test]
    fn the_test_message_date_may_come_before_or_after_the_token() {
        let envelope = |b: ProbeConfigBuilder| b.mail_from("a@b").rcpt_to("c@d").build().unwrap().0.envelope.clone();
        let date = "Thu, 01 Jan 2026 00:00:00 +0000";
        let before = envelope(builder("mx").test_message_date(date).send_test_message("t"));
        let after = envelope(builder("mx").send_test_message("t").test_message_date(date));
        assert_eq!(before, after);
        let Some(Envelope { action: EnvelopeAction::SendTestMessage { date: Some(d), .. }, .. }) = before else {
            panic!("a dated test message: {before:?}");
        };
        assert_eq!(d.as_str(), date);
        let err = builder("mx").test_message_date("a\r\nb").mail_from("a@b").rcpt_to("c@d").send_test_message("t");
        assert!(matches!(err.build(), Err(ConfigError::ForbiddenByte { field: "test message date", .. })));
    }

    #[test]
    fn only_plain_and_login_can_be_used() {
        let err = builder("mx")
            .auth("u", Secret::new("p"))
            .auth_mechanisms([AuthMechanism::Plain, AuthMechanism::CramMd5])
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::UnsupportedMechanism { mechanism: AuthMechanism::CramMd5 });
        assert!(err.to_string().contains("CRAM-MD5"), "{err}");
    }

    #[test]
    fn every_timeout_is_bounded_at_build() {
        type Set = fn(&mut Timeouts, Duration);
        let fields: [(&str, Set); 7] = [
            ("connect", |t, d| t.connect = d),
            ("overall", |t, d| t.overall = d),
            ("greeting", |t, d| t.greeting = d),
            ("reply", |t, d| t.reply = d),
            ("tls_handshake", |t, d| t.tls_handshake = d),
            ("data", |t, d| t.data = d),
            ("quit", |t, d| t.quit = d),
        ];
        for (field, set) in fields {
            for value in
                [Duration::ZERO, MAX_TIMEOUT + Duration::from_nanos(1), Duration::from_secs(u64::MAX), Duration::MAX]
            {
                let mut timeouts = Timeouts::default();
                set(&mut timeouts, value);
                let err = builder("mx").timeouts(timeouts).build().unwrap_err();
                assert_eq!(err, ConfigError::TimeoutOutOfRange { field, value, max: MAX_TIMEOUT });
                assert!(err.to_string().contains("at most 24 h"), "{err}");
            }
            let mut timeouts = Timeouts::default();
            set(&mut timeouts, MAX_TIMEOUT);
            assert!(builder("mx").timeouts(timeouts).build().is_ok(), "{field}: 24 h is allowed");
        }
        let err = builder("mx").overall_timeout(Duration::MAX).build().unwrap_err();
        assert!(matches!(err, ConfigError::TimeoutOutOfRange { field: "overall", .. }));
        let err = builder("mx").connect_timeout(Duration::ZERO).build().unwrap_err();
        assert!(matches!(err, ConfigError::TimeoutOutOfRange { field: "connect", .. }));
    }

    #[test]
    fn deadlines_never_overflow() {
        #[allow(clippy::disallowed_methods)] // a test may read the clock to find an instant to start from
        let now = Instant::now();
        assert_eq!(deadline_after(now, MAX_TIMEOUT), now + MAX_TIMEOUT);
        // The latest instant that can be represented (found the way deadline_after finds it).
        let latest = deadline_after(now, Duration::MAX);
        assert!(latest > now + MAX_TIMEOUT);
        assert_eq!(latest.checked_add(Duration::from_nanos(1)), None, "nothing later can be represented");
        assert_eq!(deadline_after(latest, MAX_TIMEOUT), latest);
        let almost = latest - Duration::from_secs(60);
        assert_eq!(deadline_after(almost, MAX_TIMEOUT), latest);
        assert_eq!(deadline_after(almost, Duration::from_secs(1)), almost + Duration::from_secs(1));
    }

    #[test]
    fn reply_limits_must_fit_a_reply() {
        let limits = ReplyLimits { max_line_len: 0, ..ReplyLimits::default() };
        assert_eq!(
            builder("mx").reply_limits(limits).build().unwrap_err(),
            ConfigError::ReplyLimitsTooSmall { limits }
        );
        let limits = ReplyLimits { max_buffered: 511, ..ReplyLimits::default() };
        let err = builder("mx").reply_limits(limits).build().unwrap_err();
        assert_eq!(err, ConfigError::ReplyLimitsTooSmall { limits });
        assert!(err.to_string().contains("at least 512 bytes"), "{err}");
        let limits = ReplyLimits { max_buffered: 512, ..ReplyLimits::default() };
        assert!(builder("mx").reply_limits(limits).build().is_ok());
    }

    #[test]
    fn tls_modes_by_name() {
        let names = ["none", "starttls", "starttls_required", "implicit"];
        for (mode, name) in TlsMode::ALL.iter().zip(names) {
            assert_eq!((mode.as_str(), name.parse::<TlsMode>()), (name, Ok(*mode)));
        }
        assert_eq!("start_tls_opportunistic".parse::<TlsMode>(), Ok(TlsMode::StartTlsOpportunistic));
        assert_eq!("start_tls_required".parse::<TlsMode>(), Ok(TlsMode::StartTlsRequired));
        assert!("STARTTLS".parse::<TlsMode>().is_err());
        assert_eq!(format!("{:<18}|", TlsMode::StartTlsRequired), "starttls_required |");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let config = builder("mx").tls(TlsMode::Implicit).auth("user", Secret::new("hunter2")).build().unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
