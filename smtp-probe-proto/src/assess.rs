//! Judging TLS: what the outcome of a handshake, and the certificate the server showed, mean for the verdict, and
//! whether credentials may be sent over it.
//!
//! This is the one place where TLS and certificate outcomes are judged. The probe records the judgements as
//! findings and asks here before it sends AUTH; the `Session` asks here whether a handshake goes on past a
//! certificate that does not verify. Everything a judgement depends on comes from the configuration: the TLS mode,
//! whether credentials are configured, the certificate-days thresholds, the overrides (inspect-only in the trust
//! settings, plaintext AUTH allowed) and a published policy ([`TlsPolicy`]: MTA-STS, DANE) when one is given.
//!
//! # A certificate that does not verify, at the handshake
//!
//! Opportunistic TLS raises no alarm by itself (RFC 7435: senders that encrypt without verifying still deliver):
//! the certificate is reported in full, as a finding that does not count. What asks for a verified certificate
//! judges it: required TLS (`starttls_required`, `implicit`) and certificate-days thresholds here, credentials
//! when AUTH comes (below), and a published policy.
//!
//! | TLS mode | days thresholds | policy says | inspect-only | handshake | `certificate_invalid` finding |
//! | --- | --- | --- | --- | --- | --- |
//! | `starttls` | no | — (none) | either | goes on | info: reported, not counted |
//! | `starttls` | yes | — | no | refused | critical (down) |
//! | `starttls` | yes | — | yes | goes on | warning (degraded), names the override |
//! | `starttls_required`, `implicit` | either | — | no | refused | critical (down) |
//! | `starttls_required`, `implicit` | either | — | yes | goes on | warning (degraded), names the override |
//! | any | either | satisfied | either | goes on | info: the policy authenticated the server |
//! | any | either | failed | either | goes on | as the rows without a policy say |
//!
//! A policy that fails adds a finding of its own, `<policy> (<mode>) is not satisfied: <why>` (cause
//! `certificate_invalid`): critical under `enforce`, a warning under `testing`, whatever the overrides, and
//! whether or not the certificate verified. With a policy the handshake always completes, so that the policy can
//! check it. A refused handshake ends the probe at once; one that goes on carries on with EHLO inside TLS. A
//! certificate that verifies but expires within the days thresholds is `certificate_expiring`, whatever the rows
//! above say; a certificate of the chain that cannot be parsed is an info finding, never a date.
//!
//! # Credentials
//!
//! Credentials are sent only over TLS whose certificate verified (the chain and the name, or a configured pin):
//! [`TlsInfo::is_verified`]. The ways round are explicit, and each is named in a finding when it is used.
//!
//! | TLS | verified | inspect-only | plaintext AUTH allowed | AUTH | finding |
//! | --- | --- | --- | --- | --- | --- |
//! | none | — | either | no | withheld | critical `auth_unavailable` |
//! | none | — | either | yes | sent | info, names the override |
//! | established | yes | either | either | sent | none |
//! | established | no | yes | either | sent | warning `certificate_invalid`, names the override |
//! | established | no | no | yes | sent | info, names the override |
//! | established | no | no | no | withheld | critical `certificate_invalid`: what is wrong, and that nothing was sent |
//!
//! Where the handshake was refused (the first table), no AUTH comes at all, and the handshake's finding says the
//! credentials were not sent.

use std::fmt;

use crate::config::{AuthConfig, ConfigInner, TlsMode};
use crate::report::{Cause, CertificateProblem, Finding, Phase, Severity, TlsFailure, TlsInfo};
use crate::target::Target;

/// How senders apply a published policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyMode {
    /// Senders do not deliver over TLS the policy rejects (MTA-STS `enforce`; DANE always).
    Enforce,
    /// Senders deliver anyway and report the failure (MTA-STS `testing`).
    Testing,
}

impl fmt::Display for PolicyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyMode::Enforce => "enforce",
            PolicyMode::Testing => "testing",
        })
    }
}

/// What a published policy says of one finished handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyOutcome {
    /// The handshake satisfies the policy: senders that honour it deliver. When the certificate did not verify
    /// against the probe's roots, this says the policy authenticated the server by other means (DANE).
    Satisfied,
    /// It does not, and why (for people).
    Failed {
        /// What is wrong, e.g. `no TLSA record matches the presented chain`.
        reason: String,
    },
}

/// A policy a domain publishes for its mail servers' TLS, under which senders judge the handshake: MTA-STS
/// (RFC 8461: a certificate valid for an MX host that matches one of the policy's `mx` patterns, in `enforce` or
/// `testing` mode) or DANE (RFC 7672: the presented chain matches one of the host's TLSA records).
///
/// The probe does not look policies up, nor match them: an implementation does, from what the domain published
/// (the patterns, the TLSA records) and the finished handshake ([`TlsInfo`], with the presented chain as DER in
/// [`TlsInfo::chain_der`]). The probe weighs the outcome with everything else it knows (see
/// [`ProbeConfigBuilder::tls_policy`](crate::ProbeConfigBuilder::tls_policy)): a failure counts by the policy's
/// mode, and a policy that is satisfied stands in for the roots when the certificate did not verify against them
/// (credentials still need a certificate that verified).
///
/// ```
/// use std::sync::Arc;
/// use smtp_probe_proto::{PolicyMode, PolicyOutcome, ProbeConfig, Target, TlsInfo, TlsPolicy};
///
/// /// Accepts exactly one leaf certificate, by its SHA-256 fingerprint: the shape of a DANE-EE record.
/// #[derive(Debug)]
/// struct LeafFingerprint(String);
///
/// impl TlsPolicy for LeafFingerprint {
///     fn name(&self) -> &str {
///         "leaf fingerprint"
///     }
///     fn mode(&self) -> PolicyMode {
///         PolicyMode::Enforce
///     }
///     fn check(&self, _target: &Target, tls: &TlsInfo) -> PolicyOutcome {
///         match tls.leaf() {
///             Some(leaf) if leaf.sha256 == self.0 => PolicyOutcome::Satisfied,
///             _ => PolicyOutcome::Failed { reason: "the leaf certificate is not the one published".into() },
///         }
///     }
/// }
///
/// let config = ProbeConfig::builder("mx.example.com".parse()?)
///     .tls_policy(Arc::new(LeafFingerprint("ab".repeat(32))))
///     .build()?;
/// assert_eq!(config.tls_policy().map(|p| p.name()), Some("leaf fingerprint"));
/// # Ok::<(), smtp_probe_proto::Error>(())
/// ```
pub trait TlsPolicy: fmt::Debug + Send + Sync {
    /// The policy's name in findings, e.g. `MTA-STS` or `DANE`.
    fn name(&self) -> &str;

    /// How senders apply it.
    fn mode(&self) -> PolicyMode;

    /// Checks a finished handshake with `target` (for MTA-STS, the MX host whose name must match a pattern).
    fn check(&self, target: &Target, tls: &TlsInfo) -> PolicyOutcome;
}

/// Why a certificate that does not verify counts at the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judge {
    /// TLS was required (`starttls_required`, `implicit`).
    RequiredTls,
    /// Certificate-days thresholds were set: the certificate itself is being checked.
    CertificateDays,
}

impl Judge {
    fn why(self) -> &'static str {
        match self {
            Judge::RequiredTls => "TLS is required",
            Judge::CertificateDays => "the certificate is being checked (days thresholds)",
        }
    }
}

/// What, in the configuration, judges a certificate that does not verify at the handshake (credentials judge it
/// at the AUTH step instead, so that the report says what the server offers inside TLS).
fn handshake_judge(cfg: &ConfigInner) -> Option<Judge> {
    let days = cfg.thresholds.certificate_days_warning.is_some() || cfg.thresholds.certificate_days_critical.is_some();
    match cfg.tls_mode {
        TlsMode::StartTlsRequired | TlsMode::Implicit => Some(Judge::RequiredTls),
        _ if days => Some(Judge::CertificateDays),
        _ => None,
    }
}

/// Whether the handshake completes even when the certificate does not verify, so that the certificate is
/// reported in full and the conversation carries on: when nothing judges the certificate at the handshake
/// (opportunistic STARTTLS, as MTAs deliver), when the inspect-only override is on, and when a published policy
/// must see the finished handshake. Otherwise the client refuses the certificate, as any verifying client does.
#[cfg(feature = "rustls")]
pub(crate) fn handshake_goes_on(cfg: &ConfigInner) -> bool {
    cfg.inspect_only() || cfg.tls_policy.is_some() || handshake_judge(cfg).is_none()
}

/// The findings about a handshake that completed: the certificate when it did not verify (severity from the
/// first table of the module docs), what the published policy says, certificates that could not be parsed, one
/// close to expiry.
pub(crate) fn established(cfg: &ConfigInner, info: &TlsInfo) -> Vec<Finding> {
    let mut findings = unparsed(info);
    let policy = cfg.tls_policy.as_ref().map(|policy| (policy, policy.check(&cfg.target, info)));
    if !info.is_verified() {
        let (severity, why) = match &policy {
            Some((policy, PolicyOutcome::Satisfied)) => {
                (Severity::Info, format!("{} authenticates the server instead", policy.name()))
            }
            _ => match (handshake_judge(cfg), cfg.inspect_only()) {
                (None, _) => (
                    Severity::Info,
                    "opportunistic TLS: reported, not counted; senders that do not verify still deliver".to_owned(),
                ),
                (Some(judge), false) => (Severity::Critical, judge.why().to_owned()),
                (Some(_), true) => (Severity::Warning, "inspect-only override: the probe carried on".to_owned()),
            },
        };
        let message = format!("{} ({why})", describe_unverified(info));
        findings.push(finding(severity, Cause::CertificateInvalid, Phase::TlsHandshake, message));
    }
    if let Some((policy, PolicyOutcome::Failed { reason })) = &policy {
        let severity = match policy.mode() {
            PolicyMode::Enforce => Severity::Critical,
            PolicyMode::Testing => Severity::Warning,
        };
        let message = format!("{} ({}) is not satisfied: {reason}", policy.name(), policy.mode());
        findings.push(finding(severity, Cause::CertificateInvalid, Phase::TlsHandshake, message));
    }
    if let Some(expiring) = expiring(cfg, info) {
        findings.push(expiring);
    }
    findings
}

/// Certificates of the chain that could not be parsed, or that were not described: worth knowing, not counted.
fn unparsed(info: &TlsInfo) -> Vec<Finding> {
    let mut findings: Vec<Finding> = info
        .unparsed
        .iter()
        .map(|cert| {
            let which = if cert.position == 0 {
                "the leaf certificate".to_owned()
            } else {
                format!("certificate {}", cert.position)
            };
            let message = format!(
                "{which} of the presented chain ({} bytes, SHA-256 {}) could not be parsed and is not described: {}",
                cert.len, cert.sha256, cert.error
            );
            finding(Severity::Info, Cause::CertificateInvalid, Phase::TlsHandshake, message)
        })
        .collect();
    let described = info.certificates.len() + info.unparsed.len();
    if info.chain_der.len() > described {
        let message = format!(
            "the server presented {} certificates; only the first {described} are described",
            info.chain_der.len()
        );
        findings.push(finding(Severity::Info, Cause::CertificateInvalid, Phase::TlsHandshake, message));
    }
    findings
}

/// A certificate of the chain that expires within the configured days, if any.
fn expiring(cfg: &ConfigInner, info: &TlsInfo) -> Option<Finding> {
    let earliest = info.chain_earliest_expiry()?;
    if info.verify_error == Some(CertificateProblem::Expired) {
        return None; // already reported as invalid: "expired N days ago" says it all
    }
    let days = earliest.days_left;
    let thresholds = &cfg.thresholds;
    let severity = match (thresholds.certificate_days_critical, thresholds.certificate_days_warning) {
        (Some(critical), _) if days < i64::from(critical) => Severity::Critical,
        (_, Some(warning)) if days < i64::from(warning) => Severity::Warning,
        _ => return None,
    };
    let message = format!("{} {} expires in {days} days ({})", earliest.role(), earliest.subject, earliest.not_after);
    Some(finding(severity, Cause::CertificateExpiring, Phase::TlsHandshake, message))
}

/// What a failed handshake means: always down (the connection cannot go on), with a cause that tells a
/// certificate the client refused from a handshake that broke, and the certificate's details when there are any.
pub(crate) struct FailedHandshake {
    /// How much it weighs (always critical today).
    pub(crate) severity: Severity,
    /// `certificate_invalid` or `tls_handshake_failed`.
    pub(crate) cause: Cause,
    /// What happened, for people.
    pub(crate) message: String,
    /// What was presented and negotiated before it failed, for the report.
    pub(crate) tls: Option<TlsInfo>,
}

/// Judges a failed handshake. A refused certificate says why it counted, and that credentials were not sent.
pub(crate) fn failed(cfg: &ConfigInner, failure: TlsFailure) -> FailedHandshake {
    let (cause, message, tls) = match failure {
        TlsFailure::Certificate { problem, info } => {
            let mut message = describe_certificate_problem(&problem, &info);
            if handshake_judge(cfg) == Some(Judge::CertificateDays) {
                // Without the thresholds, opportunistic STARTTLS would have gone on: say why it did not.
                message = format!("{message} ({})", Judge::CertificateDays.why());
            }
            if cfg.auth.is_some() {
                message.push_str("; credentials not sent");
            }
            (Cause::CertificateInvalid, message, Some(*info))
        }
        TlsFailure::Handshake { reason } => {
            (Cause::TlsHandshakeFailed, format!("TLS handshake failed: {reason}"), None)
        }
        TlsFailure::Closed => {
            (Cause::TlsHandshakeFailed, "the server closed the connection during the TLS handshake".to_owned(), None)
        }
    };
    FailedHandshake { severity: Severity::Critical, cause, message, tls }
}

/// Whether credentials may be sent, decided just before AUTH (the second table of the module docs).
#[derive(Debug)]
pub(crate) enum Credentials {
    /// Send them; the finding, when there is one, names the override that allowed it.
    Send(Option<Finding>),
    /// Do not: this finding says why, and that nothing was sent.
    Withhold(Finding),
}

/// Decides whether `auth` may be sent over the connection as it is: `tls` is the established TLS, if any.
pub(crate) fn credentials(cfg: &ConfigInner, auth: &AuthConfig, tls: Option<&TlsInfo>) -> Credentials {
    let auth_finding = |severity, cause, message: String| Finding {
        severity,
        cause,
        phase: Some(Phase::Auth),
        message,
        server_text: None,
    };
    match tls {
        None if auth.allow_plaintext => Credentials::Send(Some(auth_finding(
            Severity::Info,
            None,
            "credentials sent without TLS: plaintext AUTH is allowed".to_owned(),
        ))),
        None => Credentials::Withhold(auth_finding(
            Severity::Critical,
            Some(Cause::AuthUnavailable),
            "credentials not sent: the connection is not encrypted (allow plaintext AUTH to override)".to_owned(),
        )),
        Some(info) if info.is_verified() => Credentials::Send(None),
        Some(info) if cfg.inspect_only() => Credentials::Send(Some(auth_finding(
            Severity::Warning,
            Some(Cause::CertificateInvalid),
            format!(
                "credentials sent over TLS whose certificate did not verify ({}): the inspect-only override allows it",
                describe_unverified(info)
            ),
        ))),
        Some(info) if auth.allow_plaintext => Credentials::Send(Some(auth_finding(
            Severity::Info,
            None,
            format!(
                "credentials sent over TLS whose certificate did not verify ({}): plaintext AUTH is allowed, so this is too",
                describe_unverified(info)
            ),
        ))),
        Some(info) => Credentials::Withhold(auth_finding(
            Severity::Critical,
            Some(Cause::CertificateInvalid),
            format!(
                "credentials withheld: {}; they are sent only over TLS whose certificate verifies (trust its CA or pin \
                 it; the inspect-only override sends them anyway)",
                describe_unverified(info)
            ),
        )),
    }
}

fn finding(severity: Severity, cause: Cause, phase: Phase, message: String) -> Finding {
    // Info findings do not count toward the verdict, so they carry no cause.
    let cause = (severity != Severity::Info).then_some(cause);
    Finding { severity, cause, phase: Some(phase), message, server_text: None }
}

/// Why an established handshake's certificate is not verified, as people read it.
fn describe_unverified(info: &TlsInfo) -> String {
    match &info.verify_error {
        Some(problem) => describe_certificate_problem(problem, info),
        None => match info.leaf() {
            Some(leaf) => format!("certificate {} was not verified", leaf.subject),
            None => "the certificate was not verified".to_owned(),
        },
    }
}

/// A certificate problem as people read it, naming the certificate it is about: `certificate CN=mx.example.com
/// expired 12 days ago (...)`, or `intermediate certificate CN=Example CA expired ...` when the leaf is fine and an
/// intermediate is not. The IMAP side of a round trip words its own the same way.
pub(crate) fn describe_certificate_problem(problem: &CertificateProblem, info: &TlsInfo) -> String {
    // The certificate whose dates explain the problem: the leaf when it is the one, else the first other that is.
    let by_dates = |bad: fn(&crate::report::CertificateInfo) -> bool| {
        info.leaf().filter(|leaf| bad(leaf)).or_else(|| info.certificates.iter().find(|c| bad(c)))
    };
    match problem {
        CertificateProblem::Expired => match by_dates(crate::report::CertificateInfo::is_expired) {
            Some(cert) => {
                let ago = match (-cert.seconds_left).div_euclid(86_400) {
                    0 => "less than a day ago".to_owned(),
                    1 => "1 day ago".to_owned(),
                    days => format!("{days} days ago"),
                };
                format!("{} {} expired {ago} ({})", cert.role(), cert.subject, cert.not_after)
            }
            None => with_leaf(problem, info),
        },
        CertificateProblem::NotYetValid => match by_dates(crate::report::CertificateInfo::is_not_yet_valid) {
            Some(cert) => format!("{} {} is not valid before {}", cert.role(), cert.subject, cert.not_before),
            None => with_leaf(problem, info),
        },
        CertificateProblem::NameMismatch => match info.leaf() {
            Some(leaf) => {
                let more = match leaf.sans_omitted {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                format!(
                    "certificate {} is not valid for {} (it names {}{more})",
                    leaf.subject,
                    info.verified_name.as_deref().unwrap_or("the target"),
                    leaf.sans.join(", ")
                )
            }
            None => with_leaf(problem, info),
        },
        CertificateProblem::UnknownIssuer => match info.leaf() {
            Some(leaf) => {
                format!("certificate {} is issued by an untrusted authority ({})", leaf.subject, leaf.issuer)
            }
            None => with_leaf(problem, info),
        },
        other => with_leaf(other, info),
    }
}

/// `certificate expired: CN=mx.example.com`, or the problem alone when the leaf could not be described.
fn with_leaf(problem: &CertificateProblem, info: &TlsInfo) -> String {
    match info.leaf() {
        Some(leaf) => format!("{problem}: {}", leaf.subject),
        None => problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! One test per table of the module docs, every row.
    use std::sync::Arc;

    use super::*;
    use crate::command::Secret;
    use crate::report::CertificateInfo;
    use crate::{ProbeConfig, ProbeConfigBuilder, TlsConfig};

    #[derive(Debug)]
    struct Fixed(PolicyMode, PolicyOutcome);

    impl TlsPolicy for Fixed {
        fn name(&self) -> &str {
            "MTA-STS"
        }
        fn mode(&self) -> PolicyMode {
            self.0
        }
        fn check(&self, _: &Target, _: &TlsInfo) -> PolicyOutcome {
            self.1.clone()
        }
    }

    fn satisfied() -> Option<(PolicyMode, PolicyOutcome)> {
        Some((PolicyMode::Enforce, PolicyOutcome::Satisfied))
    }

    fn failed_in(mode: PolicyMode) -> Option<(PolicyMode, PolicyOutcome)> {
        Some((mode, PolicyOutcome::Failed { reason: "mx.test matches no mx pattern".into() }))
    }

    fn config(
        mode: TlsMode,
        days: bool,
        policy: Option<(PolicyMode, PolicyOutcome)>,
        inspect_only: bool,
    ) -> ProbeConfigBuilder {
        let mut builder = ProbeConfig::builder("mx.test".parse().unwrap())
            .tls(mode)
            .tls_config(TlsConfig::builder().inspect_only(inspect_only).build().unwrap());
        if days {
            builder = builder.certificate_days(Some(3), None);
        }
        if let Some((mode, outcome)) = policy {
            builder = builder.tls_policy(Arc::new(Fixed(mode, outcome)));
        }
        builder
    }

    fn tls(verified: bool) -> TlsInfo {
        let leaf = CertificateInfo {
            subject: "CN=mx.test".into(),
            issuer: "CN=Private CA".into(),
            days_left: 60,
            seconds_left: 60 * 86_400,
            not_after_unix: 1_800_000_000,
            ..CertificateInfo::default()
        };
        TlsInfo {
            verified,
            verify_error: (!verified).then_some(CertificateProblem::UnknownIssuer),
            certificates: vec![leaf],
            ..TlsInfo::default()
        }
    }

    /// The certificate finding (the first finding about the handshake), as (severity, cause).
    fn certificate_finding(findings: &[Finding]) -> Option<(Severity, Option<Cause>)> {
        findings.iter().find(|f| f.message.contains("CN=mx.test")).map(|f| (f.severity, f.cause))
    }

    #[test]
    fn the_handshake_table() {
        use PolicyMode::{Enforce, Testing};
        use Severity::{Critical, Info, Warning};
        use TlsMode::{Implicit, StartTlsOpportunistic as Opportunistic, StartTlsRequired as Required};
        let invalid = Some(Cause::CertificateInvalid);
        // (mode, days, policy, inspect-only, handshake goes on, certificate finding)
        let rows = [
            (Opportunistic, false, None, false, true, (Info, None)),
            (Opportunistic, false, None, true, true, (Info, None)),
            (Opportunistic, true, None, false, false, (Critical, invalid)),
            (Opportunistic, true, None, true, true, (Warning, invalid)),
            (Required, false, None, false, false, (Critical, invalid)),
            (Implicit, true, None, false, false, (Critical, invalid)),
            (Required, false, None, true, true, (Warning, invalid)),
            (Implicit, false, None, true, true, (Warning, invalid)),
            (Required, true, satisfied(), false, true, (Info, None)),
            (Opportunistic, false, satisfied(), false, true, (Info, None)),
            (Opportunistic, false, failed_in(Enforce), false, true, (Info, None)),
            (Required, false, failed_in(Testing), false, true, (Critical, invalid)),
            (Required, false, failed_in(Testing), true, true, (Warning, invalid)),
        ];
        for (i, (mode, days, policy, inspect_only, goes_on, expected)) in rows.into_iter().enumerate() {
            let has_policy = policy.clone();
            let config = config(mode, days, policy, inspect_only).build().unwrap();
            assert_eq!(handshake_goes_on(config.inner()), goes_on, "row {i}");
            let findings = established(config.inner(), &tls(false));
            assert_eq!(certificate_finding(&findings), Some(expected), "row {i}: {findings:#?}");
            // The policy's own finding, when it fails: by its mode, whatever the overrides.
            let policy_finding = findings.iter().find(|f| f.message.starts_with("MTA-STS ("));
            match has_policy {
                Some((mode, PolicyOutcome::Failed { .. })) => {
                    let severity = if mode == Enforce { Critical } else { Warning };
                    assert_eq!(policy_finding.map(|f| (f.severity, f.cause)), Some((severity, invalid)), "row {i}");
                }
                _ => assert!(policy_finding.is_none(), "row {i}"),
            }
        }
    }

    #[test]
    fn a_policy_can_fail_a_certificate_that_verified() {
        for (mode, severity) in [(PolicyMode::Enforce, Severity::Critical), (PolicyMode::Testing, Severity::Warning)] {
            let config = config(TlsMode::StartTlsOpportunistic, false, failed_in(mode), true).build().unwrap();
            let findings = established(config.inner(), &tls(true));
            assert_eq!(certificate_finding(&findings), None);
            let messages: Vec<(Severity, &str)> = findings.iter().map(|f| (f.severity, f.message.as_str())).collect();
            let expected = format!("MTA-STS ({mode}) is not satisfied: mx.test matches no mx pattern");
            assert_eq!(messages, [(severity, expected.as_str())]);
        }
    }

    #[test]
    fn a_refused_handshake_says_why_it_counted_and_that_credentials_were_not_sent() {
        let refused = |builder: ProbeConfigBuilder| {
            let config = builder.build().unwrap();
            let failure =
                TlsFailure::Certificate { problem: CertificateProblem::UnknownIssuer, info: Box::new(tls(false)) };
            let failed = failed(config.inner(), failure);
            assert_eq!((failed.severity, failed.cause), (Severity::Critical, Cause::CertificateInvalid));
            failed.message
        };
        let untrusted = "certificate CN=mx.test is issued by an untrusted authority (CN=Private CA)";
        assert_eq!(refused(config(TlsMode::StartTlsRequired, false, None, false)), untrusted);
        assert_eq!(
            refused(config(TlsMode::StartTlsOpportunistic, true, None, false)),
            format!("{untrusted} (the certificate is being checked (days thresholds))")
        );
        let with_credentials = config(TlsMode::Implicit, false, None, false).auth("u", Secret::new("p"));
        assert_eq!(refused(with_credentials), format!("{untrusted}; credentials not sent"));
    }

    /// A leaf that could not be parsed is never described with made-up dates: the problem is told without it,
    /// and the unparsed certificate is a finding of its own.
    #[test]
    fn an_unparsed_leaf_is_told_without_made_up_dates() {
        let config = config(TlsMode::StartTlsOpportunistic, true, None, true).build().unwrap();
        let info = TlsInfo {
            verify_error: Some(CertificateProblem::Other("BadEncoding".into())),
            unparsed: vec![crate::UnparsedCertificate {
                position: 0,
                len: 3,
                sha256: "ab".repeat(32),
                error: "Parsing Error".into(),
            }],
            chain_der: vec![vec![1, 2, 3]],
            ..TlsInfo::default()
        };
        let findings = established(config.inner(), &info);
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                format!("the leaf certificate of the presented chain (3 bytes, SHA-256 {}) could not be parsed and is not described: Parsing Error", "ab".repeat(32)).as_str(),
                "certificate invalid: BadEncoding (inspect-only override: the probe carried on)",
            ]
        );
        assert!(findings.iter().all(|f| f.cause != Some(Cause::CertificateExpiring)));
    }

    #[test]
    fn the_credentials_table() {
        // (TLS: None = plaintext, Some(verified), inspect-only, plaintext AUTH allowed, sent, finding)
        type Row = (Option<bool>, bool, bool, bool, Option<(Severity, Option<Cause>)>);
        let rows: [Row; 8] = [
            (None, false, false, false, Some((Severity::Critical, Some(Cause::AuthUnavailable)))),
            (None, true, false, false, Some((Severity::Critical, Some(Cause::AuthUnavailable)))),
            (None, false, true, true, Some((Severity::Info, None))),
            (Some(true), false, false, true, None),
            (Some(true), true, true, true, None),
            (Some(false), true, false, true, Some((Severity::Warning, Some(Cause::CertificateInvalid)))),
            (Some(false), false, true, true, Some((Severity::Info, None))),
            (Some(false), false, false, false, Some((Severity::Critical, Some(Cause::CertificateInvalid)))),
        ];
        for (i, (verified, inspect_only, plaintext, sent, expected)) in rows.into_iter().enumerate() {
            let mode = if verified.is_some() { TlsMode::StartTlsRequired } else { TlsMode::StartTlsOpportunistic };
            let config = config(mode, false, None, inspect_only)
                .auth("user", Secret::new("password"))
                .allow_plaintext_auth(plaintext)
                .build()
                .unwrap();
            let info = verified.map(tls);
            let auth = config.inner().auth.as_ref().unwrap();
            let (was_sent, finding) = match credentials(config.inner(), auth, info.as_ref()) {
                Credentials::Send(finding) => (true, finding),
                Credentials::Withhold(finding) => (false, Some(finding)),
            };
            assert_eq!(was_sent, sent, "row {i}");
            assert_eq!(finding.as_ref().map(|f| (f.severity, f.cause)), expected, "row {i}");
            if let Some(finding) = finding {
                assert_eq!(finding.phase, Some(Phase::Auth));
                let names_it = match (sent, inspect_only, plaintext) {
                    (false, _, _) => "not sent",
                    (true, true, _) if verified.is_some() => "the inspect-only override allows it",
                    (true, _, _) => "plaintext AUTH is allowed",
                };
                let says = if sent {
                    finding.message.contains(names_it)
                } else {
                    finding.message.contains("withheld") || finding.message.contains(names_it)
                };
                assert!(says, "row {i}: {}", finding.message);
            }
        }
    }
}
