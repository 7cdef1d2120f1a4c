//! async-std 1.13: its TCP, DNS and timers. async-std is discontinued upstream (its authors recommend smol),
//! but it still builds and works, and its streams implement the futures-io traits this crate pumps.
//!
//! ```
//! use smtp_probe_futures::{ProbeConfig, Target, TlsMode, Verdict};
//!
//! let server = smtp_probe_testserver::Responder::new().start()?;
//! let config = ProbeConfig::builder(Target::new("127.0.0.1", server.port())?).tls(TlsMode::None).build()?;
//! let report = async_std::task::block_on(smtp_probe_futures::async_std::probe(&config));
//! assert_eq!(report.verdict, Verdict::Up);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use ::async_std::net::{TcpStream, ToSocketAddrs};

use crate::{Runtime, Timer};

/// The async-std runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl Timer for AsyncStd {
    async fn sleep_until(&self, deadline: Instant) {
        // async-std sleeps for durations: measure what is left when first polled.
        ::async_std::task::sleep(deadline.saturating_duration_since(Instant::now())).await;
    }
}

impl Runtime for AsyncStd {
    type Stream = TcpStream;

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        TcpStream::connect(addr)
    }

    fn resolve(&self, host: &str, port: u16) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
        let host = host.to_owned();
        async move { Ok((host.as_str(), port).to_socket_addrs().await?.collect()) }
    }

    fn peer_addr(stream: &Self::Stream) -> Option<SocketAddr> {
        stream.peer_addr().ok()
    }

    // No quick_ack: async-std's TcpStream exposes no borrowed fd (`AsFd`) without its unstable features, and this
    // crate forbids `unsafe`, so replies that a server splits with Nagle's algorithm may show ~40 ms more here.
}

crate::runtime_functions!(AsyncStd, TcpStream, "async-std");
