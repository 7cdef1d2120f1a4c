//! What the pump needs from a runtime ([`Timer`], [`Runtime`]), and the functions each runtime module offers.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};

/// A runtime's timer: all [`probe_stream_with`](crate::probe_stream_with) needs besides the stream.
pub trait Timer {
    /// Completes at `deadline`, or at once when it has passed.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send;
}

/// What [`probe_with`](crate::probe_with) needs from a runtime besides its timer: TCP connections, a thread for the OS resolver, and
/// the socket options of [`proto::connect::Io`](crate::proto::connect::Io).
pub trait Runtime: Timer {
    /// The runtime's TCP stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send;

    /// Connects to `addr` (the caller bounds the attempt with the timer).
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Runs `f`, a blocking call (the OS resolver), where blocking is fine, and completes with its result. The
    /// caller may stop waiting; `f` may then still run to its end, or be dropped unrun.
    fn spawn_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> impl Future<Output = T> + Send;

    /// The address a stream is connected to, when known.
    fn peer_addr(stream: &Self::Stream) -> Option<SocketAddr>;

    /// Sets `TCP_NODELAY` (see [`proto::connect::Io`](crate::proto::connect::Io) for why every adapter does).
    fn set_nodelay(stream: &Self::Stream) -> io::Result<()>;

    /// Acknowledges received data at once (`TCP_QUICKACK` on Linux), when [`Io::Read`](crate::proto::connect::Io::Read) asks for it (the policy:
    /// [`proto::connect::Io`](crate::proto::connect::Io)). Does nothing by default.
    fn quick_ack(_stream: &Self::Stream) {}
}

/// `Some(output)` when `future` completes before `deadline`, `None` when the deadline comes first. The
/// future is polled first, so a result that is ready at the deadline still counts.
pub(crate) async fn before<T: Timer, F: Future>(timer: &T, deadline: Instant, future: F) -> Option<F::Output> {
    futures_lite::future::or(async { Some(future.await) }, async {
        timer.sleep_until(deadline).await;
        None
    })
    .await
}

/// The runtime module's `probe`, `probe_each` and `probe_stream`, for the runtime type `$runtime`.
#[cfg(any(feature = "smol", feature = "async-std"))]
macro_rules! runtime_functions {
    ($runtime:expr, $stream:ty, $name:literal) => {
        /// Probes the configuration's target once and returns the report. With
        /// [`AddressFamily::Both`](crate::AddressFamily::Both), each family is probed and the worst report is
        /// returned; use [`probe_each`] for all of them.
        ///
        /// Everything the network or the server does is in the report.
        #[doc = concat!("Runs on ", $name, ".")]
        pub async fn probe(config: &crate::ProbeConfig) -> crate::Report {
            crate::probe_with(&$runtime, config).await
        }

        /// Probes the configuration's target, one report per address group of the address-family policy (one,
        /// or one per family for [`AddressFamily::Both`](crate::AddressFamily::Both)).
        #[doc = concat!("Runs on ", $name, ".")]
        pub async fn probe_each(config: &crate::ProbeConfig) -> Vec<crate::Report> {
            crate::probe_each_with(&$runtime, config).await
        }

        /// Runs a session over an already connected stream (for callers who connect themselves, e.g. through
        /// a proxy). The overall deadline starts now.
        #[doc = concat!("Runs on ", $name, ".")]
        pub async fn probe_stream(stream: $stream, config: &crate::ProbeConfig) -> crate::Report {
            crate::probe_runtime_stream(&$runtime, stream, config).await
        }
    };
}
#[cfg(any(feature = "smol", feature = "async-std"))]
pub(crate) use runtime_functions;
