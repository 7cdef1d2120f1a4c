//! Output for people: the verdict and its cause first, then the phases with timings and replies, TLS and the
//! certificate, capabilities before and after TLS, and the findings. `-v` adds commands, every reply line and
//! certificate details; `--transcript` adds the conversation. Colour only when [`Options::color`] says so.

use std::fmt::Write as _;
use std::time::Duration;

use smtp_probe_tokio::proto::{CertificateInfo, OwnedReply, Phase, Severity, TlsInfo};
use smtp_probe_tokio::{Report, Verdict};

use super::{Options, millis};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";

/// Every report, one block each, with a tally at the end when there are several.
pub fn render(reports: &[Report], options: &Options) -> String {
    let blocks: Vec<String> = reports.iter().map(|r| Block { out: String::new(), options }.render(r)).collect();
    let mut out = blocks.join("\n");
    if reports.len() > 1 {
        let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
        let _ = writeln!(
            out,
            "\n{} targets: {} up, {} degraded, {} down",
            reports.len(),
            count(Verdict::Up),
            count(Verdict::Degraded),
            count(Verdict::Down)
        );
    }
    out
}

struct Block<'a> {
    out: String,
    options: &'a Options,
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

    fn headline(&mut self, report: &Report) {
        let (color, word) = match report.verdict {
            Verdict::Up => (GREEN, "UP"),
            Verdict::Degraded => (YELLOW, "DEGRADED"),
            Verdict::Down => (RED, "DOWN"),
        };
        let verdict = self.paint(&format!("{BOLD}{color}"), word);
        let target = self.paint(BOLD, &report.target);
        match report.primary_finding() {
            None => self.line(format!("{target}  {verdict}  in {}", ms(report.response_time))),
            Some(finding) => {
                let cause = finding.cause.map_or("unknown", |c| c.as_str());
                let phase = finding.phase.map(|p| format!(" ({p})")).unwrap_or_default();
                self.line(format!("{target}  {verdict}  {cause}{phase}: {}", finding.message));
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
        if report.steps.is_empty() && report.connect.is_none() {
            return;
        }
        let verbose = self.options.verbose > 0;
        self.line("");
        let header =
            if verbose { "  phase             time  command / reply" } else { "  phase             time  reply" };
        self.line(self.paint(DIM, header));
        if let Some(connect) = report.connect.filter(|_| !report.steps.iter().any(|s| s.phase == Phase::Connect)) {
            self.line(format!("  {:<13} {:>9}", "connect", ms(connect)));
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
                    self.line(format!("{:<25}    {}", "", String::from_utf8_lossy(more)));
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
                earliest.subject, earliest.not_after, earliest.days_left
            ));
        }
        if self.options.verbose > 0 {
            for (i, cert) in tls.certificates.iter().enumerate().skip(1) {
                self.line(format!("  chain[{i}]     {} (issuer {})", cert.subject, cert.issuer));
            }
        }
    }

    fn certificate(&mut self, leaf: &CertificateInfo) {
        self.line(format!("               {}", leaf.subject));
        if !leaf.sans.is_empty() {
            self.line(format!("               names {}", leaf.sans.join(", ")));
        }
        let days = match leaf.days_left {
            d if d < 0 => self.paint(RED, &format!("expired {} days ago", -d)),
            d => format!("{d} days left"),
        };
        self.line(format!("               valid {} to {} ({days})", leaf.not_before, leaf.not_after));
        if self.options.verbose > 0 {
            self.line(format!("               issuer {}", leaf.issuer));
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
            let lines = if caps.raw_lines.is_empty() { "(none)".to_owned() } else { caps.raw_lines.join(", ") };
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
            let (style, label) = match finding.severity {
                Severity::Info => (DIM, "info"),
                Severity::Warning => (YELLOW, "warning"),
                Severity::Critical => (RED, "critical"),
            };
            let label = self.paint(style, &format!("{label:<8}"));
            let cause = finding.cause.map(|c| format!("{c}: ")).unwrap_or_default();
            self.line(format!("    {label} {cause}{}", finding.message));
            if let Some(text) = finding.server_text.as_deref().filter(|t| !finding.message.contains(t)) {
                self.line(format!("             server said: {text}"));
            }
        }
    }

    fn transcript(&mut self, report: &Report) {
        self.line("");
        self.line("  transcript");
        for line in &report.transcript {
            let who = match line.direction {
                smtp_probe_tokio::proto::Direction::Client => "C:",
                smtp_probe_tokio::proto::Direction::Server => "S:",
                smtp_probe_tokio::proto::Direction::Event => "--",
            };
            self.line(format!("    {:>10.3} ms {who} {}", millis(line.at), line.text));
        }
    }
}

/// `250 2.1.5 Ok`, with `(+N lines)` when the reply has more and they are not shown.
fn first_line(reply: &OwnedReply, verbose: bool) -> String {
    let text = reply.lines.first().map(|l| String::from_utf8_lossy(l).into_owned()).unwrap_or_default();
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
