//! The MTA-STS policy fetch over TCP: the sans-IO [`PolicyFetch`] of the core, pumped.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use smtp_probe_proto::domain::fetch::{FetchError, PolicyFetch, PolicyFetchReport, policy_host};
use smtp_probe_proto::{Domain, TlsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

/// Fetches `domain`'s policy from `addresses` (tried in order, each connection inside the one deadline) on
/// `port` (443 for real senders), checking the certificate with `tls`.
pub(crate) async fn fetch_policy(
    domain: &Domain,
    addresses: Result<Vec<IpAddr>, String>,
    port: u16,
    tls: &TlsConfig,
    timeout: Duration,
) -> PolicyFetchReport {
    let started = Instant::now();
    let deadline = started + timeout;
    let addresses = match addresses {
        Ok(list) if !list.is_empty() => list,
        Ok(_) => {
            let why = format!("{} has no address", policy_host(domain.as_str()));
            return PolicyFetchReport::failed(domain.as_str(), FetchError::Resolve(why), started.elapsed());
        }
        Err(why) => return PolicyFetchReport::failed(domain.as_str(), FetchError::Resolve(why), started.elapsed()),
    };
    let mut last_error = None;
    for ip in addresses {
        let addr = SocketAddr::new(ip, port);
        match timeout_at(deadline.into(), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let mut fetch =
                    PolicyFetch::new(domain, tls, Instant::now(), SystemTime::now(), deadline - Instant::now());
                fetch.set_address(addr.to_string());
                let mut report = pump(stream, fetch).await;
                report.elapsed = started.elapsed();
                return report;
            }
            Ok(Err(e)) => last_error = Some(FetchError::Connect(format!("{addr}: {e}"))),
            Err(_) => {
                last_error = Some(FetchError::Timeout);
                break;
            }
        }
    }
    let error = last_error.unwrap_or(FetchError::Timeout);
    PolicyFetchReport::failed(domain.as_str(), error, started.elapsed())
}

async fn pump(mut stream: TcpStream, mut fetch: PolicyFetch) -> PolicyFetchReport {
    let mut buf = vec![0u8; 16 * 1024];
    while !fetch.is_done() {
        while let Some(bytes) = fetch.poll_transmit() {
            if let Err(e) = stream.write_all(&bytes).await {
                fetch.handle_io_error(FetchError::Connect(e.to_string()), Instant::now());
                break;
            }
        }
        let Some(deadline) = fetch.poll_deadline() else { break };
        match timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) => fetch.handle_eof(Instant::now()),
            Ok(Ok(n)) => fetch.handle_input(&buf[..n], Instant::now()),
            Ok(Err(e)) => fetch.handle_io_error(FetchError::Connect(e.to_string()), Instant::now()),
            Err(_) => fetch.handle_timeout(Instant::now()),
        }
    }
    fetch.into_report(Instant::now())
}
