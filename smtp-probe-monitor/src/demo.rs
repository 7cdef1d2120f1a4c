//! `smtp-probe-monitor --demo`: the monitor against servers on this machine, so the status page, the API and the
//! metrics show something real on a machine without network: the bundled demo server
//! ([`smtp_probe_testserver::demo`]: STARTTLS with a CA made for the run, AUTH, an envelope) and five scripted ones
//! that fail in the ways mail servers do — a 4xx greeting, a slow greeting, a certificate about to expire, a relay
//! that fails and recovers every few minutes, and one that refuses service with markup in its reply (shown escaped).
//!
//! State goes to a temporary directory, removed when the demo ends. Checks run every 15 s (`min_interval` lowered: these
//! servers are the demo's own) and a failure is confirmed 3 s later, so incidents open within a
//! minute.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smtp_probe_testserver::certs::{CertSpec, TestPki, Validity};
use smtp_probe_testserver::{Responder, Script, ServerBuilder, TestServer};

use crate::config::{Config, ConfigError};
use crate::http::blackbox::{Module, Modules};

/// The demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A server, a certificate or the temporary directory could not be made.
    #[error("demo setup: {0}")]
    Setup(String),
    /// The generated configuration was refused (a bug).
    #[error("demo configuration: {0}")]
    Config(#[from] ConfigError),
}

fn setup(e: impl std::fmt::Display) -> DemoError {
    DemoError::Setup(e.to_string())
}

/// The running demo servers and the configuration that watches them. Dropping it stops the servers and removes
/// the state directory.
pub struct Demo {
    /// The monitor's configuration (SQLite in the state directory).
    pub config: Config,
    demo: Arc<smtp_probe_testserver::demo::Demo>,
    _servers: Vec<TestServer>,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo").field("dir", &self.dir.path()).finish_non_exhaustive()
    }
}

/// A relay that takes mail for `ok` connections, then refuses `failing`, over and over (long enough for days).
fn flaky(ok: usize, failing: usize) -> Vec<Script> {
    let up = Script::new()
        .reply("220 relay.demo.test ESMTP")
        .expect("EHLO")
        .reply("250-relay.demo.test\n250 SIZE 10240000")
        .expect("QUIT")
        .reply("221 2.0.0 Bye");
    let down = Script::new().reply("554 5.3.2 relay.demo.test: queue full, not accepting mail").expect_line().close();
    (0..20_000).map(|i| if i % (ok + failing) < ok { up.clone() } else { down.clone() }).collect()
}

impl Demo {
    /// Starts the servers and writes the configuration; the HTTP side listens on `listen`.
    pub fn start(listen: std::net::SocketAddr) -> Result<Demo, DemoError> {
        let dir = tempfile::Builder::new().prefix("smtp-probe-monitor-demo-").tempdir().map_err(setup)?;
        let demo = Arc::new(smtp_probe_testserver::demo::Demo::start().map_err(setup)?);
        let pki = TestPki::new().map_err(setup)?;
        let expiring = pki.issue(CertSpec::new().validity(Validity::ExpiresInDays(5))).map_err(setup)?;
        let start = |b: ServerBuilder| b.record(false).start().map_err(setup);
        let servers = vec![
            start(ServerBuilder::new(
                Responder::new().hostname("mx2.demo.test").greeting("421 4.3.2 mx2.demo.test: too busy, try again later"),
            ))?,
            start(ServerBuilder::new(
                Responder::new().hostname("submit.demo.test").greeting_delay(Duration::from_millis(1200)),
            ))?,
            start(ServerBuilder::new(Responder::new().hostname("mx3.demo.test").cert(&expiring)))?,
            start(ServerBuilder::new(flaky(24, 5)))?,
            start(ServerBuilder::new(Responder::new().greeting(
                "554 5.7.1 <script>alert(\"old.demo.test\")</script> no SMTP service here, see <b>https://demo.test/moved</b>",
            )))?,
        ];
        write(&dir.path().join("demo-ca.pem"), demo.ca_pem())?;
        write(&dir.path().join("expiring-ca.pem"), pki.ca_pem())?;
        write(&dir.path().join("demo-password"), smtp_probe_testserver::demo::PASSWORD)?;
        let text = format!(
            r#"
[service]
data_dir = "{data}"
listen = "{listen}"
ehlo_name = "monitor.demo.test"
instance = "demo"

[scheduler]
min_host_spacing = "0s"
min_interval = "15s"

[defaults]
interval = "15s"

[incidents]
recheck_after = "3s"
open_after = 2
close_after = 2

[http]
title = "Demo mail status"

[[monitors]]
name = "Inbound MX 1"
target = "{mx1}"
tls = "required"
tls_name = "{tls_name}"
ca_file = "demo-ca.pem"
auth = {{ username = "{user}", password_file = "demo-password" }}
envelope = {{ from = "{from}", to = ["{rcpt}"] }}
tags = ["inbound"]

[[monitors]]
name = "Inbound MX 2 (busy)"
target = "{mx2}"
tls = "none"
tags = ["inbound"]

[[monitors]]
name = "Inbound MX 3 (certificate expiring)"
target = "{mx3}"
tls = "required"
tls_name = "mx.test"
ca_file = "expiring-ca.pem"
thresholds = {{ certificate_days_warning = 21, certificate_days_critical = 2 }}
tags = ["inbound"]

[[monitors]]
name = "Submission (slow)"
target = "{submit}"
tls = "none"
thresholds = {{ response_warning = "1s", response_critical = "4s" }}
tags = ["submission"]

[[monitors]]
name = "Outbound relay (flaky)"
target = "{relay}"
tls = "none"
tags = ["relay"]

[[monitors]]
name = "Old MX (decommissioned)"
target = "{old}"
tls = "none"
tags = ["relay"]
"#,
            data = dir.path().join("data").display(),
            mx1 = demo.target(),
            tls_name = smtp_probe_testserver::demo::TLS_NAME,
            user = smtp_probe_testserver::demo::USER,
            from = smtp_probe_testserver::demo::FROM,
            rcpt = smtp_probe_testserver::demo::RCPT,
            mx2 = servers[0].addr(),
            submit = servers[1].addr(),
            mx3 = servers[2].addr(),
            relay = servers[3].addr(),
            old = servers[4].addr(),
        );
        let config = Config::from_toml_str(&text, dir.path())?;
        Ok(Demo { config, demo, _servers: servers, dir })
    }

    /// The state directory (removed when the demo ends).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `/probe` module `demo`, for the demo server only (its credentials go nowhere else).
    pub fn probe_modules(&self) -> Modules {
        Modules::from([("demo".to_owned(), Module::demo(self.demo.clone(), Duration::from_secs(10)))])
    }

    /// The demo server's address, for a `/probe?target=` example.
    pub fn demo_target(&self) -> String {
        self.demo.target().to_string()
    }
}

fn write(path: &Path, text: &str) -> Result<(), DemoError> {
    std::fs::write(path, text).map_err(|e| DemoError::Setup(format!("{}: {e}", path.display())))
}
