//! The venue's systems, as config: `[homeassistant]`, `[osc]`, and the
//! rules that keep the embedded broker from being left open on a shared
//! network (`[mqtt] allow_anonymous`, `password_file`, `admins`). Checked
//! values only; the edges (`crate::homeassistant`, `crate::osc`,
//! `crate::mqtt`) run them.

use super::{Environment, RawMqtt};
use crate::homeassistant::HaConfig;
use crate::osc::OscConfig;
use serde::Deserialize;
use std::net::SocketAddr;

/// Problems as `(key, message)`; a key `table.key` is found in its table.
type Problems = Vec<(&'static str, String)>;

/// `[homeassistant]` as serde reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHomeAssistant {
    pub enabled: Option<bool>,
    /// Home Assistant's discovery prefix (default `homeassistant`).
    pub prefix: Option<String>,
    /// How Home Assistant reaches the gallery page, `http://host:port`
    /// (default: from `[http] listen`).
    pub base_url: Option<String>,
    /// The device's name in Home Assistant (default `easel <node>`).
    pub name: Option<String>,
}

/// `[osc]` as serde reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOsc {
    /// UDP address to take OSC messages on.
    pub listen: Option<String>,
    /// Where `/easel/generated` and `/easel/palette` go, `host:port` each.
    #[serde(default)]
    pub targets: Vec<String>,
}

/// A usable MQTT topic prefix: not empty, no wildcards, no trailing `/`.
fn is_topic_prefix(p: &str) -> bool {
    !p.is_empty() && !p.contains(['+', '#', '\0']) && !p.ends_with('/') && !p.starts_with('/')
}

/// `[homeassistant]`, checked: `None` unless `enabled = true`.
pub fn homeassistant(raw: &RawHomeAssistant) -> Result<Option<HaConfig>, Problems> {
    let mut problems = Problems::new();
    let prefix = raw.prefix.clone().unwrap_or_else(|| "homeassistant".into());
    if !is_topic_prefix(&prefix) {
        problems.push((
            "homeassistant.prefix",
            format!("{prefix:?} is not a usable topic prefix"),
        ));
    }
    let base_url = raw
        .base_url
        .as_ref()
        .map(|u| u.trim_end_matches('/').to_string());
    if let Some(url) = &base_url {
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if host.is_none_or(|h| h.is_empty() || h.contains(['/', ' '])) {
            problems.push((
                "homeassistant.base_url",
                format!("{url:?}: expected http://host:port or https://host"),
            ));
        }
    }
    if raw.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
        problems.push(("homeassistant.name", "must not be empty".into()));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(raw.enabled.unwrap_or(false).then(|| HaConfig {
        prefix,
        base_url,
        name: raw.name.clone(),
    }))
}

/// A `host:port` target (`[::1]:9000` for IPv6).
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0)
}

/// `[osc]`, checked: `None` when it has neither `listen` nor `targets`.
pub fn osc(raw: &RawOsc) -> Result<Option<OscConfig>, Problems> {
    let mut problems = Problems::new();
    let listen = raw
        .listen
        .as_ref()
        .and_then(|l| match l.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(e) => {
                problems.push((
                    "osc.listen",
                    format!("{l:?} is not an address like 0.0.0.0:9000 ({e})"),
                ));
                None
            }
        });
    for t in &raw.targets {
        if !is_host_port(t) {
            problems.push(("osc.targets", format!("{t:?} is not host:port")));
        }
    }
    if raw.targets.len() > 16 {
        problems.push(("osc.targets", "at most 16 targets".into()));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if listen.is_none() && raw.targets.is_empty() {
        return Ok(None);
    }
    Ok(Some(OscConfig {
        listen,
        targets: raw.targets.clone(),
    }))
}

/// The embedded broker's safety rules (docs/mqtt.md, "A locked broker").
/// Open on loopback is fine; open on any other address only when
/// `allow_anonymous = true` says so; a `username` locks it, and then the
/// daemon needs its password to log in itself.
pub fn broker_issues(raw: &RawMqtt, embedded_listen: SocketAddr, env: &Environment) -> Problems {
    let mut problems = Problems::new();
    if raw.url.is_some() {
        for (key, set) in [
            ("allow_anonymous", raw.allow_anonymous.is_some()),
            ("password_file", raw.password_file.is_some()),
            ("admins", raw.admins.is_some()),
        ] {
            if set {
                problems.push((
                    key,
                    "applies to the embedded broker only (remove it, or remove url)".into(),
                ));
            }
        }
        return problems;
    }
    let anonymous = raw.allow_anonymous.unwrap_or(false);
    match &raw.username {
        None if !embedded_listen.ip().is_loopback() && !anonymous => problems.push((
            "embedded_listen",
            format!(
                "{embedded_listen} is not a loopback address: anyone on the network could \
                 command the piece. Set [mqtt] username (password in EASEL_MQTT_PASSWORD) to \
                 lock the broker, or allow_anonymous = true to leave it open on purpose"
            ),
        )),
        None => {
            if raw.password_file.is_some() || raw.admins.is_some() {
                problems.push((
                    if raw.password_file.is_some() {
                        "password_file"
                    } else {
                        "admins"
                    },
                    "needs [mqtt] username: the broker is locked only with a username".into(),
                ));
            }
        }
        Some(user) => {
            if anonymous {
                problems.push((
                    "allow_anonymous",
                    "contradicts username: a broker with a username refuses anonymous clients"
                        .into(),
                ));
            }
            if user.is_empty() || user.contains(['+', '#', '/']) {
                problems.push(("username", format!("{user:?} is not a usable user name")));
            }
            if !env.mqtt_password_set {
                problems.push((
                    "username",
                    "the embedded broker is locked with this username, but \
                     EASEL_MQTT_PASSWORD is not set: the daemon could not log in"
                        .into(),
                ));
            }
        }
    }
    for admin in raw.admins.iter().flatten() {
        if !easel_protocol::is_valid_node_id(admin) {
            problems.push(("admins", format!("{admin:?} is not [a-z0-9_-]{{1,32}}")));
        }
    }
    if raw.admins.as_ref().is_some_and(|a| !a.is_empty()) && raw.password_file.is_none() {
        problems.push((
            "admins",
            "names users of password_file, and there is none".into(),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigIssue};
    use super::*;

    fn parse(text: &str, password: bool) -> Result<Config, Vec<ConfigIssue>> {
        let env = Environment {
            mqtt_password_set: password,
            ..Environment::default()
        };
        Config::parse_with(text, &env)
    }

    fn issues(text: &str, password: bool) -> Vec<(String, Option<usize>)> {
        parse(text, password)
            .unwrap_err()
            .into_iter()
            .map(|i| (i.key, i.line))
            .collect()
    }

    #[test]
    fn an_open_broker_off_loopback_is_refused_unless_said_so() {
        let open = "node = \"n\"\n[mqtt]\nembedded_listen = \"0.0.0.0:1883\"\n";
        assert_eq!(
            issues(open, false),
            [("embedded_listen".to_string(), Some(3))]
        );
        let said = format!("{open}allow_anonymous = true\n");
        assert!(parse(&said, false).is_ok());
        assert!(parse("[mqtt]\nembedded_listen = \"127.0.0.1:1\"\n", false).is_ok());
        assert!(parse("[mqtt]\nembedded_listen = \"[::1]:1\"\n", false).is_ok());
    }

    #[test]
    fn a_username_locks_the_broker_and_needs_the_password() {
        let locked = "[mqtt]\nembedded_listen = \"0.0.0.0:1883\"\nusername = \"artist\"\n";
        let c = parse(locked, true).unwrap();
        assert!(c.mqtt.is_locked());
        assert_eq!(issues(locked, false), [("username".to_string(), Some(3))]);
        assert_eq!(
            issues(&format!("{locked}allow_anonymous = true\n"), true),
            [("allow_anonymous".to_string(), Some(4))]
        );
        let client = "[mqtt]\nurl = \"mqtt://b:1883\"\nusername = \"artist\"\n";
        assert!(!parse(client, false).unwrap().mqtt.is_locked());
        assert_eq!(
            issues(&format!("{client}password_file = \"p\"\n"), true),
            [("password_file".to_string(), Some(4))]
        );
    }

    #[test]
    fn admins_name_password_file_users() {
        let base = "[mqtt]\nusername = \"artist\"\n";
        let ok = format!("{base}password_file = \"users\"\nadmins = [\"ha\"]\n");
        assert_eq!(parse(&ok, true).unwrap().mqtt.admins, ["ha"]);
        assert_eq!(
            issues(&format!("{base}admins = [\"ha\"]\n"), true),
            [("admins".to_string(), Some(3))]
        );
        assert_eq!(
            issues(
                &format!("{base}password_file = \"users\"\nadmins = [\"Bad\"]\n"),
                true
            ),
            [("admins".to_string(), Some(4))]
        );
    }

    #[test]
    fn homeassistant_is_off_unless_enabled_and_checked_in_its_table() {
        assert_eq!(parse("", false).unwrap().homeassistant, None);
        let c = parse("[homeassistant]\nenabled = true\n", false).unwrap();
        assert_eq!(
            c.homeassistant,
            Some(HaConfig {
                prefix: "homeassistant".into(),
                base_url: None,
                name: None,
            })
        );
        let c = parse(
            "[homeassistant]\nenabled = true\nprefix = \"ha\"\nbase_url = \"http://10.0.0.5:8080/\"\n",
            false,
        )
        .unwrap();
        let ha = c.homeassistant.unwrap();
        assert_eq!(
            (ha.prefix.as_str(), ha.base_url.as_deref()),
            ("ha", Some("http://10.0.0.5:8080"))
        );
        let bad = "[mqtt]\nprefix = \"easel\"\n[homeassistant]\nprefix = \"a/#\"\nbase_url = \"ftp://x\"\n";
        assert_eq!(
            issues(bad, false),
            [
                ("homeassistant.prefix".to_string(), Some(4)),
                ("homeassistant.base_url".to_string(), Some(5))
            ]
        );
        assert!(parse("[homeassistant]\nenable = true\n", false).is_err());
    }

    #[test]
    fn osc_listens_and_sends_where_told() {
        assert_eq!(parse("", false).unwrap().osc, None);
        let c = parse(
            "[osc]\nlisten = \"0.0.0.0:9000\"\ntargets = [\"10.0.0.9:9001\", \"show.local:53000\", \"[::1]:7000\"]\n",
            false,
        )
        .unwrap();
        let osc = c.osc.unwrap();
        assert_eq!(osc.listen, Some("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(osc.targets.len(), 3);
        let bad = "[http]\nlisten = \"127.0.0.1:0\"\n[osc]\nlisten = \"nine\"\ntargets = [\"x\"]\n";
        assert_eq!(
            issues(bad, false),
            [
                ("osc.listen".to_string(), Some(4)),
                ("osc.targets".to_string(), Some(5))
            ]
        );
    }
}
