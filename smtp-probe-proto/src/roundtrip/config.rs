//! [`RoundTripConfig`]: where to send, where to look, and how long mail may take.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{MAX_TIMEOUT, ProbeConfig, TlsMode};
use crate::error::{ConfigError, EnvelopePart};
use crate::imap::MailboxConfig;
use crate::roundtrip::RoundTripStart;

/// A round trip's configuration: a submission ([`ProbeConfig`]) and a mailbox ([`MailboxConfig`]), each owning its
/// own target, and the time mail may take between them. Cheap to clone; build it once, run it as often as needed
/// (each run makes its own token and `Date:`).
#[derive(Debug, Clone)]
pub struct RoundTripConfig(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    submit: ProbeConfig,
    mailbox: MailboxConfig,
    deadline: Duration,
    cleanup_time: Duration,
    delivery_warning: Option<Duration>,
    delivery_critical: Option<Duration>,
}

impl RoundTripConfig {
    /// Submit with `submit` (its target, TLS, AUTH, sender, and the mailbox's address as recipient: each run adds
    /// its test message), and read the mailbox with `mailbox`. The two are independent, so a message may leave
    /// through one provider and be read at another.
    ///
    /// ```
    /// use smtp_probe_proto::imap::MailboxConfig;
    /// use smtp_probe_proto::{ProbeConfig, RoundTripConfig, Secret, Target};
    ///
    /// let submit = ProbeConfig::builder("submission://smtp.example.org".parse()?) // port 587, STARTTLS required
    ///     .auth("monitor@example.org", Secret::new("submit-secret"))
    ///     .mail_from("monitor@example.org")
    ///     .rcpt_to("roundtrip@example.net") // a mailbox elsewhere: a real external loop
    ///     .build()?;
    /// let mailbox = MailboxConfig::builder(Target::new("imap.example.net", 993)?, "roundtrip@example.net",
    ///     Secret::new("imap-secret"))
    ///     .junk_folder("Junk")
    ///     .build()?;
    /// let config = RoundTripConfig::builder(submit, mailbox).deadline(std::time::Duration::from_secs(120)).build()?;
    /// assert_eq!(config.deadline().as_secs(), 120);
    /// assert_eq!(config.submit().target().to_string(), "smtp.example.org:587");
    /// # Ok::<(), smtp_probe_proto::Error>(())
    /// ```
    pub fn builder(submit: ProbeConfig, mailbox: MailboxConfig) -> RoundTripConfigBuilder {
        RoundTripConfigBuilder {
            submit,
            mailbox,
            deadline: Duration::from_secs(60),
            cleanup_time: Duration::from_secs(5),
            delivery_warning: None,
            delivery_critical: None,
        }
    }

    /// The submission, as configured (without a run's test message).
    pub fn submit(&self) -> &ProbeConfig {
        &self.0.submit
    }

    /// The mailbox.
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

    /// The submission of the run `run`, starting at `now`: the test message with the run's token and a `Date:` of
    /// its wall time, the overall timeout cut to what is left of the run's deadline.
    pub fn submit_config(&self, run: &RoundTripStart, now: Instant) -> ProbeConfig {
        let submit = &self.0.submit;
        let left = run.search_deadline.saturating_duration_since(now);
        let overall = submit.timeouts().overall.min(left).max(Duration::from_millis(1));
        let date = crate::date::rfc5322(unix_seconds(run.wall));
        submit.with_test_message(run.token.as_str(), date, overall)
    }
}

/// Wall time as Unix seconds, negative before 1970.
fn unix_seconds(wall: SystemTime) -> i64 {
    match wall.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Builds a [`RoundTripConfig`]; [`build`](Self::build) validates everything.
#[derive(Debug, Clone)]
pub struct RoundTripConfigBuilder {
    submit: ProbeConfig,
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

    /// Validates and freezes the configuration: both times greater than zero and at most
    /// [`MAX_TIMEOUT`](crate::MAX_TIMEOUT), the thresholds in order, a submission that can carry a test message
    /// (a sender and a recipient) and that never authenticates over opportunistic STARTTLS unless plaintext AUTH is
    /// explicitly allowed.
    pub fn build(self) -> Result<RoundTripConfig, ConfigError> {
        let times = [("round_trip_deadline", self.deadline), ("round_trip_cleanup", self.cleanup_time)];
        if let Some((field, value)) = times.into_iter().find(|(_, t)| t.is_zero() || *t > MAX_TIMEOUT) {
            return Err(ConfigError::TimeoutOutOfRange { field, value, max: MAX_TIMEOUT });
        }
        if let (Some(warning), Some(critical)) = (self.delivery_warning, self.delivery_critical) {
            if critical < warning {
                return Err(ConfigError::DeliveryThresholdsInverted { warning, critical });
            }
        }
        let submit = self.submit.inner();
        if submit.envelope.is_none() {
            // A probe's envelope has both a sender and recipients, or neither.
            return Err(ConfigError::IncompleteEnvelope { missing: EnvelopePart::Sender, test_message: true });
        }
        // Opportunistic STARTTLS goes ahead over a certificate that does not verify (as MTAs deliver); with
        // credentials that is the one thing never to do unless explicitly allowed.
        let credentials = submit.auth.as_ref().is_some_and(|auth| !auth.allow_plaintext);
        if credentials && submit.tls_mode == TlsMode::StartTlsOpportunistic {
            return Err(ConfigError::OpportunisticSubmissionAuth);
        }
        Ok(RoundTripConfig(Arc::new(Inner {
            submit: self.submit,
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
    use crate::config::{EnvelopeAction, ProbeConfigBuilder};
    use crate::{Secret, Token};

    fn submit() -> ProbeConfigBuilder {
        ProbeConfig::builder("submission://smtp.example.org".parse().unwrap())
            .mail_from("a@example.org")
            .rcpt_to("b@example.net")
    }

    fn build(submit: ProbeConfigBuilder) -> Result<RoundTripConfig, ConfigError> {
        let target = "imap.example.net:993".parse().unwrap();
        let mailbox = MailboxConfig::builder(target, "u", Secret::new("p")).build()?;
        RoundTripConfig::builder(submit.build()?, mailbox).build()
    }

    #[test]
    fn the_submission_must_be_able_to_send_a_message() {
        let no_envelope = ProbeConfig::builder("submission://smtp.example.org".parse().unwrap());
        let err = build(no_envelope).unwrap_err();
        assert_eq!(err, ConfigError::IncompleteEnvelope { missing: EnvelopePart::Sender, test_message: true });
        assert!(err.to_string().starts_with("a test message needs a sender"), "{err}");
        assert!(build(submit()).is_ok());
    }

    #[test]
    fn credentials_never_go_over_opportunistic_tls() {
        let with_auth = |mode| submit().tls(mode).auth("a@example.org", Secret::new("s"));
        let err = build(with_auth(TlsMode::StartTlsOpportunistic)).unwrap_err();
        assert_eq!(err, ConfigError::OpportunisticSubmissionAuth);
        assert!(err.to_string().contains("opportunistic STARTTLS"), "{err}");
        assert!(
            build(with_auth(TlsMode::StartTlsOpportunistic).allow_plaintext_auth(true)).is_ok(),
            "explicitly allowed"
        );
        assert!(build(with_auth(TlsMode::StartTlsRequired)).is_ok());
        assert!(build(with_auth(TlsMode::Implicit)).is_ok());
        assert!(build(submit().tls(TlsMode::StartTlsOpportunistic)).is_ok(), "no credentials, nothing to protect");
    }

    #[test]
    fn times_are_bounded_and_thresholds_ordered() {
        let mailbox = || MailboxConfig::builder("imap.example.net:993".parse().unwrap(), "u", Secret::new("p"));
        let builder = || RoundTripConfig::builder(submit().build().unwrap(), mailbox().build().unwrap());
        let err = builder().deadline(Duration::ZERO).build().unwrap_err();
        assert_eq!(
            err,
            ConfigError::TimeoutOutOfRange { field: "round_trip_deadline", value: Duration::ZERO, max: MAX_TIMEOUT }
        );
        let err = builder().cleanup_time(Duration::MAX).build().unwrap_err();
        assert!(matches!(err, ConfigError::TimeoutOutOfRange { field: "round_trip_cleanup", .. }), "{err:?}");
        let (warning, critical) = (Duration::from_secs(10), Duration::from_secs(5));
        let err = builder().delivery_time(Some(warning), Some(critical)).build().unwrap_err();
        assert_eq!(err, ConfigError::DeliveryThresholdsInverted { warning, critical });
        assert!(builder().delivery_time(Some(critical), Some(warning)).build().is_ok());
    }

    #[test]
    fn each_run_gets_its_token_date_and_remaining_time() {
        let config = build(submit()).unwrap();
        #[allow(clippy::disallowed_methods)] // a test may read the clock to find an instant to start from
        let at = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_741_000_000);
        let run =
            RoundTripStart { token: Token::new("smtp-probe-t1").unwrap(), ..RoundTripStart::new(&config, at, wall, 7) };
        let submit = config.submit_config(&run, run.search_deadline - Duration::from_secs(3));
        assert_eq!(submit.timeouts().overall, Duration::from_secs(3), "cut to what is left of the deadline");
        assert_eq!(submit.target(), config.submit().target(), "the target stays the submission's own");
        let Some(EnvelopeAction::SendTestMessage { token, date }) = submit.inner().envelope.as_ref().map(|e| &e.action)
        else {
            panic!("a test message");
        };
        assert_eq!(token.as_str(), "smtp-probe-t1");
        assert_eq!(date.as_ref().map(|d| d.as_str()), Some("Mon, 03 Mar 2025 11:06:40 +0000"));
        let submit = config.submit_config(&run, at);
        assert_eq!(submit.timeouts().overall, Duration::from_secs(30), "never longer than configured");
        let late = config.submit_config(&run, run.deadline);
        assert_eq!(late.timeouts().overall, Duration::from_millis(1), "past the deadline: over at once");
        assert_eq!(unix_seconds(SystemTime::UNIX_EPOCH - Duration::from_secs(5)), -5);
    }
}
