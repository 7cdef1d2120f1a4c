//! `health-endpoint`: see [`smtp_probe_examples::health`] for what it does, how to run it and how to operate it.

use std::process::ExitCode;

use clap::Parser;
use smtp_probe_examples::health::{Args, run};

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("health-endpoint: {e}");
            ExitCode::FAILURE
        }
    }
}
