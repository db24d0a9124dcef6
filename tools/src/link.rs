//! The tools' connection to an installation's MQTT broker, shared by
//! `easel ctl` and `easel deploy`: broker URL, TLS, credentials, and a
//! connect that waits for the broker's CONNACK so an unreachable broker, a
//! wrong CA or a refused login is one clear error instead of a hang.
//!
//! It speaks MQTT 5 like the daemon (rumqttc), and reuses the daemon's URL
//! parsing and TLS setup, so `mqtts://` with a CA file behaves the same on
//! both sides. Unlike the daemon it does not reconnect: a tool run is short,
//! and a lost connection is reported to the caller as an error.

use easel_link::{SetupError, parse_url, tls_config};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Filter, Packet, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

/// The broker `easeld` runs on its embedded defaults.
pub const DEFAULT_BROKER: &str = "mqtt://127.0.0.1:1883";

/// The environment variable the password comes from (as for the daemon).
pub const PASSWORD_ENV: &str = "EASEL_MQTT_PASSWORD";

/// Largest packet accepted from the broker (model packages are big).
const MAX_PACKET: u32 = 64 << 20;

/// Where the broker is and who to be: flatten into a subcommand's args.
#[derive(clap::Args, Debug, Clone)]
pub struct BrokerArgs {
    /// Broker URL: mqtt://host:port, or mqtts://host:port for TLS (ports
    /// default to 1883 / 8883).
    #[arg(long, global = true, default_value = DEFAULT_BROKER, value_name = "URL")]
    pub broker: String,
    /// PEM CA certificate(s) for mqtts:// (default: the system's).
    #[arg(long, global = true, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// MQTT username; the password comes from EASEL_MQTT_PASSWORD.
    #[arg(long, global = true)]
    pub username: Option<String>,
    /// The installation's topic prefix (`[mqtt] prefix`).
    #[arg(long, global = true, default_value = "easel")]
    pub prefix: String,
}

impl BrokerArgs {
    /// The connection settings, with the password read from the environment.
    /// `role` names the tool in the client id (`easel-<role>-…`).
    pub fn link_config(&self, role: &str) -> Result<LinkConfig, LinkError> {
        let (host, port, tls) = parse_url(&self.broker)?;
        if self.ca.is_some() && !tls {
            return Err(LinkError::CaWithoutTls(self.broker.clone()));
        }
        Ok(LinkConfig {
            url: self.broker.clone(),
            host,
            port,
            tls,
            ca_file: self.ca.clone(),
            username: self.username.clone(),
            password: std::env::var(PASSWORD_ENV).ok(),
            client_id: unique_client_id(role),
            connect_timeout: Duration::from_secs(10),
        })
    }
}

/// Everything needed to open one connection.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// As given, for messages.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: String,
    /// TCP + TLS + CONNACK must be done within this.
    pub connect_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("--ca applies to mqtts:// brokers only, not {0}")]
    CaWithoutTls(String),
    #[error("cannot reach the MQTT broker at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the MQTT broker at {url} refused the subscription to {filter}: {code}")]
    Subscribe {
        url: String,
        filter: String,
        code: String,
    },
    #[error("lost the connection to the MQTT broker at {url}: {reason}")]
    Lost { url: String, reason: String },
    #[error("timed out after {0:?} waiting for the broker to acknowledge")]
    Timeout(Duration),
}

/// One message received.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Retained on the broker (subscriptions ask for "retain as published").
    pub retain: bool,
}

impl Message {
    pub fn payload_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.payload)
    }
}

enum Note {
    Publish(Message),
    SubAck(Vec<SubscribeReasonCode>),
    Lost(String),
}

/// An open connection; its socket is polled by a background task.
pub struct Link {
    client: AsyncClient,
    notes: mpsc::UnboundedReceiver<Note>,
    /// Publishes that arrived while `subscribe` waited for its SUBACK.
    held: VecDeque<Message>,
    url: String,
    /// QoS 1 publishes queued by us / acknowledged by the broker.
    sent: u64,
    acked: Arc<AtomicU64>,
    acked_changed: Arc<Notify>,
    poller: tokio::task::JoinHandle<()>,
}

/// `easel-<role>-<pid>-<time>`: two tool runs never share a client id (a
/// broker would drop the older connection).
pub fn unique_client_id(role: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "easel-{role}-{}-{:x}",
        std::process::id(),
        nanos & 0xffff_ffff
    )
}

/// Says why a connection attempt failed, in words a technician can act on.
fn describe(e: &ConnectionError, config: &LinkConfig) -> String {
    match e {
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is the broker or easeld running, and on this port?)".into()
        }
        ConnectionError::Io(io) => format!("{io}"),
        ConnectionError::Tls(tls) => format!(
            "TLS handshake failed: {tls} (check the broker's certificate and {})",
            match &config.ca_file {
                Some(ca) => format!("the CA file {}", ca.display()),
                None => "the system's CA certificates, or pass --ca".into(),
            }
        ),
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => {
            format!("the broker refused the login ({code:?}); check --username and {PASSWORD_ENV}")
        }
        ConnectionError::ConnectionRefused(code) => format!("the broker refused: {code:?}"),
        ConnectionError::Timeout(_) => "no answer from the broker".into(),
        other => other.to_string(),
    }
}

impl Link {
    /// Connects and waits for the broker's CONNACK.
    pub async fn connect(config: &LinkConfig) -> Result<Link, LinkError> {
        let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
        options.set_keep_alive(Duration::from_secs(15));
        options.set_clean_start(true);
        options.set_max_packet_size(Some(MAX_PACKET));
        // A command is one small packet: without TCP_NODELAY, Nagle holds
        // it back until the previous packet's (delayed) ACK, 40 ms or more.
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        network.set_connection_timeout(config.connect_timeout.as_secs().max(1));
        options.set_network_options(network);
        if let Some(user) = &config.username {
            options.set_credentials(user, config.password.clone().unwrap_or_default());
        }
        if config.tls {
            let tls = tls_config(config.ca_file.as_ref())?;
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(Arc::new(tls)),
            ));
        }
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let fail = |reason: String| LinkError::Connect {
            url: config.url.clone(),
            reason,
        };
        let deadline = Instant::now() + config.connect_timeout;
        loop {
            match tokio::time::timeout_at(deadline, eventloop.poll()).await {
                Err(_) => {
                    return Err(fail(format!(
                        "no CONNACK within {:?}",
                        config.connect_timeout
                    )));
                }
                Ok(Err(e)) => return Err(fail(describe(&e, config))),
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
                Ok(Ok(_)) => {}
            }
        }
        let (tx, notes) = mpsc::unbounded_channel();
        let acked = Arc::new(AtomicU64::new(0));
        let acked_changed = Arc::new(Notify::new());
        let poller = tokio::spawn(poll(eventloop, tx, acked.clone(), acked_changed.clone()));
        Ok(Link {
            client,
            notes,
            held: VecDeque::new(),
            url: config.url.clone(),
            sent: 0,
            acked,
            acked_changed,
            poller,
        })
    }

    /// The underlying client, for what this type does not wrap.
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    fn lost(&self, reason: impl Into<String>) -> LinkError {
        LinkError::Lost {
            url: self.url.clone(),
            reason: reason.into(),
        }
    }

    /// Subscribes (QoS 1, retain as published) and waits for the SUBACK, so
    /// that nothing published after this returns can be missed.
    pub async fn subscribe(
        &mut self,
        filters: &[String],
        timeout: Duration,
    ) -> Result<(), LinkError> {
        let list = filters.iter().map(|f| {
            let mut filter = Filter::new(f.clone(), QoS::AtLeastOnce);
            filter.preserve_retain = true;
            filter
        });
        self.client
            .subscribe_many(list)
            .await
            .map_err(|e| self.lost(e.to_string()))?;
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.notes.recv()).await {
                Err(_) => return Err(LinkError::Timeout(timeout)),
                Ok(None) => return Err(self.lost("connection closed")),
                Ok(Some(Note::Lost(reason))) => return Err(self.lost(reason)),
                Ok(Some(Note::Publish(m))) => self.held.push_back(m),
                Ok(Some(Note::SubAck(codes))) => {
                    for (filter, code) in filters.iter().zip(codes) {
                        if !matches!(code, SubscribeReasonCode::Success(_)) {
                            return Err(LinkError::Subscribe {
                                url: self.url.clone(),
                                filter: filter.clone(),
                                code: format!("{code:?}"),
                            });
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Queues a QoS 1 publish (see [`Link::flush`] to wait for the broker).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        retain: bool,
    ) -> Result<(), LinkError> {
        let payload: Vec<u8> = payload.into();
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .map_err(|e| self.lost(e.to_string()))?;
        self.sent += 1;
        Ok(())
    }

    /// Waits until the broker has acknowledged every publish queued so far.
    pub async fn flush(&mut self, timeout: Duration) -> Result<(), LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            let changed = self.acked_changed.notified();
            if self.acked.load(Ordering::Acquire) >= self.sent {
                return Ok(());
            }
            if self.poller.is_finished() {
                return Err(self.lost("connection closed before the broker acknowledged"));
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(LinkError::Timeout(timeout));
            }
        }
    }

    /// The next message; `Ok(None)` at `deadline`.
    pub async fn recv_until(&mut self, deadline: Instant) -> Result<Option<Message>, LinkError> {
        if let Some(m) = self.held.pop_front() {
            return Ok(Some(m));
        }
        loop {
            match tokio::time::timeout_at(deadline, self.notes.recv()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err(self.lost("connection closed")),
                Ok(Some(Note::Lost(reason))) => return Err(self.lost(reason)),
                Ok(Some(Note::Publish(m))) => return Ok(Some(m)),
                Ok(Some(Note::SubAck(_))) => {}
            }
        }
    }

    /// The next message, however long it takes.
    pub async fn recv(&mut self) -> Result<Message, LinkError> {
        let far = Instant::now() + Duration::from_secs(86400 * 365);
        loop {
            if let Some(m) = self.recv_until(far).await? {
                return Ok(m);
            }
        }
    }

    /// A clean DISCONNECT (flushed), then the socket closes.
    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        let mut poller = self.poller;
        if tokio::time::timeout(Duration::from_secs(3), &mut poller)
            .await
            .is_err()
        {
            poller.abort();
        }
    }
}

/// Moves packets from the socket to the `Link`; ends on the first error
/// (after a DISCONNECT that is the broker closing the socket, as expected).
async fn poll(
    mut eventloop: rumqttc::v5::EventLoop,
    tx: mpsc::UnboundedSender<Note>,
    acked: Arc<AtomicU64>,
    acked_changed: Arc<Notify>,
) {
    let mut disconnecting = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let m = Message {
                    topic: String::from_utf8_lossy(&p.topic).into_owned(),
                    payload: p.payload.to_vec(),
                    retain: p.retain,
                };
                let _ = tx.send(Note::Publish(m));
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let _ = tx.send(Note::SubAck(ack.return_codes));
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked.fetch_add(1, Ordering::AcqRel);
                acked_changed.notify_waiters();
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => disconnecting = true,
            Ok(_) => {}
            Err(e) => {
                if !disconnecting {
                    let _ = tx.send(Note::Lost(e.to_string()));
                }
                acked_changed.notify_waiters();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str, ca: Option<&str>) -> BrokerArgs {
        BrokerArgs {
            broker: url.into(),
            ca: ca.map(PathBuf::from),
            username: Some("artist".into()),
            prefix: "easel".into(),
        }
    }

    #[test]
    fn config_from_args() {
        let c = args("mqtts://broker.gallery", Some("ca.pem"))
            .link_config("ctl")
            .unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("broker.gallery", 8883, true)
        );
        assert_eq!(c.username.as_deref(), Some("artist"));
        assert!(c.client_id.starts_with("easel-ctl-"), "{}", c.client_id);
        assert!(matches!(
            args("mqtt://h:1883", Some("ca.pem")).link_config("ctl"),
            Err(LinkError::CaWithoutTls(_))
        ));
        assert!(matches!(
            args("http://h:1", None).link_config("ctl"),
            Err(LinkError::Setup(SetupError::BadUrl(_)))
        ));
    }

    #[test]
    fn client_ids_differ() {
        let a = unique_client_id("ctl");
        std::thread::sleep(Duration::from_millis(2));
        assert_ne!(a, unique_client_id("ctl"));
    }

    #[tokio::test]
    async fn unreachable_broker_is_a_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = args(&format!("mqtt://127.0.0.1:{port}"), None)
            .link_config("test")
            .unwrap();
        let err = Link::connect(&config).await.err().expect("nothing listens");
        let text = err.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{port}")) && text.contains("connection refused"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn missing_ca_file_is_a_setup_error() {
        let config = args("mqtts://127.0.0.1:1", Some("/nonexistent/ca.pem"))
            .link_config("test")
            .unwrap();
        let err = Link::connect(&config).await.err().expect("no CA");
        assert!(
            matches!(err, LinkError::Setup(SetupError::Ca { .. })),
            "{err}"
        );
    }
}
