//! The OSC edge (docs/osc.md): show control (TouchDesigner, Max, QLab)
//! drives the piece over UDP with `/easel/...` messages, and hears about
//! each new picture and palette. An edge like `mqtt/`: it only turns
//! datagrams into the piece's commands (`message.rs` decides what they
//! mean) and the piece's events into datagrams.
//!
//! A datagram that is not OSC, or an address that is not ours, is logged
//! (at most a few lines a minute: a misconfigured sender can fire
//! thousands a second) and dropped. Nothing a sender does stops the edge.

pub mod message;

use crate::piece::{Incoming, Piece};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// `[osc]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OscConfig {
    /// Where to take messages; `None`: send only.
    pub listen: Option<SocketAddr>,
    /// `host:port` of each receiver of `/easel/generated` and `/easel/palette`.
    pub targets: Vec<String>,
}

/// A log line budget: `per_window` lines per `window`, then silence, with
/// the number of silenced lines told when speaking again. Pure: the
/// caller passes the time.
#[derive(Debug, Clone)]
pub struct LogBudget {
    window: Duration,
    per_window: u32,
    started: Option<Instant>,
    used: u32,
    silenced: u64,
}

impl LogBudget {
    pub fn new(per_window: u32, window: Duration) -> LogBudget {
        LogBudget {
            window,
            per_window,
            started: None,
            used: 0,
            silenced: 0,
        }
    }

    /// `Some(silenced since the last line)` when a line may be logged now.
    pub fn handle_line(&mut self, now: Instant) -> Option<u64> {
        if self
            .started
            .is_none_or(|s| now.duration_since(s) >= self.window)
        {
            self.started = Some(now);
            self.used = 0;
        }
        if self.used < self.per_window {
            self.used += 1;
            Some(std::mem::take(&mut self.silenced))
        } else {
            self.silenced += 1;
            None
        }
    }
}

/// The running edge.
pub struct OscEdge {
    /// Where it listens (the real port when asked for port 0).
    pub addr: Option<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
}

impl OscEdge {
    /// Binds the listener (a config mistake is a start-up error) and
    /// starts the task. `base_url` makes picture URLs absolute.
    pub async fn start(
        config: &OscConfig,
        piece: Piece,
        max_payload: usize,
        base_url: String,
        cancel: CancellationToken,
    ) -> std::io::Result<OscEdge> {
        let socket = match config.listen {
            Some(addr) => UdpSocket::bind(addr).await?,
            None => UdpSocket::bind(("0.0.0.0", 0)).await?,
        };
        let addr = match config.listen {
            Some(_) => Some(socket.local_addr()?),
            None => None,
        };
        if let Some(addr) = addr {
            tracing::info!(%addr, targets = ?config.targets, "OSC listening (UDP)");
        }
        let edge = Edge {
            socket,
            listening: addr.is_some(),
            targets: config.targets.clone(),
            piece,
            max_payload,
            base_url,
        };
        let task = tokio::spawn(edge.run(cancel));
        Ok(OscEdge { addr, task })
    }

    pub async fn stop(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

struct Edge {
    socket: UdpSocket,
    listening: bool,
    targets: Vec<String>,
    piece: Piece,
    max_payload: usize,
    base_url: String,
}

impl Edge {
    async fn run(self, cancel: CancellationToken) {
        let mut events = self.piece.events.subscribe();
        let mut palette = self.piece.palette.clone();
        palette.borrow_and_update();
        let mut buf = vec![0u8; 64 * 1024];
        let mut bad = LogBudget::new(5, Duration::from_secs(60));
        let mut unsent = LogBudget::new(5, Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                received = self.socket.recv_from(&mut buf), if self.listening => match received {
                    Ok((n, from)) => {
                        if !self.handle_datagram(&buf[..n], from, &mut bad).await {
                            break;
                        }
                    }
                    // ICMP "port unreachable" from a target shows up here on Linux.
                    Err(e) => {
                        if let Some(silenced) = unsent.handle_line(Instant::now()) {
                            tracing::debug!(silenced, "OSC receive: {e}");
                        }
                    }
                },
                event = events.recv() => match event {
                    Ok(event) => {
                        if let Some(m) = message::announce(&event, &self.base_url) {
                            self.send(m, &mut unsent).await;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!("OSC: {n} events not sent: too many at once"),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Ok(()) = palette.changed() => {
                    let p = palette.borrow_and_update().clone();
                    if let Some(m) = message::palette(&p) {
                        self.send(m, &mut unsent).await;
                    }
                }
            }
        }
    }

    /// Hands the datagram's commands to the piece; false once the piece
    /// has stopped taking them.
    async fn handle_datagram(&self, data: &[u8], from: SocketAddr, bad: &mut LogBudget) -> bool {
        let packet = match rosc::decoder::decode_udp(data) {
            Ok((_, packet)) => packet,
            Err(e) => {
                if let Some(silenced) = bad.handle_line(Instant::now()) {
                    tracing::warn!(%from, bytes = data.len(), silenced, "OSC: not an OSC packet, ignored: {e}");
                }
                return true;
            }
        };
        for m in message::messages(packet) {
            let Some(request) = message::request(&m, self.max_payload) else {
                if let Some(silenced) = bad.handle_line(Instant::now()) {
                    tracing::info!(%from, addr = %m.addr, silenced, "OSC: not an /easel/ address, ignored");
                }
                continue;
            };
            if self
                .piece
                .commands
                .send(Incoming::now(request))
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }

    async fn send(&self, m: rosc::OscMessage, unsent: &mut LogBudget) {
        let Ok(bytes) = rosc::encoder::encode(&rosc::OscPacket::Message(m)) else {
            return;
        };
        for target in &self.targets {
            if let Err(e) = self.socket.send_to(&bytes, target.as_str()).await
                && let Some(silenced) = unsent.handle_line(Instant::now())
            {
                tracing::warn!(%target, silenced, "OSC: sending failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_budget_speaks_a_few_times_a_window_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut b = LogBudget::new(2, Duration::from_secs(60));
        assert_eq!(b.handle_line(t0), Some(0));
        assert_eq!(b.handle_line(t0), Some(0));
        assert_eq!(b.handle_line(t0 + Duration::from_secs(1)), None);
        assert_eq!(b.handle_line(t0 + Duration::from_secs(2)), None);
        assert_eq!(b.handle_line(t0 + Duration::from_secs(61)), Some(2));
    }
}
