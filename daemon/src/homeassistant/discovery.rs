//! Home Assistant MQTT discovery payloads (docs/homeassistant.md): what
//! easeld announces so a venue's Home Assistant shows the piece as one
//! device with buttons, selects, numbers, an image, sensors and a presence
//! sensor. Pure: settings and the loaded models in, `(topic, payload)`
//! out; publishing is `mod.rs`'s.
//!
//! Every entity reads the daemon's own topics (`P/N/state`, `P/N/status`)
//! or the two the Home Assistant edge adds (`P/N/ha/stats`,
//! `P/N/ha/image`), and every control publishes an ordinary command on
//! `P/N/cmd/<name>`, so Home Assistant goes through the same validation
//! and answers as any other client. Keys follow Home Assistant's MQTT
//! schemas for each component (`schema.rs` checks them in the tests).

use serde_json::{Value, json};

/// The node as Home Assistant sees it.
#[derive(Debug, Clone)]
pub struct Device<'a> {
    /// Home Assistant's discovery prefix (`homeassistant`).
    pub discovery_prefix: &'a str,
    /// easel's topic prefix `P`.
    pub prefix: &'a str,
    pub node: &'a str,
    /// The device's name in Home Assistant.
    pub name: &'a str,
    pub version: &'a str,
    /// `http://host:port` of the gallery page.
    pub base_url: &'a str,
    /// Whether the board reports a temperature (the sensor is left out
    /// where it does not).
    pub temperature: bool,
}

/// One discovery message: retained on `topic`.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub component: &'static str,
    pub object: &'static str,
    pub topic: String,
    pub payload: Value,
}

/// The availability template: `stopped` (a clean exit) and `offline` (the
/// Last Will) both mean unavailable; Home Assistant would otherwise ignore
/// `stopped`, a payload that is neither available nor not, and keep
/// showing a stopped piece as there.
pub const AVAILABILITY_TEMPLATE: &str = "{{ 'online' if value == 'online' else 'offline' }}";

impl Device<'_> {
    fn topic(&self, leaf: &str) -> String {
        format!("{}/{}/{leaf}", self.prefix, self.node)
    }

    /// `P/N/ha/stats`: frames per second, latency, errors, presence (JSON).
    pub fn stats_topic(&self) -> String {
        self.topic("ha/stats")
    }

    /// `P/N/ha/image`: the newest picture's absolute URL (text).
    pub fn image_topic(&self) -> String {
        self.topic("ha/image")
    }

    /// `easel-<node>`: the device's identifier and the discovery node id.
    fn id(&self) -> String {
        format!("easel-{}", self.node)
    }

    fn config_topic(&self, component: &str, object: &str) -> String {
        format!(
            "{}/{component}/{}/{object}/config",
            self.discovery_prefix,
            self.id()
        )
    }

    /// What every entity carries: names, ids, the device, availability.
    fn common(&self, component: &str, object: &str, name: &str) -> serde_json::Map<String, Value> {
        let entity = format!("easel_{}_{object}", self.node.replace('-', "_"));
        let payload = json!({
            "name": name,
            "unique_id": format!("{}-{object}", self.id()),
            "default_entity_id": format!("{component}.{entity}"),
            "device": {
                "identifiers": [self.id()],
                "name": self.name,
                "model": "easel installation",
                "manufacturer": "easel",
                "sw_version": self.version,
                "configuration_url": format!("{}/admin", self.base_url),
            },
            "origin": {"name": "easel", "sw_version": self.version},
            "availability": [{
                "topic": self.topic("status"),
                "payload_available": "online",
                "payload_not_available": "offline",
                "value_template": AVAILABILITY_TEMPLATE,
            }],
            "availability_mode": "latest",
            "qos": 1,
        });
        match payload {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        }
    }

    fn entity(
        &self,
        component: &'static str,
        object: &'static str,
        name: &str,
        own: Value,
    ) -> Announcement {
        let mut payload = self.common(component, object, name);
        if let Value::Object(own) = own {
            payload.extend(own);
        }
        Announcement {
            component,
            object,
            topic: self.config_topic(component, object),
            payload: Value::Object(payload),
        }
    }

    fn button(&self, object: &'static str, name: &str, command: &str, icon: &str) -> Announcement {
        self.entity(
            "button",
            object,
            name,
            json!({
                "command_topic": self.topic(&format!("cmd/{command}")),
                "payload_press": "{}",
                "retain": false,
                "icon": icon,
            }),
        )
    }

    fn number(
        &self,
        object: &'static str,
        name: &str,
        key: &str,
        (min, max, step): (f64, f64, f64),
        unit: &str,
    ) -> Announcement {
        self.entity(
            "number",
            object,
            name,
            json!({
                "command_topic": self.topic("cmd/params"),
                "command_template": format!("{{\"{key}\": {{{{ value }}}}}}"),
                "state_topic": self.topic("state"),
                "value_template": format!("{{{{ value_json.params.{key} }}}}"),
                "min": min,
                "max": max,
                "step": step,
                "mode": "box",
                "unit_of_measurement": unit,
                "retain": false,
            }),
        )
    }

    fn sensor(&self, object: &'static str, name: &str, own: Value) -> Announcement {
        let mut a = self.entity("sensor", object, name, own);
        if let Value::Object(p) = &mut a.payload {
            p.insert("state_topic".into(), json!(self.stats_topic()));
            p.insert("entity_category".into(), json!("diagnostic"));
        }
        a
    }
}

/// Every entity of the node; `models` are the loaded models' names, the
/// options of the model select (it is announced again when they change).
pub fn announcements(device: &Device, models: &[String]) -> Vec<Announcement> {
    let d = device;
    let mut out = vec![
        d.button("generate", "New picture", "generate", "mdi:image-plus"),
        d.button("next_model", "Next model", "next_model", "mdi:skip-next"),
        d.button("capture", "Capture", "capture", "mdi:camera"),
        d.entity(
            "select",
            "model",
            "Model",
            json!({
                "command_topic": d.topic("cmd/model"),
                "command_template": "{\"name\": \"{{ value }}\"}",
                "state_topic": d.topic("state"),
                "value_template": "{{ value_json.model }}",
                "options": models,
                "retain": false,
            }),
        ),
        d.entity(
            "select",
            "mode",
            "Mode",
            json!({
                "command_topic": d.topic("cmd/mode"),
                "command_template": "{\"mode\": \"{{ value }}\"}",
                "state_topic": d.topic("state"),
                "value_template": "{{ value_json.mode }}",
                "options": ["still", "morph", "live"],
                "retain": false,
            }),
        ),
        d.number(
            "morph_seconds",
            "Morph seconds",
            "seconds",
            (0.5, 600.0, 0.5),
            "s",
        ),
        d.number("fps", "Frame rate", "fps", (0.0, 60.0, 1.0), "fps"),
        d.entity(
            "image",
            "picture",
            "Picture",
            json!({ "url_topic": d.image_topic() }),
        ),
        d.sensor(
            "frame_rate",
            "Frames per second",
            json!({
                "value_template": "{{ value_json.fps }}",
                "unit_of_measurement": "fps",
                "state_class": "measurement",
                "suggested_display_precision": 1,
            }),
        ),
        d.sensor(
            "latency",
            "Last latency",
            json!({
                "value_template": "{{ value_json.latency_ms }}",
                "unit_of_measurement": "ms",
                "device_class": "duration",
                "state_class": "measurement",
                "suggested_display_precision": 0,
            }),
        ),
        d.sensor(
            "errors",
            "Errors",
            json!({
                "value_template": "{{ value_json.errors }}",
                "state_class": "total_increasing",
                "icon": "mdi:alert-circle-outline",
            }),
        ),
    ];
    if d.temperature {
        out.push(d.sensor(
            "temperature",
            "Board temperature",
            json!({
                "value_template": "{{ value_json.temperature_c }}",
                "unit_of_measurement": "°C",
                "device_class": "temperature",
                "state_class": "measurement",
                "suggested_display_precision": 1,
            }),
        ));
    }
    out.push(d.entity(
        "binary_sensor",
        "presence",
        "Presence",
        json!({
            "state_topic": d.stats_topic(),
            "value_template": "{{ 'ON' if value_json.presence else 'OFF' }}",
            "payload_on": "ON",
            "payload_off": "OFF",
            "device_class": "occupancy",
        }),
    ));
    out
}

/// The topics announced before (`earlier`) that are not announced now:
/// each gets an empty retained message, which removes its entity from
/// Home Assistant.
pub fn withdrawn(earlier: &[String], now: &[Announcement]) -> Vec<String> {
    earlier
        .iter()
        .filter(|t| !now.iter().any(|a| &a.topic == *t))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn device(temperature: bool) -> Device<'static> {
        Device {
            discovery_prefix: "homeassistant",
            prefix: "easel",
            node: "gallery-1",
            name: "easel gallery-1",
            version: "0.1.0",
            base_url: "http://10.0.0.5:8080",
            temperature,
        }
    }

    fn find<'a>(all: &'a [Announcement], object: &str) -> &'a Value {
        &all.iter().find(|a| a.object == object).unwrap().payload
    }

    #[test]
    fn one_device_with_the_pieces_controls() {
        let all = announcements(&device(false), &["cppn-aurora".into(), "dcgan-64".into()]);
        let names: Vec<_> = all.iter().map(|a| (a.component, a.object)).collect();
        assert_eq!(
            names,
            [
                ("button", "generate"),
                ("button", "next_model"),
                ("button", "capture"),
                ("select", "model"),
                ("select", "mode"),
                ("number", "morph_seconds"),
                ("number", "fps"),
                ("image", "picture"),
                ("sensor", "frame_rate"),
                ("sensor", "latency"),
                ("sensor", "errors"),
                ("binary_sensor", "presence"),
            ]
        );
        assert_eq!(
            all[0].topic,
            "homeassistant/button/easel-gallery-1/generate/config"
        );
        let generate = find(&all, "generate");
        assert_eq!(generate["command_topic"], "easel/gallery-1/cmd/generate");
        assert_eq!(generate["payload_press"], "{}");
        assert_eq!(generate["device"]["identifiers"][0], "easel-gallery-1");
        assert_eq!(
            generate["device"]["configuration_url"],
            "http://10.0.0.5:8080/admin"
        );
        assert_eq!(
            generate["default_entity_id"],
            "button.easel_gallery_1_generate"
        );
        assert_eq!(
            find(&all, "model")["options"],
            json!(["cppn-aurora", "dcgan-64"])
        );
        assert_eq!(
            find(&all, "picture")["url_topic"],
            "easel/gallery-1/ha/image"
        );
        let seconds = find(&all, "morph_seconds");
        assert_eq!(seconds["command_template"], "{\"seconds\": {{ value }}}");
        assert_eq!(seconds["value_template"], "{{ value_json.params.seconds }}");
        let with_temperature = announcements(&device(true), &[]);
        assert!(with_temperature.iter().any(|a| a.object == "temperature"));
    }

    #[test]
    fn the_templates_make_commands_the_daemon_accepts() {
        // What Home Assistant renders from each command template, parsed
        // by the daemon's own command parser.
        use crate::piece::command::{Command, Mode, parse};
        let render = |template: &str, value: &str| template.replace("{{ value }}", value);
        let all = announcements(&device(false), &["dcgan-64".into()]);
        let cmd = |object: &str, value: &str| {
            let p = find(&all, object);
            let topic = p["command_topic"].as_str().unwrap();
            let name = topic.rsplit('/').next().unwrap();
            let payload = match p.get("command_template") {
                Some(t) => render(t.as_str().unwrap(), value),
                None => p["payload_press"].as_str().unwrap().to_string(),
            };
            parse(name, payload.as_bytes(), 16 * 1024).unwrap().command
        };
        assert_eq!(
            cmd("generate", ""),
            Command::Generate {
                seed: None,
                model: None
            }
        );
        assert_eq!(cmd("next_model", ""), Command::NextModel);
        assert_eq!(cmd("capture", ""), Command::Capture { model: None });
        assert_eq!(
            cmd("model", "dcgan-64"),
            Command::Model {
                name: "dcgan-64".into()
            }
        );
        assert_eq!(
            cmd("mode", "morph"),
            Command::Mode {
                mode: Mode::Morph,
                seconds: None,
                fps: None
            }
        );
        assert_eq!(
            cmd("morph_seconds", "4.5"),
            Command::Params {
                seconds: Some(4.5),
                fps: None
            }
        );
        assert_eq!(
            cmd("fps", "12"),
            Command::Params {
                seconds: None,
                fps: Some(12.0)
            }
        );
    }

    #[test]
    fn entities_that_go_away_are_withdrawn() {
        let now = announcements(&device(false), &[]);
        let earlier: Vec<String> = announcements(&device(true), &[])
            .into_iter()
            .map(|a| a.topic)
            .chain(["homeassistant/button/easel-old/generate/config".to_string()])
            .collect();
        assert_eq!(
            withdrawn(&earlier, &now),
            [
                "homeassistant/sensor/easel-gallery-1/temperature/config",
                "homeassistant/button/easel-old/generate/config"
            ]
        );
        assert!(withdrawn(&earlier, &announcements(&device(true), &[])).len() == 1);
        assert_eq!(withdrawn(&earlier, &[]).len(), earlier.len());
    }
}
