//! What the mailbox check needs: [`MailboxConfig`], made with [`MailboxConfigBuilder`], where everything is
//! validated.

use std::sync::Arc;
use std::time::Duration;

use crate::command::{SafeText, Secret};
use crate::config::TlsMode;
use crate::error::ConfigError;
use crate::imap::response::ResponseLimits;

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

/// Everything the mailbox check needs to know. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MailboxConfig(Arc<MailboxInner>);

#[derive(Debug, Clone)]
pub(crate) struct MailboxInner {
    pub(crate) target: String,
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
    #[cfg(feature = "rustls")]
    pub(crate) tls_config: Option<crate::tls::TlsConfig>,
}

impl MailboxConfig {
    /// Starts a configuration for the IMAP server `target` (the name the report shows, and by default the name
    /// verified in its certificate), logging in as `user`.
    pub fn builder(target: impl Into<String>, user: impl Into<String>, password: Secret) -> MailboxConfigBuilder {
        MailboxConfigBuilder {
            target: target.into(),
            tls_mode: TlsMode::Implicit,
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
            #[cfg(feature = "rustls")]
            tls_config: None,
        }
    }

    pub(crate) fn inner(&self) -> &MailboxInner {
        &self.0
    }

    /// The IMAP server as configured.
    pub fn target(&self) -> &str {
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

    /// The TLS trust settings (the shared default when none were set).
    #[cfg(feature = "rustls")]
    pub fn tls_config(&self) -> crate::tls::TlsConfig {
        self.0.tls_config.clone().unwrap_or_default()
    }
}

/// Builds a [`MailboxConfig`]; [`build`](Self::build) validates everything.
#[derive(Debug, Clone)]
pub struct MailboxConfigBuilder {
    target: String,
    tls_mode: TlsMode,
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
    #[cfg(feature = "rustls")]
    tls_config: Option<crate::tls::TlsConfig>,
}

impl MailboxConfigBuilder {
    /// How to use TLS: [`TlsMode::Implicit`] (IMAPS, port 993; the default), [`TlsMode::StartTlsRequired`]
    /// (port 143), or plaintext ([`TlsMode::None`], or opportunistic STARTTLS), which needs
    /// [`allow_plaintext_login`](Self::allow_plaintext_login).
    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls_mode = mode;
        self
    }

    /// The name verified in the certificate and sent as SNI, when it differs from the target.
    pub fn tls_name(mut self, name: impl Into<String>) -> Self {
        self.tls_name = Some(name.into());
        self
    }

    /// TLS trust settings (private CAs, pins, inspect-only). Inspect-only lets the probe log in over TLS whose
    /// certificate did not verify: the report names that override.
    #[cfg(feature = "rustls")]
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

    /// Validates and freezes the configuration.
    pub fn build(self) -> Result<MailboxConfig, ConfigError> {
        let target = SafeText::new("imap target", self.target)?;
        if target.as_str().is_empty() {
            return Err(ConfigError::Empty { field: "imap target" });
        }
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
        if junk.as_deref().is_some_and(|j| j.is_empty() || j == inbox) {
            return Err(ConfigError::Conflict("the junk folder must be named, and differ from the inbox"));
        }
        let plaintext_possible = matches!(self.tls_mode, TlsMode::None | TlsMode::StartTlsOpportunistic);
        if plaintext_possible && !self.allow_plaintext {
            return Err(ConfigError::Conflict(
                "IMAP without required TLS could send the mailbox password in the clear: use implicit TLS or \
                 required STARTTLS, or allow plaintext login explicitly",
            ));
        }
        let t = &self.timeouts;
        if [t.connect, t.greeting, t.reply, t.tls_handshake].contains(&Duration::ZERO) {
            return Err(ConfigError::Conflict("mailbox timeouts must be greater than zero"));
        }
        if self.poll.initial.is_zero() || self.poll.max < self.poll.initial {
            return Err(ConfigError::Conflict(
                "the poll interval must be positive, and its maximum at least its start",
            ));
        }
        let l = &self.limits;
        if l.max_line_len < 512
            || l.max_literal < 1024
            || l.max_buffered < l.max_line_len + l.max_literal
            || l.max_untagged < 16
        {
            return Err(ConfigError::Conflict(
                "IMAP response limits are too small (line ≥ 512, literal ≥ 1024, buffer ≥ line + literal, untagged ≥ 16)",
            ));
        }
        let tls_name = match self.tls_name {
            Some(name) => Some(SafeText::new("imap tls_name", name)?.as_str().to_owned()),
            None => {
                let bare = target.as_str().trim_start_matches('[').trim_end_matches(']');
                bare.parse::<core::net::IpAddr>().is_err().then(|| target.as_str().to_owned())
            }
        };
        Ok(MailboxConfig(Arc::new(MailboxInner {
            target: target.as_str().to_owned(),
            tls_mode: self.tls_mode,
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
            #[cfg(feature = "rustls")]
            tls_config: self.tls_config,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> MailboxConfigBuilder {
        MailboxConfig::builder("imap.example.org", "rt@example.org", Secret::new("pw"))
    }

    #[test]
    fn plaintext_needs_consent() {
        assert!(builder().tls(TlsMode::None).build().is_err());
        assert!(builder().tls(TlsMode::StartTlsOpportunistic).build().is_err());
        assert!(builder().tls(TlsMode::None).allow_plaintext_login(true).build().is_ok());
        assert!(builder().tls(TlsMode::StartTlsRequired).build().is_ok());
    }

    #[test]
    fn injection_is_refused() {
        assert!(matches!(
            MailboxConfig::builder("imap", "u\r\nA LOGOUT", Secret::new("p")).build(),
            Err(ConfigError::ForbiddenByte { field: "imap user", .. })
        ));
        assert!(builder().junk_folder("Junk\"\n").build().is_err());
        assert!(builder().junk_folder("INBOX").build().is_err());
    }

    #[test]
    fn poll_intervals_grow_to_their_cap() {
        let poll = PollInterval { initial: Duration::from_millis(100), max: Duration::from_millis(400) };
        let waits: Vec<u128> = (1..=6).map(|n| poll.after(n).as_millis()).collect();
        assert_eq!(waits, [100, 150, 225, 337, 400, 400]);
    }

    #[test]
    fn ip_targets_verify_the_address() {
        let config = MailboxConfig::builder("127.0.0.1", "u", Secret::new("p")).build().unwrap();
        assert_eq!(config.tls_name(), None);
        assert_eq!(builder().build().unwrap().tls_name(), Some("imap.example.org"));
    }
}
