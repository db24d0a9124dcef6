//! What a [`Daemon`] starts with: the binary, the node name, the models
//! (reference models, or packages a test made), the broker, extra TOML and
//! environment; and the config file made of them. This writes the daemon's
//! folder; starting and stopping the process is `daemon.rs`'s.

use super::Daemon;
use crate::{Mosquitto, reference_model, reference_model_names};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

/// Where the daemon's MQTT edge connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Broker {
    /// easeld's embedded broker on a free port (`[mqtt] embedded_listen`).
    Embedded,
    /// A private [`Mosquitto`] on a free port, started before easeld and
    /// stopped after it, owned by the [`Daemon`] ([`Daemon::mosquitto`]).
    Mosquitto,
    /// A broker the test runs itself: `[mqtt] url` (`mqtt://…`, `mqtts://…`).
    External(String),
}

/// How to start one easeld: [`Daemon::builder`], a few settings, [`start`].
///
/// [`start`]: DaemonBuilder::start
#[must_use = "nothing starts until `start`"]
pub struct DaemonBuilder {
    exe: PathBuf,
    node: String,
    /// (package folder to copy, name it is installed as).
    models: Vec<(PathBuf, String)>,
    default_model: Option<String>,
    broker: Broker,
    /// The embedded broker's listen host (default `127.0.0.1`).
    embedded_host: String,
    mqtt_lines: String,
    http_lines: String,
    admin_token: Option<String>,
    extra: String,
    env: Vec<(String, String)>,
}

impl DaemonBuilder {
    pub(super) fn new(exe: PathBuf) -> DaemonBuilder {
        DaemonBuilder {
            exe,
            node: "e2e".into(),
            models: Vec::new(),
            default_model: None,
            broker: Broker::Embedded,
            embedded_host: "127.0.0.1".into(),
            mqtt_lines: String::new(),
            http_lines: String::new(),
            admin_token: None,
            extra: String::new(),
            env: Vec::new(),
        }
    }

    /// The node name (`node = …`; default `e2e`).
    pub fn node(mut self, node: &str) -> Self {
        self.node = node.into();
        self
    }

    /// Copies these reference models (`models/` and
    /// `tests/fixtures/models/`), after any named before. The first one named is the
    /// default model. Name none and every reference model is copied; name
    /// only what the test needs, each copy and load costs start-up time.
    pub fn models(mut self, models: &[&str]) -> Self {
        self.models
            .extend(models.iter().map(|m| (reference_model(m), m.to_string())));
        self
    }

    /// Copies the reference model `model` under another name: the same
    /// network as a second model (its manifest's `name` rewritten).
    pub fn model_as(mut self, model: &str, name: &str) -> Self {
        self.models.push((reference_model(model), name.into()));
        self
    }

    /// Copies a package folder the test made (a quantized variant, a
    /// damaged model) under its folder name, after any named before.
    pub fn package(mut self, dir: &Path) -> Self {
        let name = dir.file_name().expect("a package folder").to_string_lossy();
        self.models.push((dir.to_path_buf(), name.into_owned()));
        self
    }

    /// `default_model` (default: the first model copied).
    pub fn default_model(mut self, name: &str) -> Self {
        self.default_model = Some(name.into());
        self
    }

    /// Where MQTT goes (default: the embedded broker on a free port).
    pub fn broker(mut self, broker: Broker) -> Self {
        self.broker = broker;
        self
    }

    /// The host of the embedded broker's `embedded_listen` (default
    /// `127.0.0.1`): `0.0.0.0` binds every interface, which the locked
    /// broker's rules treat as reachable from the network. Clients still
    /// connect through `127.0.0.1`.
    pub fn embedded_host(mut self, host: &str) -> Self {
        self.embedded_host = host.into();
        self
    }

    /// More lines in the `[mqtt]` table after its `url` or
    /// `embedded_listen` (`ca_file = …`, `username = …`).
    pub fn mqtt_lines(mut self, lines: &str) -> Self {
        self.mqtt_lines.push_str(lines);
        self.mqtt_lines.push('\n');
        self
    }

    /// More lines in the `[http]` table after its `listen`
    /// (`max_connections = …`).
    pub fn http_lines(mut self, lines: &str) -> Self {
        self.http_lines.push_str(lines);
        self.http_lines.push('\n');
        self
    }

    /// `[http] admin_token` (default: none, `/admin` is read-only).
    pub fn admin_token(mut self, token: Option<&str>) -> Self {
        self.admin_token = token.map(String::from);
        self
    }

    /// TOML appended after the top-level keys and before the harness's own
    /// `[mqtt]` and `[http]` tables: top-level keys (`source = …`) stay
    /// top-level, and whole tables (`[deploy]`, `[camera]`) may follow them.
    pub fn extra(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    /// An environment variable for easeld. It inherits the test's
    /// environment, less `EASEL_ADMIN_TOKEN` and `EASEL_MQTT_PASSWORD`
    /// (so a developer's shell cannot change a test), plus these.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Writes the folder (models, `easel.toml`), starts the broker if it
    /// is ours, then easeld, and returns once easeld serves HTTP (panics
    /// after 60 s or when it exits first). Models may still be loading:
    /// [`Daemon::wait_ready`] waits for one.
    pub fn start(self) -> Daemon {
        let dir = tempfile::tempdir().expect("a temp dir for easeld");
        let models = if self.models.is_empty() {
            reference_model_names()
                .into_iter()
                .map(|m| (reference_model(&m), m))
                .collect()
        } else {
            self.models
        };
        for (from, name) in &models {
            copy_model(from, name, &dir.path().join("models").join(name));
        }
        let [http_port, embedded_port] = free_ports();
        let mosquitto = (self.broker == Broker::Mosquitto).then(|| Mosquitto::start(dir.path()));
        let (url, mqtt_port) = match (&self.broker, &mosquitto) {
            (Broker::External(url), _) => (url.clone(), None),
            (_, Some(m)) => (format!("mqtt://127.0.0.1:{}", m.port), Some(m.port)),
            _ => (
                format!("mqtt://127.0.0.1:{embedded_port}"),
                Some(embedded_port),
            ),
        };
        let mqtt = match self.broker {
            Broker::Embedded => format!(
                "embedded_listen = \"{}:{embedded_port}\"\n",
                self.embedded_host
            ),
            _ => format!("url = {url:?}\n"),
        } + &self.mqtt_lines;
        let http = SocketAddr::from((Ipv4Addr::LOCALHOST, http_port));
        let default_model = self.default_model.unwrap_or_else(|| models[0].1.clone());
        let config = dir.path().join("easel.toml");
        let text = config_text(&Layout {
            node: &self.node,
            root: dir.path(),
            default_model: &default_model,
            extra: &self.extra,
            mqtt: &mqtt,
            http,
            http_lines: &self.http_lines,
            admin_token: self.admin_token.as_deref(),
        });
        std::fs::write(&config, text).expect("writing easel.toml");
        Daemon::spawn_first(super::Parts {
            exe: self.exe,
            env: self.env,
            node: self.node,
            config,
            http,
            mqtt_port,
            mqtt_url: url,
            mosquitto,
            dir,
        })
    }
}

/// Two different free ports (both held while the second is picked).
fn free_ports() -> [u16; 2] {
    let bind = || TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    let (a, b) = (bind(), bind());
    [a, b].map(|l| l.local_addr().unwrap().port())
}

/// Copies the package folder `from` to `to`; under another `name` than
/// its folder's, its manifest says so.
fn copy_model(from: &Path, name: &str, to: &Path) {
    let model = from
        .file_name()
        .expect("a package folder")
        .to_string_lossy();
    std::fs::create_dir_all(to).unwrap();
    let entries = std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("no model package {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    if name != model {
        let manifest = to.join("easel.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let (old, new) = (format!("name = \"{model}\""), format!("name = \"{name}\""));
        assert!(text.contains(&old), "{} has no {old}", manifest.display());
        std::fs::write(&manifest, text.replacen(&old, &new, 1)).unwrap();
    }
}

/// What the config file is made of; `root` holds `models/` and `data/`.
struct Layout<'a> {
    node: &'a str,
    root: &'a Path,
    default_model: &'a str,
    extra: &'a str,
    /// The body of the `[mqtt]` table.
    mqtt: &'a str,
    http: SocketAddr,
    /// More of the `[http]` table.
    http_lines: &'a str,
    admin_token: Option<&'a str>,
}

/// The config file: top-level keys, `extra`, then `[mqtt]` and `[http]`.
fn config_text(l: &Layout) -> String {
    let path = |p: &str| l.root.join(p).display().to_string();
    let mut text = format!(
        "node = {node:?}\nmodels_dir = {models:?}\ndata_dir = {data:?}\ndefault_model = {default:?}\nthreads = 1\n{extra}\n[mqtt]\n{mqtt}\n[http]\nlisten = \"{http}\"\n",
        node = l.node,
        models = path("models"),
        data = path("data"),
        default = l.default_model,
        extra = l.extra,
        mqtt = l.mqtt,
        http = l.http,
    );
    if let Some(token) = l.admin_token {
        text.push_str(&format!("admin_token = {token:?}\n"));
    }
    text.push_str(l.http_lines);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_stay_top_level_and_extra_tables_end_before_mqtt() {
        let text = config_text(&Layout {
            node: "n",
            root: Path::new("/srv/easel"),
            default_model: "dcgan-64",
            extra: "source = \"test://pattern\"\n[camera]\nfps = 15\n",
            mqtt: "url = \"mqtt://127.0.0.1:1\"\nusername = \"artist\"\n",
            http: "127.0.0.1:8080".parse().unwrap(),
            http_lines: "",
            admin_token: Some("token-123"),
        });
        let v: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(v["source"].as_str(), Some("test://pattern"));
        assert_eq!(v["models_dir"].as_str(), Some("/srv/easel/models"));
        assert_eq!(v["camera"]["fps"].as_integer(), Some(15));
        assert_eq!(v["mqtt"]["username"].as_str(), Some("artist"));
        assert!(v["camera"].get("url").is_none(), "{text}");
        assert_eq!(v["http"]["listen"].as_str(), Some("127.0.0.1:8080"));
        assert_eq!(v["http"]["admin_token"].as_str(), Some("token-123"));
    }

    #[test]
    fn a_model_copied_under_another_name_says_so_in_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        copy_model(&reference_model("cppn-aurora"), "cppn-b", dir.path());
        let manifest = std::fs::read_to_string(dir.path().join("easel.toml")).unwrap();
        assert!(manifest.contains("name = \"cppn-b\""), "{manifest}");
        assert!(dir.path().join("model.onnx").is_file());
    }

    #[test]
    fn every_reference_model_is_found() {
        let models = reference_model_names();
        for m in ["cppn-aurora", "dcgan-64", "style-256"] {
            assert!(models.iter().any(|n| n == m), "{models:?}");
        }
    }

    #[test]
    fn the_two_free_ports_differ() {
        let [a, b] = free_ports();
        assert_ne!(a, b);
    }
}
