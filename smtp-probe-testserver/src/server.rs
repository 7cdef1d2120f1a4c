//! The server thread, its handle ([`TestServer`]) and what it records.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::Error;
use crate::conn::{Conn, Recorder};
use crate::responder::Responder;
use crate::script::Script;

/// What the server does with each accepted connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Behavior {
    /// Run the same script on every connection.
    Script(Script),
    /// Run `scripts[i]` on the i-th connection (0-based, in accept order).
    /// Connections beyond the list are closed at once without a byte sent,
    /// and an error is recorded for them.
    Scripts(Vec<Script>),
    /// Act as a small ESMTP server.
    Responder(Responder),
}

impl From<Script> for Behavior {
    fn from(script: Script) -> Self {
        Behavior::Script(script)
    }
}

impl From<Vec<Script>> for Behavior {
    fn from(scripts: Vec<Script>) -> Self {
        Behavior::Scripts(scripts)
    }
}

impl From<Responder> for Behavior {
    fn from(responder: Responder) -> Self {
        Behavior::Responder(responder)
    }
}

/// Everything the server saw on one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLog {
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// Lines received from the client (after TLS decryption), without the
    /// line terminator, lossy UTF-8. Includes DATA bodies and AUTH responses.
    pub lines: Vec<String>,
    /// Every byte received (after TLS decryption), exactly as sent.
    pub raw: Vec<u8>,
    /// Index into `lines` of the first line received inside TLS, if TLS started.
    pub tls_started_at: Option<usize>,
    /// The SNI the client sent in its TLS ClientHello.
    pub sni: Option<String>,
    /// The negotiated TLS version, e.g. `TLSv1_3`.
    pub tls_version: Option<String>,
    /// Script mismatches, TLS handshake failures, I/O errors, discarded plaintext.
    pub errors: Vec<String>,
    /// The server has finished with this connection.
    pub closed: bool,
}

impl ConnectionLog {
    /// Lines received before TLS started (all lines if it never did).
    pub fn lines_before_tls(&self) -> &[String] {
        &self.lines[..self.tls_started_at.unwrap_or(self.lines.len())]
    }

    /// Lines received inside TLS (none if TLS never started).
    pub fn lines_in_tls(&self) -> &[String] {
        &self.lines[self.tls_started_at.unwrap_or(self.lines.len())..]
    }

    /// Whether any received line starts with `prefix`, ignoring ASCII case.
    pub fn has_command(&self, prefix: &str) -> bool {
        Self::has_line(&self.lines, prefix)
    }

    /// Whether any line of `lines` starts with `prefix`, ignoring ASCII case.
    pub fn has_line(lines: &[String], prefix: &str) -> bool {
        lines.iter().any(|l| starts_with_ignore_case(l, prefix))
    }
}

pub(crate) fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// A message accepted by the responder.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedMessage {
    /// Index of the connection it came in on.
    pub connection: usize,
    /// The HELO/EHLO argument.
    pub helo: String,
    /// The reverse path without angle brackets (empty for `<>`).
    pub mail_from: String,
    /// Accepted recipients, without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message (headers and body) with dot-stuffing removed and without
    /// the final `.` line; lines end in CRLF.
    pub data: Vec<u8>,
    /// Whether the message came over TLS.
    pub tls: bool,
    /// The user the session had authenticated as.
    pub authenticated_as: Option<String>,
    /// The queue id given in the `250 2.0.0 Ok: queued as ...` reply.
    pub queue_id: String,
}

impl ReceivedMessage {
    /// The message as text (lossy UTF-8).
    pub fn data_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.data)
    }

    /// The unfolded value of the first header called `name` (case-insensitive),
    /// trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.data_str();
        let mut lines = text.split("\r\n").take_while(|l| !l.is_empty()).peekable();
        while let Some(line) = lines.next() {
            let Some((field, value)) = line.split_once(':') else {
                continue;
            };
            if field.eq_ignore_ascii_case(name) {
                let mut parts = vec![value.trim()];
                while let Some(cont) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
                    parts.push(cont.trim());
                }
                parts.retain(|p| !p.is_empty());
                return Some(parts.join(" "));
            }
        }
        None
    }
}

#[derive(Default)]
struct State {
    conns: Vec<ConnectionLog>,
    messages: Vec<ReceivedMessage>,
    /// Connections accepted and not yet finished.
    open: usize,
    /// The most connections that were open at once.
    max_open: usize,
}

/// State shared between the server thread and the handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    record: bool,
    queue_ids: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_connection(&self, peer: SocketAddr) -> usize {
        let mut state = self.lock();
        state.conns.push(ConnectionLog { peer: Some(peer), ..ConnectionLog::default() });
        state.open += 1;
        state.max_open = state.max_open.max(state.open);
        self.changed.notify_all();
        state.conns.len() - 1
    }

    /// Marks a connection finished (once, when its recorder is dropped).
    pub(crate) fn connection_closed(&self, index: usize) {
        let mut state = self.lock();
        state.open = state.open.saturating_sub(1);
        if let Some(log) = state.conns.get_mut(index) {
            log.closed = true;
        }
        self.changed.notify_all();
    }

    /// Updates one connection's log. Lines and raw bytes are dropped when
    /// recording is off; errors and flags are always kept.
    pub(crate) fn with_log(&self, index: usize, f: impl FnOnce(&mut ConnectionLog)) {
        let mut state = self.lock();
        if let Some(log) = state.conns.get_mut(index) {
            let (lines, raw) = (log.lines.len(), log.raw.len());
            f(log);
            if !self.record {
                log.lines.truncate(lines);
                log.raw.truncate(raw);
            }
        }
        self.changed.notify_all();
    }

    pub(crate) fn push_message(&self, message: ReceivedMessage) {
        let mut state = self.lock();
        if self.record {
            state.messages.push(message);
        }
        self.changed.notify_all();
    }

    pub(crate) fn next_queue_id(&self) -> String {
        format!("{:010X}", self.queue_ids.fetch_add(1, Ordering::Relaxed))
    }

    fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&State) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// Configures and starts a [`TestServer`]: behaviour, bind address, recording.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    behavior: Behavior,
    bind: SocketAddr,
    record: bool,
}

impl ServerBuilder {
    /// A server with this behaviour, bound to `127.0.0.1:0`, recording transcripts.
    pub fn new(behavior: impl Into<Behavior>) -> Self {
        ServerBuilder { behavior: behavior.into(), bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), record: true }
    }

    /// Bind to `[::1]:0` instead.
    pub fn ipv6(mut self) -> Self {
        self.bind = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
        self
    }

    /// Bind to this address, which must be a loopback address
    /// (e.g. a fixed port on `127.0.0.1` for the CLI demo).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Whether to keep transcripts (lines, raw bytes) and received messages
    /// (default `true`). Turn off for benchmarks and long-running demos so
    /// memory stays flat; connection counts and errors are still kept.
    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// Binds, starts the server thread and returns at once.
    pub fn start(self) -> Result<TestServer, Error> {
        if !self.bind.ip().is_loopback() {
            return Err(Error::Config(format!(
                "refusing to bind {}: the test server only binds loopback addresses",
                self.bind
            )));
        }
        if let Behavior::Responder(r) = &self.behavior {
            r.validate()?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let listener = bind_listener(self.bind, &runtime)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            record: self.record,
            queue_ids: AtomicU64::new(0x4E_0000_0001),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let behavior = self.behavior;
        let thread = std::thread::Builder::new()
            .name(format!("smtp-testserver-{}", addr.port()))
            .spawn(move || serve(runtime, listener, behavior, thread_shared, stop_rx))?;
        Ok(TestServer { addr, shared, stop: Some(stop_tx), thread: Some(thread) })
    }
}

/// The accept queue asked for; the kernel caps it at `net.core.somaxconn` (4096 by default).
const ACCEPT_BACKLOG: u32 = 4096;

/// Binds a non-blocking listener with a deep accept queue. `std::net::TcpListener::bind` asks for 128: a load run
/// that connects thousands of clients at once overflows that, and the kernel then drops handshakes that are only
/// retried after 1 s, 3 s, 7 s, ... (clients see greeting timeouts).
fn bind_listener(addr: SocketAddr, runtime: &tokio::runtime::Runtime) -> std::io::Result<std::net::TcpListener> {
    // `TcpSocket::listen` registers with a runtime; `into_std` takes it back out for the server thread.
    let _enter = runtime.enter();
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As std does on Unix: a restarted server can bind its fixed port again at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)?.into_std()
}

fn serve(
    runtime: tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    behavior: Behavior,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(_) => return,
        };
        let behavior = Arc::new(behavior);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        let index = shared.new_connection(peer);
                        let rec = Recorder::new(Arc::clone(&shared), index);
                        tokio::spawn(handle(Conn::new(tcp, rec), Arc::clone(&behavior)));
                    }
                    // Out of descriptors and the like: back off briefly.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
            }
        }
    });
    // Dropping the runtime cancels every connection task, closing its socket.
    drop(runtime);
}

async fn handle(conn: Conn, behavior: Arc<Behavior>) {
    match &*behavior {
        Behavior::Script(script) => crate::script::run(conn, script).await,
        Behavior::Scripts(scripts) => match scripts.get(conn.rec.index()) {
            Some(script) => crate::script::run(conn, script).await,
            None => {
                conn.rec.error(format!(
                    "no script for connection {} (only {} given); closed",
                    conn.rec.index(),
                    scripts.len()
                ));
                conn.close().await;
            }
        },
        Behavior::Responder(responder) => crate::responder::run(conn, responder).await,
    }
}

/// Handle to a running test server. Dropping it (or [`shutdown`](Self::shutdown))
/// stops the server and closes every connection.
///
/// The `wait_*` methods block the calling thread (the server runs on its own
/// thread, so this never deadlocks, even inside an async test).
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl TestServer {
    /// The bound address (loopback, ephemeral port unless configured).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many connections have been accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().conns.len()
    }

    /// The most connections that were open at the same time so far: what a test of a client's concurrency limit
    /// reads.
    pub fn max_concurrent_connections(&self) -> usize {
        self.shared.lock().max_open
    }

    /// Per connection (in accept order), the lines received from the client.
    pub fn transcripts(&self) -> Vec<Vec<String>> {
        self.shared.lock().conns.iter().map(|c| c.lines.clone()).collect()
    }

    /// Per connection (in accept order), everything recorded about it.
    pub fn connection_logs(&self) -> Vec<ConnectionLog> {
        self.shared.lock().conns.clone()
    }

    /// The messages the responder accepted, in order.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        self.shared.lock().messages.clone()
    }

    /// Every recorded error, as `"connection N: ..."`.
    pub fn errors(&self) -> Vec<String> {
        let state = self.shared.lock();
        state
            .conns
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.errors.iter().map(move |e| format!("connection {i}: {e}")))
            .collect()
    }

    /// Waits until at least `n` connections were accepted; false on timeout.
    pub fn wait_for_connections(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.conns.len() >= n)
    }

    /// Waits until at least `n` connections were accepted and all accepted
    /// ones are finished (closed by either side); false on timeout.
    pub fn wait_for_closed(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.conns.len() >= n && s.conns.iter().all(|c| c.closed))
    }

    /// Waits until at least `n` messages were accepted; false on timeout.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |s| s.messages.len() >= n)
    }

    /// Stops the server, closes all connections and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
