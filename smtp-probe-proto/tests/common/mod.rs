//! Helpers shared by the behavioural tests: configurations, golden transcripts, runs under every feed.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

#[allow(unused_imports)] // each test file uses its own subset
pub use smtp_probe_proto::testing::wall_start;
use smtp_probe_proto::testing::{Feed, Harness, Script, ServerStep};
use smtp_probe_proto::{
    Cause, Direction, Finding, Phase, ProbeConfig, ProbeConfigBuilder, Report, Secret, Severity, TlsInfo, TlsMode,
};

pub const TARGET: &str = "mx.example.com";
pub const EHLO_NAME: &str = "probe.example.org";
pub const USER: &str = "probe@example.org";
pub const PASSWORD: &str = "s3cr3t-Pa55";
/// base64("\0probe@example.org\0s3cr3t-Pa55"), the AUTH PLAIN initial response.
pub const PLAIN_RESPONSE: &str = "AHByb2JlQGV4YW1wbGUub3JnAHMzY3IzdC1QYTU1";
/// base64("probe@example.org"), the AUTH LOGIN user name.
pub const LOGIN_USER: &str = "cHJvYmVAZXhhbXBsZS5vcmc=";
/// base64("s3cr3t-Pa55"), the AUTH LOGIN password.
pub const LOGIN_PASSWORD: &str = "czNjcjN0LVBhNTU=";

/// The connection instant of a test: the one clock read a test makes. Everything after it is simulated.
#[allow(clippy::disallowed_methods)]
pub fn start() -> Instant {
    Instant::now()
}

pub fn builder(mode: TlsMode) -> ProbeConfigBuilder {
    ProbeConfig::builder(TARGET.parse().unwrap()).tls(mode).ehlo_name(EHLO_NAME)
}

pub fn with_auth(b: ProbeConfigBuilder) -> ProbeConfigBuilder {
    b.auth(USER, Secret::new(PASSWORD))
}

pub fn tls13() -> TlsInfo {
    TlsInfo {
        version: Some("TLSv1.3".into()),
        cipher: Some("TLS13_AES_256_GCM_SHA384".into()),
        verified: true,
        ..Default::default()
    }
}

/// A server line with its CRLF, as one write.
pub fn line(text: &str) -> ServerStep {
    ServerStep::Send(format!("{text}\r\n").into_bytes())
}

/// Several server lines in one write.
pub fn lines(texts: &[&str]) -> ServerStep {
    ServerStep::Send(texts.iter().flat_map(|t| format!("{t}\r\n").into_bytes()).collect())
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A golden transcript: the server script and the client lines the server expects, in order.
#[derive(Debug, Clone)]
pub struct Golden {
    pub script: Script,
    pub client: Vec<String>,
}

/// Loads `tests/golden/<name>.txt`. `S: ` server line (consecutive ones are one write), `C: ` client line,
/// `D: <ms>` a pause, `TLS: <version>` a successful handshake, `#` a comment.
pub fn golden(name: &str) -> Golden {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", &format!("{name}.txt")].iter().collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut script = Script::new();
    let mut client = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for raw in text.lines() {
        if raw.starts_with('#') || raw.trim().is_empty() {
            continue;
        }
        if let Some(server) = raw.strip_prefix("S: ") {
            pending.extend_from_slice(server.as_bytes());
            pending.extend_from_slice(b"\r\n");
            continue;
        }
        if !pending.is_empty() {
            script.push(ServerStep::Send(std::mem::take(&mut pending)));
        }
        if let Some(c) = raw.strip_prefix("C: ") {
            script.push(ServerStep::Expect(c.to_owned()));
            client.push(c.to_owned());
        } else if let Some(d) = raw.strip_prefix("D: ") {
            script.push(ServerStep::Delay(ms(d.parse().expect("D: takes milliseconds"))));
        } else if let Some(v) = raw.strip_prefix("TLS: ") {
            script.push(ServerStep::TlsEstablished(TlsInfo { version: Some(v.to_owned()), ..tls13() }));
        } else {
            panic!("{}: cannot read {raw:?}", path.display());
        }
    }
    if !pending.is_empty() {
        script.push(ServerStep::Send(pending));
    }
    Golden { script, client }
}

/// Every byte the script's server sends.
pub fn server_bytes(script: &[ServerStep]) -> usize {
    script.iter().map(|s| if let ServerStep::Send(b) = s { b.len() } else { 0 }).sum()
}

/// Runs a script to its report.
pub fn run(config: &ProbeConfig, start: Instant, script: &[ServerStep], feed: Feed) -> (Report, Harness) {
    let mut harness = Harness::new(config.clone(), start, script.to_vec()).with_feed(feed);
    let report = harness.run();
    (report, harness)
}

/// Runs a script fed whole, and checks the server saw the commands it expected.
pub fn run_whole(config: &ProbeConfig, start: Instant, script: &[ServerStep]) -> (Report, Harness) {
    let (report, harness) = run(config, start, script, Feed::Whole);
    assert_eq!(harness.mismatches(), &[] as &[String], "the probe sent something the server did not expect");
    (report, harness)
}

/// Runs the script fed whole, cut at every byte offset, and in chunks of 1 to 64 bytes: the report, the client's
/// lines and the simulated time must be the same every time. Returns the whole-feed run.
pub fn assert_split_invariant(config: &ProbeConfig, start: Instant, script: &[ServerStep]) -> (Report, Harness) {
    let (whole, harness) = run_whole(config, start, script);
    let total = server_bytes(script);
    let feeds = (1..=total).map(Feed::SplitAt).chain((1..=64).map(Feed::Chunks));
    for feed in feeds {
        let (report, other) = run(config, start, script, feed);
        assert_eq!(report, whole, "{feed:?} changed the report");
        assert_eq!(other.client_lines(), harness.client_lines(), "{feed:?} changed what the client sent");
        assert_eq!(other.elapsed(), harness.elapsed(), "{feed:?} changed the timing");
        assert_eq!(other.mismatches(), &[] as &[String], "{feed:?}");
    }
    (whole, harness)
}

pub fn phases(report: &Report) -> Vec<Phase> {
    report.steps.iter().map(|s| s.phase).collect()
}

/// The step of this phase (the last one, if several).
pub fn step(report: &Report, phase: Phase) -> &smtp_probe_proto::Step {
    report.steps.iter().rev().find(|s| s.phase == phase).unwrap_or_else(|| panic!("no {phase} step in {report:#?}"))
}

/// The finding carrying this cause.
pub fn finding(report: &Report, cause: Cause) -> &Finding {
    report
        .findings
        .iter()
        .find(|f| f.cause == Some(cause))
        .unwrap_or_else(|| panic!("no {cause} finding in {report:#?}"))
}

pub fn infos(report: &Report) -> Vec<&Finding> {
    report.findings.iter().filter(|f| f.severity == Severity::Info).collect()
}

/// The instant (since connecting) of the first transcript line the client sent starting with `prefix`.
pub fn client_sent_at(report: &Report, prefix: &str) -> Duration {
    report
        .transcript
        .iter()
        .find(|l| l.direction == Direction::Client && l.text.starts_with(prefix))
        .unwrap_or_else(|| panic!("the client never sent {prefix:?}"))
        .at
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The standard tail of a script: the client says QUIT, the server says goodbye.
pub fn quit() -> [ServerStep; 2] {
    [ServerStep::Expect("QUIT".into()), line("221 2.0.0 Bye")]
}
