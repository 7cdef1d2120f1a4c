//! Headless Chromium for tests of HTML pages: a screenshot (PNG) and the rendered DOM of a page on loopback.
//!
//! The browser runs with a profile, `HOME` and `TMPDIR` of its own (a fresh directory, removed afterwards), and
//! with every host name mapped to nothing except `127.0.0.1` (`--host-resolver-rules`): with IP-literal URLs it
//! makes no DNS query and no connection beyond loopback. It is found through `SMTP_PROBE_CHROMIUM`, else the env
//! file `.ci/chromium.sh` writes (`/var/tmp/smtp-probe-chromium/env`); when neither names one, the test is
//! skipped with a line on stderr, or fails when `SMTP_PROBE_REQUIRE_SERVICES=1`.
//!
//! ```no_run
//! use smtp_probe_testserver::chromium::Chromium;
//!
//! let Some(chromium) = Chromium::find("my_test") else { return };
//! let dom = chromium.dump_dom("http://127.0.0.1:8080/").unwrap();
//! chromium.screenshot("http://127.0.0.1:8080/", (1280, 900), "/tmp/page.png".as_ref()).unwrap();
//! # let _ = dom;
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::services;

/// The env file `.ci/chromium.sh` writes.
pub const ENV_DIR: &str = "/var/tmp/smtp-probe-chromium";

/// The flags every run gets (from the tested set in the test-services notes): no sandbox (tests run as root), no
/// GPU, no shared-memory files, no first-run work, no background networking of any kind.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--metrics-recording-only",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    // One argument: every name resolves to nothing, loopback excepted.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
];

/// How long one browser run may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// A Chromium binary to run.
#[derive(Debug, Clone)]
pub struct Chromium {
    binary: PathBuf,
}

static RUNS: AtomicU32 = AtomicU32::new(0);

/// A directory of its own for one run, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "smtp-probe-chromium-{}-{}-{nanos}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("tmp"))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Chromium {
    /// The browser `.ci/chromium.sh` installed, or `None` (printing why `test` skips) — a failure instead when
    /// services are required.
    pub fn find(test: &str) -> Option<Chromium> {
        let vars = services::vars("SMTP_PROBE_CHROMIUM", "", Path::new(ENV_DIR));
        let binary = vars.and_then(|v| v.get("SMTP_PROBE_CHROMIUM").cloned()).filter(|b| !b.is_empty());
        match binary {
            Some(b) if Path::new(&b).exists() => Some(Chromium { binary: PathBuf::from(b) }),
            _ => services::skip(test, "headless Chromium", "run .ci/chromium.sh, or set SMTP_PROBE_CHROMIUM"),
        }
    }

    /// A browser at this path.
    pub fn at(binary: impl Into<PathBuf>) -> Chromium {
        Chromium { binary: binary.into() }
    }

    fn run(&self, url: &str, extra: &[String]) -> Result<Vec<u8>, String> {
        let host = url.strip_prefix("http://").and_then(|r| r.split('/').next()).unwrap_or("");
        if !(host.starts_with("127.") || host.starts_with("[::1]")) {
            return Err(format!("{url}: tests load pages from an IP literal on loopback only"));
        }
        let scratch = Scratch::new().map_err(|e| format!("scratch directory: {e}"))?;
        let mut child = Command::new(&self.binary)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", scratch.0.join("profile").display()))
            .args(extra)
            .arg(url)
            .env("HOME", &scratch.0)
            .env("TMPDIR", scratch.0.join("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.binary.display()))?;
        // Read both pipes on threads so a full pipe never stalls the browser; kill it past the limit.
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
            buf
        });
        let err = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stderr, &mut buf);
            buf
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > RUN_LIMIT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("Chromium took longer than {RUN_LIMIT:?} on {url}"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(format!("waiting for Chromium: {e}")),
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        if !status.success() || stderr.contains("Page load failed") {
            return Err(format!("Chromium on {url}: {status}\n{stderr}"));
        }
        Ok(stdout)
    }

    /// The DOM after the page loaded, serialized.
    pub fn dump_dom(&self, url: &str) -> Result<String, String> {
        let out = self.run(url, &["--dump-dom".to_owned()])?;
        String::from_utf8(out).map_err(|e| format!("the DOM is not UTF-8: {e}"))
    }

    /// A screenshot of the page in a window of `size` (width, height) pixels, written to `path`.
    pub fn screenshot(&self, url: &str, size: (u32, u32), path: &Path) -> Result<(), String> {
        let _ = std::fs::remove_file(path);
        self.run(url, &[format!("--window-size={},{}", size.0, size.1), format!("--screenshot={}", path.display())])?;
        match std::fs::read(path) {
            Ok(png) if png.starts_with(b"\x89PNG\r\n\x1a\n") => Ok(()),
            Ok(_) => Err(format!("{}: not a PNG", path.display())),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}
