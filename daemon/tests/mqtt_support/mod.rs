//! Shared pieces of the MQTT end-to-end tests: the real `easeld` as these
//! scenarios run it (the harness of `easel-test-support`, on the daemon's
//! embedded broker or a private mosquitto), and a probe client that
//! records everything under the node's topics.

#![allow(dead_code)]

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::time::Duration;
use tokio::sync::mpsc;

pub const NODE: &str = "e2e";

/// One scenario at a time: each runs real daemons with real models, and
/// on a 2-core machine a dozen at once starve keep-alives and timeouts.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// The harness is shared with the tools' tests.
pub use easel_test_support::{Broker, Daemon};

/// Which broker a scenario runs against.
#[derive(Clone, Copy, Debug)]
pub enum BrokerKind {
    Embedded,
    Mosquitto,
}

impl From<BrokerKind> for Broker {
    fn from(kind: BrokerKind) -> Broker {
        match kind {
            BrokerKind::Embedded => Broker::Embedded,
            BrokerKind::Mosquitto => Broker::Mosquitto,
        }
    }
}

/// The real daemon as node `NODE` with two small models (cppn-aurora the
/// default, dcgan-64) on `kind`, with `extra` config appended.
pub fn start(kind: BrokerKind, extra: &str) -> Daemon {
    Daemon::builder(env!("CARGO_BIN_EXE_easeld"))
        .node(NODE)
        .models(&["cppn-aurora", "dcgan-64"])
        .broker(kind.into())
        .extra(extra)
        .start()
}

/// A second node (`e2e-2`) that uses the broker on `port` as a client.
pub fn start_client_of(port: u16) -> Daemon {
    Daemon::builder(env!("CARGO_BIN_EXE_easeld"))
        .node("e2e-2")
        .models(&["dcgan-64"])
        .broker(Broker::External(format!("mqtt://127.0.0.1:{port}")))
        .start()
}

/// One message as the probe saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

/// A test client subscribed to everything under `easel/`.
pub struct Probe {
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Seen>,
    pub seen: Vec<Seen>,
}

impl Probe {
    pub async fn connect(port: u16, id: &str) -> Probe {
        Probe::connect_with(port, id, &["easel/#"], None).await
    }

    /// A probe subscribed to `filters`, logged in as `login` when given.
    pub async fn connect_with(
        port: u16,
        id: &str,
        filters: &[&str],
        login: Option<(&str, &str)>,
    ) -> Probe {
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(Some(4 << 20));
        let (client, mut eventloop) = AsyncClient::new(options, 4096);
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = client.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let all = filters.iter().map(|topic| {
                            let mut f = Filter::new(topic, QoS::AtLeastOnce);
                            f.preserve_retain = true;
                            f
                        });
                        let _ = sub.subscribe_many(all).await;
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let seen = Seen {
                            topic: String::from_utf8_lossy(&p.topic).into(),
                            payload: String::from_utf8_lossy(&p.payload).into(),
                            retain: p.retain,
                        };
                        if tx.send(seen).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Probe {
            client,
            rx,
            seen: Vec::new(),
        }
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.into())
            .await
            .unwrap();
    }

    pub async fn command(&self, command: &str, payload: serde_json::Value) {
        self.publish(
            &format!("easel/{NODE}/cmd/{command}"),
            payload.to_string(),
            false,
        )
        .await;
    }

    /// The newest message already seen that matches `pred`, else the next
    /// one to arrive within `secs`.
    pub async fn seen_or_wait(
        &mut self,
        what: &str,
        secs: u64,
        pred: impl Fn(&Seen) -> bool,
    ) -> Seen {
        match self.seen.iter().rev().find(|s| pred(s)) {
            Some(s) => s.clone(),
            None => self.wait(what, secs, pred).await,
        }
    }

    /// Waits for the next message matching `pred` (only messages that
    /// arrive from now on), returning it.
    pub async fn wait(&mut self, what: &str, secs: u64, pred: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let next = tokio::time::timeout_at(deadline, self.rx.recv()).await;
            match next {
                Ok(Some(seen)) => {
                    self.seen.push(seen.clone());
                    if pred(&seen) {
                        return seen;
                    }
                }
                _ => panic!(
                    "timed out after {secs} s waiting for {what}; saw {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// The event answering `request_id`.
    pub async fn answer(&mut self, request_id: &str, secs: u64) -> serde_json::Value {
        let topic = format!("easel/{NODE}/event");
        self.wait(&format!("the answer to {request_id}"), secs, |s| {
            s.topic == topic && s.json()["request_id"] == request_id
        })
        .await
        .json()
    }

    /// Everything that arrives within `secs`.
    pub async fn drain(&mut self, secs: f32) -> Vec<Seen> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs_f32(secs);
        let mut out = Vec::new();
        while let Ok(Some(seen)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push(seen.clone());
            out.push(seen);
        }
        out
    }

    pub async fn wait_online(&mut self, secs: u64) {
        let status = format!("easel/{NODE}/status");
        let state = format!("easel/{NODE}/state");
        self.wait("status online", secs, |s| {
            s.topic == status && s.payload == "online"
        })
        .await;
        self.wait("a state with a model", secs, |s| {
            s.topic == state && !s.json()["model"].is_null()
        })
        .await;
    }
}
