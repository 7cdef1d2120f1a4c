//! `monitor` in-process against a loopback responder: one line per state change, none while nothing changes.

use std::time::Duration;

use clap::Parser;
use smtp_probe_examples::monitor::{Args, Monitor, watch};
use smtp_probe_testserver::Responder;

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8(out.to_vec()).unwrap().lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_line_when_a_server_goes_down() {
    let server = Responder::new().start().unwrap();
    let steady = Responder::new().hostname("steady.test").start().unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let args = Args::try_parse_from([
        "monitor",
        &target,
        &format!("127.0.0.1:{}", steady.port()),
        "--interval",
        "0.05",
        "--timeout",
        "3",
        "--ehlo-name",
        "probe.test",
    ])
    .unwrap();
    let (probes, _) = args.probes().unwrap();
    let mut monitor = Monitor::new();

    let mut out = Vec::new();
    monitor.round(&probes, &mut out).await.unwrap();
    let first = lines(&out);
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first[0].contains(&format!(" {target} unknown -> up: up: {target} answered in")), "{first:?}");
    assert!(first[0].ends_with(" | 220 mx.test ESMTP smtp-probe test server"), "the server's text: {first:?}");
    assert!(first[1].ends_with(" | 220 steady.test ESMTP smtp-probe test server"), "{first:?}");

    let mut out = Vec::new();
    monitor.round(&probes, &mut out).await.unwrap();
    assert!(out.is_empty(), "nothing changed, nothing printed: {:?}", lines(&out));

    tokio::task::spawn_blocking(move || server.shutdown()).await.unwrap();
    let mut out = Vec::new();
    for _ in 0..3 {
        monitor.round(&probes, &mut out).await.unwrap();
    }
    let changes = lines(&out);
    assert_eq!(changes.len(), 1, "exactly one transition line: {changes:?}");
    assert!(
        changes[0].contains(&format!(" {target} up -> down (connect_refused): down: connect_refused")),
        "{changes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_stop_the_loop() {
    let server = Responder::new().start().unwrap();
    let args = Args::try_parse_from([
        "monitor",
        &format!("127.0.0.1:{}", server.port()),
        "--interval",
        "0.05",
        "--rounds",
        "3",
    ])
    .unwrap();
    let (probes, _) = args.probes().unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), watch(&probes, args.interval, args.rounds, &mut out))
        .await
        .expect("three rounds end")
        .unwrap();
    assert_eq!(lines(&out).len(), 1, "{:?}", lines(&out));
    assert_eq!(server.connections(), 3);
}
