//! Commands (docs/contract.md, `P/N/cmd/<command>`): decoding and checking
//! payloads. Pure: bytes in, a `Request` or an error with its code out.
//!
//! The `request_id` is recovered from any JSON object, even one that fails
//! later checks, so the error event can echo it.

use easel_protocol::command::{
    self as names, BarePayload, CapturePayload, GeneratePayload, MAX_REQUEST_ID, ModePayload,
    ModelPayload, ParamsPayload, ScenePayload, VersionPayload,
};
pub use easel_protocol::command::{Mode, SceneAction};

/// Largest command payload accepted by default (`mqtt.max_payload`).
pub const DEFAULT_MAX_PAYLOAD: usize = 16 * 1024;

/// What the piece should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Generate {
        seed: Option<u64>,
        model: Option<String>,
    },
    Model {
        name: String,
    },
    Mode {
        mode: Mode,
        seconds: Option<f32>,
        fps: Option<f32>,
    },
    /// Live parameters without changing the mode (a knob, a technician).
    Params {
        seconds: Option<f32>,
        fps: Option<f32>,
    },
    /// The next loaded model, in load order (a button's long press).
    NextModel,
    /// Still <-> morph (a button).
    ToggleMode,
    /// Someone is there: leave attract mode.
    Wake,
    /// The deployed model's previous version becomes current again.
    Rollback {
        name: String,
    },
    /// A deployed version (staged or installed) becomes current.
    Activate {
        version: String,
    },
    /// One frame from the source, re-painted by an image model, archived
    /// and shown (`piece/capture.rs`).
    Capture {
        model: Option<String>,
    },
    /// Favourite seeds: save the current picture's model and seed under a
    /// name, or recall one (kept in `data_dir`, survive restarts).
    Scene {
        action: SceneAction,
        name: String,
    },
}

/// A command with the id its answer must echo.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_id: Option<String>,
    pub command: Command,
}

/// A refused command; `code` is stable, `message` for people.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CommandError {
    pub request_id: Option<String>,
    pub code: &'static str,
    pub message: String,
}

/// `seconds` and `fps` share one sane range.
fn check_rates(
    request_id: &Option<String>,
    name: &str,
    values: [(&str, Option<f32>); 2],
) -> Result<(), CommandError> {
    for (key, v) in values {
        if let Some(v) = v
            && !(v.is_finite() && (0.0..=3600.0).contains(&v))
        {
            return Err(CommandError {
                request_id: request_id.clone(),
                code: "bad_request",
                message: format!("{name}: {key} must be within 0..=3600"),
            });
        }
    }
    Ok(())
}

/// Decodes the payload of command `name`.
pub fn parse(name: &str, payload: &[u8], max_payload: usize) -> Result<Request, CommandError> {
    let fail = |request_id, code, message: String| CommandError {
        request_id,
        code,
        message,
    };
    if payload.len() > max_payload {
        return Err(fail(
            None,
            "payload_too_large",
            format!("{} bytes; the limit is {max_payload}", payload.len()),
        ));
    }
    // An empty payload means "no arguments" for commands that need none.
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        payload
    };
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| fail(None, "invalid_json", format!("payload is not JSON: {e}")))?;
    let request_id = value
        .get("request_id")
        .and_then(|v| v.as_str())
        .map(|s| s.chars().take(MAX_REQUEST_ID).collect());
    if !value.is_object() {
        return Err(fail(
            request_id,
            "bad_request",
            "payload must be a JSON object".into(),
        ));
    }
    let bad =
        |e: serde_json::Error| fail(request_id.clone(), "bad_request", format!("{name}: {e}"));
    let (rid, command) = match name {
        names::GENERATE => {
            let p: GeneratePayload = serde_json::from_value(value.clone()).map_err(bad)?;
            (
                p.request_id,
                Command::Generate {
                    seed: p.seed,
                    model: p.model,
                },
            )
        }
        names::CAPTURE => {
            let p: CapturePayload = serde_json::from_value(value.clone()).map_err(bad)?;
            (p.request_id, Command::Capture { model: p.model })
        }
        names::MODEL => {
            let p: ModelPayload = serde_json::from_value(value.clone()).map_err(bad)?;
            (p.request_id, Command::Model { name: p.name })
        }
        names::ROLLBACK => {
            let p: ModelPayload = serde_json::from_value(value.clone()).map_err(bad)?;
            (p.request_id, Command::Rollback { name: p.name })
        }
        names::ACTIVATE => {
            let p: VersionPayload = serde_json::from_value(value.clone()).map_err(bad)?;
            if crate::deploy::store::name_of(&p.version).is_none() {
                return Err(fail(
                    request_id,
                    "bad_request",
                    format!(
                        "activate: {:?} is not a version (<name>-<8 hex digits>)",
                        p.version
                    ),
                ));
            }
            (p.request_id, Command::Activate { version: p.version })
        }
        names::MODE => {
            let p: ModePayload = serde_json::from_value(value.clone()).map_err(bad)?;
            check_rates(&request_id, name, [("seconds", p.seconds), ("fps", p.fps)])?;
            (
                p.request_id,
                Command::Mode {
                    mode: p.mode,
                    seconds: p.seconds,
                    fps: p.fps,
                },
            )
        }
        names::PARAMS => {
            let p: ParamsPayload = serde_json::from_value(value.clone()).map_err(bad)?;
            check_rates(&request_id, name, [("seconds", p.seconds), ("fps", p.fps)])?;
            (
                p.request_id,
                Command::Params {
                    seconds: p.seconds,
                    fps: p.fps,
                },
            )
        }
        names::NEXT_MODEL | names::TOGGLE_MODE | names::WAKE => {
            let p: BarePayload = serde_json::from_value(value.clone()).map_err(bad)?;
            let command = match name {
                names::NEXT_MODEL => Command::NextModel,
                names::TOGGLE_MODE => Command::ToggleMode,
                _ => Command::Wake,
            };
            (p.request_id, command)
        }
        names::SCENE => {
            let p: ScenePayload = serde_json::from_value(value.clone()).map_err(bad)?;
            if !easel_protocol::is_valid_model_name(&p.name) {
                return Err(fail(
                    request_id,
                    "bad_request",
                    format!("scene: {:?} is not [a-z0-9_-]{{1,64}}", p.name),
                ));
            }
            (
                p.request_id,
                Command::Scene {
                    action: p.action,
                    name: p.name,
                },
            )
        }
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(fail(
                request_id,
                "unknown_command",
                format!("unknown command {shown:?}"),
            ));
        }
    };
    if let Command::Generate { model: Some(m), .. }
    | Command::Capture { model: Some(m) }
    | Command::Model { name: m }
    | Command::Rollback { name: m } = &command
        && !easel_protocol::is_valid_model_name(m)
    {
        return Err(fail(
            rid,
            "unknown_model",
            format!("{m:?} is not a model name"),
        ));
    }
    Ok(Request {
        request_id: rid.map(|s| s.chars().take(MAX_REQUEST_ID).collect()),
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, payload: &str) -> Request {
        parse(name, payload.as_bytes(), DEFAULT_MAX_PAYLOAD).unwrap()
    }

    fn code(name: &str, payload: &[u8]) -> (&'static str, Option<String>) {
        let e = parse(name, payload, DEFAULT_MAX_PAYLOAD).unwrap_err();
        (e.code, e.request_id)
    }

    #[test]
    fn contract_commands() {
        assert_eq!(
            ok("generate", "{}").command,
            Command::Generate {
                seed: None,
                model: None
            }
        );
        assert_eq!(
            ok("generate", "").command,
            Command::Generate {
                seed: None,
                model: None
            }
        );
        let r = ok(
            "generate",
            r#"{"seed":7,"model":"dcgan-64","request_id":"abc"}"#,
        );
        assert_eq!(r.request_id.as_deref(), Some("abc"));
        assert_eq!(
            r.command,
            Command::Generate {
                seed: Some(7),
                model: Some("dcgan-64".into())
            }
        );
        assert_eq!(
            ok("model", r#"{"name":"x"}"#).command,
            Command::Model { name: "x".into() }
        );
        assert_eq!(
            ok("mode", r#"{"mode":"morph","seconds":4,"fps":0}"#).command,
            Command::Mode {
                mode: Mode::Morph,
                seconds: Some(4.0),
                fps: Some(0.0)
            }
        );
        assert_eq!(
            ok("params", r#"{"fps":6}"#).command,
            Command::Params {
                seconds: None,
                fps: Some(6.0)
            }
        );
        assert_eq!(ok("next_model", "").command, Command::NextModel);
        assert_eq!(ok("toggle_mode", "{}").command, Command::ToggleMode);
        assert_eq!(ok("wake", "{}").command, Command::Wake);
        assert_eq!(
            ok("rollback", r#"{"name":"dcgan-64"}"#).command,
            Command::Rollback {
                name: "dcgan-64".into()
            }
        );
        assert_eq!(code("rollback", br#"{"name":"../x"}"#).0, "unknown_model");
        assert_eq!(
            ok("activate", r#"{"version":"dcgan-64-db208809"}"#).command,
            Command::Activate {
                version: "dcgan-64-db208809".into()
            }
        );
        assert_eq!(
            code("activate", br#"{"version":"../x-db208809"}"#).0,
            "bad_request"
        );
        assert_eq!(ok("capture", "").command, Command::Capture { model: None });
        assert_eq!(
            ok("capture", r#"{"model":"style-256"}"#).command,
            Command::Capture {
                model: Some("style-256".into())
            }
        );
        assert_eq!(code("capture", br#"{"model":"../x"}"#).0, "unknown_model");
        assert_eq!(code("capture", br#"{"seed":1}"#).0, "bad_request");
        assert_eq!(
            ok("scene", r#"{"action":"save","name":"blue-1"}"#).command,
            Command::Scene {
                action: SceneAction::Save,
                name: "blue-1".into()
            }
        );
    }

    #[test]
    fn refusals_have_codes_and_keep_request_id() {
        assert_eq!(code("generate", b"{nope"), ("invalid_json", None));
        assert_eq!(
            code("generate", br#"{"seed":"x","request_id":"r"}"#),
            ("bad_request", Some("r".into()))
        );
        assert_eq!(code("generate", br#"{"seed":-1}"#).0, "bad_request");
        assert_eq!(code("generate", br#"{"sed":1}"#).0, "bad_request");
        assert_eq!(code("generate", b"[1]").0, "bad_request");
        assert_eq!(
            code("explode", br#"{"request_id":"q"}"#),
            ("unknown_command", Some("q".into()))
        );
        assert_eq!(code("model", br#"{"name":"../x"}"#).0, "unknown_model");
        assert_eq!(code("mode", br#"{"mode":"party"}"#).0, "bad_request");
        assert_eq!(
            code("mode", br#"{"mode":"morph","fps":-1}"#).0,
            "bad_request"
        );
        assert_eq!(code("params", br#"{"seconds":1e9}"#).0, "bad_request");
        assert_eq!(
            code("scene", br#"{"action":"save","name":"../x"}"#).0,
            "bad_request"
        );
        assert_eq!(code("wake", br#"{"now":true}"#).0, "bad_request");
        let huge = vec![b' '; DEFAULT_MAX_PAYLOAD + 1];
        assert_eq!(code("generate", &huge).0, "payload_too_large");
    }
}
