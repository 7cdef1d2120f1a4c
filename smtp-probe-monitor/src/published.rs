//! What a `domain:` check found published, and what changed since: the MX hosts, the MTA-STS record and policy,
//! and the TLSA records of each MX host, remembered between checks (and across restarts, in storage) so the
//! alert policy can tell people when they change: a new MTA-STS id, a policy changed under the same id (senders
//! that cached it keep the old one), a TLSA rollover, with whether the live certificate still matches (the
//! classic DANE outage), MX hosts added or removed.
//!
//! A part whose lookup failed this time is unknown, not gone: the memory keeps its last value, so a flaky
//! resolver makes no "withdrawn" alert followed by a "published" one.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use smtp_probe_tokio::proto::domain::{Answer, Dane, DnssecStatus, DomainReport, RecordLookup, RecordType};
use smtp_probe_tokio::proto::policy::mta_sts::{MtaStsPolicy, MtaStsRecord, compare_sightings};

/// The key of the MX part.
const MX: &str = "mx";
/// The key of the `_mta-sts` record part.
const MTA_STS_RECORD: &str = "mta-sts record";
/// The key of the MTA-STS policy part.
const MTA_STS_POLICY: &str = "mta-sts policy";
/// The prefix of the TLSA part of one MX host, before the name looked up (`tlsa _25._tcp.mx1.example.com`).
const TLSA: &str = "tlsa ";
/// A part that provably does not exist (NXDOMAIN, no data, no record).
const NONE: &str = "none";

/// The most bytes of one part kept as is; a longer one keeps its head and a digest of the whole, so any change
/// is still seen.
const MAX_PART: usize = 512;
/// The most parts kept per monitor (TLSA sets of MX hosts beyond it are not watched).
const MAX_PARTS: usize = 40;
/// The most change lines in one alert.
const MAX_CHANGES: usize = 12;
/// The most bytes of one change line.
const MAX_CHANGE_LINE: usize = 700;

/// What one domain check found published, part by part. A part is absent when its lookup gave no answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// The domain: a monitor that now checks another domain starts over instead of reporting a change.
    pub domain: String,
    /// Each known part: `mx` (`10 mx1.example.com, 20 mx2.example.com`), `mta-sts record` (`v=STSv1; id=…`),
    /// `mta-sts policy` (the policy file, normalised), `tlsa _25._tcp.<host>` (the TLSA records, sorted); `none`
    /// when the lookup proved there is none.
    pub parts: BTreeMap<String, String>,
    /// What DANE made of each MX host's live certificate in this check, by TLSA part (`the live certificate
    /// matches`, `… matches none of them, …`): the wording of a TLSA change, never remembered.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dane: BTreeMap<String, String>,
}

impl Published {
    /// What `report` found published.
    pub fn from_report(report: &DomainReport) -> Published {
        let domain = report.domain.as_str().trim_end_matches('.').to_ascii_lowercase();
        let mut parts = BTreeMap::new();
        let lookup = |rtype: RecordType, name: &str| {
            report.records.iter().find(|l| l.rtype == rtype && l.name.eq_ignore_ascii_case(name))
        };
        if let Some(value) = lookup(RecordType::Mx, &domain).and_then(|l| known(l, mx_value)) {
            parts.insert(MX.to_owned(), value);
        }
        let record_lookup = lookup(RecordType::Txt, &format!("_mta-sts.{domain}"));
        let record = record_lookup.and_then(|l| {
            known(l, |_| {
                report.mta_sts.record.as_ref().map_or_else(|| NONE.to_owned(), |r| format!("v=STSv1; id={};", r.id))
            })
        });
        match (record.as_deref(), report.mta_sts.policy()) {
            (Some(NONE), _) => {
                parts.insert(MTA_STS_POLICY.to_owned(), NONE.to_owned());
            }
            (Some(_), Some(policy)) => {
                parts.insert(MTA_STS_POLICY.to_owned(), policy_text(policy));
            }
            _ => {} // no answer, or the fetch failed: the policy is unknown this time
        }
        if let Some(record) = record {
            parts.insert(MTA_STS_RECORD.to_owned(), record);
        }
        let mut dane = BTreeMap::new();
        for host in report.hosts.iter().take(MAX_PARTS) {
            let name = host.host.trim_end_matches('.').to_ascii_lowercase();
            // The name the check looked up (its port's `_N._tcp.`), else the SMTP one.
            let owner = report
                .records
                .iter()
                .find(|l| l.rtype == RecordType::Tlsa && host_of(&l.name).eq_ignore_ascii_case(&name))
                .map_or_else(|| format!("_25._tcp.{name}"), |l| l.name.to_ascii_lowercase());
            let key = format!("{TLSA}{owner}");
            let value = match &host.dane {
                Dane::LookupFailed { .. } => continue,
                Dane::NoRecords => NONE.to_owned(),
                Dane::Bogus => "fails DNSSEC validation".to_owned(),
                Dane::Insecure => format!("{} (unsigned: senders ignore them)", sorted(&host.tlsa)),
                _ => sorted(&host.tlsa),
            };
            let verdict = match &host.dane {
                Dane::Authenticated { .. } => Some("the live certificate matches"),
                Dane::Mismatch { .. } => {
                    Some("the live certificate matches none of them, senders that use DANE will not deliver")
                }
                Dane::NoTls => Some("the host offered no TLS, senders that use DANE will not deliver"),
                Dane::NoUsable => Some("none is usable for SMTP: DANE senders require TLS and authenticate nothing"),
                _ => None,
            };
            if let Some(verdict) = verdict {
                dane.insert(key.clone(), verdict.to_owned());
            }
            parts.insert(key, value);
        }
        for value in parts.values_mut() {
            *value = compact(value);
        }
        Published { domain, parts, dane }
    }

    /// The MX host a TLSA part is about.
    fn tlsa_host(key: &str) -> Option<&str> {
        key.strip_prefix(TLSA).map(host_of)
    }

    /// The MX hosts of the `mx` part, when it is known.
    fn mx_hosts(&self) -> Option<BTreeSet<&str>> {
        let mx = self.parts.get(MX)?;
        if mx == NONE {
            return Some(BTreeSet::new());
        }
        mx.split(", ")
            .map(|entry| entry.split_once(' ').filter(|(pref, _)| pref.parse::<u16>().is_ok()).map(|(_, host)| host))
            .collect()
    }
}

/// The host of a TLSA owner name: `_25._tcp.mx1.example.com` is about `mx1.example.com`.
fn host_of(owner: &str) -> &str {
    match owner.split_once("._tcp.") {
        Some((port, host)) if port.starts_with('_') => host,
        _ => owner,
    }
}

/// The value of a lookup that answered (`none` for no records), or `None` when it gave no answer.
fn known(lookup: &RecordLookup, value: impl FnOnce(&[String]) -> String) -> Option<String> {
    if lookup.dnssec == DnssecStatus::Bogus {
        return Some("fails DNSSEC validation".to_owned());
    }
    match &lookup.answer {
        Answer::Failed(_) => None,
        Answer::NoData | Answer::NxDomain => Some(NONE.to_owned()),
        Answer::Records(records) => Some(value(records)).filter(|v| !v.is_empty()).or_else(|| Some(NONE.to_owned())),
        _ => None,
    }
}

/// `10 mx1.example.com, 20 mx2.example.com`, sorted by preference then name; empty for none; the null MX (RFC
/// 7505) said as such.
fn mx_value(records: &[String]) -> String {
    let mut mx: Vec<(u16, String)> = records
        .iter()
        .filter_map(|r| {
            let (pref, host) = r.split_once(' ')?;
            Some((pref.parse().ok()?, host.trim().trim_end_matches('.').to_ascii_lowercase()))
        })
        .collect();
    mx.sort();
    mx.dedup();
    if let [(0, host)] = mx.as_slice()
        && host.is_empty()
    {
        return "0 . (null MX: the domain accepts no mail)".to_owned();
    }
    let list: Vec<String> = mx.iter().map(|(p, h)| format!("{p} {h}")).collect();
    list.join(", ")
}

/// The records sorted (the order of an RRset means nothing), `; `-separated; `none` when empty.
fn sorted(records: &[String]) -> String {
    if records.is_empty() {
        return NONE.to_owned();
    }
    let mut r: Vec<String> = records.iter().map(|r| r.to_ascii_lowercase()).collect();
    r.sort();
    r.dedup();
    r.join("; ")
}

/// The policy as a normalised policy file (what senders act on: mode, mx patterns, max_age), which parses back.
fn policy_text(policy: &MtaStsPolicy) -> String {
    let mut text = format!("version: STSv1\nmode: {}\n", policy.mode);
    for mx in &policy.mx {
        text.push_str(&format!("mx: {mx}\n"));
    }
    text.push_str(&format!("max_age: {}\n", policy.max_age));
    text
}

/// The value itself, or when longer than [`MAX_PART`] its head and a digest of the whole.
fn compact(value: &str) -> String {
    if value.len() <= MAX_PART {
        return value.to_owned();
    }
    let mut head = 200;
    while !value.is_char_boundary(head) {
        head -= 1;
    }
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("{}… ({} bytes, sha256 {hex}…)", &value[..head], value.len())
}

/// What the monitor remembers after `current`, and the changes since `previous` people should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The memory to keep: `previous` with every part `current` knows replaced, the TLSA parts of hosts no longer
    /// in the MX set dropped.
    pub memory: Published,
    /// One line per change, for people; empty when nothing known changed.
    pub changes: Vec<String>,
}

/// Compares a check's findings with the memory. The first check of a domain (or of another domain than the
/// memory's) sets the memory and reports nothing.
pub fn compare(previous: Option<&Published>, current: &Published) -> Comparison {
    let baseline =
        || Comparison { memory: Published { dane: BTreeMap::new(), ..current.clone() }, changes: Vec::new() };
    let Some(previous) = previous.filter(|p| p.domain == current.domain) else { return baseline() };
    let mut changes = Vec::new();
    for (key, now) in &current.parts {
        let Some(before) = previous.parts.get(key).filter(|before| *before != now) else { continue };
        changes.push(describe(key, before, now, current));
    }
    if let Some(line) = sightings(previous, current) {
        changes.push(line);
    }
    if changes.len() > MAX_CHANGES {
        let more = changes.len() - (MAX_CHANGES - 1);
        changes.truncate(MAX_CHANGES - 1);
        changes.push(format!("and {more} more changes"));
    }
    for line in &mut changes {
        *line = crate::check::clip(line, MAX_CHANGE_LINE);
    }

    let mut memory = previous.clone();
    memory.parts.extend(current.parts.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(hosts) = current.mx_hosts() {
        memory.parts.retain(|key, _| Published::tlsa_host(key).is_none_or(|host| hosts.contains(host)));
    }
    while memory.parts.len() > MAX_PARTS {
        let Some(extra) = memory.parts.keys().rfind(|k| k.starts_with(TLSA)).cloned() else { break };
        memory.parts.remove(&extra);
    }
    memory.dane.clear();
    Comparison { memory, changes }
}

/// One change for people.
fn describe(key: &str, before: &str, now: &str, current: &Published) -> String {
    match key {
        MX => format!("MX hosts: {} → {}", before, now),
        MTA_STS_RECORD => match (id_of(before), id_of(now)) {
            (None, Some(id)) => format!("MTA-STS record published: id {id}"),
            (Some(id), None) => format!("MTA-STS record withdrawn (was id {id}): now {now}"),
            (Some(a), Some(b)) => format!("MTA-STS id: {a} → {b}"),
            (None, None) => format!("MTA-STS record: {before} → {now}"),
        },
        MTA_STS_POLICY => match (MtaStsPolicy::parse(before.as_bytes()), MtaStsPolicy::parse(now.as_bytes())) {
            (Ok(a), Ok(b)) => {
                let mut what = Vec::new();
                if a.mode != b.mode {
                    what.push(format!("mode {} → {}", a.mode, b.mode));
                }
                if a.mx != b.mx {
                    let list = |p: &MtaStsPolicy| p.mx.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
                    what.push(format!("mx {} → {}", list(&a), list(&b)));
                }
                if a.max_age != b.max_age {
                    what.push(format!("max_age {} → {}", a.max_age, b.max_age));
                }
                format!("MTA-STS policy: {}", what.join(", "))
            }
            (Err(_), Ok(b)) => format!("MTA-STS policy published: mode {}", b.mode),
            (Ok(a), Err(_)) => format!("MTA-STS policy withdrawn (was mode {}): now {now}", a.mode),
            (Err(_), Err(_)) => format!("MTA-STS policy: {} → {}", one_line(before), one_line(now)),
        },
        _ => {
            let owner = key.strip_prefix(TLSA).unwrap_or(key);
            let verdict = current.dane.get(key).map(|d| format!(": {d}")).unwrap_or_default();
            format!("TLSA {owner}: {before} → {now}{verdict}")
        }
    }
}

/// The `id` of a remembered `mta-sts record` part.
fn id_of(record: &str) -> Option<String> {
    MtaStsRecord::parse(record.as_bytes()).ok().map(|r| r.id)
}

/// What the core says of two sightings of the MTA-STS record and policy that senders with a cached copy get
/// wrong (the policy changed under the same id, or the id changed over the same policy).
fn sightings(previous: &Published, current: &Published) -> Option<String> {
    let sighting = |p: &Published| {
        let record = MtaStsRecord::parse(p.parts.get(MTA_STS_RECORD)?.as_bytes()).ok()?;
        let policy = MtaStsPolicy::parse(p.parts.get(MTA_STS_POLICY)?.as_bytes()).ok()?;
        Some((record, policy))
    };
    let (a, b) = (sighting(previous)?, sighting(current)?);
    let finding = compare_sightings((&a.0, &a.1), (&b.0, &b.1))?;
    Some(format!("MTA-STS: {} ({}, {})", finding.message, finding.problem.as_str(), finding.rule))
}

fn one_line(s: &str) -> String {
    s.trim_end().replace('\n', "; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID_A: &str = "v=STSv1; id=20261101;";
    const ID_B: &str = "v=STSv1; id=20261130;";

    fn published(parts: &[(&str, &str)]) -> Published {
        Published {
            domain: "example.com".to_owned(),
            parts: parts.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            dane: BTreeMap::new(),
        }
    }

    fn policy(mode: &str, max_age: u32) -> String {
        format!("version: STSv1\nmode: {mode}\nmx: *.example.com\nmax_age: {max_age}\n")
    }

    #[test]
    fn the_first_sighting_sets_the_memory_quietly() {
        let now = published(&[(MX, "10 mx1.example.com"), (MTA_STS_RECORD, ID_A)]);
        let c = compare(None, &now);
        assert!(c.changes.is_empty());
        assert_eq!(c.memory, now);
        // Another domain starts over too.
        let other = Published { domain: "example.net".to_owned(), ..now.clone() };
        let c = compare(Some(&other), &published(&[(MX, "10 mx9.example.com")]));
        assert!(c.changes.is_empty(), "{:?}", c.changes);
    }

    #[test]
    fn a_new_id_and_a_policy_change_are_told_with_what_changed() {
        let before = published(&[(MTA_STS_RECORD, ID_A), (MTA_STS_POLICY, &policy("testing", 86_400))]);
        let after = published(&[(MTA_STS_RECORD, ID_B), (MTA_STS_POLICY, &policy("enforce", 604_800))]);
        let c = compare(Some(&before), &after);
        assert_eq!(
            c.changes,
            ["MTA-STS policy: mode testing → enforce, max_age 86400 → 604800", "MTA-STS id: 20261101 → 20261130"]
        );
        assert_eq!(c.memory, after);
        assert!(compare(Some(&c.memory), &after).changes.is_empty(), "told once");
    }

    #[test]
    fn the_core_tells_when_senders_with_a_cached_policy_are_misled() {
        // The policy changed, the id did not: senders keep the old policy until max_age.
        let before = published(&[(MTA_STS_RECORD, ID_A), (MTA_STS_POLICY, &policy("testing", 86_400))]);
        let after = published(&[(MTA_STS_RECORD, ID_A), (MTA_STS_POLICY, &policy("enforce", 86_400))]);
        let c = compare(Some(&before), &after);
        assert_eq!(c.changes.len(), 2, "{:?}", c.changes);
        assert!(c.changes[1].contains("mta_sts_policy_changed_id_unchanged"), "{:?}", c.changes);
        // The id changed, the policy did not: was the new policy deployed?
        let after = published(&[(MTA_STS_RECORD, ID_B), (MTA_STS_POLICY, &policy("testing", 86_400))]);
        let c = compare(Some(&before), &after);
        assert_eq!(c.changes[0], "MTA-STS id: 20261101 → 20261130");
        assert!(c.changes[1].contains("mta_sts_id_changed_policy_unchanged"), "{:?}", c.changes);
    }

    #[test]
    fn publishing_and_withdrawing_are_named() {
        let none = published(&[(MTA_STS_RECORD, NONE), (MTA_STS_POLICY, NONE)]);
        let some = published(&[(MTA_STS_RECORD, ID_A), (MTA_STS_POLICY, &policy("enforce", 604_800))]);
        let c = compare(Some(&none), &some);
        assert_eq!(c.changes, ["MTA-STS policy published: mode enforce", "MTA-STS record published: id 20261101"]);
        let c = compare(Some(&some), &none);
        assert_eq!(
            c.changes,
            [
                "MTA-STS policy withdrawn (was mode enforce): now none",
                "MTA-STS record withdrawn (was id 20261101): now none"
            ]
        );
    }

    #[test]
    fn a_tlsa_rollover_says_whether_the_live_certificate_still_matches() {
        let key = format!("{TLSA}_25._tcp.mx1.example.com");
        let before = published(&[(&key, "3 1 1 aa")]);
        let mut after = published(&[(&key, "3 1 1 bb")]);
        let refused = "the live certificate matches none of them, senders that use DANE will not deliver";
        after.dane.insert(key.clone(), refused.to_owned());
        let c = compare(Some(&before), &after);
        assert_eq!(
            c.changes,
            ["TLSA _25._tcp.mx1.example.com: 3 1 1 aa → 3 1 1 bb: the live certificate matches none of them, senders \
              that use DANE will not deliver"]
        );
        assert!(c.memory.dane.is_empty(), "the match is this check's, not remembered");
        // A planned rollover: the new record published next to the old one, the certificate matching.
        let mut after = published(&[(&key, "3 1 1 aa; 3 1 1 bb")]);
        after.dane.insert(key.clone(), "the live certificate matches".to_owned());
        let c = compare(Some(&before), &after);
        assert_eq!(
            c.changes,
            ["TLSA _25._tcp.mx1.example.com: 3 1 1 aa → 3 1 1 aa; 3 1 1 bb: the live certificate matches"]
        );
    }

    #[test]
    fn unknown_parts_keep_their_memory_and_removed_hosts_are_forgotten() {
        let tlsa1 = format!("{TLSA}_25._tcp.mx1.example.com");
        let tlsa2 = format!("{TLSA}_25._tcp.mx2.example.com");
        let before = published(&[
            (MX, "10 mx1.example.com, 20 mx2.example.com"),
            (MTA_STS_RECORD, ID_A),
            (&tlsa1, "3 1 1 aa"),
            (&tlsa2, "3 1 1 bb"),
        ]);
        // The `_mta-sts` lookup and mx2's TLSA lookup failed: unknown, not withdrawn.
        let flaky = published(&[(MX, "10 mx1.example.com, 20 mx2.example.com"), (&tlsa1, "3 1 1 aa")]);
        let c = compare(Some(&before), &flaky);
        assert!(c.changes.is_empty(), "{:?}", c.changes);
        assert_eq!(c.memory, before);
        // mx2 left the MX set: its TLSA memory goes with it.
        let smaller = published(&[(MX, "10 mx1.example.com"), (&tlsa1, "3 1 1 aa")]);
        let c = compare(Some(&before), &smaller);
        assert_eq!(c.changes, ["MX hosts: 10 mx1.example.com, 20 mx2.example.com → 10 mx1.example.com"]);
        assert!(!c.memory.parts.contains_key(&tlsa2) && c.memory.parts.contains_key(MTA_STS_RECORD));
        // Unknown MX set: nothing is forgotten.
        let c = compare(Some(&before), &published(&[(&tlsa1, "3 1 1 aa")]));
        assert_eq!(c.memory, before);
    }

    #[test]
    fn long_values_are_compacted_but_still_compared_whole() {
        let long_a = format!("3 0 1 {}", "ab".repeat(600));
        let long_b = format!("3 0 1 {}cd", "ab".repeat(599));
        let (a, b) = (compact(&long_a), compact(&long_b));
        assert!(a.len() < MAX_PART && b.len() < MAX_PART);
        assert_ne!(a, b, "the digest covers the tail");
        assert_eq!(compact("3 1 1 aa"), "3 1 1 aa");
    }

    #[test]
    fn alerts_stay_bounded_however_many_hosts_change() {
        let before: Vec<(String, String)> =
            (0..30).map(|i| (format!("{TLSA}_25._tcp.mx{i}.example.com"), "3 1 1 aa".into())).collect();
        let after: Vec<(String, String)> =
            (0..30).map(|i| (format!("{TLSA}_25._tcp.mx{i}.example.com"), "3 1 1 bb".into())).collect();
        let p = |v: &[(String, String)]| Published {
            domain: "example.com".to_owned(),
            parts: v.iter().cloned().collect(),
            dane: BTreeMap::new(),
        };
        let c = compare(Some(&p(&before)), &p(&after));
        assert_eq!(c.changes.len(), MAX_CHANGES);
        assert_eq!(c.changes.last().unwrap(), "and 19 more changes");
    }

    #[test]
    fn tlsa_owners_name_their_host_whatever_the_port() {
        assert_eq!(host_of("_25._tcp.mx1.example.com"), "mx1.example.com");
        assert_eq!(host_of("_2525._tcp.mx1.example.com"), "mx1.example.com");
        assert_eq!(Published::tlsa_host("tlsa _25._tcp.mx1.example.com"), Some("mx1.example.com"));
        assert_eq!(Published::tlsa_host("mx"), None);
    }

    #[test]
    fn mx_values_are_sorted_and_normalised() {
        let records = ["20 MX2.example.com.".to_owned(), "10 mx1.example.com.".to_owned()];
        assert_eq!(mx_value(&records), "10 mx1.example.com, 20 mx2.example.com");
        assert_eq!(mx_value(&["0 .".to_owned()]), "0 . (null MX: the domain accepts no mail)");
        let p = published(&[(MX, &mx_value(&records))]);
        assert_eq!(p.mx_hosts().unwrap(), BTreeSet::from(["mx1.example.com", "mx2.example.com"]));
    }
}
