//! `exporter`: a Prometheus exporter in the style of the blackbox exporter. Prometheus asks it to probe a target
//! with a named module, and it answers with the probe's metrics:
//!
//! - `GET /probe?target=HOST:PORT&module=NAME` runs one probe and returns exactly what
//!   `smtp-probe --format prometheus` prints for it (the same renderer, `smtp_probe_render::prometheus`):
//!   `smtp_probe_up`, `smtp_probe_verdict`, `smtp_probe_cause`, durations, reply codes, TLS and certificate
//!   expiry; OpenMetrics when the scraper's `Accept` asks for it (Prometheus does). `target` may also be
//!   `smtp://`, `submission://` or `smtps://` + host; `module` defaults to `smtp`. A bad request (no target, an
//!   unknown module, a target off the module's allow-list) is a 400; a probe past `--max-probes` running at once
//!   is a 503.
//! - `GET /metrics`: the exporter's own metrics (`smtp_probe_exporter_probes_total{module,verdict}`,
//!   `smtp_probe_exporter_bad_requests_total`, `smtp_probe_exporter_busy_total`,
//!   `smtp_probe_exporter_probes_in_flight`).
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
//! allow = ["mail.example.com:587", "*.mx.example.com", "192.0.2.0/24"]   # required with auth
//! allow_addresses = ["10.20.0.0/16"] # address ranges a request may reach after all (see below)
//! ```
//!
//! **A request chooses the target, so its addresses are judged as a request's**
//! ([`AddressPolicy::new(Origin::Request)`](smtp_probe_tokio::AddressPolicy)): a target that is, or resolves to, a
//! loopback, link-local, unspecified or cloud-metadata address is never contacted, and its probe is down with
//! `address_denied`. A module's `allow_addresses` (`--allow-address` for the built-in modules) lifts that for the
//! ranges it names, e.g. `127.0.0.0/8` to probe an MTA on this host.
//!
//! **A module with credentials probes only the targets of its allow-list** (see
//! [`smtp_probe_monitor::http::allow`] for the entries: exact names, one-label `*.` wildcards, addresses and CIDR networks, each with an optional port):
//! anyone who can reach `/probe` chooses the target, and must not be able to make the exporter log in to a server
//! of theirs. The exporter refuses to start with a credentialed module that has no allow-list, and answers 400 to
//! a target off the list, without connecting to it. A module without credentials may have an allow-list too.
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
//! Bounds, against slow and eager clients alike: at most `--max-probes` (32) probes run at once, and a request
//! past that gets a 503 at once rather than a queue; each probe is cut to the scrape timeout Prometheus announces
//! (`X-Prometheus-Scrape-Timeout-Seconds`, less half a second) so Prometheus gets an answer rather than a failed
//! scrape; a client has `--header-timeout` (5 s) to send its request headers; at most `--max-connections` (256)
//! connections are open.
//!
//! Operating advice: every scrape is a real SMTP connection, so **scrape every few minutes, not every 15 s**
//! (receivers rate-limit and greylist eager clients; a monitor that gets itself blocked reports an outage it
//! caused). Each probe ends with QUIT. Anyone who can reach `/probe` can make this host connect anywhere (within
//! the modules' allow-lists): keep it on loopback or behind the same access control as Prometheus.
//!
//! The exporter is the monitor's `/probe` (`smtp_probe_monitor::http::blackbox`), served alone: this module reads
//! the command line and the module file, and [`Exporter::handle_probe`] does the rest. The monitor serves the same
//! `/probe` beside its status page and metrics, with modules from its own configuration.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use smtp_probe_monitor::config::{AuthSpec as MonitorAuth, ProbeModule, Secret};
use smtp_probe_monitor::http::allow::AllowList;
use smtp_probe_testserver::demo::Demo;
use smtp_probe_tokio::{AddressPolicy, Origin, TlsMode};
use tokio::net::TcpListener;

pub use smtp_probe_monitor::http::blackbox::{Counters, Exporter, Module, Modules, ProbeRequest, Refusal, Rendered};

use crate::common::{self, Error, HttpLimits, parse_seconds};

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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
    /// Let the built-in modules connect to this address range (`127.0.0.0/8`, `10.1.2.3`) although a request's
    /// target may not (loopback, link-local and cloud-metadata addresses are refused). Repeatable.
    #[arg(long = "allow-address", value_name = "RANGE")]
    pub allow_addresses: Vec<String>,
    /// Add a module "demo" and start the bundled loopback demo server for it.
    #[arg(long)]
    pub demo: bool,
    /// Probes running at once at most; a request past it is answered 503 at once.
    #[arg(long, default_value = "32", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_probes: u32,
    /// Seconds a client may take to send a request's headers before its connection is closed.
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    pub header_timeout: Duration,
    /// Open HTTP connections at most; more are closed at once.
    #[arg(long, default_value = "256", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_connections: u32,
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
    /// The targets this module may probe (required with `auth`): see [`smtp_probe_monitor::http::allow`].
    pub allow: Option<Vec<String>>,
    /// Address ranges (`127.0.0.0/8`, `10.1.2.3`) this module may connect to although a request's target may not:
    /// loopback, link-local, unspecified and cloud-metadata addresses are otherwise refused.
    pub allow_addresses: Option<Vec<String>>,
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

/// A PEM file of CAs, read whole (the monitor's module settings hold the bytes).
fn read_ca(path: &Path) -> Result<(PathBuf, Vec<u8>), Error> {
    let pem =
        std::fs::read(path).map_err(|e| Error::new(format!("cannot read the CA file {}: {e}", path.display())))?;
    Ok((path.to_path_buf(), pem))
}

/// Prepares a module of the file: reads its CA file and its password from the environment, checks its allow-list
/// (required when it has credentials), and checks that it builds a valid probe configuration.
pub fn module_from_spec(name: &str, spec: &ModuleSpec) -> Result<Module, Error> {
    let invalid = |what: &str| Error::new(format!("module {name}: {what}"));
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(invalid("a module name is made of letters, digits, '_' and '-'"));
    }
    let seconds = |value: Option<f64>, field: &str| {
        value.map(|s| parse_seconds(&s.to_string()).map_err(|e| invalid(&format!("{field}: {e}")))).transpose()
    };
    let allow = spec
        .allow
        .as_ref()
        .map(|entries| AllowList::parse(entries.iter().map(String::as_str)))
        .transpose()
        .map_err(|e| invalid(&e.to_string()))?;
    let auth = match &spec.auth {
        None => None,
        Some(auth) => {
            if allow.as_ref().is_none_or(AllowList::is_empty) {
                return Err(invalid(
                    "a module with credentials needs an allow-list (allow = [\"mail.example.com:587\", ...]): \
                     without one, whoever can reach /probe could have the credentials sent to a server of theirs",
                ));
            }
            let password = std::env::var(&auth.password_env)
                .map_err(|_| invalid(&format!("the environment variable {} is not set", auth.password_env)))?;
            Some(MonitorAuth {
                username: auth.username.clone(),
                password: Secret::from(password),
                mechanisms: vec!["PLAIN".into(), "LOGIN".into()],
                allow_plaintext: auth.allow_plaintext,
            })
        }
    };
    let ehlo = spec.ehlo_name.clone().unwrap_or_else(smtp_probe_tokio::default_ehlo_name);
    let mut settings =
        ProbeModule::new(spec.tls, ehlo, seconds(spec.timeout, "timeout")?.unwrap_or(Duration::from_secs(10)));
    settings.tls_name = spec.tls_name.clone();
    settings.ca_pem = spec.ca_file.as_deref().map(read_ca).transpose()?;
    settings.response_warning = seconds(spec.response_warning, "response_warning")?;
    settings.response_critical = seconds(spec.response_critical, "response_critical")?;
    settings.cert_days_warning = spec.certificate_days_warning;
    settings.cert_days_critical = spec.certificate_days_critical;
    settings.auth = auth;
    settings.allow = allow;
    settings.addresses = addresses(spec.allow_addresses.as_deref().unwrap_or_default())
        .map_err(|e| invalid(&format!("allow_addresses: {e}")))?;
    Module::new(&settings).map_err(|e| invalid(&e.to_string()))
}

/// A request's address policy with these ranges allowed.
fn addresses(ranges: &[String]) -> Result<AddressPolicy, smtp_probe_tokio::proto::AddressRangeError> {
    ranges.iter().try_fold(AddressPolicy::new(Origin::Request), |policy, range| policy.allow(range))
}

/// The built-in modules, for running without a config file; each may connect to the `allow_addresses` ranges
/// besides what a request may reach.
pub fn builtin_modules(
    timeout: Duration,
    ehlo_name: Option<&str>,
    ca_file: Option<&Path>,
    allow_addresses: &[String],
) -> Result<Modules, Error> {
    let ca = ca_file.map(read_ca).transpose()?;
    let ehlo = ehlo_name.map_or_else(smtp_probe_tokio::default_ehlo_name, str::to_owned);
    let addresses = addresses(allow_addresses).map_err(|e| Error::new(format!("--allow-address: {e}")))?;
    smtp_probe_monitor::http::blackbox::builtin_modules(timeout, &ehlo, ca.as_ref(), &addresses)
        .map_err(|e| Error::new(format!("invalid configuration: {e}")))
}

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
                    .map(|(name, spec)| Ok((name.clone(), module_from_spec(name, spec)?)))
                    .collect::<Result<_, Error>>()?
            }
            None => builtin_modules(
                self.timeout,
                self.ehlo_name.as_deref(),
                self.ca_file.as_deref(),
                &self.allow_addresses,
            )?,
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

/// The HTTP bounds for an exporter: requests are answered within the longest probe and a margin.
pub fn http_limits(exporter: &Exporter, header_read_timeout: Duration, max_connections: usize) -> HttpLimits {
    HttpLimits {
        header_read_timeout,
        request_timeout: exporter.longest_probe() + Duration::from_secs(10),
        max_connections,
    }
}

/// Serves the exporter (`/probe`, and `/metrics` with its own counters) on `listener` within `limits` until
/// `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    exporter: Exporter,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    common::serve_http(listener, exporter.router(), limits, shutdown).await
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
    let exporter = Exporter::new(modules, args.max_probes as usize);
    let limits = http_limits(&exporter, args.header_timeout, args.max_connections as usize);
    serve(listener, exporter, limits, common::ctrl_c()).await.map_err(|e| Error::new(format!("HTTP server: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_probe_tokio::Target;

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
        let module = module_from_spec("submission", spec).unwrap();
        let config = module.config(Target::new("mx.example", 587).unwrap(), Duration::from_secs(3)).unwrap();
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
        assert_eq!(config.timeouts().overall, Duration::from_secs(3));
        assert_eq!(config.thresholds().response_warning, Some(Duration::from_millis(2500)));

        assert!(ConfigFile::parse("[modules.x]\ntls = \"sometimes\"").is_err());
        assert!(ConfigFile::parse("[modules.x]\ntimeout_s = 3").is_err());
        let err = module_from_spec("x", &ModuleSpec { ehlo_name: Some("a\r\nb".into()), ..ModuleSpec::default() });
        assert!(err.is_err());
        let missing = AuthSpec {
            username: "u".into(),
            password_env: "SMTP_PROBE_EXAMPLES_UNSET_VARIABLE".into(),
            allow_plaintext: false,
        };
        let allow = Some(vec!["mail.example.com".to_owned()]);
        let err =
            module_from_spec("x", &ModuleSpec { auth: Some(missing), allow, ..ModuleSpec::default() }).unwrap_err();
        assert!(err.to_string().contains("SMTP_PROBE_EXAMPLES_UNSET_VARIABLE"), "{err}");
        assert!(module_from_spec("a b", &ModuleSpec::default()).is_err());
    }

    #[test]
    fn credentials_need_an_allow_list() {
        let env = "SMTP_PROBE_EXAMPLES_ALLOW_TEST_PASSWORD";
        let auth = Some(AuthSpec { username: "u".into(), password_env: env.into(), allow_plaintext: false });
        let spec = ModuleSpec { auth: auth.clone(), ..ModuleSpec::default() };
        let err = module_from_spec("sub", &spec).unwrap_err().to_string();
        assert!(err.starts_with("module sub: a module with credentials needs an allow-list"), "{err}");
        let empty = ModuleSpec { auth: auth.clone(), allow: Some(Vec::new()), ..ModuleSpec::default() };
        assert!(module_from_spec("sub", &empty).is_err(), "an empty allow-list is no allow-list");
        let bad = ModuleSpec { allow: Some(vec!["*".into()]), ..ModuleSpec::default() };
        assert!(module_from_spec("x", &bad).unwrap_err().to_string().contains("allow-list entry \"*\""));

        let file = ConfigFile::parse("[modules.plain]\nallow = [\"mail.example.com\", \"192.0.2.0/24:25\"]").unwrap();
        let module = module_from_spec("plain", &file.modules["plain"]).unwrap();
        assert!(module.allows(&"mail.example.com:587".parse().unwrap()));
        assert!(module.allows(&"192.0.2.9".parse().unwrap()));
        assert!(!module.allows(&"192.0.2.9:587".parse().unwrap()));
        assert!(!module.allows(&"evil.example".parse().unwrap()));
        let open = module_from_spec("open", &ModuleSpec::default()).unwrap();
        assert!(open.allows(&"anything.example".parse().unwrap()), "no credentials, no list: any target");
    }

    #[test]
    fn a_request_reaches_only_what_the_module_allows() {
        let module = module_from_spec("smtp", &ModuleSpec::default()).unwrap();
        let config = module.config("127.0.0.1:25".parse().unwrap(), Duration::from_secs(3)).unwrap();
        assert_eq!(config.address_policy().origin(), Origin::Request);
        assert!(config.address_policy().check("127.0.0.1".parse().unwrap()).is_err(), "loopback is denied");
        assert!(config.address_policy().check("169.254.169.254".parse().unwrap()).is_err(), "metadata is denied");
        assert!(config.address_policy().check("192.0.2.7".parse().unwrap()).is_ok());

        let file = ConfigFile::parse("[modules.local]\nallow_addresses = [\"127.0.0.0/8\"]").unwrap();
        let module = module_from_spec("local", &file.modules["local"]).unwrap();
        let config = module.config("127.0.0.1:25".parse().unwrap(), Duration::from_secs(3)).unwrap();
        assert!(config.address_policy().check("127.0.0.1".parse().unwrap()).is_ok(), "allowed on purpose");
        assert!(config.address_policy().check("169.254.169.254".parse().unwrap()).is_err(), "the rest still denied");

        let bad = ModuleSpec { allow_addresses: Some(vec!["localhost".into()]), ..ModuleSpec::default() };
        let err = module_from_spec("x", &bad).unwrap_err().to_string();
        assert!(err.starts_with("module x: allow_addresses: invalid address range \"localhost\""), "{err}");
        let builtin = builtin_modules(Duration::from_secs(3), None, None, &["127.0.0.0/8".to_owned()]).unwrap();
        let config = builtin["smtp"].config("127.0.0.1:25".parse().unwrap(), Duration::from_secs(3)).unwrap();
        assert!(config.address_policy().check("127.0.0.1".parse().unwrap()).is_ok());
    }
}
