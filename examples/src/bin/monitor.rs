//! `monitor`: see [`smtp_probe_examples::monitor`] for what it does, how to run it and how to operate it.

use std::process::ExitCode;

use clap::Parser;
use smtp_probe_examples::monitor::{Args, run};

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("monitor: {e}");
            ExitCode::FAILURE
        }
    }
}
