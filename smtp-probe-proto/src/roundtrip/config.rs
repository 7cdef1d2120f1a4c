//! [`RoundTripConfig`]: where to send, where to look, and how long mail may take.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ProbeConfig, ProbeConfigBuilder};
use crate::error::ConfigError;
use crate::imap::MailboxConfig;
use crate::roundtrip::Token;
use crate::target::Target;

/// A round trip's configuration. Cheap to clone; build it once, run it as often as needed (each run makes its own
/// token and `Date:`).
#[derive(Debug, Clone)]
pub struct RoundTripConfig(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    submit_target: Target,
    submit: ProbeConfigBuilder,
    mailbox_target: Target,
    mailbox: MailboxConfig,
    deadline: Duration,
    cleanup_time: Duration,
    delivery_warning: Option<Duration>,
    delivery_critical: Option<Duration>,
}

impl RoundTripConfig {
    /// Submit through `submit_target` with the SMTP settings of `submit` (TLS, AUTH, sender and the mailbox's
    /// address as recipient: the test message is added per run), and read the mailbox at `mailbox_target`.
    ///
    /// ```
    /// use smtp_probe_proto::imap::MailboxConfig;
    /// use smtp_probe_proto::{ProbeConfig, RoundTripConfig, Secret, Target, TlsMode};
    ///
    /// let submit = ProbeConfig::builder("smtp.example.org")
    ///     .tls(TlsMode::StartTlsRequired)
    ///     .auth("monitor@example.org", Secret::new("submit-secret"))
    ///     .mail_from("monitor@example.org")
    ///     .rcpt_to("roundtrip@example.net"); // a mailbox elsewhere: a real external loop
    /// let mailbox = MailboxConfig::builder("imap.example.net", "roundtrip@example.net", Secret::new("imap-secret"))
    ///     .junk_folder("Junk")
    ///     .build()?;
    /// let config = RoundTripConfig::builder(Target::new("smtp.example.org", 587), submit, Target::new("imap.example.net", 993), mailbox)
    ///     .deadline(std::time::Duration::from_secs(120))
    ///     .build()?;
    /// assert_eq!(config.deadline().as_secs(), 120);
    /// # Ok::<(), smtp_probe_proto::ConfigError>(())
    /// ```
    pub fn builder(
        submit_target: Target,
        submit: ProbeConfigBuilder,
        mailbox_target: Target,
        mailbox: MailboxConfig,
    ) -> RoundTripConfigBuilder {
        RoundTripConfigBuilder {
            submit_target,
            submit,
            mailbox_target,
            mailbox,
            deadline: Duration::from_secs(60),
            cleanup_time: Duration::from_secs(5),
            delivery_warning: None,
            delivery_critical: None,
        }
    }

    /// Where the message is submitted.
    pub fn submit_target(&self) -> &Target {
        &self.0.submit_target
    }

    /// The IMAP server.
    pub fn mailbox_target(&self) -> &Target {
        &self.0.mailbox_target
    }

    /// The mailbox settings.
    pub fn mailbox(&self) -> &MailboxConfig {
        &self.0.mailbox
    }

    /// From the start of a run, by when the message must be visible in the mailbox.
    pub fn deadline(&self) -> Duration {
        self.0.deadline
    }

    /// How much longer than the deadline a run may take, to fetch, delete and log out.
    pub fn cleanup_time(&self) -> Duration {
        self.0.cleanup_time
    }

    /// Delivery-time thresholds: later than `warning` is degraded, later than `critical` is down.
    pub fn delivery_thresholds(&self) -> (Option<Duration>, Option<Duration>) {
        (self.0.delivery_warning, self.0.delivery_critical)
    }

    /// The SMTP configuration for one run: the test message with `token` and the `Date:` value `date` (RFC 5322),
    /// its overall timeout cut to `time_left` (what remains of the round trip's deadline).
    pub fn submit_config(&self, token: &Token, date: &str, time_left: Duration) -> Result<ProbeConfig, ConfigError> {
        let overall = self.0.submit.clone().build()?.timeouts().overall.min(time_left).max(Duration::from_millis(1));
        self.0.submit.clone().send_test_message(token.as_str()).test_message_date(date).overall_timeout(overall).build()
    }
}

/// Builds a [`RoundTripConfig`]; [`build`](Self::build) validates everything.
#[derive(Debug, Clone)]
pub struct RoundTripConfigBuilder {
    submit_target: Target,
    submit: ProbeConfigBuilder,
    mailbox_target: Target,
    mailbox: MailboxConfig,
    deadline: Duration,
    cleanup_time: Duration,
    delivery_warning: Option<Duration>,
    delivery_critical: Option<Duration>,
}

impl RoundTripConfigBuilder {
    /// By when the message must be visible, from the start of a run (default 60 s). Past it: `not_delivered`.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Extra time after the deadline to fetch, delete and log out (default 5 s).
    pub fn cleanup_time(mut self, time: Duration) -> Self {
        self.cleanup_time = time;
        self
    }

    /// Delivery later than `warning` (acceptance to visible) is degraded (`slow_delivery`); later than
    /// `critical`, down. Both off by default.
    pub fn delivery_time(mut self, warning: Option<Duration>, critical: Option<Duration>) -> Self {
        self.delivery_warning = warning;
        self.delivery_critical = critical;
        self
    }

    /// Validates and freezes the configuration.
    pub fn build(self) -> Result<RoundTripConfig, ConfigError> {
        if self.deadline.is_zero() {
            return Err(ConfigError::Conflict("the round-trip deadline must be greater than zero"));
        }
        if let (Some(w), Some(c)) = (self.delivery_warning, self.delivery_critical) {
            if c < w {
                return Err(ConfigError::Conflict("the critical delivery time must not be below the warning one"));
            }
        }
        // The submission must be able to carry a test message: a sender and a recipient, valid strings.
        let probe = Token::new("smtp-probe-validation").expect("a valid token");
        let config = self.submit.clone().send_test_message(probe.as_str()).test_message_date("x").build()?;
        if config.timeouts().overall.is_zero() {
            return Err(ConfigError::Conflict("the submission timeout must be greater than zero"));
        }
        // Opportunistic STARTTLS goes ahead over a certificate that does not verify (as MTAs deliver); with
        // credentials that is the one thing never to do unless explicitly allowed.
        let credentials = config.inner().auth.as_ref().is_some_and(|auth| !auth.allow_plaintext);
        if credentials && config.tls_mode() == crate::TlsMode::StartTlsOpportunistic {
            return Err(ConfigError::Conflict(
                "the submission authenticates: use required STARTTLS or implicit TLS (opportunistic STARTTLS would \
                 send the credentials over a certificate that did not verify), or allow plaintext AUTH explicitly",
            ));
        }
        crate::connect::check_target(&self.submit_target).map_err(|crate::RunError::Config(e)| e)?;
        crate::connect::check_target(&self.mailbox_target).map_err(|crate::RunError::Config(e)| e)?;
        Ok(RoundTripConfig(Arc::new(Inner {
            submit_target: self.submit_target,
            submit: self.submit,
            mailbox_target: self.mailbox_target,
            mailbox: self.mailbox,
            deadline: self.deadline,
            cleanup_time: self.cleanup_time,
            delivery_warning: self.delivery_warning,
            delivery_critical: self.delivery_critical,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Secret, TlsMode};

    fn build(submit: ProbeConfigBuilder) -> Result<RoundTripConfig, ConfigError> {
        let mailbox = MailboxConfig::builder("imap.example.net", "u", Secret::new("p")).build()?;
        RoundTripConfig::builder(
            Target::new("smtp.example.org", 587),
            submit,
            Target::new("imap.example.net", 993),
            mailbox,
        )
        .build()
    }

    #[test]
    fn the_submission_must_be_able_to_send_a_message() {
        assert!(build(ProbeConfig::builder("smtp.example.org")).is_err(), "no envelope");
        assert!(
            build(ProbeConfig::builder("smtp.example.org").mail_from("a@example.org").rcpt_to("b@example.net")).is_ok()
        );
    }

    #[test]
    fn credentials_never_go_over_opportunistic_tls() {
        let submit = |mode| {
            ProbeConfig::builder("smtp.example.org")
                .tls(mode)
                .auth("a@example.org", Secret::new("s"))
                .mail_from("a@example.org")
                .rcpt_to("b@example.net")
        };
        assert!(build(submit(TlsMode::StartTlsOpportunistic)).is_err());
        assert!(build(submit(TlsMode::StartTlsOpportunistic).allow_plaintext_auth(true)).is_ok(), "explicitly allowed");
        assert!(build(submit(TlsMode::StartTlsRequired)).is_ok());
        assert!(build(submit(TlsMode::Implicit)).is_ok());
    }

    #[test]
    fn each_run_gets_its_token_date_and_remaining_time() {
        let config =
            build(ProbeConfig::builder("smtp.example.org").mail_from("a@example.org").rcpt_to("b@example.net"))
                .unwrap();
        let token = Token::new("smtp-probe-t1").unwrap();
        let run = config.submit_config(&token, "Mon, 03 Mar 2025 10:00:00 +0000", Duration::from_secs(3)).unwrap();
        assert_eq!(run.timeouts().overall, Duration::from_secs(3), "cut to what is left of the deadline");
        let run = config.submit_config(&token, "x", Duration::from_secs(300)).unwrap();
        assert_eq!(run.timeouts().overall, Duration::from_secs(30), "never longer than configured");
    }
}
