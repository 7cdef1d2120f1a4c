//! A loopback SMTP server that is up or down as the test says, at any moment: up greets 220 and answers EHLO
//! and QUIT; down greets with a 554 and the text the test chose (hostile text, for escaping tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub struct FlipServer {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FlipServer {
    /// Starts on a fresh port; `down_greeting` is what it says while down (a 554 line).
    pub async fn start(up: bool, down_greeting: &str) -> FlipServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let flag = Arc::new(AtomicBool::new(up));
        let connections = Arc::new(AtomicU64::new(0));
        let down_greeting = format!("{}\r\n", down_greeting.trim_end());
        let (f, c) = (flag.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::Relaxed);
                let up = f.load(Ordering::SeqCst);
                let down_greeting = down_greeting.clone();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut lines = BufReader::new(r).lines();
                    if !up {
                        let _ = w.write_all(down_greeting.as_bytes()).await;
                        let _ = lines.next_line().await;
                        let _ = w.write_all(b"221 2.0.0 Bye\r\n").await;
                        return;
                    }
                    if w.write_all(b"220 mx.test ESMTP ready\r\n").await.is_err() {
                        return;
                    }
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250 mx.test\r\n",
                            "QUIT" => {
                                let _ = w.write_all(b"221 2.0.0 Bye\r\n").await;
                                return;
                            }
                            _ => b"250 2.0.0 OK\r\n",
                        };
                        if w.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FlipServer { addr, up: flag, connections, task }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for FlipServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
