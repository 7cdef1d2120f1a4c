//! AUTH credentials from the command line, a file or the environment, so a password can stay out of the process
//! list. Sources, first found wins: `-P`, `--authpass-file`, `SMTP_PROBE_PASSWORD`.

use std::io::Read as _;
use std::path::Path;

use smtp_probe_tokio::proto::Secret;

use crate::Failure;
use crate::args::Args;

/// The most bytes `--authpass-file` reads: a password file holds one line, and a path given by mistake (a log, a
/// device) must not be read whole.
pub const MAX_PASSWORD_FILE: u64 = 4096;

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
        password_from_file(path)?
    } else if let Some(password) = std::env::var_os(PASSWORD_ENV) {
        password.into_string().map_err(|_| Failure::new(format!("{PASSWORD_ENV} is not valid UTF-8")))?
    } else {
        return Err(Failure::new(format!("-U needs a password: -P, --authpass-file or the {PASSWORD_ENV} variable")));
    };
    Ok(Some((user.clone(), Secret::new(password))))
}

/// The password in a file: its first line, without the line ending. A file over [`MAX_PASSWORD_FILE`] bytes,
/// unreadable or not UTF-8, is a usage error; nothing past the limit is read.
pub fn password_from_file(path: &Path) -> Result<String, Failure> {
    let failed = |why: String| Failure::new(format!("cannot read the password file {}: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| failed(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PASSWORD_FILE + 1).read_to_end(&mut bytes).map_err(|e| failed(e.to_string()))?;
    if bytes.len() as u64 > MAX_PASSWORD_FILE {
        return Err(failed(format!(
            "it is larger than {MAX_PASSWORD_FILE} bytes (it should hold the password on its first line)"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| failed("it is not UTF-8".to_owned()))?;
    let first = text.split('\n').next().unwrap_or_default();
    Ok(first.strip_suffix('\r').unwrap_or(first).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn file(bytes: &[u8]) -> (std::path::PathBuf, impl Drop) {
        struct Remove(std::path::PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let path = std::env::temp_dir().join(format!("smtp-probe-pw-{}-{}", std::process::id(), bytes.len()));
        std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
        (path.clone(), Remove(path))
    }

    #[test]
    fn first_line_without_its_ending() {
        for (content, password) in [
            (&b"s3cret\n"[..], "s3cret"),
            (b"s3cret\r\nsecond line\n", "s3cret"),
            (b"s3cret", "s3cret"),
            (b"", ""),
            (b"with spaces  \n", "with spaces  "),
        ] {
            let (path, _keep) = file(content);
            assert_eq!(password_from_file(&path).unwrap(), password, "{content:?}");
        }
    }

    #[test]
    fn too_big_or_not_text_is_refused() {
        let (path, _keep) = file(&[b'x'; MAX_PASSWORD_FILE as usize]);
        assert_eq!(password_from_file(&path).unwrap().len(), MAX_PASSWORD_FILE as usize);
        let (path, _keep) = file(&[b'x'; MAX_PASSWORD_FILE as usize + 1]);
        let err = password_from_file(&path).unwrap_err().to_string();
        assert!(err.contains("larger than 4096 bytes"), "{err}");
        let (path, _keep) = file(b"\xff\xfe\n");
        assert!(password_from_file(&path).unwrap_err().to_string().contains("not UTF-8"));
    }
}
