//! The Home Assistant edge (docs/homeassistant.md): MQTT discovery, so a
//! venue's Home Assistant shows the piece as a device it can watch and
//! press. An edge like `mqtt/`, with a connection of its own to the same
//! broker (client id `<client_id>-ha`, no Last Will: the piece's
//! availability stays `P/N/status`, the daemon's own).
//!
//! - `discovery` (pure): the retained config messages.
//! - `telemetry` (pure): the sensors' values (`P/N/ha/stats`).
//! - this file: the connection; announcing on connect, on Home
//!   Assistant's birth message and when the loaded models change; the
//!   newest picture's URL (`P/N/ha/image`); stats every 10 s and on news;
//!   and the ledger of what was announced (`data_dir/homeassistant.json`),
//!   so entities that went away since (a sensor this board lacks, a
//!   renamed node, the whole integration switched off) are withdrawn with
//!   empty retained configs.
//!
//! Home Assistant's buttons and selects publish ordinary commands on
//! `P/N/cmd/…`; the daemon's own connection takes them, as from anyone.

pub mod discovery;
#[cfg(test)]
mod schema;
pub mod telemetry;

use crate::mqtt::client::{Backoff, Endpoint, connect_options};
use crate::piece::Piece;
use crate::piece::event::Event;
use discovery::{Announcement, Device};
use easel_protocol::InputMessage;
use easel_protocol::input::Signal;
use easel_protocol::topic::Route;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event as MqttEvent};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use telemetry::Telemetry;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// `[homeassistant]`, validated (present only when enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConfig {
    /// Home Assistant's discovery prefix.
    pub prefix: String,
    /// `http://host:port` Home Assistant fetches pictures from; `None`:
    /// made from `[http] listen`.
    pub base_url: Option<String>,
    /// The device's name; `None`: `easel <node>`.
    pub name: Option<String>,
}

/// Everything the edge is started with.
pub struct Settings {
    /// `None`: disabled (only earlier announcements are withdrawn).
    pub config: Option<HaConfig>,
    pub endpoint: Endpoint,
    pub prefix: String,
    pub node: String,
    pub data_dir: PathBuf,
    pub base_url: String,
}

const STATS_EVERY: Duration = Duration::from_secs(10);
const LEDGER: &str = "homeassistant.json";

/// Where a board reports its temperature, if it does.
const THERMAL_ZONE: &str = "/sys/class/thermal/thermal_zone0/temp";

fn temperature() -> Option<f64> {
    std::fs::read_to_string(THERMAL_ZONE)
        .ok()
        .as_deref()
        .and_then(telemetry::parse_millidegrees)
}

/// The discovery topics announced last time (empty when none were).
fn read_ledger(data_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(data_dir.join(LEDGER)).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::from_value(v["topics"].clone()).ok())
        .unwrap_or_default()
}

fn write_ledger(data_dir: &Path, topics: &[String]) {
    let path = data_dir.join(LEDGER);
    let result = if topics.is_empty() {
        std::fs::remove_file(&path).or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })
    } else {
        let text = serde_json::json!({ "topics": topics }).to_string();
        crate::durable::write(&path, text.as_bytes())
    };
    if let Err(e) = result {
        tracing::warn!("Home Assistant: writing {}: {e}", path.display());
    }
}

/// Starts the edge; `None` when there is nothing to do (disabled, and
/// nothing announced before).
pub fn start(
    settings: Settings,
    piece: Piece,
    cancel: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let earlier = read_ledger(&settings.data_dir);
    if settings.config.is_none() && earlier.is_empty() {
        return None;
    }
    Some(tokio::spawn(run(settings, earlier, piece, cancel)))
}

/// What the poller hands the edge.
enum Heard {
    Connected,
    Message { topic: String, payload: Vec<u8> },
}

/// One publish, queued without waiting: while the broker is away the
/// queue fills and later messages are dropped (each is sent again on the
/// next connect or tick) instead of holding the edge up.
async fn send(client: &AsyncClient, topic: String, payload: Vec<u8>, retain: bool) {
    if let Err(e) = client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
        tracing::debug!("Home Assistant: publish not queued: {e}");
    }
}

struct Edge {
    settings: Settings,
    client: AsyncClient,
    piece: Piece,
    telemetry: Telemetry,
    /// Topics announced on this run (and recorded in the ledger).
    announced: Vec<String>,
    /// Topics of an earlier run still to withdraw.
    earlier: Vec<String>,
    has_temperature: bool,
    models: Vec<String>,
    image_url: Option<String>,
}

impl Edge {
    fn device_name(&self) -> String {
        self.settings
            .config
            .as_ref()
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| format!("easel {}", self.settings.node))
    }

    fn announcements(&self) -> Vec<Announcement> {
        let Some(config) = &self.settings.config else {
            return Vec::new();
        };
        let name = self.device_name();
        let device = Device {
            discovery_prefix: &config.prefix,
            prefix: &self.settings.prefix,
            node: &self.settings.node,
            name: &name,
            version: env!("CARGO_PKG_VERSION"),
            base_url: &self.settings.base_url,
            temperature: self.has_temperature,
        };
        discovery::announcements(&device, &self.models)
    }

    fn topic(&self, leaf: &str) -> String {
        format!("{}/{}/{leaf}", self.settings.prefix, self.settings.node)
    }

    /// Every config (retained), the withdrawals, the ledger, then the
    /// values the entities read.
    async fn announce(&mut self) {
        let now = self.announcements();
        let mut gone = discovery::withdrawn(&self.earlier, &now);
        gone.extend(discovery::withdrawn(&self.announced, &now));
        gone.sort();
        gone.dedup();
        for topic in gone {
            tracing::info!(%topic, "Home Assistant: entity withdrawn");
            send(&self.client, topic, Vec::new(), true).await;
        }
        for a in &now {
            send(
                &self.client,
                a.topic.clone(),
                a.payload.to_string().into_bytes(),
                true,
            )
            .await;
        }
        self.announced = now.into_iter().map(|a| a.topic).collect();
        self.earlier.clear();
        write_ledger(&self.settings.data_dir, &self.announced);
        if self.settings.config.is_some() {
            tracing::info!(
                entities = self.announced.len(),
                "Home Assistant: discovery announced"
            );
            self.publish_image().await;
            self.publish_stats().await;
        }
    }

    async fn publish_image(&self) {
        if let Some(url) = &self.image_url {
            send(
                &self.client,
                self.topic("ha/image"),
                url.clone().into_bytes(),
                true,
            )
            .await;
        }
    }

    async fn publish_stats(&mut self) {
        let frames = self.piece.metrics.frames.get();
        let temperature = if self.has_temperature {
            temperature()
        } else {
            None
        };
        let stats = self.telemetry.snapshot(frames, Instant::now(), temperature);
        let payload = serde_json::to_vec(&stats).expect("stats serialise");
        send(&self.client, self.topic("ha/stats"), payload, true).await;
    }

    /// A message Home Assistant or a controller sent.
    async fn handle_message(&mut self, topic: &str, payload: &[u8]) {
        let Some(config) = &self.settings.config else {
            return;
        };
        if topic == format!("{}/status", config.prefix) {
            if payload == b"online" {
                tracing::info!("Home Assistant came online: announcing again");
                self.announce().await;
            }
            return;
        }
        let changed = match Route::parse(&self.settings.prefix, topic) {
            Some(Route::ControllerInput { id }) => {
                match serde_json::from_slice::<InputMessage>(payload) {
                    Ok(InputMessage {
                        signal: Signal::Presence(present),
                        ..
                    }) => self.telemetry.handle_presence(id, present),
                    _ => false,
                }
            }
            Some(Route::ControllerStatus { id }) if payload != b"online" => {
                self.telemetry.handle_controller_gone(id)
            }
            _ => false,
        };
        if changed {
            self.publish_stats().await;
        }
    }

    /// The state changed: a new set of models re-announces (the model
    /// select's options) when `announce`; a new picture moves the image
    /// entity.
    async fn handle_state(&mut self, announce: bool) {
        let (models, latest) = {
            let s = self.piece.state.borrow();
            let models: Vec<String> = s.models.iter().map(|m| m.name.clone()).collect();
            (models, s.latest.as_ref().map(|l| l.url.clone()))
        };
        if models != self.models {
            self.models = models;
            if announce && self.settings.config.is_some() {
                self.announce().await;
            }
        }
        let url = latest.map(|u| format!("{}{u}", self.settings.base_url));
        if url != self.image_url {
            self.image_url = url;
            self.publish_image().await;
        }
    }
}

async fn run(settings: Settings, earlier: Vec<String>, piece: Piece, cancel: CancellationToken) {
    let mut endpoint = settings.endpoint.clone();
    endpoint.client_id = format!("{}-ha", endpoint.client_id);
    let options = match connect_options(&endpoint) {
        Ok(o) => o,
        Err(e) => return tracing::error!("Home Assistant: {e}"),
    };
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    let (heard_tx, mut heard) = mpsc::channel(64);
    let poll_stop = CancellationToken::new();
    let polling_ended = CancellationToken::new();
    let poller = {
        let poll_stop = poll_stop.clone();
        let ended = polling_ended.clone();
        async move {
            let _ended = ended.drop_guard();
            let mut backoff = Backoff::new();
            // After DISCONNECT is written, polling goes on until the broker
            // closes the connection, so what was queued before it is sent.
            let mut disconnecting = false;
            loop {
                let event = tokio::select! {
                    _ = poll_stop.cancelled() => break,
                    event = eventloop.poll() => event,
                };
                let heard = match event {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                        backoff.handle_connected();
                        Heard::Connected
                    }
                    Ok(MqttEvent::Incoming(Packet::Publish(p))) => Heard::Message {
                        topic: String::from_utf8_lossy(&p.topic).into_owned(),
                        payload: p.payload.to_vec(),
                    },
                    Ok(MqttEvent::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                        disconnecting = true;
                        continue;
                    }
                    Ok(_) => continue,
                    Err(_) if disconnecting => break,
                    Err(e) => {
                        tracing::debug!("Home Assistant connection: {e}");
                        tokio::select! {
                            _ = poll_stop.cancelled() => break,
                            _ = tokio::time::sleep(backoff.handle_failure()) => continue,
                        }
                    }
                };
                // The logic may have stopped listening (shutdown): keep
                // polling so DISCONNECT still goes out.
                let _ = heard_tx.try_send(heard);
            }
        }
    };
    let has_temperature = temperature().is_some();
    let mut edge = Edge {
        settings,
        client: client.clone(),
        piece: piece.clone(),
        telemetry: Telemetry::default(),
        announced: Vec::new(),
        earlier,
        has_temperature,
        models: Vec::new(),
        image_url: None,
    };
    let logic = async {
        let mut events = piece.events.subscribe();
        let mut state = piece.state.clone();
        let mut tick = tokio::time::interval(STATS_EVERY);
        let mut connected = false;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(h) = heard.recv() => match h {
                    Heard::Connected => {
                        connected = true;
                        let Some(config) = &edge.settings.config else {
                            // Disabled: only the withdrawals, then done.
                            edge.announce().await;
                            tracing::info!("Home Assistant disabled: earlier entities withdrawn");
                            break;
                        };
                        let filters = [
                            format!("{}/status", config.prefix),
                            format!("{}/ctl/+/input", edge.settings.prefix),
                            format!("{}/ctl/+/status", edge.settings.prefix),
                        ];
                        for f in filters {
                            if let Err(e) = client.subscribe(f, QoS::AtLeastOnce).await {
                                tracing::warn!("Home Assistant: subscribe not queued: {e}");
                            }
                        }
                        state.borrow_and_update();
                        edge.handle_state(false).await;
                        edge.announce().await;
                    }
                    Heard::Message { topic, payload } => edge.handle_message(&topic, &payload).await,
                },
                Ok(()) = state.changed(), if connected => edge.handle_state(true).await,
                event = events.recv() => match event {
                    Ok(Event::Generated(g)) => {
                        edge.telemetry.handle_generated(g.latency_ms);
                        if connected { edge.publish_stats().await }
                    }
                    Ok(Event::Error(_)) => edge.telemetry.handle_error(),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick(), if connected && edge.settings.config.is_some() => edge.publish_stats().await,
            }
        }
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(3), polling_ended.cancelled()).await;
        poll_stop.cancel();
    };
    tokio::join!(poller, logic);
}
