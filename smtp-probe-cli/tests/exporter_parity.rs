//! One metric vocabulary, one renderer: the exporter's `/probe` body for a target is what
//! `smtp-probe --format prometheus` prints for it, byte for byte once timestamps and durations (every `_seconds`
//! value) are set aside; the same for OpenMetrics (`Accept: application/openmetrics-text` and
//! `--format openmetrics`).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{run, target, temp_file};
use smtp_probe_examples::common::HttpLimits;
use smtp_probe_examples::exporter::{Exporter, builtin_modules, serve};
use smtp_probe_testserver::{Responder, TestPki};

/// Every sample value of a metric measured in seconds replaced: those are the timings and timestamps, which
/// differ from one probe to the next.
fn normalize(exposition: &str) -> String {
    exposition
        .lines()
        .map(|line| {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            match line.rsplit_once(' ') {
                Some((series, _)) if !line.starts_with('#') && name.ends_with("_seconds") => format!("{series} <t>"),
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `GET path` over HTTP/1.1 on loopback: the status and the body.
fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.split(' ').nth(1).unwrap().parse().unwrap(), body.to_owned())
}

#[test]
fn the_exporter_serves_what_the_cli_prints() {
    let pki = TestPki::new().unwrap();
    let ca = temp_file(pki.ca_pem());
    let ca_path = ca.path().to_str().unwrap();
    let server = Responder::new().cert(&pki.default_cert().unwrap()).start().unwrap();
    // STARTTLS against the test CA (module smtp, and the CLI's default): the TLS families are there too.
    let t = target(&server);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let modules =
        builtin_modules(Duration::from_secs(5), Some("probe.test"), Some(ca.path()), &["127.0.0.0/8".to_owned()])
            .unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(serve(listener, Exporter::new(modules, 4), HttpLimits::default(), async {
        let _ = stopped.await;
    }));

    for (format, accept) in [("prometheus", None), ("openmetrics", Some("application/openmetrics-text;version=1.0.0"))]
    {
        let (status, served) = get(addr, &format!("/probe?target={t}&module=smtp"), accept);
        assert_eq!(status, 200, "{served}");
        let printed = run(&[&t, "--ca-file", ca_path, "-F", "probe.test", "-t", "5", "--format", format]);
        assert_eq!(printed.code, 0, "{printed:?}");
        assert!(served.contains("smtp_probe_tls_version_info{"), "TLS was used: {served}");
        assert!(served.contains(&format!("smtp_probe_up{{target=\"{t}\"}} 1\n")), "{served}");
        assert_eq!(normalize(&served), normalize(&printed.stdout), "{format}");
        assert_ne!(normalize(&served), served.trim_end(), "durations were set aside");
    }
    assert_eq!(server.connections(), 4, "two probes each");
    let _ = stop.send(());
}
