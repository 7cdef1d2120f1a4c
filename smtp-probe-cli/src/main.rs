//! The `smtp-probe` command; everything is in the library (`smtp_probe_cli`).

fn main() -> std::process::ExitCode {
    smtp_probe_cli::main_with_args(std::env::args_os())
}
