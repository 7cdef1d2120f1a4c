//! Reply parser and probe core benchmarks.
//!
//! * `stream_10k_mixed`: the shared 10,000-reply corpus through smtp-probe, smtp-proto and lettre, per reply.
//! * `single_reply`: one reply at a time (greeting, two EHLO replies, an enhanced-code error).
//! * `probe_in_memory`: a whole plain probe (greeting, EHLO, QUIT) driven in memory, transcript on and off.
//!
//! `cargo bench --bench reply_parser -- stream_10k_mixed` reproduces the parser comparison.

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lettre::transport::smtp::response::Response as LettreResponse;
use smtp_probe_benches::{
    CORPUS_REPLIES, READ_CHUNK, SINGLE_REPLIES, lettre_whole, load_corpus, plain_probe_config, run_plain_probe,
    smtp_probe_stream, smtp_proto_stream,
};
use smtp_probe_proto::Verdict;
use smtp_probe_proto::reply::ReplyParser;
use smtp_proto::response::parser::ResponseReceiver;

fn stream_10k_mixed(c: &mut Criterion) {
    let corpus = load_corpus();
    let text = std::str::from_utf8(&corpus).expect("the corpus is ASCII");

    // Each parser must read the corpus right before it is timed.
    let mut parser = ReplyParser::default();
    smtp_probe_stream(&mut parser, &corpus, READ_CHUNK).assert_corpus("smtp-probe");
    let mut receiver = ResponseReceiver::default();
    smtp_proto_stream(&mut receiver, &corpus, READ_CHUNK).assert_corpus("smtp-proto");
    lettre_whole(text).assert_corpus("lettre");

    let mut group = c.benchmark_group("stream_10k_mixed");
    group.throughput(Throughput::Elements(CORPUS_REPLIES));
    group.bench_function("smtp-probe", |b| {
        b.iter(|| black_box(smtp_probe_stream(&mut parser, black_box(&corpus), READ_CHUNK)))
    });
    group.bench_function("smtp-proto", |b| {
        b.iter(|| black_box(smtp_proto_stream(&mut receiver, black_box(&corpus), READ_CHUNK)))
    });
    group.bench_function("lettre", |b| b.iter(|| black_box(lettre_whole(black_box(text)))));
    group.finish();
}

/// smtp-probe: parse one reply, take its code and its enhanced code.
fn smtp_probe_single(parser: &mut ReplyParser, bytes: &[u8]) -> (u16, Option<(u8, u16, u16)>) {
    parser.feed(bytes).expect("feed");
    let reply = parser.next_reply().expect("valid reply").expect("complete reply");
    (reply.code().get(), reply.enhanced_code().map(|e| (e.class, e.subject, e.detail)))
}

/// smtp-proto: parse one reply; its response carries the enhanced code already.
fn smtp_proto_single(receiver: &mut ResponseReceiver, bytes: &[u8]) -> (u16, [u8; 3]) {
    let response = receiver.parse(&mut bytes.iter()).expect("valid reply");
    receiver.reset();
    (response.code, response.esc)
}

/// lettre: parse one reply and take its code (lettre does not parse enhanced codes).
fn lettre_single(text: &str) -> u16 {
    u16::from(LettreResponse::from_str(text).expect("valid reply").code())
}

fn single_reply(c: &mut Criterion) {
    let mut group = c.benchmark_group("single_reply");
    group.throughput(Throughput::Elements(1));
    for (name, bytes) in SINGLE_REPLIES {
        let text = std::str::from_utf8(bytes).expect("ASCII sample");
        let mut parser = ReplyParser::default();
        let mut receiver = ResponseReceiver::default();
        let expected = smtp_probe_single(&mut parser, bytes);
        assert_eq!(smtp_proto_single(&mut receiver, bytes).0, expected.0);
        assert_eq!(lettre_single(text), expected.0);
        if name == "error_enhanced" {
            assert_eq!(expected.1, Some((5, 1, 1)));
            assert_eq!(smtp_proto_single(&mut receiver, bytes).1, [5, 1, 1]);
        }

        group.bench_function(BenchmarkId::new("smtp-probe", name), |b| {
            b.iter(|| black_box(smtp_probe_single(&mut parser, black_box(bytes))))
        });
        group.bench_function(BenchmarkId::new("smtp-proto", name), |b| {
            b.iter(|| black_box(smtp_proto_single(&mut receiver, black_box(bytes))))
        });
        group
            .bench_function(BenchmarkId::new("lettre", name), |b| b.iter(|| black_box(lettre_single(black_box(text)))));
    }
    group.finish();
}

fn probe_in_memory(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("probe_in_memory");
    group.throughput(Throughput::Elements(1));
    for (name, transcript) in [("plain_transcript_on", true), ("plain_transcript_off", false)] {
        let config = plain_probe_config(transcript);
        let report = run_plain_probe(&config, now);
        assert_eq!(report.verdict, Verdict::Up, "{report:?}");
        assert_eq!(report.steps.len(), 3, "greeting, EHLO, QUIT");
        assert_eq!(report.transcript.is_empty(), !transcript);
        group.bench_function(name, |b| b.iter(|| black_box(run_plain_probe(black_box(&config), now))));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(5));
    targets = stream_10k_mixed, single_reply, probe_in_memory
}
criterion_main!(benches);
