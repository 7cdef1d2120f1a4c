//! `exporter` in-process against loopback SMTP servers, over real HTTP on loopback: `/probe` serves the CLI's
//! Prometheus metrics (checked by `promtool check metrics` when installed), `/metrics` the exporter's own
//! counters, bad requests are 400s; and each bound holds: a credentialed module refuses a target off its
//! allow-list without connecting to it, a loopback target is denied unless the module allows its range, the probe
//! past `--max-probes` gets a 503, the scrape timeout shortens the probe, a client that drips its headers is cut off.
//! The test servers are on loopback, which a request's target may not reach by default: the modules here allow
//! `127.0.0.0/8` explicitly.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use smtp_probe_examples::common::HttpLimits;
use smtp_probe_examples::exporter::{CONTENT_TYPE, Exporter, Modules, builtin_modules, serve};
use smtp_probe_testserver::{Responder, Script};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The ranges the test modules may reach: the loopback test servers.
fn loopback() -> Vec<String> {
    vec!["127.0.0.0/8".to_owned()]
}

async fn start() -> (SocketAddr, oneshot::Sender<()>) {
    let modules = builtin_modules(Duration::from_secs(3), Some("probe.test"), None, &loopback()).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requested_loopback_target_is_denied_unless_allowed() {
    let server = Responder::new().start().unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let builtin = builtin_modules(Duration::from_secs(3), Some("probe.test"), None, &[]).unwrap();
    let (addr, stop) = start_with(builtin, 4, HttpLimits::default()).await;
    let denied = support::get(addr, &format!("/probe?target={target}&module=plain")).await;
    assert_eq!(denied.status, 200, "a denied target is a verdict, not a bad request");
    assert!(denied.body.contains(&format!("smtp_probe_up{{target=\"{target}\"}} 0\n")), "{}", denied.body);
    assert!(
        denied.body.contains(&format!("smtp_probe_cause{{target=\"{target}\",cause=\"address_denied\"}} 1\n")),
        "{}",
        denied.body
    );
    let _ = stop.send(());
    assert_eq!(server.connections(), 0, "a denied address is never contacted");

    let allowed = modules("[modules.local]\ntls = \"none\"\nallow_addresses = [\"127.0.0.1\"]\n");
    let (addr, stop) = start_with(allowed, 4, HttpLimits::default()).await;
    let up = support::get(addr, &format!("/probe?target={target}&module=local")).await;
    assert!(up.body.contains(&format!("smtp_probe_up{{target=\"{target}\"}} 1\n")), "{}", up.body);
    let _ = stop.send(());
    assert_eq!(server.connections(), 1);
}

/// Modules from a config file's text (its passwords from the environment).
fn modules(toml: &str) -> Modules {
    let file = smtp_probe_examples::exporter::ConfigFile::parse(toml).unwrap();
    file.modules
        .iter()
        .map(|(name, spec)| (name.clone(), smtp_probe_examples::exporter::module_from_spec(name, spec).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credentialed_module_never_connects_off_its_allow_list() {
    // The password comes from the environment: cargo gives every test CARGO_PKG_NAME, so that is the password.
    let password = env!("CARGO_PKG_NAME");
    let allowed = Responder::new().user("monitor", password).auth_before_tls(true).start().unwrap();
    let elsewhere = Responder::new().user("monitor", password).auth_before_tls(true).start().unwrap();
    let config = format!(
        "[modules.auth]\ntls = \"none\"\nehlo_name = \"probe.test\"\ntimeout = 3\n\
         auth = {{ username = \"monitor\", password_env = \"CARGO_PKG_NAME\", allow_plaintext = true }}\n\
         allow = [\"127.0.0.1:{}\", \"*.mx.example.test\"]\nallow_addresses = [\"127.0.0.0/8\"]\n",
        allowed.port()
    );
    let (addr, stop) = start_with(modules(&config), 4, HttpLimits::default()).await;

    let ok = support::get(addr, &format!("/probe?module=auth&target=127.0.0.1:{}", allowed.port())).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(
        ok.body.contains("smtp_probe_phase_duration_seconds{") && ok.body.contains("phase=\"auth\""),
        "{}",
        ok.body
    );

    for target in [
        format!("127.0.0.1:{}", elsewhere.port()), // another port of an allowed address
        format!("localhost:{}", elsewhere.port()), // a name is never matched against an address
        format!("[::1]:{}", elsewhere.port()),
        "mx.example.test".to_owned(), // the parent of a wildcard
    ] {
        let refused = support::get(addr, &format!("/probe?module=auth&target={target}")).await;
        assert_eq!(refused.status, 400, "{target}: {refused:?}");
        assert!(refused.body.contains("not on the module's allow-list"), "{}", refused.body);
    }
    assert_eq!(elsewhere.connections(), 0, "no byte was sent to a target off the list");
    assert_eq!(allowed.connections(), 1);
    let own = support::get(addr, "/metrics").await;
    assert!(own.body.contains("smtp_probe_exporter_bad_requests_total 4\n"), "{}", own.body);
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_probe_limit_the_answer_is_503() {
    let silent = Script::new().hang().start().unwrap();
    let modules = builtin_modules(Duration::from_secs(3), Some("probe.test"), None, &loopback()).unwrap();
    let (addr, stop) = start_with(modules, 2, HttpLimits::default()).await;
    let path = format!("/probe?module=plain&target={}", silent.addr());
    let first = tokio::spawn({
        let path = path.clone();
        async move { support::get(addr, &path).await }
    });
    let second = tokio::spawn({
        let path = path.clone();
        async move { support::get(addr, &path).await }
    });
    // Both probes are connected (and waiting for a greeting that never comes) before the third asks.
    let connected = tokio::task::spawn_blocking(move || {
        let connected = silent.wait_for_connections(2, Duration::from_secs(5));
        (connected, silent)
    });
    let (connected, silent) = connected.await.unwrap();
    assert!(connected);
    let busy = support::get(addr, &path).await;
    assert_eq!(busy.status, 503, "{busy:?}");
    assert_eq!(busy.header("retry-after"), Some("5"));
    let metrics = support::get(addr, "/metrics").await;
    assert!(metrics.body.contains("smtp_probe_exporter_busy_total 1\n"), "{}", metrics.body);
    assert!(metrics.body.contains("smtp_probe_exporter_probes_in_flight 2\n"), "{}", metrics.body);
    for answer in [first.await.unwrap(), second.await.unwrap()] {
        assert_eq!(answer.status, 200, "the two probes within the limit finish: {answer:?}");
        assert!(answer.body.contains("cause=\"greeting_timeout\""), "{}", answer.body);
    }
    assert_eq!(silent.connections(), 2, "the refused request never connected");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrape_timeout_shortens_the_probe() {
    let silent = Script::new().hang().start().unwrap();
    // The module would wait 30 s for the greeting; Prometheus says it gives up after 1.5 s.
    let modules = builtin_modules(Duration::from_secs(30), Some("probe.test"), None, &loopback()).unwrap();
    let (addr, stop) = start_with(modules, 2, HttpLimits::default()).await;
    let asked = std::time::Instant::now();
    let answer = support::get_with(
        addr,
        &format!("/probe?module=plain&target={}", silent.addr()),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1.5")],
    )
    .await;
    let took = asked.elapsed();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains("cause=\"greeting_timeout\""), "{}", answer.body);
    // The probe's budget was 1.5 s less the 0.5 s margin.
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1400), "{took:?}");
    let duration = answer
        .body
        .lines()
        .find_map(|l| l.strip_prefix(&format!("smtp_probe_duration_seconds{{target=\"{}\"}} ", silent.addr())))
        .unwrap();
    let duration: f64 = duration.parse().unwrap();
    assert!((0.9..1.2).contains(&duration), "{duration}");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_drips_its_headers_is_cut_off() {
    let modules = builtin_modules(Duration::from_secs(3), Some("probe.test"), None, &loopback()).unwrap();
    let limits = HttpLimits { header_read_timeout: Duration::from_millis(500), ..HttpLimits::default() };
    let (addr, stop) = start_with(modules, 2, limits).await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    // A header line every 200 ms: each is on time, the whole never is.
    let cut = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return;
            }
            let mut buf = [0u8; 1];
            // Closed by the server: end of stream, or an error.
            if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), cut).await.expect("the server closed the connection");
    let after = started.elapsed();
    assert!(after >= Duration::from_millis(400) && after < Duration::from_secs(2), "{after:?}");
    // Others are still served.
    assert_eq!(support::get(addr, "/metrics").await.status, 200);
    let _ = stop.send(());
}
