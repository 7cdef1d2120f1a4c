//! Replays the committed fuzz seed corpus (`fuzz/corpus/<target>/`) on stable Rust, with the very checks the
//! cargo-fuzz targets run (`smtp_probe_proto::testing::fuzz`, one module per target): their inputs are
//! hand-decoded byte formats, so no fuzzing toolchain or extra dependency is needed.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use smtp_probe_proto::testing::fuzz::{
    dmarc, imap_parser, imap_session, mta_sts, policy_fetch, probe_session, reply_parser, reply_roundtrip, spf, tlsa,
    tlsrpt,
};
use smtp_probe_proto::testing::{Harness, expect, send};
use smtp_probe_proto::{Cause, Phase, ProbeConfig, ReplyLimits, TlsMode, Verdict};

/// Every file of one target's corpus, sorted by name.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{} holds only {} seeds", dir.display(), files.len());
    files
}

/// Runs `check` on every file, naming the file that fails.
fn replay(target: &str, mut check: impl FnMut(&[u8])) -> usize {
    let files = corpus(target);
    for (path, bytes) in &files {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(bytes)));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("{target} seed {} failed: {message}", path.display());
        }
    }
    files.len()
}

/// The simulated connection instant (the core itself never reads the clock).
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

#[test]
fn reply_parser_corpus() {
    replay("reply_parser", |bytes| {
        reply_parser::check(bytes);
    });
}

#[test]
fn reply_roundtrip_corpus() {
    replay("reply_roundtrip", reply_roundtrip::check);
}

#[test]
fn probe_session_corpus() {
    let mut verdicts = Vec::new();
    let mut causes = Vec::new();
    let start = start();
    replay("probe_session", |bytes| {
        let report = probe_session::check(bytes, start);
        verdicts.push(report.verdict);
        causes.push(report.cause);
    });
    // The seeds mean what they were made to mean: the decoder reaches the whole conversation and its failures.
    for verdict in [Verdict::Up, Verdict::Degraded, Verdict::Down] {
        assert!(verdicts.contains(&verdict), "no seed ends {verdict}");
    }
    for cause in [
        Cause::GreetingTimeout,
        Cause::NotSmtp,
        Cause::ProtocolViolation,
        Cause::StartTlsUnavailable,
        Cause::TlsHandshakeFailed,
        Cause::CertificateInvalid,
        Cause::CertificateExpiring,
        Cause::AuthUnavailable,
        Cause::AuthFailed,
        Cause::RecipientRejected,
        Cause::TemporaryFailure,
        Cause::SlowResponse,
    ] {
        assert!(causes.contains(&Some(cause)), "no seed ends with {cause}");
    }
}

/// The trust seeds end as they were made to: credentials withheld over TLS whose certificate did not verify,
/// sent when an override says so, a published policy counted by its mode, an echoed AUTH payload redacted.
#[test]
fn trust_seeds_end_as_made() {
    let start = start();
    let run = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/probe_session").join(name);
        probe_session::check(&fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())), start)
    };
    let auth_codes = |report: &smtp_probe_proto::Report| -> Vec<u16> {
        report
            .steps
            .iter()
            .filter(|s| s.phase == Phase::Auth)
            .filter_map(|s| s.reply.as_ref())
            .map(|r| r.code.get())
            .collect()
    };
    let withheld = run("auth-over-unverified-tls-withheld");
    assert_eq!((withheld.verdict, withheld.cause), (Verdict::Down, Some(Cause::CertificateInvalid)));
    assert!(withheld.primary_finding().unwrap().message.starts_with("credentials withheld: "));
    assert_eq!(auth_codes(&withheld), [] as [u16; 0]);
    for (name, verdict) in [
        ("auth-over-unverified-tls-inspect-only", Verdict::Degraded),
        ("auth-over-unverified-tls-plaintext-allowed", Verdict::Up),
    ] {
        let report = run(name);
        assert_eq!(report.verdict, verdict, "{name}: {:#?}", report.findings);
        assert_eq!(auth_codes(&report), [235], "{name}");
        assert!(report.findings.iter().any(|f| f.phase == Some(Phase::Auth)
            && f.message.starts_with("credentials sent over TLS whose certificate did not verify")));
    }
    assert_eq!(run("policy-satisfied-unverified-required").verdict, Verdict::Up);
    for (name, verdict) in [("policy-enforce-fails", Verdict::Down), ("policy-testing-fails", Verdict::Degraded)] {
        let report = run(name);
        assert_eq!((report.verdict, report.cause), (verdict, Some(Cause::CertificateInvalid)), "{name}");
        assert!(report.primary_finding().unwrap().message.starts_with("fuzz policy ("), "{name}");
    }
    let echoed = run("auth-payload-echoed");
    assert_eq!(echoed.cause, Some(Cause::AuthFailed));
    let server_text = echoed.primary_finding().unwrap().server_text.as_deref().unwrap();
    assert_eq!(server_text, "535 5.7.8 bad <redacted> 5.7.8 (<redacted>)");
}

#[test]
fn imap_parser_corpus() {
    let mut errors = Vec::new();
    replay("imap_parser", |bytes| {
        let run = imap_parser::check(bytes);
        errors.push(run.error.map(|e| std::mem::discriminant(&e)));
    });
    // The seeds reach every limit and the "not IMAP" recognition, and some parse cleanly.
    for (name, kind) in response_error_kinds() {
        assert!(errors.contains(&Some(kind)), "no imap_parser seed ends with {name}");
    }
    assert!(errors.contains(&None), "no imap_parser seed parses cleanly");
}

fn response_error_kinds() -> Vec<(&'static str, std::mem::Discriminant<smtp_probe_proto::imap::ResponseError>)> {
    use smtp_probe_proto::imap::ResponseError as E;
    vec![
        ("LineTooLong", std::mem::discriminant(&E::LineTooLong { limit: 0 })),
        ("LiteralTooLarge", std::mem::discriminant(&E::LiteralTooLarge { size: 0, limit: 0 })),
        ("TooManyUntagged", std::mem::discriminant(&E::TooManyUntagged { limit: 0 })),
        ("NotImap", std::mem::discriminant(&E::NotImap { preview: String::new(), hint: None })),
        ("Malformed", std::mem::discriminant(&E::Malformed { line: String::new(), why: "" })),
    ]
}

#[test]
fn imap_session_corpus() {
    let start = start();
    let mut causes = Vec::new();
    let mut found = 0;
    replay("imap_session", |bytes| {
        let report = imap_session::check(bytes, start);
        causes.push(report.cause);
        found += usize::from(report.message.is_some());
    });
    assert!(found >= 3, "seeds that find the message: {found}");
    for cause in
        [None, Some(Cause::MailboxAuthFailed), Some(Cause::MailboxUnavailable), Some(Cause::CertificateInvalid)]
    {
        assert!(causes.contains(&cause), "no imap_session seed ends with {cause:?}");
    }
}

#[test]
fn session_encoding_round_trips() {
    use probe_session::Action::*;
    let actions = vec![Send(vec![b'x'; 300]), Canned(3), CannedBareLf(200), Eof, Advance(4999), Advance(7), TlsOk(9)];
    let header = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    let session = probe_session::decode_session(&probe_session::encode_session(header, &actions));
    assert_eq!(session.header, header);
    let mut expected = actions;
    expected.splice(0..1, [Send(vec![b'x'; 255]), Send(vec![b'x'; 45])]);
    assert_eq!(session.actions, expected);
}

#[test]
fn base64_matches_rfc4616_example() {
    assert_eq!(probe_session::base64(b"\0tim\0tanstaaftanstaaf"), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
    assert_eq!(probe_session::base64(b""), "");
    assert_eq!(probe_session::base64(b"f"), "Zg==");
    assert_eq!(probe_session::base64(b"fo"), "Zm8=");
    assert_eq!(probe_session::base64(b"foo"), "Zm9v");
}

#[test]
fn every_decoder_accepts_short_inputs() {
    let start = start();
    for len in 0..=16 {
        let bytes = vec![0xa5; len];
        reply_parser::check(&bytes);
        reply_roundtrip::check(&bytes);
        let report = probe_session::check(&bytes, start);
        assert!(report.total <= Duration::from_secs(11));
        imap_parser::check(&bytes);
        let report = imap_session::check(&bytes, start);
        assert!(report.total <= Duration::from_secs(8));
    }
}

#[test]
fn unbounded_limits_parse_replies() {
    let limits = ReplyLimits { max_line_len: usize::MAX, max_lines: usize::MAX, max_buffered: usize::MAX };
    let replies = reply_parser::parse_all(b"220 mx ESMTP\r\n250-mx\r\n250 SIZE", limits).expect("parses");
    assert_eq!(replies.len(), 1);
}

/// Found by `reply_parser` (fixed in `reply.rs`): the same bytes cut into reads failed with another error than
/// the whole line. Inputs are `[chunking, limits1, limits2, stream...]`; chunking 1 is one byte per read.
#[test]
fn cut_lines_fail_like_whole_lines() {
    for input in [
        // "250\r" then more: MalformedLine whole, was LineTooLong byte by byte (line limit 8).
        &b"\x01\x1e\x04250\rxxxxxxxxxxxx\r\n"[..],
        // Line limit 0: InvalidCode whole, was LineTooLong after "60".
        b"\x01\x7e\x00600M",
        // NotSmtp whole, was InvalidCode after "6".
        b"\x01\x00\x006x\r\n",
        // usize::MAX line limit: an overflow panic on any partial line.
        b"\x03\x04\x00220 a\r\n250",
    ] {
        reply_parser::check(input);
    }
}

/// Found by `probe_session` (fixed in `probe.rs`): a command answered with a malformed reply was missing from the
/// report's steps, unlike one answered by a timeout or a close.
#[test]
fn a_command_answered_with_garbage_is_a_step() {
    let config = ProbeConfig::builder("mx.test".parse().unwrap()).tls(TlsMode::None).build().expect("valid");
    let script = vec![send("220 mx.test ESMTP\r\n"), expect("EHLO"), send("hello\r\n")];
    let report = Harness::new(config, start(), script).run();
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ProtocolViolation)));
    assert_eq!(report.steps.len(), 2, "{:?}", report.steps);
    assert_eq!(report.steps[1].command.as_deref(), Some("EHLO localhost"));
    assert_eq!(report.steps[1].reply, None);
}

// ---- the published-policy parsers --------------------------------------------------------------------------------

#[test]
fn mta_sts_corpus() {
    replay("mta_sts", mta_sts::check);
}

#[test]
fn tlsa_corpus() {
    use smtp_probe_proto::policy::tlsa::RecordOutcome;
    let mut outcomes = Vec::new();
    replay("tlsa", |bytes| outcomes.extend(tlsa::check(bytes)));
    // The seeds reach every outcome: DANE-EE and DANE-TA matches, and each way a record fails.
    let reached = |f: &dyn Fn(&RecordOutcome) -> bool| outcomes.iter().any(f);
    assert!(reached(&|o| matches!(o, RecordOutcome::Authenticated { certificate: 0 })));
    assert!(reached(&|o| matches!(o, RecordOutcome::Authenticated { certificate: 1 })));
    assert!(reached(&|o| matches!(o, RecordOutcome::NameMismatch { .. })));
    assert!(reached(&|o| matches!(o, RecordOutcome::ChainInvalid { .. })));
    assert!(reached(&|o| matches!(o, RecordOutcome::NoMatch)));
    assert!(reached(&|o| matches!(o, RecordOutcome::Unusable(_))));
}

#[test]
fn spf_corpus() {
    use smtp_probe_proto::policy::Problem;
    use smtp_probe_proto::policy::spf::SpfResult;
    let mut results = Vec::new();
    let mut problems = Vec::new();
    replay("spf", |bytes| {
        let report = spf::check(bytes);
        results.push(report.result);
        problems.extend(report.findings.iter().map(|f| f.problem));
    });
    for result in [
        SpfResult::None,
        SpfResult::Pass,
        SpfResult::Fail,
        SpfResult::SoftFail,
        SpfResult::TempError,
        SpfResult::PermError,
    ] {
        assert!(results.contains(&result), "no seed ends {result}");
    }
    for problem in [
        Problem::SpfTooManyLookups,
        Problem::SpfTooManyVoidLookups,
        Problem::SpfTooManyMxNames,
        Problem::SpfLoop,
        Problem::SpfMultiple,
        Problem::SpfInvalid,
        Problem::SpfIncludeNone,
        Problem::SpfLookupFailed,
        Problem::SpfUnexpandable,
        Problem::SpfWorkLimit,
        Problem::SpfPassAll,
        Problem::SpfPtrUsed,
    ] {
        assert!(problems.contains(&problem), "no seed finds {problem}");
    }
}

#[test]
fn dmarc_corpus() {
    replay("dmarc", dmarc::check);
}

#[test]
fn tlsrpt_corpus() {
    replay("tlsrpt", tlsrpt::check);
}

#[test]
fn policy_fetch_corpus() {
    replay("policy_fetch", |data| {
        policy_fetch::check(data, start());
    });
    // The seeds mean what their names say.
    let seed = |name: &str| std::fs::read(format!("{}/../fuzz/corpus/policy_fetch/{name}", env!("CARGO_MANIFEST_DIR")));
    for name in ["content_length", "chunked"] {
        let report = policy_fetch::check(&seed(name).unwrap(), start());
        assert!(report.outcome.is_ok(), "{name}: {:?}", report.outcome);
    }
    assert!(policy_fetch::check(&seed("redirect").unwrap(), start()).outcome.is_err());
}

#[test]
fn policy_decoders_accept_short_inputs() {
    for len in 0..=16 {
        for byte in [0x00, 0x0a, 0x3b, 0xa5, 0xff] {
            let bytes = vec![byte; len];
            mta_sts::check(&bytes);
            tlsa::check(&bytes);
            spf::check(&bytes);
            dmarc::check(&bytes);
            tlsrpt::check(&bytes);
            policy_fetch::check(&bytes, start());
        }
    }
}

#[test]
fn tlsa_inputs_round_trip() {
    let input = tlsa::TlsaInput {
        records: vec![vec![3, 1, 1, 9], vec![]],
        chain: vec![vec![0x30; 300], vec![1]],
        names: vec!["mx1.mail.test".into(), "mail.test".into()],
        now: 86_400 * 20_000,
    };
    assert_eq!(tlsa::decode_tlsa(&tlsa::encode_tlsa(&input)), input);
}
