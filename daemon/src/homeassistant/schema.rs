//! Home Assistant's MQTT discovery schema, written down from its
//! documentation (the MQTT integration's pages for button, select,
//! number, image, sensor and binary_sensor, and the common entity, device
//! and availability options), and checked against what `discovery.rs`
//! builds. A key Home Assistant does not know is silently dropped by its
//! discovery schema, so a typo would never show as an error there: here
//! it fails the test.

use serde_json::Value;

/// Options every MQTT entity takes (entity, availability, device, origin).
const COMMON: &[&str] = &[
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "default_entity_id",
    "device",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "entity_picture",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "origin",
    "payload_available",
    "payload_not_available",
    "qos",
    "unique_id",
];

/// Per component: (required keys, further keys it takes).
fn component(name: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match name {
        "button" => (
            &["command_topic"],
            &[
                "command_template",
                "device_class",
                "payload_press",
                "retain",
            ],
        ),
        "select" => (
            &["command_topic", "options"],
            &[
                "command_template",
                "optimistic",
                "retain",
                "state_topic",
                "value_template",
            ],
        ),
        "number" => (
            &["command_topic"],
            &[
                "command_template",
                "device_class",
                "max",
                "min",
                "mode",
                "optimistic",
                "payload_reset",
                "retain",
                "state_topic",
                "step",
                "unit_of_measurement",
                "value_template",
            ],
        ),
        "image" => (
            &[],
            &[
                "content_type",
                "image_encoding",
                "image_topic",
                "url_template",
                "url_topic",
            ],
        ),
        "sensor" => (
            &["state_topic"],
            &[
                "device_class",
                "expire_after",
                "force_update",
                "last_reset_value_template",
                "options",
                "state_class",
                "suggested_display_precision",
                "unit_of_measurement",
                "value_template",
            ],
        ),
        "binary_sensor" => (
            &["state_topic"],
            &[
                "device_class",
                "expire_after",
                "force_update",
                "off_delay",
                "payload_off",
                "payload_on",
                "value_template",
            ],
        ),
        _ => return None,
    })
}

const DEVICE: &[&str] = &[
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
];

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_publish_topic(t: &str) -> bool {
    !t.is_empty() && !t.contains(['+', '#', '\0'])
}

fn is_subscribe_topic(t: &str) -> bool {
    !t.is_empty()
        && t.split('/').enumerate().all(|(i, level)| {
            (level == "+" || !level.contains('+'))
                && (level == "#" && i == t.split('/').count() - 1 || !level.contains('#'))
        })
}

fn string<'a>(payload: &'a Value, key: &str) -> Option<&'a str> {
    payload.get(key).and_then(Value::as_str)
}

/// Every way `payload`, announced on `topic`, breaks the documented schema.
pub fn violations(topic: &str, payload: &Value) -> Vec<String> {
    let mut v = Vec::new();
    let levels: Vec<&str> = topic.split('/').collect();
    let (component_name, ids) = match levels.as_slice() {
        [_, c, node, object, "config"] => (*c, vec![*node, *object]),
        [_, c, object, "config"] => (*c, vec![*object]),
        _ => {
            return vec![format!(
                "{topic}: not <prefix>/<component>/[<node_id>/]<object_id>/config"
            )];
        }
    };
    if ids.iter().any(|id| !is_id(id)) {
        v.push(format!(
            "{topic}: node_id and object_id must be [a-zA-Z0-9_-]+"
        ));
    }
    let Some((required, own)) = component(component_name) else {
        return vec![format!(
            "{component_name}: not a component this check knows"
        )];
    };
    let Some(map) = payload.as_object() else {
        return vec![format!("{topic}: payload is not a JSON object")];
    };
    for key in map.keys() {
        let key_str = key.as_str();
        if !COMMON.contains(&key_str) && !own.contains(&key_str) && !required.contains(&key_str) {
            v.push(format!("{component_name}: unknown key {key:?}"));
        }
    }
    for key in required {
        if !map.contains_key(*key) {
            v.push(format!("{component_name}: required key {key:?} missing"));
        }
    }
    for key in ["command_topic"] {
        if let Some(t) = string(payload, key)
            && !is_publish_topic(t)
        {
            v.push(format!("{key} {t:?} is not a publish topic"));
        }
    }
    for key in ["state_topic", "url_topic", "image_topic"] {
        if let Some(t) = string(payload, key)
            && !is_subscribe_topic(t)
        {
            v.push(format!("{key} {t:?} is not a subscribe topic"));
        }
    }
    if let Some(id) = string(payload, "default_entity_id") {
        let ok = id
            .strip_prefix(&format!("{component_name}."))
            .is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
        if !ok {
            v.push(format!(
                "default_entity_id {id:?} is not {component_name}.<[a-z0-9_]+>"
            ));
        }
    }
    if map.contains_key("object_id") {
        v.push("object_id is deprecated (default_entity_id replaces it)".into());
    }
    match map.get("device") {
        Some(Value::Object(device)) => {
            for key in device.keys() {
                if !DEVICE.contains(&key.as_str()) {
                    v.push(format!("device: unknown key {key:?}"));
                }
            }
            let has_id = |k: &str| {
                device
                    .get(k)
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
            };
            if !has_id("identifiers") && !has_id("connections") {
                v.push("device: needs identifiers or connections".into());
            }
            if let Some(url) = device.get("configuration_url").and_then(Value::as_str)
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                v.push(format!("device.configuration_url {url:?} is not a URL"));
            }
        }
        Some(_) => v.push("device is not an object".into()),
        None => {}
    }
    if let Some(origin) = map.get("origin")
        && origin.get("name").and_then(Value::as_str).is_none()
    {
        v.push("origin.name is required".into());
    }
    match map.get("availability") {
        Some(Value::Array(entries)) => {
            if map.contains_key("availability_topic") {
                v.push("availability and availability_topic exclude each other".into());
            }
            for e in entries {
                let keys = [
                    "topic",
                    "payload_available",
                    "payload_not_available",
                    "value_template",
                ];
                match e.as_object() {
                    Some(e) => {
                        if e.keys().any(|k| !keys.contains(&k.as_str())) {
                            v.push(format!("availability entry with unknown keys: {e:?}"));
                        }
                        if !e
                            .get("topic")
                            .and_then(Value::as_str)
                            .is_some_and(is_subscribe_topic)
                        {
                            v.push("availability entry needs a topic".into());
                        }
                    }
                    None => v.push("availability entries are objects".into()),
                }
            }
        }
        Some(_) => v.push("availability is a list".into()),
        None => {}
    }
    let one_of = |key: &str, allowed: &[&str], v: &mut Vec<String>| {
        if let Some(value) = map.get(key)
            && !value.as_str().is_some_and(|s| allowed.contains(&s))
        {
            v.push(format!("{key} {value} is not one of {allowed:?}"));
        }
    };
    one_of("availability_mode", &["all", "any", "latest"], &mut v);
    one_of("entity_category", &["config", "diagnostic"], &mut v);
    if let Some(q) = map.get("qos")
        && q.as_u64().is_none_or(|q| q > 2)
    {
        v.push(format!("qos {q} is not 0, 1 or 2"));
    }
    match component_name {
        "select" => {
            let options = map.get("options").and_then(Value::as_array);
            if !options.is_some_and(|o| o.iter().all(Value::is_string)) {
                v.push("select options must be a list of strings".into());
            }
        }
        "number" => {
            one_of("mode", &["auto", "box", "slider"], &mut v);
            let f = |k: &str, d: f64| map.get(k).map_or(Some(d), Value::as_f64);
            match (f("min", 1.0), f("max", 100.0), f("step", 1.0)) {
                (Some(min), Some(max), Some(step)) => {
                    if min >= max {
                        v.push(format!("number min {min} must be below max {max}"));
                    }
                    if step < 0.001 {
                        v.push(format!("number step {step} must be at least 0.001"));
                    }
                }
                _ => v.push("number min, max and step are numbers".into()),
            }
        }
        "image" => {
            let url = map.contains_key("url_topic");
            if url == map.contains_key("image_topic") {
                v.push("image needs exactly one of url_topic and image_topic".into());
            }
            if url && map.contains_key("content_type") {
                v.push("image content_type cannot go with url_topic".into());
            }
        }
        "sensor" => {
            one_of(
                "state_class",
                &[
                    "measurement",
                    "measurement_angle",
                    "total",
                    "total_increasing",
                ],
                &mut v,
            );
            let unit = string(payload, "unit_of_measurement");
            match string(payload, "device_class") {
                Some("duration") if !matches!(unit, Some("d" | "h" | "min" | "s" | "ms")) => v
                    .push(format!(
                        "duration sensors take d, h, min, s or ms, not {unit:?}"
                    )),
                Some("temperature") if !matches!(unit, Some("°C" | "°F" | "K")) => v.push(
                    format!("temperature sensors take °C, °F or K, not {unit:?}"),
                ),
                _ => {}
            }
        }
        "binary_sensor" => one_of(
            "device_class",
            &[
                "motion",
                "occupancy",
                "presence",
                "connectivity",
                "problem",
                "running",
            ],
            &mut v,
        ),
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::discovery::{Device, announcements};
    use super::*;
    use serde_json::json;

    fn device(temperature: bool) -> Device<'static> {
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

    #[test]
    fn every_announcement_follows_the_documented_schema() {
        for temperature in [false, true] {
            let all = announcements(&device(temperature), &["cppn-aurora".into()]);
            for a in &all {
                assert_eq!(
                    violations(&a.topic, &a.payload),
                    Vec::<String>::new(),
                    "{}",
                    a.topic
                );
                let p = &a.payload;
                assert!(
                    p["unique_id"].is_string() && p["name"].is_string(),
                    "{}",
                    a.topic
                );
                assert!(p["availability"][0]["topic"] == "easel/gallery-1/status");
            }
            let mut ids: Vec<_> = all
                .iter()
                .map(|a| a.payload["unique_id"].to_string())
                .collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), all.len(), "unique_id must be unique");
        }
    }

    #[test]
    fn the_check_catches_what_home_assistant_would_drop_or_refuse() {
        let ok = json!({"command_topic": "a/b", "device": {"identifiers": ["x"]}});
        assert!(violations("homeassistant/button/n/o/config", &ok).is_empty());
        let cases = [
            (
                "homeassistant/button/n/o/config",
                json!({"comand_topic": "a"}),
            ),
            (
                "homeassistant/button/n/o/config",
                json!({"command_topic": "a/+"}),
            ),
            (
                "homeassistant/select/n/o/config",
                json!({"command_topic": "a"}),
            ),
            (
                "homeassistant/number/n/o/config",
                json!({"command_topic": "a", "min": 5, "max": 1}),
            ),
            ("homeassistant/image/n/o/config", json!({})),
            (
                "homeassistant/sensor/n/o/config",
                json!({"state_topic": "a", "device_class": "duration", "unit_of_measurement": "fps"}),
            ),
            (
                "homeassistant/button/n/o/config",
                json!({"command_topic": "a", "device": {"name": "x"}}),
            ),
            (
                "homeassistant/button/n/o/config",
                json!({"command_topic": "a", "object_id": "x"}),
            ),
            (
                "homeassistant/button/n/o/config",
                json!({"command_topic": "a", "default_entity_id": "sensor.x"}),
            ),
            (
                "homeassistant/button/n/o/config",
                json!({"command_topic": "a", "availability": [{"payload_available": "x"}]}),
            ),
            (
                "homeassistant/button/n.x/o/config",
                json!({"command_topic": "a"}),
            ),
        ];
        for (topic, payload) in cases {
            assert!(!violations(topic, &payload).is_empty(), "{topic} {payload}");
        }
    }
}
