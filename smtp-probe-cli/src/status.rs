//! Nagios-style status and exit codes: 0 up, 1 degraded, 2 down, 3 could not run. Every format exits this way.

use std::process::ExitCode;

use smtp_probe_tokio::{Cause, Verdict};

/// The outcome of a run, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Every target is up (exit 0).
    Ok,
    /// The worst target is degraded (exit 1).
    Warning,
    /// The worst target is down (exit 2).
    Critical,
    /// The probe could not run: bad arguments, unreadable files, a fault of this machine (`local_error`: no file
    /// descriptor left, a local firewall) (exit 3).
    Unknown,
}

impl Status {
    /// The status a verdict stands for.
    pub fn from_verdict(verdict: Verdict) -> Status {
        match verdict {
            Verdict::Up => Status::Ok,
            Verdict::Degraded => Status::Warning,
            Verdict::Down => Status::Critical,
        }
    }

    /// The status of a verdict and its cause: a probe that could not run (`local_error`) is unknown, whatever
    /// its verdict says.
    pub fn of(verdict: Verdict, cause: Option<Cause>) -> Status {
        match cause {
            Some(Cause::LocalError) => Status::Unknown,
            _ => Status::from_verdict(verdict),
        }
    }

    /// The Nagios label: `OK`, `WARNING`, `CRITICAL` or `UNKNOWN`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The process exit code.
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_that_could_not_run_is_unknown() {
        assert_eq!(Status::of(Verdict::Down, Some(Cause::LocalError)), Status::Unknown);
        assert_eq!(Status::of(Verdict::Down, Some(Cause::ConnectRefused)), Status::Critical);
        assert_eq!(Status::of(Verdict::Degraded, Some(Cause::SlowResponse)), Status::Warning);
        assert_eq!(Status::of(Verdict::Up, None), Status::Ok);
        assert_eq!(Status::Unknown.exit_code(), ExitCode::from(3));
    }
}
