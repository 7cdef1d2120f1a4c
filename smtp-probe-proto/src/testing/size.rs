//! How much a report holds.

use std::mem::size_of;

use crate::{AuthMechanism, Capabilities, OwnedReply, Report, TlsInfo};

/// The bytes a report holds on the heap: the capacities of every string and vector in it (the allocator's own
/// rounding aside). What the report-size bound in [`Report`]'s documentation is stated in.
pub fn report_heap_bytes(report: &Report) -> usize {
    fn string(s: &String) -> usize {
        s.capacity()
    }
    fn strings(v: &Vec<String>) -> usize {
        v.capacity() * size_of::<String>() + v.iter().map(string).sum::<usize>()
    }
    fn reply(r: &OwnedReply) -> usize {
        r.lines.capacity() * size_of::<Vec<u8>>() + r.lines.iter().map(Vec::capacity).sum::<usize>()
    }
    fn capabilities(c: &Capabilities) -> usize {
        let mechanisms = c.auth_mechanisms.capacity() * size_of::<AuthMechanism>()
            + c.auth_mechanisms
                .iter()
                .map(|m| if let AuthMechanism::Other(s) = m { string(s) } else { 0 })
                .sum::<usize>();
        let unknown = c.unknown.capacity() * size_of::<crate::capabilities::UnknownCapability>()
            + c.unknown.iter().map(|u| string(&u.keyword) + strings(&u.params)).sum::<usize>();
        string(&c.domain) + mechanisms + unknown + strings(&c.raw_lines)
    }
    fn tls(t: &TlsInfo) -> usize {
        let option = |s: &Option<String>| s.as_ref().map_or(0, string);
        let certificates = t.certificates.capacity() * size_of::<crate::CertificateInfo>()
            + t.certificates
                .iter()
                .map(|c| {
                    string(&c.subject)
                        + string(&c.issuer)
                        + strings(&c.sans)
                        + string(&c.serial)
                        + string(&c.not_before)
                        + string(&c.not_after)
                        + string(&c.key_algorithm)
                        + string(&c.signature_algorithm)
                        + string(&c.sha256)
                })
                .sum::<usize>();
        let unparsed = t.unparsed.capacity() * size_of::<crate::UnparsedCertificate>()
            + t.unparsed.iter().map(|u| string(&u.sha256) + string(&u.error)).sum::<usize>();
        let problem = match &t.verify_error {
            Some(crate::CertificateProblem::Other(s)) => string(s),
            _ => 0,
        };
        option(&t.version)
            + option(&t.cipher)
            + option(&t.sni)
            + option(&t.verified_name)
            + problem
            + certificates
            + unparsed
            + t.chain_der.capacity() * size_of::<Vec<u8>>()
            + t.chain_der.iter().map(Vec::capacity).sum::<usize>()
    }
    let option = |s: &Option<String>| s.as_ref().map_or(0, string);
    let findings = report.findings.capacity() * size_of::<crate::Finding>()
        + report.findings.iter().map(|f| string(&f.message) + option(&f.server_text)).sum::<usize>();
    let steps = report.steps.capacity() * size_of::<crate::Step>()
        + report.steps.iter().map(|s| option(&s.command) + s.reply.as_ref().map_or(0, reply)).sum::<usize>();
    let transcript = report.transcript.capacity() * size_of::<crate::TranscriptLine>()
        + report.transcript.iter().map(|l| string(&l.text)).sum::<usize>();
    string(&report.target)
        + option(&report.address)
        + option(&report.message_token)
        + findings
        + steps
        + report.greeting.as_ref().map_or(0, reply)
        + report.capabilities.as_ref().map_or(0, capabilities)
        + report.capabilities_tls.as_ref().map_or(0, capabilities)
        + report.tls.as_ref().map_or(0, tls)
        + transcript
}
