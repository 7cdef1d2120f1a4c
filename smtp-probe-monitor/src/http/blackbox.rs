//! `/probe`: one on-demand check in the style of Prometheus's blackbox exporter. Prometheus asks for a target and
//! a module, and gets the probe's metrics, exactly as `smtp-probe --format prometheus` prints them (the same
//! renderer): `smtp_probe_up`, `smtp_probe_verdict`, `smtp_probe_cause`, durations, reply codes, TLS and certificate
//! expiry; OpenMetrics when the scraper's `Accept` asks for it (Prometheus does).
//!
//! - `GET /probe?target=HOST:PORT&module=NAME`: `target` may also be `smtp://`, `submission://` or `smtps://` +
//!   host; `module` defaults to `smtp`. A bad request (no target, an unknown module, a target off the module's
//!   allow-list) is a 400; a probe past `max_probes` running at once is a 503 with `Retry-After`, at once rather
//!   than queued.
//! - Each probe is cut to the scrape timeout Prometheus announces (`X-Prometheus-Scrape-Timeout-Seconds`, less
//!   half a second), so Prometheus gets an answer rather than a failed scrape.
//! - **A module with credentials probes only the targets of its allow-list** (see [`allow`](super::allow)):
//!   anyone who can reach `/probe` chooses the target, and must not be able to make the service log in to a
//!   server of theirs. The configuration refuses a credentialed module without one; a target off the list is
//!   refused without a connection.
//! - **A request's target reaches only public addresses**: the target is judged after name resolution by a
//!   request's [`AddressPolicy`] ([`Origin::Request`]): a loopback, link-local, unspecified or cloud-metadata
//!   address is never contacted, and the probe is down with `address_denied`. A module's `allow_addresses`
//!   (`[http.probe] allow_addresses` for the built-in modules) lifts that for the ranges it names, e.g.
//!   `127.0.0.0/8` to probe an MTA on this host.
//!
//! - **A round-trip module** (`roundtrip = "monitor-id"` in `[http.probe.modules.NAME]`) runs one round trip of
//!   that configured monitor — submits a message, waits for it in the mailbox — and answers with the
//!   `smtp_probe_roundtrip_*` metrics of `smtp-probe roundtrip --format prometheus`
//!   ([`probe_roundtrip`](crate::probe::probe_roundtrip)). Its servers and credentials come from the
//!   configuration only: `target` may be left out, and when given must name the monitor's submission server
//!   (else 400, nothing sent). Each one sends real mail, so at most `max_roundtrips` run at once (default 1); past
//!   it a request is answered 429 with `Retry-After` at once. A round trip also counts towards `max_probes`.
//!
//! Without configured modules there are four, with no credentials: `smtp` (STARTTLS when offered), `submission`
//! (STARTTLS required), `smtps` (implicit TLS) and `plain` (no TLS). A scrape configuration:
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
//!       - { target_label: __address__, replacement: "127.0.0.1:8080" }
//! ```
//!
//! [`Exporter::handle_probe`] is the whole of `/probe` as a plain function, from the request's parameters to a
//! rendered body or a refusal, so another HTTP service can serve it as it is (the examples' `exporter` does).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use smtp_probe_render::{Exposition, ExpositionFormat, Family, Item, metrics};
use smtp_probe_tokio::proto::{AuthMechanism, Secret};
use smtp_probe_tokio::{AddressPolicy, Origin, ProbeConfig, Target, TlsConfig, TlsMode, Verdict};
use tokio::sync::Semaphore;

use super::allow::AllowList;
use crate::config::{CheckKind, ProbeModule, RoundTripModule};
use crate::probe::{RoundTripRequest, RoundTripRequestError};

/// Taken off Prometheus's scrape timeout, to leave time to send the answer (the blackbox exporter's default).
const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// The shortest probe budget, however short the scrape timeout.
const MIN_BUDGET: Duration = Duration::from_millis(100);

/// A module that cannot probe: its settings make no valid probe configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleError {
    /// The CA file is not a PEM file of certificates.
    #[error("ca_file {origin}: {source}")]
    CaFile {
        /// The file.
        origin: String,
        /// Why.
        source: smtp_probe_tokio::TlsConfigError,
    },
    /// The probe library refuses the settings (an EHLO name with a line break, credentials over plaintext, …).
    #[error("{0}")]
    Config(#[from] smtp_probe_tokio::ConfigError),
}

/// A module ready to probe with: the settings checked, the CA file read.
#[derive(Clone)]
pub struct Module {
    tls: Option<TlsMode>,
    tls_name: Option<String>,
    tls_config: Option<TlsConfig>,
    ehlo_name: String,
    timeout: Duration,
    response: (Option<Duration>, Option<Duration>),
    certificate_days: (Option<u32>, Option<u32>),
    auth: Option<(String, Secret, Vec<AuthMechanism>, bool)>,
    allow: Option<AllowList>,
    addresses: AddressPolicy,
    extra: Option<Configure>,
}

/// A last change to a module's probe configuration (the demo module's trust and credentials).
type Configure = Arc<
    dyn Fn(smtp_probe_tokio::proto::ProbeConfigBuilder) -> smtp_probe_tokio::proto::ProbeConfigBuilder + Send + Sync,
>;

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("tls", &self.tls)
            .field("tls_name", &self.tls_name)
            .field("ehlo_name", &self.ehlo_name)
            .field("timeout", &self.timeout)
            .field("auth", &self.auth.as_ref().map(|(user, ..)| user))
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl Module {
    /// Prepares a module from its settings, and checks that they make a valid probe configuration. The caller
    /// enforces that credentials come with an allow-list (the configuration does).
    pub fn new(settings: &ProbeModule) -> Result<Module, ModuleError> {
        let tls_config = match &settings.ca_pem {
            Some((path, pem)) => {
                let origin = path.display().to_string();
                Some(
                    TlsConfig::builder()
                        .add_ca_pem(&origin, pem)
                        .and_then(|b| b.build())
                        .map_err(|source| ModuleError::CaFile { origin, source })?,
                )
            }
            None => None,
        };
        let module = Module {
            tls: settings.tls,
            tls_name: settings.tls_name.clone(),
            tls_config,
            ehlo_name: settings.ehlo_name.clone(),
            timeout: settings.timeout,
            response: (settings.response_warning, settings.response_critical),
            certificate_days: (settings.cert_days_warning, settings.cert_days_critical),
            auth: settings.auth.as_ref().map(|a| {
                (
                    a.username.clone(),
                    Secret::new(a.password.expose()),
                    a.mechanisms.iter().map(|m| AuthMechanism::parse(m)).collect(),
                    a.allow_plaintext,
                )
            }),
            allow: settings.allow.clone(),
            addresses: settings.addresses.clone(),
            extra: None,
        };
        let any_target = Target::new("localhost", 25).expect("a valid target");
        module.config(any_target, module.timeout)?;
        Ok(module)
    }

    /// The module that probes the bundled demo server (STARTTLS against its CA, AUTH, an envelope): the demo
    /// user's credentials go to the demo server only.
    #[cfg(feature = "demo")]
    pub fn demo(demo: Arc<smtp_probe_testserver::demo::Demo>, timeout: Duration) -> Module {
        let target = demo.target();
        // The demo server is on loopback, which a request's target may not reach: its address is allowed, and
        // the allow-list keeps the module to that one server.
        let request = AddressPolicy::new(Origin::Request);
        let ip = target.ip().map(|ip| ip.to_string()).unwrap_or_default();
        let addresses = request.clone().allow(&ip).unwrap_or(request);
        Module {
            tls: None,
            tls_name: None,
            tls_config: None,
            ehlo_name: "localhost".to_owned(),
            timeout,
            response: (None, None),
            certificate_days: (None, None),
            auth: None,
            allow: Some(AllowList::exactly(&target)),
            addresses,
            extra: Some(Arc::new(move |builder| demo.configure(builder))),
        }
    }

    /// Whether the module may probe this target: any target without an allow-list, else one on it.
    pub fn allows(&self, target: &Target) -> bool {
        self.allow.as_ref().is_none_or(|allow| allow.allows(target))
    }

    /// The longest a probe of this module may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The probe configuration for `target`, bounded by `budget` (connecting and the whole probe each get at
    /// most that). The module's TLS mode, when it sets one, wins over the one the target's scheme implies.
    pub fn config(&self, target: Target, budget: Duration) -> Result<ProbeConfig, ModuleError> {
        let mut builder = ProbeConfig::builder(target)
            .connect_timeout(budget)
            .overall_timeout(budget)
            .ehlo_name(self.ehlo_name.as_str())
            .transcript(false)
            .address_policy(self.addresses.clone());
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
        if let Some((user, password, mechanisms, plaintext)) = &self.auth {
            builder = builder
                .auth(user.as_str(), password.clone())
                .auth_mechanisms(mechanisms.iter().cloned())
                .allow_plaintext_auth(*plaintext);
        }
        if let Some(extra) = &self.extra {
            builder = extra(builder);
        }
        Ok(builder.build()?)
    }
}

/// Modules by name.
pub type Modules = BTreeMap<String, Module>;

/// The built-in modules, with no credentials and no allow-list: `smtp` (STARTTLS when offered), `submission`
/// (STARTTLS required), `smtps` (implicit TLS), `plain` (no TLS); each with a request's address policy, `addresses`
/// (which may allow more ranges, e.g. `127.0.0.0/8` to probe an MTA on this host).
pub fn builtin_modules(
    timeout: Duration,
    ehlo_name: &str,
    ca_pem: Option<&(std::path::PathBuf, Vec<u8>)>,
    addresses: &AddressPolicy,
) -> Result<Modules, ModuleError> {
    let mut modules = Modules::new();
    for (name, tls) in [
        ("smtp", TlsMode::StartTlsOpportunistic),
        ("submission", TlsMode::StartTlsRequired),
        ("smtps", TlsMode::Implicit),
        ("plain", TlsMode::None),
    ] {
        let mut settings = ProbeModule::new(Some(tls), ehlo_name, timeout);
        settings.ca_pem = ca_pem.cloned();
        settings.addresses = addresses.clone();
        modules.insert(name.to_owned(), Module::new(&settings)?);
    }
    Ok(modules)
}

/// The probe counters: probes per module and verdict, bad requests, refusals at the limit.
#[derive(Debug, Default)]
pub struct Counters {
    probes: Mutex<BTreeMap<(String, &'static str), u64>>,
    bad_requests: AtomicU64,
    busy: AtomicU64,
}

impl Counters {
    /// Counters starting at zero for every module and verdict (so each series exists before its first probe).
    pub fn new<'a>(modules: impl IntoIterator<Item = &'a String>) -> Counters {
        let counters = Counters::default();
        {
            let mut probes = counters.probes.lock().unwrap_or_else(|e| e.into_inner());
            for module in modules {
                for verdict in Verdict::ALL {
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
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, and the probes running now, as metric families.
    pub fn families(&self, in_flight: usize) -> [Family; 4] {
        let mut probes = Family::new(metrics::EXPORTER_PROBES);
        for ((module, verdict), count) in self.probes.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            probes.sample(&[("module", module), ("verdict", verdict)], *count as f64);
        }
        let mut bad = Family::new(metrics::EXPORTER_BAD_REQUESTS);
        bad.sample(&[], self.bad_requests.load(Ordering::Relaxed) as f64);
        let mut busy = Family::new(metrics::EXPORTER_BUSY);
        busy.sample(&[], self.busy.load(Ordering::Relaxed) as f64);
        let mut running = Family::new(metrics::EXPORTER_PROBES_IN_FLIGHT);
        running.sample(&[], in_flight as f64);
        [probes, bad, busy, running]
    }

    /// The exposition of the counters, and of the probes running now.
    pub fn render(&self, in_flight: usize, format: ExpositionFormat) -> String {
        let mut out = Exposition::new(format);
        for family in &self.families(in_flight) {
            out.family(family);
        }
        out.finish()
    }
}

/// The parameters of one `/probe` request, as the HTTP request carried them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeRequest<'a> {
    /// The `target` parameter.
    pub target: Option<&'a str>,
    /// The `module` parameter (default `smtp`).
    pub module: Option<&'a str>,
    /// The `X-Prometheus-Scrape-Timeout-Seconds` header.
    pub scrape_timeout: Option<&'a str>,
    /// The `Accept` header.
    pub accept: Option<&'a str>,
}

/// A rendered answer: the body and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The `Content-Type` to send.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// Why a probe request was not served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The request is wrong (400): no target, an unknown module, a target that is not one or is not allowed.
    BadRequest(String),
    /// As many probes as allowed are running (503): try again later.
    Busy,
    /// As many round trips as allowed are running (429): each sends a message, so few run at once.
    TooManyRoundTrips,
}

impl Refusal {
    /// The HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::TooManyRoundTrips => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Seconds to wait before asking again, for a refusal that says to.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Refusal::BadRequest(_) => None,
            Refusal::Busy => Some(5),
            Refusal::TooManyRoundTrips => Some(30),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::BadRequest(why) => f.write_str(why),
            Refusal::Busy => f.write_str("too many probes are running; try again later"),
            Refusal::TooManyRoundTrips => f.write_str("a round trip is already running; try again later"),
        }
    }
}

/// `/probe`'s state: its modules, counters and the limits of probes and round trips running at once. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Exporter {
    modules: Arc<Modules>,
    roundtrips: Arc<BTreeMap<String, RoundTripModule>>,
    counters: Arc<Counters>,
    probes: Arc<Semaphore>,
    max_probes: usize,
    roundtrip_slots: Arc<Semaphore>,
}

impl Exporter {
    /// An exporter serving these modules, running at most `max_probes` probes at once.
    pub fn new(modules: Modules, max_probes: usize) -> Exporter {
        let counters = Arc::new(Counters::new(modules.keys()));
        let max_probes = max_probes.max(1);
        Exporter {
            modules: Arc::new(modules),
            roundtrips: Arc::default(),
            counters,
            probes: Arc::new(Semaphore::new(max_probes)),
            max_probes,
            roundtrip_slots: Arc::new(Semaphore::new(1)),
        }
    }

    /// The same exporter serving these round-trip modules too, at most `max_roundtrips` at once (at least 1). A
    /// name already used by a probe module stays the probe module's.
    pub fn with_roundtrips(mut self, roundtrips: BTreeMap<String, RoundTripModule>, max_roundtrips: usize) -> Exporter {
        let roundtrips: BTreeMap<String, RoundTripModule> =
            roundtrips.into_iter().filter(|(name, _)| !self.modules.contains_key(name)).collect();
        let names = self.modules.keys().chain(roundtrips.keys());
        self.counters = Arc::new(Counters::new(names));
        self.roundtrips = Arc::new(roundtrips);
        self.roundtrip_slots = Arc::new(Semaphore::new(max_roundtrips.max(1)));
        self
    }

    /// The modules' names, round-trip modules included.
    pub fn module_names(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().chain(self.roundtrips.keys()).map(String::as_str)
    }

    /// The longest any module's probe may take (a round trip's is its monitor's deadline).
    pub fn longest_probe(&self) -> Duration {
        let probes = self.modules.values().map(Module::timeout);
        let roundtrips = self.roundtrips.values().map(|m| m.check.probe().timeout);
        probes.chain(roundtrips).max().unwrap_or_default()
    }

    /// `/probe`, whole: checks the request, probes within the scrape timeout, renders the report in the format
    /// the `Accept` header asks for. Nothing is sent to a target the module does not allow, and a request past
    /// the limit of concurrent probes is refused at once.
    pub async fn handle_probe(&self, request: ProbeRequest<'_>) -> Result<Rendered, Refusal> {
        let result = self.probe_rendered(request).await;
        match &result {
            Err(Refusal::BadRequest(_)) => self.counters.bad_request(),
            Err(Refusal::Busy | Refusal::TooManyRoundTrips) => {
                self.counters.busy.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
        }
        result
    }

    async fn probe_rendered(&self, request: ProbeRequest<'_>) -> Result<Rendered, Refusal> {
        let bad = Refusal::BadRequest;
        let module_name = request.module.unwrap_or("smtp");
        if let Some(roundtrip) = self.roundtrips.get(module_name) {
            return self.roundtrip(module_name, &roundtrip.check, request).await;
        }
        let Some(module) = self.modules.get(module_name) else {
            return Err(bad(format!("unknown module {:?}", crate::check::clip(module_name, 64))));
        };
        let Some(target) = request.target.filter(|t| !t.trim().is_empty()) else {
            return Err(bad("the target parameter is missing".to_owned()));
        };
        let target: Target =
            target.parse().map_err(|e| bad(format!("invalid target {:?}: {e}", crate::check::clip(target, 300))))?;
        if !module.allows(&target) {
            return Err(bad(format!(
                "module {module_name} may not probe {target}: it is not on the module's allow-list"
            )));
        }
        let budget = match request.scrape_timeout.and_then(scrape_timeout) {
            Some(limit) => module.timeout.min(limit.saturating_sub(TIMEOUT_OFFSET)).max(MIN_BUDGET),
            None => module.timeout,
        };
        let config = module.config(target, budget).map_err(|e| bad(e.to_string()))?;
        let Ok(_running) = self.probes.try_acquire() else {
            return Err(Refusal::Busy);
        };
        let report = crate::probe::run_report(&config).await;
        self.counters.probed(module_name, report.verdict);
        let format = ExpositionFormat::negotiate(request.accept);
        let body = smtp_probe_render::exposition(&[Item::from(&report)], SystemTime::now(), format);
        Ok(Rendered { content_type: format.content_type(), body })
    }

    /// One round trip of a round-trip module: the target checked first (nothing is sent for a refused one), then
    /// a round-trip slot (429 past them) and a probe slot (503) taken, then the round trip run and rendered.
    async fn roundtrip(
        &self,
        module_name: &str,
        check: &CheckKind,
        request: ProbeRequest<'_>,
    ) -> Result<Rendered, Refusal> {
        let refused = |e: RoundTripRequestError| Refusal::BadRequest(format!("module {module_name}: {e}"));
        crate::probe::check_roundtrip_target(check, request.target).map_err(refused)?;
        let Ok(_roundtrip) = self.roundtrip_slots.try_acquire() else {
            return Err(Refusal::TooManyRoundTrips);
        };
        let Ok(_running) = self.probes.try_acquire() else {
            return Err(Refusal::Busy);
        };
        let asked =
            RoundTripRequest { target: request.target, scrape_timeout: request.scrape_timeout, accept: request.accept };
        let response = crate::probe::probe_roundtrip(check, asked).await.map_err(refused)?;
        self.counters.probed(module_name, response.verdict);
        Ok(Rendered { content_type: response.content_type, body: response.body })
    }

    /// Probes running now (round trips included).
    pub fn in_flight(&self) -> usize {
        self.max_probes.saturating_sub(self.probes.available_permits())
    }

    /// The counters as metric families, for a `/metrics` that serves more besides.
    pub fn families(&self) -> [Family; 4] {
        self.counters.families(self.in_flight())
    }

    /// The exporter's own metrics alone.
    pub fn handle_metrics(&self, accept: Option<&str>) -> Rendered {
        let format = ExpositionFormat::negotiate(accept);
        Rendered { content_type: format.content_type(), body: self.counters.render(self.in_flight(), format) }
    }

    /// The HTTP routes of a stand-alone exporter: `GET /probe` and `GET /metrics` (its own counters).
    pub fn router(self) -> Router {
        Router::new().route("/probe", get(probe_handler)).route("/metrics", get(metrics_handler)).with_state(self)
    }
}

/// The scrape timeout Prometheus announces, in seconds: a positive number, at most a day.
fn scrape_timeout(header: &str) -> Option<Duration> {
    let seconds = header.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0)?;
    Some(Duration::from_secs_f64(seconds.min(86_400.0)))
}

/// The query of `/probe`.
#[derive(Debug, Deserialize)]
pub(crate) struct ProbeQuery {
    target: Option<String>,
    module: Option<String>,
}

fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `GET /probe` for axum.
pub(crate) async fn probe_handler(
    State(exporter): State<Exporter>,
    Query(query): Query<ProbeQuery>,
    headers: HeaderMap,
) -> Response {
    let request = ProbeRequest {
        target: query.target.as_deref(),
        module: query.module.as_deref(),
        scrape_timeout: header_text(&headers, "x-prometheus-scrape-timeout-seconds"),
        accept: header_text(&headers, header::ACCEPT),
    };
    match exporter.handle_probe(request).await {
        Ok(rendered) => ([(header::CONTENT_TYPE, rendered.content_type)], rendered.body).into_response(),
        Err(refusal) => {
            let mut response = (refusal.status(), format!("{refusal}\n")).into_response();
            if let Some(seconds) = refusal.retry_after() {
                response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            }
            response
        }
    }
}

async fn metrics_handler(State(exporter): State<Exporter>, headers: HeaderMap) -> Response {
    let rendered = exporter.handle_metrics(header_text(&headers, header::ACCEPT));
    ([(header::CONTENT_TYPE, rendered.content_type)], rendered.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthSpec;

    #[test]
    fn modules_build_probe_configurations() {
        let mut settings =
            ProbeModule::new(Some(TlsMode::StartTlsRequired), "monitor.example.com", Duration::from_secs(5));
        settings.response_warning = Some(Duration::from_millis(2500));
        let module = Module::new(&settings).unwrap();
        let config = module.config(Target::new("mx.example", 587).unwrap(), Duration::from_secs(3)).unwrap();
        assert_eq!(config.tls_mode(), TlsMode::StartTlsRequired);
        assert_eq!(config.timeouts().overall, Duration::from_secs(3));
        assert_eq!(config.thresholds().response_warning, Some(Duration::from_millis(2500)));

        let bad = ProbeModule::new(None, "a\r\nb", Duration::from_secs(5));
        assert!(Module::new(&bad).is_err(), "an EHLO name with a line break");
        let mut plaintext = ProbeModule::new(Some(TlsMode::None), "probe.test", Duration::from_secs(5));
        plaintext.auth = Some(AuthSpec {
            username: "u".into(),
            password: crate::config::Secret::from("p".to_owned()),
            mechanisms: vec!["PLAIN".into()],
            allow_plaintext: false,
        });
        assert!(Module::new(&plaintext).is_err(), "credentials are never sent without TLS unless allowed");
        assert!(!format!("{:?}", Module::new(&ProbeModule::new(None, "x", Duration::from_secs(1)))).contains("p\""));
    }

    #[test]
    fn counters_render() {
        let counters = Counters::new([&"smtp".to_owned()]);
        counters.probed("smtp", Verdict::Up);
        counters.bad_request();
        let text = counters.render(2, ExpositionFormat::Prometheus);
        assert!(text.contains("smtp_probe_exporter_probes_total{module=\"smtp\",verdict=\"up\"} 1\n"), "{text}");
        assert!(text.contains("smtp_probe_exporter_probes_total{module=\"smtp\",verdict=\"down\"} 0\n"), "{text}");
        assert!(text.contains("smtp_probe_exporter_bad_requests_total 1\n"), "{text}");
        assert!(text.contains("smtp_probe_exporter_busy_total 0\n"), "{text}");
        assert!(text.contains("smtp_probe_exporter_probes_in_flight 2\n"), "{text}");
        let open = counters.render(0, ExpositionFormat::OpenMetrics);
        assert!(open.contains("# TYPE smtp_probe_exporter_probes counter\n") && open.ends_with("# EOF\n"), "{open}");
    }

    #[test]
    fn scrape_timeouts() {
        assert_eq!(scrape_timeout("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(scrape_timeout(" 10 "), Some(Duration::from_secs(10)));
        assert_eq!(scrape_timeout("1e9"), Some(Duration::from_secs(86_400)));
        for bad in ["0", "-1", "NaN", "inf", "soon", ""] {
            assert_eq!(scrape_timeout(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn round_trip_modules_refuse_before_they_send() {
        let text = "[[monitors]]\nname = \"loop\"\ntarget = \"submission://smtp.example.org\"\n\
                    [monitors.roundtrip]\nimap = \"imaps://imap.example.org\"\nfrom = \"a@example.org\"\n\
                    to = \"b@example.net\"\npassword_env = \"PW\"\n\
                    [http.probe.modules.mailflow]\nroundtrip = \"loop\"\n";
        let env = |name: &str| (name == "PW").then(|| "pw".to_owned());
        let config = crate::config::Config::from_toml_with_env(text, std::path::Path::new("."), &env).unwrap();
        let exporter = Exporter::new(Modules::new(), 4).with_roundtrips(config.http.probe.roundtrips.clone(), 1);
        assert_eq!(exporter.module_names().collect::<Vec<_>>(), ["mailflow"]);
        assert_eq!(exporter.longest_probe(), config.monitors[0].check.probe().timeout);
        let ask = |target| ProbeRequest { target, module: Some("mailflow"), ..ProbeRequest::default() };

        // The one slot taken: a wrong target is still a 400 (it would never run), a right one a 429.
        let held = exporter.roundtrip_slots.try_acquire().unwrap();
        match exporter.handle_probe(ask(Some("mail.example.net:587"))).await {
            Err(Refusal::BadRequest(message)) => {
                assert!(message.contains("submits to smtp.example.org:587"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        match exporter.handle_probe(ask(Some("smtp.example.org:587"))).await {
            Err(refusal @ Refusal::TooManyRoundTrips) => {
                assert_eq!((refusal.status(), refusal.retry_after()), (StatusCode::TOO_MANY_REQUESTS, Some(30)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(exporter.in_flight(), 0, "a refused round trip takes no probe slot");
        drop(held);
        let text = exporter.handle_metrics(None).body;
        assert!(text.contains("smtp_probe_exporter_bad_requests_total 1\n"), "{text}");
        assert!(text.contains("smtp_probe_exporter_busy_total 1\n"), "{text}");
        assert!(text.contains("smtp_probe_exporter_probes_total{module=\"mailflow\",verdict=\"up\"} 0\n"), "{text}");
    }

    #[tokio::test]
    async fn refusals_never_connect() {
        let mut settings = ProbeModule::new(None, "probe.test", Duration::from_secs(1));
        settings.allow = Some(AllowList::parse(["mail.example.com:587"]).unwrap());
        let modules = Modules::from([("sub".to_owned(), Module::new(&settings).unwrap())]);
        let exporter = Exporter::new(modules, 1);
        let ask = |target, module| ProbeRequest { target, module, ..ProbeRequest::default() };
        for (request, why) in [
            (ask(None, Some("sub")), "the target parameter is missing"),
            (ask(Some("evil.example:587"), Some("sub")), "not on the module's allow-list"),
            (ask(Some("bad host"), Some("sub")), "invalid target"),
            (ask(Some("mail.example.com:587"), Some("nope")), "unknown module"),
        ] {
            match exporter.handle_probe(request).await {
                Err(Refusal::BadRequest(message)) => assert!(message.contains(why), "{message}"),
                other => panic!("{request:?}: {other:?}"),
            }
        }
        assert!(exporter.handle_metrics(None).body.contains("smtp_probe_exporter_bad_requests_total 4\n"));
    }
}
