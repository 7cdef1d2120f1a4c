//! [`DomainReport`]: the records, the policy, the MX probes and what senders honouring the policies do with them.

use std::time::{Duration, SystemTime};

use super::fetch::PolicyFetchReport;
use super::{DnssecStatus, RecordLookup};
use crate::mx::{MxHostReport, MxReport};
use crate::name::Domain;
use crate::policy::dmarc::DmarcRecord;
use crate::policy::mta_sts::{Mode, MtaStsPolicy, MtaStsRecord, MxCheck, MxTls};
use crate::policy::spf::SpfReport;
use crate::policy::tlsa::{Tlsa, TlsaSet};
use crate::policy::tlsrpt::TlsRptRecord;
use crate::policy::{Level, RecordFinding};
use crate::report::{Cause, Finding, Phase, Report, Severity, Verdict};

/// How the check judges what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DomainOptions {
    /// Count record problems of level warning or error (SPF over the lookup limit, DMARC missing or `p=none`, a
    /// short `max_age`, ...) in the verdict: `degraded`, `record_problem`. Off by default: they are reported only.
    pub strict: bool,
}

impl DomainOptions {
    /// With [`strict`](Self::strict) set.
    pub fn strict(mut self, on: bool) -> DomainOptions {
        self.strict = on;
        self
    }
}

/// How long each part of the check took. The parts run concurrently: `total` is about the slowest of them, not
/// their sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DomainTimings {
    /// From the start to the last record lookup's answer (TLSA lookups included).
    #[cfg_attr(feature = "serde", serde(rename = "dns_ms", serialize_with = "crate::schema::millis"))]
    pub dns: Duration,
    /// The MTA-STS policy fetch, when there was one.
    #[cfg_attr(feature = "serde", serde(rename = "policy_fetch_ms", serialize_with = "crate::schema::millis_opt"))]
    pub policy_fetch: Option<Duration>,
    /// From the start to the last MX probe's end (the MX lookup included).
    #[cfg_attr(feature = "serde", serde(rename = "mx_probes_ms", serialize_with = "crate::schema::millis"))]
    pub mx_probes: Duration,
    /// The whole check.
    #[cfg_attr(feature = "serde", serde(rename = "total_ms", serialize_with = "crate::schema::millis"))]
    pub total: Duration,
}

/// Everything an adapter gathered for a domain, for [`DomainReport::assemble`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DomainParts {
    /// The domain.
    pub domain: Domain,
    /// When the check started (wall clock).
    pub started_at: SystemTime,
    /// The MX lookup.
    pub mx_lookup: RecordLookup,
    /// The MX probes.
    pub mx: MxReport,
    /// `_mta-sts.<domain>` TXT.
    pub mta_sts_record: RecordLookup,
    /// The policy fetch, when the record asked for one.
    pub policy_fetch: Option<PolicyFetchReport>,
    /// `_smtp._tls.<domain>` TXT.
    pub tls_rpt: RecordLookup,
    /// `_dmarc.<domain>` TXT.
    pub dmarc: RecordLookup,
    /// The SPF check (its own lookups included), when it ran.
    pub spf: Option<SpfReport>,
    /// The TLSA lookup of each probed MX host, in the order of [`MxReport::hosts`].
    pub tlsa: Vec<RecordLookup>,
    /// Further lookups worth showing (the MX hosts' addresses, ...).
    pub other_lookups: Vec<RecordLookup>,
    /// How long the parts took.
    pub timings: DomainTimings,
    /// The wall time (Unix seconds) DANE-TA chains are checked at.
    pub now_unix: u64,
}

impl DomainParts {
    /// The parts of a check of `domain`; fill in the fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        domain: Domain,
        started_at: SystemTime,
        mx_lookup: RecordLookup,
        mx: MxReport,
        mta_sts_record: RecordLookup,
        tls_rpt: RecordLookup,
        dmarc: RecordLookup,
        now_unix: u64,
    ) -> DomainParts {
        DomainParts {
            domain,
            started_at,
            mx_lookup,
            mx,
            mta_sts_record,
            policy_fetch: None,
            tls_rpt,
            dmarc,
            spf: None,
            tlsa: Vec::new(),
            other_lookups: Vec::new(),
            timings: DomainTimings::default(),
            now_unix,
        }
    }
}

/// The domain's MTA-STS: its record and the policy fetched for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MtaStsState {
    /// The `_mta-sts` record, when valid.
    pub record: Option<MtaStsRecord>,
    /// The fetch, when the record was valid.
    pub fetch: Option<PolicyFetchReport>,
}

impl MtaStsState {
    /// The policy in force: fetched for a valid record.
    pub fn policy(&self) -> Option<&MtaStsPolicy> {
        self.record.as_ref()?;
        self.fetch.as_ref()?.policy()
    }
}

/// What DANE says of one MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "state", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Dane {
    /// No TLSA records (NODATA or NXDOMAIN, proven or not): DANE does not apply.
    NoRecords,
    /// TLSA records in an unsigned zone: senders ignore them.
    Insecure,
    /// The TLSA lookup failed validation: DANE senders do not deliver to this host.
    Bogus,
    /// The TLSA lookup got no answer: DANE senders defer delivery to this host.
    LookupFailed {
        /// Why.
        reason: String,
    },
    /// Secure records, none usable for SMTP: senders require TLS but authenticate nothing.
    NoUsable,
    /// A record matched the presented chain.
    Authenticated {
        /// The record (index in the TLSA RRset, in [`HostPolicy::tlsa`] order).
        record: usize,
        /// The certificate of the presented chain it matched (0 is the leaf).
        certificate: usize,
    },
    /// Secure, usable records, and no TLS to match them against (no STARTTLS, a failed handshake).
    NoTls,
    /// Secure, usable records, none of which matches the presented chain.
    Mismatch {
        /// What each record made of the chain, for people, in record order.
        outcomes: Vec<String>,
    },
}

impl Dane {
    /// Whether DANE applies to the host: secure TLSA records with a usable one (or a bogus answer, which senders
    /// treat as a failure of DANE).
    pub fn applies(&self) -> bool {
        matches!(self, Dane::Bogus | Dane::Authenticated { .. } | Dane::NoTls | Dane::Mismatch { .. })
    }
}

/// One MX host judged by the published policies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct HostPolicy {
    /// The host.
    pub host: String,
    /// Its MX preference.
    pub preference: u16,
    /// What policy-honouring senders get: the probe's verdict, made worse by the policies.
    pub verdict: Verdict,
    /// Why, when not up.
    pub cause: Option<Cause>,
    /// The MTA-STS evaluation, when a policy is in force.
    pub mta_sts: Option<MxCheck>,
    /// The DANE evaluation.
    pub dane: Dane,
    /// The TLSA records found (secure or not).
    pub tlsa: Vec<String>,
    /// For people: why the policies judge the host so, when they do.
    pub reasons: Vec<String>,
}

/// The domain check's result: the records with their DNSSEC status, the MTA-STS policy and its fetch, the MX
/// probes, each MX host under the policies, record findings, and a verdict that follows what policy-honouring
/// senders do (see the [module documentation](super)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainReport {
    /// The domain.
    pub domain: Domain,
    /// When the check started.
    pub started_at: SystemTime,
    /// The verdict.
    pub verdict: Verdict,
    /// The primary cause; `None` when up.
    pub cause: Option<Cause>,
    /// Every lookup, in order: MX, `_mta-sts`, `_smtp._tls`, `_dmarc`, then the TLSA lookups and the others.
    pub records: Vec<RecordLookup>,
    /// MTA-STS.
    pub mta_sts: MtaStsState,
    /// SPF.
    pub spf: Option<SpfReport>,
    /// DMARC, when valid.
    pub dmarc: Option<DmarcRecord>,
    /// TLS-RPT, when valid.
    pub tls_rpt: Option<TlsRptRecord>,
    /// The MX probes.
    pub mx: MxReport,
    /// Each probed MX host under the policies, in the order of the MX report.
    pub hosts: Vec<HostPolicy>,
    /// Problems of the published records.
    pub record_findings: Vec<RecordFinding>,
    /// What decided the verdict, in order; the first finding of the highest severity carries the cause.
    pub findings: Vec<Finding>,
    /// How long the parts took.
    pub timings: DomainTimings,
}

impl DomainReport {
    /// Judges what an adapter gathered (the rules are in the [module documentation](super)).
    pub fn assemble(parts: DomainParts, options: DomainOptions) -> DomainReport {
        let DomainParts {
            domain,
            started_at,
            mx_lookup,
            mx,
            mta_sts_record,
            policy_fetch,
            tls_rpt,
            dmarc,
            spf,
            tlsa,
            other_lookups,
            timings,
            now_unix,
        } = parts;
        let mut record_findings = Vec::new();
        let mut findings = Vec::new();
        let name = domain.as_str();

        if mx_lookup.dnssec == DnssecStatus::Bogus {
            findings.push(finding(
                Severity::Critical,
                Cause::DnssecBogus,
                Phase::Resolve,
                format!("the MX records of {name} fail DNSSEC validation: validating senders cannot deliver"),
            ));
        }

        // MTA-STS: the record, then the policy fetched for it.
        let record = match MtaStsRecord::from_rrset(&mta_sts_record.txt()) {
            Ok(record) => record,
            Err(e) => {
                record_findings.push(e.finding());
                None
            }
        };
        if mta_sts_record.dnssec == DnssecStatus::Bogus {
            findings.push(finding(
                Severity::Warning,
                Cause::DnssecBogus,
                Phase::Resolve,
                format!("_mta-sts.{name} fails DNSSEC validation: validating senders see no MTA-STS record"),
            ));
        }
        let fetch = if record.is_some() { policy_fetch } else { None };
        if let (Some(record), Some(fetch)) = (&record, &fetch) {
            match &fetch.outcome {
                Ok(policy) => record_findings.extend(policy.findings()),
                Err(error) => {
                    if let crate::domain::fetch::FetchError::Invalid(invalid) = error {
                        record_findings.push(invalid.finding());
                    }
                    findings.push(finding(
                        Severity::Warning,
                        Cause::PolicyUnavailable,
                        Phase::Resolve,
                        format!(
                            "MTA-STS record id={} but no policy from {}: {error}; senders with a cached policy keep \
                             it until max_age, others deliver without MTA-STS",
                            record.id, fetch.url
                        ),
                    ));
                }
            }
        }
        let mta_sts = MtaStsState { record, fetch };

        // The other records: reported, counted only when strict.
        let dmarc_record = match DmarcRecord::from_rrset(&dmarc.txt()) {
            Ok(Some(record)) => {
                record_findings.extend(record.findings());
                Some(record)
            }
            Ok(None) if dmarc.failed().is_none() => {
                record_findings.push(DmarcRecord::missing(name));
                None
            }
            Ok(None) => None,
            Err(e) => {
                record_findings.push(e.finding());
                None
            }
        };
        let tls_rpt_record = match TlsRptRecord::from_rrset(&tls_rpt.txt()) {
            Ok(Some(record)) => Some(record),
            Ok(None) if tls_rpt.failed().is_none() => {
                record_findings.push(TlsRptRecord::missing(name));
                None
            }
            Ok(None) => None,
            Err(e) => {
                record_findings.push(e.finding());
                None
            }
        };
        if let Some(spf) = &spf {
            record_findings.extend(spf.findings.iter().cloned());
        }

        // Each MX host under the policies.
        let mut hosts = Vec::new();
        for (index, host) in mx.hosts.iter().enumerate() {
            let lookup = tlsa.get(index);
            let mx_secure = mx_lookup.dnssec == DnssecStatus::Secure;
            let judged = judge_host(host, lookup, mta_sts.policy(), mx_secure, now_unix);
            record_findings.extend(judged.1);
            hosts.push(judged.0);
        }
        let working = hosts.iter().filter(|h| h.verdict != Verdict::Down).count();
        if mx.hosts.is_empty() {
            findings.extend(mx.findings.iter().cloned());
        }
        for host in hosts.iter().filter(|h| h.verdict != Verdict::Up) {
            let severity = if working > 0 { Severity::Warning } else { Severity::Critical };
            let mut message = format!("{} (preference {}) is {} for ", host.host, host.preference, host.verdict);
            message.push_str(match host.cause {
                Some(Cause::MtaStsViolation) => "senders honouring MTA-STS",
                Some(Cause::DaneMismatch | Cause::DnssecBogus) => "senders honouring DANE",
                _ => "all senders",
            });
            if let Some(why) = host.reasons.first() {
                message.push_str(&format!(": {why}"));
            } else if let Some(f) = mx_host(&mx, &host.host).and_then(primary) {
                message.push_str(&format!(": {}", f.message));
            }
            if working > 0 && host.verdict == Verdict::Down {
                message.push_str("; mail still reaches another MX host");
            }
            findings.push(finding(severity, host.cause.unwrap_or(Cause::ConnectRefused), Phase::Resolve, message));
        }
        if options.strict {
            for rf in record_findings.iter().filter(|f| f.level >= Level::Warning) {
                findings.push(finding(
                    Severity::Warning,
                    Cause::RecordProblem,
                    Phase::Resolve,
                    format!("{} ({}): {}", rf.problem, rf.rule, rf.message),
                ));
            }
        }

        let mut verdict = Verdict::Up;
        let mut cause = None;
        let mut kept = Vec::with_capacity(findings.len());
        for f in findings {
            crate::report::record_finding(&mut verdict, &mut cause, &mut kept, f);
        }
        let mut records = vec![mx_lookup, mta_sts_record, tls_rpt, dmarc];
        records.extend(tlsa);
        records.extend(other_lookups);
        DomainReport {
            domain,
            started_at,
            verdict,
            cause,
            records,
            mta_sts,
            spf,
            dmarc: dmarc_record,
            tls_rpt: tls_rpt_record,
            mx,
            hosts,
            record_findings,
            findings: kept,
            timings,
        }
    }

    /// The finding that set the verdict, if not up.
    pub fn primary_finding(&self) -> Option<&Finding> {
        crate::report::primary_finding(self.verdict, &self.findings)
    }

    /// One line for people, e.g. `down: mta_sts_violation: mx1.example.com (preference 10) is down for ...`.
    pub fn summary(&self) -> String {
        match self.primary_finding() {
            None => {
                let mut policies = Vec::new();
                if let Some(policy) = self.mta_sts.policy() {
                    policies.push(format!("MTA-STS {}", policy.mode));
                }
                if self.hosts.iter().any(|h| matches!(h.dane, Dane::Authenticated { .. })) {
                    policies.push("DANE".to_owned());
                }
                let under =
                    if policies.is_empty() { String::new() } else { format!(" under {}", policies.join(" and ")) };
                format!("{}: all {} MX host(s) of {} take mail{under}", self.verdict, self.hosts.len(), self.domain)
            }
            Some(f) => crate::report::verdict_line(self.verdict, f),
        }
    }

    /// The MTA-STS mode in force, if any.
    pub fn policy_mode(&self) -> Option<Mode> {
        self.mta_sts.policy().map(|p| p.mode)
    }

    /// Whether DANE applies to every probed MX host (senders honouring DANE authenticate them all).
    pub fn dane_usable(&self) -> bool {
        !self.hosts.is_empty() && self.hosts.iter().all(|h| h.dane.applies())
    }
}

impl std::fmt::Display for DomainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

fn finding(severity: Severity, cause: Cause, phase: Phase, message: String) -> Finding {
    Finding { severity, cause: Some(cause), phase: Some(phase), message, server_text: None }
}

fn mx_host<'a>(mx: &'a MxReport, host: &str) -> Option<&'a MxHostReport> {
    mx.hosts.iter().find(|h| h.host == host)
}

fn primary(host: &MxHostReport) -> Option<&Finding> {
    host.reports.iter().find(|r| r.verdict == host.verdict).and_then(Report::primary_finding)
}

/// The chain the server presented to the probe, DER, leaf first.
fn presented_chain(report: &Report) -> Option<&[Vec<u8>]> {
    report.tls.as_ref().map(|tls| tls.chain_der.as_slice()).filter(|chain| !chain.is_empty())
}

/// Matches a chain against the set as SMTP senders do: the matching record and certificate, or what each record
/// made of the chain.
#[cfg(feature = "rustls")]
pub(super) fn verify(
    set: &TlsaSet,
    chain: &[Vec<u8>],
    host: &str,
    now_unix: u64,
) -> Result<(usize, usize), Vec<String>> {
    use crate::policy::tlsa::RecordOutcome;

    let verification = set.verify(chain, &[host], now_unix);
    if let Some(matched) = verification.matched {
        return Ok((matched.record, matched.certificate));
    }
    let describe = |(index, outcome): (usize, &RecordOutcome)| {
        let what = match outcome {
            RecordOutcome::Authenticated { certificate } => format!("matches certificate {certificate}"),
            RecordOutcome::NoMatch => "matches no presented certificate".to_owned(),
            RecordOutcome::ChainInvalid { certificate, reason } => {
                format!("matches certificate {certificate}, but the leaf does not chain to it: {reason}")
            }
            RecordOutcome::NameMismatch { certificate } => {
                format!("matches certificate {certificate}, but the leaf is not valid for {host}")
            }
            RecordOutcome::Unusable(why) => format!("unusable: {why}"),
        };
        format!("record {index}: {what}")
    };
    Err(verification.outcomes.iter().enumerate().map(describe).collect())
}

/// Without TLS in the core there is no chain to match.
#[cfg(not(feature = "rustls"))]
pub(super) fn verify(_: &TlsaSet, _: &[Vec<u8>], _: &str, _: u64) -> Result<(usize, usize), Vec<String>> {
    Err(vec!["DANE matching needs the core's rustls feature".to_owned()])
}

/// DANE for one host from its TLSA lookup and the probe's handshake.
fn dane(host: &MxHostReport, lookup: Option<&RecordLookup>, now_unix: u64) -> (Dane, Vec<String>, Vec<RecordFinding>) {
    let Some(lookup) = lookup else { return (Dane::NoRecords, Vec::new(), Vec::new()) };
    let texts = lookup.records().to_vec();
    if lookup.dnssec == DnssecStatus::Bogus {
        return (Dane::Bogus, texts, Vec::new());
    }
    if let Some(why) = lookup.failed() {
        // A host whose TLSA lookup is not provably empty: DANE senders defer (RFC 7672 §2.2), unless the zone is
        // known to be unsigned.
        return match lookup.dnssec {
            DnssecStatus::Insecure => (Dane::NoRecords, texts, Vec::new()),
            _ => (Dane::LookupFailed { reason: why.to_owned() }, texts, Vec::new()),
        };
    }
    if texts.is_empty() {
        return (Dane::NoRecords, texts, Vec::new());
    }
    if lookup.dnssec != DnssecStatus::Secure {
        return (Dane::Insecure, texts, Vec::new());
    }
    let set = TlsaSet::new(texts.iter().filter_map(|t| Tlsa::from_presentation(t).ok()).collect());
    let findings = set.findings();
    if !set.authenticates() {
        return (Dane::NoUsable, texts, findings);
    }
    // Every report (one per address family) must match; the first that does not decides.
    let mut result = None;
    for report in &host.reports {
        let Some(chain) = presented_chain(report) else {
            result = Some(Dane::NoTls);
            break;
        };
        match verify(&set, chain, &host.host, now_unix) {
            Ok((record, certificate)) => {
                result.get_or_insert(Dane::Authenticated { record, certificate });
            }
            Err(outcomes) => {
                result = Some(Dane::Mismatch { outcomes });
                break;
            }
        }
    }
    (result.unwrap_or(Dane::NoTls), texts, findings)
}

/// One host under DANE and MTA-STS: its [`HostPolicy`] and the TLSA record findings.
fn judge_host(
    host: &MxHostReport,
    tlsa: Option<&RecordLookup>,
    policy: Option<&MtaStsPolicy>,
    mx_secure: bool,
    now_unix: u64,
) -> (HostPolicy, Vec<RecordFinding>) {
    let (dane, tlsa_texts, findings) = dane(host, tlsa, now_unix);
    let got_tls = host.reports.iter().any(|r| r.tls.is_some());
    let mut verdict = host.verdict;
    let mut cause = host.cause;
    let mut reasons = Vec::new();
    let mut worsen = |v: Verdict, c: Cause, why: String, reasons: &mut Vec<String>| {
        // A policy takes the cause when it makes things worse, or equally bad over a TLS session (then the
        // policy, not the connection, is what fails).
        if v > verdict || (v == verdict && got_tls && v != Verdict::Up) {
            if v > verdict || cause.is_none_or(|c| !matches!(c, Cause::DnssecBogus | Cause::DaneMismatch)) {
                cause = Some(c);
            }
            verdict = verdict.max(v);
        }
        reasons.push(why);
    };
    let tlsa_name = tlsa.map_or_else(String::new, |l| l.name.clone());
    match &dane {
        Dane::Bogus => worsen(
            Verdict::Down,
            Cause::DnssecBogus,
            format!("the TLSA records at {tlsa_name} fail DNSSEC validation"),
            &mut reasons,
        ),
        // RFC 7672 §2.2: a TLSA lookup that fails (not a proven "no records") keeps DANE senders from the host.
        // Behind a validating resolver a bogus answer looks like this too (SERVFAIL). Only a secure MX answer
        // makes senders look the records up at all.
        Dane::LookupFailed { reason } => worsen(
            if mx_secure { Verdict::Down } else { Verdict::Degraded },
            Cause::DnsFailure,
            format!("the TLSA lookup at {tlsa_name} failed ({reason}): DANE senders defer delivery to this host"),
            &mut reasons,
        ),
        Dane::NoTls => worsen(
            Verdict::Down,
            Cause::DaneMismatch,
            format!("{tlsa_name} has usable TLSA records, but the host offered no TLS to match them"),
            &mut reasons,
        ),
        Dane::Mismatch { .. } => worsen(
            Verdict::Down,
            Cause::DaneMismatch,
            format!("no TLSA record at {tlsa_name} matches the certificate chain the host presented"),
            &mut reasons,
        ),
        _ => {}
    }
    let mut mta_sts = None;
    if let Some(policy) = policy {
        let checks: Vec<MxCheck> =
            host.reports.iter().map(|r| policy.check_mx(&host.host, &MxTls::from_report(r))).collect();
        let check = checks.iter().find(|c| !c.passed()).or(checks.first()).cloned();
        if let Some(check) = check.as_ref().filter(|c| !c.passed()) {
            let why: Vec<String> = check.failures.iter().map(ToString::to_string).collect();
            let v = match check.mode {
                Mode::Enforce => Verdict::Down,
                Mode::Testing => Verdict::Degraded,
                Mode::None => Verdict::Up,
            };
            if v != Verdict::Up {
                worsen(
                    v,
                    Cause::MtaStsViolation,
                    format!("fails the MTA-STS policy ({}): {}", check.mode, why.join("; ")),
                    &mut reasons,
                );
            }
        }
        mta_sts = check;
    }
    let policy_host = HostPolicy {
        host: host.host.clone(),
        preference: host.preference,
        verdict,
        cause: if verdict == Verdict::Up { None } else { cause },
        mta_sts,
        dane,
        tlsa: tlsa_texts,
        reasons,
    };
    (policy_host, findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fetch::{FetchError, PolicyFetchReport};
    use crate::domain::{Answer, RecordType};
    use crate::mx::{MxAnswer, MxPlan, MxRecord};
    use crate::report::{CertificateProblem, TlsInfo};

    const GOOD_POLICY: &str = "version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 604800\n";

    fn lookup(name: &str, rtype: RecordType, dnssec: DnssecStatus, records: &[&str]) -> RecordLookup {
        let answer = if records.is_empty() {
            Answer::NoData
        } else {
            Answer::Records(records.iter().map(|r| (*r).to_owned()).collect())
        };
        RecordLookup::new(name, rtype, dnssec, answer)
    }

    /// A probe of `host` that completed over TLS; `problem` when the certificate did not verify.
    fn probed(host: &str, problem: Option<CertificateProblem>) -> Report {
        let mut report = Report::empty(format!("{host}:25"), SystemTime::UNIX_EPOCH, 0);
        report.tls = Some(TlsInfo {
            version: Some("TLSv1.3".into()),
            cipher: None,
            sni: Some(host.into()),
            verified_name: Some(host.into()),
            verified: problem.is_none(),
            verify_error: problem,
            handshake: Duration::ZERO,
            certificates: Vec::new(),
            unparsed: Vec::new(),
            chain_der: Vec::new(),
        });
        report
    }

    fn mx(hosts: &[(&str, Report)]) -> MxReport {
        let domain: Domain = "example.com".parse().unwrap();
        let records = hosts.iter().enumerate().map(|(i, (h, _))| MxRecord::new(10 * (i as u16 + 1), *h)).collect();
        match MxPlan::new(&domain, MxAnswer::Records(records)) {
            MxPlan::Probe(plan) => plan.finish(hosts.iter().map(|(_, r)| vec![r.clone()]).collect()),
            MxPlan::Done(report) => panic!("nothing to probe: {report:?}"),
        }
    }

    struct Case {
        parts: DomainParts,
    }

    impl Case {
        fn new(hosts: &[(&str, Report)]) -> Case {
            let names: Vec<String> = hosts.iter().map(|(h, _)| format!("10 {h}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut parts = DomainParts::new(
                "example.com".parse().unwrap(),
                SystemTime::UNIX_EPOCH,
                lookup("example.com", RecordType::Mx, DnssecStatus::Secure, &names),
                mx(hosts),
                lookup("_mta-sts.example.com", RecordType::Txt, DnssecStatus::Secure, &[]),
                lookup(
                    "_smtp._tls.example.com",
                    RecordType::Txt,
                    DnssecStatus::Secure,
                    &["v=TLSRPTv1; rua=mailto:t@example.com"],
                ),
                lookup("_dmarc.example.com", RecordType::Txt, DnssecStatus::Secure, &["v=DMARC1; p=reject"]),
                1_700_000_000,
            );
            parts.tlsa = hosts
                .iter()
                .map(|(h, _)| lookup(&format!("_25._tcp.{h}"), RecordType::Tlsa, DnssecStatus::Secure, &[]))
                .collect();
            Case { parts }
        }

        fn policy(mut self, body: &str) -> Case {
            self.parts.mta_sts_record =
                lookup("_mta-sts.example.com", RecordType::Txt, DnssecStatus::Secure, &["v=STSv1; id=1"]);
            let mut fetch = PolicyFetchReport::failed("example.com", FetchError::Closed, Duration::ZERO);
            fetch.outcome = MtaStsPolicy::parse(body.as_bytes()).map_err(FetchError::Invalid);
            self.parts.policy_fetch = Some(fetch);
            self
        }

        fn clone_parts_judge(&self) -> DomainReport {
            DomainReport::assemble(self.parts.clone(), DomainOptions::default())
        }

        fn judge(self, strict: bool) -> DomainReport {
            DomainReport::assemble(self.parts, DomainOptions::default().strict(strict))
        }
    }

    fn verdict(report: &DomainReport) -> (Verdict, Option<Cause>) {
        (report.verdict, report.cause)
    }

    #[test]
    fn without_a_policy_the_opportunistic_rule_stands() {
        let report = Case::new(&[("mx1.example.com", probed("mx1.example.com", Some(CertificateProblem::Expired)))])
            .judge(false);
        assert_eq!(verdict(&report), (Verdict::Up, None), "{}", report.summary());
        assert_eq!(report.hosts[0].dane, Dane::NoRecords);
        assert!(report.hosts[0].mta_sts.is_none());
    }

    #[test]
    fn enforce_refuses_a_bad_certificate_and_testing_reports_it() {
        let bad = || probed("mx1.example.com", Some(CertificateProblem::Expired));
        let enforce = Case::new(&[("mx1.example.com", bad())]).policy(GOOD_POLICY).judge(false);
        assert_eq!(verdict(&enforce), (Verdict::Down, Some(Cause::MtaStsViolation)), "{}", enforce.summary());
        assert!(enforce.summary().contains("certificate expired"), "{}", enforce.summary());
        let testing =
            Case::new(&[("mx1.example.com", bad())]).policy(&GOOD_POLICY.replace("enforce", "testing")).judge(false);
        assert_eq!(verdict(&testing), (Verdict::Degraded, Some(Cause::MtaStsViolation)));
        let good = Case::new(&[("mx1.example.com", probed("mx1.example.com", None))]).policy(GOOD_POLICY).judge(false);
        assert_eq!(verdict(&good), (Verdict::Up, None), "{}", good.summary());
        assert!(good.summary().contains("MTA-STS enforce"), "{}", good.summary());
    }

    #[test]
    fn a_host_the_policy_does_not_list_is_refused_but_another_still_takes_mail() {
        let report = Case::new(&[
            ("mx1.example.com", probed("mx1.example.com", None)),
            ("backup.example.net", probed("backup.example.net", None)),
        ])
        .policy(GOOD_POLICY)
        .judge(false);
        assert_eq!(verdict(&report), (Verdict::Degraded, Some(Cause::MtaStsViolation)), "{}", report.summary());
        assert_eq!(report.hosts[1].verdict, Verdict::Down);
        assert!(report.findings[0].message.contains("mail still reaches another MX host"), "{:?}", report.findings);
    }

    #[test]
    fn a_policy_that_cannot_be_fetched_is_unavailable_not_absent() {
        let mut case = Case::new(&[("mx1.example.com", probed("mx1.example.com", None))]).policy(GOOD_POLICY);
        case.parts.policy_fetch.as_mut().unwrap().outcome = Err(FetchError::Status(404));
        let report = case.judge(false);
        assert_eq!(verdict(&report), (Verdict::Degraded, Some(Cause::PolicyUnavailable)), "{}", report.summary());
        assert!(report.summary().contains("HTTP status 404"), "{}", report.summary());
        assert!(report.mta_sts.policy().is_none());
    }

    #[test]
    fn bogus_answers_are_never_silently_absent() {
        let mut case = Case::new(&[("mx1.example.com", probed("mx1.example.com", None))]);
        case.parts.tlsa[0] = lookup("_25._tcp.mx1.example.com", RecordType::Tlsa, DnssecStatus::Bogus, &["3 1 1 00"]);
        let report = case.judge(false);
        assert_eq!(verdict(&report), (Verdict::Down, Some(Cause::DnssecBogus)), "{}", report.summary());
        assert_eq!(report.hosts[0].dane, Dane::Bogus);

        let mut case = Case::new(&[("mx1.example.com", probed("mx1.example.com", None))]);
        case.parts.mx_lookup.dnssec = DnssecStatus::Bogus;
        assert_eq!(verdict(&case.judge(false)), (Verdict::Down, Some(Cause::DnssecBogus)));
    }

    #[test]
    fn unsigned_tlsa_records_and_failed_lookups() {
        let mut case = Case::new(&[("mx1.example.com", probed("mx1.example.com", None))]);
        case.parts.tlsa[0] =
            lookup("_25._tcp.mx1.example.com", RecordType::Tlsa, DnssecStatus::Insecure, &["3 1 1 00"]);
        let report = case.judge(false);
        assert_eq!((verdict(&report), &report.hosts[0].dane), ((Verdict::Up, None), &Dane::Insecure));

        let mut case = Case::new(&[("mx1.example.com", probed("mx1.example.com", None))]);
        case.parts.tlsa[0] = RecordLookup::new(
            "_25._tcp.mx1.example.com",
            RecordType::Tlsa,
            DnssecStatus::Indeterminate,
            Answer::Failed("SERVFAIL".into()),
        );
        let report = case.clone_parts_judge();
        assert_eq!(verdict(&report), (Verdict::Down, Some(Cause::DnsFailure)), "{}", report.summary());
        // Under an insecure MX answer, senders do not look TLSA records up: a failure only needs attention.
        case.parts.mx_lookup.dnssec = DnssecStatus::Insecure;
        assert_eq!(verdict(&case.judge(false)), (Verdict::Degraded, Some(Cause::DnsFailure)));
    }

    #[test]
    fn usable_tlsa_records_need_tls() {
        let mut case =
            Case::new(&[("mx1.example.com", Report::empty("mx1.example.com:25".into(), SystemTime::UNIX_EPOCH, 0))]);
        let record = format!("3 1 1 {}", "ab".repeat(32));
        case.parts.tlsa[0] = lookup("_25._tcp.mx1.example.com", RecordType::Tlsa, DnssecStatus::Secure, &[&record]);
        let report = case.judge(false);
        assert_eq!(verdict(&report), (Verdict::Down, Some(Cause::DaneMismatch)), "{}", report.summary());
        assert_eq!(report.hosts[0].dane, Dane::NoTls);
        assert!(report.dane_usable());
    }

    /// A self-signed leaf for `host` (DER) and the `3 1 1` TLSA record of its key.
    fn leaf_and_record(host: &str) -> (Vec<u8>, String) {
        use crate::policy::tlsa::{Matching, Selector, association};
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![host.to_owned()]).unwrap().self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        let digest = association(&der, Selector::Spki, Matching::Sha256).unwrap();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        (der, format!("3 1 1 {hex}"))
    }

    #[test]
    fn dane_matches_the_chain_the_probe_was_presented() {
        let (der, record) = leaf_and_record("mx1.example.com");
        let (_, other) = leaf_and_record("mx1.example.com");
        let with_chain = || {
            // Self-signed: the roots do not verify it; opportunistic TLS does not count that.
            let mut report = probed("mx1.example.com", Some(CertificateProblem::UnknownIssuer));
            report.tls.as_mut().unwrap().chain_der = vec![der.clone()];
            report
        };
        for (published, expected) in
            [(&record, (Verdict::Up, None)), (&other, (Verdict::Down, Some(Cause::DaneMismatch)))]
        {
            let mut case = Case::new(&[("mx1.example.com", with_chain())]);
            case.parts.tlsa[0] =
                lookup("_25._tcp.mx1.example.com", RecordType::Tlsa, DnssecStatus::Secure, &[published]);
            let report = case.judge(false);
            assert_eq!(verdict(&report), expected, "{}", report.summary());
            assert!(report.dane_usable());
        }
        let mut case = Case::new(&[("mx1.example.com", with_chain())]);
        case.parts.tlsa[0] = lookup("_25._tcp.mx1.example.com", RecordType::Tlsa, DnssecStatus::Secure, &[&record]);
        let report = case.judge(false);
        assert_eq!(report.hosts[0].dane, Dane::Authenticated { record: 0, certificate: 0 });
        assert!(report.summary().contains("under DANE"), "{}", report.summary());
    }

    #[test]
    fn the_dane_policy_judges_a_handshake() {
        use crate::domain::DanePolicy;
        use crate::{PolicyOutcome, TlsPolicy};
        let (der, record) = leaf_and_record("mx1.example.com");
        let secure = lookup("_25._tcp.mx1.example.com", RecordType::Tlsa, DnssecStatus::Secure, &[&record]);
        let insecure = lookup("_25._tcp.mx1.example.com", RecordType::Tlsa, DnssecStatus::Insecure, &[&record]);
        assert!(DanePolicy::for_host("mx1.example.com", &insecure, 0).is_none(), "unsigned records do not count");
        let policy = DanePolicy::for_host("mx1.example.com", &secure, 1_700_000_000).expect("secure and usable");
        let target: crate::Target = "mx1.example.com:25".parse().unwrap();
        let mut tls = probed("mx1.example.com", None).tls.unwrap();
        tls.chain_der = vec![der];
        assert_eq!(policy.check(&target, &tls), PolicyOutcome::Satisfied);
        tls.chain_der = vec![leaf_and_record("mx1.example.com").0];
        assert!(
            matches!(policy.check(&target, &tls), PolicyOutcome::Failed { reason } if reason.contains("no TLSA record"))
        );
    }

    #[test]
    fn record_problems_count_only_when_strict() {
        let mut case = Case::new(&[("mx1.example.com", probed("mx1.example.com", None))]);
        case.parts.dmarc = lookup("_dmarc.example.com", RecordType::Txt, DnssecStatus::Secure, &["v=DMARC1; p=none"]);
        case.parts.tls_rpt = lookup("_smtp._tls.example.com", RecordType::Txt, DnssecStatus::Secure, &[]);
        let strict = DomainReport::assemble(case.parts.clone(), DomainOptions::default().strict(true));
        let relaxed = DomainReport::assemble(case.parts, DomainOptions::default());
        let problems: Vec<_> = relaxed.record_findings.iter().map(|f| f.problem).collect();
        assert_eq!(problems, [crate::policy::Problem::DmarcPolicyNone, crate::policy::Problem::TlsRptMissing]);
        assert_eq!(verdict(&relaxed), (Verdict::Up, None));
        assert_eq!(verdict(&strict), (Verdict::Degraded, Some(Cause::RecordProblem)), "{}", strict.summary());
    }

    #[test]
    fn nothing_to_probe_keeps_the_mx_verdict() {
        let domain: Domain = "example.com".parse().unwrap();
        let mut case = Case::new(&[("mx1.example.com", probed("mx1.example.com", None))]);
        case.parts.mx = match MxPlan::new(&domain, MxAnswer::NxDomain) {
            MxPlan::Done(report) => report,
            MxPlan::Probe(_) => unreachable!(),
        };
        case.parts.tlsa.clear();
        let report = case.judge(false);
        assert_eq!(report.verdict, Verdict::Down);
        assert_eq!(report.cause, report.mx.cause);
        assert!(report.hosts.is_empty());
    }
}
