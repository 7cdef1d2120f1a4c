//! Judging TLS: what the outcome of a handshake, and the certificate the server showed, mean for the verdict.
//!
//! This is the one place where TLS and certificate outcomes are judged; the probe records the judgements as
//! findings, and the `Session` asks here whether a handshake goes on past a certificate that does not verify.
//! Everything a judgement depends on comes from the configuration: the TLS mode asked for, whether credentials
//! are configured (`ConfigInner::auth`), the certificate-days thresholds and the trust settings. A policy the
//! domain publishes (MTA-STS, DANE) is a further input, and belongs here too.

use crate::config::{ConfigInner, TlsMode};
use crate::report::{Cause, CertificateProblem, Finding, Phase, Severity, TlsFailure, TlsInfo};

/// Whether the handshake completes even when the certificate does not verify, so that it can be reported in full
/// and the conversation carry on: with opportunistic STARTTLS (how MTAs deliver: they encrypt without verifying),
/// and in the trust settings' inspect-only mode.
#[cfg(feature = "rustls")]
pub(crate) fn handshake_despite_invalid_certificate(mode: TlsMode, inspect_only: bool) -> bool {
    inspect_only || mode == TlsMode::StartTlsOpportunistic
}

/// The findings about a handshake that completed: a certificate that did not verify (the handshake went on, see
/// [`handshake_despite_invalid_certificate`]), one close to expiry.
pub(crate) fn established(cfg: &ConfigInner, info: &TlsInfo) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(problem) = &info.verify_error {
        let why = if cfg.tls_mode == TlsMode::StartTlsOpportunistic {
            "opportunistic STARTTLS: mail still flows, but the certificate does not verify"
        } else {
            "inspect-only mode: the probe carried on"
        };
        let message = format!("{} ({why})", describe_certificate_problem(problem, info));
        findings.push(finding(Severity::Warning, Cause::CertificateInvalid, message));
    }
    if let Some(expiring) = expiring(cfg, info) {
        findings.push(expiring);
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
    let which = if info.leaf().is_some_and(|leaf| std::ptr::eq(earliest, leaf)) {
        "certificate"
    } else {
        "a chain certificate"
    };
    let message = format!("{which} {} expires in {days} days ({})", earliest.subject, earliest.not_after);
    Some(finding(severity, Cause::CertificateExpiring, message))
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

/// Judges a failed handshake.
pub(crate) fn failed(failure: TlsFailure) -> FailedHandshake {
    let (cause, message, tls) = match failure {
        TlsFailure::Certificate { problem, info } => {
            (Cause::CertificateInvalid, describe_certificate_problem(&problem, &info), Some(*info))
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

fn finding(severity: Severity, cause: Cause, message: String) -> Finding {
    Finding { severity, cause: Some(cause), phase: Some(Phase::TlsHandshake), message, server_text: None }
}

/// A certificate problem as people read it: `certificate CN=mx.example.com expired 12 days ago (...)`. The IMAP side
/// of a round trip words its own the same way.
pub(crate) fn describe_certificate_problem(problem: &CertificateProblem, info: &TlsInfo) -> String {
    let Some(leaf) = info.leaf() else { return problem.to_string() };
    match problem {
        CertificateProblem::Expired => {
            let ago = match (-leaf.seconds_left).div_euclid(86_400) {
                0 => "less than a day ago".to_owned(),
                1 => "1 day ago".to_owned(),
                days => format!("{days} days ago"),
            };
            format!("certificate {} expired {ago} ({})", leaf.subject, leaf.not_after)
        }
        CertificateProblem::NotYetValid => {
            format!("certificate {} is not valid before {}", leaf.subject, leaf.not_before)
        }
        CertificateProblem::NameMismatch => format!(
            "certificate {} is not valid for {} (it names {})",
            leaf.subject,
            info.verified_name.as_deref().unwrap_or("the target"),
            leaf.sans.join(", ")
        ),
        CertificateProblem::UnknownIssuer => {
            format!("certificate {} is issued by an untrusted authority ({})", leaf.subject, leaf.issuer)
        }
        other => format!("{other}: {}", leaf.subject),
    }
}
