//! What to check and how: [`ProbeConfig`], made with [`ProbeConfigBuilder`].
//!
//! Every caller-supplied string is validated when the configuration is built, so a probe never starts with a
//! string that could inject SMTP commands, nor with credentials it would send in the clear by accident.

use std::sync::Arc;
use std::time::Duration;

use crate::capabilities::{AuthMechanism, Keyword};
use crate::command::{Address, SafeText, Secret};
use crate::error::ConfigError;
use crate::name::check_hostname;
use crate::reply::ReplyLimits;
use crate::target::Target;

/// How the probe uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
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

/// Deadlines, each measured from the moment it starts. Every wait is also cut by `overall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The TCP connection (enforced by adapters; not part of `overall`, which starts once connected).
    pub connect: Duration,
    /// The whole probe, from the connection being established to the end.
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
    #[cfg(feature = "rustls")]
    pub(crate) tls_config: Option<crate::tls::TlsConfig>,
}

/// Which addresses of a name adapters connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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

    /// The TLS trust settings (the shared default when none were set).
    #[cfg(feature = "rustls")]
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
    test_message: Option<(String, Option<String>)>,
    expectations: Expectations,
    thresholds: Thresholds,
    timeouts: Timeouts,
    limits: ReplyLimits,
    transcript: bool,
    address_family: AddressFamily,
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
            expectations: Expectations::default(),
            thresholds: Thresholds::default(),
            timeouts: Timeouts::default(),
            limits: ReplyLimits::default(),
            transcript: true,
            address_family: AddressFamily::default(),
            #[cfg(feature = "rustls")]
            tls_config: None,
        }
    }

    /// TLS trust settings: roots, private CAs, pins, inspect-only mode (default: webpki roots, full
    /// verification).
    #[cfg(feature = "rustls")]
    pub fn tls_config(mut self, config: crate::tls::TlsConfig) -> Self {
        self.tls_config = Some(config);
        self
    }

    /// Which addresses to connect to (adapters).
    pub fn address_family(mut self, family: AddressFamily) -> Self {
        self.address_family = family;
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
        let date = self.test_message.take().and_then(|(_, d)| d);
        self.test_message = Some((token.into(), date));
        self
    }

    /// The `Date:` header of the test message (the core reads no clock).
    pub fn test_message_date(mut self, date: impl Into<String>) -> Self {
        if let Some((_, d)) = &mut self.test_message {
            *d = Some(date.into());
        }
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
                if !self.auth_mechanisms.iter().all(crate::auth::is_implemented) {
                    return Err(ConfigError::Conflict("only the PLAIN and LOGIN AUTH mechanisms are supported"));
                }
                if tls_mode == TlsMode::None && !self.allow_plaintext_auth {
                    return Err(ConfigError::Conflict(
                        "AUTH without TLS would send credentials in the clear: enable STARTTLS or implicit TLS, \
                         or allow plaintext AUTH explicitly",
                    ));
                }
                Some(AuthConfig {
                    username,
                    password,
                    mechanisms: self.auth_mechanisms,
                    allow_plaintext: self.allow_plaintext_auth,
                })
            }
        };
        let envelope = match (self.mail_from, self.recipients.is_empty()) {
            (None, true) => {
                if self.test_message.is_some() {
                    return Err(ConfigError::Conflict("a test message needs a sender and at least one recipient"));
                }
                None
            }
            (None, false) => return Err(ConfigError::Conflict("recipients need a sender (mail_from)")),
            (Some(_), true) => return Err(ConfigError::Conflict("a sender needs at least one recipient (rcpt_to)")),
            (Some(from), false) => Some(Envelope {
                from: Address::new("mail_from", from)?,
                recipients: self
                    .recipients
                    .into_iter()
                    .map(|r| Address::new("rcpt_to", r))
                    .collect::<Result<_, _>>()?,
                action: match self.test_message {
                    None => EnvelopeAction::StopBeforeData,
                    Some((token, date)) => EnvelopeAction::SendTestMessage {
                        token: SafeText::new("test message token", token)?,
                        date: date.map(|d| SafeText::new("test message date", d)).transpose()?,
                    },
                },
            }),
        };
        if let Some(text) = &self.expectations.greeting_contains {
            SafeText::new("expected greeting", text.as_str())?;
        }
        let t = &self.timeouts;
        if [t.connect, t.overall, t.greeting, t.reply, t.tls_handshake, t.data].contains(&Duration::ZERO) {
            return Err(ConfigError::Conflict("timeouts must be greater than zero"));
        }
        if self.limits.max_line_len == 0 || self.limits.max_lines == 0 || self.limits.max_buffered < 512 {
            return Err(ConfigError::Conflict("reply limits are too small for any SMTP server"));
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
            #[cfg(feature = "rustls")]
            tls_config: self.tls_config,
        })))
    }
}

/// The TLS name a target implies: its host when that is a DNS name. An address is not a name: its IP SANs are
/// verified and no SNI is sent (RFC 6066).
fn derived_tls_name(target: &Target) -> Option<String> {
    target.ip().is_none().then(|| target.host().to_owned())
}

/// Checks an explicit TLS name the way the TLS stack will (an IPv6 address may come in brackets), so a bad name is
/// a configuration error now rather than a failed handshake later.
fn check_tls_name(name: String) -> Result<String, ConfigError> {
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
        assert!(builder("mx").tls(TlsMode::None).auth("u", Secret::new("p")).build().is_err());
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
        assert!(builder("mx").rcpt_to("a@b").build().is_err());
        assert!(builder("mx").mail_from("a@b").build().is_err());
        assert!(builder("mx").send_test_message("t").build().is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let config = builder("mx").tls(TlsMode::Implicit).auth("user", Secret::new("hunter2")).build().unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
