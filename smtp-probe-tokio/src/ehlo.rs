//! The default EHLO name: this machine's host name when it is fully qualified, else `localhost`.
//!
//! Only local files are read: no resolver (`hostname -f` could send a DNS query), no socket.

use smtp_probe_proto::Domain;

/// Where Linux and most Unix systems keep the host name.
const HOST_NAME_FILES: [&str; 2] = ["/etc/hostname", "/proc/sys/kernel/hostname"];

/// The name to send in EHLO when the caller has none: this machine's host name if it is a fully qualified
/// domain name (it has a dot, and is made of letters, digits and hyphens), else `"localhost"`. The host name is
/// read from `/etc/hostname` or `/proc/sys/kernel/hostname`, never looked up in DNS.
///
/// Receivers may check the EHLO name; a monitor should set its real FQDN explicitly
/// ([`ProbeConfigBuilder::ehlo_name`](crate::proto::ProbeConfigBuilder::ehlo_name)) and use this only as the
/// default.
///
/// ```
/// let name = smtp_probe_tokio::default_ehlo_name();
/// assert!(name == "localhost" || name.contains('.'));
/// ```
pub fn default_ehlo_name() -> String {
    let host_name = HOST_NAME_FILES
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .find(|name| !name.is_empty());
    ehlo_name_for(host_name.as_deref())
}

/// The EHLO name for a machine with this host name.
fn ehlo_name_for(host_name: Option<&str>) -> String {
    let fqdn = host_name.and_then(|name| name.parse::<Domain>().ok()).filter(|domain| {
        let name = domain.as_str();
        name.contains('.') && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    });
    fqdn.map_or_else(|| "localhost".to_owned(), |domain| domain.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fully_qualified_names_count() {
        assert_eq!(ehlo_name_for(Some("monitor.example.com")), "monitor.example.com");
        assert_eq!(ehlo_name_for(Some("monitor.example.com.")), "monitor.example.com");
        for not_a_fqdn in ["vm", "bad name.example", "-x.example", "a..b", "192.0.2.1", "under_score.example", ""] {
            assert_eq!(ehlo_name_for(Some(not_a_fqdn)), "localhost", "{not_a_fqdn:?}");
        }
        assert_eq!(ehlo_name_for(None), "localhost");
    }
}
