//! Round trips as monitor checks and as `/probe`'s module, against the real loopback Postfix (`.ci/postfix.sh`)
//! and Dovecot (`.ci/dovecot.sh`): a message delivered to the inbox is up with its delivery latency stored, one in
//! the junk folder is degraded and counts towards the junk rate, the figures carry delivery percentiles, and
//! `/probe` renders the round trip's metrics and refuses a target other than the configured one — through HTTP
//! too, as a round-trip module, one round trip at a time (429 for another meanwhile). Skipped, with
//! the reason printed, when the servers are not set up (a failure with `SMTP_PROBE_REQUIRE_SERVICES=1`).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use smtp_probe_monitor::check::Status;
use smtp_probe_monitor::clock::Timestamp;
use smtp_probe_monitor::config::{CheckKind, Config};
use smtp_probe_monitor::probe::{RoundTripRequest, RoundTripRequestError, probe_roundtrip};
use smtp_probe_monitor::storage::Store;
use smtp_probe_testsuite::dovecot::{DovecotEnv, env_or_skip};
use smtp_probe_testsuite::postfix::PostfixEnv;

/// Both servers, and one file with both test CAs.
struct Loop {
    postfix: PostfixEnv,
    dovecot: DovecotEnv,
    ca: tempfile::NamedTempFile,
}

fn setup(test: &str) -> Option<Loop> {
    let (postfix, dovecot) = env_or_skip(test)?;
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), format!("{}\n{}", postfix.ca_pem, dovecot.ca_pem)).unwrap();
    Some(Loop { postfix, dovecot, ca })
}

impl Loop {
    /// A round-trip monitor to `to` (STARTTLS on both sides), the passwords named by environment variables.
    fn monitor(&self, name: &str, to: &str) -> String {
        self.monitor_reading(name, to, &self.dovecot.host, self.dovecot.imap_port)
    }

    /// The same, reading the mailbox at another address (a proxy in front of Dovecot).
    fn monitor_reading(&self, name: &str, to: &str, imap_host: &str, imap_port: u16) -> String {
        let (p, d) = (&self.postfix, &self.dovecot);
        format!(
            r#"
[[monitors]]
name = "{name}"
target = "submission://{host}:{port}"
tls_name = "{tls_name}"
ca_file = "{ca}"
ehlo_name = "probe.smtp-probe.test"
timeout = "20s"
auth = {{ username = "{user}", password_env = "SUBMIT_PASSWORD" }}
[monitors.roundtrip]
imap = "imap://{imap_host}:{imap_port}"
imap_tls_name = "{imap_tls_name}"
from = "{from}"
to = "{to}"
username = "{imap_user}"
password_env = "IMAP_PASSWORD"
junk_folder = "{junk}"
delivery_warning = "15s"
"#,
            host = p.host,
            port = p.submission_port,
            tls_name = p.tls_name,
            ca = self.ca.path().display(),
            user = p.user,
            imap_host = imap_host,
            imap_port = imap_port,
            imap_tls_name = d.tls_name,
            from = p.from,
            imap_user = d.user,
            junk = d.junk_folder,
        )
    }

    fn config(&self, text: &str, imap_password: &str) -> Config {
        let env = |name: &str| match name {
            "SUBMIT_PASSWORD" => Some(self.postfix.password.clone()),
            "IMAP_PASSWORD" => Some(imap_password.to_owned()),
            _ => None,
        };
        Config::from_toml_with_env(text, Path::new("."), &env).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }
}

/// A loopback TCP proxy to `to` that waits `delay` before connecting each client through: a round trip reading its
/// mailbox through it stays in flight at least that long, however fast the servers are.
async fn slow_proxy(to: (String, u16), delay: Duration) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut server) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_checks_store_delivery_latency_and_the_junk_rate() {
    let Some(rt) = setup("round_trip_checks_store_delivery_latency_and_the_junk_rate") else { return };
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[storage]\nkind = \"sqlite\"\npath = \"{}\"\n[service]\ninstance = \"test\"\n{}{}",
        dir.path().join("monitor.db").display(),
        rt.monitor("inbox loop", &rt.dovecot.rcpt),
        rt.monitor("junk loop", &rt.dovecot.junk_rcpt),
    );
    let mut config = rt.config(&text, &rt.dovecot.password);
    assert_eq!(config.monitors[0].interval, Duration::from_secs(300), "a round trip's default interval");
    for m in &mut config.monitors {
        m.interval = Duration::from_secs(3); // for the test only: the file format's minimum is 1 min
    }
    let store = support::sqlite_store(dir.path()).await;
    let engine = support::fast::start(config, &store).await;

    let (inbox, junk) = (support::fast::id("inbox loop"), support::fast::id("junk loop"));
    support::wait_for(Duration::from_secs(60), "one round trip of each monitor stored", async || {
        engine.flush(Duration::from_secs(5)).await;
        !store.results(&inbox, None, 1).await.unwrap().is_empty()
            && !store.results(&junk, None, 1).await.unwrap().is_empty()
    })
    .await;

    // Read back from the database: the delivery survives storage.
    let delivered = &store.results(&inbox, None, 1).await.unwrap()[0];
    assert_eq!((delivered.status, delivered.junk), (Status::Up, Some(false)), "{delivered:?}");
    let latency = delivered.delivery_ms.expect("a delivery latency");
    assert!(latency < 15_000, "{delivered:?}");
    assert!(delivered.summary.contains("delivered to INBOX"), "{delivered:?}");
    let phases: Vec<&str> = delivered.phases.iter().map(|p| p.phase.as_str()).collect();
    assert_eq!((phases.first(), phases.last()), (Some(&"mailbox_ready"), Some(&"delivery")), "{phases:?}");
    assert!(phases.contains(&"data"), "the submission's SMTP phases: {phases:?}");
    assert!(delivered.response_ms.is_some() && delivered.tls_version.is_some(), "{delivered:?}");

    let in_junk = &store.results(&junk, None, 1).await.unwrap()[0];
    assert_eq!(
        (in_junk.status, in_junk.cause.as_deref(), in_junk.junk),
        (Status::Degraded, Some("delivered_to_junk"), Some(true)),
        "{in_junk:?}"
    );
    assert!(in_junk.delivery_ms.is_some());

    engine.shutdown(Duration::from_secs(30)).await;

    // The figures, from the hourly rollups: every stored delivery counted, its latency in the percentiles.
    let now = Timestamp::now();
    let figures = |id| {
        let store = std::sync::Arc::clone(&store);
        async move {
            let rollups = store.rollups(&id, Timestamp(now.0 - 3_600_000 * 2), Timestamp(now.0 + 1)).await.unwrap();
            smtp_probe_monitor::figures::compute(now, &rollups, &[]).remove(0).delivery.expect("delivery figures")
        }
    };
    let stored: Vec<u32> =
        store.results(&inbox, None, 100).await.unwrap().iter().filter_map(|r| r.delivery_ms).collect();
    let day = figures(inbox).await;
    assert_eq!((day.delivered, day.junk, day.junk_rate), (stored.len() as i64, 0, 0.0), "{day:?}");
    let (low, high) = (*stored.iter().min().unwrap(), *stored.iter().max().unwrap());
    let p50 = day.p50_ms.unwrap();
    assert!(p50 >= low - low / 16 && p50 <= high + high / 16, "{day:?} vs {stored:?}");
    let day = figures(junk).await;
    assert!(day.delivered >= 1 && day.junk == day.delivered && day.junk_rate == 1.0, "{day:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_renders_a_round_trip_and_takes_only_its_configured_target() {
    let Some(rt) = setup("probe_renders_a_round_trip_and_takes_only_its_configured_target") else { return };
    let config = rt.config(&rt.monitor("loop", &rt.dovecot.rcpt), &rt.dovecot.password);
    let check = &config.monitors[0].check;
    assert!(matches!(check, CheckKind::RoundTrip { .. }));

    // Another server is refused before anything is sent.
    let other = RoundTripRequest { target: Some("mail.example.net:587"), ..Default::default() };
    let err = probe_roundtrip(check, other).await.unwrap_err();
    assert!(matches!(err, RoundTripRequestError::OtherTarget { .. }), "{err}");
    let bad = RoundTripRequest { target: Some("pop3://x"), ..Default::default() };
    assert!(matches!(probe_roundtrip(check, bad).await, Err(RoundTripRequestError::InvalidTarget { .. })));
    let smtp = &config.monitors[0];
    let not_rt =
        Config::from_toml_str("[[monitors]]\nname = \"mx\"\ntarget = \"mx.example.net\"\n", Path::new(".")).unwrap();
    assert_eq!(
        probe_roundtrip(&not_rt.monitors[0].check, RoundTripRequest::default()).await.unwrap_err(),
        RoundTripRequestError::NotARoundTrip
    );

    // The configured server, as Prometheus sends it, in OpenMetrics.
    let target = format!("{}:{}", rt.postfix.host, rt.postfix.submission_port);
    let request = RoundTripRequest {
        target: Some(&target),
        scrape_timeout: Some("30"),
        accept: Some("application/openmetrics-text; version=1.0.0"),
    };
    let response = probe_roundtrip(&smtp.check, request).await.unwrap();
    assert!(response.content_type.starts_with("application/openmetrics-text"), "{}", response.content_type);
    assert_eq!(response.verdict, smtp_probe_tokio::Verdict::Up, "{}", response.body);
    let labels = format!("{{submit=\"{target}\",mailbox=\"{}:{}\"", rt.dovecot.host, rt.dovecot.imap_port);
    for (name, more, value) in [("up", "", 1), ("junk", "", 0), ("folder", ",folder=\"INBOX\"", 1)] {
        let line = format!("smtp_probe_roundtrip_{name}{labels}{more}}} {value}");
        assert!(response.body.lines().any(|l| l == line), "{line} in\n{}", response.body);
    }
    assert!(response.body.contains(&format!("smtp_probe_roundtrip_delivery_seconds{labels}}} ")), "{}", response.body);
    assert!(response.body.ends_with("# EOF\n"));

    // A wrong mailbox password: down with its cause, at once, and never in the body.
    let wrong = rt.config(&rt.monitor("loop", &rt.dovecot.rcpt), "not-the-imap-password");
    let started = Instant::now();
    let response = probe_roundtrip(&wrong.monitors[0].check, RoundTripRequest::default()).await.unwrap();
    assert!(response.content_type.starts_with("text/plain; version=0.0.4"));
    assert_eq!(response.verdict, smtp_probe_tokio::Verdict::Down);
    assert!(response.body.contains(",cause=\"mailbox_auth_failed\"} 1"), "{}", response.body);
    assert!(!response.body.contains("not-the-imap-password"));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_endpoint_serves_a_round_trip_module_one_at_a_time() {
    let Some(rt) = setup("probe_endpoint_serves_a_round_trip_module_one_at_a_time") else { return };
    let dir = tempfile::tempdir().unwrap();
    // The mailbox through a proxy that holds each connection 1.5 s: the first round trip is still running when
    // the second request comes, however fast the servers answer.
    let imap = slow_proxy((rt.dovecot.host.clone(), rt.dovecot.imap_port), Duration::from_millis(1500)).await;
    let text = format!(
        "[storage]\nkind = \"sqlite\"\npath = \"{}\"\n[service]\ninstance = \"test\"\n\
         [http.probe]\nmax_roundtrips = 1\n[http.probe.modules.mailflow]\nroundtrip = \"loop\"\n{}",
        dir.path().join("monitor.db").display(),
        rt.monitor_reading("loop", &rt.dovecot.rcpt, &imap.ip().to_string(), imap.port()),
    );
    let config = rt.config(&text, &rt.dovecot.password);
    assert_eq!(config.http.probe.roundtrips["mailflow"].monitor.as_str(), "loop");
    assert!(config.http.probe.modules.is_empty(), "a configured module replaces the built-in ones");
    // The engine runs no monitor: every round trip here is one that /probe asked for.
    let mut engine_config = config.clone();
    engine_config.monitors.clear();
    let store = support::sqlite_store(dir.path()).await;
    let engine = support::fast::start(engine_config, &store).await;
    let served = support::web::serve(&engine, &config.http, Default::default()).await;
    let addr = served.addr;
    let configured = format!("{}:{}", rt.postfix.host, rt.postfix.submission_port);

    // Another server: refused at once, nothing sent, nothing counted as a probe.
    let started = Instant::now();
    let other = support::web::get(addr, "/probe?module=mailflow&target=mail.example.net:587").await;
    assert_eq!(other.status, 400, "{}", other.body);
    assert!(other.body.contains(&format!("submits to {configured}")), "{}", other.body);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let metrics = support::web::get(addr, "/metrics").await.body;
    assert!(metrics.contains("smtp_probe_exporter_bad_requests_total 1\n"), "{metrics}");
    for verdict in ["up", "degraded", "down"] {
        let line = format!("smtp_probe_exporter_probes_total{{module=\"mailflow\",verdict=\"{verdict}\"}} 0\n");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    // The configured server, as Prometheus asks: one round trip runs; a second one meanwhile is turned away.
    let path = format!("/probe?module=mailflow&target={configured}");
    let first = tokio::spawn({
        let path = path.clone();
        async move { support::web::get_with(addr, &path, &[("X-Prometheus-Scrape-Timeout-Seconds", "25")]).await }
    });
    support::wait_for(Duration::from_secs(10), "the first round trip running", async || {
        first.is_finished()
            || support::web::get(addr, "/metrics").await.body.contains("smtp_probe_exporter_probes_in_flight 1\n")
    })
    .await;
    if first.is_finished() {
        panic!("the first round trip ended before a second one was asked for: {:?}", first.await);
    }
    let second = support::web::get(addr, &path).await;
    assert_eq!(second.status, 429, "{}", second.body);
    assert_eq!(second.header("retry-after"), Some("30"));
    assert!(second.body.contains("round trip is already running"), "{}", second.body);

    let first = first.await.unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"), "{:?}", first.headers);
    let labels = format!("{{submit=\"{configured}\",mailbox=\"{imap}\"");
    for (name, more, value) in [("up", "", 1), ("junk", "", 0), ("folder", ",folder=\"INBOX\"", 1)] {
        let line = format!("smtp_probe_roundtrip_{name}{labels}{more}}} {value}");
        assert!(first.body.lines().any(|l| l == line), "{line} in\n{}", first.body);
    }
    assert!(first.body.contains(&format!("smtp_probe_roundtrip_delivery_seconds{labels}}} ")), "{}", first.body);
    assert!(!first.body.contains(&rt.dovecot.password) && !first.body.contains(&rt.postfix.password));

    // The slot is free again, and the counters say what happened.
    let metrics = support::web::get(addr, "/metrics").await.body;
    for line in [
        "smtp_probe_exporter_probes_total{module=\"mailflow\",verdict=\"up\"} 1\n",
        "smtp_probe_exporter_busy_total 1\n",
        "smtp_probe_exporter_probes_in_flight 0\n",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    // Without a target, in OpenMetrics: the module needs none.
    let open = support::web::get_with(
        addr,
        "/probe?module=mailflow",
        &[("Accept", "application/openmetrics-text; version=1.0.0"), ("X-Prometheus-Scrape-Timeout-Seconds", "25")],
    )
    .await;
    assert_eq!(open.status, 200, "{}", open.body);
    assert!(open.body.contains(&format!("smtp_probe_roundtrip_up{labels}}} 1\n")), "{}", open.body);
    assert!(open.body.ends_with("# EOF\n"), "{}", open.body);
    drop(served);
    engine.shutdown(Duration::from_secs(10)).await;
}
