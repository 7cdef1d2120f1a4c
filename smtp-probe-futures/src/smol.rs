//! smol 2: TCP from `async-net`, timers from `async-io` (what `smol::net` and `smol::Timer` are), blocking calls
//! on the `blocking` thread pool (what `smol::unblock` is).
//!
//! ```
//! use smtp_probe_futures::{ProbeConfig, Target, TlsMode, Verdict};
//!
//! let server = smtp_probe_testserver::Responder::new().start()?;
//! let config = ProbeConfig::builder(Target::new("127.0.0.1", server.port())?).tls(TlsMode::None).build()?;
//! let report = smol::block_on(async {
//!     let stream = smol::net::TcpStream::connect(server.addr()).await?;
//!     Ok::<_, std::io::Error>(smtp_probe_futures::smol::probe_stream(stream, &config).await)
//! })?;
//! assert_eq!(report.verdict, Verdict::Up);
//! assert_eq!(report.address, Some(server.addr().to_string()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use crate::{Runtime, Timer};

/// The smol runtime (any executor works: the reactor and timers of `async-io` run on their own thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

impl Timer for Smol {
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        let timer = async_io::Timer::at(deadline);
        async move {
            timer.await;
        }
    }
}

impl Runtime for Smol {
    type Stream = async_net::TcpStream;

    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        async_net::TcpStream::connect(addr)
    }

    fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> impl Future<Output = T> + Send {
        blocking::unblock(f)
    }

    fn peer_addr(stream: &Self::Stream) -> Option<SocketAddr> {
        stream.peer_addr().ok()
    }

    fn set_nodelay(stream: &Self::Stream) -> io::Result<()> {
        stream.set_nodelay(true)
    }

    #[cfg(target_os = "linux")]
    fn quick_ack(stream: &Self::Stream) {
        let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    }
}

crate::runtime::runtime_functions!(Smol, async_net::TcpStream, "smol");
