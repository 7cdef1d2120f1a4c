//! `exporter`: a Prometheus exporter in the style of the blackbox exporter. Prometheus asks it to probe a target
//! with a named module, and it answers with the probe's metrics:
//!
//! - `GET /probe?target=HOST:PORT&module=NAME` runs one probe and returns exactly what
//!   `smtp-probe --format prometheus` prints for it (the same renderer, [`smtp_probe_cli::render::prometheus`]):
//!   `smtp_probe_up`, `smtp_probe_verdict`, `smtp_probe_cause`, durations, reply codes, TLS and certificate
//!   expiry. `target` may also be `smtp://`, `submission://` or `smtps://` + host; `module` defaults to `smtp`.
//!   A bad request (no target, an unknown module) is a 400.
//! - `GET /metrics`: the exporter's own counters (`smtp_probe_exporter_probes_total{module,verdict}`,
//!   `smtp_probe_exporter_bad_requests_total`).
//!
//! ```text
//! exporter --listen 127.0.0.1:9125                       # built-in modules: smtp, submission, smtps, plain
//! exporter --listen 127.0.0.1:9125 --config modules.toml
//! exporter --demo                                        # adds module "demo" for the bundled demo server
//! curl 'http://127.0.0.1:9125/probe?target=mx.example.com:25&module=smtp'
//! ```
//!
//! Without `--config` there are four modules, using `--timeout`, `--ehlo-name` and `--ca-file`: `smtp`
//! (STARTTLS when offered), `submission` (STARTTLS required), `smtps` (implicit TLS) and `plain` (no TLS). A
//! config file replaces them:
//!
//! ```toml
//! [modules.submission]
//! tls = "starttls_required"        # none | starttls | starttls_required | implicit (default: the target's
//!                                  # scheme, else starttls)
//! ehlo_name = "monitor.example.com"
//! timeout = 10                     # seconds, cut to Prometheus's scrape timeout
//! tls_name = "mail.example.com"    # SNI and certificate name, when the target is an address
//! ca_file = "/etc/ssl/private-ca.pem"
//! response_warning = 2.0           # seconds: degraded above
//! response_critical = 5.0          # seconds: down above
//! certificate_days_warning = 21
//! certificate_days_critical = 7
//! auth = { username = "monitor", password_env = "SMTP_PROBE_PASSWORD" }
//! ```
//!
//! The password is read from the environment once, at start: it never appears in the file or on the command
//! line. A scrape configuration as for the blackbox exporter:
//!
//! ```yaml
//! scrape_configs:
//!   - job_name: smtp
//!     metrics_path: /probe
//!     params: { module: [submission] }
//!     scrape_interval: 5m            # minutes, not seconds: receivers rate-limit
//!     static_configs: [{ targets: ["mail.example.com:587"] }]
//!     relabel_configs:
//!       - { source_labels: [__address__], target_label: __param_target }
//!       - { target_label: __address__, replacement: "127.0.0.1:9125" }
//! ```
//!
//! Operating advice: every scrape is a real SMTP connection, so **scrape every few minutes, not every 15 s**
//! (receivers rate-limit and greylist eager clients; a monitor that gets itself blocked reports an outage it
//! caused). Each probe ends with QUIT, and is cut to the scrape timeout Prometheus announces
//! (`X-Prometheus-Scrape-Timeout-Seconds`, less half a second) so Prometheus gets an answer rather than a
//! failed scrape. Anyone who can reach `/probe` can make this host connect anywhere: keep it on loopback or
//! behind the same access control as Prometheus.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use serde::Deserialize;
use smtp_probe_cli::demo::Demo;
use smtp_probe_cli::render::{Results, prometheus};
use smtp_probe_tokio::proto::Secret;
use smtp_probe_tokio::{ProbeConfig, Report, Target, TlsConfig, TlsMode, Verdict};
use tokio::net::TcpListener;

use crate::common::{self, Error, parse_seconds};

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Taken off Prometheus's scrape timeout, to leave time to send the answer (the blackbox exporter's default).
const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// The shortest probe budget, however short the scrape timeout.
const MIN_BUDGET: Duration = Duration::from_millis(100);

/// The command line of `exporter`.
#[derive(Debug, Clone, Parser)]
#[command(name = "exporter", version, about = "A Prometheus exporter for SMTP probes, in the blackbox style")]
pub struct Args {
    /// Address to serve HTTP on.
    #[arg(long, default_value = "127.0.0.1:9125")]
    pub listen: SocketAddr,
    /// A TOML file of modules (replaces the built-in smtp, submission, smtps and plain).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seconds a probe may take, for the built-in modules.
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    pub timeout: Duration,
    /// The EHLO name of the built-in modules (default: this machine's FQDN, else localhost).
    #[arg(long)]
    pub ehlo_name: Option<String>,
    /// Trust the CAs of this PEM file too, in the built-in modules.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Add a module "demo" and start the bundled loopback demo server for it.
    #[arg(long)]
    pub demo: bool,
}

/// Credentials of a module: the user name, and the environment variable holding the password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// The user name.
    pub username: String,
    /// The environment variable to read the password from.
    pub password_env: String,
    /// Send the credentials without TLS (for a module with `tls = "none"`). Off by default.
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// One module as written in the config file; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSpec {
    /// How to use TLS, by the library's names: `none`, `starttls` (when offered), `starttls_required` or
    /// `implicit` (default: the target's scheme, else STARTTLS when offered).
    pub tls: Option<TlsMode>,
    /// The SNI and certificate name, when it differs from the target.
    pub tls_name: Option<String>,
    /// A PEM file of CAs to trust besides the bundled roots.
    pub ca_file: Option<PathBuf>,
    /// The EHLO name (default: this machine's FQDN, else localhost).
    pub ehlo_name: Option<String>,
    /// Seconds a probe may take (default 10), cut to the scrape timeout.
    pub timeout: Option<f64>,
    /// Seconds above which the probe is degraded.
    pub response_warning: Option<f64>,
    /// Seconds above which the probe is down.
    pub response_critical: Option<f64>,
    /// Certificate days left below which the probe is degraded.
    pub certificate_days_warning: Option<u32>,
    /// Certificate days left below which the probe is down.
    pub certificate_days_critical: Option<u32>,
    /// Authenticate.
    pub auth: Option<AuthSpec>,
}

/// The config file: `[modules.NAME]` tables.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The modules by name.
    pub modules: BTreeMap<String, ModuleSpec>,
}

impl ConfigFile {
    /// Parses the TOML text of a config file.
    pub fn parse(text: &str) -> Result<ConfigFile, Error> {
        toml::from_str(text).map_err(|e| Error::new(format!("invalid module configuration: {e}")))
    }
}

/// A module ready to probe with: files and the environment read, values checked.
#[derive(Debug, Clone)]
pub struct Module {
    tls: Option<TlsMode>,
    tls_name: Option<String>,
    tls_config: Option<TlsConfig>,
    ehlo_name: String,
    timeout: Duration,
    response: (Option<Duration>, Option<Duration>),
    certificate_days: (Option<u32>, Option<u32>),
    auth: Option<(String, Secret, bool)>,
    demo: Option<Arc<Demo>>,
}

impl Module {
    /// Prepares a module: reads its CA file and its password from the environment, and checks that it builds a
    /// valid probe configuration.
    pub fn from_spec(name: &str, spec: &ModuleSpec) -> Result<Module, Error> {
        let invalid = |what: &str| Error::new(format!("module {name}: {what}"));
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(invalid("a module name is made of letters, digits, '_' and '-'"));
        }
        let seconds = |value: Option<f64>, field: &str| {
            value.map(|s| parse_seconds(&s.to_string()).map_err(|e| invalid(&format!("{field}: {e}")))).transpose()
        };
        let auth = match &spec.auth {
            None => None,
            Some(auth) => {
                let password = std::env::var(&auth.password_env)
                    .map_err(|_| invalid(&format!("the environment variable {} is not set", auth.password_env)))?;
                Some((auth.username.clone(), Secret::new(password), auth.allow_plaintext))
            }
        };
        let module = Module {
            tls: spec.tls,
            tls_name: spec.tls_name.clone(),
            tls_config: spec.ca_file.as_deref().map(common::tls_config_with_ca_file).transpose()?,
            ehlo_name: spec.ehlo_name.clone().unwrap_or_else(smtp_probe_cli::hostname::default_ehlo_name),
            timeout: seconds(spec.timeout, "timeout")?.unwrap_or(Duration::from_secs(10)),
            response: (
                seconds(spec.response_warning, "response_warning")?,
                seconds(spec.response_critical, "response_critical")?,
            ),
            certificate_days: (spec.certificate_days_warning, spec.certificate_days_critical),
            auth,
            demo: None,
        };
        let any_target = Target::new("localhost", 25).expect("a valid target");
        module.config(any_target, module.timeout).map_err(|e| invalid(&e.to_string()))?;
        Ok(module)
    }

    /// The module that probes the bundled demo server (STARTTLS against its CA, AUTH, an envelope).
    pub fn demo(demo: Arc<Demo>, timeout: Duration) -> Module {
        Module {
            tls: None,
            tls_name: None,
            tls_config: None,
            ehlo_name: "localhost".to_owned(),
            timeout,
            response: (None, None),
            certificate_days: (None, None),
            auth: None,
            demo: Some(demo),
        }
    }

    /// The probe configuration for `target`, bounded by `budget`. The module's TLS mode, when it sets one, wins
    /// over the one the target's scheme implies.
    pub fn config(&self, target: Target, budget: Duration) -> Result<ProbeConfig, Error> {
        let mut builder = common::builder(target, budget).ehlo_name(self.ehlo_name.as_str()).transcript(false);
        if let Some(mode) = self.tls {
            builder = builder.tls(mode);
        }
        if let Some(name) = &self.tls_name {
            builder = builder.tls_name(name);
        }
        if let Some(tls) = &self.tls_config {
            builder = builder.tls_config(tls.clone());
        }
        builder = builder.response_time(self.response.0, self.response.1);
        builder = builder.certificate_days(self.certificate_days.0, self.certificate_days.1);
        if let Some((user, password, plaintext)) = &self.auth {
            builder = builder.auth(user.as_str(), password.clone()).allow_plaintext_auth(*plaintext);
        }
        if let Some(demo) = &self.demo {
            builder = demo.configure(builder);
        }
        builder.build().map_err(|e| Error::new(format!("invalid configuration: {e}")))
    }
}

/// The built-in modules, for running without a config file.
pub fn builtin_modules(timeout: Duration, ehlo_name: Option<&str>, ca_file: Option<&Path>) -> Result<Modules, Error> {
    let mut modules = Modules::new();
    for (name, tls) in [
        ("smtp", TlsMode::StartTlsOpportunistic),
        ("submission", TlsMode::StartTlsRequired),
        ("smtps", TlsMode::Implicit),
        ("plain", TlsMode::None),
    ] {
        let spec = ModuleSpec {
            tls: Some(tls),
            ehlo_name: ehlo_name.map(str::to_owned),
            ca_file: ca_file.map(Path::to_path_buf),
            timeout: Some(timeout.as_secs_f64()),
            ..ModuleSpec::default()
        };
        modules.insert(name.to_owned(), Module::from_spec(name, &spec)?);
    }
    Ok(modules)
}

/// Modules by name.
pub type Modules = BTreeMap<String, Module>;

impl Args {
    /// The modules of the config file, or the built-in ones; with `--demo`, also module `demo` and its server
    /// (which runs until the returned handle is dropped).
    pub fn modules(&self) -> Result<(Modules, Option<Arc<Demo>>), Error> {
        let mut modules = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))?;
                let file = ConfigFile::parse(&text)?;
                file.modules
                    .iter()
                    .map(|(name, spec)| Ok((name.clone(), Module::from_spec(name, spec)?)))
                    .collect::<Result<_, Error>>()?
            }
            None => builtin_modules(self.timeout, self.ehlo_name.as_deref(), self.ca_file.as_deref())?,
        };
        let demo = if self.demo {
            let (demo, _) = common::start_demo()?;
            let demo = Arc::new(demo);
            modules.insert("demo".to_owned(), Module::demo(demo.clone(), self.timeout));
            Some(demo)
        } else {
            None
        };
        if modules.is_empty() {
            return Err(Error::new("no modules configured"));
        }
        Ok((modules, demo))
    }
}

/// The exporter's own counters.
#[derive(Debug, Default)]
pub struct Counters {
    probes: Mutex<BTreeMap<(String, &'static str), u64>>,
    bad_requests: Mutex<u64>,
}

impl Counters {
    /// Counters starting at zero for every module and verdict (so each series exists before its first probe).
    pub fn new<'a>(modules: impl IntoIterator<Item = &'a String>) -> Counters {
        let counters = Counters::default();
        {
            let mut probes = counters.probes.lock().unwrap_or_else(|e| e.into_inner());
            for module in modules {
                for verdict in [Verdict::Up, Verdict::Degraded, Verdict::Down] {
                    probes.insert((module.clone(), verdict.as_str()), 0);
                }
            }
        }
        counters
    }

    fn probed(&self, module: &str, verdict: Verdict) {
        let mut probes = self.probes.lock().unwrap_or_else(|e| e.into_inner());
        *probes.entry((module.to_owned(), verdict.as_str())).or_default() += 1;
    }

    fn bad_request(&self) {
        *self.bad_requests.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    /// The exposition of the counters (Prometheus text format).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP smtp_probe_exporter_probes_total Probes run by this exporter, by module and verdict.\n");
        out.push_str("# TYPE smtp_probe_exporter_probes_total counter\n");
        for ((module, verdict), count) in self.probes.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            // Module names are checked to be [A-Za-z0-9_-]: nothing to escape.
            let _ =
                writeln!(out, "smtp_probe_exporter_probes_total{{module=\"{module}\",verdict=\"{verdict}\"}} {count}");
        }
        out.push_str(
            "# HELP smtp_probe_exporter_bad_requests_total Probe requests refused (no target, unknown module).\n",
        );
        out.push_str("# TYPE smtp_probe_exporter_bad_requests_total counter\n");
        let bad = *self.bad_requests.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "smtp_probe_exporter_bad_requests_total {bad}");
        out
    }
}

/// The exporter's shared state: its modules and counters.
#[derive(Debug, Clone)]
pub struct Exporter {
    modules: Arc<Modules>,
    counters: Arc<Counters>,
}

impl Exporter {
    /// An exporter serving these modules.
    pub fn new(modules: Modules) -> Exporter {
        let counters = Arc::new(Counters::new(modules.keys()));
        Exporter { modules: Arc::new(modules), counters }
    }

    /// Probes `target` with module `module` within `scrape_timeout` (when Prometheus announced one) and returns
    /// the report; `Err` is a bad request.
    pub async fn probe(&self, target: &str, module: &str, scrape_timeout: Option<Duration>) -> Result<Report, Error> {
        let Some(spec) = self.modules.get(module) else {
            return Err(Error::new(format!("unknown module {module:?}")));
        };
        let parsed = common::parse_target(target)?;
        let budget = match scrape_timeout {
            Some(limit) => spec.timeout.min(limit.saturating_sub(TIMEOUT_OFFSET)).max(MIN_BUDGET),
            None => spec.timeout,
        };
        let config = spec.config(parsed, budget)?;
        let report = common::probe_bounded(&config).await;
        self.counters.probed(module, report.verdict);
        Ok(report)
    }

    /// The HTTP routes: `GET /probe` and `GET /metrics`.
    pub fn router(self) -> Router {
        Router::new().route("/probe", get(probe_handler)).route("/metrics", get(metrics_handler)).with_state(self)
    }
}

/// The query of `/probe`.
#[derive(Debug, Deserialize)]
struct ProbeQuery {
    target: Option<String>,
    module: Option<String>,
}

async fn probe_handler(
    State(exporter): State<Exporter>,
    Query(query): Query<ProbeQuery>,
    headers: HeaderMap,
) -> Response {
    let scrape_timeout = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)));
    let module = query.module.as_deref().unwrap_or("smtp");
    let result = match query.target.as_deref().filter(|t| !t.trim().is_empty()) {
        None => Err(Error::new("the target parameter is missing")),
        Some(target) => exporter.probe(target, module, scrape_timeout).await,
    };
    match result {
        Ok(report) => {
            let body = prometheus::render(&Results::of_targets(vec![report]));
            ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
        }
        Err(e) => {
            exporter.counters.bad_request();
            (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
        }
    }
}

async fn metrics_handler(State(exporter): State<Exporter>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], exporter.counters.render()).into_response()
}

/// Serves the exporter on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    exporter: Exporter,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, exporter.router()).with_graceful_shutdown(shutdown).await
}

/// The program: parse, bind, serve until Ctrl-C.
pub async fn run(args: Args) -> Result<(), Error> {
    let (modules, demo) = args.modules()?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::new(format!("cannot listen on {}: {e}", args.listen)))?;
    let names: Vec<&str> = modules.keys().map(String::as_str).collect();
    eprintln!("exporter: serving http://{}/probe and /metrics, modules: {}", args.listen, names.join(", "));
    if let Some(demo) = &demo {
        eprintln!("exporter: try http://{}/probe?target={}&module=demo", args.listen, demo.target());
    }
    serve(listener, Exporter::new(modules), common::ctrl_c()).await.map_err(|e| Error::new(format!("HTTP server: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file() {
        let file = ConfigFile::parse(
            r#"
            [modules.submission]
            tls = "starttls_required"
            ehlo_name = "monitor.example.com"
            timeout = 5
            response_warning = 2.5
            certificate_days_warning = 21
            certificate_days_critical = 7
            "#,
        )
        .unwrap();
        let spec = &file.modules["submission"];
        assert_eq!(spec.tls, Some(TlsMode::StartTlsRequired));
        let module = Module::from_spec("submission", spec).unwrap();
        let config = module.config(Target::new("mx.example", 587).unwrap(), Duration::from_secs(3)).unwrap();
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
        assert_eq!(config.timeouts().overall, Duration::from_secs(3));
        assert_eq!(config.thresholds().response_warning, Some(Duration::from_millis(2500)));

        assert!(ConfigFile::parse("[modules.x]\ntls = \"sometimes\"").is_err());
        assert!(ConfigFile::parse("[modules.x]\ntimeout_s = 3").is_err());
        let err = Module::from_spec("x", &ModuleSpec { ehlo_name: Some("a\r\nb".into()), ..ModuleSpec::default() });
        assert!(err.is_err());
        let missing = AuthSpec {
            username: "u".into(),
            password_env: "SMTP_PROBE_EXAMPLES_UNSET_VARIABLE".into(),
            allow_plaintext: false,
        };
        let err = Module::from_spec("x", &ModuleSpec { auth: Some(missing), ..ModuleSpec::default() }).unwrap_err();
        assert!(err.to_string().contains("SMTP_PROBE_EXAMPLES_UNSET_VARIABLE"), "{err}");
        assert!(Module::from_spec("a b", &ModuleSpec::default()).is_err());
    }

    #[test]
    fn counters_render() {
        let counters = Counters::new([&"smtp".to_owned()]);
        counters.probed("smtp", Verdict::Up);
        counters.bad_request();
        let text = counters.render();
        assert!(text.contains("smtp_probe_exporter_probes_total{module=\"smtp\",verdict=\"up\"} 1\n"), "{text}");
        assert!(text.contains("smtp_probe_exporter_probes_total{module=\"smtp\",verdict=\"down\"} 0\n"), "{text}");
        assert!(text.contains("smtp_probe_exporter_bad_requests_total 1\n"), "{text}");
    }
}
