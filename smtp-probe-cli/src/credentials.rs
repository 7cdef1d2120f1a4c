//! AUTH credentials from the command line, a file or the environment, so a password can stay out of the process
//! list. Sources, first found wins: `-P`, `--authpass-file`, `SMTP_PROBE_PASSWORD`.

use smtp_probe_tokio::proto::Secret;

use crate::Failure;
use crate::args::Args;

/// The environment variable read for the password when `-U` is given without `-P` or `--authpass-file`.
pub const PASSWORD_ENV: &str = "SMTP_PROBE_PASSWORD";

/// The user name and password to authenticate with, if any. A password or mechanism without a user, or a user
/// without a password, is a usage error.
pub fn credentials(args: &Args) -> Result<Option<(String, Secret)>, Failure> {
    let Some(user) = &args.authuser else {
        if args.authpass.is_some() || args.authpass_file.is_some() || args.authtype.is_some() {
            return Err(Failure::new("-A, -P and --authpass-file need a user name (-U/--authuser)"));
        }
        return Ok(None);
    };
    let password = if let Some(password) = &args.authpass {
        password.clone()
    } else if let Some(path) = &args.authpass_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(format!("cannot read the password file {}: {e}", path.display())))?;
        let first = text.lines().next().unwrap_or_default();
        first.strip_suffix('\r').unwrap_or(first).to_owned()
    } else if let Some(password) = std::env::var_os(PASSWORD_ENV) {
        password.into_string().map_err(|_| Failure::new(format!("{PASSWORD_ENV} is not valid UTF-8")))?
    } else {
        return Err(Failure::new(format!("-U needs a password: -P, --authpass-file or the {PASSWORD_ENV} variable")));
    };
    Ok(Some((user.clone(), Secret::new(password))))
}
