//! The daemon's TOML configuration (docs/contract.md, "Config file").
//!
//! Two stages: `RawConfig` is what serde reads (unknown keys rejected,
//! errors carry line and column); `Config::from_raw` then checks values
//! serde cannot (node names, addresses, thread counts) and fills the
//! defaults, collecting every problem rather than stopping at the first so
//! `easeld check` can list them all. No IO besides reading the file.

use crate::deploy::transfer::TransferLimits;
use crate::mqtt::MqttConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod camera;
pub mod engine;
pub mod files;
pub mod health;
pub mod schedule;
pub mod venue;

/// The default model of a fresh checkout.
pub const DEFAULT_MODEL: &str = "cppn-aurora";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub node: Option<String>,
    pub models_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub default_model: Option<String>,
    pub threads: Option<usize>,
    pub source: Option<String>,
    /// `tract` (default) or `onnxruntime`.
    pub engine: Option<String>,
    /// The memory one model may take, in MB (`easel_engine::budget`).
    pub max_model_mb: Option<u64>,
    #[serde(default)]
    pub mqtt: RawMqtt,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub deploy: RawDeploy,
    #[serde(default)]
    pub archive: RawArchive,
    /// Controller bindings (`[[bind]]`); none = the contract's defaults.
    #[serde(default)]
    pub bind: Vec<crate::piece::bindings::RawBinding>,
    #[serde(default)]
    pub attract: crate::piece::attract::RawAttract,
    #[serde(default)]
    pub camera: camera::RawCamera,
    #[serde(default)]
    pub health: health::RawHealth,
    #[serde(default)]
    pub credentials: RawCredentials,
    #[serde(default)]
    pub homeassistant: venue::RawHomeAssistant,
    #[serde(default)]
    pub osc: venue::RawOsc,
    #[serde(default)]
    pub onnxruntime: engine::RawOnnxruntime,
    pub schedule: Option<schedule::RawSchedule>,
}

/// `[credentials]`: the studio's C2PA signing certificate (docs/provenance.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCredentials {
    /// PEM chain: the signing certificate first, then its CA(s).
    pub cert: Option<PathBuf>,
    /// The signing key, PKCS#8 PEM (ECDSA P-256).
    pub key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    pub url: Option<String>,
    pub prefix: Option<String>,
    pub username: Option<String>,
    pub embedded_listen: Option<String>,
    /// Largest command payload in bytes.
    pub max_payload: Option<usize>,
    /// PEM CA certificates for `mqtts://` (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// Default `easeld-<node>`.
    pub client_id: Option<String>,
    /// Leave an embedded broker on a non-loopback address open (no logins).
    pub allow_anonymous: Option<bool>,
    /// More users of the locked embedded broker (`easeld passwd NAME`).
    pub password_file: Option<PathBuf>,
    /// Users of `password_file` with full access; the others are controllers.
    pub admins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
    /// Connections served at once (default 256).
    pub max_connections: Option<usize>,
    /// Seconds a connection may take to send a request's headers or sit
    /// idle between requests (default 10).
    pub header_timeout_s: Option<f64>,
    /// Enables the controls of `/admin`; env `EASEL_ADMIN_TOKEN` overrides.
    pub admin_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArchive {
    pub keep: Option<usize>,
    pub max_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeploy {
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// Largest `.easelpkg` accepted over MQTT, in MiB (default 256).
    pub max_package_mb: Option<u64>,
    /// Transfers received at once (default 2).
    pub max_transfers: Option<usize>,
    /// Seconds without a message before a transfer is abandoned (default 120).
    pub transfer_timeout_s: Option<f64>,
}

/// The validated configuration the daemon runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub node: String,
    pub models_dir: PathBuf,
    pub data_dir: PathBuf,
    pub default_model: String,
    /// Inference threads (>= 1).
    pub threads: usize,
    pub source: String,
    pub mqtt: MqttConfig,
    pub http_listen: SocketAddr,
    /// `[http] max_connections`, `header_timeout_s`.
    pub http_limits: crate::web::HttpLimits,
    /// `None`: `/admin` is read-only.
    pub admin_token: Option<String>,
    pub archive: crate::archive::Limits,
    pub trusted_keys: Vec<PathBuf>,
    /// `[deploy]` limits on transfers over MQTT.
    pub deploy_limits: TransferLimits,
    pub camera: crate::source::CameraConfig,
    pub bindings: crate::piece::bindings::Bindings,
    pub attract: crate::piece::attract::AttractConfig,
    pub credentials: crate::credentials::CredentialsConfig,
    /// `[health]`: board warnings (low disk, heat).
    pub health: crate::board::health::Thresholds,
    /// `[schedule]`: opening hours; `None`: always open.
    pub schedule: Option<crate::schedule::ScheduleConfig>,
    /// `[homeassistant]`; `None` when not enabled.
    pub homeassistant: Option<crate::homeassistant::HaConfig>,
    /// `[osc]`; `None` without `listen`.
    pub osc: Option<crate::osc::OscConfig>,
    /// `engine` and `[onnxruntime]`: which engine models run on.
    pub engine: easel_engine::EngineChoice,
}

/// The environment variables that override config values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `EASEL_ADMIN_TOKEN`: the `/admin` token, kept out of the file.
    pub admin_token: Option<String>,
    /// Whether `EASEL_MQTT_PASSWORD` is set and not empty (a locked
    /// embedded broker needs it; the value itself stays out of `Config`).
    pub mqtt_password_set: bool,
}

impl Environment {
    pub fn read() -> Environment {
        Environment {
            admin_token: std::env::var("EASEL_ADMIN_TOKEN").ok(),
            mqtt_password_set: std::env::var("EASEL_MQTT_PASSWORD").is_ok_and(|p| !p.is_empty()),
        }
    }
}

/// One problem in a config file: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

/// Every problem found in one config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render_issues(path, issues))]
    Invalid {
        path: PathBuf,
        issues: Vec<ConfigIssue>,
    },
}

fn render_issues(path: &Path, issues: &[ConfigIssue]) -> String {
    let lines: Vec<String> = issues
        .iter()
        .map(|i| match i.line {
            Some(line) => format!("{}:{line}: {}: {}", path.display(), i.key, i.message),
            None => format!("{}: {}: {}", path.display(), i.key, i.message),
        })
        .collect();
    lines.join("\n")
}

impl Config {
    /// The embedded defaults: what `easeld` runs with no config file.
    pub fn embedded_defaults() -> Config {
        Config::from_raw(RawConfig::default(), "", &Environment::read())
            .expect("the defaults are valid")
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|issues| ConfigError::Invalid {
            path: path.into(),
            issues,
        })
    }

    /// Parses and validates config text, returning every issue found.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigIssue>> {
        Config::parse_with(text, &Environment::read())
    }

    /// [`Config::parse`] with the environment given, not read: what the
    /// tests use, so their verdicts do not depend on the shell they run in.
    pub fn parse_with(text: &str, env: &Environment) -> Result<Config, Vec<ConfigIssue>> {
        // serde stops at the first unknown key: each one found is commented
        // out and the text read again, so one run lists them all.
        let mut unknown = Vec::new();
        let mut reading = std::borrow::Cow::Borrowed(text);
        let raw = loop {
            match toml::from_str::<RawConfig>(&reading) {
                Ok(raw) => break raw,
                Err(e) => {
                    let start = e.span().map(|s| s.start);
                    let (line, _) = start.map(|at| line_col(&reading, at)).unzip();
                    let is_unknown = e.message().contains("unknown field");
                    unknown.push(ConfigIssue {
                        line,
                        key: toml_error_key(e.message()),
                        message: e.message().trim().to_string(),
                    });
                    match (is_unknown, line) {
                        (true, Some(line)) if unknown.len() < 64 => {
                            reading = comment_out(&reading, line).into()
                        }
                        _ => return Err(unknown),
                    }
                }
            }
        };
        match Config::from_raw(raw, text, env) {
            Ok(config) if unknown.is_empty() => Ok(config),
            Ok(_) => {
                unknown.sort_by_key(|i| i.line.unwrap_or(usize::MAX));
                Err(unknown)
            }
            Err(issues) => {
                unknown.extend(issues);
                unknown.sort_by_key(|i| i.line.unwrap_or(usize::MAX));
                Err(unknown)
            }
        }
    }

    /// What start-up accepts but ignores in the file at `path` (a key that
    /// has no effect), for `easeld check` and the start-up log.
    pub fn warnings(path: &Path, config: &Config) -> Vec<ConfigIssue> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        files::warnings(config, &text)
    }

    /// What `easeld check` runs: [`Config::load`], and what start-up finds
    /// out on disk (`config/files.rs`); every problem of both in one list.
    pub fn check(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let env = Environment::read();
        let (config, mut issues) = match Config::parse_with(&text, &env) {
            Ok(config) => (Some(config), Vec::new()),
            Err(issues) => (Config::lenient(&text, &env), issues),
        };
        if let Some(config) = &config {
            issues.extend(files::issues(config, &text));
        }
        match config {
            Some(config) if issues.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                path: path.into(),
                issues,
            }),
        }
    }

    /// The config as far as it can be read despite its value errors (the
    /// defaults in their place), so the file checks still run.
    fn lenient(text: &str, env: &Environment) -> Option<Config> {
        let mut reading = text.to_string();
        for _ in 0..64 {
            match toml::from_str::<RawConfig>(&reading) {
                Ok(raw) => return Some(Config::from_raw_anyway(raw, text, env).0),
                Err(e) => {
                    let line = e.span().map(|s| line_col(&reading, s.start).0)?;
                    reading = comment_out(&reading, line);
                }
            }
        }
        None
    }

    fn from_raw(raw: RawConfig, text: &str, env: &Environment) -> Result<Config, Vec<ConfigIssue>> {
        let (config, issues) = Config::from_raw_anyway(raw, text, env);
        if issues.is_empty() {
            Ok(config)
        } else {
            Err(issues)
        }
    }

    /// The second stage: the config, defaults in place of bad values, and
    /// every problem found.
    fn from_raw_anyway(
        raw: RawConfig,
        text: &str,
        env: &Environment,
    ) -> (Config, Vec<ConfigIssue>) {
        let mut issues = Vec::new();
        // `[[bind]]` problems, placed at their table's header.
        let mut bind_issues = Vec::new();
        let mut issue = |key: &str, message: String| {
            issues.push(ConfigIssue {
                line: key_line(text, key),
                key: key.into(),
                message,
            });
        };
        let node = match raw.node {
            Some(node) if easel_protocol::is_valid_node_id(&node) && !is_reserved(&node) => node,
            Some(node) => {
                issue(
                    "node",
                    format!("{node:?} is not [a-z0-9_-]{{1,32}} (and not all/ctl)"),
                );
                String::new()
            }
            None => default_node(),
        };
        let default_model = raw.default_model.unwrap_or_else(|| DEFAULT_MODEL.into());
        if !easel_protocol::is_valid_model_name(&default_model) {
            issue(
                "default_model",
                format!("{default_model:?} is not a model name"),
            );
        }
        let threads = match raw.threads {
            Some(0) => {
                issue("threads", "must be at least 1".into());
                1
            }
            Some(n) if n > 256 => {
                issue("threads", format!("{n} is more than 256"));
                1
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let source = raw.source.unwrap_or_else(|| "test://pattern".into());
        if !["v4l://", "file://", "test://"]
            .iter()
            .any(|s| source.starts_with(s))
        {
            issue(
                "source",
                format!("{source:?}: expected v4l://…, file://… or test://…"),
            );
        }
        let prefix = raw
            .mqtt
            .prefix
            .clone()
            .unwrap_or_else(|| easel_protocol::DEFAULT_PREFIX.into());
        if prefix.is_empty() || prefix.contains(['+', '#', '\0']) || prefix.ends_with('/') {
            issue("prefix", format!("{prefix:?} is not a usable topic prefix"));
        }
        if let Some(url) = &raw.mqtt.url
            && easel_link::parse_url(url).is_err()
        {
            issue(
                "url",
                format!("{url:?}: expected mqtt://host:port or mqtts://host:port (port 1..=65535)"),
            );
        }
        let camera = camera::settings(&raw.camera).unwrap_or_else(|problems| {
            for (key, message) in problems {
                issue(key, message);
            }
            crate::source::CameraConfig::default()
        });
        let mut addr = |key: &str, value: Option<String>, default: &str| {
            let value = value.unwrap_or_else(|| default.into());
            value.parse::<SocketAddr>().unwrap_or_else(|e| {
                issue(
                    key,
                    format!("{value:?} is not an address like 127.0.0.1:8080 ({e})"),
                );
                default.parse().expect("default addresses parse")
            })
        };
        let embedded_listen = addr(
            "embedded_listen",
            raw.mqtt.embedded_listen.clone(),
            "127.0.0.1:1883",
        );
        let http_listen = addr("listen", raw.http.listen, "127.0.0.1:8080");
        let mut http_limits = crate::web::HttpLimits::default();
        match raw.http.max_connections {
            Some(0) => issue("max_connections", "must be at least 1".into()),
            Some(n) => http_limits.max_connections = n,
            None => {}
        }
        match raw.http.header_timeout_s {
            Some(s) if !(0.1..=3600.0).contains(&s) => issue(
                "header_timeout_s",
                format!("{s} is not between 0.1 and 3600 seconds"),
            ),
            Some(s) => http_limits.header_timeout = std::time::Duration::from_secs_f64(s),
            None => {}
        }
        let admin_token = env
            .admin_token
            .clone()
            .or(raw.http.admin_token)
            .filter(|t| !t.is_empty());
        if admin_token.as_ref().is_some_and(|t| t.len() < 8) {
            issue("admin_token", "must be at least 8 characters".into());
        }
        let defaults = crate::archive::Limits::default();
        let keep = raw.archive.keep.unwrap_or(defaults.keep);
        if keep == 0 {
            issue("keep", "must be at least 1".into());
        }
        let max_bytes = match raw.archive.max_mb {
            Some(0) => {
                issue("max_mb", "must be at least 1".into());
                defaults.max_bytes
            }
            Some(mb) => mb.saturating_mul(1 << 20),
            None => defaults.max_bytes,
        };
        let bindings =
            crate::piece::bindings::Bindings::from_raw(&raw.bind).unwrap_or_else(|problems| {
                for (index, message) in problems {
                    bind_issues.push(ConfigIssue {
                        line: header_line(text, "[[bind]]", index),
                        key: "bind".into(),
                        message,
                    });
                }
                crate::piece::bindings::Bindings::defaults()
            });
        let attract = crate::piece::attract::AttractConfig::from_raw(&raw.attract).unwrap_or_else(
            |problems| {
                for (key, message) in problems {
                    issue(key, message);
                }
                Default::default()
            },
        );
        let max_payload = raw
            .mqtt
            .max_payload
            .unwrap_or(crate::piece::command::DEFAULT_MAX_PAYLOAD);
        if !(64..=1 << 20).contains(&max_payload) {
            issue(
                "max_payload",
                format!("{max_payload} is not within 64..=1048576"),
            );
        }
        let client_id = raw
            .mqtt
            .client_id
            .clone()
            .unwrap_or_else(|| format!("easeld-{node}"));
        if client_id.is_empty() || client_id.len() > 64 {
            issue("client_id", "must be 1 to 64 characters".into());
        }
        let health = health::thresholds(&raw.health).unwrap_or_else(|problems| {
            for (key, message) in problems {
                issue(key, message);
            }
            Default::default()
        });
        let schedule = schedule::schedule(raw.schedule.as_ref()).unwrap_or_else(|problems| {
            for (key, message) in problems {
                issue(key, message);
            }
            None
        });
        let mut engine =
            engine::choice(raw.engine.as_deref(), &raw.onnxruntime).unwrap_or_else(|problems| {
                for (key, message) in problems {
                    issue(key, message);
                }
                Default::default()
            });
        match raw.max_model_mb {
            Some(0) => issue("max_model_mb", "must be at least 1".into()),
            Some(mb) => engine.budget = easel_engine::Budget::mb(mb),
            None => {}
        }
        let deploy_limits = deploy_limits(&raw.deploy).unwrap_or_else(|(key, message)| {
            issue(key, message);
            Default::default()
        });
        let credentials = match (raw.credentials.cert, raw.credentials.key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                issue("cert", "[credentials] cert needs key as well".into());
                None
            }
            (None, Some(_)) => {
                issue("key", "[credentials] key needs cert as well".into());
                None
            }
        };
        for (key, message) in venue::broker_issues(&raw.mqtt, embedded_listen, env) {
            issue(key, message);
        }
        let homeassistant = venue::homeassistant(&raw.homeassistant).unwrap_or_else(|problems| {
            for (key, message) in problems {
                issue(key, message);
            }
            None
        });
        let osc = venue::osc(&raw.osc).unwrap_or_else(|problems| {
            for (key, message) in problems {
                issue(key, message);
            }
            None
        });
        let config = Config {
            node,
            models_dir: raw.models_dir.unwrap_or_else(|| "models".into()),
            data_dir: raw.data_dir.unwrap_or_else(|| "easel-data".into()),
            default_model,
            threads,
            source,
            mqtt: MqttConfig {
                url: raw.mqtt.url,
                prefix,
                username: raw.mqtt.username,
                embedded_listen,
                max_payload,
                ca_file: raw.mqtt.ca_file,
                client_id,
                password_file: raw.mqtt.password_file,
                admins: raw.mqtt.admins.unwrap_or_default(),
            },
            homeassistant,
            osc,
            bindings,
            attract,
            http_listen,
            http_limits,
            admin_token,
            archive: crate::archive::Limits {
                keep: keep.max(1),
                max_bytes,
            },
            trusted_keys: raw.deploy.trusted_keys,
            deploy_limits,
            camera,
            credentials: crate::credentials::CredentialsConfig { files: credentials },
            health,
            schedule,
            engine,
        };
        issues.extend(bind_issues);
        issues.sort_by_key(|i| i.line.unwrap_or(usize::MAX));
        (config, issues)
    }
}

/// The second configuration stage for `[deploy]`: `(key, problem)` on a
/// value out of range.
fn deploy_limits(raw: &RawDeploy) -> Result<TransferLimits, (&'static str, String)> {
    let d = TransferLimits::default();
    let max_package = match raw.max_package_mb {
        None => d.max_package,
        Some(mb) if (1..=4096).contains(&mb) => mb << 20,
        Some(mb) => return Err(("max_package_mb", format!("{mb} is not within 1..=4096"))),
    };
    let max_transfers = match raw.max_transfers {
        None => d.max_transfers,
        Some(n) if (1..=16).contains(&n) => n,
        Some(n) => return Err(("max_transfers", format!("{n} is not within 1..=16"))),
    };
    let stall = match raw.transfer_timeout_s {
        None => d.stall,
        Some(s) if s.is_finite() && (0.1..=86400.0).contains(&s) => Duration::from_secs_f64(s),
        Some(s) => {
            return Err((
                "transfer_timeout_s",
                format!("{s} is not within 0.1..=86400"),
            ));
        }
    };
    Ok(TransferLimits {
        max_package,
        max_transfers,
        stall,
    })
}

impl Config {
    /// The piece's settings.
    pub fn piece(&self) -> crate::piece::Settings {
        crate::piece::Settings {
            node: self.node.clone(),
            models_dir: self.models_dir.clone(),
            default_model: self.default_model.clone(),
            data_dir: self.data_dir.clone(),
            attract: self.attract,
            deploy: crate::piece::deploy::Settings {
                data_dir: self.data_dir.clone(),
                models_dir: self.models_dir.clone(),
                trusted_keys: self.trusted_keys.clone(),
                limits: self.deploy_limits,
            },
        }
    }
}

fn is_reserved(node: &str) -> bool {
    node == easel_protocol::topic::ALL || node == easel_protocol::topic::CTL
}

/// The hostname, lower-cased, with anything outside `[a-z0-9_-]` made `-`.
fn default_node() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let mut node: String = host
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    if node.is_empty() || is_reserved(&node) {
        node = "easel".into();
    }
    node
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// The line where `key = …` first appears, for value errors found after
/// parsing; `table.key` looks only inside `[table]`.
pub(crate) fn key_line(text: &str, key: &str) -> Option<usize> {
    let (table, key) = match key.split_once('.') {
        Some((table, key)) => (Some(format!("[{table}]")), key),
        None => (None, key),
    };
    // Without a table: anywhere. With one: from its header to the next.
    let mut inside = table.is_none();
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            if let Some(table) = &table
                && l.starts_with('[')
            {
                inside = l.trim_end().starts_with(table.as_str());
                return false;
            }
            inside
                && l.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// The line of the `index`-th (0-based) `header` (`[[bind]]`).
fn header_line(text: &str, header: &str, index: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim().starts_with(header))
        .nth(index)
        .map(|(i, _)| i + 1)
}

/// `text` with line `line` (1-based) turned into a comment.
fn comment_out(text: &str, line: usize) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                format!("# {l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The field name inside serde's "unknown field `x`" messages, else "toml".
fn toml_error_key(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|_| message.contains('`'))
        .unwrap_or("toml")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses with an empty environment: the verdicts below hold in any shell.
    fn parse(text: &str) -> Result<Config, Vec<ConfigIssue>> {
        Config::parse_with(text, &Environment::default())
    }

    #[test]
    fn the_environment_token_wins_over_the_file() {
        let env = Environment {
            admin_token: Some("from-the-environment".into()),
            ..Environment::default()
        };
        let c = Config::parse_with("[http]\nadmin_token = \"short\"\n", &env).unwrap();
        assert_eq!(c.admin_token.as_deref(), Some("from-the-environment"));
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::embedded_defaults();
        assert_eq!(c.models_dir, PathBuf::from("models"));
        assert_eq!(c.data_dir, PathBuf::from("easel-data"));
        assert_eq!(c.default_model, "cppn-aurora");
        assert_eq!(c.mqtt.url, None);
        assert_eq!(c.mqtt.prefix, "easel");
        assert_eq!(c.mqtt.embedded_listen.to_string(), "127.0.0.1:1883");
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.source, "test://pattern");
        assert!(c.threads >= 1);
        assert!(easel_protocol::is_valid_node_id(&c.node));
    }

    #[test]
    fn full_contract_example_parses() {
        let text = r#"
node = "gallery-1"
models_dir = "models"
data_dir = "easel-data"
default_model = "cppn-aurora"
threads = 2
source = "test://pattern"

[mqtt]
url = "mqtt://127.0.0.1:1883"
prefix = "easel"
username = "artist"
embedded_listen = "127.0.0.1:1883"

[http]
listen = "127.0.0.1:0"
admin_token = "technician-secret"

[archive]
keep = 50
max_mb = 10

[deploy]
trusted_keys = ["keys/studio.pub"]
"#;
        let c = parse(text).unwrap();
        assert_eq!(c.node, "gallery-1");
        assert_eq!(c.threads, 2);
        assert_eq!(c.mqtt.username.as_deref(), Some("artist"));
        assert_eq!(c.http_listen.port(), 0);
        assert_eq!(
            c.archive,
            crate::archive::Limits {
                keep: 50,
                max_bytes: 10 << 20
            }
        );
        assert_eq!(c.admin_token.as_deref(), Some("technician-secret"));
        assert_eq!(c.trusted_keys, vec![PathBuf::from("keys/studio.pub")]);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let issues = parse("node = \"a\"\n\n[mqtt]\nurll = \"x\"\n").unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].line, Some(4));
        assert_eq!(issues[0].key, "urll");
    }

    /// Regression: unknown keys came one per run, `[[bind]]` problems
    /// without a line, and a port out of range passed.
    #[test]
    fn one_run_lists_every_unknown_key_and_bind_problem_with_its_line() {
        let text = "nod = \"a\"\n[mqtt]\nurll = \"x\"\nurl = \"mqtt://127.0.0.1:99999\"\n\
                    [[bind]]\ninput = \"button1\"\nevent = \"click\"\ncommand = \"generate\"\n\
                    [[bind]]\ninput = \"button1\"\nevent = \"click\"\ncommand = \"capture\"\n\
                    [http]\nlisen = \"x\"\n";
        let issues = parse(text).unwrap_err();
        let keys: Vec<_> = issues.iter().map(|i| (i.key.as_str(), i.line)).collect();
        assert_eq!(
            keys,
            vec![
                ("nod", Some(1)),
                ("urll", Some(3)),
                ("url", Some(4)),
                ("bind", Some(9)),
                ("lisen", Some(14)),
            ],
            "{issues:?}"
        );
        assert!(issues[3].message.contains("bound already by bind #1"));
    }

    #[test]
    fn every_value_error_is_reported() {
        let text = "node = \"Bad Name\"\nthreads = 0\nsource = \"rtsp://x\"\n[http]\nlisten = \"nowhere\"\n";
        let issues = parse(text).unwrap_err();
        let keys: Vec<_> = issues.iter().map(|i| (i.key.as_str(), i.line)).collect();
        assert_eq!(
            keys,
            vec![
                ("node", Some(1)),
                ("threads", Some(2)),
                ("source", Some(3)),
                ("listen", Some(5))
            ]
        );
    }

    #[test]
    fn archive_and_admin_values_are_checked() {
        let text = "[http]\nadmin_token = \"short\"\n[archive]\nkeep = 0\nmax_mb = 0\n";
        let issues = parse(text).unwrap_err();
        let keys: Vec<_> = issues.iter().map(|i| (i.key.as_str(), i.line)).collect();
        assert_eq!(
            keys,
            vec![
                ("admin_token", Some(2)),
                ("keep", Some(4)),
                ("max_mb", Some(5))
            ]
        );
        assert!(
            parse("[archive]\nkept = 3\n").is_err(),
            "unknown keys are errors"
        );
        assert_eq!(
            Config::embedded_defaults().archive,
            crate::archive::Limits::default()
        );
    }

    #[test]
    fn camera_table_is_checked() {
        let text = "source = \"v4l:///dev/video0\"\n[camera]\nwidth = 1280\nheight = 720\nfps = 15\nformat = \"mjpeg\"\nfallback = \"still\"\nslideshow_seconds = 4\n";
        let c = parse(text).unwrap();
        assert_eq!(
            (c.camera.width, c.camera.height, c.camera.fps),
            (1280, 720, 15.0)
        );
        assert_eq!(c.camera.format, Some(crate::source::PixelFormat::Mjpeg));
        assert_eq!(c.camera.fallback, crate::source::Fallback::Still);
        assert_eq!(
            Config::embedded_defaults().camera,
            crate::source::CameraConfig::default()
        );
        let issues = parse("[camera]\nfps = 0\nformat = \"h264\"\n").unwrap_err();
        let keys: Vec<_> = issues.iter().map(|i| (i.key.as_str(), i.line)).collect();
        assert_eq!(keys, vec![("fps", Some(2)), ("format", Some(3))]);
        let unknown = parse("[camera]\nwidht = 640\n").unwrap_err();
        assert_eq!(
            (unknown[0].key.as_str(), unknown[0].line),
            ("widht", Some(2))
        );
    }

    /// The file the package installs as /etc/easel/easel.toml.
    #[test]
    fn the_shipped_board_config_is_valid() {
        let text = include_str!("../../packaging/easel.toml");
        let c = parse(text).unwrap_or_else(|issues| panic!("{issues:?}"));
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/easel"));
        assert_eq!(c.models_dir, PathBuf::from("/usr/share/easel/models"));
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn credentials_need_cert_and_key_together() {
        let c = parse("[credentials]\ncert = \"s/signer.pem\"\nkey = \"s/signer.key\"\n").unwrap();
        assert_eq!(
            c.credentials.files,
            Some(("s/signer.pem".into(), "s/signer.key".into()))
        );
        assert_eq!(Config::embedded_defaults().credentials.files, None);
        let issues = parse("[credentials]\ncert = \"s/signer.pem\"\n").unwrap_err();
        assert_eq!((issues[0].key.as_str(), issues[0].line), ("cert", Some(2)));
        assert!(parse("[credentials]\ncertificate = \"x\"\n").is_err());
    }

    #[test]
    fn engine_and_onnxruntime_are_read() {
        let c = parse("engine = \"onnxruntime\"\n[onnxruntime]\nlibrary = \"/opt/ort/libonnxruntime.so\"\nproviders = [\"tensorrt\", \"cpu\"]\n").unwrap();
        assert_eq!(c.engine.engine, easel_engine::EngineKind::Onnxruntime);
        assert_eq!(
            c.engine.onnxruntime.library.as_deref(),
            Some(Path::new("/opt/ort/libonnxruntime.so"))
        );
        assert_eq!(
            Config::embedded_defaults().engine,
            easel_engine::EngineChoice::default()
        );
        let issues = parse("engine = \"ort\"\n[onnxruntime]\nproviders = [\"npu\"]\n").unwrap_err();
        let keys: Vec<_> = issues.iter().map(|i| (i.key.as_str(), i.line)).collect();
        assert_eq!(keys, vec![("engine", Some(1)), ("providers", Some(3))]);
        let unknown = parse("[onnxruntime]\nlibary = \"x\"\n").unwrap_err();
        assert_eq!(unknown[0].key, "libary");
    }

    #[test]
    fn reserved_node_names_are_refused() {
        assert!(parse("node = \"all\"").is_err());
        assert!(parse("node = \"ctl\"").is_err());
    }

    #[test]
    fn limits_come_from_the_deploy_table() {
        let parse = |text: &str| {
            parse(text)
                .map(|c| c.deploy_limits)
                .map_err(|issues| issues.into_iter().map(|i| i.key).collect::<Vec<_>>())
        };
        assert_eq!(parse(""), Ok(TransferLimits::default()));
        assert_eq!(
            parse("[deploy]\nmax_package_mb = 8\nmax_transfers = 1\ntransfer_timeout_s = 0.5\n"),
            Ok(TransferLimits {
                max_package: 8 << 20,
                max_transfers: 1,
                stall: Duration::from_millis(500),
            })
        );
        assert_eq!(
            parse("[deploy]\nmax_transfers = 0\n"),
            Err(vec!["max_transfers".into()])
        );
        assert_eq!(
            parse("[deploy]\nmax_package_mb = 0\n"),
            Err(vec!["max_package_mb".into()])
        );
        assert_eq!(
            parse("[deploy]\ntransfer_timeout_s = -1\n"),
            Err(vec!["transfer_timeout_s".into()])
        );
    }
}
