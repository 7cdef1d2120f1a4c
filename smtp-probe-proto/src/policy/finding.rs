//! Findings about published records: what is wrong, how much it matters to senders, and the rule broken.
//!
//! A [`RecordFinding`] does not decide a verdict by itself. Its [`Level`] says how much the problem matters to
//! the senders that read the record; the domain check turns findings into report findings of severity `info`
//! unless the user asked for a level to count against the verdict. Policy violations that make real senders
//! refuse mail (an MX outside an enforced MTA-STS policy, a certificate that matches no usable TLSA record)
//! are not record findings: they come out of the evaluators ([`MtaStsPolicy::check_mx`], [`Tlsa`] matching) as
//! typed results.
//!
//! [`MtaStsPolicy::check_mx`]: super::mta_sts::MtaStsPolicy::check_mx
//! [`Tlsa`]: super::tlsa::Tlsa

use core::fmt;

/// How much a record problem matters to the senders that read the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Level {
    /// Best practice not followed; senders behave the same either way (no TLS-RPT record, `ptr` in SPF).
    Advice,
    /// The record works, but weaker than it looks or close to breaking (DMARC `p=none`, a short MTA-STS
    /// `max_age`, `pct` below 100).
    Warning,
    /// Senders treat the record as broken or absent (SPF over the lookup limit is a `permerror`, an invalid
    /// MTA-STS policy is no policy, several DMARC records are no DMARC).
    Error,
}

impl Level {
    /// `"advice"`, `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Advice => "advice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! problems {
    ($($variant:ident => $name:literal, $level:ident, $rule:literal, $doc:literal;)*) => {
        /// What is wrong with a published record: a fixed vocabulary, `snake_case` in every serialized form.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        #[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
        #[non_exhaustive]
        pub enum Problem {
            $(#[doc = $doc] $variant,)*
        }

        impl Problem {
            /// Every problem, in documentation order.
            pub const ALL: &'static [Problem] = &[$(Problem::$variant,)*];

            /// The `snake_case` name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Problem::$variant => $name,)*
                }
            }

            /// How much it matters to senders.
            pub fn level(self) -> Level {
                match self {
                    $(Problem::$variant => Level::$level,)*
                }
            }

            /// The rule it breaks, e.g. `"RFC 7208 §4.6.4"`.
            pub fn rule(self) -> &'static str {
                match self {
                    $(Problem::$variant => $rule,)*
                }
            }
        }
    };
}

problems! {
    MtaStsRecordInvalid => "mta_sts_record_invalid", Error, "RFC 8461 §3.1",
        "The `_mta-sts` TXT record is not valid: senders ignore the policy.";
    MtaStsRecordMultiple => "mta_sts_record_multiple", Error, "RFC 8461 §3.1",
        "More than one `v=STSv1` TXT record: senders ignore the policy.";
    MtaStsPolicyInvalid => "mta_sts_policy_invalid", Error, "RFC 8461 §3.2",
        "The policy file is not valid: senders have no policy.";
    MtaStsFieldRepeated => "mta_sts_field_repeated", Warning, "RFC 8461 §3.2",
        "A policy field other than `mx` appears more than once; the first is used.";
    MtaStsMaxAgeShort => "mta_sts_max_age_short", Warning, "RFC 8461 §3.2",
        "`max_age` is below one day: the policy protects little against a blocked refresh.";
    MtaStsMaxAgeBelowWeeks => "mta_sts_max_age_below_weeks", Advice, "RFC 8461 §3.2",
        "`max_age` is below one week; the RFC expects weeks or more.";
    MtaStsModeTesting => "mta_sts_mode_testing", Advice, "RFC 8461 §5",
        "The policy is in `testing` mode: failures are reported, mail is still delivered.";
    MtaStsModeNone => "mta_sts_mode_none", Advice, "RFC 8461 §5",
        "The policy is in `none` mode: MTA-STS is switched off for this domain.";
    MtaStsIdChangedPolicyUnchanged => "mta_sts_id_changed_policy_unchanged", Warning, "RFC 8461 §3.1",
        "The record's `id` changed but the policy file did not: a policy update may not have been deployed.";
    MtaStsPolicyChangedIdUnchanged => "mta_sts_policy_changed_id_unchanged", Warning, "RFC 8461 §3.1",
        "The policy file changed but the record's `id` did not: senders keep their cached copy until `max_age`.";
    TlsRptMissing => "tlsrpt_missing", Advice, "RFC 8460 §3",
        "No TLS-RPT record: TLS failures of senders are never reported to the domain.";
    TlsRptInvalid => "tlsrpt_invalid", Error, "RFC 8460 §3",
        "The TLS-RPT record is not valid: senders send no reports.";
    TlsRptMultiple => "tlsrpt_multiple", Error, "RFC 8460 §3",
        "More than one `v=TLSRPTv1` record: senders send no reports.";
    DmarcMissing => "dmarc_missing", Warning, "RFC 7489 §6.1",
        "No DMARC record: receivers apply no DMARC policy and send no reports.";
    DmarcInvalid => "dmarc_invalid", Error, "RFC 7489 §6.3",
        "The DMARC record is not valid: receivers apply no DMARC policy.";
    DmarcMultiple => "dmarc_multiple", Error, "RFC 7489 §6.6.3",
        "More than one `v=DMARC1` record: receivers apply no DMARC policy.";
    DmarcPolicyNone => "dmarc_policy_none", Warning, "RFC 7489 §6.3",
        "`p=none`: receivers only monitor; spoofed mail is delivered.";
    DmarcPolicyMissing => "dmarc_policy_missing", Warning, "RFC 7489 §6.6.3",
        "No valid `p` tag; with a valid `rua` receivers act as if `p=none`.";
    DmarcPartialPct => "dmarc_partial_pct", Warning, "RFC 7489 §6.3",
        "`pct` below 100: the policy applies to part of the failing mail only.";
    DmarcTagIgnored => "dmarc_tag_ignored", Warning, "RFC 7489 §6.3",
        "A tag value is not valid; receivers ignore it and use the default.";
    SpfMissing => "spf_missing", Warning, "RFC 7208 §4.5",
        "No SPF record: check_host() returns `none`.";
    SpfMultiple => "spf_multiple", Error, "RFC 7208 §4.5",
        "More than one `v=spf1` record: check_host() returns `permerror`.";
    SpfInvalid => "spf_invalid", Error, "RFC 7208 §4.6",
        "An SPF record does not parse: check_host() returns `permerror`.";
    SpfTooManyLookups => "spf_too_many_lookups", Error, "RFC 7208 §4.6.4",
        "More than 10 DNS-querying terms: check_host() returns `permerror`.";
    SpfTooManyVoidLookups => "spf_too_many_void_lookups", Error, "RFC 7208 §4.6.4",
        "More than 2 lookups returned no data: check_host() returns `permerror`.";
    SpfTooManyMxNames => "spf_too_many_mx_names", Error, "RFC 7208 §4.6.4",
        "An `mx` mechanism needs more than 10 address lookups: `permerror`.";
    SpfIncludeNone => "spf_include_none", Error, "RFC 7208 §5.2",
        "An `include` or `redirect` names a domain without an SPF record: `permerror`.";
    SpfLoop => "spf_loop", Error, "RFC 7208 §4.6.4",
        "An `include` or `redirect` leads back to a record being evaluated.";
    SpfLookupFailed => "spf_lookup_failed", Error, "RFC 7208 §2.6.6",
        "A DNS lookup failed: check_host() returns `temperror` (for now).";
    SpfUnexpandable => "spf_unexpandable", Advice, "RFC 7208 §7",
        "A term depends on the sender (a macro); it was counted but not followed.";
    SpfPtrUsed => "spf_ptr_used", Advice, "RFC 7208 §5.5",
        "The `ptr` mechanism SHOULD NOT be used: it is slow and unreliable.";
    SpfPassAll => "spf_pass_all", Warning, "RFC 7208 §5.1",
        "`+all` (or a bare `all`) lets every host on the Internet send as this domain.";
    SpfWorkLimit => "spf_work_limit", Error, "RFC 7208 §4.6.4",
        "The expansion hit this tool's own work bound and stopped; counts are lower bounds.";
    TlsaUnusable => "tlsa_unusable", Advice, "RFC 7672 §3.1.3",
        "A TLSA record is unusable for SMTP (PKIX usages 0/1, unknown parameters, bad digest length).";
    TlsaNoUsable => "tlsa_no_usable", Warning, "RFC 7672 §2.2",
        "The TLSA RRset has no usable record: senders require TLS but cannot authenticate the server.";
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a published record, with the details for people.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RecordFinding {
    /// What is wrong.
    pub problem: Problem,
    /// How much it matters to senders (the problem's own [`Problem::level`]).
    pub level: Level,
    /// The rule broken, e.g. `"RFC 7208 §4.6.4"`.
    pub rule: &'static str,
    /// What exactly, for people: the values involved. Text from the record is escaped.
    pub message: String,
}

impl RecordFinding {
    /// A finding for `problem` with this message.
    pub fn new(problem: Problem, message: impl Into<String>) -> RecordFinding {
        RecordFinding { problem, level: problem.level(), rule: problem.rule(), message: message.into() }
    }
}

impl fmt::Display for RecordFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {}): {}", self.problem, self.level, self.rule, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case_and_unique() {
        let mut names: Vec<&str> = Problem::ALL.iter().map(|p| p.as_str()).collect();
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Problem::ALL.len());
        assert!(Problem::ALL.iter().all(|p| p.rule().starts_with("RFC ")));
    }

    #[test]
    fn a_finding_carries_its_problem_level_and_rule() {
        let f = RecordFinding::new(Problem::SpfTooManyLookups, "11 lookups");
        assert_eq!(f.level, Level::Error);
        assert_eq!(f.to_string(), "spf_too_many_lookups (error, RFC 7208 §4.6.4): 11 lookups");
    }
}
