//! What the mailbox check needs: [`MailboxConfig`], made with [`MailboxConfigBuilder`] from a [`Target`], where
//! everything is validated.

use std::sync::Arc;
use std::time::Duration;

use crate::command::{SafeText, Secret};
use crate::config::{AddressFamily, MAX_TIMEOUT, TlsMode, check_tls_name, derived_tls_name};
use crate::connect::AddressPolicy;
use crate::error::{ConfigError, MIN_IMAP_LINE, MIN_IMAP_LITERAL, MIN_IMAP_UNTAGGED};
use crate::imap::response::ResponseLimits;
use crate::target::Target;

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoginMethod {
    /// `AUTHENTICATE PLAIN` when the server offers it (with SASL-IR when offered), else `LOGIN`. The default.
    #[default]
    Auto,
    /// `LOGIN` only (refused by the probe when the server says `LOGINDISABLED`).
    Login,
    /// `AUTHENTICATE PLAIN` only.
    Plain,
}

/// What to do with the probe's message once it is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Cleanup {
    /// Flag it `\Deleted` and remove it with `UID EXPUNGE`, which touches no other message. Without UIDPLUS the
    /// message is only flagged: a plain `EXPUNGE` would also remove any other message someone flagged `\Deleted`.
    /// The default.
    #[default]
    Delete,
    /// As `Delete`, but without UIDPLUS send a plain `EXPUNGE`: only for a mailbox nobody else uses.
    DeleteExpungingMailbox,
    /// Leave the message where it is (to inspect it by hand).
    Keep,
}

/// Deadlines of the mailbox side, each from the moment it starts; all are cut by the round trip's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxTimeouts {
    /// The TCP connection (adapters).
    pub connect: Duration,
    /// From connection to the greeting.
    pub greeting: Duration,
    /// From a command to its tagged reply.
    pub reply: Duration,
    /// The TLS handshake.
    pub tls_handshake: Duration,
    /// How long to wait for LOGOUT's reply before closing anyway.
    pub logout: Duration,
}

impl Default for MailboxTimeouts {
    fn default() -> Self {
        MailboxTimeouts {
            connect: Duration::from_secs(10),
            greeting: Duration::from_secs(15),
            reply: Duration::from_secs(15),
            tls_handshake: Duration::from_secs(15),
            logout: Duration::from_secs(2),
        }
    }
}

/// How often to look for the message: the first search right after the message was accepted, then after
/// `initial`, growing by half each time up to `max` (so a fast delivery is timed finely, a slow one costs few
/// commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollInterval {
    /// The first wait between two searches.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for PollInterval {
    fn default() -> Self {
        PollInterval { initial: Duration::from_millis(100), max: Duration::from_secs(5) }
    }
}

impl PollInterval {
    /// The wait after `rounds` searches (1 for the wait after the first).
    pub fn after(&self, rounds: u32) -> Duration {
        let mut wait = self.initial;
        for _ in 1..rounds.min(64) {
            wait = (wait * 3 / 2).min(self.max);
        }
        wait.min(self.max)
    }
}

/// The IMAP port with STARTTLS (RFC 9051); a mailbox target on it uses required STARTTLS unless told otherwise.
pub const IMAP_PORT: u16 = 143;

/// The IMAPS port (implicit TLS, RFC 8314).
pub const IMAPS_PORT: u16 = 993;

/// Reads an IMAP server as people name it: `imaps://host[:port]` (implicit TLS, port 993), `imap://host[:port]`
/// (STARTTLS, port 143), or `host[:port]` (port 993). Returns the target and the TLS mode its scheme names (`None`
/// without a scheme: [`MailboxConfig::builder`] then takes the mode from the port).
///
/// ```
/// use smtp_probe_proto::TlsMode;
/// use smtp_probe_proto::imap::parse_target;
///
/// let (target, mode) = parse_target("imaps://imap.example.net")?;
/// assert_eq!((target.to_string(), mode), ("imap.example.net:993".to_owned(), Some(TlsMode::Implicit)));
/// let (target, mode) = parse_target("imap://[2001:db8::1]")?;
/// assert_eq!((target.to_string(), mode), ("[2001:db8::1]:143".to_owned(), Some(TlsMode::StartTlsRequired)));
/// assert_eq!(parse_target("imap.example.net:143")?.0.port(), 143);
/// assert!(parse_target("pop3://mail.example.net").is_err());
/// # Ok::<(), smtp_probe_proto::TargetError>(())
/// ```
pub fn parse_target(input: &str) -> Result<(Target, Option<TlsMode>), crate::TargetError> {
    let (mode, port, rest) = match input.split_once("://") {
        Some((scheme, rest)) => {
            let (mode, port) = match scheme.to_ascii_lowercase().as_str() {
                "imaps" => (TlsMode::Implicit, IMAPS_PORT),
                "imap" => (TlsMode::StartTlsRequired, IMAP_PORT),
                _ => return Err(crate::TargetError::UnknownImapScheme { scheme: scheme.to_owned() }),
            };
            (Some(mode), port, rest.strip_suffix('/').unwrap_or(rest))
        }
        None => (None, IMAPS_PORT, input),
    };
    if let Some((scheme, _)) = rest.split_once("://") {
        return Err(crate::TargetError::UnknownImapScheme { scheme: scheme.to_owned() });
    }
    Ok((Target::parse_with_default_port(rest, port)?, mode))
}

/// Everything the mailbox check needs to know. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MailboxConfig(Arc<MailboxInner>);

#[derive(Debug, Clone)]
pub(crate) struct MailboxInner {
    pub(crate) target: Target,
    /// `target` as reports name it (`host:port`).
    pub(crate) report_target: String,
    pub(crate) tls_mode: TlsMode,
    pub(crate) tls_name: Option<String>,
    pub(crate) user: SafeText,
    pub(crate) password: Secret,
    pub(crate) allow_plaintext: bool,
    pub(crate) login_method: LoginMethod,
    pub(crate) inbox: String,
    pub(crate) junk: Option<String>,
    pub(crate) cleanup: Cleanup,
    pub(crate) poll: PollInterval,
    pub(crate) timeouts: MailboxTimeouts,
    pub(crate) limits: ResponseLimits,
    pub(crate) transcript: bool,
    pub(crate) certificate_days: (Option<u32>, Option<u32>),
    pub(crate) address_family: AddressFamily,
    pub(crate) address_policy: AddressPolicy,
    #[cfg(feature = "rustls")]
    pub(crate) tls_config: Option<crate::tls::TlsConfig>,
}

impl MailboxConfig {
    /// Starts a configuration for the IMAP server at `target`, logging in as `user`. As with
    /// [`ProbeConfig`](crate::ProbeConfig), the configuration owns its target: the host is, by default, the name
    /// verified in the certificate and sent as SNI (none for an address), and the port decides the default TLS
    /// mode: required STARTTLS on [`IMAP_PORT`] (143), implicit TLS on any other (IMAPS, [`IMAPS_PORT`]).
    ///
    /// ```
    /// use smtp_probe_proto::imap::MailboxConfig;
    /// use smtp_probe_proto::{Secret, Target, TlsMode};
    ///
    /// let config = MailboxConfig::builder(Target::new("imap.example.net", 993)?, "rt@example.net", Secret::new("s"))
    ///     .junk_folder("Junk")
    ///     .build()?;
    /// assert_eq!(config.target().to_string(), "imap.example.net:993");
    /// assert_eq!((config.tls_mode(), config.tls_name()), (TlsMode::Implicit, Some("imap.example.net")));
    /// let starttls = MailboxConfig::builder(Target::new("imap.example.net", 143)?, "rt", Secret::new("s")).build()?;
    /// assert_eq!(starttls.tls_mode(), TlsMode::StartTlsRequired);
    /// # Ok::<(), smtp_probe_proto::Error>(())
    /// ```
    pub fn builder(target: Target, user: impl Into<String>, password: Secret) -> MailboxConfigBuilder {
        MailboxConfigBuilder {
            target,
            tls_mode: None,
            tls_name: None,
            user: user.into(),
            password,
            allow_plaintext: false,
            login_method: LoginMethod::Auto,
            inbox: "INBOX".to_owned(),
            junk: None,
            cleanup: Cleanup::Delete,
            poll: PollInterval::default(),
            timeouts: MailboxTimeouts::default(),
            limits: ResponseLimits::default(),
            transcript: true,
            certificate_days: (None, None),
            address_family: AddressFamily::default(),
            address_policy: AddressPolicy::default(),
            #[cfg(feature = "rustls")]
            tls_config: None,
        }
    }

    pub(crate) fn inner(&self) -> &MailboxInner {
        &self.0
    }

    /// The IMAP server.
    pub fn target(&self) -> &Target {
        &self.0.target
    }

    /// How TLS is used.
    pub fn tls_mode(&self) -> TlsMode {
        self.0.tls_mode
    }

    /// The name verified in the certificate (and sent as SNI); `None` for an address with no name set.
    pub fn tls_name(&self) -> Option<&str> {
        self.0.tls_name.as_deref()
    }

    /// The deadlines.
    pub fn timeouts(&self) -> &MailboxTimeouts {
        &self.0.timeouts
    }

    /// The folder mail should arrive in.
    pub fn inbox(&self) -> &str {
        &self.0.inbox
    }

    /// The junk folder also searched, if any.
    pub fn junk_folder(&self) -> Option<&str> {
        self.0.junk.as_deref()
    }

    /// Which addresses of the IMAP server adapters connect to (never [`AddressFamily::Both`]: one connection).
    pub fn address_family(&self) -> AddressFamily {
        self.0.address_family
    }

    /// Which addresses of the IMAP server adapters may connect to, after resolving it.
    pub fn address_policy(&self) -> &AddressPolicy {
        &self.0.address_policy
    }

    /// The TLS trust settings (the shared default when none were set).
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls_config(&self) -> crate::tls::TlsConfig {
        self.0.tls_config.clone().unwrap_or_default()
    }
}

/// Builds a [`MailboxConfig`]; [`build`](Self::build) validates everything.
#[derive(Debug, Clone)]
pub struct MailboxConfigBuilder {
    target: Target,
    tls_mode: Option<TlsMode>,
    tls_name: Option<String>,
    user: String,
    password: Secret,
    allow_plaintext: bool,
    login_method: LoginMethod,
    inbox: String,
    junk: Option<String>,
    cleanup: Cleanup,
    poll: PollInterval,
    timeouts: MailboxTimeouts,
    limits: ResponseLimits,
    transcript: bool,
    certificate_days: (Option<u32>, Option<u32>),
    address_family: AddressFamily,
    address_policy: AddressPolicy,
    #[cfg(feature = "rustls")]
    tls_config: Option<crate::tls::TlsConfig>,
}

impl MailboxConfigBuilder {
    /// How to use TLS: [`TlsMode::Implicit`] (IMAPS), [`TlsMode::StartTlsRequired`], or plaintext
    /// ([`TlsMode::None`], or opportunistic STARTTLS), which needs
    /// [`allow_plaintext_login`](Self::allow_plaintext_login). Default: what the target's port implies (see
    /// [`MailboxConfig::builder`]).
    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls_mode = Some(mode);
        self
    }

    /// The name verified in the certificate and sent as SNI, when it differs from the target's host. A DNS name or
    /// an IP address; checked by `build`.
    pub fn tls_name(mut self, name: impl Into<String>) -> Self {
        self.tls_name = Some(name.into());
        self
    }

    /// TLS trust settings (private CAs, pins, inspect-only). Inspect-only lets the probe log in over TLS whose
    /// certificate did not verify: the report names that override.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn tls_config(mut self, config: crate::tls::TlsConfig) -> Self {
        self.tls_config = Some(config);
        self
    }

    /// Allow the credentials over a connection without TLS. Off by default; the report names the override.
    pub fn allow_plaintext_login(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }

    /// LOGIN, AUTHENTICATE PLAIN, or whichever the server offers (the default).
    pub fn login_method(mut self, method: LoginMethod) -> Self {
        self.login_method = method;
        self
    }

    /// The folder mail should arrive in (default `INBOX`).
    pub fn inbox(mut self, folder: impl Into<String>) -> Self {
        self.inbox = folder.into();
        self
    }

    /// Also look in this folder (`Junk`, `Spam`, `[Gmail]/Spam`): a message found there is delivered to junk.
    pub fn junk_folder(mut self, folder: impl Into<String>) -> Self {
        self.junk = Some(folder.into());
        self
    }

    /// What to do with the message once found (default: delete it, touching nothing else).
    pub fn cleanup(mut self, cleanup: Cleanup) -> Self {
        self.cleanup = cleanup;
        self
    }

    /// How often to look for the message.
    pub fn poll_interval(mut self, poll: PollInterval) -> Self {
        self.poll = poll;
        self
    }

    /// All deadlines at once.
    pub fn timeouts(mut self, timeouts: MailboxTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Parser limits (line length, literal size, buffered bytes, untagged responses per command).
    pub fn response_limits(mut self, limits: ResponseLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Record a transcript (default on; credentials are always redacted).
    pub fn transcript(mut self, record: bool) -> Self {
        self.transcript = record;
        self
    }

    /// Certificate days-left thresholds for the IMAP server's certificate.
    pub fn certificate_days(mut self, warning: Option<u32>, critical: Option<u32>) -> Self {
        self.certificate_days = (warning, critical);
        self
    }

    /// Which addresses of the IMAP server to connect to (default [`AddressFamily::Any`]). The mailbox is read over
    /// one connection, so [`AddressFamily::Both`] is refused by `build`.
    pub fn address_family(mut self, family: AddressFamily) -> Self {
        self.address_family = family;
        self
    }

    /// Which addresses of the IMAP server adapters may connect to, and where the target came from (default: typed
    /// by the user, no lists), as for a probe ([`ProbeConfigBuilder::address_policy`](crate::ProbeConfigBuilder::address_policy)).
    pub fn address_policy(mut self, policy: AddressPolicy) -> Self {
        self.address_policy = policy;
        self
    }

    /// Validates and freezes the configuration.
    pub fn build(self) -> Result<MailboxConfig, ConfigError> {
        let default_mode = if self.target.port() == IMAP_PORT { TlsMode::StartTlsRequired } else { TlsMode::Implicit };
        let tls_mode = self.tls_mode.unwrap_or(default_mode);
        let user = SafeText::new("imap user", self.user)?;
        if user.as_str().is_empty() {
            return Err(ConfigError::Empty { field: "imap user" });
        }
        SafeText::new("imap password", self.password.expose())?;
        let inbox = SafeText::new("inbox folder", self.inbox)?.as_str().to_owned();
        if inbox.is_empty() {
            return Err(ConfigError::Empty { field: "inbox folder" });
        }
        let junk = self.junk.map(|j| SafeText::new("junk folder", j)).transpose()?.map(|j| j.as_str().to_owned());
        match junk.as_deref() {
            Some("") => return Err(ConfigError::Empty { field: "junk folder" }),
            Some(folder) if folder == inbox => {
                return Err(ConfigError::JunkFolderIsInbox { folder: folder.to_owned() });
            }
            _ => {}
        }
        if self.address_family == AddressFamily::Both {
            return Err(ConfigError::MailboxFamilyBoth);
        }
        let plaintext_possible = matches!(tls_mode, TlsMode::None | TlsMode::StartTlsOpportunistic);
        if plaintext_possible && !self.allow_plaintext {
            return Err(ConfigError::PlaintextLogin);
        }
        let t = &self.timeouts;
        let each = [
            ("imap_connect", t.connect),
            ("imap_greeting", t.greeting),
            ("imap_reply", t.reply),
            ("imap_tls_handshake", t.tls_handshake),
            ("imap_logout", t.logout),
        ];
        if let Some((field, value)) = each.into_iter().find(|(_, t)| t.is_zero() || *t > MAX_TIMEOUT) {
            return Err(ConfigError::TimeoutOutOfRange { field, value, max: MAX_TIMEOUT });
        }
        let PollInterval { initial, max } = self.poll;
        if initial.is_zero() || max < initial || max > MAX_TIMEOUT {
            return Err(ConfigError::PollIntervalOutOfRange { initial, max });
        }
        let l = &self.limits;
        if l.max_line_len < MIN_IMAP_LINE
            || l.max_literal < MIN_IMAP_LITERAL
            || l.max_buffered < l.max_line_len.saturating_add(l.max_literal)
            || l.max_untagged < MIN_IMAP_UNTAGGED
        {
            return Err(ConfigError::ResponseLimitsTooSmall { limits: self.limits });
        }
        let tls_name = match self.tls_name {
            Some(name) => Some(check_tls_name(name)?),
            None => derived_tls_name(&self.target),
        };
        Ok(MailboxConfig(Arc::new(MailboxInner {
            report_target: self.target.to_string(),
            target: self.target,
            tls_mode,
            tls_name,
            user,
            password: self.password,
            allow_plaintext: self.allow_plaintext,
            login_method: self.login_method,
            inbox,
            junk,
            cleanup: self.cleanup,
            poll: self.poll,
            timeouts: self.timeouts,
            limits: self.limits,
            transcript: self.transcript,
            certificate_days: self.certificate_days,
            address_family: self.address_family,
            address_policy: self.address_policy,
            #[cfg(feature = "rustls")]
            tls_config: self.tls_config,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(target: &str) -> MailboxConfigBuilder {
        MailboxConfig::builder(target.parse().unwrap(), "rt@example.org", Secret::new("pw"))
    }

    fn builder() -> MailboxConfigBuilder {
        at("imap.example.org:993")
    }

    #[test]
    fn imap_urls() {
        let at = |input: &str| parse_target(input).map(|(t, mode)| (t.to_string(), mode));
        assert_eq!(at("imaps://imap.example.org/"), Ok(("imap.example.org:993".into(), Some(TlsMode::Implicit))));
        assert_eq!(at("IMAP://127.0.0.1:10143"), Ok(("127.0.0.1:10143".into(), Some(TlsMode::StartTlsRequired))));
        assert_eq!(at("imap.example.org"), Ok(("imap.example.org:993".into(), None)));
        assert_eq!(at("imap.example.org:143"), Ok(("imap.example.org:143".into(), None)));
        for (bad, scheme) in [("pop3://x", "pop3"), ("smtp://x", "smtp"), ("imap://smtps://x", "smtps")] {
            assert_eq!(parse_target(bad), Err(crate::TargetError::UnknownImapScheme { scheme: scheme.into() }));
        }
        assert!(parse_target("imap://").is_err() && parse_target("imaps://x:0").is_err());
        assert!(parse_target("imap://a b").is_err());
    }

    #[test]
    fn one_connection_one_family_policy() {
        assert_eq!(builder().address_family(AddressFamily::Both).build().unwrap_err(), ConfigError::MailboxFamilyBoth);
        let config = builder()
            .address_family(AddressFamily::Ipv6Only)
            .address_policy(AddressPolicy::new(crate::Origin::Request))
            .build()
            .unwrap();
        assert_eq!(config.address_family(), AddressFamily::Ipv6Only);
        assert_eq!(config.address_policy(), &AddressPolicy::new(crate::Origin::Request));
        assert_eq!(builder().build().unwrap().address_family(), AddressFamily::Any);
    }

    #[test]
    fn plaintext_needs_consent() {
        assert_eq!(builder().tls(TlsMode::None).build().unwrap_err(), ConfigError::PlaintextLogin);
        let err = builder().tls(TlsMode::StartTlsOpportunistic).build().unwrap_err();
        assert_eq!(err, ConfigError::PlaintextLogin);
        assert!(err.to_string().contains("password in the clear"), "{err}");
        assert!(builder().tls(TlsMode::None).allow_plaintext_login(true).build().is_ok());
        assert!(builder().tls(TlsMode::StartTlsRequired).build().is_ok());
    }

    #[test]
    fn the_port_sets_the_default_tls_mode() {
        assert_eq!(at("imap.example.org:993").build().unwrap().tls_mode(), TlsMode::Implicit);
        assert_eq!(at("imap.example.org:10993").build().unwrap().tls_mode(), TlsMode::Implicit);
        assert_eq!(at("imap.example.org:143").build().unwrap().tls_mode(), TlsMode::StartTlsRequired);
        let explicit = at("imap.example.org:143").tls(TlsMode::Implicit).build().unwrap();
        assert_eq!(explicit.tls_mode(), TlsMode::Implicit, "an explicit mode wins");
        assert_eq!(builder().build().unwrap().target().to_string(), "imap.example.org:993");
    }

    #[test]
    fn injection_is_refused() {
        let err = builder().junk_folder("Junk\"\n").build().unwrap_err();
        assert!(matches!(err, ConfigError::ForbiddenByte { field: "junk folder", byte: b'\n' }), "{err:?}");
        let err = MailboxConfig::builder("imap.example.org:993".parse().unwrap(), "u\r\nA LOGOUT", Secret::new("p"))
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::ForbiddenByte { field: "imap user", .. }), "{err:?}");
        let err = builder().tls_name("imap example").build().unwrap_err();
        assert!(matches!(err, ConfigError::ForbiddenByte { field: "tls_name", .. }), "{err:?}");
    }

    #[test]
    fn folders_are_named_and_distinct() {
        let err = builder().junk_folder("INBOX").build().unwrap_err();
        assert_eq!(err, ConfigError::JunkFolderIsInbox { folder: "INBOX".into() });
        assert_eq!(builder().junk_folder("").build().unwrap_err(), ConfigError::Empty { field: "junk folder" });
        assert_eq!(builder().inbox("").build().unwrap_err(), ConfigError::Empty { field: "inbox folder" });
        let config = builder().inbox("Probe").junk_folder("INBOX").build().unwrap();
        assert_eq!((config.inbox(), config.junk_folder()), ("Probe", Some("INBOX")));
    }

    #[test]
    fn timeouts_polling_and_limits_are_bounded() {
        let err = builder().timeouts(MailboxTimeouts { logout: Duration::ZERO, ..Default::default() }).build();
        assert_eq!(
            err.unwrap_err(),
            ConfigError::TimeoutOutOfRange { field: "imap_logout", value: Duration::ZERO, max: MAX_TIMEOUT }
        );
        let err = builder().timeouts(MailboxTimeouts { reply: Duration::MAX, ..Default::default() }).build();
        assert!(matches!(err, Err(ConfigError::TimeoutOutOfRange { field: "imap_reply", .. })));
        for (initial, max) in [(0, 100), (200, 100), (1, 25 * 3600 * 1000)] {
            let poll = PollInterval { initial: Duration::from_millis(initial), max: Duration::from_millis(max) };
            let err = builder().poll_interval(poll).build().unwrap_err();
            assert_eq!(err, ConfigError::PollIntervalOutOfRange { initial: poll.initial, max: poll.max });
        }
        let limits = ResponseLimits { max_untagged: 15, ..ResponseLimits::default() };
        assert_eq!(
            builder().response_limits(limits).build().unwrap_err(),
            ConfigError::ResponseLimitsTooSmall { limits }
        );
        let limits = ResponseLimits { max_buffered: usize::MAX, max_literal: usize::MAX, ..ResponseLimits::default() };
        assert!(builder().response_limits(limits).build().is_ok(), "no overflow in the buffer check");
    }

    #[test]
    fn poll_intervals_grow_to_their_cap() {
        let poll = PollInterval { initial: Duration::from_millis(100), max: Duration::from_millis(400) };
        let waits: Vec<u128> = (1..=6).map(|n| poll.after(n).as_millis()).collect();
        assert_eq!(waits, [100, 150, 225, 337, 400, 400]);
    }

    #[test]
    fn ip_targets_verify_the_address() {
        let config = at("127.0.0.1:993").build().unwrap();
        assert_eq!(config.tls_name(), None);
        assert_eq!(builder().build().unwrap().tls_name(), Some("imap.example.org"));
        assert_eq!(at("[::1]:993").tls_name("imap.test").build().unwrap().tls_name(), Some("imap.test"));
    }
}
