//! The embedded broker: what `easeld` runs when `[mqtt] url` is absent, so
//! a fresh checkout is a whole installation with no other service.
//!
//! It is the `mqtt5` crate's broker, chosen because it takes MQTT 3.1.1
//! *and* MQTT 5 clients on one listener (the firmware's minimq speaks 5,
//! `mosquitto_pub` defaults to 3.1.1); rumqttd needs a second listener for
//! version 5. Sessions and retained messages live in memory: the daemon
//! republishes its retained topics on every connect, and an SD card on a
//! gallery board should not be written for broker bookkeeping.
//!
//! This file owns only starting and stopping the broker; the daemon talks
//! to it over TCP like any other client (docs/mqtt.md says why). Given an
//! [`Access`], the broker is locked: logins and topics go through
//! `gate.rs`; without one it is open (loopback, or `allow_anonymous`).

use super::access::Access;
use super::gate::Gate;
use mqtt5::broker::{
    BrokerConfig, BrokerShutdownHandle, MqttBroker, StorageBackendType, StorageConfig,
};
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest packet the embedded broker accepts. Above the daemon's own
/// command limit, so an oversized command still reaches the daemon and is
/// answered with a `payload_too_large` error event instead of vanishing.
pub const MAX_PACKET: usize = 2 * 1024 * 1024;

/// MQTT sessions the embedded broker holds at once; a gallery has tens of
/// controllers. (A TCP connection that never sends CONNECT is dropped by
/// the broker after 10 s.)
pub const MAX_CLIENTS: usize = 256;

/// Accept errors that concern one connection (it went away before it was
/// accepted), not the listener: the next accept may go ahead at once.
pub fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

#[derive(Debug, thiserror::Error)]
#[error("embedded MQTT broker on {addr}: {message}")]
pub struct BrokerError {
    pub addr: SocketAddr,
    pub message: String,
}

/// A running embedded broker; stops when told or when dropped with the runtime.
pub struct EmbeddedBroker {
    addr: SocketAddr,
    shutdown: BrokerShutdownHandle,
    task: tokio::task::JoinHandle<()>,
}

impl EmbeddedBroker {
    /// Binds `listen` (port 0 picks a free port) and starts serving;
    /// locked to `access`'s users when given.
    pub async fn start(
        listen: SocketAddr,
        access: Option<Access>,
    ) -> Result<EmbeddedBroker, BrokerError> {
        let fail = |e: mqtt5::MqttError| BrokerError {
            addr: listen,
            message: e.to_string(),
        };
        let config = BrokerConfig::default()
            .with_bind_address(listen)
            .with_max_packet_size(MAX_PACKET)
            .with_max_clients(MAX_CLIENTS)
            .with_sys_topics_enabled(false)
            .with_storage(
                StorageConfig::default()
                    .with_backend(StorageBackendType::Memory)
                    .with_persistence(false),
            );
        let mut broker = MqttBroker::with_config(config).await.map_err(fail)?;
        let locked = access.is_some();
        if let Some(access) = access {
            broker = broker.with_auth_provider(Arc::new(Gate::new(access)));
        }
        let addr = broker.local_addr().unwrap_or(listen);
        let shutdown = broker.shutdown_handle();
        let task = tokio::spawn(async move {
            if let Err(e) = broker.run().await {
                tracing::error!("embedded MQTT broker stopped: {e}");
            }
        });
        if locked {
            tracing::info!(%addr, "embedded MQTT broker listening (MQTT 3.1.1 and 5), locked: logins required");
        } else {
            tracing::info!(%addr, "embedded MQTT broker listening (MQTT 3.1.1 and 5), open to anonymous clients");
        }
        Ok(EmbeddedBroker {
            addr,
            shutdown,
            task,
        })
    }

    /// The address it listens on (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every connection.
    pub async fn stop(self) {
        self.shutdown.shutdown();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}
