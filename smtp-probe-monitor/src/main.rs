//! `smtp-probe-monitor`: runs the monitor engine from a configuration file and logs what it decides.
//!
//! ```text
//! smtp-probe-monitor run --config monitor.toml [--log-format json]
//! smtp-probe-monitor check --config monitor.toml      # validate the file and exit
//! smtp-probe-monitor test-channel --config monitor.toml ops   # send a test notification through a channel
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::engine::Engine;
use smtp_probe_monitor::logging::{self, LogFormat};

#[derive(Parser)]
#[command(
    name = "smtp-probe-monitor",
    version,
    about = "Continuous SMTP monitoring with history, incidents and alerts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the monitor until SIGINT or SIGTERM; SIGHUP or editing the file reloads it.
    Run {
        /// The configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match Config::load(&config) {
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
        },
        Command::TestChannel { config, channel } => {
            let c = match Config::load(&config) {
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
            match runtime.block_on(smtp_probe_monitor::delivery::send_test(&c, &channel)) {
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
        Command::Run { config, log_format } => {
            logging::init(match log_format {
                Format::Text => LogFormat::Text,
                Format::Json => LogFormat::Json,
            });
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(run(config))
        }
    }
}

async fn run(path: PathBuf) -> ExitCode {
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let engine = match Engine::start(config).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _reload = smtp_probe_monitor::reload::spawn(engine.clone(), path);
    wait_for_stop().await;
    tracing::info!("stopping");
    engine.shutdown(Duration::from_secs(10)).await;
    ExitCode::SUCCESS
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
