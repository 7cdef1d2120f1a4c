//! CPU and memory accounting from the operating system: `getrusage(2)` for this process and its waited-for
//! children, `/proc/PID/stat` for other processes (a server, an exporter) and their descendants, `/proc/stat` for
//! the whole machine.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::resource::{Resource, Usage, UsageWho, getrlimit, getrusage, setrlimit};
use nix::sys::time::TimeVal;
use nix::unistd::{SysconfVar, sysconf};

fn seconds(tv: TimeVal) -> f64 {
    tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6
}

/// User and system CPU time, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    /// User time.
    pub user: f64,
    /// System (kernel) time.
    pub sys: f64,
}

impl Cpu {
    /// User + system.
    pub fn total(self) -> f64 {
        self.user + self.sys
    }

    /// `self - earlier`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu { user: self.user - earlier.user, sys: self.sys - earlier.sys }
    }

    fn from_usage(usage: &Usage) -> Cpu {
        Cpu { user: seconds(usage.user_time()), sys: seconds(usage.system_time()) }
    }
}

/// This process's CPU time so far (`getrusage(RUSAGE_SELF)`: every thread).
pub fn self_cpu() -> Cpu {
    getrusage(UsageWho::RUSAGE_SELF).map(|u| Cpu::from_usage(&u)).unwrap_or_default()
}

/// CPU time of this process's terminated and waited-for children (`getrusage(RUSAGE_CHILDREN)`).
pub fn children_cpu() -> Cpu {
    getrusage(UsageWho::RUSAGE_CHILDREN).map(|u| Cpu::from_usage(&u)).unwrap_or_default()
}

/// Peak resident set size of this process, KiB: `VmHWM` of `/proc/self/status`, which [`reset_peak_rss`] resets.
/// (`ru_maxrss` cannot be reset: it also keeps the peak of the process image before `execve`, e.g. `cargo run`'s.)
pub fn self_peak_rss_kib() -> u64 {
    status_kib("self", "VmHWM")
        .unwrap_or_else(|| getrusage(UsageWho::RUSAGE_SELF).map(|u| u.max_rss().max(0) as u64).unwrap_or(0))
}

/// Largest peak resident set size of any waited-for child, KiB.
pub fn children_peak_rss_kib() -> u64 {
    getrusage(UsageWho::RUSAGE_CHILDREN).map(|u| u.max_rss().max(0) as u64).unwrap_or(0)
}

/// Resets this process's peak RSS to its current RSS (`echo 5 > /proc/self/clear_refs`), so that the peak
/// read after a run belongs to that run. False when the kernel refused.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), KiB.
pub fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Raises the soft limit on open files to at least `want` (and the hard limit too when needed and allowed).
/// Returns the soft limit in force afterwards.
pub fn raise_nofile(want: u64) -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return 0 };
    if soft >= want {
        return soft;
    }
    if hard < want && setrlimit(Resource::RLIMIT_NOFILE, want, want).is_ok() {
        return want;
    }
    let target = want.min(hard);
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => target,
        Err(_) => soft,
    }
}

fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    })
}

/// One line of `/proc/PID/stat`: parent and CPU ticks (own user + system, and waited-for children's).
struct Stat {
    ppid: u32,
    own: u64,
    children: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // `fields[0]` is field 3 (state): field k is at k - 3.
    let num = |k: usize| fields.get(k - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Stat { ppid: num(4)? as u32, own: num(14)? + num(15)?, children: num(16)? + num(17)? })
}

/// CPU seconds of a process tree: for `root` and every live descendant, its own user + system time plus that of
/// its terminated, waited-for children (`utime + stime + cutime + cstime` of `/proc/PID/stat`).
///
/// The difference of two readings is the tree's CPU in between, also across short-lived workers (Postfix's
/// `smtpd`s come and go): a worker that exits is reaped by its parent, and its whole time moves from its own line
/// into the parent's `cutime`/`cstime`, while the time it had at the first reading was counted then. `None` when
/// `root` does not exist.
pub fn tree_cpu(root: u32) -> Option<f64> {
    let mut stats: HashMap<u32, Stat> = HashMap::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some(stat) = read_stat(pid) {
            stats.insert(pid, stat);
        }
    }
    stats.get(&root)?;
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, stat) in &stats {
        children.entry(stat.ppid).or_default().push(pid);
    }
    let mut ticks = 0u64;
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        if let Some(stat) = stats.get(&pid) {
            ticks += stat.own + stat.children;
        }
        if let Some(kids) = children.get(&pid) {
            queue.extend(kids);
        }
    }
    Some(ticks as f64 / ticks_per_second())
}

/// Busy CPU seconds of the whole machine so far, all cores (`/proc/stat`: user + nice + system + irq + softirq +
/// steal).
pub fn machine_busy_cpu() -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else { return 0.0 };
    let Some(line) = text.lines().next() else { return 0.0 };
    let v: Vec<u64> = line.split_ascii_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) as f64 / ticks_per_second()
}

/// Reads the master PID of a Postfix instance (`/var/spool/postfix/pid/master.pid`) or any pid file.
pub fn pid_from_file(path: &str) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The `p` quantile (0.0 to 1.0) of sorted durations, for latency summaries.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
