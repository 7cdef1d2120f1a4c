//! What is particular to the tokio adapter: names, timings, streams connected by the caller, and the cached probe
//! for readiness endpoints.

use std::time::{Duration, SystemTime};

use smtp_probe_testserver::{Responder, Script};
use smtp_probe_tokio::proto::Phase;
use smtp_probe_tokio::{AddressFamily, CachedProbe, Cause, ProbeConfig, Target, TlsMode, Verdict};

fn plain(target: Target) -> ProbeConfig {
    ProbeConfig::builder(target).tls(TlsMode::None).build().unwrap()
}

#[tokio::test]
async fn a_name_is_resolved_and_timed_an_address_is_not() {
    // "localhost" comes from /etc/hosts: no DNS server involved.
    let server = Responder::new().start().unwrap();
    let config = ProbeConfig::builder(Target::new("localhost", server.port()).unwrap())
        .tls(TlsMode::None)
        .address_family(AddressFamily::Ipv4Only)
        .build()
        .unwrap();
    let before = SystemTime::now();
    let report = smtp_probe_tokio::probe(&config).await;
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.target, format!("localhost:{}", server.port()));
    assert!(report.started_at >= before && report.started_at <= SystemTime::now(), "started before the lookup");
    let phases: Vec<Phase> = report.phase_durations().into_iter().map(|(phase, _)| phase).collect();
    assert_eq!(phases, [Phase::Resolve, Phase::Connect, Phase::Greeting, Phase::Ehlo, Phase::Quit]);

    let report = smtp_probe_tokio::probe(&plain(Target::new("127.0.0.1", server.port()).unwrap())).await;
    assert_eq!((report.resolve, report.phase_durations()[0].0), (None, Phase::Connect));
}

#[tokio::test]
async fn probe_stream_names_the_peer() {
    let server = Responder::new().start().unwrap();
    let stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let config = plain(Target::new("127.0.0.1", server.port()).unwrap());
    let report = smtp_probe_tokio::probe_stream(stream, &config).await;
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.address, Some(server.addr().to_string()));
}

#[tokio::test]
async fn the_cache_serves_the_last_report_with_its_age() {
    let server = Responder::new().start().unwrap();
    let cache = CachedProbe::spawn(plain(Target::new("127.0.0.1", server.port()).unwrap()), Duration::from_secs(60));
    let first = cache.wait_for_report().await;
    assert_eq!(first.report().verdict, Verdict::Up, "{}", first.report().summary());
    let later = cache.latest().expect("the first report is kept");
    assert_eq!(later.finished(), first.finished(), "no new probe before the interval");
    assert!(later.age() >= first.age_at(first.finished()));
    assert_eq!(server.connections(), 1);
}

// Multi-threaded: the test blocks on the server's counters while the prober runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_waits_for_a_probe_under_way() {
    // A server that never greets: each probe lasts its whole 2 s overall timeout.
    let server = Script::new().hang().start().unwrap();
    let config = ProbeConfig::builder(Target::new("127.0.0.1", server.port()).unwrap())
        .tls(TlsMode::None)
        .overall_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let cache = CachedProbe::spawn(config, Duration::from_millis(100));
    assert!(cache.latest().is_none(), "nothing yet, and no waiting for the probe under way");
    let first = cache.wait_for_report().await;
    assert_eq!(first.report().cause, Some(Cause::GreetingTimeout));
    // The next probe is under way now: readers still get the last report at once.
    assert!(server.wait_for_connections(2, Duration::from_secs(5)));
    assert_eq!(cache.latest().map(|c| c.finished()), Some(first.finished()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_cache_stops_the_prober() {
    let server = Responder::new().start().unwrap();
    let cache = CachedProbe::spawn(plain(Target::new("127.0.0.1", server.port()).unwrap()), Duration::from_millis(50));
    let copy = cache.clone();
    cache.wait_for_report().await;
    drop(cache);
    // A clone keeps it going.
    assert!(server.wait_for_connections(3, Duration::from_secs(5)), "{} probes", server.connections());
    drop(copy);
    tokio::time::sleep(Duration::from_millis(100)).await; // a probe under way is abandoned
    let stopped_at = server.connections();
    tokio::time::sleep(Duration::from_millis(300)).await; // six intervals
    assert_eq!(server.connections(), stopped_at, "no probe after the last handle was dropped");
}
