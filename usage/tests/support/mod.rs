//! Where the loopback Postfix is (`.ci/postfix.sh` writes it), and the project's rule for a missing service: skip
//! with a reason, unless `SMTP_PROBE_REQUIRE_SERVICES=1` makes it a failure. Not user code.

use std::collections::HashMap;

/// The `SMTP_PROBE_POSTFIX_*` settings, from the environment or the env file; `None` (after saying why) to skip.
pub fn postfix() -> Option<HashMap<String, String>> {
    let path = std::env::var("SMTP_PROBE_POSTFIX_ENV").unwrap_or_else(|_| "/var/tmp/smtp-probe-postfix/env".into());
    let file = std::fs::read_to_string(&path).unwrap_or_default();
    let from_file = file.lines().filter_map(|line| line.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned()));
    let env: HashMap<String, String> =
        from_file.chain(std::env::vars().filter(|(k, _)| k.starts_with("SMTP_PROBE_POSTFIX_"))).collect();
    if env.contains_key("SMTP_PROBE_POSTFIX_PLAIN_PORT") {
        return Some(env);
    }
    let why = format!("no loopback Postfix (run .ci/postfix.sh; looked in the environment and {path})");
    assert!(std::env::var("SMTP_PROBE_REQUIRE_SERVICES").as_deref() != Ok("1"), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// One setting, which `.ci/postfix.sh` always writes.
pub fn get<'a>(env: &'a HashMap<String, String>, key: &str) -> &'a str {
    env.get(&format!("SMTP_PROBE_POSTFIX_{key}")).unwrap_or_else(|| panic!("SMTP_PROBE_POSTFIX_{key} is not set"))
}
