//! The socket side of the MQTT session: one rumqttc (MQTT 5) connection,
//! polled by one task, written by another. All decisions are the pure
//! `Session`'s; this file only moves bytes and keeps time (backoff).
//!
//! MQTT 5 is used for one reason: "retain as published" on our
//! subscriptions, so a retained command is recognised and refused even
//! when it arrives live (3.1.1 brokers clear the flag on live delivery).

use super::session::{Outgoing, Session};
use crate::piece::state::State;
use crate::piece::{Incoming, Piece};
pub use easel_link::{SetupError, parse_url, tls_config};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Publish;
use rumqttc::v5::mqttbytes::v5::{Filter, LastWill, Packet};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// The retained state is republished at most this often (the newest
/// state always goes out, at most this late).
const STATE_EVERY: Duration = Duration::from_millis(200);

/// Back-pressure: while the publisher has this many events still to send,
/// no more commands are taken from the broker. The events channel holds
/// `EVENTS_CAPACITY`; past that the oldest answers would be lost.
const BACKLOG_HIGH: u64 = crate::piece::EVENTS_CAPACITY as u64 / 4;

/// Commands the broker may send before we acknowledge them (MQTT 5
/// Receive Maximum). A command is acknowledged once it is handed to the
/// piece, and held unacknowledged while the publisher is behind, so under
/// a flood the excess waits in the broker's queue, not in our memory.
const RECEIVE_MAXIMUM: u16 = 64;

/// Where and who to connect as.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub client_id: String,
    pub username: Option<String>,
    /// From `EASEL_MQTT_PASSWORD`, never from the config file.
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
}

/// Reconnect delays: 100 ms doubling to 5 s, back to 100 ms once connected.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    pub fn new() -> Backoff {
        Backoff { next: Self::MIN }
    }

    /// The delay before the next attempt.
    pub fn handle_failure(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }

    pub fn handle_connected(&mut self) {
        self.next = Self::MIN;
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new()
    }
}

/// The connection options of `endpoint` without a Last Will: the
/// daemon's own connection adds its will; the Home Assistant edge's has none.
pub fn connect_options(endpoint: &Endpoint) -> Result<MqttOptions, SetupError> {
    let mut options = MqttOptions::new(&endpoint.client_id, &endpoint.host, endpoint.port);
    options.set_keep_alive(Duration::from_secs(10));
    // Events are small packets: with Nagle on, each waits for the ACK of
    // the previous one (tens of ms of delayed ACK); `easel ctl bench`
    // measured the control plane at ~40 ms per command without this.
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    options.set_network_options(network);
    options.set_clean_start(true);
    // Oversized commands must reach the session to be answered with an
    // error event; the session enforces the real limit. The size is
    // announced in CONNECT (MQTT 5), so a broker never sends a bigger
    // packet: a retained giant would otherwise drop the connection at
    // every reconnect (mqtt_e2e: a_retained_command_too_large…).
    options.set_max_packet_size(Some(4 * 1024 * 1024));
    options.set_receive_maximum(Some(RECEIVE_MAXIMUM));
    if let Some(user) = &endpoint.username {
        options.set_credentials(user, endpoint.password.clone().unwrap_or_default());
    }
    if endpoint.tls {
        let config = tls_config(endpoint.ca_file.as_ref())?;
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(config)),
        ));
    }
    Ok(options)
}

fn options(endpoint: &Endpoint, session: &Session) -> Result<MqttOptions, SetupError> {
    let mut options = connect_options(endpoint)?;
    // Acknowledged once handed to the piece (`deliver`): back-pressure.
    options.set_manual_acks(true);
    let will = session.last_will();
    options.set_last_will(LastWill::new(
        will.topic,
        will.payload,
        QoS::AtLeastOnce,
        will.retain,
        None,
    ));
    Ok(options)
}

async fn send(client: &AsyncClient, out: Outgoing) {
    if let Err(e) = client
        .publish(out.topic, QoS::AtLeastOnce, out.retain, out.payload)
        .await
    {
        tracing::warn!("MQTT publish not queued: {e}");
    }
}

/// Runs the connection until `stop`; then publishes `stopped` and
/// disconnects cleanly (so the broker does not send the Last Will).
pub async fn run(
    endpoint: Endpoint,
    session: Session,
    piece: Piece,
    stop: CancellationToken,
) -> Result<(), SetupError> {
    let (client, mut eventloop) = AsyncClient::new(options(&endpoint, &session)?, 1024);
    tracing::info!(host = %endpoint.host, port = endpoint.port, tls = endpoint.tls, client_id = %endpoint.client_id, "MQTT client starting");
    // (connection generation, up): bumped on every CONNACK.
    let (link_tx, mut link) = watch::channel((0u64, false));
    let set_link = |up: bool| {
        piece.mqtt_connected.send_replace(up);
        piece.metrics.mqtt_connected.set(up as i64);
        link_tx.send_modify(|(generation, was)| {
            if up {
                *generation += 1;
            }
            *was = up;
        });
    };
    let done_polling = CancellationToken::new();
    let polling_ended = CancellationToken::new();
    // The inbound half of the session (it remembers controllers' last
    // values); the publisher below only reads the outbound half.
    let mut inbound = session.clone();
    // Events the publisher has taken (sent, or lost to a lag), and a
    // wake-up when it catches up; the piece counts the events it sent.
    let mut events = piece.events.subscribe();
    let taken = AtomicU64::new(piece.events.sent());
    let backlog = || {
        piece
            .events
            .sent()
            .saturating_sub(taken.load(Ordering::Relaxed))
    };
    let caught_up = tokio::sync::Notify::new();
    let poller = async {
        let _ended = polling_ended.clone().drop_guard();
        let mut backoff = Backoff::new();
        // DISCONNECT is written to a buffer first: polling goes on until
        // the broker closes the connection, so `stopped` and DISCONNECT
        // are really sent (otherwise the broker publishes the Last Will).
        let mut disconnecting = false;
        let mut last_failure: Option<String> = None;
        // Commands received, in order, not yet handed to the piece (at
        // most RECEIVE_MAXIMUM: none of them is acknowledged yet).
        let mut held: VecDeque<(Instant, Publish)> = VecDeque::new();
        // Handed over, their PUBACK not queued yet (the client's request
        // queue was full of our own publishes): retried on every turn.
        let mut acks: Vec<Publish> = Vec::new();
        loop {
            acks.retain(|p| client.try_ack(p).is_err());
            while backlog() < BACKLOG_HIGH {
                let Some((arrived, p)) = held.pop_front() else {
                    break;
                };
                if !deliver(&mut inbound, &piece, arrived, &p).await {
                    return;
                }
                if client.try_ack(&p).is_err() {
                    acks.push(p);
                }
            }
            let event = tokio::select! {
                _ = done_polling.cancelled() => break,
                _ = caught_up.notified(), if !held.is_empty() => continue,
                event = eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!("MQTT connected");
                    backoff.handle_connected();
                    last_failure = None;
                    // Packet ids of the old connection mean nothing to
                    // the new one (a clean start): held commands are
                    // still served, only not acknowledged.
                    acks.clear();
                    for (_, p) in &mut held {
                        p.qos = QoS::AtMostOnce;
                    }
                    set_link(true);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => held.push_back((Instant::now(), p)),
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => disconnecting = true,
                Ok(_) => {}
                Err(_) if disconnecting => break,
                Err(e) => {
                    // Every new reason is logged once (a wrong CA or a
                    // refused login must be visible at `info`), repeats of
                    // it only at debug while the backoff retries.
                    let reason = e.to_string();
                    if link_tx.borrow().1 {
                        tracing::warn!("MQTT connection lost: {reason}");
                    } else if last_failure.as_deref() != Some(reason.as_str()) {
                        tracing::warn!("MQTT connect failed (retrying): {reason}");
                    } else {
                        tracing::debug!("MQTT connect failed: {reason}");
                    }
                    last_failure = Some(reason);
                    set_link(false);
                    let delay = backoff.handle_failure();
                    tokio::select! {
                        _ = done_polling.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {},
                    }
                }
            }
        }
    };
    let publisher = async {
        let mut state = piece.state.clone();
        let mut palette = piece.palette.clone();
        // Its own copy: it follows the opening hours (a black palette).
        let mut outbound = session.clone();
        let mut next_state = Instant::now();
        let mut state_held = false;
        let filters = || {
            session.subscriptions().into_iter().map(|topic| {
                let mut f = Filter::new(topic, QoS::AtLeastOnce);
                f.preserve_retain = true;
                f
            })
        };
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Ok(()) = link.changed() => {
                    if link.borrow_and_update().1 {
                        if let Err(e) = client.subscribe_many(filters()).await {
                            tracing::warn!("MQTT subscribe not queued: {e}");
                        }
                        let now = state.borrow_and_update().clone();
                        outbound.set_closed(now.closed());
                        let messages = outbound.on_connect(&now, &palette.borrow_and_update());
                        for out in messages {
                            send(&client, out).await;
                        }
                    }
                }
                event = events.recv() => match event {
                    Ok(event) => {
                        taken.fetch_add(1, Ordering::Relaxed);
                        if backlog() < BACKLOG_HIGH {
                            caught_up.notify_one();
                        }
                        // The state a command changed goes out before its
                        // answer, held or not: whoever reads the answer
                        // finds the retained state already new.
                        let connected = link.borrow().1;
                        if (state_held || state.has_changed().unwrap_or(false)) && connected {
                            state_held = false;
                            next_state = Instant::now() + STATE_EVERY;
                            let now = state.borrow_and_update().clone();
                            let out = state_messages(&mut outbound, &now, &palette.borrow());
                            for o in out {
                                send(&client, o).await;
                            }
                        }
                        send(&client, outbound.event(&event)).await
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        taken.fetch_add(n, Ordering::Relaxed);
                        tracing::warn!("{n} events not published: too many at once");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                // A knob turned sends a change every tick: the retained
                // state goes out at most every STATE_EVERY, the newest last.
                Ok(()) = state.changed(), if !state_held => {
                    if Instant::now() < next_state {
                        state_held = true;
                        continue;
                    }
                    next_state = Instant::now() + STATE_EVERY;
                    let now = state.borrow_and_update().clone();
                    let out = state_messages(&mut outbound, &now, &palette.borrow());
                    if link.borrow().1 {
                        for o in out { send(&client, o).await }
                    }
                }
                _ = tokio::time::sleep_until(next_state.into()), if state_held => {
                    state_held = false;
                    next_state = Instant::now() + STATE_EVERY;
                    let now = state.borrow_and_update().clone();
                    let out = state_messages(&mut outbound, &now, &palette.borrow());
                    if link.borrow().1 {
                        for o in out { send(&client, o).await }
                    }
                }
                Ok(()) = palette.changed() => {
                    let out = outbound.palette(&palette.borrow_and_update());
                    if link.borrow().1 { send(&client, out).await }
                }
            }
        }
        // Events of the last pictures, then the goodbye.
        while let Ok(event) = events.try_recv() {
            send(&client, outbound.event(&event)).await;
        }
        send(&client, outbound.stopped()).await;
        let _ = client.disconnect().await;
        // The poller flushes the queue and stops after DISCONNECT; a dead
        // broker must not hold the exit up.
        let _ = tokio::time::timeout(Duration::from_secs(3), polling_ended.cancelled()).await;
        done_polling.cancel();
    };
    tokio::join!(poller, async {
        publisher.await;
    });
    set_link(false);
    Ok(())
}

/// Hands one received message to the piece: a deploy chunk to the deploy
/// task, a command (or the controller input it means) to the command loop.
/// Awaited: full queues slow the broker's sending down. False once the
/// piece has stopped.
async fn deliver(inbound: &mut Session, piece: &Piece, arrived: Instant, p: &Publish) -> bool {
    let topic = String::from_utf8_lossy(&p.topic);
    if let Some(message) = inbound.handle_deploy(&topic, &p.payload, p.retain) {
        let job = crate::piece::deploy::Job::Transfer(message);
        return piece.deploy.send(job).await.is_ok();
    }
    inbound.set_closed(piece.state.borrow().closed());
    for request in inbound.handle_publish(&topic, &p.payload, p.retain) {
        let incoming = Incoming { arrived, request };
        if piece.commands.send(incoming).await.is_err() {
            return false;
        }
    }
    true
}

/// The retained state, and the palette again when the piece opened or
/// closed (black while closed: `Session::palette`).
fn state_messages(outbound: &mut Session, state: &State, palette: &str) -> Vec<Outgoing> {
    let flipped = outbound.closed() != state.closed();
    outbound.set_closed(state.closed());
    let mut out = vec![outbound.state(state)];
    if flipped {
        out.push(outbound.palette(palette));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling_and_resets() {
        let mut b = Backoff::new();
        let delays: Vec<_> = (0..8).map(|_| b.handle_failure().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.handle_connected();
        assert_eq!(b.handle_failure().as_millis(), 100);
    }
}
