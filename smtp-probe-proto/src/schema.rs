//! The serialized shape of the crate's types (feature `serde`): a report (and an MX report, a round-trip report)
//! serializes as exactly the JSON object `JSON-SCHEMA.md` documents and `schema/report.schema.json` validates (the
//! `smtp-probe` command's `--format json` is this, and nothing else). The shape lives here, in one place; the types
//! it reads stay free to change.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::capabilities::{Capabilities, Keyword};
use crate::imap::{CleanupOutcome, FoundMessage, MailboxReport, Status};
use crate::mx::{MxHostReport, MxReport};
use crate::reply::OwnedReply;
use crate::report::{
    Cause, CertificateInfo, CertificateProblem, Finding, Phase, Report, TlsInfo, TranscriptLine, Verdict,
};
use crate::roundtrip::{AuthResult, Delivery, Hop, RoundTripReport, Token};

/// Deserializes a type from its string form through `FromStr`, with the type's own error as the message.
pub(crate) fn deserialize_from_str<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    struct Visitor<T>(PhantomData<T>);

    impl<T> serde::de::Visitor<'_> for Visitor<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
            text.parse().map_err(E::custom)
        }
    }

    deserializer.deserialize_str(Visitor(PhantomData))
}

/// A duration as milliseconds, a number with microsecond precision (`12.345`).
pub(crate) fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(millis_value(*duration))
}

/// An optional duration as [`millis`], or `null`.
pub(crate) fn millis_opt<S: Serializer>(duration: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match duration {
        Some(d) => millis(d, serializer),
        None => serializer.serialize_none(),
    }
}

pub(crate) fn millis_value(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// A wall-clock time as RFC 3339 in UTC with milliseconds (`2026-01-01T00:00:00.000Z`).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let (secs, millis) = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => (i64::try_from(since.as_secs()).unwrap_or(i64::MAX), since.subsec_millis()),
        // Before 1970: whole seconds back, then the milliseconds forward again.
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_millis() {
                0 => (-secs, 0),
                ms => (-secs - 1, 1000 - ms),
            }
        }
    };
    let whole = crate::date::rfc3339(secs);
    format!("{}.{millis:03}Z", whole.trim_end_matches('Z'))
}

/// Unix seconds as [`rfc3339`] (whole seconds, so `.000`).
fn unix_rfc3339(unix: i64) -> String {
    format!("{}.000Z", crate::date::rfc3339(unix).trim_end_matches('Z'))
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for OwnedReply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let lines: Vec<String> = self.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        let mut s = serializer.serialize_struct("Reply", 3)?;
        s.serialize_field("code", &self.code.get())?;
        s.serialize_field("enhanced", &self.enhanced.map(|e| e.to_string()))?;
        s.serialize_field("lines", &lines)?;
        s.end()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Keyword {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `{domain, keywords, auth, size, lines}`: the typed keywords and the unknown ones together, upper-case.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Capabilities {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let typed = self.keywords().map(|k| -> &str { k.as_str() });
        let keywords: Vec<&str> = typed.chain(self.unknown.iter().map(|u| u.keyword.as_str())).collect();
        let auth: Vec<&str> = self.auth_mechanisms.iter().map(|m| m.as_str()).collect();
        let mut s = serializer.serialize_struct("Capabilities", 5)?;
        s.serialize_field("domain", &self.domain)?;
        s.serialize_field("keywords", &keywords)?;
        s.serialize_field("auth", &auth)?;
        s.serialize_field("size", &self.size_limit)?;
        s.serialize_field("lines", &self.raw_lines)?;
        s.end()
    }
}

/// The stable code: `expired`, `not_yet_valid`, `name_mismatch`, `unknown_issuer`, `pin_mismatch` or `other`.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for CertificateProblem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

#[derive(serde::Serialize)]
struct TlsJson<'a> {
    version: Option<&'a str>,
    cipher: Option<&'a str>,
    sni: Option<&'a str>,
    verified_name: Option<&'a str>,
    verified: bool,
    verify_error: Option<&'a CertificateProblem>,
    verify_error_message: Option<String>,
    #[serde(serialize_with = "millis")]
    handshake_ms: Duration,
    leaf: Option<&'a CertificateInfo>,
    chain: &'a [CertificateInfo],
    chain_earliest_not_after: Option<&'a str>,
    chain_earliest_days_left: Option<i64>,
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for TlsInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let earliest = self.chain_earliest_expiry();
        TlsJson {
            version: self.version.as_deref(),
            cipher: self.cipher.as_deref(),
            sni: self.sni.as_deref(),
            verified_name: self.verified_name.as_deref(),
            verified: self.verified,
            verify_error: self.verify_error.as_ref(),
            verify_error_message: self.verify_error.as_ref().map(ToString::to_string),
            handshake_ms: self.handshake,
            leaf: self.leaf(),
            chain: &self.certificates,
            chain_earliest_not_after: earliest.map(|c| c.not_after.as_str()),
            chain_earliest_days_left: earliest.map(|c| c.days_left),
        }
        .serialize(serializer)
    }
}

/// One entry of a report's `phases`: a step, or a time the adapter measured (`resolve`, `connect`).
#[derive(serde::Serialize)]
struct PhaseJson<'a> {
    phase: Phase,
    command: Option<&'a str>,
    #[serde(serialize_with = "millis")]
    duration_ms: Duration,
    reply: Option<&'a OwnedReply>,
}

#[derive(serde::Serialize)]
struct CapabilityPair<'a> {
    plain: Option<&'a Capabilities>,
    tls: Option<&'a Capabilities>,
}

#[derive(serde::Serialize)]
struct ReportJson<'a> {
    target: &'a str,
    address: Option<&'a str>,
    verdict: Verdict,
    cause: Option<Cause>,
    summary: String,
    started_at: String,
    findings: &'a [Finding],
    phases: Vec<PhaseJson<'a>>,
    resolve_ms: Option<f64>,
    connect_ms: Option<f64>,
    #[serde(serialize_with = "millis")]
    response_ms: Duration,
    #[serde(serialize_with = "millis")]
    total_ms: Duration,
    greeting: Option<&'a OwnedReply>,
    capabilities: CapabilityPair<'a>,
    tls: Option<&'a TlsInfo>,
    message_token: Option<&'a str>,
    queue_id: Option<&'a str>,
    message_accepted_ms: Option<f64>,
    #[serde(skip_serializing_if = "<[TranscriptLine]>::is_empty")]
    transcript: &'a [TranscriptLine],
}

/// The documented report object (`JSON-SCHEMA.md`, "Report"). `phases` is DNS and connect as the adapter measured
/// them (when it did), then every step in order; `transcript` is present when one was recorded.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let stepped = |phase: Phase| self.steps.iter().any(|s| s.phase == phase);
        let measured = [(Phase::Resolve, self.resolve), (Phase::Connect, self.connect)]
            .into_iter()
            .filter_map(|(phase, time)| time.filter(|_| !stepped(phase)).map(|time| (phase, time)))
            .map(|(phase, duration_ms)| PhaseJson { phase, command: None, duration_ms, reply: None });
        let steps = self.steps.iter().map(|step| PhaseJson {
            phase: step.phase,
            command: step.command.as_deref(),
            duration_ms: step.duration,
            reply: step.reply.as_ref(),
        });
        ReportJson {
            target: &self.target,
            address: self.address.as_deref(),
            verdict: self.verdict,
            cause: self.cause,
            summary: self.summary(),
            started_at: rfc3339(self.started_at),
            findings: &self.findings,
            phases: measured.chain(steps).collect(),
            resolve_ms: self.resolve.map(millis_value),
            connect_ms: self.connect.map(millis_value),
            response_ms: self.response_time,
            total_ms: self.total,
            greeting: self.greeting.as_ref(),
            capabilities: CapabilityPair { plain: self.capabilities.as_ref(), tls: self.capabilities_tls.as_ref() },
            tls: self.tls.as_ref(),
            message_token: self.message_token.as_deref(),
            queue_id: self.queue_id.as_deref(),
            message_accepted_ms: self.message_accepted.map(millis_value),
            transcript: &self.transcript,
        }
        .serialize(serializer)
    }
}

#[derive(serde::Serialize)]
struct MxJson<'a> {
    mx: &'a str,
    verdict: Verdict,
    cause: Option<Cause>,
    summary: String,
    null_mx: bool,
    implicit_mx: bool,
    findings: &'a [Finding],
    hosts: &'a [MxHostReport],
    not_probed: &'a [crate::mx::MxHost],
}

/// The documented MX domain object (`JSON-SCHEMA.md`, "MX domain").
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for MxReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MxJson {
            mx: self.domain.as_str(),
            verdict: self.verdict,
            cause: self.cause,
            summary: self.summary(),
            null_mx: self.null_mx,
            implicit_mx: self.implicit_mx,
            findings: &self.findings,
            hosts: &self.hosts,
            not_probed: &self.not_probed,
        }
        .serialize(serializer)
    }
}

// ---- round trips ------------------------------------------------------------------------------------------------

/// The token itself.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Token {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `OK`, `NO`, `BAD`, `PREAUTH` or `BYE`.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `expunged`, `expunged_mailbox`, `flagged_deleted`, `kept` or `failed`.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for CleanupOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(serde::Serialize)]
struct HopJson<'a> {
    from: Option<&'a str>,
    by: Option<&'a str>,
    with: Option<&'a str>,
    id: Option<&'a str>,
    at: Option<String>,
    delay_ms: Option<i64>,
}

/// The documented hop object (`JSON-SCHEMA.md`, "Hop").
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Hop {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        HopJson {
            from: self.from.as_deref(),
            by: self.by.as_deref(),
            with: self.with.as_deref(),
            id: self.id.as_deref(),
            at: self.at.map(unix_rfc3339),
            delay_ms: self.delay_secs.map(|secs| secs.saturating_mul(1000)),
        }
        .serialize(serializer)
    }
}

#[derive(serde::Serialize)]
struct AuthResultJson<'a> {
    authserv_id: &'a str,
    method: &'a str,
    result: &'a str,
    details: &'a str,
}

/// The documented authentication result object (`JSON-SCHEMA.md`, "Authentication result").
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for AuthResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        AuthResultJson {
            authserv_id: &self.authserv_id,
            method: &self.method,
            result: &self.result,
            details: &self.details,
        }
        .serialize(serializer)
    }
}

/// One entry of a mailbox report's `phases`: an IMAP command and its tagged reply, or the connection.
#[derive(serde::Serialize)]
struct ImapPhaseJson<'a> {
    phase: Phase,
    command: Option<&'a str>,
    #[serde(serialize_with = "millis")]
    duration_ms: Duration,
    status: Option<Status>,
    text: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct FoundJson<'a> {
    folder: &'a str,
    junk: bool,
    uids: &'a [u32],
    internal_date: Option<String>,
    size: Option<u32>,
    #[serde(serialize_with = "millis_opt")]
    visible_after_ms: Option<Duration>,
    #[serde(serialize_with = "millis_opt")]
    not_visible_after_ms: Option<Duration>,
    headers: &'a str,
}

impl<'a> From<&'a FoundMessage> for FoundJson<'a> {
    fn from(found: &'a FoundMessage) -> Self {
        FoundJson {
            folder: &found.folder,
            junk: found.junk,
            uids: &found.uids,
            internal_date: found.internal_date.map(unix_rfc3339),
            size: found.size,
            visible_after_ms: found.visible_after,
            not_visible_after_ms: found.not_visible_after,
            headers: &found.headers,
        }
    }
}

#[derive(serde::Serialize)]
struct MailboxJson<'a> {
    target: &'a str,
    address: Option<&'a str>,
    verdict: Verdict,
    cause: Option<Cause>,
    findings: &'a [Finding],
    phases: Vec<ImapPhaseJson<'a>>,
    #[serde(serialize_with = "millis_opt")]
    connect_ms: Option<Duration>,
    #[serde(serialize_with = "millis_opt")]
    ready_ms: Option<Duration>,
    #[serde(serialize_with = "millis")]
    total_ms: Duration,
    greeting: Option<&'a str>,
    capabilities: &'a [String],
    tls: Option<&'a TlsInfo>,
    searches: u32,
    message: Option<FoundJson<'a>>,
    cleanup: Option<CleanupOutcome>,
    commands: u32,
    bytes_sent: u64,
    bytes_received: u64,
    #[serde(skip_serializing_if = "<[TranscriptLine]>::is_empty")]
    transcript: &'a [TranscriptLine],
}

/// The documented mailbox object (`JSON-SCHEMA.md`, "Mailbox"): `phases` is the connection as the adapter measured
/// it (when it did), then every IMAP step in order; `transcript` is present when one was recorded.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for MailboxReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let connect = self.connect.map(|duration_ms| ImapPhaseJson {
            phase: Phase::ImapConnect,
            command: None,
            duration_ms,
            status: None,
            text: None,
        });
        let steps = self.steps.iter().map(|step| ImapPhaseJson {
            phase: step.phase,
            command: step.command.as_deref(),
            duration_ms: step.duration,
            status: step.status,
            text: step.text.as_deref(),
        });
        MailboxJson {
            target: &self.target,
            address: self.address.as_deref(),
            verdict: self.verdict,
            cause: self.cause,
            findings: &self.findings,
            phases: connect.into_iter().chain(steps).collect(),
            connect_ms: self.connect,
            ready_ms: self.ready,
            total_ms: self.total,
            greeting: self.greeting.as_deref(),
            capabilities: &self.capabilities,
            tls: self.tls.as_ref(),
            searches: self.searches,
            message: self.message.as_ref().map(FoundJson::from),
            cleanup: self.cleanup,
            commands: self.commands,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            transcript: &self.transcript,
        }
        .serialize(serializer)
    }
}

#[derive(serde::Serialize)]
struct DeliveryJson<'a> {
    folder: &'a str,
    junk: bool,
    queue_id: Option<&'a str>,
    stored_at: Option<String>,
    hops: &'a [Hop],
    authentication: &'a [AuthResult],
}

impl<'a> From<&'a Delivery> for DeliveryJson<'a> {
    fn from(delivery: &'a Delivery) -> Self {
        DeliveryJson {
            folder: &delivery.folder,
            junk: delivery.junk,
            queue_id: delivery.queue_id.as_deref(),
            stored_at: delivery.stored_at.map(unix_rfc3339),
            hops: &delivery.hops,
            authentication: &delivery.authentication,
        }
    }
}

#[derive(serde::Serialize)]
struct RoundTripJson<'a> {
    token: &'a Token,
    submit_target: &'a str,
    verdict: Verdict,
    cause: Option<Cause>,
    summary: String,
    started_at: String,
    findings: &'a [Finding],
    #[serde(serialize_with = "millis_opt")]
    mailbox_ready_ms: Option<Duration>,
    #[serde(serialize_with = "millis_opt")]
    submit_started_ms: Option<Duration>,
    #[serde(serialize_with = "millis_opt")]
    submit_ms: Option<Duration>,
    #[serde(serialize_with = "millis_opt")]
    accepted_ms: Option<Duration>,
    #[serde(serialize_with = "millis_opt")]
    end_to_end_ms: Option<Duration>,
    #[serde(serialize_with = "millis_opt")]
    not_visible_after_ms: Option<Duration>,
    #[serde(serialize_with = "millis")]
    total_ms: Duration,
    delivery: Option<DeliveryJson<'a>>,
    submit: Option<&'a Report>,
    mailbox: &'a MailboxReport,
}

/// The documented round-trip object (`JSON-SCHEMA.md`, "Round trip"): the timings of
/// [`RoundTripTimings`](crate::roundtrip::RoundTripTimings) as `*_ms` fields, the submission a [`Report`] object.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for RoundTripReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let t = &self.timings;
        RoundTripJson {
            token: &self.token,
            submit_target: &self.submit_target,
            verdict: self.verdict,
            cause: self.cause,
            summary: self.summary(),
            started_at: rfc3339(self.started_at),
            findings: &self.findings,
            mailbox_ready_ms: t.mailbox_ready,
            submit_started_ms: t.submit_started,
            submit_ms: t.submit,
            accepted_ms: t.accepted,
            end_to_end_ms: t.end_to_end,
            not_visible_after_ms: t.not_visible_after,
            total_ms: t.total,
            delivery: self.delivery.as_ref().map(DeliveryJson::from),
            submit: self.submit.as_ref(),
            mailbox: &self.mailbox,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(millis_value(Duration::from_nanos(12_345_678)), 12.346);
        assert_eq!(millis_value(Duration::ZERO), 0.0);
        let at = |secs: u64, ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(secs * 1000 + ms);
        assert_eq!(rfc3339(at(1_767_225_600, 0)), "2026-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(1_767_225_600, 7)), "2026-01-01T00:00:00.007Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH - Duration::from_millis(1)), "1969-12-31T23:59:59.999Z");
        assert_eq!(unix_rfc3339(1_767_225_600), "2026-01-01T00:00:00.000Z");
        assert_eq!(unix_rfc3339(-1), "1969-12-31T23:59:59.000Z");
    }
}
