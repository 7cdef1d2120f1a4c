//! The metric vocabulary: every metric smtp-probe exposes, defined once. The `smtp-probe --format prometheus`
//! output, an exporter's `/probe` and a monitor's `/metrics` all write these names, help texts, units and labels,
//! through [`Exposition`](crate::Exposition).
//!
//! Every metric of a probe report carries the label `target` (`host:port`, as the report names it); those of an
//! MX host's report also carry `mx_domain`; and when one target has several reports in one exposition (one per
//! address family), each also carries `address` (`ip:port`). The MX aggregate metrics and the domain check's carry
//! `domain` (a domain check's MX hosts' probe reports carry `mx_domain`, as in MX mode).
//!
//! | metric (sample name) | type | unit | labels | what |
//! | --- | --- | --- | --- | --- |
//! | `smtp_probe_up` | gauge | | | 1 when the server can take mail (up or degraded), 0 when down |
//! | `smtp_probe_verdict` | gauge | | `verdict` | 1 for the current verdict, 0 for the two others |
//! | `smtp_probe_cause` | gauge | | `cause` | 1, for the primary cause of a verdict other than up |
//! | `smtp_probe_duration_seconds` | gauge | seconds | | from starting to connect to the end of the probe |
//! | `smtp_probe_response_duration_seconds` | gauge | seconds | | to the last reply before QUIT (the thresholds' time) |
//! | `smtp_probe_phase_duration_seconds` | gauge | seconds | `phase` | time in each phase (DNS, connect, each step) |
//! | `smtp_probe_reply_code` | gauge | | `phase` | the code of the last reply in each phase |
//! | `smtp_probe_findings` | gauge | | `severity` | findings by severity (`info`, `warning`, `critical`) |
//! | `smtp_probe_tls_version_info` | info | | `version`, `cipher` | the negotiated TLS version and cipher suite |
//! | `smtp_probe_tls_certificate_verified` | gauge | | | 1 when the chain verified for the checked name |
//! | `smtp_probe_tls_certificate_expiry_timestamp_seconds` | gauge | seconds | | notAfter of the certificate that expires first |
//! | `smtp_probe_tls_certificate_remaining_seconds` | gauge | seconds | | time left until then, at the renderer's `now` |
//! | `smtp_probe_mx_up` | gauge | | `domain` | 1 when some MX host of the domain can take mail |
//! | `smtp_probe_mx_verdict` | gauge | | `domain`, `verdict` | the aggregate MX verdict, as `smtp_probe_verdict` |
//! | `smtp_probe_mx_cause` | gauge | | `domain`, `cause` | the primary cause of an aggregate verdict other than up |
//! | `smtp_probe_mx_hosts` | gauge | | `domain` | the number of MX hosts probed (0 for a null MX) |
//! | `smtp_probe_domain_up` | gauge | | `domain` | 1 when senders honouring the domain's policies can deliver (up or degraded) |
//! | `smtp_probe_domain_verdict` | gauge | | `domain`, `verdict` | the domain check's verdict, as `smtp_probe_verdict` |
//! | `smtp_probe_domain_cause` | gauge | | `domain`, `cause` | the primary cause of a domain verdict other than up |
//! | `smtp_probe_domain_policy_mode` | gauge | | `domain`, `mode` | 1 for the MTA-STS mode in force (`enforce`, `testing`, `none`), 0 for the others; no sample without a policy |
//! | `smtp_probe_domain_dane_usable` | gauge | | `domain` | 1 when every probed MX host has DNSSEC-secure, usable TLSA records |
//! | `smtp_probe_domain_mx_policy_ok` | gauge | | `domain`, `host` | 1 when the MX host takes mail from policy-honouring senders (not down under the policies) |
//! | `smtp_probe_domain_dnssec_secure` | gauge | | `domain`, `record` | 1 when the lookup (`mx`, `mta_sts`, `tlsrpt`, `dmarc`, `tlsa:<host>`) validated as secure |
//! | `smtp_probe_domain_record_findings` | gauge | | `domain`, `level` | problems of the published records, by level (`advice`, `warning`, `error`) |
//! | `smtp_probe_exporter_probes_total` | counter | | `module`, `verdict` | probes a service ran |
//! | `smtp_probe_exporter_bad_requests_total` | counter | | | probe requests refused as bad (400) |
//! | `smtp_probe_exporter_busy_total` | counter | | | probe requests refused at the concurrency limit (503) |
//! | `smtp_probe_exporter_probes_in_flight` | gauge | | | probes running now |
//!
//! The `cause` label takes the values of the core's fixed vocabulary (`smtp_probe_proto::Cause`, listed in the
//! core's `JSON-SCHEMA.md`), those of the connection included: `address_denied` (every address of the target is
//! denied by the address policy; nothing was contacted) and `local_error` (the probe could not run on this machine:
//! an alert on it is about the prober, not the server).
//!
//! Types follow OpenMetrics: a counter's samples end in `_total`, an info metric's single sample (value 1)
//! ends in `_info`. In the Prometheus text format an info metric is written as a gauge of that sample name, and a
//! counter's family is named after its sample.

/// How a metric's value behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// A value that can go up and down (most of a probe's metrics: each describes the latest probe).
    Gauge,
    /// A count that only grows while the process runs; its sample is `<name>_total`.
    Counter,
    /// Facts as labels, value always 1; its sample is `<name>_info`.
    Info,
}

impl MetricType {
    /// The name in a `# TYPE` line of OpenMetrics.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
            MetricType::Info => "info",
        }
    }
}

/// One metric: its name, type, unit, labels and help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Metric {
    /// The metric family's name in OpenMetrics (without the `_total` of a counter, nor the `_info` of an info).
    pub name: &'static str,
    /// How the value behaves.
    pub kind: MetricType,
    /// The unit, when there is one; the name then ends with `_<unit>`.
    pub unit: Option<&'static str>,
    /// The labels a sample carries (besides `target`, `mx_domain` and `address` on probe metrics).
    pub labels: &'static [&'static str],
    /// One sentence for `# HELP`.
    pub help: &'static str,
}

impl Metric {
    /// The name samples are written with: `<name>_total` for a counter, `<name>_info` for an info metric, else
    /// the name.
    pub fn sample_name(&self) -> String {
        match self.kind {
            MetricType::Gauge => self.name.to_owned(),
            MetricType::Counter => format!("{}_total", self.name),
            MetricType::Info => format!("{}_info", self.name),
        }
    }
}

const fn gauge(
    name: &'static str,
    unit: Option<&'static str>,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric { name, kind: MetricType::Gauge, unit, labels, help }
}

const SECONDS: Option<&str> = Some("seconds");

/// Whether the server can take mail: 1 when up or degraded, 0 when down.
pub const UP: Metric =
    gauge("smtp_probe_up", None, &[], "Whether the server can take mail: 1 when up or degraded, 0 when down.");
/// The verdict, one sample per possible verdict, 1 for the current one.
pub const VERDICT: Metric = gauge(
    "smtp_probe_verdict",
    None,
    &["verdict"],
    "The probe's verdict: 1 for the current one of up, degraded and down.",
);
/// The primary cause of a verdict other than up.
pub const CAUSE: Metric =
    gauge("smtp_probe_cause", None, &["cause"], "The primary cause of a verdict other than up (always 1).");
/// From starting to connect to the end of the probe.
pub const DURATION: Metric =
    gauge("smtp_probe_duration_seconds", SECONDS, &[], "Time from starting to connect to the end of the probe.");
/// The response time the thresholds compare.
pub const RESPONSE_DURATION: Metric = gauge(
    "smtp_probe_response_duration_seconds",
    SECONDS,
    &[],
    "Time to the last reply before QUIT: what the response-time thresholds compare.",
);
/// Time spent in each phase.
pub const PHASE_DURATION: Metric =
    gauge("smtp_probe_phase_duration_seconds", SECONDS, &["phase"], "Time spent in each phase of the probe.");
/// The last reply code of each phase.
pub const REPLY_CODE: Metric =
    gauge("smtp_probe_reply_code", None, &["phase"], "The code of the last reply received in each phase.");
/// Findings by severity.
pub const FINDINGS: Metric = gauge("smtp_probe_findings", None, &["severity"], "Findings of the probe, by severity.");
/// The negotiated TLS version and cipher.
pub const TLS_VERSION: Metric = Metric {
    name: "smtp_probe_tls_version",
    kind: MetricType::Info,
    unit: None,
    labels: &["version", "cipher"],
    help: "The negotiated TLS version and cipher (always 1).",
};
/// Whether the certificate chain verified.
pub const TLS_CERTIFICATE_VERIFIED: Metric = gauge(
    "smtp_probe_tls_certificate_verified",
    None,
    &[],
    "Whether the certificate chain verified for the checked name.",
);
/// When the first certificate of the chain to expire expires.
pub const TLS_CERTIFICATE_EXPIRY: Metric = gauge(
    "smtp_probe_tls_certificate_expiry_timestamp_seconds",
    SECONDS,
    &[],
    "The notAfter, as a Unix time, of the presented certificate that expires first.",
);
/// Time left until that certificate expires, at the time of rendering.
pub const TLS_CERTIFICATE_REMAINING: Metric = gauge(
    "smtp_probe_tls_certificate_remaining_seconds",
    SECONDS,
    &[],
    "Time left until the presented certificate that expires first expires (negative once expired; divide by 86400 \
     for days left).",
);
/// Whether mail to an MX domain can be delivered.
pub const MX_UP: Metric = gauge(
    "smtp_probe_mx_up",
    None,
    &["domain"],
    "Whether mail to the domain can be delivered: 1 when some MX host can take mail, 0 when none can.",
);
/// The aggregate MX verdict.
pub const MX_VERDICT: Metric = gauge(
    "smtp_probe_mx_verdict",
    None,
    &["domain", "verdict"],
    "The domain's aggregate MX verdict: 1 for the current one of up (every host up), degraded and down.",
);
/// The primary cause of an aggregate MX verdict other than up.
pub const MX_CAUSE: Metric = gauge(
    "smtp_probe_mx_cause",
    None,
    &["domain", "cause"],
    "The primary cause of an aggregate MX verdict other than up (always 1).",
);
/// How many MX hosts were probed.
pub const MX_HOSTS: Metric =
    gauge("smtp_probe_mx_hosts", None, &["domain"], "The number of MX hosts probed for the domain (0 for a null MX).");

/// Whether senders honouring a domain's policies can deliver to it.
pub const DOMAIN_UP: Metric = gauge(
    "smtp_probe_domain_up",
    None,
    &["domain"],
    "Whether senders honouring the domain's MTA-STS and DANE policies can deliver: 1 when up or degraded, 0 when down.",
);
/// The domain check's verdict.
pub const DOMAIN_VERDICT: Metric = gauge(
    "smtp_probe_domain_verdict",
    None,
    &["domain", "verdict"],
    "The domain check's verdict: 1 for the current one, 0 for the two others.",
);
/// The primary cause of a domain verdict other than up.
pub const DOMAIN_CAUSE: Metric = gauge(
    "smtp_probe_domain_cause",
    None,
    &["domain", "cause"],
    "The primary cause of a domain verdict other than up.",
);
/// The MTA-STS mode in force.
pub const DOMAIN_POLICY_MODE: Metric = gauge(
    "smtp_probe_domain_policy_mode",
    None,
    &["domain", "mode"],
    "The MTA-STS mode in force: 1 for the current mode, 0 for the others (no sample without a policy).",
);
/// Whether DANE covers every MX host.
pub const DOMAIN_DANE_USABLE: Metric = gauge(
    "smtp_probe_domain_dane_usable",
    None,
    &["domain"],
    "Whether every probed MX host has DNSSEC-secure TLSA records usable for SMTP.",
);
/// Whether an MX host passes the domain's policies.
pub const DOMAIN_MX_POLICY_OK: Metric = gauge(
    "smtp_probe_domain_mx_policy_ok",
    None,
    &["domain", "host"],
    "Whether the MX host takes mail from senders honouring the domain's policies (not down under them).",
);
/// Whether a lookup validated as secure.
pub const DOMAIN_DNSSEC_SECURE: Metric = gauge(
    "smtp_probe_domain_dnssec_secure",
    None,
    &["domain", "record"],
    "Whether the lookup validated as DNSSEC-secure from the configured trust anchor.",
);
/// Problems of the published records, by level.
pub const DOMAIN_RECORD_FINDINGS: Metric = gauge(
    "smtp_probe_domain_record_findings",
    None,
    &["domain", "level"],
    "Problems of the domain's published records (SPF, DMARC, TLS-RPT, MTA-STS, TLSA), by level.",
);

/// Probes run by a service (an exporter, a monitor), by module and verdict.
pub const EXPORTER_PROBES: Metric = Metric {
    name: "smtp_probe_exporter_probes",
    kind: MetricType::Counter,
    unit: None,
    labels: &["module", "verdict"],
    help: "Probes run by this exporter, by module and verdict.",
};
/// Probe requests refused as bad: no target, an unknown module, a target off the module's allow-list.
pub const EXPORTER_BAD_REQUESTS: Metric = Metric {
    name: "smtp_probe_exporter_bad_requests",
    kind: MetricType::Counter,
    unit: None,
    labels: &[],
    help: "Probe requests refused (no target, unknown module, target not allowed).",
};
/// Probe requests refused because the limit of concurrent probes was reached.
pub const EXPORTER_BUSY: Metric = Metric {
    name: "smtp_probe_exporter_busy",
    kind: MetricType::Counter,
    unit: None,
    labels: &[],
    help: "Probe requests refused because the limit of concurrent probes was reached.",
};
/// Probes running now.
pub const EXPORTER_PROBES_IN_FLIGHT: Metric =
    gauge("smtp_probe_exporter_probes_in_flight", None, &[], "Probes running now.");

/// The metrics of one probe report, in the order they are written.
pub const REPORT_METRICS: &[Metric] = &[
    UP,
    VERDICT,
    CAUSE,
    DURATION,
    RESPONSE_DURATION,
    PHASE_DURATION,
    REPLY_CODE,
    FINDINGS,
    TLS_VERSION,
    TLS_CERTIFICATE_VERIFIED,
    TLS_CERTIFICATE_EXPIRY,
    TLS_CERTIFICATE_REMAINING,
];

/// The aggregate metrics of an MX domain, in the order they are written.
pub const MX_METRICS: &[Metric] = &[MX_UP, MX_VERDICT, MX_CAUSE, MX_HOSTS];

/// The metrics of a domain check, in the order they are written.
pub const DOMAIN_METRICS: &[Metric] = &[
    DOMAIN_UP,
    DOMAIN_VERDICT,
    DOMAIN_CAUSE,
    DOMAIN_POLICY_MODE,
    DOMAIN_DANE_USABLE,
    DOMAIN_MX_POLICY_OK,
    DOMAIN_DNSSEC_SECURE,
    DOMAIN_RECORD_FINDINGS,
];

/// A probing service's own metrics (the exporter's, and the monitor's).
pub const SERVICE_METRICS: &[Metric] =
    &[EXPORTER_PROBES, EXPORTER_BAD_REQUESTS, EXPORTER_BUSY, EXPORTER_PROBES_IN_FLIGHT];

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> impl Iterator<Item = &'static Metric> {
        REPORT_METRICS.iter().chain(MX_METRICS).chain(DOMAIN_METRICS).chain(SERVICE_METRICS)
    }

    #[test]
    fn names_follow_the_openmetrics_rules() {
        let mut seen = std::collections::HashSet::new();
        for metric in all() {
            assert!(seen.insert(metric.name), "{} is defined twice", metric.name);
            assert!(metric.name.starts_with("smtp_probe_"), "{}", metric.name);
            assert!(metric.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            if let Some(unit) = metric.unit {
                assert!(metric.name.ends_with(&format!("_{unit}")), "{} must end with its unit", metric.name);
            }
            for suffix in ["_total", "_info", "_created", "_count", "_sum", "_bucket"] {
                assert!(!metric.name.ends_with(suffix), "{}: {suffix} is added by the type", metric.name);
            }
            assert!(metric.help.ends_with('.') && !metric.help.contains('\n'), "{}", metric.name);
        }
    }

    #[test]
    fn the_table_in_the_docs_lists_every_metric() {
        let table = include_str!("metrics.rs");
        for metric in all() {
            assert!(
                table.contains(&format!("`{}`", metric.sample_name())),
                "the table in the module docs lacks {}",
                metric.name
            );
        }
        assert_eq!(table.lines().filter(|l| l.starts_with("//! | `")).count(), all().count());
    }
}
