//! The MQTT control plane (docs/contract.md, "MQTT"): the daemon's edge to
//! controllers, tools and fleets.
//!
//! - `session`: pure: topics, retained messages, Last Will, decoding.
//! - `client`: the connection (rumqttc), reconnect with backoff.
//! - `broker`: the embedded broker, run when `[mqtt] url` is absent.
//! - `access` (pure) and `gate`: who may log in to a locked embedded
//!   broker, and which topics each may use.
//!
//! With the embedded broker the daemon still connects over TCP like any
//! client: one code path for both setups, and the Last Will and retained
//! topics behave exactly as with mosquitto.

pub mod access;
pub mod broker;
pub mod client;
mod front;
pub mod gate;
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
    /// More users of the locked embedded broker: `name:$argon2id$…` lines.
    pub password_file: Option<PathBuf>,
    /// Users of the password file with full access (the others are
    /// controllers).
    pub admins: Vec<String>,
}

impl MqttConfig {
    /// The embedded broker requires logins: it runs, and a `username` is set.
    pub fn is_locked(&self) -> bool {
        self.url.is_none() && self.username.is_some()
    }
}

/// The running edge: the client task and, maybe, the embedded broker.
pub struct MqttEdge {
    /// Where the daemon's client connects, for other edges that need a
    /// connection of their own (Home Assistant's).
    pub endpoint: client::Endpoint,
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
    #[error("[mqtt] password_file {path}: {message}")]
    PasswordFile { path: PathBuf, message: String },
}

/// The users of a locked embedded broker: the daemon's own login (its
/// password hashed now, so every login is checked the same way) and the
/// password file's.
async fn access(mqtt: &MqttConfig, password: &str) -> Result<Option<access::Access>, EdgeError> {
    let Some(username) = mqtt.username.clone().filter(|_| mqtt.is_locked()) else {
        return Ok(None);
    };
    let file_users = match &mqtt.password_file {
        None => Vec::new(),
        Some(path) => {
            let fail = |message: String| EdgeError::PasswordFile {
                path: path.clone(),
                message,
            };
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|e| fail(e.to_string()))?;
            access::parse_password_file(&text).map_err(|e| fail(e.to_string()))?
        }
    };
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || gate::hash_password(&password))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|message| {
            EdgeError::Broker(broker::BrokerError {
                addr: mqtt.embedded_listen,
                message: format!("hashing the daemon's password: {message}"),
            })
        })?;
    Ok(Some(access::Access::new(
        &mqtt.prefix,
        (username, hash),
        file_users,
        &mqtt.admins,
        vec![mqtt.client_id.clone()],
    )))
}

impl MqttEdge {
    /// Starts the embedded broker (when configured) and the client.
    pub async fn start(
        mqtt: &MqttConfig,
        node: &str,
        bindings: Bindings,
        piece: Piece,
    ) -> Result<MqttEdge, EdgeError> {
        let password = std::env::var("EASEL_MQTT_PASSWORD").ok();
        let (broker, (host, port, tls)) = match &mqtt.url {
            Some(url) => (None, client::parse_url(url)?),
            None => {
                let access = access(mqtt, password.as_deref().unwrap_or_default()).await?;
                let broker = broker::EmbeddedBroker::start(mqtt.embedded_listen, access).await?;
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
            password,
            ca_file: mqtt.ca_file.clone(),
        };
        let session = session::Session::new(&mqtt.prefix, node, mqtt.max_payload, bindings);
        let stop = CancellationToken::new();
        let task_stop = stop.clone();
        let task_endpoint = endpoint.clone();
        let client = tokio::spawn(async move {
            if let Err(e) = client::run(task_endpoint, session, piece, task_stop).await {
                tracing::error!("MQTT client: {e}");
            }
        });
        Ok(MqttEdge {
            endpoint,
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
