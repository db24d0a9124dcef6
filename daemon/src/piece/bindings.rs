//! Controller bindings: `[[bind]]` tables that turn visitor input
//! (`P/ctl/<id>/input`) into ordinary commands, so buttons can be remapped
//! without reflashing a controller. Pure: an input in, requests out.
//!
//! With no `[[bind]]` table the contract's defaults apply: `button1`
//! `click` = `generate`, `button1` `long` = `next_model`, `button2` `click`
//! = `toggle_mode`, `knob1` = morph speed (`params.seconds` from 20 s at 0
//! to 1 s at 1), `presence` true = `wake`.
//!
//! ```toml
//! [[bind]]
//! input = "button1"
//! event = "double"          # press | release | click | double | long
//! command = "generate"
//! payload = { model = "dcgan-64" }
//! [[bind]]
//! input = "knob2"
//! param = "fps"             # knob 0..1 -> range[0]..range[1]
//! range = [1.0, 24.0]
//! [[bind]]
//! input = "presence"
//! value = true
//! command = "wake"
//! [[bind]]
//! input = "button3"
//! event = "click"
//! command = "capture"       # re-paint one camera frame and keep it
//! ```
//!
//! Any command (`capture` included) can be bound: a binding is checked by
//! the same decoder as an MQTT command.

use super::command::{self, CommandError, Request};
use easel_protocol::{ButtonEvent, InputMessage, Signal};
use serde::Deserialize;

/// One `[[bind]]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBinding {
    pub input: String,
    pub event: Option<ButtonEvent>,
    /// For presence inputs: which value triggers.
    pub value: Option<bool>,
    pub command: Option<String>,
    pub payload: Option<toml::Table>,
    pub param: Option<String>,
    pub range: Option<[f32; 2]>,
}

/// What fires a binding.
#[derive(Debug, Clone, PartialEq)]
enum Trigger {
    Button(ButtonEvent),
    Presence(bool),
    /// Any knob position or encoder movement.
    Any,
}

impl Trigger {
    fn describe(&self) -> String {
        match self {
            Trigger::Button(e) => format!("event {}", e.as_str()),
            Trigger::Presence(v) => format!("value {v}"),
            Trigger::Any => "any value".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// A command with a fixed JSON payload.
    Command {
        name: String,
        payload: serde_json::Value,
    },
    /// A knob position mapped linearly onto a `params` key.
    Param { name: String, lo: f32, hi: f32 },
}

#[derive(Debug, Clone, PartialEq)]
struct Binding {
    input: String,
    trigger: Trigger,
    action: Action,
}

/// The live binding table.
#[derive(Debug, Clone, PartialEq)]
pub struct Bindings {
    table: Vec<Binding>,
}

/// Parameters a knob may drive (the keys of the `params` command).
pub const PARAMS: [&str; 2] = ["seconds", "fps"];

impl Bindings {
    /// The contract's defaults.
    pub fn defaults() -> Bindings {
        let command = |input: &str, trigger, name: &str| Binding {
            input: input.into(),
            trigger,
            action: Action::Command {
                name: name.into(),
                payload: serde_json::json!({}),
            },
        };
        Bindings {
            table: vec![
                command("button1", Trigger::Button(ButtonEvent::Click), "generate"),
                command("button1", Trigger::Button(ButtonEvent::Long), "next_model"),
                command(
                    "button2",
                    Trigger::Button(ButtonEvent::Click),
                    "toggle_mode",
                ),
                Binding {
                    input: "knob1".into(),
                    trigger: Trigger::Any,
                    action: Action::Param {
                        name: "seconds".into(),
                        lo: 20.0,
                        hi: 1.0,
                    },
                },
                command("presence", Trigger::Presence(true), "wake"),
            ],
        }
    }

    /// Builds the table from `[[bind]]`; none at all means the defaults.
    /// Errors are `(index of the [[bind]] table, message)` pairs for the
    /// config's issue list (which turns the index into a line).
    pub fn from_raw(raw: &[RawBinding]) -> Result<Bindings, Vec<(usize, String)>> {
        if raw.is_empty() {
            return Ok(Bindings::defaults());
        }
        let mut problems = Vec::new();
        let mut table = Vec::new();
        // The [[bind]] index of each table entry, for duplicate messages.
        let mut indices = Vec::new();
        for (i, b) in raw.iter().enumerate() {
            let at = format!("bind #{}", i + 1);
            let trigger = match (b.event, b.value) {
                (Some(e), None) => Trigger::Button(e),
                (None, Some(v)) => Trigger::Presence(v),
                (None, None) => Trigger::Any,
                (Some(_), Some(_)) => {
                    problems.push((i, format!("{at}: give `event` or `value`, not both")));
                    continue;
                }
            };
            let action = match (&b.command, &b.param) {
                (Some(name), None) => {
                    let payload = serde_json::to_value(b.payload.clone().unwrap_or_default())
                        .unwrap_or_default();
                    Action::Command {
                        name: name.clone(),
                        payload,
                    }
                }
                (None, Some(name)) if PARAMS.contains(&name.as_str()) => {
                    let [lo, hi] = b.range.unwrap_or([0.0, 1.0]);
                    Action::Param {
                        name: name.clone(),
                        lo,
                        hi,
                    }
                }
                (None, Some(name)) => {
                    problems.push((
                        i,
                        format!("{at}: unknown param {name:?} (one of {PARAMS:?})"),
                    ));
                    continue;
                }
                _ => {
                    problems.push((i, format!("{at}: give exactly one of `command` or `param`")));
                    continue;
                }
            };
            // A binding that could never produce a valid command is a
            // config error now, not an error event at the first press.
            if let Action::Command { name, payload } = &action
                && let Err(e) = command::parse(name, payload.to_string().as_bytes(), usize::MAX)
            {
                problems.push((i, format!("{at}: {e}")));
                continue;
            }
            // Two bindings on one input and event: both would fire at
            // every press, and which one the author meant is a guess. (A
            // knob may drive two params at once: that is no accident.)
            if let Some(j) = table.iter().position(|t: &Binding| {
                t.input == b.input && t.trigger == trigger && trigger != Trigger::Any
            }) {
                problems.push((
                    i,
                    format!(
                        "{at}: {:?} {} is bound already by bind #{}",
                        b.input,
                        trigger.describe(),
                        indices[j] + 1
                    ),
                ));
                continue;
            }
            indices.push(i);
            table.push(Binding {
                input: b.input.clone(),
                trigger,
                action,
            });
        }
        if problems.is_empty() {
            Ok(Bindings { table })
        } else {
            Err(problems)
        }
    }

    /// The requests one input event asks for (usually zero or one).
    pub fn handle(&self, input: &InputMessage<'_>) -> Vec<Result<Request, CommandError>> {
        self.table
            .iter()
            .filter(|b| b.input == input.input)
            .filter_map(|b| match (&b.trigger, input.signal, &b.action) {
                (Trigger::Button(want), Signal::Button(got), _) if *want == got => {
                    Some(b.action.request(None))
                }
                (Trigger::Presence(want), Signal::Presence(got), _) if *want == got => {
                    Some(b.action.request(None))
                }
                (Trigger::Any, Signal::Level(v), Action::Param { .. }) => {
                    Some(b.action.request(Some(v)))
                }
                (Trigger::Any, Signal::Level(_) | Signal::Delta(_), Action::Command { .. }) => {
                    Some(b.action.request(None))
                }
                _ => None,
            })
            .collect()
    }
}

impl Action {
    fn request(&self, level: Option<f32>) -> Result<Request, CommandError> {
        match self {
            Action::Command { name, payload } => {
                command::parse(name, payload.to_string().as_bytes(), usize::MAX)
            }
            Action::Param { name, lo, hi } => {
                // Hundredths: a knob's ADC steps are not a speed anyone
                // sees, and the retained state should not carry 9.207999.
                let v = lo + level.unwrap_or(0.0).clamp(0.0, 1.0) * (hi - lo);
                let v = (v * 100.0).round() / 100.0;
                command::parse(
                    "params",
                    serde_json::json!({ name: v }).to_string().as_bytes(),
                    usize::MAX,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piece::command::{Command, Mode};

    fn fire(b: &Bindings, json: &str) -> Vec<Command> {
        let input: InputMessage = serde_json::from_str(json).unwrap();
        b.handle(&input)
            .into_iter()
            .map(|r| r.unwrap().command)
            .collect()
    }

    #[test]
    fn contract_defaults() {
        let b = Bindings::defaults();
        // (input, expected commands): the contract's table as data.
        let table: Vec<(&str, Vec<Command>)> = vec![
            (
                r#"{"input":"button1","event":"click"}"#,
                vec![Command::Generate {
                    seed: None,
                    model: None,
                }],
            ),
            (
                r#"{"input":"button1","event":"long"}"#,
                vec![Command::NextModel],
            ),
            (r#"{"input":"button1","event":"press"}"#, vec![]),
            (
                r#"{"input":"button2","event":"click"}"#,
                vec![Command::ToggleMode],
            ),
            (
                r#"{"input":"knob1","value":0.0}"#,
                vec![Command::Params {
                    seconds: Some(20.0),
                    fps: None,
                }],
            ),
            (
                r#"{"input":"knob1","value":1.0}"#,
                vec![Command::Params {
                    seconds: Some(1.0),
                    fps: None,
                }],
            ),
            // Rounded to hundredths: 20 - 0.568 * 19 = 9.208.
            (
                r#"{"input":"knob1","value":0.568}"#,
                vec![Command::Params {
                    seconds: Some(9.21),
                    fps: None,
                }],
            ),
            (r#"{"input":"presence","value":true}"#, vec![Command::Wake]),
            (r#"{"input":"presence","value":false}"#, vec![]),
            (r#"{"input":"button9","event":"click"}"#, vec![]),
        ];
        for (input, want) in table {
            assert_eq!(fire(&b, input), want, "{input}");
        }
    }

    #[test]
    fn config_tables_replace_the_defaults() {
        let raw: Vec<RawBinding> = toml::from_str::<toml::Table>(
            r#"
[[bind]]
input = "button1"
event = "double"
command = "mode"
payload = { mode = "morph", seconds = 3.0 }
[[bind]]
input = "knob2"
param = "fps"
range = [1.0, 25.0]
"#,
        )
        .unwrap()["bind"]
            .clone()
            .try_into()
            .unwrap();
        let b = Bindings::from_raw(&raw).unwrap();
        assert_eq!(
            fire(&b, r#"{"input":"button1","event":"double"}"#),
            vec![Command::Mode {
                mode: Mode::Morph,
                seconds: Some(3.0),
                fps: None
            }]
        );
        assert_eq!(fire(&b, r#"{"input":"button1","event":"click"}"#), vec![]);
        assert_eq!(
            fire(&b, r#"{"input":"knob2","value":0.5}"#),
            vec![Command::Params {
                seconds: None,
                fps: Some(13.0)
            }]
        );
    }

    #[test]
    fn capture_is_bindable() {
        let raw: Vec<RawBinding> = toml::from_str::<toml::Table>(
            r#"
[[bind]]
input = "button3"
event = "click"
command = "capture"
[[bind]]
input = "presence"
value = true
command = "capture"
payload = { model = "style-256" }
"#,
        )
        .unwrap()["bind"]
            .clone()
            .try_into()
            .unwrap();
        let b = Bindings::from_raw(&raw).unwrap();
        assert_eq!(
            fire(&b, r#"{"input":"button3","event":"click"}"#),
            vec![Command::Capture { model: None }]
        );
        assert_eq!(
            fire(&b, r#"{"input":"presence","value":true}"#),
            vec![Command::Capture {
                model: Some("style-256".into())
            }]
        );
    }

    #[test]
    fn bad_tables_are_config_errors() {
        let bad = |b: RawBinding| Bindings::from_raw(&[b]).unwrap_err();
        let base = RawBinding {
            input: "b".into(),
            ..Default::default()
        };
        bad(RawBinding {
            command: Some("explode".into()),
            ..base.clone()
        });
        bad(RawBinding {
            param: Some("volume".into()),
            ..base.clone()
        });
        bad(RawBinding { ..base.clone() });
        bad(RawBinding {
            command: Some("generate".into()),
            param: Some("fps".into()),
            ..base.clone()
        });
        let mut payload = toml::Table::new();
        payload.insert("seed".into(), "x".into());
        bad(RawBinding {
            command: Some("generate".into()),
            payload: Some(payload),
            ..base.clone()
        });
        // Two bindings on one input and event: the second is refused, with
        // its index, naming the first.
        let click = RawBinding {
            input: "button1".into(),
            event: Some(ButtonEvent::Click),
            command: Some("generate".into()),
            ..base
        };
        let capture = RawBinding {
            command: Some("capture".into()),
            ..click.clone()
        };
        let problems = Bindings::from_raw(&[click.clone(), capture]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, 1);
        assert!(
            problems[0].1.contains("bound already by bind #1"),
            "{problems:?}"
        );
        let long = RawBinding {
            event: Some(ButtonEvent::Long),
            ..click.clone()
        };
        assert!(Bindings::from_raw(&[click, long]).is_ok());
    }
}
