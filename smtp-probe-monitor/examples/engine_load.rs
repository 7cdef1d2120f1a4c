//! Runs the engine against the bundled loopback test server with many monitors and prints how it kept up:
//! checks, scheduling lateness, CPU time and peak RSS of this process (server thread included), storage health.
//! A smoke tool for the scale benchmarks, not a benchmark itself.
//!
//! ```text
//! cargo run --release -p smtp-probe-monitor --example engine_load -- [--monitors 2000] [--seconds 70]
//!     [--interval 30] [--addresses 1]
//! ```
//!
//! Monitors are spread over `--addresses` servers on 127.0.0.1, 127.0.0.2, …; per-host spacing is off (every
//! monitor of one address is its own check of one host, which a real deployment would space).

use std::time::{Duration, Instant};

use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::{Engine, EngineOptions};
use smtp_probe_monitor::storage::{SqlStore, Store};
use smtp_probe_testserver::{Responder, ServerBuilder};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().expect(name))
}

/// (user + system CPU seconds, peak RSS in MiB) of this process, from /proc.
fn usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map_or(vec![], |(_, r)| r.split(' ').collect());
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm / 1024.0)
}

#[tokio::main]
async fn main() {
    let monitors = arg("--monitors", 2000);
    let seconds = arg("--seconds", 70);
    let interval = arg("--interval", 30);
    let addresses = arg("--addresses", 1).max(1);
    let servers: Vec<_> = (1..=addresses)
        .map(|i| {
            let addr = format!("127.0.0.{i}:0").parse().unwrap();
            ServerBuilder::new(Responder::new()).bind(addr).record(false).start().expect("test server")
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "[service]\ndata_dir = \"{}\"\ninstance = \"load\"\n[scheduler]\nmin_host_spacing = \"0s\"\nmax_concurrency = 512\n\
         [defaults]\ninterval = \"{interval}s\"\ntimeout = \"10s\"\n",
        dir.path().display()
    );
    for i in 0..monitors {
        let server = &servers[(i % addresses) as usize];
        text.push_str(&format!("[[monitors]]\nname = \"m{i}\"\ntarget = \"{}\"\ntls = \"none\"\n", server.addr()));
    }
    let config = Config::from_toml_str(&text, dir.path()).expect("config");
    let store = std::sync::Arc::new(SqlStore::connect(&config.storage).await.expect("store"));
    let (cpu0, _) = usage();
    let started = Instant::now();
    let engine = Engine::start_with_store(config, store.clone(), EngineOptions::default()).await.expect("engine");
    let mut worst_p99 = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let s = engine.scheduler_stats();
        worst_p99 = worst_p99.max(s.lateness_p99_ms.unwrap_or(0));
        let h = engine.storage_health();
        println!(
            "{:>4}s started {:>7} running {:>4} lateness p50 {:?} p99 {:?} max {:?} ms | written {} backlog {} ok {}",
            started.elapsed().as_secs(),
            s.started,
            s.running,
            s.lateness_p50_ms,
            s.lateness_p99_ms,
            s.lateness_max_ms,
            h.written_results,
            h.backlog,
            h.ok
        );
    }
    let (cpu1, rss) = usage();
    let wall = started.elapsed().as_secs_f64();
    engine.shutdown(Duration::from_secs(10)).await;
    let db = std::fs::metadata(dir.path().join("monitor.db")).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("monitor.db-wal")).map(|m| m.len()).unwrap_or(0);
    let stored = store.monitors().await.map(|m| m.len()).unwrap_or(0);
    println!(
        "{monitors} monitors at {interval} s for {wall:.0} s: CPU {:.1} % of one core (server included), peak RSS {rss:.0} MiB, \
         worst lateness p99 {worst_p99} ms, database {:.1} MiB, {stored} monitors registered",
        100.0 * (cpu1 - cpu0) / wall,
        db as f64 / 1_048_576.0
    );
}
