//! Zero-allocation proof for smtp-probe's reply parser on the shared corpus, with the allocations per reply of
//! smtp-proto and lettre on the same bytes for comparison (printed, not asserted; run with `--nocapture`).

use smtp_probe_benches::{
    AllocStats, CORPUS_REPLIES, CountingAllocator, READ_CHUNK, lettre_whole, load_corpus, plain_probe_config,
    run_plain_probe, smtp_probe_stream, smtp_proto_stream,
};
use smtp_probe_proto::reply::ReplyParser;
use smtp_proto::response::parser::ResponseReceiver;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

fn per_reply(stats: AllocStats) -> f64 {
    stats.allocations as f64 / CORPUS_REPLIES as f64
}

#[test]
fn counting_allocator_counts() {
    let (stats, v) = AllocStats::during(|| vec![0u8; 100]);
    drop(v);
    assert_eq!(stats.allocations, 1);
    assert_eq!(stats.bytes, 100);
}

#[test]
fn smtp_probe_parses_the_corpus_without_allocating() {
    let corpus = load_corpus();
    let mut parser = ReplyParser::default();

    // Warm-up: the receive buffer grows to its working size here, and only here.
    let (warm_up, tally) = AllocStats::during(|| smtp_probe_stream(&mut parser, &corpus, READ_CHUNK));
    tally.assert_corpus("smtp-probe (warm-up)");
    let capacity = parser.buffer_capacity();

    // Measured pass: the same parser, the same 16 KiB feeds, every reply drained after each feed.
    let (measured, tally) = AllocStats::during(|| smtp_probe_stream(&mut parser, &corpus, READ_CHUNK));
    tally.assert_corpus("smtp-probe");
    println!(
        "smtp-probe: warm-up {} allocations ({} bytes, buffer capacity {capacity} B); measured pass {} allocations \
         for {} replies = {:.3} per reply",
        warm_up.allocations,
        warm_up.bytes,
        measured.allocations,
        tally.replies,
        per_reply(measured)
    );
    assert_eq!(measured.allocations, 0, "smtp-probe allocated while parsing the corpus after warm-up");
    assert_eq!(parser.buffer_capacity(), capacity, "the buffer must not grow after warm-up");
}

#[test]
fn baselines_allocations_per_reply() {
    let corpus = load_corpus();
    let text = std::str::from_utf8(&corpus).expect("the corpus is ASCII");

    let mut receiver = ResponseReceiver::default();
    smtp_proto_stream(&mut receiver, &corpus, READ_CHUNK).assert_corpus("smtp-proto (warm-up)");
    let (proto, tally) = AllocStats::during(|| smtp_proto_stream(&mut receiver, &corpus, READ_CHUNK));
    tally.assert_corpus("smtp-proto");
    println!(
        "smtp-proto: {} allocations for {} replies = {:.2} per reply ({:.0} bytes per reply)",
        proto.allocations,
        tally.replies,
        per_reply(proto),
        proto.bytes as f64 / CORPUS_REPLIES as f64
    );

    lettre_whole(text).assert_corpus("lettre (warm-up)");
    let (lettre, tally) = AllocStats::during(|| lettre_whole(text));
    tally.assert_corpus("lettre");
    println!(
        "lettre: {} allocations for {} replies = {:.2} per reply ({:.0} bytes per reply)",
        lettre.allocations,
        tally.replies,
        per_reply(lettre),
        lettre.bytes as f64 / CORPUS_REPLIES as f64
    );
}

#[test]
fn in_memory_probe_allocations() {
    for transcript in [true, false] {
        let config = plain_probe_config(transcript);
        let now = std::time::Instant::now();
        run_plain_probe(&config, now);
        let (stats, report) = AllocStats::during(|| run_plain_probe(&config, now));
        assert_eq!(report.steps.len(), 3);
        println!(
            "plain probe in memory, transcript {}: {} allocations ({} bytes) per probe",
            if transcript { "on" } else { "off" },
            stats.allocations,
            stats.bytes
        );
    }
}
