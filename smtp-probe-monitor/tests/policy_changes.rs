//! Policy-change alerts end to end: a `domain:` monitor on the DNSSEC bed's rollover zone (Knot signing, the
//! loopback Postfix as MX, the MTA-STS policy over HTTPS), the zone changed at runtime the way an operator would
//! (a new MTA-STS id, a TLSA rollover that no longer matches the live certificate: the classic DANE outage), and
//! what the webhook receiver gets. Prints `skipped: …` without the bed.

mod support;

use std::path::Path;
use std::time::Duration;

use smtp_probe_monitor::check::Status;
use smtp_probe_monitor::config::Config;
use smtp_probe_monitor::storage::{AlertQuery, Store};
use smtp_probe_testserver::domain_bed::{self, DnsEnv, Scenario};
use smtp_probe_testserver::policy_server;
use smtp_probe_testsuite::postfix;
use support::fast::{events, id, start};
use support::receiver::Receiver;

/// The rollover zone's records, set and put back with `knotc` (Knot signs each change).
struct Rollover<'a> {
    dns: &'a DnsEnv,
    zone: String,
}

impl Rollover<'_> {
    fn set(&self, tlsa: &str, mta_sts_id: &str) {
        let tlsa_owner = format!("_25._tcp.mx1.{}", self.zone);
        self.dns.replace_records(&tlsa_owner, 1, "TLSA", &[tlsa]).expect("knotc sets the TLSA record");
        let txt = format!("\"v=STSv1; id={mta_sts_id}\"");
        let owner = format!("_mta-sts.{}", self.zone);
        self.dns.replace_records(&owner, 1, "TXT", &[&txt]).expect("knotc sets the _mta-sts record");
    }

    /// As `.ci/dns.sh` wrote it: the TLSA record of the Postfix key, the bed's MTA-STS id.
    fn restore(&self) {
        self.set(&self.dns.tlsa_postfix, &self.dns.mta_sts_id);
    }
}

impl Drop for Rollover<'_> {
    fn drop(&mut self) {
        self.restore();
    }
}

fn monitor_config(dns: &DnsEnv, dir: &Path, webhook: &str, ca: &Path, mx: u16, policies: &str) -> Config {
    let zone = dns.zone(Scenario::Rollover);
    let text = format!(
        r#"
[storage]
kind = "sqlite"
path = "{db}"
[service]
instance = "policy-test"
dns_server = "{dns_server}"
trust_anchor_file = "{anchor}"
[scheduler]
min_host_spacing = "0s"
min_interval = "1s"
[incidents]
open_after = 2
close_after = 2
recheck_after = "200ms"
[alerts]
reminder_every = "off"
[delivery]
retry_initial = "200ms"
retry_max = "2s"
[channels.hook]
type = "webhook"
url = "{webhook}"
[defaults]
interval = "2s"
timeout = "1900ms"
channels = ["hook"]
ca_file = "{ca}"
allow_addresses = ["127.0.0.0/8", "::1"]
[[monitors]]
name = "rollover"
target = "domain:{zone}"
connect_to = ["mx1.{zone}=127.0.0.1:{mx}", "mta-sts.{zone}={policies}"]
"#,
        db = dir.join("monitor.db").display(),
        dns_server = dns.authoritative,
        anchor = dns.trust_anchor_file.display(),
        ca = ca.display(),
    );
    Config::from_toml_str(&text, Path::new(".")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn policy_changes(rx: &Receiver) -> Vec<Vec<String>> {
    rx.accepted_alerts()
        .iter()
        .filter(|a| a["event"] == "policy_changed")
        .map(|a| a["changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect())
        .collect()
}

/// The domain is up and checked; then its operator publishes a new MTA-STS id (without changing the policy file)
/// and rolls the TLSA record over to a key the MX does not have. One "policy changed" alert says both, that the
/// live certificate matches none of the new records, and that the id changed over the same policy; the
/// `dane_mismatch` incident opens beside it. After a restart the monitor still remembers what was published: the
/// change back is told, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_mta_sts_id_and_a_tlsa_rollover_are_told_once() {
    const TEST: &str = "a_new_mta_sts_id_and_a_tlsa_rollover_are_told_once";
    let Some(dns) = domain_bed::dns_env_or_skip(TEST) else { return };
    let Some(postfix) = postfix::env_or_skip(TEST) else { return };
    let zone = dns.zone(Scenario::Rollover).to_owned();
    let rollover = Rollover { dns: &dns, zone: zone.clone() };
    rollover.restore(); // whatever an interrupted run left
    let policies = policy_server::start_for_bed(&dns, &postfix.dir).await.expect("the policy server starts");
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &postfix.ca_pem).unwrap();
    let config = || {
        let policies = policies.addr().to_string();
        monitor_config(&dns, dir.path(), &rx.url("/hook"), &ca, postfix.plain_port, &policies)
    };
    let store = support::sqlite_store(dir.path()).await;
    let engine = start(config(), &store).await;
    let m = id("rollover");

    support::wait_for(Duration::from_secs(30), "two checks", async || engine.monitor(&m).unwrap().checks >= 2).await;
    let last = engine.monitor(&m).unwrap().last_check.unwrap();
    assert_eq!(last.status, Status::Up, "{}", last.summary);
    let published = last.published.as_ref().expect("a domain check says what is published");
    assert_eq!(published.parts["mta-sts record"], format!("v=STSv1; id={};", dns.mta_sts_id));
    assert!(rx.accepted_alerts().is_empty(), "the first sighting is the baseline: {:?}", rx.accepted_alerts());

    let new_id = "2026113099";
    rollover.set(&dns.tlsa_wrong, new_id);
    support::wait_for(Duration::from_secs(30), "the policy-change alert", async || !policy_changes(&rx).is_empty())
        .await;
    let changes = &policy_changes(&rx)[0];
    let (old_tlsa, new_tlsa) = (dns.tlsa_postfix.to_ascii_lowercase(), dns.tlsa_wrong.to_ascii_lowercase());
    assert_eq!(changes[0], format!("MTA-STS id: {} → {new_id}", dns.mta_sts_id), "{changes:#?}");
    assert_eq!(
        changes[1],
        format!(
            "TLSA _25._tcp.mx1.{zone}: {old_tlsa} → {new_tlsa}: the live certificate matches none of them, senders \
             that use DANE will not deliver"
        ),
        "{changes:#?}"
    );
    assert!(changes[2].contains("mta_sts_id_changed_policy_unchanged"), "{changes:#?}");
    assert_eq!(changes.len(), 3, "{changes:#?}");
    support::wait_for(Duration::from_secs(30), "the dane_mismatch incident", async || {
        rx.accepted_alerts().iter().any(|a| a["event"] == "opened" && a["incident"]["cause"] == "dane_mismatch")
    })
    .await;
    let checks = engine.monitor(&m).unwrap().checks;
    support::wait_for(Duration::from_secs(30), "three more checks", async || {
        engine.monitor(&m).unwrap().checks >= checks + 3
    })
    .await;
    assert_eq!(policy_changes(&rx).len(), 1, "told once: {:?}", events(&rx.accepted_alerts()));
    let outbox = store.alerts(&AlertQuery { monitor: Some(m.clone()), ..AlertQuery::default() }, 50).await.unwrap();
    assert_eq!(outbox.iter().filter(|a| a.alert.kind.as_str() == "policy_changed").count(), 1);
    engine.shutdown(Duration::from_secs(5)).await;

    // Put back while no monitor runs; a new instance on the same database compares with what it remembers.
    rollover.restore();
    let engine = start(config(), &store).await;
    support::wait_for(Duration::from_secs(30), "the change back", async || policy_changes(&rx).len() >= 2).await;
    let back = &policy_changes(&rx)[1];
    assert_eq!(back[0], format!("MTA-STS id: {new_id} → {}", dns.mta_sts_id), "{back:#?}");
    assert_eq!(
        back[1],
        format!("TLSA _25._tcp.mx1.{zone}: {new_tlsa} → {old_tlsa}: the live certificate matches"),
        "{back:#?}"
    );
    support::wait_for(Duration::from_secs(30), "the recovery", async || {
        events(&rx.accepted_alerts()).contains(&"recovered".to_owned())
    })
    .await;
    engine.shutdown(Duration::from_secs(5)).await;
}
