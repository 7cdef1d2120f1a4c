//! `[http]`: who may read the status page, the API and the metrics, and what `/probe` may do. The listen
//! address is `service.listen` (loopback unless told otherwise).
//!
//! ```toml
//! [http]
//! title = "Example mail"                      # the status page's heading
//! basic_auth = { username = "ops", password_env = "MONITOR_HTTP_PASSWORD" }   # or password_file
//! bearer_token_env = "MONITOR_API_TOKEN"      # or bearer_token_file; either credential is accepted
//! public = ["healthz"]                        # needs no credentials: page, api, metrics, probe, healthz
//! max_lateness = "10s"                        # /healthz fails when checks start later than this (p99)
//!
//! [http.probe]                                # GET /probe?target=…&module=… in the blackbox exporter's style
//! max_probes = 32                             # at once; past it, 503
//! max_roundtrips = 1                          # round trips at once (each sends a message); past it, 429
//!
//! [http.probe.modules.submission]             # replaces the built-in smtp, submission, smtps and plain
//! tls = "required"                            # none | opportunistic | required | implicit
//! timeout = "10s"
//! auth = { username = "monitor", password_env = "PROBE_PASSWORD" }
//! allow = ["mail.example.com:587", "*.mx.example.com", "192.0.2.0/24"]   # required with auth
//!
//! [http.probe.modules.mailflow]               # a round trip on request: GET /probe?module=mailflow
//! roundtrip = "mail-flows"                    # the id of a [[monitors]] round trip: its servers and credentials
//! ```
//!
//! A round-trip module takes everything from its monitor (servers, credentials, envelope, trust, deadline) and
//! nothing from the request; `max_roundtrips` (default 1) caps how many run at once, since each sends real mail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;
use smtp_probe_tokio::{AddressPolicy, Origin, TlsMode};

use super::{AuthSpec, Builder, CheckKind, ConfigError, MonitorConfig, RawAuth, Secret, ServiceConfig};
use crate::http::allow::AllowList;
use crate::id::MonitorId;

/// The HTTP side (`[http]`). HTTP settings take effect when the service starts; a reload leaves them as they are.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Credentials for everything not [`public`](Self::public). None set: no authentication (then keep the
    /// listener on loopback or behind a proxy that authenticates).
    pub auth: HttpAuth,
    /// What answers without credentials even when some are set. Default: `/healthz` only.
    pub public: BTreeSet<Area>,
    /// The status page's heading. Default "Mail status".
    pub title: String,
    /// `/healthz` answers 503 when the scheduler's p99 lateness exceeds this. Default 10 s.
    pub max_lateness: Duration,
    /// Open HTTP connections at most; more are closed at once. Default 512.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers. Default 5 s.
    pub header_timeout: Duration,
    /// `/probe`.
    pub probe: ProbeEndpoint,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            auth: HttpAuth::default(),
            public: BTreeSet::from([Area::Healthz]),
            title: "Mail status".to_owned(),
            max_lateness: Duration::from_secs(10),
            max_connections: 512,
            header_timeout: Duration::from_secs(5),
            probe: ProbeEndpoint::default(),
        }
    }
}

/// Credentials the HTTP side accepts; either one lets a request in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpAuth {
    /// HTTP Basic: a user name and password.
    pub basic: Option<BasicAuth>,
    /// `Authorization: Bearer <token>`.
    pub bearer: Option<Secret>,
}

impl HttpAuth {
    /// Whether any credential is configured.
    pub fn is_set(&self) -> bool {
        self.basic.is_some() || self.bearer.is_some()
    }
}

/// A Basic-auth user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password (from the environment or a file).
    pub password: Secret,
}

/// A part of the HTTP side, for [`HttpConfig::public`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// The status page (`/`, `/monitors/…`).
    Page,
    /// The JSON API (`/api/…`).
    Api,
    /// `/metrics`.
    Metrics,
    /// `/probe`.
    Probe,
    /// `/healthz`.
    Healthz,
}

impl Area {
    /// The name used in `public = [...]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Page => "page",
            Area::Api => "api",
            Area::Metrics => "metrics",
            Area::Probe => "probe",
            Area::Healthz => "healthz",
        }
    }

    const ALL: [Area; 5] = [Area::Page, Area::Api, Area::Metrics, Area::Probe, Area::Healthz];
}

/// `/probe` (`[http.probe]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeEndpoint {
    /// Whether `/probe` is served. Default true.
    pub enabled: bool,
    /// Probes at once at most; a request past it is answered 503 at once. Default 32.
    pub max_probes: usize,
    /// Modules by name; when none are configured (of either kind), [the built-in ones](ProbeEndpoint::builtin_modules).
    pub modules: BTreeMap<String, ProbeModule>,
    /// Round-trip modules by name (`roundtrip = "monitor-id"`); their names are distinct from `modules`'.
    pub roundtrips: BTreeMap<String, RoundTripModule>,
    /// Round trips at once at most (each sends a real message); a request past it is answered 429 at once.
    /// Default 1.
    pub max_roundtrips: usize,
}

impl Default for ProbeEndpoint {
    fn default() -> Self {
        ProbeEndpoint {
            enabled: true,
            max_probes: 32,
            modules: ProbeEndpoint::builtin_modules("localhost"),
            roundtrips: BTreeMap::new(),
            max_roundtrips: 1,
        }
    }
}

/// A `/probe` module that runs one round trip of a configured monitor (`[http.probe.modules.NAME]` with
/// `roundtrip = "monitor-id"`): the monitor's submission and IMAP servers, credentials, envelope, trust and
/// deadline, as the configuration was read when the service started. A request may name no other server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTripModule {
    /// The monitor it runs.
    pub monitor: MonitorId,
    /// Its check (a [`CheckKind::RoundTrip`]).
    pub check: CheckKind,
}

impl ProbeEndpoint {
    /// The modules when none are configured, with no credentials and no allow-list: `smtp` (STARTTLS when
    /// offered), `submission` (STARTTLS required), `smtps` (implicit TLS), `plain` (no TLS); 10 s each.
    pub fn builtin_modules(ehlo_name: &str) -> BTreeMap<String, ProbeModule> {
        [
            ("smtp", TlsMode::StartTlsOpportunistic),
            ("submission", TlsMode::StartTlsRequired),
            ("smtps", TlsMode::Implicit),
            ("plain", TlsMode::None),
        ]
        .into_iter()
        .map(|(name, tls)| (name.to_owned(), ProbeModule::new(Some(tls), ehlo_name, Duration::from_secs(10))))
        .collect()
    }
}

/// How one `/probe` module probes (`[http.probe.modules.NAME]`): what the exporter's modules set.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeModule {
    /// The TLS mode; `None`: the target's scheme decides, else STARTTLS when offered.
    pub tls: Option<TlsMode>,
    /// The SNI and certificate name, when it differs from the target.
    pub tls_name: Option<String>,
    /// CAs to trust besides the bundled roots (PEM), with the file they came from.
    pub ca_pem: Option<(PathBuf, Vec<u8>)>,
    /// The EHLO name.
    pub ehlo_name: String,
    /// The longest a probe may take (cut to the scrape timeout Prometheus announces).
    pub timeout: Duration,
    /// Response time above which the probe is degraded.
    pub response_warning: Option<Duration>,
    /// Response time above which the probe is down.
    pub response_critical: Option<Duration>,
    /// Certificate days below which the probe is degraded.
    pub cert_days_warning: Option<u32>,
    /// Certificate days below which the probe is down.
    pub cert_days_critical: Option<u32>,
    /// Credentials (a module with them must have an allow-list).
    pub auth: Option<AuthSpec>,
    /// The targets the module may probe; `None`: any.
    pub allow: Option<AllowList>,
    /// The addresses a target may reach, judged after name resolution. A request chooses the target, so this is a
    /// request's policy ([`Origin::Request`]: loopback, link-local, unspecified and cloud-metadata addresses are
    /// denied, and the probe is down with `address_denied` without contacting anything), with the ranges of
    /// `allow_addresses` allowed.
    pub addresses: AddressPolicy,
}

impl ProbeModule {
    /// A module with no credentials and no allow-list.
    pub fn new(tls: Option<TlsMode>, ehlo_name: impl Into<String>, timeout: Duration) -> ProbeModule {
        ProbeModule {
            tls,
            tls_name: None,
            ca_pem: None,
            ehlo_name: ehlo_name.into(),
            timeout,
            response_warning: None,
            response_critical: None,
            cert_days_warning: None,
            cert_days_critical: None,
            auth: None,
            allow: None,
            addresses: AddressPolicy::new(Origin::Request),
        }
    }
}

// ------------------------------------------------------------------------------------------------ raw TOML

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    title: Option<String>,
    basic_auth: Option<Spanned<RawBasic>>,
    bearer_token: Option<Spanned<String>>,
    bearer_token_env: Option<Spanned<String>>,
    bearer_token_file: Option<Spanned<String>>,
    public: Option<Vec<Spanned<String>>>,
    max_lateness: Option<Spanned<String>>,
    max_connections: Option<usize>,
    header_timeout: Option<Spanned<String>>,
    #[serde(default)]
    probe: RawProbe,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasic {
    username: String,
    password: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    enabled: Option<bool>,
    max_probes: Option<Spanned<usize>>,
    max_roundtrips: Option<Spanned<usize>>,
    allow_addresses: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    modules: BTreeMap<String, Spanned<RawModule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    roundtrip: Option<Spanned<String>>,
    tls: Option<Spanned<String>>,
    tls_name: Option<String>,
    ca_file: Option<Spanned<String>>,
    ehlo_name: Option<String>,
    timeout: Option<Spanned<String>>,
    response_warning: Option<Spanned<String>>,
    response_critical: Option<Spanned<String>>,
    certificate_days_warning: Option<u32>,
    certificate_days_critical: Option<u32>,
    auth: Option<Spanned<RawAuth>>,
    allow: Option<Vec<Spanned<String>>>,
    allow_addresses: Option<Vec<Spanned<String>>>,
}

impl Builder<'_> {
    pub(super) fn http(
        &self,
        raw: &RawHttp,
        service: &ServiceConfig,
        monitors: &[MonitorConfig],
    ) -> Result<HttpConfig, ConfigError> {
        let d = HttpConfig::default();
        let basic = match &raw.basic_auth {
            None => None,
            Some(b) => {
                let r = b.get_ref();
                if r.username.is_empty() || r.username.contains(':') || r.username.chars().any(char::is_control) {
                    return self.err(b.span(), "http.basic_auth.username", "a user name without ':' or controls");
                }
                let password = self
                    .secret(
                        b.span(),
                        "http.basic_auth.password",
                        r.password.as_deref(),
                        r.password_env.as_deref(),
                        r.password_file.as_deref(),
                        false,
                    )?
                    .ok_or(())
                    .or_else(|()| {
                        self.err(
                            b.span(),
                            "http.basic_auth.password",
                            "a password is needed (password_env or password_file)",
                        )
                    })?;
                Some(BasicAuth { username: r.username.clone(), password })
            }
        };
        let span = [&raw.bearer_token, &raw.bearer_token_env, &raw.bearer_token_file]
            .into_iter()
            .flatten()
            .map(Spanned::span)
            .next()
            .unwrap_or(0..0);
        let bearer = self.secret(
            span.clone(),
            "http.bearer_token",
            raw.bearer_token.as_ref().map(|s| s.get_ref().as_str()),
            raw.bearer_token_env.as_ref().map(|s| s.get_ref().as_str()),
            raw.bearer_token_file.as_ref().map(|s| s.get_ref().as_str()),
            false,
        )?;
        if bearer.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return self.err(span, "http.bearer_token", "at least 16 characters: a token is guessed otherwise");
        }
        let public = match &raw.public {
            None => d.public,
            Some(list) => {
                let mut out = BTreeSet::new();
                for p in list {
                    match Area::ALL.iter().find(|a| a.as_str() == p.get_ref()) {
                        Some(a) => out.insert(*a),
                        None => return self.err(p.span(), "http.public", "page, api, metrics, probe or healthz"),
                    };
                }
                out
            }
        };
        let title = match &raw.title {
            Some(t) if t.trim().is_empty() || t.len() > 200 || t.chars().any(char::is_control) => {
                return self.err(0..0, "http.title", "1 to 200 printable characters");
            }
            Some(t) => t.trim().to_owned(),
            None => d.title,
        };
        let max_lateness = self.opt_duration(&raw.max_lateness, "http.max_lateness", d.max_lateness)?;
        let header_timeout = self.opt_duration(&raw.header_timeout, "http.header_timeout", d.header_timeout)?;
        if header_timeout.is_zero() {
            let span = raw.header_timeout.as_ref().map_or(0..0, Spanned::span);
            return self.err(span, "http.header_timeout", "more than zero");
        }
        let max_connections = raw.max_connections.unwrap_or(d.max_connections).clamp(1, 65_536);

        let mut probe = ProbeEndpoint {
            enabled: raw.probe.enabled.unwrap_or(true),
            max_probes: match &raw.probe.max_probes {
                Some(n) if *n.get_ref() == 0 || *n.get_ref() > 4096 => {
                    return self.err(n.span(), "http.probe.max_probes", "1 to 4096");
                }
                Some(n) => *n.get_ref(),
                None => d.probe.max_probes,
            },
            modules: BTreeMap::new(),
            roundtrips: BTreeMap::new(),
            max_roundtrips: match &raw.probe.max_roundtrips {
                Some(n) if *n.get_ref() == 0 || *n.get_ref() > 16 => {
                    return self.err(n.span(), "http.probe.max_roundtrips", "1 to 16: each round trip sends a message");
                }
                Some(n) => *n.get_ref(),
                None => d.probe.max_roundtrips,
            },
        };
        for (name, m) in &raw.probe.modules {
            if let Some(id) = &m.get_ref().roundtrip {
                probe.roundtrips.insert(name.clone(), self.roundtrip_module(name, id, m, monitors)?);
            } else {
                probe.modules.insert(name.clone(), self.probe_module(name, m, service)?);
            }
        }
        if raw.probe.modules.is_empty() {
            let addresses = self.addresses(raw.probe.allow_addresses.as_deref(), "http.probe.allow_addresses")?;
            probe.modules = ProbeEndpoint::builtin_modules(&service.ehlo_name);
            for module in probe.modules.values_mut() {
                module.addresses = addresses.clone();
            }
        } else if let Some(first) = raw.probe.allow_addresses.as_ref().and_then(|a| a.first()) {
            return self.err(
                first.span(),
                "http.probe.allow_addresses",
                "applies to the built-in modules only: with modules configured, set allow_addresses in each",
            );
        }
        Ok(HttpConfig {
            auth: HttpAuth { basic, bearer },
            public,
            title,
            max_lateness,
            max_connections,
            header_timeout,
            probe,
        })
    }

    /// A request's address policy with these ranges allowed.
    fn addresses(&self, ranges: Option<&[Spanned<String>]>, field: &str) -> Result<AddressPolicy, ConfigError> {
        let mut policy = AddressPolicy::new(Origin::Request);
        for range in ranges.unwrap_or_default() {
            policy = match policy.allow(range.get_ref()) {
                Ok(p) => p,
                Err(e) => return self.err(range.span(), field, e.to_string()),
            };
        }
        Ok(policy)
    }

    /// A round-trip module: its monitor's check, and nothing else (the monitor's settings are the module's).
    fn roundtrip_module(
        &self,
        name: &str,
        id: &Spanned<String>,
        raw: &Spanned<RawModule>,
        monitors: &[MonitorConfig],
    ) -> Result<RoundTripModule, ConfigError> {
        let field = format!("http.probe.modules.{name}");
        Self::module_name(name).or_else(|why| self.err(raw.span(), &field, why))?;
        let r = raw.get_ref();
        // Where a field is spanned, the error points at it; else at the module.
        let whole = Some(raw.span());
        let others = [
            ("tls", r.tls.as_ref().map(Spanned::span)),
            ("tls_name", r.tls_name.as_ref().and(whole.clone())),
            ("ca_file", r.ca_file.as_ref().map(Spanned::span)),
            ("ehlo_name", r.ehlo_name.as_ref().and(whole.clone())),
            ("timeout", r.timeout.as_ref().map(Spanned::span)),
            ("response_warning", r.response_warning.as_ref().map(Spanned::span)),
            ("response_critical", r.response_critical.as_ref().map(Spanned::span)),
            ("certificate_days_warning", r.certificate_days_warning.as_ref().and(whole.clone())),
            ("certificate_days_critical", r.certificate_days_critical.as_ref().and(whole.clone())),
            ("auth", r.auth.as_ref().map(Spanned::span)),
            (
                "allow",
                r.allow.as_ref().and_then(|a| a.first()).map(Spanned::span).or(r.allow.as_ref().and(whole.clone())),
            ),
            (
                "allow_addresses",
                r.allow_addresses
                    .as_ref()
                    .and_then(|a| a.first())
                    .map(Spanned::span)
                    .or(r.allow_addresses.as_ref().and(whole)),
            ),
        ];
        if let Some((other, span)) = others.into_iter().find_map(|(f, span)| span.map(|s| (f, s))) {
            return self.err(
                span,
                format!("{field}.{other}"),
                format!("a round-trip module takes its settings from monitor {:?}: set {other} there", id.get_ref()),
            );
        }
        let wanted = id.get_ref().trim();
        let Some(monitor) = monitors.iter().find(|m| m.id.as_str() == wanted) else {
            return self.err(
                id.span(),
                format!("{field}.roundtrip"),
                format!("no monitor has the id {wanted:?} (a monitor's id is its `id`, else derived from its name)"),
            );
        };
        if !matches!(monitor.check, CheckKind::RoundTrip { .. }) {
            return self.err(
                id.span(),
                format!("{field}.roundtrip"),
                format!("monitor {wanted:?} is not a round trip (it has no [monitors.roundtrip] table)"),
            );
        }
        Ok(RoundTripModule { monitor: monitor.id.clone(), check: monitor.check.clone() })
    }

    fn module_name(name: &str) -> Result<(), &'static str> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err("a module name is made of letters, digits, '_' and '-'");
        }
        Ok(())
    }

    fn probe_module(
        &self,
        name: &str,
        raw: &Spanned<RawModule>,
        service: &ServiceConfig,
    ) -> Result<ProbeModule, ConfigError> {
        let field = format!("http.probe.modules.{name}");
        Self::module_name(name).or_else(|why| self.err(raw.span(), &field, why))?;
        let r = raw.get_ref();
        let tls = match &r.tls {
            None => None,
            Some(t) => Some(match t.get_ref().as_str() {
                "none" => TlsMode::None,
                "opportunistic" => TlsMode::StartTlsOpportunistic,
                "required" | "starttls" => TlsMode::StartTlsRequired,
                "implicit" => TlsMode::Implicit,
                _ => {
                    return self.err(
                        t.span(),
                        format!("{field}.tls"),
                        "one of none, opportunistic, required, implicit",
                    );
                }
            }),
        };
        let duration = |v: &Option<Spanned<String>>, f: &str| {
            v.as_ref().map(|v| self.duration(v, &format!("{field}.{f}"))).transpose()
        };
        let timeout = duration(&r.timeout, "timeout")?.unwrap_or(Duration::from_secs(10));
        if timeout.is_zero() || timeout > Duration::from_secs(300) {
            return self.err(raw.span(), format!("{field}.timeout"), "more than zero and at most 5m");
        }
        let allow = match &r.allow {
            None => None,
            Some(entries) => {
                let list = AllowList::parse(entries.iter().map(|e| e.get_ref().as_str()));
                match list {
                    Ok(list) => Some(list),
                    Err(e) => {
                        let span = entries
                            .iter()
                            .find(|s| s.get_ref().parse::<crate::http::allow::AllowEntry>().is_err())
                            .map_or(raw.span(), Spanned::span);
                        return self.err(span, format!("{field}.allow"), e.to_string());
                    }
                }
            }
        };
        let auth = match &r.auth {
            None => None,
            Some(a) => {
                if allow.as_ref().is_none_or(AllowList::is_empty) {
                    return self.err(
                        a.span(),
                        format!("{field}.allow"),
                        "a module with credentials needs an allow-list (allow = [\"mail.example.com:587\", ...]): \
                         without one, whoever can reach /probe could have the credentials sent to a server of theirs",
                    );
                }
                let ar = a.get_ref();
                let password = self
                    .secret(
                        a.span(),
                        &format!("{field}.auth.password"),
                        ar.password.as_ref().map(|p| p.get_ref().as_str()),
                        ar.password_env.as_deref(),
                        ar.password_file.as_deref(),
                        false,
                    )?
                    .ok_or(())
                    .or_else(|()| {
                        self.err(
                            a.span(),
                            format!("{field}.auth.password"),
                            "a password is needed (password_env or password_file)",
                        )
                    })?;
                Some(AuthSpec {
                    username: ar.username.clone(),
                    password,
                    mechanisms: ar.mechanisms.clone().unwrap_or_else(|| vec!["PLAIN".into(), "LOGIN".into()]),
                    allow_plaintext: ar.allow_plaintext,
                })
            }
        };
        let module = ProbeModule {
            tls,
            tls_name: r.tls_name.clone(),
            ca_pem: r.ca_file.as_ref().map(|f| self.read_ca(f, &format!("{field}.ca_file"))).transpose()?,
            ehlo_name: r.ehlo_name.clone().unwrap_or_else(|| service.ehlo_name.clone()),
            timeout,
            response_warning: duration(&r.response_warning, "response_warning")?,
            response_critical: duration(&r.response_critical, "response_critical")?,
            cert_days_warning: r.certificate_days_warning,
            cert_days_critical: r.certificate_days_critical,
            auth,
            allow,
            addresses: self.addresses(r.allow_addresses.as_deref(), &format!("{field}.allow_addresses"))?,
        };
        // Everything the probe library would refuse is refused here, with the module named.
        if let Err(e) = crate::http::blackbox::Module::new(&module) {
            return self.err(raw.span(), field, e.to_string());
        }
        Ok(module)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn env(name: &str) -> Option<String> {
        match name {
            "PW" => Some("correct horse".into()),
            "TOKEN" => Some("0123456789abcdef0123".into()),
            "SHORT" => Some("short".into()),
            _ => None,
        }
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_with_env(text, Path::new("/etc/monitor"), &env)
    }

    fn invalid(text: &str) -> (usize, String, String) {
        match load(text) {
            Err(ConfigError::Invalid { line, field, message, .. }) => (line, field, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_open_on_loopback_with_builtin_modules() {
        let c = load("").unwrap();
        assert!(!c.http.auth.is_set());
        assert_eq!(c.http.public, BTreeSet::from([Area::Healthz]));
        assert_eq!(c.http.title, "Mail status");
        assert!(c.http.probe.enabled);
        let names: Vec<&str> = c.http.probe.modules.keys().map(String::as_str).collect();
        assert_eq!(names, ["plain", "smtp", "smtps", "submission"]);
        assert_eq!(c.http.probe.modules["submission"].tls, Some(TlsMode::StartTlsRequired));
    }

    #[test]
    fn probe_targets_are_judged_as_requests() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let c = load("").unwrap();
        let smtp = &c.http.probe.modules["smtp"].addresses;
        assert_eq!(smtp.origin(), Origin::Request);
        assert!(smtp.check(ip("127.0.0.1")).is_err() && smtp.check(ip("169.254.169.254")).is_err());
        assert!(smtp.check(ip("192.0.2.7")).is_ok());

        let c = load("[http.probe]\nallow_addresses = [\"127.0.0.0/8\"]\n").unwrap();
        for module in c.http.probe.modules.values() {
            assert!(module.addresses.check(ip("127.0.0.1")).is_ok(), "the built-in modules take the ranges");
            assert!(module.addresses.check(ip("169.254.169.254")).is_err(), "and only those");
        }
        let c = load("[http.probe.modules.local]\nallow_addresses = [\"10.0.0.0/8\", \"::1\"]\n").unwrap();
        let local = &c.http.probe.modules["local"].addresses;
        assert!(local.check(ip("::1")).is_ok() && local.check(ip("127.0.0.1")).is_err());

        let (line, field, message) =
            invalid("[http.probe.modules.x]\ntls = \"none\"\nallow_addresses = [\"localhost\"]\n");
        assert_eq!((line, field.as_str()), (3, "http.probe.modules.x.allow_addresses"));
        assert!(message.contains("invalid address range \"localhost\""), "{message}");
        let (line, field, message) =
            invalid("[http.probe]\nallow_addresses = [\"127.0.0.1\"]\n[http.probe.modules.x]\ntls = \"none\"\n");
        assert_eq!((line, field.as_str()), (2, "http.probe.allow_addresses"));
        assert!(message.contains("built-in modules only"), "{message}");
    }

    #[test]
    fn a_full_http_section() {
        let c = load(
            r#"
[service]
ehlo_name = "monitor.example.org"

[http]
title = "Example mail"
basic_auth = { username = "ops", password_env = "PW" }
bearer_token_env = "TOKEN"
public = ["healthz", "metrics"]
max_lateness = "5s"
header_timeout = "2s"
max_connections = 64

[http.probe]
max_probes = 8

[http.probe.modules.sub]
tls = "required"
timeout = "4s"
auth = { username = "monitor", password_env = "PW" }
allow = ["mail.example.com:587", "192.0.2.0/24"]
"#,
        )
        .unwrap();
        let h = &c.http;
        assert_eq!(
            h.auth.basic.as_ref().map(|b| (b.username.as_str(), b.password.expose())),
            Some(("ops", "correct horse"))
        );
        assert_eq!(h.auth.bearer.as_ref().map(Secret::expose), Some("0123456789abcdef0123"));
        assert_eq!(h.public, BTreeSet::from([Area::Healthz, Area::Metrics]));
        assert_eq!(
            (h.max_lateness, h.header_timeout, h.max_connections),
            (Duration::from_secs(5), Duration::from_secs(2), 64)
        );
        assert_eq!(h.probe.max_probes, 8);
        let sub = &h.probe.modules["sub"];
        assert_eq!(h.probe.modules.len(), 1, "configured modules replace the built-in ones");
        assert_eq!(
            (sub.tls, sub.timeout, sub.ehlo_name.as_str()),
            (Some(TlsMode::StartTlsRequired), Duration::from_secs(4), "monitor.example.org")
        );
        assert!(sub.allow.as_ref().unwrap().allows(&"mail.example.com:587".parse().unwrap()));
        assert!(!format!("{c:?}").contains("correct horse") && !format!("{c:?}").contains("0123456789abcdef0123"));
    }

    const LOOP: &str = r#"
[[monitors]]
name = "mail flows"
id = "loop"
target = "submission://smtp.example.org"
auth = { username = "loop@example.org", password_env = "PW" }
[monitors.roundtrip]
imap = "imaps://imap.example.org"
from = "loop@example.org"
to = "loop@example.net"
password_env = "PW"

[[monitors]]
name = "mx"
target = "mx.example.org"
"#;

    #[test]
    fn round_trip_modules_run_a_configured_monitor() {
        let c = load(&format!(
            "{LOOP}
[http.probe]
max_roundtrips = 2
[http.probe.modules.mailflow]
roundtrip = \"loop\"
"
        ))
        .unwrap();
        let module = &c.http.probe.roundtrips["mailflow"];
        assert_eq!((module.monitor.as_str(), &module.check), ("loop", &c.monitors[0].check));
        assert_eq!(c.http.probe.max_roundtrips, 2);
        assert!(c.http.probe.modules.is_empty(), "configured modules of any kind replace the built-in ones");
        assert_eq!(load("").unwrap().http.probe.max_roundtrips, 1, "one at a time unless told");

        let text = format!(
            "{LOOP}
[http.probe.modules.sub]
tls = \"required\"
[http.probe.modules.rt]
roundtrip = \"loop\"
"
        );
        let c = load(&text).unwrap();
        assert_eq!((c.http.probe.modules.len(), c.http.probe.roundtrips.len()), (1, 1));

        let lines = LOOP.lines().count();
        for (module, line, field, why) in [
            ("roundtrip = \"nope\"", 3, "roundtrip", "no monitor has the id \"nope\""),
            ("roundtrip = \"mx\"", 3, "roundtrip", "is not a round trip"),
            ("roundtrip = \"loop\"\ntimeout = \"5s\"", 4, "timeout", "set timeout there"),
            (
                "roundtrip = \"loop\"\nallow = [\"smtp.example.org:587\"]",
                4,
                "allow",
                "takes its settings from monitor \"loop\"",
            ),
        ] {
            let (at, name, message) = invalid(&format!(
                "{LOOP}
[http.probe.modules.rt]
{module}
"
            ));
            assert_eq!(
                (at - lines, name.as_str()),
                (line, format!("http.probe.modules.rt.{field}").as_str()),
                "{message}"
            );
            assert!(message.contains(why), "{message}");
        }
        let (at, name, _) = invalid(&format!(
            "{LOOP}
[http.probe]
max_roundtrips = 17
"
        ));
        assert_eq!((at - lines, name.as_str()), (3, "http.probe.max_roundtrips"));
        let (_, name, _) = invalid(&format!(
            "{LOOP}
[http.probe.modules.\"r t\"]
roundtrip = \"loop\"
"
        ));
        assert_eq!(name, "http.probe.modules.r t");
    }

    #[test]
    fn bad_http_settings_are_named() {
        let (line, field, message) = invalid("[http]\nbasic_auth = { username = \"ops\", password = \"inline\" }\n");
        assert_eq!((line, field.as_str()), (2, "http.basic_auth.password"));
        assert!(message.contains("not accepted inline"), "{message}");
        let (_, field, _) = invalid("[http]\nbearer_token = \"0123456789abcdef0123\"\n");
        assert_eq!(field, "http.bearer_token");
        let (_, field, message) = invalid("[http]\nbearer_token_env = \"SHORT\"\n");
        assert_eq!(field, "http.bearer_token");
        assert!(message.contains("16 characters"), "{message}");
        let (_, field, _) = invalid("[http]\nbearer_token_env = \"UNSET\"\n");
        assert_eq!(field, "http.bearer_token_env");
        let (line, field, _) = invalid("[http]\npublic = [\"healthz\", \"everything\"]\n");
        assert_eq!((line, field.as_str()), (2, "http.public"));
        let (_, field, _) = invalid("[http]\nbasic_auth = { username = \"a:b\", password_env = \"PW\" }\n");
        assert_eq!(field, "http.basic_auth.username");
        let (_, field, _) = invalid("[http.probe]\nmax_probes = 0\n");
        assert_eq!(field, "http.probe.max_probes");
        let (line, field, message) =
            invalid("[http.probe.modules.sub]\nauth = { username = \"u\", password_env = \"PW\" }\n");
        assert_eq!((line, field.as_str()), (2, "http.probe.modules.sub.allow"));
        assert!(message.contains("needs an allow-list"), "{message}");
        let (line, field, message) = invalid("[http.probe.modules.sub]\nallow = [\"mx.example\", \"a*.example\"]\n");
        assert_eq!((line, field.as_str()), (2, "http.probe.modules.sub.allow"));
        assert!(message.contains("a*.example"), "{message}");
        let (_, field, _) = invalid("[http.probe.modules.sub]\ntls = \"sometimes\"\n");
        assert_eq!(field, "http.probe.modules.sub.tls");
        let (_, field, message) = invalid("[http.probe.modules.sub]\nehlo_name = \"a\\r\\nb\"\n");
        assert_eq!(field, "http.probe.modules.sub");
        assert!(!message.is_empty());
        let (_, field, _) = invalid("[http.probe.modules.\"a b\"]\n");
        assert_eq!(field, "http.probe.modules.a b");
        let (_, field, _) = invalid("[http]\nlisten = \"0.0.0.0:80\"\n");
        assert!(field.starts_with("http"), "{field}: unknown fields are refused");
    }
}
