//! Visitor input on `P/ctl/<id>/input`: one JSON object per event.
//!
//! ```text
//! {"input":"button1","event":"click"}     press, release, click, double, long
//! {"input":"knob1","value":0.42}          a knob position, 0..1
//! {"input":"enc1","delta":-2}             encoder detents since the last message
//! {"input":"presence","value":true}       someone is there
//! ```
//!
//! Serialisation is written by hand so the flat wire shape stays exact
//! under any serde serializer (serde_json, serde-json-core); decoding
//! accepts exactly one of `event`, `value` or `delta` besides `input`.

use core::fmt;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest input name a controller may use.
pub const MAX_INPUT_NAME: usize = 32;

/// A button gesture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ButtonEvent {
    Press,
    Release,
    Click,
    Double,
    Long,
}

impl ButtonEvent {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ButtonEvent::Press => "press",
            ButtonEvent::Release => "release",
            ButtonEvent::Click => "click",
            ButtonEvent::Double => "double",
            ButtonEvent::Long => "long",
        }
    }
}

/// What an input reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// A button gesture (`event`).
    Button(ButtonEvent),
    /// A knob or fader position in 0..=1 (`value`, a number).
    Level(f32),
    /// Encoder detents, signed (`delta`).
    Delta(i32),
    /// Presence (`value`, a boolean).
    Presence(bool),
}

/// One input event from a controller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputMessage<'a> {
    /// The input's name, e.g. `button1`, `knob1`, `presence`.
    pub input: &'a str,
    pub signal: Signal,
}

impl Serialize for InputMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("input", self.input)?;
        match self.signal {
            Signal::Button(event) => map.serialize_entry("event", event.as_str())?,
            Signal::Level(value) => map.serialize_entry("value", &value)?,
            Signal::Delta(delta) => map.serialize_entry("delta", &delta)?,
            Signal::Presence(present) => map.serialize_entry("value", &present)?,
        }
        map.end()
    }
}

/// `value` is a number for knobs and a boolean for presence.
enum Value {
    Number(f64),
    Bool(bool),
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        struct ValueVisitor;
        impl Visitor<'_> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(Value::Number(v as f64))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for InputMessage<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MessageVisitor;
        impl<'de> Visitor<'de> for MessageVisitor {
            type Value = InputMessage<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an input object with `input` and one of `event`, `value`, `delta`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut input: Option<&'de str> = None;
                let mut signal: Option<Signal> = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    let next = match key {
                        "input" => {
                            let name: &'de str = map.next_value()?;
                            if name.is_empty() || name.len() > MAX_INPUT_NAME {
                                return Err(de::Error::custom("`input` must be 1 to 32 bytes"));
                            }
                            if input.replace(name).is_some() {
                                return Err(de::Error::duplicate_field("input"));
                            }
                            continue;
                        }
                        "event" => Signal::Button(map.next_value()?),
                        "delta" => Signal::Delta(map.next_value()?),
                        "value" => match map.next_value()? {
                            Value::Bool(b) => Signal::Presence(b),
                            Value::Number(v) if (0.0..=1.0).contains(&v) => Signal::Level(v as f32),
                            Value::Number(_) => {
                                return Err(de::Error::custom("`value` must be within 0..1"));
                            }
                        },
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["input", "event", "value", "delta"],
                            ));
                        }
                    };
                    if signal.replace(next).is_some() {
                        return Err(de::Error::custom(
                            "exactly one of `event`, `value`, `delta` is allowed",
                        ));
                    }
                }
                Ok(InputMessage {
                    input: input.ok_or_else(|| de::Error::missing_field("input"))?,
                    signal: signal.ok_or_else(|| de::Error::missing_field("event"))?,
                })
            }
        }
        deserializer.deserialize_map(MessageVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(m: &InputMessage) -> serde_json::Value {
        serde_json::to_value(m).unwrap()
    }

    #[test]
    fn encodes_contract_shapes() {
        let click = InputMessage {
            input: "button1",
            signal: Signal::Button(ButtonEvent::Click),
        };
        assert_eq!(
            wire(&click),
            serde_json::json!({"input":"button1","event":"click"})
        );
        let knob = InputMessage {
            input: "knob1",
            signal: Signal::Level(0.5),
        };
        assert_eq!(
            wire(&knob),
            serde_json::json!({"input":"knob1","value":0.5})
        );
        let enc = InputMessage {
            input: "enc1",
            signal: Signal::Delta(-2),
        };
        assert_eq!(wire(&enc), serde_json::json!({"input":"enc1","delta":-2}));
        let here = InputMessage {
            input: "presence",
            signal: Signal::Presence(true),
        };
        assert_eq!(
            wire(&here),
            serde_json::json!({"input":"presence","value":true})
        );
    }

    #[test]
    fn decodes_and_round_trips() {
        for m in [
            InputMessage {
                input: "button2",
                signal: Signal::Button(ButtonEvent::Long),
            },
            InputMessage {
                input: "knob1",
                signal: Signal::Level(0.25),
            },
            InputMessage {
                input: "enc1",
                signal: Signal::Delta(3),
            },
            InputMessage {
                input: "presence",
                signal: Signal::Presence(false),
            },
        ] {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<InputMessage>(&text).unwrap(), m);
        }
        let one: InputMessage = serde_json::from_str(r#"{"input":"knob1","value":1}"#).unwrap();
        assert_eq!(one.signal, Signal::Level(1.0));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            r#"{"event":"click"}"#,
            r#"{"input":"b"}"#,
            r#"{"input":"b","event":"tap"}"#,
            r#"{"input":"b","event":"click","delta":1}"#,
            r#"{"input":"k","value":1.5}"#,
            r#"{"input":"k","value":"x"}"#,
            r#"{"input":"","event":"click"}"#,
            r#"{"input":"b","event":"click","extra":1}"#,
            r#"[1,2]"#,
        ] {
            assert!(serde_json::from_str::<InputMessage>(bad).is_err(), "{bad}");
        }
    }
}
