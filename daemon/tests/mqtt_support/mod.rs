//! Shared pieces of the MQTT end-to-end tests: brokers (the daemon's
//! embedded one, or a mosquitto the test starts on a free port, from
//! `easel-test-support`), the real `easeld` binary with a config in a temp
//! dir, and a probe client that records everything under the node's topics.

#![allow(dead_code)]

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;

pub const NODE: &str = "e2e";

/// One scenario at a time: each runs real daemons with real models, and
/// on a 2-core machine a dozen at once starve keep-alives and timeouts.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// Ports and the private mosquitto are shared with the controller's
// broker tests.
pub use easel_test_support::{Mosquitto, free_port, wait_port};

/// Which broker a scenario runs against.
#[derive(Clone, Copy, Debug)]
pub enum BrokerKind {
    Embedded,
    Mosquitto,
}

/// The real daemon binary on a config in a temp dir.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub mosquitto: Option<Mosquitto>,
    child: Option<Child>,
    config: PathBuf,
}

fn repo_models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

impl Daemon {
    /// Writes a config (two small models, extra TOML appended) and starts easeld.
    pub fn start(kind: BrokerKind, extra: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        for model in ["cppn-aurora", "dcgan-64"] {
            copy_dir(
                &repo_models().join(model),
                &dir.path().join("models").join(model),
            );
        }
        let (mosquitto, port, mqtt) = match kind {
            BrokerKind::Embedded => {
                let port = free_port();
                (
                    None,
                    port,
                    format!("embedded_listen = \"127.0.0.1:{port}\""),
                )
            }
            BrokerKind::Mosquitto => {
                let m = Mosquitto::start(dir.path());
                let port = m.port;
                (Some(m), port, format!("url = \"mqtt://127.0.0.1:{port}\""))
            }
        };
        let config = dir.path().join("easel.toml");
        std::fs::write(
            &config,
            format!(
                "node = \"{NODE}\"\nmodels_dir = \"{}\"\ndata_dir = \"{}\"\ndefault_model = \"cppn-aurora\"\nthreads = 1\n{extra}\n\n[mqtt]\n{mqtt}\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
                dir.path().join("models").display(),
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut d = Daemon {
            dir,
            port,
            mosquitto,
            child: None,
            config,
        };
        d.spawn();
        d
    }

    /// A second node (`e2e-2`) that uses the broker on `port` as a client.
    pub fn start_client_of(port: u16) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &repo_models().join("dcgan-64"),
            &dir.path().join("models").join("dcgan-64"),
        );
        let config = dir.path().join("easel.toml");
        std::fs::write(
            &config,
            format!(
                "node = \"e2e-2\"\nmodels_dir = \"{}\"\ndata_dir = \"{}\"\ndefault_model = \"dcgan-64\"\nthreads = 1\n[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
                dir.path().join("models").display(),
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut d = Daemon {
            dir,
            port,
            mosquitto: None,
            child: None,
            config,
        };
        d.spawn();
        d
    }

    pub fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("easeld.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_easeld"))
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info,tract=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting easeld");
        self.child = Some(child);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("easeld.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Sends `signal` and waits for the exit status.
    pub fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        child.wait().unwrap()
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- easeld log ---\n{}", self.log());
        }
    }
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
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(Some(4 << 20));
        let (client, mut eventloop) = AsyncClient::new(options, 4096);
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = client.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let mut f = Filter::new("easel/#", QoS::AtLeastOnce);
                        f.preserve_retain = true;
                        let _ = sub.subscribe_many([f]).await;
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

    /// Waits for a message matching `pred` (also among those already seen
    /// after `from`), returning it.
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
