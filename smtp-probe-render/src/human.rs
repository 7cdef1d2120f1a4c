//! Output for people: the verdict and its cause first, then the phases with timings and replies, TLS and the
//! certificate, capabilities before and after TLS, and the findings. `verbose` adds commands, every reply line and
//! certificate details; `transcript` adds the conversation. Colour only when [`HumanOptions::color`] says so.
//!
//! An MX domain gets a header (its aggregate verdict and cause, null or implicit MX, its hosts by preference;
//! `verbose` adds its findings) before its hosts' blocks.
//!
//! A round trip is told as a story: the verdict and what it rests on, then the mailbox login, the submission and
//! its acceptance (queue id), when and where the message became visible (bracketed by the last search that missed
//! it), its clean-up, the hops with their delays and the `Authentication-Results` verdicts, and the findings.
//! `verbose` adds the submission's block and the mailbox's IMAP steps, TLS and capabilities; `transcript` both
//! conversations.
//!
//! Everything the server chose (reply lines, capabilities, certificate names, findings that quote it, the
//! transcript) is [escaped](crate::escape): no control character of the server's reaches the terminal. Without
//! `verbose`, a reply line is cut to [`MAX_REPLY_CHARS`] characters.

use std::fmt::Write as _;
use std::time::Duration;

use smtp_probe_proto::domain::{Answer, Dane, DnssecStatus, DomainReport};
use smtp_probe_proto::imap::MailboxReport;
use smtp_probe_proto::mx::MxReport;
use smtp_probe_proto::{
    CertificateInfo, Direction, Finding, OwnedReply, Phase, Report, RoundTripReport, Severity, TlsInfo, TranscriptLine,
    Verdict,
};

use crate::escape::{escape, escape_bytes, truncate};
use crate::item::{Item, split};
use crate::millis;

/// The longest reply line shown without `verbose`, in characters.
pub const MAX_REPLY_CHARS: usize = 200;

/// What human output shows, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HumanOptions {
    /// ANSI colour and bold (for a terminal; see [`color_wanted`](crate::color_wanted)).
    pub color: bool,
    /// More detail: commands, every reply line, certificate details, findings of MX domains (0: none).
    pub verbose: u8,
    /// The conversation, as recorded (a report has one only when the probe was configured to keep it).
    pub transcript: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";

/// Every item in order, a block each: a target's report, or an MX domain's header (verdict, cause, null or
/// implicit MX, the hosts by preference) followed by each host's reports. A tally at the end when there are
/// several items.
pub(crate) fn render(items: &[Item<'_>], options: &HumanOptions) -> String {
    let mut blocks: Vec<String> = Vec::new();
    for item in items {
        match item {
            Item::Target(report) => blocks.push(Block { out: String::new(), options }.render(report)),
            Item::Mx(mx) => {
                blocks.push(Block { out: String::new(), options }.mx_header(mx));
                for report in mx.hosts.iter().flat_map(|h| &h.reports) {
                    blocks.push(Block { out: String::new(), options }.render(report));
                }
            }
            Item::Domain(check) => {
                blocks.push(Block { out: String::new(), options }.domain_header(check));
                for report in check.mx.hosts.iter().flat_map(|h| &h.reports) {
                    blocks.push(Block { out: String::new(), options }.render(report));
                }
            }
            Item::RoundTrip(roundtrip) => blocks.push(Block { out: String::new(), options }.roundtrip(roundtrip)),
        }
    }
    let mut out = blocks.join("\n");
    if items.len() > 1 {
        let kinds = split(items);
        let verdicts: Vec<Verdict> = items.iter().map(Item::verdict).collect();
        let count = |v: Verdict| verdicts.iter().filter(|&&x| x == v).count();
        let what = if kinds.domains.is_empty() && kinds.roundtrips.is_empty() {
            format!("{} targets", items.len())
        } else {
            let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
            let kinds = [
                (kinds.targets.len(), "target", "targets"),
                (kinds.domains.len(), "MX domain", "MX domains"),
                (kinds.roundtrips.len(), "round trip", "round trips"),
            ];
            let parts: Vec<String> =
                kinds.iter().filter(|(n, ..)| *n > 0).map(|&(n, one, many)| plural(n, one, many)).collect();
            format!("{} ({})", plural(items.len(), "check", "checks"), parts.join(", "))
        };
        let _ = writeln!(
            out,
            "\n{what}: {} up, {} degraded, {} down",
            count(Verdict::Up),
            count(Verdict::Degraded),
            count(Verdict::Down)
        );
    }
    out
}

struct Block<'a> {
    out: String,
    options: &'a HumanOptions,
}

impl Block<'_> {
    fn paint(&self, style: &str, text: &str) -> String {
        if self.options.color { format!("{style}{text}{RESET}") } else { text.to_owned() }
    }

    fn line(&mut self, text: impl AsRef<str>) {
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    fn render(mut self, report: &Report) -> String {
        self.headline(report);
        self.phases(report);
        if let Some(tls) = &report.tls {
            self.tls(tls);
        }
        self.capabilities(report);
        self.findings(report);
        if self.options.transcript {
            self.transcript(report);
        }
        self.out
    }

    fn verdict(&self, verdict: Verdict, bold: bool) -> String {
        let (color, word) = match verdict {
            Verdict::Up => (GREEN, "UP"),
            Verdict::Degraded => (YELLOW, "DEGRADED"),
            Verdict::Down => (RED, "DOWN"),
        };
        if bold { self.paint(&format!("{BOLD}{color}"), word) } else { self.paint(color, word) }
    }

    /// `MX <domain>  <VERDICT>  <cause (phase): message>`, then null/implicit MX and the hosts by preference.
    /// A domain check: the verdict and cause, each lookup with its DNSSEC status, the MTA-STS policy and its
    /// fetch, SPF, each MX host under the policies, record findings.
    fn domain_header(mut self, check: &DomainReport) -> String {
        let verdict = self.verdict(check.verdict, true);
        let domain = self.paint(BOLD, check.domain.as_str());
        match check.primary_finding() {
            None => self.line(format!("domain {domain}  {verdict}  {}", escape(&check.summary()))),
            Some(finding) => {
                let cause = finding.cause.map_or("unknown", |c| c.as_str());
                self.line(format!("domain {domain}  {verdict}  {cause}: {}", escape(&finding.message)));
            }
        }
        self.line("  records");
        for lookup in &check.records {
            let answer = match &lookup.answer {
                Answer::Records(records) => {
                    records.iter().map(|r| escape(&truncate(r, 120)).into_owned()).collect::<Vec<_>>().join(" | ")
                }
                Answer::NoData => "no records".to_owned(),
                Answer::NxDomain => "no such name".to_owned(),
                Answer::Failed(why) => format!("failed: {}", escape(why)),
                _ => String::new(),
            };
            let status = format!("{:<13}", lookup.dnssec.as_str());
            let style = match lookup.dnssec {
                DnssecStatus::Secure => GREEN,
                DnssecStatus::Bogus => RED,
                _ => DIM,
            };
            let status = self.paint(style, &status);
            self.line(format!(
                "    {:<4} {:<40} {status} {answer}",
                format!("{:?}", lookup.rtype).to_uppercase(),
                escape(&lookup.name)
            ));
        }
        match (&check.mta_sts.record, &check.mta_sts.fetch) {
            (None, _) => self.line("  MTA-STS      no policy published"),
            (Some(record), Some(fetch)) => match &fetch.outcome {
                Ok(policy) => {
                    let mx: Vec<String> = policy.mx.iter().map(ToString::to_string).collect();
                    self.line(format!(
                        "  MTA-STS      id {}  mode {}  max_age {}  mx {}",
                        escape(&record.id),
                        policy.mode,
                        policy.max_age,
                        escape(&mx.join(", "))
                    ));
                }
                Err(error) => {
                    let line = format!(
                        "  MTA-STS      id {}  policy unavailable: {}",
                        escape(&record.id),
                        escape(&error.to_string())
                    );
                    let painted = self.paint(YELLOW, &line);
                    self.line(painted);
                }
            },
            (Some(record), None) => self.line(format!("  MTA-STS      id {}  (not fetched)", escape(&record.id))),
        }
        if let Some(spf) = &check.spf {
            self.line(format!(
                "  SPF          {}  {} DNS-querying terms, {} void",
                spf.result, spf.lookups, spf.void_lookups
            ));
        }
        for (i, host) in check.hosts.iter().enumerate() {
            let title = if i == 0 { "hosts" } else { "" };
            let verdict = self.verdict(host.verdict, false);
            let cause = host.cause.map(|c| format!(" ({c})")).unwrap_or_default();
            let mta_sts = match &host.mta_sts {
                Some(c) if c.passed() => "MTA-STS ok",
                Some(_) => "MTA-STS fails",
                None => "",
            };
            let dane = match &host.dane {
                Dane::NoRecords => "no TLSA",
                Dane::Insecure => "TLSA unsigned",
                Dane::Bogus => "TLSA bogus",
                Dane::LookupFailed { .. } => "TLSA lookup failed",
                Dane::NoUsable => "TLSA unusable",
                Dane::Authenticated { .. } => "DANE ok",
                Dane::NoTls => "DANE: no TLS",
                Dane::Mismatch { .. } => "DANE mismatch",
                _ => "",
            };
            self.line(format!(
                "  {title:<12} {} {}  {verdict}{cause}  {mta_sts}  {dane}",
                host.preference,
                escape(&host.host)
            ));
            for reason in &host.reasons {
                self.line(format!("               {}", escape(reason)));
            }
        }
        if !check.record_findings.is_empty() {
            self.line("  record findings");
            for rf in &check.record_findings {
                self.line(format!(
                    "    {:<8} {} ({}): {}",
                    rf.level.as_str(),
                    rf.problem,
                    rf.rule,
                    escape(&rf.message)
                ));
            }
        }
        if self.options.verbose > 0 && !check.findings.is_empty() {
            self.line("  findings");
            for finding in &check.findings {
                self.finding(finding);
            }
        }
        let t = &check.timings;
        let fetch = t.policy_fetch.map(|d| format!(", policy fetch {:.1} ms", millis(d))).unwrap_or_default();
        self.line(format!(
            "  timings      DNS {:.1} ms{fetch}, MX probes {:.1} ms, total {:.1} ms",
            millis(t.dns),
            millis(t.mx_probes),
            millis(t.total)
        ));
        self.out
    }

    fn mx_header(mut self, mx: &MxReport) -> String {
        let verdict = self.verdict(mx.verdict, true);
        let domain = self.paint(BOLD, mx.domain.as_str());
        match mx.primary_finding() {
            None => self.line(format!("MX {domain}  {verdict}  all {} MX host(s) are up", mx.hosts.len())),
            Some(finding) => {
                let cause = finding.cause.map_or("unknown", |c| c.as_str());
                let phase = finding.phase.map(|p| format!(" ({p})")).unwrap_or_default();
                self.line(format!("MX {domain}  {verdict}  {cause}{phase}: {}", escape(&finding.message)));
            }
        }
        if mx.null_mx {
            self.line("  null MX      the domain accepts no mail (RFC 7505): nothing was probed");
        }
        if mx.implicit_mx {
            self.line("  implicit MX  no MX records: the domain's own address is probed (RFC 5321 §5.1)");
        }
        if mx.hosts.is_empty() && !mx.null_mx {
            self.line("  hosts        none");
        }
        let width = mx.hosts.iter().map(|h| h.host.len()).max().unwrap_or(0);
        let digits = mx.hosts.iter().map(|h| h.preference.to_string().len()).max().unwrap_or(0);
        for (i, host) in mx.hosts.iter().enumerate() {
            let title = if i == 0 { "hosts" } else { "" };
            let cause = host.cause.map(|c| format!(" ({c})")).unwrap_or_default();
            let verdict = self.verdict(host.verdict, false);
            let line = format!("  {title:<12} {:>digits$} {:<width$}  {verdict}{cause}", host.preference, host.host);
            self.line(line);
        }
        if self.options.verbose > 0 && !mx.findings.is_empty() {
            self.line("");
            self.line("  findings");
            for finding in &mx.findings {
                self.finding(finding);
            }
        }
        self.out
    }

    fn headline(&mut self, report: &Report) {
        let verdict = self.verdict(report.verdict, true);
        let target = self.paint(BOLD, &report.target);
        match report.primary_finding() {
            None => self.line(format!("{target}  {verdict}  in {}", ms(report.response_time))),
            Some(finding) => {
                let cause = finding.cause.map_or("unknown", |c| c.as_str());
                let phase = finding.phase.map(|p| format!(" ({p})")).unwrap_or_default();
                self.line(format!("{target}  {verdict}  {cause}{phase}: {}", escape(&finding.message)));
            }
        }
        if let Some(address) = &report.address {
            let how = if report.steps.is_empty() { "gave up connecting after" } else { "connected in" };
            let connect = report.connect.map(|d| format!(", {how} {}", ms(d))).unwrap_or_default();
            self.line(format!("  address      {address}{connect}"));
        }
        if let Some(token) = &report.message_token {
            self.line(format!("  test message accepted, token {token}"));
        }
    }

    fn phases(&mut self, report: &Report) {
        if report.steps.is_empty() && report.connect.is_none() && report.resolve.is_none() {
            return;
        }
        let verbose = self.options.verbose > 0;
        self.line("");
        let header =
            if verbose { "  phase             time  command / reply" } else { "  phase             time  reply" };
        self.line(self.paint(DIM, header));
        // What the adapter measured before the conversation (each step is shown below, with its reply).
        for (phase, time) in report.phase_durations() {
            if matches!(phase, Phase::Resolve | Phase::Connect) {
                self.line(format!("  {:<13} {:>9}", phase.as_str(), ms(time)));
            }
        }
        for step in &report.steps {
            let head = format!("  {:<13} {:>9}", step.phase.as_str(), ms(step.duration));
            let reply = match &step.reply {
                Some(reply) => first_line(reply, verbose),
                None if step.phase == Phase::TlsHandshake => String::new(),
                None => self.paint(DIM, "(no reply)"),
            };
            match (&step.command, verbose) {
                (Some(command), true) => {
                    self.line(format!("{head}  > {command}"));
                    self.line(format!("{:<25}  < {reply}", ""));
                }
                (None, true) if !reply.is_empty() => self.line(format!("{head}  < {reply}")),
                _ => self.line(format!("{head}  {reply}").trim_end()),
            }
            if verbose {
                for more in step.reply.iter().flat_map(|r| r.lines.iter().skip(1)) {
                    self.line(format!("{:<25}    {}", "", escape_bytes(more)));
                }
            }
        }
        let response = self.paint(DIM, &format!("(response time {})", ms(report.response_time)));
        self.line(format!("  {:<13} {:>9}  {response}", "total", ms(report.total)));
    }

    fn tls(&mut self, tls: &TlsInfo) {
        self.line("");
        let mut parts = vec![tls.version.clone().unwrap_or_else(|| "TLS".to_owned())];
        parts.extend(tls.cipher.clone());
        parts.push(match &tls.sni {
            Some(sni) => format!("SNI {sni}"),
            None => "no SNI".to_owned(),
        });
        parts.push(format!("handshake {}", ms(tls.handshake)));
        self.line(format!("  TLS          {}", parts.join(", ")));
        let name = tls.verified_name.as_deref().unwrap_or("the target");
        let verdict = match &tls.verify_error {
            None if tls.verified => self.paint(GREEN, &format!("verified for {name}")),
            None => self.paint(YELLOW, "not verified"),
            Some(problem) => self.paint(RED, &format!("NOT valid for {name}: {problem}")),
        };
        self.line(format!("  certificate  {verdict}"));
        if let Some(leaf) = tls.leaf() {
            self.certificate(leaf);
        }
        if let Some(earliest) = tls.chain_earliest_expiry().filter(|c| Some(*c) != tls.leaf()) {
            self.line(format!(
                "  chain        {} expires first: {} ({} days left)",
                escape(&earliest.subject),
                earliest.not_after,
                earliest.days_left
            ));
        }
        if self.options.verbose > 0 {
            for (i, cert) in tls.certificates.iter().enumerate().skip(1) {
                self.line(format!("  chain[{i}]     {} (issuer {})", escape(&cert.subject), escape(&cert.issuer)));
            }
        }
    }

    fn certificate(&mut self, leaf: &CertificateInfo) {
        self.line(format!("               {}", escape(&leaf.subject)));
        if !leaf.sans.is_empty() {
            let names: Vec<_> = leaf.sans.iter().map(|name| escape(name)).collect();
            self.line(format!("               names {}", names.join(", ")));
        }
        let days = match leaf.days_left {
            d if d < 0 => self.paint(RED, &format!("expired {} days ago", -d)),
            d => format!("{d} days left"),
        };
        self.line(format!("               valid {} to {} ({days})", leaf.not_before, leaf.not_after));
        if self.options.verbose > 0 {
            self.line(format!("               issuer {}", escape(&leaf.issuer)));
            self.line(format!("               key {}, signature {}", leaf.key_algorithm, leaf.signature_algorithm));
            self.line(format!("               serial {}", leaf.serial));
            self.line(format!("               sha256 {}", leaf.sha256));
        }
    }

    fn capabilities(&mut self, report: &Report) {
        let sets = [("before TLS", &report.capabilities), ("after TLS ", &report.capabilities_tls)];
        let mut title = "\n  capabilities";
        for (when, caps) in sets {
            let Some(caps) = caps else { continue };
            let lines: Vec<_> = caps.raw_lines.iter().map(|line| escape(line)).collect();
            let lines = if lines.is_empty() { "(none)".to_owned() } else { lines.join(", ") };
            self.line(format!("{title:<14} {when}: {lines}"));
            title = "";
        }
    }

    fn findings(&mut self, report: &Report) {
        if report.findings.is_empty() {
            return;
        }
        self.line("");
        self.line("  findings");
        for finding in &report.findings {
            self.finding(finding);
        }
    }

    fn finding(&mut self, finding: &Finding) {
        let (style, label) = match finding.severity {
            Severity::Info => (DIM, "info"),
            Severity::Warning => (YELLOW, "warning"),
            Severity::Critical => (RED, "critical"),
        };
        let label = self.paint(style, &format!("{label:<8}"));
        let cause = finding.cause.map(|c| format!("{c}: ")).unwrap_or_default();
        self.line(format!("    {label} {cause}{}", escape(&finding.message)));
        if let Some(text) = finding.server_text.as_deref().filter(|t| !finding.message.contains(t)) {
            self.line(format!("             server said: {}", escape(text)));
        }
    }

    fn transcript(&mut self, report: &Report) {
        self.line("");
        self.line("  transcript");
        self.transcript_lines(&report.transcript);
    }

    fn transcript_lines(&mut self, lines: &[TranscriptLine]) {
        for line in lines {
            let who = match line.direction {
                Direction::Client => "C:",
                Direction::Server => "S:",
                Direction::Event => "--",
            };
            self.line(format!("    {:>10.3} ms {who} {}", millis(line.at), escape(&line.text)));
        }
    }

    /// A round trip's story: verdict, mailbox, submission, acceptance, delivery, clean-up, hops, authentication,
    /// findings; `verbose` adds both sides in detail, `transcript` both conversations.
    fn roundtrip(mut self, r: &RoundTripReport) -> String {
        let verdict = self.verdict(r.verdict, true);
        let title =
            self.paint(BOLD, &format!("roundtrip {} → {}", escape(&r.submit_target), escape(&r.mailbox.target)));
        match r.primary_finding() {
            None => {
                let summary = r.summary();
                let rest = summary.split_once(": ").map_or(summary.as_str(), |(_, rest)| rest);
                self.line(format!("{title}  {verdict}  {}", escape(rest)));
            }
            Some(finding) => {
                let cause = finding.cause.map_or("unknown", |c| c.as_str());
                let phase = finding.phase.map(|p| format!(" ({p})")).unwrap_or_default();
                self.line(format!("{title}  {verdict}  {cause}{phase}: {}", escape(&finding.message)));
            }
        }
        self.line(format!("  token        {}", r.token));
        self.roundtrip_mailbox(r);
        self.roundtrip_submission(r);
        self.roundtrip_delivery(r);
        if let Some(cleanup) = r.mailbox.cleanup {
            self.line(format!("  cleanup      {}", cleanup.as_str()));
        }
        self.line(format!("  {:<13}{}", "total", ms(r.timings.total)));
        if let Some(delivery) = &r.delivery {
            if !delivery.hops.is_empty() {
                self.line("");
                for (i, hop) in delivery.hops.iter().enumerate() {
                    let title = if i == 0 { "hops" } else { "" };
                    let text = |part: &Option<String>| {
                        part.as_deref().map_or_else(|| "?".to_owned(), |t| escape(t).into_owned())
                    };
                    let mut line = format!("  {title:<12} {:>2}  {} → {}", i + 1, text(&hop.from), text(&hop.by));
                    if let Some(with) = &hop.with {
                        let _ = write!(line, "  {}", escape(with));
                    }
                    if let Some(id) = &hop.id {
                        let _ = write!(line, "  id {}", escape(id));
                    }
                    if let Some(delay) = hop.delay_secs {
                        let _ = write!(line, "  {delay:+} s");
                    }
                    self.line(line);
                }
            }
            if !delivery.authentication.is_empty() {
                if delivery.hops.is_empty() {
                    self.line("");
                }
                let mut servers: Vec<&str> = Vec::new();
                for result in &delivery.authentication {
                    if !servers.contains(&result.authserv_id.as_str()) {
                        servers.push(&result.authserv_id);
                    }
                }
                for (i, server) in servers.iter().enumerate() {
                    let title = if i == 0 { "auth results" } else { "" };
                    let results: Vec<String> = delivery
                        .authentication
                        .iter()
                        .filter(|a| a.authserv_id == *server)
                        .map(|a| {
                            let painted = match a.result.as_str() {
                                "pass" => self.paint(GREEN, &escape(&a.result)),
                                "fail" | "permerror" | "hardfail" => self.paint(RED, &escape(&a.result)),
                                _ => self.paint(YELLOW, &escape(&a.result)),
                            };
                            format!("{}={painted}", escape(&a.method))
                        })
                        .collect();
                    self.line(format!("  {title:<12} {}: {}", escape(server), results.join(" ")));
                }
            }
        }
        if !r.findings.is_empty() {
            self.line("");
            self.line("  findings");
            for finding in &r.findings {
                self.finding(finding);
            }
        }
        if self.options.verbose > 0 {
            if let Some(submit) = &r.submit {
                self.line("");
                self.line(self.paint(DIM, "  ── submission ──"));
                let block = Block { out: String::new(), options: &HumanOptions { transcript: false, ..*self.options } }
                    .render(submit);
                self.out.push_str(&block);
            }
            self.mailbox_detail(&r.mailbox);
        }
        if self.options.transcript {
            if let Some(submit) = r.submit.as_ref().filter(|s| !s.transcript.is_empty()) {
                self.line("");
                self.line(format!("  transcript   submission {}", escape(&submit.target)));
                self.transcript_lines(&submit.transcript);
            }
            if !r.mailbox.transcript.is_empty() {
                self.line("");
                self.line(format!("  transcript   mailbox {}", escape(&r.mailbox.target)));
                self.transcript_lines(&r.mailbox.transcript);
            }
        }
        self.out
    }

    /// `mailbox  logged in to <imap> in 20.2 ms, TLSv1.3, certificate verified for <name>`, or why not.
    fn roundtrip_mailbox(&mut self, r: &RoundTripReport) {
        let mailbox = &r.mailbox;
        let target = escape(&mailbox.target);
        let tls = mailbox.tls.as_ref().map(|tls| format!(", {}", self.tls_summary(tls))).unwrap_or_default();
        match r.timings.mailbox_ready {
            Some(ready) => self.line(format!("  mailbox      logged in to {target} in {}{tls}", ms(ready))),
            None => {
                let why = mailbox.cause.map_or("not ready", |c| c.as_str());
                self.line(format!("  mailbox      {target}: {why}{tls}"));
            }
        }
    }

    /// `submitted  <smtp> in 5.7 ms, TLSv1.3, …`, then `accepted  25.7 ms into the run, queued as …`.
    fn roundtrip_submission(&mut self, r: &RoundTripReport) {
        let Some(submit) = &r.submit else {
            self.line("  submitted    nothing: the mailbox was not ready, so no message was sent");
            return;
        };
        let took = r.timings.submit.map(|d| format!(" in {}", ms(d))).unwrap_or_default();
        let tls = submit.tls.as_ref().map(|tls| format!(", {}", self.tls_summary(tls))).unwrap_or_default();
        self.line(format!("  submitted    {}{took}{tls}", escape(&submit.target)));
        match r.timings.accepted {
            Some(accepted) => {
                let queued = match &submit.queue_id {
                    Some(id) => format!(", queued as {}", escape(id)),
                    None => ", no queue id in the reply".to_owned(),
                };
                self.line(format!("  accepted     {} into the run{queued}", ms(accepted)));
            }
            None => {
                let why = submit.cause.map_or("not accepted", |c| c.as_str());
                self.line(format!("  accepted     no: {why}"));
            }
        }
    }

    /// Where and when the message showed up, or how long it was looked for.
    fn roundtrip_delivery(&mut self, r: &RoundTripReport) {
        let t = &r.timings;
        let searches = r.mailbox.searches;
        let plural = if searches == 1 { "search" } else { "searches" };
        let missed = t.not_visible_after.map(|m| format!("not yet at {}; ", ms(m))).unwrap_or_default();
        match (&r.delivery, t.end_to_end) {
            (Some(delivery), Some(latency)) => {
                let folder = escape(&delivery.folder);
                let folder =
                    if delivery.junk { self.paint(YELLOW, &format!("{folder} (junk)")) } else { folder.into_owned() };
                self.line(format!(
                    "  delivered    to {folder}, visible {} after acceptance ({missed}{searches} {plural})",
                    ms(latency)
                ));
            }
            _ if t.accepted.is_some() && r.mailbox.mailbox_read() => {
                let waited = t.accepted.map(|a| t.total.saturating_sub(a)).unwrap_or_default();
                self.line(format!(
                    "  delivered    {}: {searches} {plural} over {} after acceptance",
                    self.paint(RED, "not found"),
                    ms(waited)
                ));
            }
            _ if t.accepted.is_some() => {
                self.line("  delivered    unknown: the mailbox could not be read to the end");
            }
            _ => {}
        }
    }

    /// `TLSv1.3, certificate verified for <name>`, or what was wrong with it.
    fn tls_summary(&self, tls: &TlsInfo) -> String {
        let version = escape(tls.version.as_deref().unwrap_or("TLS")).into_owned();
        let name = tls.verified_name.as_deref().map(escape).unwrap_or_else(|| "the server".into());
        let certificate = match &tls.verify_error {
            None if tls.verified => format!("certificate verified for {name}"),
            None => self.paint(YELLOW, "certificate not verified"),
            Some(problem) => {
                self.paint(RED, &format!("certificate NOT valid for {name}: {}", escape(&problem.to_string())))
            }
        };
        format!("{version}, {certificate}")
    }

    /// The mailbox side in detail: IMAP steps with their replies, TLS and capabilities.
    fn mailbox_detail(&mut self, mailbox: &MailboxReport) {
        self.line("");
        self.line(self.paint(DIM, "  ── mailbox ──"));
        let verdict = self.verdict(mailbox.verdict, false);
        self.line(format!("{}  {verdict}", self.paint(BOLD, &mailbox.target)));
        if let Some(address) = &mailbox.address {
            let connect = mailbox.connect.map(|d| format!(", connected in {}", ms(d))).unwrap_or_default();
            self.line(format!("  address      {}{connect}", escape(address)));
        }
        if let Some(greeting) = &mailbox.greeting {
            self.line(format!("  greeting     {}", escape(&truncate(greeting, MAX_REPLY_CHARS))));
        }
        if !mailbox.steps.is_empty() {
            self.line("");
            self.line(self.paint(DIM, "  phase                  time  command / reply"));
            for step in &mailbox.steps {
                let head = format!("  {:<18} {:>9}", step.phase.as_str(), ms(step.duration));
                let status = step.status.map(|s| s.as_str()).unwrap_or("");
                let text = step
                    .text
                    .as_deref()
                    .map(|t| escape(&truncate(t, MAX_REPLY_CHARS)).into_owned())
                    .unwrap_or_default();
                match &step.command {
                    Some(command) => {
                        self.line(format!("{head}  > {}", escape(command)));
                        self.line(format!("{:<30}  < {status} {text}", "").trim_end());
                    }
                    None if step.status.is_some() => self.line(format!("{head}  < {status} {text}").trim_end()),
                    None => self.line(head),
                }
            }
        }
        if let Some(tls) = &mailbox.tls {
            self.tls(tls);
        }
        if !mailbox.capabilities.is_empty() {
            let caps: Vec<_> = mailbox.capabilities.iter().map(|c| escape(c)).collect();
            self.line("");
            self.line(format!("  capabilities {}", caps.join(" ")));
        }
        self.line(format!(
            "  commands     {} ({} bytes sent, {} received)",
            mailbox.commands, mailbox.bytes_sent, mailbox.bytes_received
        ));
        if !mailbox.findings.is_empty() {
            self.line("");
            self.line("  findings");
            for finding in &mailbox.findings {
                self.finding(finding);
            }
        }
    }
}

/// `250 2.1.5 Ok`, with `(+N lines)` when the reply has more and they are not shown.
fn first_line(reply: &OwnedReply, verbose: bool) -> String {
    let text = reply.lines.first().map(|l| escape_bytes(l)).unwrap_or_default();
    let text = if verbose { text } else { truncate(&text, MAX_REPLY_CHARS).into_owned().into() };
    let more = reply.lines.len().saturating_sub(1);
    if more > 0 && !verbose {
        format!("{} {text} (+{more} lines)", reply.code)
    } else {
        format!("{} {text}", reply.code)
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
