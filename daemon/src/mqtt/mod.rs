//! The MQTT control plane (docs/contract.md, "MQTT"): the daemon's edge to
//! controllers, tools and fleets.
//!
//! - `session`: pure: topics, retained messages, Last Will, decoding.
//! - `client`: the connection (rumqttc), reconnect with backoff.
//! - `broker`: the embedded broker, run when `[mqtt] url` is absent.
//!
//! With the embedded broker the daemon still connects over TCP like any
//! client: one code path for both setups, and the Last Will and retained
//! topics behave exactly as with mosquitto.

pub mod broker;
pub mod client;
pub mod session;

use crate::piece::Piece;
use crate::piece::bindings::Bindings;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// `[mqtt]`, validated: where the broker is and who the daemon is there.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    /// `None`: run the embedded broker and connect to it.
    pub url: Option<String>,
    pub prefix: String,
    pub username: Option<String>,
    pub embedded_listen: SocketAddr,
    pub max_payload: usize,
    pub ca_file: Option<PathBuf>,
    /// Unique per node: two daemons with one id would take turns kicking
    /// each other off the broker.
    pub client_id: String,
}

/// The running edge: the client task and, maybe, the embedded broker.
pub struct MqttEdge {
    stop: CancellationToken,
    client: tokio::task::JoinHandle<()>,
    broker: Option<broker::EmbeddedBroker>,
}

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error(transparent)]
    Broker(#[from] broker::BrokerError),
    #[error(transparent)]
    Client(#[from] client::SetupError),
}

impl MqttEdge {
    /// Starts the embedded broker (when configured) and the client.
    pub async fn start(
        mqtt: &MqttConfig,
        node: &str,
        bindings: Bindings,
        piece: Piece,
    ) -> Result<MqttEdge, EdgeError> {
        let (broker, (host, port, tls)) = match &mqtt.url {
            Some(url) => (None, client::parse_url(url)?),
            None => {
                let broker = broker::EmbeddedBroker::start(mqtt.embedded_listen).await?;
                let addr = broker.addr();
                let host = if addr.ip().is_unspecified() {
                    "127.0.0.1".into()
                } else {
                    addr.ip().to_string()
                };
                (Some(broker), (host, addr.port(), false))
            }
        };
        let endpoint = client::Endpoint {
            host,
            port,
            tls,
            client_id: mqtt.client_id.clone(),
            username: mqtt.username.clone(),
            password: std::env::var("EASEL_MQTT_PASSWORD").ok(),
            ca_file: mqtt.ca_file.clone(),
        };
        let session = session::Session::new(&mqtt.prefix, node, mqtt.max_payload, bindings);
        let stop = CancellationToken::new();
        let task_stop = stop.clone();
        let client = tokio::spawn(async move {
            if let Err(e) = client::run(endpoint, session, piece, task_stop).await {
                tracing::error!("MQTT client: {e}");
            }
        });
        Ok(MqttEdge {
            stop,
            client,
            broker,
        })
    }

    /// Publishes `stopped`, disconnects, stops the embedded broker.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.client.await;
        if let Some(broker) = self.broker {
            broker.stop().await;
        }
    }
}
