//! A tiny authoritative DNS server on loopback (feature `dns`), for MX-mode tests: it answers UDP queries
//! for the names of a [`Zone`] and NXDOMAIN for every other name, so a resolver pointed at it (and nothing
//! else) never reaches the system's resolver or the network.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use smtp_probe_testserver::dns::{DnsServer, RecordType, Zone};
//!
//! let mut zone = Zone::default();
//! zone.mx("example.test", 10, "mx1.example.test")
//!     .a("mx1.example.test", Ipv4Addr::new(127, 0, 0, 1))
//!     .mx("null.test", 0, ".")
//!     .exists("bare.test")
//!     .servfail("broken.test")
//!     .silent("hung.test"); // never answered
//! let dns = DnsServer::start(zone)?; // 127.0.0.1, ephemeral UDP port
//! assert!(dns.addr().ip().is_loopback());
//! assert!(!dns.asked("example.test", RecordType::MX));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Messages are encoded with hickory-proto, re-exported as [`hickory_proto`] for callers that need other
//! record types ([`Zone::add`]).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use hickory_proto;
use hickory_proto::op::{Message, MessageType, ResponseCode};
pub use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::{A, AAAA, MX};
use hickory_proto::rr::{Name, RData, Record};

/// The records the server answers with.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    /// Lower-case FQDN → its records. A name in here exists (NOERROR); any other is NXDOMAIN.
    names: HashMap<String, Vec<RData>>,
    /// Names answered with SERVFAIL.
    servfail: Vec<String>,
    /// Names whose queries are never answered.
    silent: Vec<String>,
    /// Names answered only after a while.
    delayed: Vec<(String, Duration)>,
}

impl Zone {
    /// Adds a record of any type to `name` (trailing dot optional).
    pub fn add(&mut self, name: &str, rdata: RData) -> &mut Self {
        self.names.entry(fqdn(name)).or_default().push(rdata);
        self
    }

    /// Makes `name` exist without records of its own: its queries get NOERROR with an empty answer (NODATA).
    pub fn exists(&mut self, name: &str) -> &mut Self {
        self.names.entry(fqdn(name)).or_default();
        self
    }

    /// An MX record; `exchange` `.` is the null MX of RFC 7505.
    ///
    /// # Panics
    ///
    /// If `exchange` is not a valid DNS name.
    pub fn mx(&mut self, domain: &str, preference: u16, exchange: &str) -> &mut Self {
        let exchange = Name::from_ascii(fqdn(exchange)).expect("a valid exchange name");
        self.add(domain, RData::MX(MX::new(preference, exchange)))
    }

    /// An A record.
    pub fn a(&mut self, name: &str, ip: Ipv4Addr) -> &mut Self {
        self.add(name, RData::A(A(ip)))
    }

    /// An AAAA record.
    pub fn aaaa(&mut self, name: &str, ip: Ipv6Addr) -> &mut Self {
        self.add(name, RData::AAAA(AAAA(ip)))
    }

    /// Answers every query for `name` with SERVFAIL.
    pub fn servfail(&mut self, name: &str) -> &mut Self {
        self.servfail.push(fqdn(name));
        self
    }

    /// Never answers queries for `name` (a resolver that hangs, for deadline tests).
    pub fn silent(&mut self, name: &str) -> &mut Self {
        self.silent.push(fqdn(name));
        self
    }

    /// Answers queries for `name` only after `delay` (other queries are answered meanwhile).
    pub fn delay(&mut self, name: &str, delay: Duration) -> &mut Self {
        self.delayed.push((fqdn(name), delay));
        self
    }

    /// How long to wait before answering `request`; `None` when it is never answered.
    fn delay_for(&self, request: &Message) -> Option<Duration> {
        let Some(query) = request.queries().first() else { return Some(Duration::ZERO) };
        let name = query.name().to_ascii().to_ascii_lowercase();
        if self.silent.contains(&name) {
            return None;
        }
        Some(self.delayed.iter().find(|(n, _)| *n == name).map_or(Duration::ZERO, |(_, delay)| *delay))
    }

    /// The response to one request.
    pub fn answer(&self, request: &Message) -> Message {
        let mut response = Message::new();
        response
            .set_id(request.id())
            .set_message_type(MessageType::Response)
            .set_op_code(request.op_code())
            .set_authoritative(true)
            .set_recursion_desired(request.recursion_desired());
        let Some(query) = request.queries().first() else {
            response.set_response_code(ResponseCode::FormErr);
            return response;
        };
        response.add_query(query.clone());
        let name = query.name().to_ascii().to_ascii_lowercase();
        if self.servfail.contains(&name) {
            response.set_response_code(ResponseCode::ServFail);
        } else if let Some(records) = self.names.get(&name) {
            for rdata in records.iter().filter(|r| r.record_type() == query.query_type()) {
                response.add_answer(Record::from_rdata(query.name().clone(), 60, rdata.clone()));
            }
        } else {
            response.set_response_code(ResponseCode::NXDomain);
        }
        response
    }
}

/// `name` lower-case with its trailing dot.
pub fn fqdn(name: &str) -> String {
    if name.ends_with('.') { name.to_ascii_lowercase() } else { format!("{}.", name.to_ascii_lowercase()) }
}

/// A running server; dropping it stops the server.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    queries: Arc<Mutex<Vec<(String, RecordType)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `zone` over UDP on `127.0.0.1` (an ephemeral port), on a thread of its own.
    pub fn start(zone: Zone) -> std::io::Result<DnsServer> {
        DnsServer::start_on(zone, (Ipv4Addr::LOCALHOST, 0).into())
    }

    /// Serves `zone` over UDP on `addr`, which must be a loopback address (port 53 in a network namespace of its
    /// own, say, for the OS resolver).
    pub fn start_on(zone: Zone, addr: SocketAddr) -> std::io::Result<DnsServer> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::other(format!("{addr} is not a loopback address")));
        }
        let socket = UdpSocket::bind(addr)?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        let addr = socket.local_addr()?;
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new().name("smtp-probe-testserver dns".into()).spawn({
            let (queries, stop) = (queries.clone(), stop.clone());
            move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = socket.recv_from(&mut buf) else { continue };
                    let Ok(request) = Message::from_vec(&buf[..n]) else { continue };
                    if let Some(q) = request.queries().first() {
                        let mut queries = queries.lock().unwrap_or_else(|e| e.into_inner());
                        queries.push((q.name().to_ascii().to_ascii_lowercase(), q.query_type()));
                    }
                    let Some(delay) = zone.delay_for(&request) else { continue };
                    let Ok(bytes) = zone.answer(&request).to_vec() else { continue };
                    if delay.is_zero() {
                        let _ = socket.send_to(&bytes, peer);
                    } else if let Ok(later) = socket.try_clone() {
                        std::thread::spawn(move || {
                            std::thread::sleep(delay);
                            let _ = later.send_to(&bytes, peer);
                        });
                    }
                }
            }
        })?;
        Ok(DnsServer { addr, queries, stop, thread: Some(thread) })
    }

    /// Where the server listens (UDP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every query received so far: lower-case FQDN and type, in order.
    pub fn queries(&self) -> Vec<(String, RecordType)> {
        self.queries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `name` (trailing dot optional) was asked for records of type `kind`.
    pub fn asked(&self, name: &str, kind: RecordType) -> bool {
        let name = fqdn(name);
        self.queries.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|(n, k)| *n == name && *k == kind)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A loopback "internet" for MX tests: SMTP servers on several loopback addresses sharing one port, and a
/// [`DnsServer`] whose zone points domains at them. Every MX-mode test (adapter and CLI) uses this one world.
///
/// | domain | MX records (preference → host) | what probing it meets |
/// | --- | --- | --- |
/// | `two.test` | 20 → `mx2.two.test`, 10 → `mx1.two.test` (out of order on purpose) | both up |
/// | `backup-down.test` | 10 → `mx1.two.test`, 20 → `rejecting.test` | the backup greets 554 |
/// | `primary-down.test` | 10 → `refusing.test`, 20 → `mx2.two.test` | the primary refuses connections |
/// | `all-down.test` | 5 → `refusing.test`, 10 → `rejecting.test` | nothing takes mail |
/// | `null.test` | 0 → `.` (null MX, RFC 7505); has an A record that must not be probed | — |
/// | `implicit.test` | none; A → [`MX2`] (implicit MX) | up |
/// | `bare.test` | none, and no address | — |
/// | `dangling.test` | 10 → `missing.test` (NXDOMAIN) | — |
/// | `dual.test` | 10 → itself; A → [`MX1`], AAAA → ::1 (when the machine has ::1) | up on both families |
/// | `servfail.test` | SERVFAIL | — |
/// | `twelve.test` | 10 → `h1.twelve.test` … 120 → `h12.twelve.test`, each A → [`MX2`] | twelve hosts up |
/// | `eight.test` | 10 → `eight.test`; eight A records, `127.0.0.10`–`127.0.0.17`, nothing listening | refused |
/// | `crowd.test` | 10 → `c1.crowd.test` … 60 → `c6.crowd.test`, each A → [`HANGING`] | six silent hosts |
/// | `hung.test` | the MX query is never answered | — |
/// | `late.test` | 10 → `hanging.test` (A → [`HANGING`]), the MX answer [`LATE`] late | a silent host |
///
/// The SMTP servers are [`Responder`](crate::Responder)s with STARTTLS certificates from [`MxWorld::pki`] for
/// their own names (`mx1.two.test`, `mx2.two.test`, `dual.test`), plus a scripted server that greets
/// `554 5.3.2` on [`REJECTING`] and one that accepts and never speaks on [`HANGING`]; nothing listens on
/// [`REFUSING`].
///
/// Every SMTP server is on loopback, which the address policy denies by default for MX hosts (they come from DNS):
/// allow `127.0.0.0/8` and `::1` in the probe's configuration.
pub struct MxWorld {
    /// The DNS server; point the resolver at [`DnsServer::addr`] alone.
    pub dns: DnsServer,
    /// The port every SMTP server listens on.
    pub port: u16,
    /// The CA of every server certificate.
    pub pki: crate::TestPki,
    /// `mx1.two.test` on [`MX1`].
    pub mx1: crate::TestServer,
    /// `mx2.two.test` on [`MX2`].
    pub mx2: crate::TestServer,
    /// The 554 greeter on [`REJECTING`].
    pub rejecting: crate::TestServer,
    /// The silent server on [`HANGING`].
    pub hanging: crate::TestServer,
    /// `dual.test` on ::1, when the machine has ::1.
    pub v6: Option<crate::TestServer>,
}

/// Where `mx1.two.test` (and `dual.test`'s IPv4 address) listens.
pub const MX1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// Where `mx2.two.test` (and `implicit.test`) listens.
pub const MX2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// A server that greets with 554: down (greeting_rejected).
pub const REJECTING: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// Nothing listens here: down (connect_refused).
pub const REFUSING: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// A server that accepts and never says a word.
pub const HANGING: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
/// How late the MX answer of `late.test` comes.
pub const LATE: Duration = Duration::from_millis(600);

impl MxWorld {
    /// Starts the servers (on a port free on all four addresses) and the DNS server.
    pub fn start() -> std::io::Result<MxWorld> {
        use crate::{CertSpec, Responder, Script, ServerBuilder, TestPki};
        let pki = TestPki::new().map_err(std::io::Error::other)?;
        let responder = |name: &str| {
            let cert = pki.issue(CertSpec::new().names([name])).map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(Responder::new().hostname(name).cert(&cert))
        };
        let (mx1_responder, mx2_responder, dual) =
            (responder("mx1.two.test")?, responder("mx2.two.test")?, responder("dual.test")?);
        // All servers share one port, so a single port reaches each of them by address.
        let (port, mx1, mx2, rejecting, hanging) = (0..50)
            .find_map(|_| {
                let mx1 = ServerBuilder::new(mx1_responder.clone()).bind((MX1, 0).into()).start().ok()?;
                let port = mx1.port();
                let mx2 = ServerBuilder::new(mx2_responder.clone()).bind((MX2, port).into()).start().ok()?;
                let rejecting = ServerBuilder::new(Script::new().reply("554 5.3.2 rejecting.test not accepting mail"))
                    .bind((REJECTING, port).into())
                    .start()
                    .ok()?;
                let hanging = ServerBuilder::new(Script::new().hang()).bind((HANGING, port).into()).start().ok()?;
                // Free now, so nothing listens there.
                for last in std::iter::once(4).chain(10..=17) {
                    std::net::TcpListener::bind((Ipv4Addr::new(127, 0, 0, last), port)).ok()?;
                }
                Some((port, mx1, mx2, rejecting, hanging))
            })
            .ok_or_else(|| std::io::Error::other("no port free on 127.0.0.1-5 and 127.0.0.10-17"))?;
        let v6 = ServerBuilder::new(dual).bind((Ipv6Addr::LOCALHOST, port).into()).start().ok();

        let mut zone = Zone::default();
        zone.mx("two.test", 20, "mx2.two.test.")
            .mx("two.test", 10, "mx1.two.test.")
            .a("mx1.two.test", MX1)
            .a("mx2.two.test", MX2)
            .a("rejecting.test", REJECTING)
            .a("refusing.test", REFUSING)
            .mx("backup-down.test", 10, "mx1.two.test")
            .mx("backup-down.test", 20, "rejecting.test")
            .mx("primary-down.test", 10, "refusing.test")
            .mx("primary-down.test", 20, "mx2.two.test")
            .mx("all-down.test", 5, "refusing.test")
            .mx("all-down.test", 10, "rejecting.test")
            .mx("null.test", 0, ".")
            .a("null.test", MX1)
            .a("implicit.test", MX2)
            .exists("bare.test")
            .mx("dangling.test", 10, "missing.test")
            .mx("dual.test", 10, "dual.test")
            .a("dual.test", MX1)
            .aaaa("dual.test", Ipv6Addr::LOCALHOST)
            .servfail("servfail.test")
            .silent("hung.test")
            .mx("late.test", 10, "hanging.test")
            .delay("late.test", LATE)
            .a("hanging.test", HANGING)
            .mx("eight.test", 10, "eight.test");
        for i in 1..=12 {
            let host = format!("h{i}.twelve.test");
            zone.mx("twelve.test", i * 10, &host).a(&host, MX2);
        }
        for i in 1..=6 {
            let host = format!("c{i}.crowd.test");
            zone.mx("crowd.test", i * 10, &host).a(&host, HANGING);
        }
        for last in 10..=17 {
            zone.a("eight.test", Ipv4Addr::new(127, 0, 0, last));
        }
        let dns = DnsServer::start(zone)?;
        Ok(MxWorld { dns, port, pki, mx1, mx2, rejecting, hanging, v6 })
    }

    /// `ip:port` of the server on `ip`.
    pub fn addr(&self, ip: Ipv4Addr) -> String {
        SocketAddr::from((ip, self.port)).to_string()
    }
}
