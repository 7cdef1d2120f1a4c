//! async-std 1.13: its TCP, timers and blocking threads. async-std is discontinued upstream (its authors recommend smol),
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

use ::async_std::net::TcpStream;

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

    fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> impl Future<Output = T> + Send {
        ::async_std::task::spawn_blocking(f)
    }

    fn peer_addr(stream: &Self::Stream) -> Option<SocketAddr> {
        stream.peer_addr().ok()
    }

    fn set_nodelay(stream: &Self::Stream) -> io::Result<()> {
        stream.set_nodelay(true)
    }

    // No quick_ack: see `proto::connect::Io`.
}

crate::runtime::runtime_functions!(AsyncStd, TcpStream, "async-std");
