//! Load benchmark machinery for `probe-load`: N probes at concurrency C with one of four tools (smtp-probe's tokio
//! adapter, the minimal floor client, blackbox_exporter over HTTP, check_smtp as a process per probe), and the
//! operating system's accounting of what they cost: CPU of the probing process (or of the tool's processes), of
//! the server, of the whole machine; peak RSS; latency quantiles.
//!
//! Only loopback targets are accepted (see [`check_loopback`]); the number of probes is fixed up front and every
//! probe has a deadline, so a run is bounded in count and time.

pub mod acct;
pub mod floor;
pub mod peers;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use smtp_probe_tokio::{Cause, ProbeConfig, Verdict};

use crate::load::acct::Cpu;
use crate::load::floor::Floor;
use crate::load::peers::{Blackbox, CheckSmtp};

/// Every probe of the floor client and of the blackbox driver is cut at this deadline (smtp-probe has its own
/// timeouts, check_smtp its `-t 10`).
pub const PROBE_DEADLINE: Duration = Duration::from_secs(30);

/// Refuses anything but 127.0.0.0/8 and ::1: these benchmarks never leave the machine.
pub fn check_loopback(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() { Ok(()) } else { Err(format!("{addr} is not a loopback address")) }
}

/// The probing tool of a run.
pub enum Tool {
    /// smtp-probe's tokio adapter.
    SmtpProbe {
        /// The configuration shared by every probe, target included.
        config: ProbeConfig,
    },
    /// The minimal hand-written client.
    Floor(Floor),
    /// blackbox_exporter, one HTTP request per probe.
    Blackbox(Blackbox),
    /// check_smtp, one process per probe.
    CheckSmtp(CheckSmtp),
}

impl Tool {
    /// The tool's name in results.
    pub fn name(&self) -> &'static str {
        match self {
            Tool::SmtpProbe { .. } => "smtp-probe",
            Tool::Floor(_) => "floor",
            Tool::Blackbox(_) => "blackbox_exporter",
            Tool::CheckSmtp(_) => "check_smtp",
        }
    }

    /// Where the tool's CPU is read from.
    pub fn cpu_source(&self) -> &'static str {
        match self {
            Tool::SmtpProbe { .. } | Tool::Floor(_) => "getrusage(RUSAGE_SELF) of probe-load",
            Tool::Blackbox(_) => "/proc/PID/stat of the exporter (utime+stime+cutime+cstime)",
            Tool::CheckSmtp(_) => "getrusage(RUSAGE_CHILDREN) of probe-load (every check_smtp process)",
        }
    }

    async fn probe_async(&self) -> Result<(), &'static str> {
        match self {
            Tool::SmtpProbe { config } => match smtp_probe_tokio::probe(config).await {
                report if report.verdict == Verdict::Up => Ok(()),
                report => Err(report.cause.map_or("not_up", Cause::as_str)),
            },
            Tool::Floor(floor) => tokio::time::timeout(PROBE_DEADLINE, floor.probe()).await.unwrap_or(Err("deadline")),
            Tool::Blackbox(bb) => tokio::time::timeout(PROBE_DEADLINE, bb.probe()).await.unwrap_or(Err("deadline")),
            Tool::CheckSmtp(_) => Err("check_smtp_is_not_async"),
        }
    }
}

/// Which tokio runtime runs the in-process tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `new_current_thread`: everything on the calling thread.
    CurrentThread,
    /// `new_multi_thread` with this many workers.
    MultiThread(usize),
}

impl Flavor {
    /// Its name in results.
    pub fn label(self) -> String {
        match self {
            Flavor::CurrentThread => "current_thread".into(),
            Flavor::MultiThread(n) => format!("multi_thread({n})"),
        }
    }

    fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread().enable_all().build(),
            Flavor::MultiThread(n) => {
                tokio::runtime::Builder::new_multi_thread().worker_threads(n.max(1)).enable_all().build()
            }
        }
    }
}

/// What to run and what else to account for.
pub struct Spec {
    /// Probes to run (counted).
    pub probes: usize,
    /// At most this many at once.
    pub concurrency: usize,
    /// Probes run before measuring, not counted.
    pub warmup: usize,
    /// The runtime for the in-process tools.
    pub flavor: Flavor,
    /// Server processes (trees) whose CPU is reported apart.
    pub server_pids: Vec<u32>,
    /// The tool's own process (blackbox_exporter), whose CPU is the tool's.
    pub tool_pid: Option<u32>,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: BTreeMap<&'static str, u64>,
    latencies: Vec<Duration>,
}

impl Tally {
    fn record(&mut self, started: Instant, result: Result<(), &'static str>) {
        self.latencies.push(started.elapsed());
        match result {
            Ok(()) => self.ok += 1,
            Err(cause) => *self.failed.entry(cause).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        for (cause, n) in other.failed {
            *self.failed.entry(cause).or_default() += n;
        }
        self.latencies.extend(other.latencies);
    }
}

/// Probes in flight now and at most.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn worker(tool: Arc<Tool>, next: Arc<AtomicUsize>, total: usize, gauge: Arc<Gauge>) -> Tally {
    let mut tally = Tally::default();
    while next.fetch_add(1, Ordering::Relaxed) < total {
        let started = Instant::now();
        gauge.enter();
        let result = tool.probe_async().await;
        gauge.leave();
        tally.record(started, result);
    }
    tally
}

fn run_async(runtime: &tokio::runtime::Runtime, tool: &Arc<Tool>, probes: usize, concurrency: usize) -> (Tally, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let gauge = Arc::new(Gauge::default());
    let tally = runtime.block_on(async {
        let handles: Vec<_> = (0..concurrency.min(probes).max(1))
            .map(|_| tokio::spawn(worker(tool.clone(), next.clone(), probes, gauge.clone())))
            .collect();
        let mut tally = Tally::default();
        for handle in handles {
            match handle.await {
                Ok(t) => tally.merge(t),
                Err(_) => *tally.failed.entry("task_panicked").or_default() += 1,
            }
        }
        tally
    });
    (tally, gauge.peak.load(Ordering::Relaxed))
}

fn run_processes(check: &CheckSmtp, probes: usize, concurrency: usize) -> (Tally, usize) {
    let next = AtomicUsize::new(0);
    let gauge = Gauge::default();
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency.min(probes).max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut tally = Tally::default();
                    while next.fetch_add(1, Ordering::Relaxed) < probes {
                        let started = Instant::now();
                        gauge.enter();
                        let result = check.probe();
                        gauge.leave();
                        tally.record(started, result);
                    }
                    tally
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(t) => tally.merge(t),
                Err(_) => *tally.failed.entry("thread_panicked").or_default() += 1,
            }
        }
    });
    (tally, gauge.peak.load(Ordering::Relaxed))
}

struct Snapshot {
    at: Instant,
    own: Cpu,
    children: Cpu,
    servers: Vec<Option<f64>>,
    tool: Option<f64>,
    machine: f64,
}

impl Snapshot {
    fn take(spec: &Spec) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            own: acct::self_cpu(),
            children: acct::children_cpu(),
            servers: spec.server_pids.iter().map(|&pid| acct::tree_cpu(pid)).collect(),
            tool: spec.tool_pid.and_then(acct::tree_cpu),
            machine: acct::machine_busy_cpu(),
        }
    }
}

/// Runs the tool as `spec` says and returns the results as one JSON object.
pub fn run(tool: Tool, spec: &Spec, meta: serde_json::Value) -> std::io::Result<serde_json::Value> {
    let tool = Arc::new(tool);
    let runtime = spec.flavor.build()?;
    let go = |n: usize| match &*tool {
        Tool::CheckSmtp(check) => run_processes(check, n, spec.concurrency),
        _ => run_async(&runtime, &tool, n, spec.concurrency),
    };
    if spec.warmup > 0 {
        let (warm, _) = go(spec.warmup);
        if warm.ok == 0 {
            eprintln!("probe-load: every warm-up probe failed: {:?}", warm.failed);
        }
    }
    let peak_reset = acct::reset_peak_rss();
    let baseline_rss = acct::status_kib("self", "VmRSS").unwrap_or(0);

    let before = Snapshot::take(spec);
    let (mut tally, peak_inflight) = go(spec.probes);
    let after = Snapshot::take(spec);

    let peak_rss = acct::self_peak_rss_kib();
    let wall = after.at - before.at;
    let own = after.own.since(before.own);
    let children = after.children.since(before.children);
    let servers: Vec<Option<f64>> = before
        .servers
        .iter()
        .zip(&after.servers)
        .map(|(b, a)| match (b, a) {
            (Some(b), Some(a)) => Some(a - b),
            _ => None,
        })
        .collect();
    let server_cpu: Option<f64> = servers.iter().copied().sum();
    let tool_cpu_ext = match (before.tool, after.tool) {
        (Some(b), Some(a)) => Some(a - b),
        _ => None,
    };
    let machine = after.machine - before.machine;

    // The tool's CPU: this process for in-process tools, the children for check_smtp, the exporter's processes
    // for blackbox_exporter (then this process is only the HTTP driver, reported apart).
    let (tool_cpu, user, sys, driver) = match &*tool {
        Tool::SmtpProbe { .. } | Tool::Floor(_) => (own.total(), Some(own.user), Some(own.sys), None),
        Tool::CheckSmtp(_) => (children.total(), Some(children.user), Some(children.sys), Some(own.total())),
        Tool::Blackbox(_) => (tool_cpu_ext.unwrap_or(f64::NAN), None, None, Some(own.total())),
    };
    let probes = spec.probes as f64;
    let per_probe_us = |s: f64| (s / probes * 1e6 * 10.0).round() / 10.0;
    tally.latencies.sort_unstable();
    let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    let in_process = matches!(&*tool, Tool::SmtpProbe { .. } | Tool::Floor(_));
    let growth = peak_rss.saturating_sub(baseline_rss);
    let mut out = json!({
        "tool": tool.name(),
        "runtime": if matches!(&*tool, Tool::CheckSmtp(_)) { "process per probe".to_owned() } else { spec.flavor.label() },
        "probes": spec.probes,
        "concurrency": spec.concurrency,
        "ok": tally.ok,
        "failed": spec.probes as u64 - tally.ok,
        "failed_by_cause": tally.failed,
        "wall_s": wall.as_secs_f64(),
        "cpu_s": tool_cpu,
        "cpu_user_s": user,
        "cpu_sys_s": sys,
        "cpu_source": tool.cpu_source(),
        "cpu_per_probe_us": per_probe_us(tool_cpu),
        "driver_cpu_s": driver,
        "driver_cpu_per_probe_us": driver.map(per_probe_us),
        "server_cpu_s": server_cpu,
        "server_cpu_per_probe_us": server_cpu.map(per_probe_us),
        "machine_cpu_s": machine,
        "machine_cpu_per_probe_us": per_probe_us(machine),
        "probes_per_sec": (probes / wall.as_secs_f64()).round(),
        "latency_ms": {
            "p50": ms(acct::percentile(&tally.latencies, 0.5)),
            "p99": ms(acct::percentile(&tally.latencies, 0.99)),
            "max": ms(acct::percentile(&tally.latencies, 1.0)),
        },
        "peak_inflight": peak_inflight,
        "baseline_rss_kib": if in_process { Some(baseline_rss) } else { None },
        "peak_rss_kib": if in_process {
            Some(peak_rss)
        } else if matches!(&*tool, Tool::CheckSmtp(_)) {
            Some(acct::children_peak_rss_kib())
        } else {
            spec.tool_pid.and_then(|pid| acct::status_kib(&pid.to_string(), "VmHWM"))
        },
        "peak_rss_reset": peak_reset,
        "rss_per_inflight_kib": in_process.then(|| (growth as f64 / spec.concurrency as f64 * 100.0).round() / 100.0),
        "rss_per_peak_inflight_kib": (in_process && peak_inflight > 0)
            .then(|| (growth as f64 / peak_inflight as f64 * 100.0).round() / 100.0),
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (out.as_object_mut(), meta) {
        obj.extend(extra);
    }
    Ok(out)
}
