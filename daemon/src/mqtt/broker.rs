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
//! This file owns only starting and stopping the broker; connections reach
//! it through easel's own accept loop (`front.rs` says why), and the
//! daemon talks to it over TCP like any other client (docs/mqtt.md says
//! why). Given an
//! [`Access`], the broker is locked: logins and topics go through
//! `gate.rs`; without one it is open (loopback, or `allow_anonymous`).

use super::access::Access;
use super::front::{self, Handoff};
use super::gate::Gate;
use mqtt5::broker::{
    BrokerConfig, BrokerShutdownHandle, MqttBroker, StorageBackendType, StorageConfig,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Largest packet the embedded broker accepts. Above the daemon's own
/// command limit, so an oversized command still reaches the daemon and is
/// answered with a `payload_too_large` error event instead of vanishing.
pub const MAX_PACKET: usize = 2 * 1024 * 1024;

/// MQTT sessions the embedded broker holds at once; a gallery has tens of
/// controllers. (A TCP connection that never sends CONNECT is dropped by
/// the broker after 10 s.)
pub const MAX_CLIENTS: usize = 256;

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
    /// Stops the accept loop and every client handler it started.
    front_stop: broadcast::Sender<()>,
    front: tokio::task::JoinHandle<()>,
}

impl EmbeddedBroker {
    /// Binds `listen` (port 0 picks a free port) and starts serving;
    /// locked to `access`'s users when given.
    pub async fn start(
        listen: SocketAddr,
        access: Option<Access>,
    ) -> Result<EmbeddedBroker, BrokerError> {
        let fail = |message: String| BrokerError {
            addr: listen,
            message,
        };
        // The front door first: a port in use is the error to report.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let addr = listener.local_addr().unwrap_or(listen);
        // The broker's own listener, which it needs to run: loopback only.
        let config = BrokerConfig::default()
            .with_bind_address(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .with_max_packet_size(MAX_PACKET)
            .with_max_clients(MAX_CLIENTS)
            .with_sys_topics_enabled(false)
            .with_storage(
                StorageConfig::default()
                    .with_backend(StorageBackendType::Memory)
                    .with_persistence(false),
            );
        let mut broker = MqttBroker::with_config(config.clone())
            .await
            .map_err(|e| fail(e.to_string()))?;
        let locked = access.is_some();
        if let Some(access) = access {
            broker = broker.with_auth_provider(Arc::new(Gate::new(access)));
        }
        let parts = Handoff::of(&broker, config);
        let shutdown = broker.shutdown_handle();
        let mut ready = broker.ready_receiver();
        let task = tokio::spawn(async move {
            if let Err(e) = broker.run().await {
                tracing::error!("embedded MQTT broker stopped: {e}");
            }
        });
        // Sessions and the retained store are set up before the first client.
        let _ = ready.wait_for(|ready| *ready).await;
        let (front_stop, _) = broadcast::channel(1);
        let front = tokio::spawn(front::run(listener, parts, front_stop.clone()));
        if locked {
            tracing::info!(%addr, "embedded MQTT broker listening (MQTT 3.1.1 and 5), locked: logins required");
        } else {
            tracing::info!(%addr, "embedded MQTT broker listening (MQTT 3.1.1 and 5), open to anonymous clients");
        }
        Ok(EmbeddedBroker {
            addr,
            shutdown,
            task,
            front_stop,
            front,
        })
    }

    /// The address it listens on (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every connection.
    pub async fn stop(self) {
        let _ = self.front_stop.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(6), self.front).await;
        self.shutdown.shutdown();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}
