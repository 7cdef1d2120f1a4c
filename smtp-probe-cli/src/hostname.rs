//! The default EHLO name: this machine's host name when it is fully qualified, else `localhost`.
//!
//! Only local sources are read (no resolver: `hostname -f` could send a DNS query).

use std::process::Command;

/// The machine's host name if it contains a dot and is a valid DNS name, else `"localhost"`.
pub fn default_ehlo_name() -> String {
    machine_hostname().filter(|name| is_fqdn(name)).unwrap_or_else(|| "localhost".to_owned())
}

fn machine_hostname() -> Option<String> {
    let from_file = ["/etc/hostname", "/proc/sys/kernel/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .find(|name| !name.is_empty());
    from_file.or_else(|| {
        let output = Command::new("hostname").output().ok().filter(|o| o.status.success())?;
        let name = String::from_utf8(output.stdout).ok()?.trim().to_owned();
        (!name.is_empty()).then_some(name)
    })
}

/// A dotted DNS name made of letters, digits and hyphens (what an EHLO domain may be).
fn is_fqdn(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.contains('.')
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dotted_names_count() {
        assert!(is_fqdn("monitor.example.com"));
        assert!(is_fqdn("monitor.example.com."));
        assert!(!is_fqdn("vm"));
        assert!(!is_fqdn("bad name.example"));
        assert!(!is_fqdn("-x.example"));
        assert!(!is_fqdn("a..b"));
        let name = default_ehlo_name();
        assert!(name == "localhost" || is_fqdn(&name), "{name}");
    }
}
