//! A real Prometheus (the Debian package's binary, from `.ci/peers.sh`) scrapes the monitor's `/metrics` and
//! `/probe` on loopback, in OpenMetrics as it asks for by default, and its HTTP API is queried for the values:
//! per-monitor state and availability, the latency histogram, the service's figures, and a probe's metrics.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::{Engine, EngineOptions};
use smtp_probe_monitor::http::HttpOptions;
use smtp_probe_monitor::storage::writer::WriterConfig;
use smtp_probe_testserver::{Responder, Script};
use support::web;

/// The Prometheus binary of `.ci/peers.sh`.
fn prometheus() -> Option<String> {
    support::require("SMTP_PROBE_PROMETHEUS", "/var/tmp/smtp-probe-peers/env", ".ci/peers.sh")
}

/// A free loopback port (bound and released: Prometheus takes it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value of an instant query with one series, once Prometheus has it (and is listening).
async fn query(prom: SocketAddr, q: &str) -> Option<f64> {
    tokio::net::TcpStream::connect(prom).await.ok()?;
    let answer = web::get(prom, &format!("/api/v1/query?query={}", encode(q))).await;
    let json = answer.json();
    let result = json["data"]["result"].as_array()?;
    assert!(result.len() <= 1, "{q}: one series expected, got {result:?}");
    result.first()?["value"][1].as_str()?.parse().ok()
}

async fn wait_value(prom: SocketAddr, q: &str, want: impl Fn(f64) -> bool) -> f64 {
    let mut last = None;
    for _ in 0..300 {
        last = query(prom, q).await;
        if last.is_some_and(&want) {
            return last.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{q}: last value {last:?}");
}

fn write_config(dir: &Path, monitor: SocketAddr, probe_target: SocketAddr) -> std::path::PathBuf {
    let path = dir.join("prometheus.yml");
    let yaml = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: monitor
    static_configs: [{{ targets: ["{monitor}"] }}]
  - job_name: probe
    metrics_path: /probe
    params: {{ module: [plain] }}
    static_configs: [{{ targets: ["{probe_target}"] }}]
    relabel_configs:
      - {{ source_labels: [__address__], target_label: __param_target }}
      - {{ source_labels: [__param_target], target_label: instance }}
      - {{ target_label: __address__, replacement: "{monitor}" }}
"#
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_metrics_and_probe() {
    let Some(binary) = prometheus() else { return };
    let up = Responder::new().start().unwrap();
    let down =
        smtp_probe_testserver::start(Script::new().reply("554 5.3.2 go away").expect_line().reply("221 bye")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[storage]\nkind = \"sqlite\"\npath = \"{db}\"\n[service]\ninstance = \"prom\"\n\
         [scheduler]\nmin_host_spacing = \"0s\"\n[incidents]\nopen_after = 1\n[defaults]\ntimeout = \"5s\"\n\
         [http.probe.modules.plain]\ntls = \"none\"\ntimeout = \"3s\"\nallow_addresses = [\"127.0.0.0/8\"]\n\
         [[monitors]]\nname = \"MX up\"\ntarget = \"{up}\"\ntls = \"none\"\ntags = [\"eu\"]\n\
         [[monitors]]\nname = \"MX down\"\ntarget = \"{down}\"\ntls = \"none\"\ntags = [\"eu\"]\n",
        db = dir.path().join("monitor.db").display(),
        up = up.addr(),
        down = down.addr()
    );
    let mut config = Config::from_toml_str(&text, dir.path()).unwrap();
    for m in &mut config.monitors {
        m.interval = Duration::from_secs(1);
        m.incident.recheck_after = Duration::from_millis(200);
    }
    let store = support::sqlite_store(dir.path()).await;
    let options = EngineOptions {
        writer: WriterConfig { flush_every: Duration::from_millis(100), ..WriterConfig::default() },
        ..EngineOptions::default()
    };
    let engine = Engine::start_with_store(config.clone(), support::dyn_store(&store), options).await.unwrap();
    let served = web::serve(&engine, &config.http, HttpOptions::default()).await;

    let port = free_port();
    let prom: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let yaml = write_config(dir.path(), served.addr, up.addr());
    let _prometheus = Running(
        Command::new(&binary)
            .arg(format!("--config.file={}", yaml.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address={prom}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("prometheus starts"),
    );

    // Both targets are scraped and healthy.
    assert_eq!(wait_value(prom, "up{job=\"monitor\"}", |v| v == 1.0).await, 1.0);
    assert_eq!(wait_value(prom, "up{job=\"probe\"}", |v| v == 1.0).await, 1.0);
    // The monitors as the monitor judged them.
    wait_value(prom, "smtp_probe_monitor_up{monitor=\"mx-up\",group=\"eu\"}", |v| v == 1.0).await;
    wait_value(prom, "smtp_probe_monitor_up{monitor=\"mx-down\"}", |v| v == 0.0).await;
    wait_value(prom, "smtp_probe_monitor_state{monitor=\"mx-down\",state=\"down\"}", |v| v == 1.0).await;
    wait_value(prom, "smtp_probe_monitor_cause{monitor=\"mx-down\",cause=\"greeting_rejected\"}", |v| v == 1.0).await;
    wait_value(prom, "smtp_probe_monitor_availability_ratio{monitor=\"mx-up\",window=\"24h\"}", |v| v == 1.0).await;
    wait_value(prom, "smtp_probe_monitor_info{monitor=\"mx-up\",name=\"MX up\"}", |v| v == 1.0).await;
    wait_value(prom, "smtp_probe_monitor_monitors{state=\"down\"}", |v| v == 1.0).await;
    wait_value(prom, "smtp_probe_monitor_storage_healthy", |v| v == 1.0).await;
    // The histogram: a rate and a quantile Prometheus computes from the buckets.
    let checks =
        wait_value(prom, "smtp_probe_monitor_response_latency_seconds_count{group=\"eu\"}", |v| v >= 3.0).await;
    assert!(checks >= 3.0);
    let p99 = wait_value(
        prom,
        "histogram_quantile(0.99, sum by (le) (smtp_probe_monitor_response_latency_seconds_bucket{group=\"eu\"}))",
        |v| v.is_finite() && v > 0.0,
    )
    .await;
    assert!(p99 <= 5.0, "{p99}");
    // /probe in the blackbox style: the target is the monitor's up server.
    wait_value(prom, &format!("smtp_probe_up{{job=\"probe\",target=\"{}\"}}", up.addr()), |v| v == 1.0).await;
    wait_value(prom, &format!("smtp_probe_verdict{{job=\"probe\",verdict=\"up\",instance=\"{}\"}}", up.addr()), |v| {
        v == 1.0
    })
    .await;
    wait_value(prom, "smtp_probe_exporter_probes_total{module=\"plain\",verdict=\"up\"}", |v| v >= 1.0).await;
    // Prometheus asked for OpenMetrics: the units and types came through.
    let meta = web::get(prom, "/api/v1/metadata?metric=smtp_probe_monitor_response_latency_seconds").await.json();
    assert_eq!(meta["data"]["smtp_probe_monitor_response_latency_seconds"][0]["type"], "histogram", "{meta}");
    drop(served);
    engine.shutdown(Duration::from_secs(5)).await;
}
