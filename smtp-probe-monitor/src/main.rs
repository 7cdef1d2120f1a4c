//! `smtp-probe-monitor`: runs the monitor engine from a configuration file, serves its status page, API and
//! metrics, and logs what it decides.
//!
//! ```text
//! smtp-probe-monitor --demo [--listen 127.0.0.1:8080]         # against the bundled demo servers, state in a temp dir
//! smtp-probe-monitor run --config monitor.toml [--listen ADDR] [--log-format json]
//! smtp-probe-monitor check --config monitor.toml              # validate the file and exit
//! smtp-probe-monitor test-channel --config monitor.toml ops   # send a test notification through a channel
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::{Engine, EngineHandle};
use smtp_probe_monitor::http::{HttpOptions, HttpService};
use smtp_probe_monitor::logging::{self, LogFormat};

/// mimalloc rather than the system allocator: glibc gives each thread that allocates an arena of its own and
/// keeps what was freed in it, which with the async workers, the blocking pool and the database threads held
/// tens of megabytes the service no longer used.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Has mimalloc hand freed memory back to the system at once, not a second later: the status page and
/// `/metrics` are rendered on blocking-pool threads that then sit idle, and what they allocated would stay
/// resident until they allocate again (at 10,000 monitors, about 60 MiB of the peak; no measurable CPU).
#[cfg(feature = "mimalloc")]
fn return_freed_memory_at_once() {
    /// `mi_option_purge_delay` in mimalloc's `mi_option_t` (not among the Rust bindings' names).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    #[allow(unsafe_code)]
    // SAFETY: mi_option_set stores an option's value; it takes no pointers and may be called at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

#[derive(Parser)]
#[command(
    name = "smtp-probe-monitor",
    version,
    about = "Continuous SMTP monitoring with history, incidents, alerts, a status page and metrics",
    args_conflicts_with_subcommands = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Watch the bundled demo server and scripted faulty ones (state in a temporary directory) and serve the
    /// status page.
    #[arg(long)]
    demo: bool,
    /// The HTTP address for --demo.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Log lines as text or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    log_format: Format,
}

#[derive(Subcommand)]
enum Command {
    /// Run the monitor until SIGINT or SIGTERM; SIGHUP or editing the file reloads it.
    Run {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Serve HTTP here instead of the configuration's `service.listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Log lines as text or JSON.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        log_format: Format,
    },
    /// Validate a configuration file and exit (0 valid, 1 not).
    Check {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Send a test notification through one alert channel and say what the receiver answered (0 delivered).
    TestChannel {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// The channel's name (`[channels.<name>]`).
        channel: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

impl From<Format> for LogFormat {
    fn from(f: Format) -> LogFormat {
        match f {
            Format::Text => LogFormat::Text,
            Format::Json => LogFormat::Json,
        }
    }
}

fn main() -> ExitCode {
    #[cfg(feature = "mimalloc")]
    return_freed_memory_at_once();
    let cli = Cli::parse();
    let (format, job) = match cli.command {
        Some(Command::Check { config }) => {
            return match Config::load(&config) {
                Ok(c) => {
                    println!(
                        "{}: valid, {} monitor(s), {} channel(s)",
                        config.display(),
                        c.monitors.len(),
                        c.channels.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", config.display());
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::TestChannel { config, channel }) => return test_channel(&config, &channel),
        Some(Command::Run { config, listen, log_format }) => (log_format, Job::Run { config, listen }),
        None if cli.demo => (cli.log_format, Job::Demo { listen: cli.listen }),
        None => {
            eprintln!("smtp-probe-monitor: give a command (run, check, test-channel) or --demo; see --help");
            return ExitCode::from(2);
        }
    };
    logging::init(format.into());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match job {
            Job::Run { config, listen } => run(config, listen).await,
            Job::Demo { listen } => demo(listen).await,
        }
    })
}

fn test_channel(config: &std::path::Path, channel: &str) -> ExitCode {
    let c = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", config.display());
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(smtp_probe_monitor::delivery::send_test(&c, channel)) {
        Ok(said) => {
            println!("{channel}: delivered ({said})");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{channel}: {e}");
            ExitCode::FAILURE
        }
    }
}

enum Job {
    Run { config: PathBuf, listen: Option<SocketAddr> },
    Demo { listen: SocketAddr },
}

async fn run(path: PathBuf, listen: Option<SocketAddr>) -> ExitCode {
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let listen = listen.unwrap_or(config.service.listen);
    let listener = match bind(listen).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let engine = match Engine::start(config.clone()).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _reload = smtp_probe_monitor::reload::spawn(engine.clone(), path);
    serve_until_stopped(engine, &config, listener, HttpOptions::default()).await
}

#[cfg(feature = "demo")]
async fn demo(listen: SocketAddr) -> ExitCode {
    let demo = match smtp_probe_monitor::demo::Demo::start(listen) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match bind(listen).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let engine = match Engine::start(demo.config.clone()).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(listen);
    println!("smtp-probe-monitor demo: status page on http://{addr}/");
    println!(
        "  also http://{addr}/api/v1/monitors, http://{addr}/metrics, http://{addr}/probe?module=demo&target={}",
        demo.demo_target()
    );
    println!("  state in {} (removed at exit); Ctrl-C stops", demo.dir().display());
    let options = HttpOptions {
        board_refresh: Some(Duration::from_secs(10)),
        extra_modules: demo.probe_modules(),
        ..HttpOptions::default()
    };
    serve_until_stopped(engine, &demo.config, listener, options).await
}

#[cfg(not(feature = "demo"))]
async fn demo(_listen: SocketAddr) -> ExitCode {
    eprintln!("smtp-probe-monitor: built without the demo feature");
    ExitCode::FAILURE
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ExitCode> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let hint =
            if e.kind() == std::io::ErrorKind::AddrInUse { " (another program uses it: try --listen)" } else { "" };
        tracing::error!("cannot listen on {addr}: {e}{hint}");
        ExitCode::FAILURE
    })
}

async fn serve_until_stopped(
    engine: EngineHandle,
    config: &Config,
    listener: tokio::net::TcpListener,
    options: HttpOptions,
) -> ExitCode {
    let http = match HttpService::start_with(engine.clone(), &config.http, options) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("cannot start HTTP: {e}");
            engine.shutdown(Duration::from_secs(10)).await;
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        if !addr.ip().is_loopback() && !config.http.auth.is_set() {
            tracing::warn!(%addr, "HTTP listens beyond loopback without credentials: set [http] basic_auth or bearer_token_env");
        }
        tracing::info!(%addr, "HTTP: status page, /api/v1, /metrics, /probe, /healthz");
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn({
        let router = http.router();
        let limits = http.limits();
        async move {
            smtp_probe_monitor::http::serve(listener, router, limits, async {
                let _ = stop_rx.await;
            })
            .await
        }
    });
    let code = tokio::select! {
        () = wait_for_stop() => ExitCode::SUCCESS,
        r = server => {
            tracing::error!("the HTTP server stopped: {r:?}");
            ExitCode::FAILURE
        }
    };
    tracing::info!("stopping");
    let _ = stop_tx.send(());
    engine.shutdown(Duration::from_secs(10)).await;
    drop(http);
    code
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
