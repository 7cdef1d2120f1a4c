//! Scenarios that need a network of their own: a test runs again in a child process, in a network and mount
//! namespace of its own (`unshare --net --mount`), where only loopback exists and the child can shape it without
//! touching the machine's network:
//!
//! - `/etc/resolv.conf` (bind-mounted, for the child only) names `127.0.0.1`, where the child serves its own zone on
//!   port 53 ([`Isolated::dns`]): the OS resolver (`getaddrinfo`) of every adapter asks it and nothing else;
//! - [`BLACKHOLE`]: routed into `lo` but not local, so a SYN to it vanishes and connects time out;
//! - [`PROHIBITED`]: a `prohibit` route, so connects fail at once with `EACCES`, as a local firewall's refusal.
//!
//! Nothing leaves the namespace: it has no interface but `lo`. The child is the same test binary, run with
//! `--exact <test>` and [`CHILD_ENV`] naming the scenario; the parent waits for it (at most [`CHILD_TIMEOUT`]) and
//! fails unless it ran that one test and passed.
//!
//! Needs root, `unshare` (util-linux) and `ip` (iproute2): `.ci/netns.sh` checks them and writes
//! `/var/tmp/smtp-probe-netns/env` (`SMTP_PROBE_NETNS_UNSHARE`, `SMTP_PROBE_NETNS_IP`). Without that env file the
//! scenarios are skipped with a line on stderr, unless `SMTP_PROBE_REQUIRE_SERVICES=1` (CI), where they fail.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use smtp_probe_testserver::dns::{DnsServer, Zone};
use smtp_probe_testserver::{Responder, ServerBuilder, TestServer, services};

/// The variable that tells the child which scenario it runs.
pub const CHILD_ENV: &str = "SMTP_PROBE_ISOLATED";

/// Connects to this address time out (inside the namespace).
pub const BLACKHOLE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);

/// Connects to this address are refused by a local policy (`EACCES`, inside the namespace).
pub const PROHIBITED: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

/// How long the parent waits for the child.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// The default state directory of `.ci/netns.sh`.
pub const DEFAULT_DIR: &str = "/var/tmp/smtp-probe-netns";

/// What `.ci/netns.sh` found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetnsEnv {
    /// `unshare` (util-linux).
    pub unshare: PathBuf,
    /// `ip` (iproute2).
    pub ip: PathBuf,
}

/// The namespace tooling, from the environment or from the env file of `.ci/netns.sh`.
pub fn env() -> Option<NetnsEnv> {
    let dir = std::env::var("SMTP_PROBE_NETNS_DIR").unwrap_or_else(|_| DEFAULT_DIR.to_owned());
    from_vars(&services::vars("SMTP_PROBE_NETNS_", "UNSHARE", Path::new(&dir))?)
}

fn from_vars(vars: &HashMap<String, String>) -> Option<NetnsEnv> {
    let path = |name: &str| vars.get(&format!("SMTP_PROBE_NETNS_{name}")).filter(|v| !v.is_empty()).map(PathBuf::from);
    Some(NetnsEnv { unshare: path("UNSHARE")?, ip: path("IP")? })
}

/// Whether this process is the child that runs scenario `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == name)
}

/// The names the child's DNS server knows.
pub mod names {
    /// Never answered: every lookup hangs until the resolver gives up (30 s).
    pub const SLOW: &str = "slow.test";
    /// A → [`BLACKHOLE`](super::BLACKHOLE), AAAA → `::1`.
    pub const SPLIT: &str = "split.test";
}

/// What a scenario finds in the child: its DNS server on `127.0.0.1:53`, answering for [`names`], and two plain
/// SMTP servers, the same for every adapter the scenario runs (so that their reports can be compared).
#[derive(Debug)]
pub struct Isolated {
    /// The DNS server the OS resolver asks.
    pub dns: DnsServer,
    /// A plain SMTP server on `127.0.0.1`.
    pub v4: TestServer,
    /// A plain SMTP server on `[::1]`.
    pub v6: TestServer,
}

impl Isolated {
    /// Starts the child's servers. Panics outside the child's namespace (port 53 is taken, or not allowed).
    pub fn start() -> Isolated {
        let mut zone = Zone::default();
        zone.silent(names::SLOW).a(names::SPLIT, BLACKHOLE).aaaa(names::SPLIT, Ipv6Addr::LOCALHOST);
        let dns = DnsServer::start_on(zone, SocketAddr::from((Ipv4Addr::LOCALHOST, 53)))
            .expect("the child's DNS server on 127.0.0.1:53 (inside the namespace)");
        let v4 = Responder::new().start().expect("a server on 127.0.0.1");
        let v6 = ServerBuilder::new(Responder::new()).bind((Ipv6Addr::LOCALHOST, 0).into()).start();
        Isolated { dns, v4, v6: v6.expect("a server on [::1] (inside the namespace)") }
    }
}

/// The parent's part: runs `test` (its libtest name, e.g. `smol::out_of_file_descriptors`) again in a child process
/// inside the namespace, for scenario `name`, and panics unless that one test ran there and passed. Skips (with a
/// line on stderr) when there is no namespace tooling, unless services are required.
pub fn run_in_child(test: &str, name: &str) {
    let Some(env) = env().or_else(|| services::skip(test, "network namespace", "run .ci/netns.sh as root")) else {
        return;
    };
    let exe = std::env::current_exe().expect("the test binary's path");
    let work = std::env::temp_dir().join(format!("smtp-probe-isolated-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&work).expect("a scratch directory");
    let resolv = work.join("resolv.conf");
    // One attempt of 30 s: a hung lookup outlives every deadline of the scenarios.
    std::fs::write(&resolv, "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n").expect("resolv.conf");
    let (stdout, stderr) = (work.join("stdout"), work.join("stderr"));
    let script = r#"set -e
"$NETNS_IP" link set lo up
"$NETNS_IP" route add 192.0.2.0/24 dev lo
"$NETNS_IP" route add prohibit 198.51.100.0/24
mount --bind "$NETNS_RESOLV" /etc/resolv.conf
exec "$@""#;
    let mut child = Command::new(&env.unshare)
        .args(["--net", "--mount", "--", "sh", "-c", script, "sh"])
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .env("NETNS_IP", &env.ip)
        .env("NETNS_RESOLV", &resolv)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("a file for stdout"))
        .stderr(std::fs::File::create(&stderr).expect("a file for stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("{test}: cannot start {}: {e}", env.unshare.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break Some(status);
        }
        if started.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&work);
    let shown = format!("--- child stdout\n{out}\n--- child stderr\n{err}");
    let Some(status) = status else { panic!("{test}: the isolated child ran longer than {CHILD_TIMEOUT:?}\n{shown}") };
    assert!(status.success(), "{test}: the isolated child failed ({status})\n{shown}");
    // libtest passes when no test matches the filter: make sure this one ran.
    assert!(out.contains("test result: ok. 1 passed"), "{test}: the child did not run the test\n{shown}");
    eprint!("{err}");
}

/// The number of threads of this process (Linux).
pub fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line")
}

/// Opens `/dev/null` until the process has no file descriptor left; the files are closed when dropped. The limit
/// is lowered first (with `prlimit`), so this takes few files whatever the machine's limit is.
pub fn exhaust_file_descriptors() -> Vec<std::fs::File> {
    let pid = std::process::id().to_string();
    let lowered = Command::new("prlimit").args(["--pid", &pid, "--nofile=256"]).status();
    assert!(lowered.is_ok_and(|s| s.success()), "prlimit could not lower the descriptor limit");
    let mut files = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => files.push(file),
            Err(e) if e.raw_os_error() == Some(24) => return files, // EMFILE
            Err(e) => panic!("opening /dev/null: {e}"),
        }
        assert!(files.len() < 100_000, "no descriptor limit reached");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_env_file_format() {
        let vars =
            services::parse_env_file("SMTP_PROBE_NETNS_UNSHARE=/usr/bin/unshare\nSMTP_PROBE_NETNS_IP=/sbin/ip\n");
        let env = from_vars(&vars).unwrap();
        assert_eq!((env.unshare.to_str(), env.ip.to_str()), (Some("/usr/bin/unshare"), Some("/sbin/ip")));
        assert_eq!(from_vars(&HashMap::new()), None);
    }

    #[test]
    fn counts_its_threads() {
        // `cargo test` runs this binary's other tests beside this one, each on a thread of its own that may start
        // or end between two counts: count in a child process running this test alone.
        const CHILD: &str = "SMTP_PROBE_COUNT_THREADS_CHILD";
        if std::env::var_os(CHILD).is_none() {
            let out = Command::new(std::env::current_exe().expect("the test binary"))
                .args(["--exact", "isolated::tests::counts_its_threads", "--test-threads=1"])
                .env(CHILD, "1")
                .output()
                .expect("the test binary runs again");
            let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && said.contains("test result: ok. 1 passed"), "{said}");
            return;
        }
        let before = threads();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || rx.recv());
        assert_eq!(threads(), before + 1);
        drop(tx);
        let _ = thread.join();
    }
}
