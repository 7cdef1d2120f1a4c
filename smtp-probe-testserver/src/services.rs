//! What every test that needs a real service (Postfix, Dovecot, PostgreSQL, a DNS testbed, …) shares: reading the
//! `env` file a `.ci/` setup script writes, and deciding whether a missing service skips the test or fails it.
//!
//! A plain `cargo test` on a machine where the services were never started skips those tests with a line on
//! stderr. CI sets `SMTP_PROBE_REQUIRE_SERVICES=1` after starting every service, and then a missing one is a test
//! failure, so a broken setup can never pass as a green run.
//!
//! ```
//! let vars = smtp_probe_testserver::services::parse_env_file("# comment\nA=1\nB='two words'\n");
//! assert_eq!(vars["A"], "1");
//! assert_eq!(vars["B"], "two words");
//! ```

use std::collections::HashMap;
use std::path::Path;

/// The variable CI sets to make a missing service a failure instead of a skip.
pub const REQUIRE_SERVICES_ENV: &str = "SMTP_PROBE_REQUIRE_SERVICES";

/// Whether missing services must fail tests (`SMTP_PROBE_REQUIRE_SERVICES=1`).
pub fn required() -> bool {
    std::env::var(REQUIRE_SERVICES_ENV).is_ok_and(|v| v == "1")
}

/// Called when `service` is not available to `test`: prints `<test>: skipped: no <service> (<how>)` to stderr
/// and returns `None`, or panics with that message when services are [`required`].
pub fn skip<T>(test: &str, service: &str, how: &str) -> Option<T> {
    let message = format!("{test}: skipped: no {service} ({how})");
    if required() {
        panic!("{message}, but {REQUIRE_SERVICES_ENV}=1 says every service must be running");
    }
    eprintln!("{message}");
    None
}

/// The variables with this prefix: from the process environment when it has `<prefix>HOST`-style variables
/// (`marker` names the one that must be there), else from the `env` file in `dir`.
pub fn vars(prefix: &str, marker: &str, dir: &Path) -> Option<HashMap<String, String>> {
    let vars: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with(prefix)).collect();
    if vars.contains_key(&format!("{prefix}{marker}")) {
        return Some(vars);
    }
    let text = std::fs::read_to_string(dir.join("env")).ok()?;
    Some(parse_env_file(&text))
}

/// Reads `KEY=value` lines as the `.ci` scripts write them with bash's `printf %q`: plain words with
/// backslash escapes (`a\\ b`, `\\[::1\\]`), or single-quoted (`''` for empty). `#` lines are comments.
pub fn parse_env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let value = match v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                Some(quoted) => quoted.to_owned(),
                None => {
                    let mut out = String::with_capacity(v.len());
                    let mut chars = v.chars();
                    while let Some(c) = chars.next() {
                        out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
                    }
                    out
                }
            };
            (k.trim().to_owned(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_are_read_as_bash_wrote_them() {
        let vars = parse_env_file(
            "# comment\nA=127.0.0.1:5353\nB=\\[::1\\]:5353\nC=mail.test.\\ 300\\ IN\\ DNSKEY\\ 257\nD=''\nE='a b'\n",
        );
        assert_eq!(vars["A"], "127.0.0.1:5353");
        assert_eq!(vars["B"], "[::1]:5353");
        assert_eq!(vars["C"], "mail.test. 300 IN DNSKEY 257");
        assert_eq!(vars["D"], "");
        assert_eq!(vars["E"], "a b");
        assert_eq!(vars.len(), 5);
    }

    #[test]
    fn quoted_values_and_comments() {
        let vars = parse_env_file("# written by a script\nX_DIR=/var/tmp/x\nX_NAME='a b'\nX_ESC=c\\ d\n");
        assert_eq!(vars.len(), 3);
        assert_eq!(vars["X_DIR"], "/var/tmp/x");
        assert_eq!(vars["X_NAME"], "a b");
        assert_eq!(vars["X_ESC"], "c d");
    }
}
