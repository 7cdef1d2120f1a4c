//! Smoke tests of the domain check's loopback world (`.ci/dns.sh`, `.ci/exim.sh`, `.ci/postfix.sh`): the bed
//! answers, signed answers validate with hickory against Knot with the test anchor, broken zones are bogus,
//! Unbound refuses them, the Postfix key matches the good zone's TLSA record and not the mismatch zone's, the
//! real SPF, DMARC, TLS-RPT and MTA-STS data parse into what the scenarios promise, and Exim presents an expired
//! certificate. Each test prints `skipped: …` without the bed (and fails with `SMTP_PROBE_REQUIRE_SERVICES=1`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::dnssec::{Proof, TrustAnchors};
use hickory_proto::rr::{RData, RecordType};
use hickory_proto::xfer::Protocol;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::{ResolveErrorKind, Resolver};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use smtp_probe_proto::policy::dmarc::{Disposition, DmarcRecord};
use smtp_probe_proto::policy::mta_sts::{Mode, MtaStsPolicy, MtaStsRecord};
use smtp_probe_proto::policy::spf::{QueryType, SpfAnswer, SpfCheck, SpfPoll, SpfResult};
use smtp_probe_proto::policy::tlsa::{Tlsa, TlsaSet, Usage};
use smtp_probe_proto::policy::tlsrpt::TlsRptRecord;
use smtp_probe_proto::policy::{Problem, RecordFinding};
use smtp_probe_testserver::domain_bed::{self, DnsEnv, MxServer, Scenario};
use smtp_probe_testserver::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use smtp_probe_testsuite::postfix;

/// A validating hickory resolver asking only `server` (Knot or Unbound), trusting only the bed's anchor.
fn resolver(env: &DnsEnv, server: std::net::SocketAddr) -> Resolver<TokioConnectionProvider> {
    let mut config = ResolverConfig::new();
    config.add_name_server(NameServerConfig::new(server, Protocol::Udp));
    config.add_name_server(NameServerConfig::new(server, Protocol::Tcp));
    let anchors: TrustAnchors = env.trust_anchor.parse().expect("the anchor parses as a DNSKEY record");
    let mut builder =
        Resolver::builder_with_config(config, TokioConnectionProvider::default()).with_trust_anchor(Arc::new(anchors));
    builder.options_mut().validate = true;
    builder.options_mut().use_hosts_file = ResolveHosts::Never;
    builder.options_mut().timeout = Duration::from_secs(2);
    builder.options_mut().attempts = 1;
    builder.build()
}

/// The proofs of every record answering `name`/`rtype`, or the error.
async fn proofs(r: &Resolver<TokioConnectionProvider>, name: &str, rtype: RecordType) -> Result<Vec<Proof>, String> {
    let lookup = r.lookup(format!("{name}."), rtype).await.map_err(|e| e.to_string())?;
    Ok(lookup.records().iter().filter(|rec| rec.record_type() == rtype).map(|rec| rec.proof()).collect())
}

async fn tlsa_records(r: &Resolver<TokioConnectionProvider>, host: &str) -> Vec<(Tlsa, Proof)> {
    let lookup = r.lookup(format!("_25._tcp.{host}."), RecordType::TLSA).await.expect("a TLSA answer");
    lookup
        .records()
        .iter()
        .filter_map(|rec| match rec.data() {
            RData::TLSA(t) => Some((
                Tlsa::new(
                    u8::from(t.cert_usage()),
                    u8::from(t.selector()),
                    u8::from(t.matching()),
                    t.cert_data().to_vec(),
                )
                .expect("a well-formed TLSA record"),
                rec.proof(),
            )),
            _ => None,
        })
        .collect()
}

async fn txt(r: &Resolver<TokioConnectionProvider>, name: &str) -> Vec<Vec<u8>> {
    match r.lookup(format!("{name}."), RecordType::TXT).await {
        Ok(lookup) => lookup
            .records()
            .iter()
            .filter_map(|rec| match rec.data() {
                RData::TXT(t) => Some(t.txt_data().concat()),
                _ => None,
            })
            .collect(),
        Err(e) if matches!(e.kind(), ResolveErrorKind::Proto(p) if p.is_no_records_found()) => Vec::new(),
        Err(e) => panic!("TXT {name}: {e}"),
    }
}

#[tokio::test]
async fn signed_answers_validate_against_knot_with_the_anchor() {
    let Some(env) = domain_bed::dns_env_or_skip("signed_answers_validate_against_knot_with_the_anchor") else {
        return;
    };
    let knot = resolver(&env, env.authoritative);
    let secure = |v: &[Proof]| !v.is_empty() && v.iter().all(|p| *p == Proof::Secure);
    let good = env.zone(Scenario::Good);
    assert!(secure(&proofs(&knot, good, RecordType::MX).await.unwrap()), "MX {good}");
    assert!(secure(&proofs(&knot, &format!("_25._tcp.mx1.{good}"), RecordType::TLSA).await.unwrap()));
    assert!(secure(&proofs(&knot, &format!("_mta-sts.{good}"), RecordType::TXT).await.unwrap()));
    let mismatch = env.zone(Scenario::TlsaMismatch);
    assert!(secure(&proofs(&knot, &format!("_25._tcp.mx1.{mismatch}"), RecordType::TLSA).await.unwrap()));
    for scenario in [Scenario::Bogus, Scenario::ExpiredSignatures] {
        let name = format!("_25._tcp.mx1.{}", env.zone(scenario));
        let p = proofs(&knot, &name, RecordType::TLSA).await.unwrap();
        assert!(!p.is_empty() && p.iter().all(|p| *p == Proof::Bogus), "{name}: {p:?}");
    }
    let insecure = format!("_25._tcp.mx1.{}", env.zone(Scenario::Insecure));
    let p = proofs(&knot, &insecure, RecordType::TLSA).await.unwrap();
    assert!(!p.is_empty() && p.iter().all(|p| *p == Proof::Insecure), "{insecure}: {p:?}");
}

#[tokio::test]
async fn unbound_validates_and_refuses_bogus_answers() {
    let Some(env) = domain_bed::dns_env_or_skip("unbound_validates_and_refuses_bogus_answers") else { return };
    for server in [Some(env.resolver), env.resolver6].into_iter().flatten() {
        let unbound = resolver(&env, server);
        let good = format!("_25._tcp.mx1.{}", env.zone(Scenario::Good));
        assert!(proofs(&unbound, &good, RecordType::TLSA).await.unwrap().iter().all(|p| *p == Proof::Secure));
        for scenario in [Scenario::Bogus, Scenario::ExpiredSignatures] {
            let name = format!("_25._tcp.mx1.{}", env.zone(scenario));
            assert!(proofs(&unbound, &name, RecordType::TLSA).await.is_err(), "{name} via {server}: SERVFAIL expected");
        }
        // Outside the test domain nothing is resolved (never forwarded off the machine).
        assert!(proofs(&unbound, "example.com", RecordType::A).await.is_err());
    }
}

/// Records the chain a server presents and asks rustls' WebPKI verifier what it thinks of it.
#[derive(Debug)]
struct Recording {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.chain.lock().unwrap() = chain;
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// One SMTP reply's lines.
fn reply(reader: &mut impl BufRead) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a reply line");
        assert!(line.len() >= 4, "short reply line {line:?}");
        let last = line.as_bytes()[3] == b' ';
        lines.push(line.trim_end().to_owned());
        if last {
            return lines;
        }
    }
}

/// The greeting, the EHLO reply, and the chain and verdict of a STARTTLS handshake with `name`.
fn starttls(
    addr: (&str, u16),
    name: &str,
    ca_pem: &str,
) -> (String, Vec<String>, Vec<CertificateDer<'static>>, Result<(), rustls::Error>) {
    let stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let greeting = reply(&mut reader).join("\n");
    writer.write_all(b"EHLO probe.smtp-probe.test\r\n").unwrap();
    let ehlo = reply(&mut reader);
    writer.write_all(b"STARTTLS\r\n").unwrap();
    assert!(reply(&mut reader)[0].starts_with("220"), "STARTTLS accepted");
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let verifier = Arc::new(Recording { inner, chain: Mutex::new(Vec::new()) });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from(name.to_owned()).unwrap()).unwrap();
    let mut socket = reader.into_inner();
    let outcome = loop {
        if !conn.is_handshaking() {
            break Ok(());
        }
        match conn.complete_io(&mut socket) {
            Ok(_) => {}
            Err(e) => match e.into_inner().and_then(|inner| inner.downcast::<rustls::Error>().ok()) {
                Some(tls) => break Err(*tls),
                None => break Err(rustls::Error::General("I/O error during the handshake".into())),
            },
        }
    };
    let chain = verifier.chain.lock().unwrap().clone();
    (greeting, ehlo, chain, outcome)
}

#[tokio::test]
async fn the_postfix_key_matches_the_good_tlsa_record_only() {
    let Some(env) = domain_bed::dns_env_or_skip("the_postfix_key_matches_the_good_tlsa_record_only") else { return };
    let Some(pf) = postfix::env_or_skip("the_postfix_key_matches_the_good_tlsa_record_only") else { return };
    let knot = resolver(&env, env.authoritative);
    let good_mx = format!("mx1.{}", env.zone(Scenario::Good));
    let mismatch_mx = format!("mx1.{}", env.zone(Scenario::TlsaMismatch));
    assert_eq!(env.server_for(&good_mx), Some(MxServer::Postfix));
    let good = tlsa_records(&knot, &good_mx).await;
    let mismatch = tlsa_records(&knot, &mismatch_mx).await;
    assert!(good.iter().chain(&mismatch).all(|(_, proof)| *proof == Proof::Secure));
    assert_eq!(good[0].0, Tlsa::from_presentation(&env.tlsa_postfix).unwrap());
    assert_eq!(mismatch[0].0, Tlsa::from_presentation(&env.tlsa_wrong).unwrap());

    let name = good_mx.clone();
    let (_, _, chain, outcome) =
        tokio::task::spawn_blocking(move || starttls((pf.host.as_str(), pf.plain_port), &name, &pf.ca_pem))
            .await
            .unwrap();
    outcome.expect("the Postfix certificate verifies for the bed's MX names");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let good_set = TlsaSet::new(good.into_iter().map(|(t, _)| t).collect());
    let verification = good_set.verify(&chain, &[good_mx.as_str()], now);
    assert_eq!(verification.matched.map(|m| (m.usage, m.certificate)), Some((Usage::DaneEe, 0)));
    let mismatch_set = TlsaSet::new(mismatch.into_iter().map(|(t, _)| t).collect());
    assert!(!mismatch_set.verify(&chain, &[mismatch_mx.as_str()], now).authenticated());
}

#[test]
fn exim_greets_and_presents_an_expired_certificate() {
    let Some(exim) = domain_bed::exim_env_or_skip("exim_greets_and_presents_an_expired_certificate") else { return };
    let name = "exim.expiredcert.mail.test";
    let (greeting, ehlo, chain, outcome) = starttls((exim.host.as_str(), exim.port), name, &exim.ca_pem);
    assert!(greeting.starts_with("220 ") && greeting.contains("Exim"), "{greeting}");
    assert!(ehlo.iter().any(|l| l.ends_with("STARTTLS")), "{ehlo:?}");
    assert_eq!(chain.len(), 1, "Exim presents its leaf");
    let presented = CertificateDer::from_pem_slice(exim.cert_pem.as_bytes()).unwrap();
    assert_eq!(chain[0], presented);
    match outcome {
        Err(rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. })) => {
        }
        other => panic!("expected an expired certificate, got {other:?}"),
    }
}

#[tokio::test]
async fn the_record_scenarios_say_what_they_promise() {
    let Some(env) = domain_bed::dns_env_or_skip("the_record_scenarios_say_what_they_promise") else { return };
    let unbound = resolver(&env, env.resolver);

    // SPF of spf11: 11 DNS-querying terms through includes, so receivers return permerror.
    let mut check = SpfCheck::new(env.zone(Scenario::Spf11)).unwrap();
    let report = loop {
        let query = match check.poll() {
            SpfPoll::Lookup(q) => q.clone(),
            SpfPoll::Done(report) => break report.clone(),
        };
        let rtype = match query.qtype {
            QueryType::Txt => RecordType::TXT,
            QueryType::A => RecordType::A,
            QueryType::Aaaa => RecordType::AAAA,
            QueryType::Mx => RecordType::MX,
        };
        let answer = match unbound.lookup(format!("{}.", query.name), rtype).await {
            Ok(lookup) => {
                let data: Vec<RData> = lookup.records().iter().map(|r| r.data().clone()).collect();
                match query.qtype {
                    QueryType::Txt => SpfAnswer::Txt(
                        data.iter()
                            .filter_map(|d| match d {
                                RData::TXT(t) => Some(t.txt_data().concat()),
                                _ => None,
                            })
                            .collect(),
                    ),
                    QueryType::Mx => SpfAnswer::Exchanges(
                        data.iter()
                            .filter_map(|d| match d {
                                RData::MX(mx) => Some(mx.exchange().to_ascii()),
                                _ => None,
                            })
                            .collect(),
                    ),
                    _ => SpfAnswer::Addresses(data.iter().filter_map(|d| d.ip_addr()).collect()),
                }
            }
            Err(e) if matches!(e.kind(), ResolveErrorKind::Proto(p) if p.is_no_records_found()) => SpfAnswer::NoData,
            Err(e) => SpfAnswer::Failed(e.to_string()),
        };
        check.handle_answer(answer).unwrap();
    };
    assert_eq!((report.result, report.lookups, report.void_lookups), (SpfResult::PermError, 11, 0), "{report:#?}");
    assert!(report.findings.iter().any(|f| f.problem == Problem::SpfTooManyLookups));

    // DMARC p=none, and a zone without TLS-RPT.
    let dmarc = DmarcRecord::from_rrset(&txt(&unbound, &format!("_dmarc.{}", env.zone(Scenario::DmarcNone))).await)
        .unwrap()
        .unwrap();
    assert_eq!(dmarc.policy, Some(Disposition::None));
    assert!(dmarc.findings().iter().any(|f: &RecordFinding| f.problem == Problem::DmarcPolicyNone));
    let no_tlsrpt = env.zone(Scenario::NoTlsRpt);
    assert_eq!(TlsRptRecord::from_rrset(&txt(&unbound, &format!("_smtp._tls.{no_tlsrpt}")).await), Ok(None));
    assert!(
        TlsRptRecord::from_rrset(&txt(&unbound, &format!("_smtp._tls.{}", env.zone(Scenario::Good))).await)
            .unwrap()
            .is_some()
    );

    // MTA-STS: the record and the policy file of good, testing and the oversized one.
    for (scenario, mode) in [(Scenario::Good, Mode::Enforce), (Scenario::Testing, Mode::Testing)] {
        let zone = env.zone(scenario);
        let record = MtaStsRecord::from_rrset(&txt(&unbound, &format!("_mta-sts.{zone}")).await).unwrap().unwrap();
        assert_eq!(record.id, env.mta_sts_id);
        let policy = MtaStsPolicy::parse(&env.mta_sts_policy(zone).expect("a policy file")).unwrap();
        assert_eq!(policy.mode, mode);
        let mx = if scenario == Scenario::Good { format!("mx1.{zone}") } else { format!("exim.{zone}") };
        assert!(policy.matching_pattern(&mx).is_some(), "{mx}");
    }
    let huge = env.mta_sts_policy(env.zone(Scenario::PolicyHuge)).unwrap();
    assert_eq!(MtaStsPolicy::parse(&huge), Err(smtp_probe_proto::policy::mta_sts::MtaStsPolicyError::TooLarge));
    assert_eq!(env.mta_sts_policy(env.zone(Scenario::Policy404)), None);
}
