//! The embedded broker's front door: easeld's own accept loop on the
//! configured `embedded_listen` address, handing each connection to the
//! `mqtt5` broker's client handler.
//!
//! Why not the broker's own loop: out of file descriptors (EMFILE), mqtt5
//! 0.49 logs and retries `accept` at once, so a core spins (and, before
//! the log was rate-limited, 16 GB of log were written in 15 s) until
//! descriptors free up; the crate has no setting for it. Its client
//! handler is public, though, so the loop can be ours: the accept step of
//! `crate::accept` (wait, then retry) and the same checks the broker's
//! loop makes (its resource monitor's connection limits, `TCP_NODELAY`).
//!
//! The broker still needs a listener of its own to run (sessions, the
//! retained store, its sweeps): it gets one on a loopback port nobody is
//! told about, behind the same logins and topic rules.

use mqtt5::broker::auth::AuthProvider;
use mqtt5::broker::client_handler::ClientHandler;
use mqtt5::broker::router::MessageRouter;
use mqtt5::broker::sys_topics::BrokerStats;
use mqtt5::broker::transport::BrokerTransport;
use mqtt5::broker::{BrokerConfig, DynamicStorage, MqttBroker, ResourceMonitor};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;

/// What a client handler is made with: the running broker's parts.
pub struct Handoff {
    config: Arc<BrokerConfig>,
    router: Arc<MessageRouter>,
    auth: Arc<dyn AuthProvider>,
    storage: Option<Arc<DynamicStorage>>,
    stats: Arc<BrokerStats>,
    monitor: Arc<ResourceMonitor>,
}

impl Handoff {
    /// The parts of `broker` (before it runs), made with `config`.
    pub fn of(broker: &MqttBroker, config: BrokerConfig) -> Handoff {
        Handoff {
            config: Arc::new(config),
            router: broker.router(),
            auth: broker.auth_provider(),
            storage: broker.storage(),
            stats: broker.stats(),
            monitor: broker.resource_monitor(),
        }
    }
}

/// Accepts on `listener` until `stop` fires; then tells every handler to
/// close and waits for them (at most 5 s).
pub async fn run(listener: TcpListener, parts: Handoff, stop: broadcast::Sender<()>) {
    let mut stopping = stop.subscribe();
    let handlers = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = stopping.recv() => break,
            accepted = crate::accept::next(&listener, "embedded MQTT broker") => accepted,
        };
        let Some((stream, addr)) = accepted else {
            continue;
        };
        if !parts.monitor.can_accept_connection(addr.ip()).await {
            tracing::warn!(%addr, "embedded MQTT broker: connection refused, at its connection limits");
            continue;
        }
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%addr, "TCP_NODELAY: {e}");
        }
        let handler = ClientHandler::new(
            BrokerTransport::tcp(stream),
            addr,
            parts.config.clone(),
            parts.router.clone(),
            parts.auth.clone(),
            parts.storage.clone(),
            parts.stats.clone(),
            parts.monitor.clone(),
            stop.subscribe(),
        );
        handlers.spawn(async move {
            if let Err(e) = handler.run().await
                && !e.is_normal_disconnect()
            {
                tracing::debug!(%addr, "MQTT client: {e}");
            }
        });
    }
    handlers.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), handlers.wait()).await;
}
