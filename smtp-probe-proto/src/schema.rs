//! The serialized shape of the crate's types (feature `serde`): a report serializes as exactly the JSON object
//! `JSON-SCHEMA.md` documents and `schema/report.schema.json` validates (the `smtp-probe` command's
//! `--format json` is this, and nothing else). The shape lives here, in one place; the types it reads stay free to
//! change.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::capabilities::{Capabilities, Keyword};
use crate::mx::{MxHostReport, MxReport};
use crate::reply::OwnedReply;
use crate::report::{
    Cause, CertificateInfo, CertificateProblem, Finding, Phase, Report, TlsInfo, TranscriptLine, Verdict,
};

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

fn millis_value(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// A wall-clock time as RFC 3339 in UTC with milliseconds (`2026-01-01T00:00:00.000Z`).
fn rfc3339(time: SystemTime) -> String {
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
    }
}
