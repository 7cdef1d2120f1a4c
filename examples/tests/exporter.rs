//! `exporter` in-process against loopback SMTP servers, over real HTTP on loopback: `/probe` serves the CLI's
//! Prometheus metrics (checked by `promtool check metrics` when installed), `/metrics` the exporter's own
//! counters, bad requests are 400s; and each bound holds: a credentialed module refuses a target off its
//! allow-list without connecting to it, the probe past `--max-probes` gets a 503, the scrape timeout shortens the
//! probe, a client that drips its headers is cut off.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use smtp_probe_examples::common::HttpLimits;
use smtp_probe_examples::exporter::{CONTENT_TYPE, Exporter, Modules, builtin_modules, serve};
use smtp_probe_testserver::Responder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

async fn start() -> (SocketAddr, oneshot::Sender<()>) {
    let modules = builtin_modules(Duration::from_secs(3), Some("probe.test"), None).unwrap();
    start_with(modules, 8, HttpLimits::default()).await
}

/// Serves an exporter of these modules on loopback; returns its address and a stop switch.
async fn start_with(modules: Modules, max_probes: usize, limits: HttpLimits) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, Exporter::new(modules, max_probes), limits, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

fn promtool(text: &str) {
    if let Some(result) = support::promtool_check(text) {
        result.unwrap_or_else(|e| panic!("promtool check metrics: {e}\n{text}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_serves_the_cli_metrics() {
    let server = Responder::new().start().unwrap();
    let (addr, stop) = start().await;

    let target = format!("127.0.0.1:{}", server.port());
    let up = support::get(addr, &format!("/probe?target={target}&module=plain")).await;
    assert_eq!(up.status, 200, "{up:?}");
    assert_eq!(up.header("content-type"), Some(CONTENT_TYPE));
    assert!(up.body.contains("# TYPE smtp_probe_up gauge\n"), "{}", up.body);
    // The target label is host:port, as in the CLI's metrics.
    assert!(up.body.contains(&format!("smtp_probe_up{{target=\"{target}\"}} 1\n")), "{}", up.body);
    assert!(up.body.contains(&format!("smtp_probe_verdict{{target=\"{target}\",verdict=\"up\"}} 1\n")), "{}", up.body);
    promtool(&up.body);

    // The scrape timeout Prometheus announces is honoured (and a default module is used).
    let timed =
        support::get_with(addr, &format!("/probe?target={target}"), &[("X-Prometheus-Scrape-Timeout-Seconds", "2")])
            .await;
    assert_eq!(timed.status, 200);
    assert!(timed.body.contains(&format!("smtp_probe_up{{target=\"{target}\"}} 1\n")), "{}", timed.body);

    tokio::task::spawn_blocking(move || server.shutdown()).await.unwrap();
    let down = support::get(addr, &format!("/probe?target={target}&module=plain")).await;
    assert_eq!(down.status, 200, "a down target is a successful scrape");
    assert!(down.body.contains(&format!("smtp_probe_up{{target=\"{target}\"}} 0\n")), "{}", down.body);
    assert!(
        down.body.contains(&format!("smtp_probe_cause{{target=\"{target}\",cause=\"connect_refused\"}} 1\n")),
        "{}",
        down.body
    );
    promtool(&down.body);

    assert_eq!(support::get(addr, "/probe?module=plain").await.status, 400);
    let unknown = support::get(addr, &format!("/probe?target={target}&module=nope")).await;
    assert_eq!((unknown.status, unknown.body.as_str()), (400, "unknown module \"nope\"\n"));
    assert_eq!(support::get(addr, "/probe?target=bad%20host").await.status, 400);

    let own = support::get(addr, "/metrics").await;
    assert_eq!(own.status, 200);
    assert!(own.body.contains("smtp_probe_exporter_probes_total{module=\"plain\",verdict=\"up\"} 1\n"), "{}", own.body);
    assert!(
        own.body.contains("smtp_probe_exporter_probes_total{module=\"plain\",verdict=\"down\"} 1\n"),
        "{}",
        own.body
    );
    assert!(own.body.contains("smtp_probe_exporter_probes_total{module=\"smtp\",verdict=\"up\"} 1\n"), "{}", own.body);
    assert!(own.body.contains("smtp_probe_exporter_bad_requests_total 3\n"), "{}", own.body);
    promtool(&own.body);
    let _ = stop.send(());
}
