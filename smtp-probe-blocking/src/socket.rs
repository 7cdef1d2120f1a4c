//! Socket calls bounded by instants: std's sockets take timeouts, the planner gives deadlines.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use smtp_probe_proto::connect::ConnectFailure;

/// Connects to `addr` unless `deadline` passes first.
pub(crate) fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, ConnectFailure> {
    // `connect_timeout` refuses a zero timeout: no time left is a timed-out attempt.
    let budget = deadline.saturating_duration_since(Instant::now());
    if budget.is_zero() {
        return Err(ConnectFailure::TimedOut);
    }
    TcpStream::connect_timeout(&addr, budget).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectFailure::TimedOut,
        _ => ConnectFailure::Io(e),
    })
}

/// Waits shorter than this are made in one go.
const LAST_WAIT: Duration = Duration::from_millis(50);

/// The socket timeout for the next wait towards `until`; `None` once it has passed. Never zero (std refuses it, and
/// `None` as a socket timeout would block forever). The kernel's timer wheel rounds a long timeout up by as much as
/// an eighth, so a long wait is made 7/8 at a time and the last few milliseconds in one go.
fn next_wait(until: Instant) -> Option<Duration> {
    match until.saturating_duration_since(Instant::now()) {
        Duration::ZERO => None,
        left if left <= LAST_WAIT => Some(left),
        left => Some(left * 7 / 8),
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// One read that gives up at `until` (`Ok(None)`).
pub(crate) fn read_before(stream: &mut TcpStream, buf: &mut [u8], until: Instant) -> io::Result<Option<usize>> {
    while let Some(wait) = next_wait(until) {
        stream.set_read_timeout(Some(wait))?;
        match stream.read(buf) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Writes all of `bytes` unless `until` passes first (`Ok(false)`).
pub(crate) fn write_before(stream: &mut TcpStream, mut bytes: &[u8], until: Instant) -> io::Result<bool> {
    while !bytes.is_empty() {
        let Some(wait) = next_wait(until) else { return Ok(false) };
        stream.set_write_timeout(Some(wait))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// `TCP_QUICKACK`, when the conversation asks for it (the policy: [`proto::connect::Io`]).
#[cfg(target_os = "linux")]
pub(crate) fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn quick_ack(_: &TcpStream) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn an_elapsed_deadline_never_blocks() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(read_before(&mut stream, &mut [0; 8], past).unwrap(), None);
        assert!(!write_before(&mut stream, b"x", past).unwrap());
        assert!(write_before(&mut stream, b"", past).unwrap());
        assert!(matches!(connect(listener.local_addr().unwrap(), past), Err(ConnectFailure::TimedOut)));
    }

    #[test]
    fn a_silent_peer_times_out_on_time() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let until = Instant::now() + Duration::from_millis(50);
        assert_eq!(read_before(&mut stream, &mut [0; 8], until).unwrap(), None);
        assert!(Instant::now() >= until);
    }
}
