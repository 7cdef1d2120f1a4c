//! The metric vocabulary: every metric smtp-probe exposes, defined once. The `smtp-probe --format prometheus`
//! output, an exporter's `/probe` and a monitor's `/metrics` all write these names, help texts, units and labels,
//! through [`Exposition`](crate::Exposition).
//!
//! Every metric of a probe report carries the label `target` (`host:port`, as the report names it); those of an
//! MX host's report also carry `mx_domain`; and when one target has several reports in one exposition (one per
//! address family), each also carries `address` (`ip:port`). The MX aggregate metrics and the domain check's carry
//! `domain` (a domain check's MX hosts' probe reports carry `mx_domain`, as in MX mode). A round trip's metrics
//! carry `submit` and `mailbox`, the `host:port` of its submission and IMAP servers (its submission is not repeated
//! as probe metrics: its phases are in `smtp_probe_roundtrip_phase_duration_seconds`).
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
//! | `smtp_probe_roundtrip_up` | gauge | | | 1 when the test message was delivered (up or degraded), 0 when down |
//! | `smtp_probe_roundtrip_verdict` | gauge | | `verdict` | 1 for the round trip's verdict, 0 for the two others |
//! | `smtp_probe_roundtrip_cause` | gauge | | `cause` | 1, for the primary cause of a verdict other than up |
//! | `smtp_probe_roundtrip_duration_seconds` | gauge | seconds | | the whole run: login, submission, searches, clean-up |
//! | `smtp_probe_roundtrip_mailbox_ready_seconds` | gauge | seconds | | from the start until logged in with the inbox selected |
//! | `smtp_probe_roundtrip_submit_seconds` | gauge | seconds | | the submission, from its start to its QUIT |
//! | `smtp_probe_roundtrip_delivery_seconds` | gauge | seconds | | acceptance (the `250`) to the search that found the message |
//! | `smtp_probe_roundtrip_not_visible_after_seconds` | gauge | seconds | | acceptance to the last search that missed it: delivery took at least this |
//! | `smtp_probe_roundtrip_phase_duration_seconds` | gauge | seconds | `phase` | time in each SMTP and IMAP phase (`imap_*`; searches summed) |
//! | `smtp_probe_roundtrip_searches` | gauge | | | rounds of searching the mailbox |
//! | `smtp_probe_roundtrip_folder` | gauge | | `folder` | 1, for the configured folder the message was found in |
//! | `smtp_probe_roundtrip_junk` | gauge | | | 1 when the message was found in the junk folder, 0 in the inbox |
//! | `smtp_probe_roundtrip_hops` | gauge | | | `Received` headers on the delivered message |
//! | `smtp_probe_roundtrip_authentication_results` | gauge | | `method`, `result` | `Authentication-Results` verdicts on it, counted |
//! | `smtp_probe_roundtrip_findings` | gauge | | `severity` | findings of the round trip, by severity |
//! | `smtp_probe_exporter_probes_total` | counter | | `module`, `verdict` | probes a service ran |
//! | `smtp_probe_exporter_bad_requests_total` | counter | | | probe requests refused as bad (400) |
//! | `smtp_probe_exporter_busy_total` | counter | | | probe requests refused at the concurrency limit (503) |
//! | `smtp_probe_exporter_probes_in_flight` | gauge | | | probes running now |
//!
//! The monitor service (`smtp-probe-monitor`) serves these on its `/metrics`, besides the exporter's counters for
//! its `/probe`. A monitor's series carry `monitor` (its id) and `group` (its first tag, the group it is shown in
//! on the status page; empty when it has none); an alert channel's carry `channel` (its name in the configuration);
//! the configuration bounds all of them, and no server or receiver text is ever a label.
//!
//! | metric (sample name) | type | unit | labels | what |
//! | --- | --- | --- | --- | --- |
//! | `smtp_probe_monitor_info` | info | | `monitor`, `group`, `name`, `target` | a monitor's name and target |
//! | `smtp_probe_monitor_up` | gauge | | `monitor`, `group` | 1 when the last check found the server taking mail (up or degraded), 0 when down |
//! | `smtp_probe_monitor_state` | gauge | | `monitor`, `group`, `state` | 1, for the monitor's state: `up`, `pending`, `degraded`, `down`, `flapping` or `unknown` |
//! | `smtp_probe_monitor_cause` | gauge | | `monitor`, `group`, `cause` | 1, for the primary cause of the last check when it was not up |
//! | `smtp_probe_monitor_maintenance` | gauge | | `monitor`, `group` | 1 while a maintenance window covers the monitor (absent otherwise) |
//! | `smtp_probe_monitor_response_duration_seconds` | gauge | seconds | `monitor`, `group` | the last check's response time |
//! | `smtp_probe_monitor_last_check_timestamp_seconds` | gauge | seconds | `monitor`, `group` | when the last check started |
//! | `smtp_probe_monitor_tls_certificate_days_left` | gauge | | `monitor`, `group` | whole days the certificate had left at the last check |
//! | `smtp_probe_monitor_availability_ratio` | gauge | ratio | `monitor`, `group`, `window` | time-weighted availability over `24h`, `7d`, `30d`, `90d` |
//! | `smtp_probe_monitor_checks_total` | counter | | `monitor`, `group` | checks this instance ran for the monitor |
//! | `smtp_probe_monitor_response_latency_seconds` | histogram | seconds | `group` | response times of the checks this instance ran |
//! | `smtp_probe_monitor_monitors` | gauge | | `state` | monitors in each state |
//! | `smtp_probe_monitor_checks_running` | gauge | | | checks running now |
//! | `smtp_probe_monitor_checks_started_total` | counter | | | checks started |
//! | `smtp_probe_monitor_scheduler_lateness_seconds` | gauge | seconds | `stat` | how late checks started over the last minute or two (`p50`, `p99`, `max`) |
//! | `smtp_probe_monitor_storage_healthy` | gauge | | | 1 while writes to storage succeed |
//! | `smtp_probe_monitor_storage_backlog` | gauge | | | results waiting to be written |
//! | `smtp_probe_monitor_storage_written_results_total` | counter | | | results written |
//! | `smtp_probe_monitor_storage_dropped_results_total` | counter | | | raw results dropped while storage failed (rollups kept) |
//! | `smtp_probe_monitor_connectivity_lost` | gauge | | | 1 while every canary fails (results are unknown, alerts held) |
//! | `smtp_probe_monitor_alerts` | gauge | | `kind`, `status` | alerts in the outbox by kind and delivery status |
//! | `smtp_probe_monitor_alert_channel_up` | gauge | | `channel`, `kind` | 1 while the channel's last delivery attempt succeeded (or none was made), 0 while it fails |
//! | `smtp_probe_monitor_alert_channel_queued` | gauge | | `channel` | alerts waiting for the channel in this instance |
//! | `smtp_probe_monitor_alert_channel_attempts_total` | counter | | `channel` | delivery attempts through the channel |
//! | `smtp_probe_monitor_alert_channel_failures_total` | counter | | `channel` | delivery attempts that failed |
//! | `smtp_probe_monitor_alert_channel_delivered_total` | counter | | `channel` | alerts delivered (a grouped message counts each alert in it) |
//! | `smtp_probe_monitor_alert_channel_given_up_total` | counter | | `channel` | alerts given up (rejected by the receiver, or past their deadline) |
//! | `smtp_probe_monitor_events_missed_total` | counter | | | engine events the metrics missed (the latency histogram lacks them) |
//!
//! The `cause` label takes the values of the core's fixed vocabulary (`smtp_probe_proto::Cause`, listed in the
//! core's `JSON-SCHEMA.md`), those of the connection included: `address_denied` (every address of the target is
//! denied by the address policy; nothing was contacted) and `local_error` (the probe could not run on this machine:
//! an alert on it is about the prober, not the server).
//!
//! Types follow OpenMetrics: a counter's samples end in `_total`, an info metric's single sample (value 1)
//! ends in `_info`, a histogram's in `_bucket` (with `le`), `_sum` and `_count`. In the Prometheus text format an
//! info metric is written as a gauge of that sample name, and a counter's family is named after its sample.

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
    /// A distribution: cumulative `<name>_bucket{le}` counts, `<name>_sum` and `<name>_count`.
    Histogram,
}

impl MetricType {
    /// The name in a `# TYPE` line of OpenMetrics.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
            MetricType::Info => "info",
            MetricType::Histogram => "histogram",
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
    /// The labels a sample carries (besides `target`, `mx_domain` and `address` on probe metrics, `submit` and
    /// `mailbox` on round-trip metrics).
    pub labels: &'static [&'static str],
    /// One sentence for `# HELP`.
    pub help: &'static str,
}

impl Metric {
    /// The name samples are written with: `<name>_total` for a counter, `<name>_info` for an info metric, else
    /// the name (a histogram's samples add `_bucket`, `_sum` and `_count` to it).
    pub fn sample_name(&self) -> String {
        match self.kind {
            MetricType::Gauge | MetricType::Histogram => self.name.to_owned(),
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
/// Whether a round trip delivered its message.
pub const ROUNDTRIP_UP: Metric = gauge(
    "smtp_probe_roundtrip_up",
    None,
    &[],
    "Whether mail flows: 1 when the test message was delivered (up or degraded), 0 when down.",
);
/// A round trip's verdict, one sample per possible verdict.
pub const ROUNDTRIP_VERDICT: Metric = gauge(
    "smtp_probe_roundtrip_verdict",
    None,
    &["verdict"],
    "The round trip's verdict: 1 for the current one of up, degraded and down.",
);
/// The primary cause of a round trip's verdict other than up.
pub const ROUNDTRIP_CAUSE: Metric = gauge(
    "smtp_probe_roundtrip_cause",
    None,
    &["cause"],
    "The primary cause of a round trip's verdict other than up (always 1).",
);
/// The whole run.
pub const ROUNDTRIP_DURATION: Metric = gauge(
    "smtp_probe_roundtrip_duration_seconds",
    SECONDS,
    &[],
    "Time for the whole round trip: mailbox login, submission, searches and clean-up.",
);
/// Until the mailbox was ready.
pub const ROUNDTRIP_MAILBOX_READY: Metric = gauge(
    "smtp_probe_roundtrip_mailbox_ready_seconds",
    SECONDS,
    &[],
    "Time from the start of the round trip until logged in to the mailbox with the inbox selected.",
);
/// The submission.
pub const ROUNDTRIP_SUBMIT: Metric = gauge(
    "smtp_probe_roundtrip_submit_seconds",
    SECONDS,
    &[],
    "Time for the submission of the test message, from its start to its QUIT.",
);
/// The end-to-end latency.
pub const ROUNDTRIP_DELIVERY: Metric = gauge(
    "smtp_probe_roundtrip_delivery_seconds",
    SECONDS,
    &[],
    "Time from the submission server's acceptance of the test message to the search that found it in the mailbox.",
);
/// The lower bound of the end-to-end latency.
pub const ROUNDTRIP_NOT_VISIBLE_AFTER: Metric = gauge(
    "smtp_probe_roundtrip_not_visible_after_seconds",
    SECONDS,
    &[],
    "Time from the acceptance of the test message to the last search that did not find it: delivery took at least \
     this.",
);
/// Time in each phase of both sides.
pub const ROUNDTRIP_PHASE_DURATION: Metric = gauge(
    "smtp_probe_roundtrip_phase_duration_seconds",
    SECONDS,
    &["phase"],
    "Time spent in each phase of the round trip's submission and of its mailbox session.",
);
/// How often the mailbox was searched.
pub const ROUNDTRIP_SEARCHES: Metric =
    gauge("smtp_probe_roundtrip_searches", None, &[], "Rounds of searching the mailbox for the test message.");
/// The folder the message was found in.
pub const ROUNDTRIP_FOLDER: Metric = gauge(
    "smtp_probe_roundtrip_folder",
    None,
    &["folder"],
    "The configured folder the test message was found in (always 1).",
);
/// Whether the message was found in the junk folder.
pub const ROUNDTRIP_JUNK: Metric = gauge(
    "smtp_probe_roundtrip_junk",
    None,
    &[],
    "Whether the test message was found in the junk folder: 1 in junk, 0 in the inbox.",
);
/// The delivered message's hops.
pub const ROUNDTRIP_HOPS: Metric =
    gauge("smtp_probe_roundtrip_hops", None, &[], "The number of Received headers on the delivered test message.");
/// Authentication-Results verdicts on the delivered message.
pub const ROUNDTRIP_AUTHENTICATION: Metric = gauge(
    "smtp_probe_roundtrip_authentication_results",
    None,
    &["method", "result"],
    "Authentication-Results verdicts on the delivered test message, counted by method and result.",
);
/// The round trip's findings.
pub const ROUNDTRIP_FINDINGS: Metric =
    gauge("smtp_probe_roundtrip_findings", None, &["severity"], "Findings of the round trip, by severity.");

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

const fn info(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Metric {
    Metric { name, kind: MetricType::Info, unit: None, labels, help }
}

const fn counter(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Metric {
    Metric { name, kind: MetricType::Counter, unit: None, labels, help }
}

/// The labels of every per-monitor series.
const MONITOR: &[&str] = &["monitor", "group"];

/// A monitor's name and target.
pub const MONITOR_INFO: Metric = info(
    "smtp_probe_monitor",
    &["monitor", "group", "name", "target"],
    "A monitor's name and target, as configured (always 1).",
);
/// Whether the last check found the server taking mail.
pub const MONITOR_UP: Metric = gauge(
    "smtp_probe_monitor_up",
    None,
    MONITOR,
    "Whether the last check found the server taking mail: 1 when up or degraded, 0 when down.",
);
/// The monitor's state.
pub const MONITOR_STATE: Metric = gauge(
    "smtp_probe_monitor_state",
    None,
    &["monitor", "group", "state"],
    "The monitor's state (up, pending, degraded, down, flapping or unknown; always 1).",
);
/// The primary cause of the last check, when not up.
pub const MONITOR_CAUSE: Metric = gauge(
    "smtp_probe_monitor_cause",
    None,
    &["monitor", "group", "cause"],
    "The primary cause of the last check when it was not up (always 1).",
);
/// Whether a maintenance window covers the monitor.
pub const MONITOR_MAINTENANCE: Metric =
    gauge("smtp_probe_monitor_maintenance", None, MONITOR, "Whether a maintenance window covers the monitor now.");
/// The last check's response time.
pub const MONITOR_RESPONSE_DURATION: Metric = gauge(
    "smtp_probe_monitor_response_duration_seconds",
    SECONDS,
    MONITOR,
    "The last check's time to the last reply before QUIT.",
);
/// When the last check started.
pub const MONITOR_LAST_CHECK: Metric = gauge(
    "smtp_probe_monitor_last_check_timestamp_seconds",
    SECONDS,
    MONITOR,
    "When the last check started, as a Unix time.",
);
/// Whole days the certificate had left.
pub const MONITOR_CERTIFICATE_DAYS: Metric = gauge(
    "smtp_probe_monitor_tls_certificate_days_left",
    None,
    MONITOR,
    "Whole days the certificate had left at the last check (negative once expired).",
);
/// Time-weighted availability per window.
pub const MONITOR_AVAILABILITY: Metric = gauge(
    "smtp_probe_monitor_availability_ratio",
    Some("ratio"),
    &["monitor", "group", "window"],
    "Time-weighted availability, (up + degraded) / (up + degraded + down), over the window.",
);
/// Checks run per monitor.
pub const MONITOR_CHECKS: Metric =
    counter("smtp_probe_monitor_checks", MONITOR, "Checks this instance ran for the monitor, re-checks included.");
/// Response times, per group.
pub const MONITOR_RESPONSE_LATENCY: Metric = Metric {
    name: "smtp_probe_monitor_response_latency_seconds",
    kind: MetricType::Histogram,
    unit: SECONDS,
    labels: &["group"],
    help: "Response times of the checks this instance ran, by group.",
};
/// Monitors per state.
pub const MONITOR_MONITORS: Metric = gauge("smtp_probe_monitor_monitors", None, &["state"], "Monitors in each state.");
/// Checks running now.
pub const MONITOR_CHECKS_RUNNING: Metric = gauge("smtp_probe_monitor_checks_running", None, &[], "Checks running now.");
/// Checks started.
pub const MONITOR_CHECKS_STARTED: Metric =
    counter("smtp_probe_monitor_checks_started", &[], "Checks started by the scheduler.");
/// Scheduling lateness.
pub const MONITOR_LATENESS: Metric = gauge(
    "smtp_probe_monitor_scheduler_lateness_seconds",
    SECONDS,
    &["stat"],
    "How late checks started after their slot over the last one to two minutes (p50, p99 and max).",
);
/// Whether storage writes succeed.
pub const MONITOR_STORAGE_HEALTHY: Metric =
    gauge("smtp_probe_monitor_storage_healthy", None, &[], "Whether writes to storage succeed.");
/// Results waiting to be written.
pub const MONITOR_STORAGE_BACKLOG: Metric =
    gauge("smtp_probe_monitor_storage_backlog", None, &[], "Check results waiting to be written to storage.");
/// Results written.
pub const MONITOR_STORAGE_WRITTEN: Metric =
    counter("smtp_probe_monitor_storage_written_results", &[], "Check results written to storage.");
/// Results dropped.
pub const MONITOR_STORAGE_DROPPED: Metric = counter(
    "smtp_probe_monitor_storage_dropped_results",
    &[],
    "Raw check results dropped while storage failed and the backlog was full (rollups are kept).",
);
/// Whether the canaries say the monitor's own connectivity is lost.
pub const MONITOR_CONNECTIVITY_LOST: Metric = gauge(
    "smtp_probe_monitor_connectivity_lost",
    None,
    &[],
    "Whether every canary fails: results are then unknown and alerts held.",
);
/// Alerts in the outbox.
pub const MONITOR_ALERTS: Metric =
    gauge("smtp_probe_monitor_alerts", None, &["kind", "status"], "Alerts in the outbox, by kind and delivery status.");
/// Whether an alert channel delivers.
pub const MONITOR_CHANNEL_UP: Metric = gauge(
    "smtp_probe_monitor_alert_channel_up",
    None,
    &["channel", "kind"],
    "Whether the alert channel's last delivery attempt succeeded (1, also before any attempt) or failed (0).",
);
/// Alerts waiting for a channel.
pub const MONITOR_CHANNEL_QUEUED: Metric = gauge(
    "smtp_probe_monitor_alert_channel_queued",
    None,
    &["channel"],
    "Alerts waiting for the channel in this instance.",
);
/// Delivery attempts per channel.
pub const MONITOR_CHANNEL_ATTEMPTS: Metric =
    counter("smtp_probe_monitor_alert_channel_attempts", &["channel"], "Delivery attempts through the alert channel.");
/// Failed delivery attempts per channel.
pub const MONITOR_CHANNEL_FAILURES: Metric = counter(
    "smtp_probe_monitor_alert_channel_failures",
    &["channel"],
    "Delivery attempts through the alert channel that failed.",
);
/// Alerts delivered per channel.
pub const MONITOR_CHANNEL_DELIVERED: Metric = counter(
    "smtp_probe_monitor_alert_channel_delivered",
    &["channel"],
    "Alerts delivered through the channel (a grouped message counts each alert in it).",
);
/// Alerts given up per channel.
pub const MONITOR_CHANNEL_GIVEN_UP: Metric = counter(
    "smtp_probe_monitor_alert_channel_given_up",
    &["channel"],
    "Alerts the channel gave up on (rejected by the receiver, or past their deadline).",
);
/// Events the metrics missed.
pub const MONITOR_EVENTS_MISSED: Metric = counter(
    "smtp_probe_monitor_events_missed",
    &[],
    "Engine events the metrics listener missed by falling behind (their checks are not in the latency histogram).",
);

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

/// The metrics of a round trip, in the order they are written.
pub const ROUNDTRIP_METRICS: &[Metric] = &[
    ROUNDTRIP_UP,
    ROUNDTRIP_VERDICT,
    ROUNDTRIP_CAUSE,
    ROUNDTRIP_DURATION,
    ROUNDTRIP_MAILBOX_READY,
    ROUNDTRIP_SUBMIT,
    ROUNDTRIP_DELIVERY,
    ROUNDTRIP_NOT_VISIBLE_AFTER,
    ROUNDTRIP_PHASE_DURATION,
    ROUNDTRIP_SEARCHES,
    ROUNDTRIP_FOLDER,
    ROUNDTRIP_JUNK,
    ROUNDTRIP_HOPS,
    ROUNDTRIP_AUTHENTICATION,
    ROUNDTRIP_FINDINGS,
];

/// A probing service's own metrics (the exporter's, and the monitor's `/probe`).
pub const SERVICE_METRICS: &[Metric] =
    &[EXPORTER_PROBES, EXPORTER_BAD_REQUESTS, EXPORTER_BUSY, EXPORTER_PROBES_IN_FLIGHT];

/// The monitor service's metrics, in the order its `/metrics` writes them.
pub const MONITOR_METRICS: &[Metric] = &[
    MONITOR_INFO,
    MONITOR_UP,
    MONITOR_STATE,
    MONITOR_CAUSE,
    MONITOR_MAINTENANCE,
    MONITOR_RESPONSE_DURATION,
    MONITOR_LAST_CHECK,
    MONITOR_CERTIFICATE_DAYS,
    MONITOR_AVAILABILITY,
    MONITOR_CHECKS,
    MONITOR_RESPONSE_LATENCY,
    MONITOR_MONITORS,
    MONITOR_CHECKS_RUNNING,
    MONITOR_CHECKS_STARTED,
    MONITOR_LATENESS,
    MONITOR_STORAGE_HEALTHY,
    MONITOR_STORAGE_BACKLOG,
    MONITOR_STORAGE_WRITTEN,
    MONITOR_STORAGE_DROPPED,
    MONITOR_CONNECTIVITY_LOST,
    MONITOR_ALERTS,
    MONITOR_CHANNEL_UP,
    MONITOR_CHANNEL_QUEUED,
    MONITOR_CHANNEL_ATTEMPTS,
    MONITOR_CHANNEL_FAILURES,
    MONITOR_CHANNEL_DELIVERED,
    MONITOR_CHANNEL_GIVEN_UP,
    MONITOR_EVENTS_MISSED,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> impl Iterator<Item = &'static Metric> {
        REPORT_METRICS
            .iter()
            .chain(MX_METRICS)
            .chain(DOMAIN_METRICS)
            .chain(ROUNDTRIP_METRICS)
            .chain(SERVICE_METRICS)
            .chain(MONITOR_METRICS)
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
