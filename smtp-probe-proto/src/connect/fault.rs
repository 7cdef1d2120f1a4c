//! Errors that are this machine's, not the server's: a probe that meets one could not run, and says so
//! ([`Cause::LocalError`](crate::Cause::LocalError)) instead of blaming the server with `connect_refused`.

use std::io;

/// What went wrong on this machine, when `error` is a local fault: no file descriptor, buffer space, memory or
/// thread left, or a local firewall or routing policy refusing the connection (`EPERM`, `EACCES`).
pub fn local_fault(error: &io::Error) -> Option<&'static str> {
    if let Some(code) = error.raw_os_error() {
        if let Some(what) = os_fault(code) {
            return Some(what);
        }
    }
    match error.kind() {
        io::ErrorKind::PermissionDenied => Some("a local firewall or security policy refused the connection"),
        io::ErrorKind::OutOfMemory => Some("this machine is out of memory"),
        _ => None,
    }
}

#[cfg(unix)]
fn os_fault(code: i32) -> Option<&'static str> {
    match code {
        libc::EMFILE => Some("this process is out of file descriptors"),
        libc::ENFILE => Some("this machine is out of file descriptors"),
        libc::ENOBUFS => Some("this machine is out of network buffer space"),
        libc::ENOMEM => Some("this machine is out of memory"),
        // From connect: no routing cache entry; from starting a resolver thread: no thread.
        libc::EAGAIN => Some("this machine is out of a resource (threads, routing cache)"),
        _ => None,
    }
}

#[cfg(windows)]
fn os_fault(code: i32) -> Option<&'static str> {
    // Winsock's codes (WSAEMFILE, WSAENOBUFS).
    match code {
        10024 => Some("this process is out of sockets"),
        10055 => Some("this machine is out of network buffer space"),
        _ => None,
    }
}

#[cfg(not(any(unix, windows)))]
fn os_fault(_: i32) -> Option<&'static str> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_faults_are_recognised() {
        #[cfg(unix)]
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM, libc::EPERM, libc::EACCES, libc::EAGAIN] {
            assert!(local_fault(&io::Error::from_raw_os_error(code)).is_some(), "errno {code}");
        }
        assert!(local_fault(&io::Error::from(io::ErrorKind::PermissionDenied)).is_some());
        for kind in [io::ErrorKind::ConnectionRefused, io::ErrorKind::TimedOut, io::ErrorKind::HostUnreachable] {
            assert_eq!(local_fault(&io::Error::from(kind)), None, "{kind:?}");
        }
        #[cfg(unix)]
        assert_eq!(local_fault(&io::Error::from_raw_os_error(libc::ECONNREFUSED)), None);
    }
}
