//! Commands (CONTRACT.md, `P/N/cmd/<command>`): decoding and checking
//! payloads. Pure: bytes in, a `Request` or an error with its code out.
//!
//! The `request_id` is recovered from any JSON object, even one that fails
//! later checks, so the error event can echo it.

use serde::Deserialize;

/// Largest command payload accepted by default (`mqtt.max_payload`).
pub const DEFAULT_MAX_PAYLOAD: usize = 16 * 1024;

/// What the piece should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Generate { seed: Option<u64>, model: Option<String> },
    Model { name: String },
    Mode { mode: Mode, seconds: Option<f32>, fps: Option<f32> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Still,
    Morph,
    Live,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeneratePayload {
    request_id: Option<String>,
    seed: Option<u64>,
    model: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelPayload {
    request_id: Option<String>,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModePayload {
    request_id: Option<String>,
    mode: Mode,
    seconds: Option<f32>,
    fps: Option<f32>,
}

/// Decodes the payload of command `name`.
pub fn parse(name: &str, payload: &[u8], max_payload: usize) -> Result<Request, CommandError> {
    let fail = |request_id, code, message: String| CommandError { request_id, code, message };
    if payload.len() > max_payload {
        return Err(fail(None, "payload_too_large", format!("{} bytes; the limit is {max_payload}", payload.len())));
    }
    // An empty payload means "no arguments" for commands that need none.
    let payload = if payload.iter().all(u8::is_ascii_whitespace) { &b"{}"[..] } else { payload };
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| fail(None, "invalid_json", format!("payload is not JSON: {e}")))?;
    let request_id = value.get("request_id").and_then(|v| v.as_str()).map(|s| s.chars().take(128).collect());
    if !value.is_object() {
        return Err(fail(request_id, "bad_request", "payload must be a JSON object".into()));
    }
    let bad = |e: serde_json::Error| fail(request_id.clone(), "bad_request", format!("{name}: {e}"));
    let (rid, command) = match name {
        "generate" => {
            let p: GeneratePayload = serde_json::from_value(value.clone()).map_err(bad)?;
            (p.request_id, Command::Generate { seed: p.seed, model: p.model })
        }
        "model" => {
            let p: ModelPayload = serde_json::from_value(value.clone()).map_err(bad)?;
            (p.request_id, Command::Model { name: p.name })
        }
        "mode" => {
            let p: ModePayload = serde_json::from_value(value.clone()).map_err(bad)?;
            for (key, v) in [("seconds", p.seconds), ("fps", p.fps)] {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0 && v <= 3600.0)
                {
                    return Err(fail(request_id, "bad_request", format!("mode: {key} must be within 0..=3600")));
                }
            }
            (p.request_id, Command::Mode { mode: p.mode, seconds: p.seconds, fps: p.fps })
        }
        other => {
            let shown: String = other.chars().take(64).collect();
            return Err(fail(request_id, "unknown_command", format!("unknown command {shown:?}")));
        }
    };
    if let Command::Generate { model: Some(m), .. } | Command::Model { name: m } = &command
        && !easel_protocol::is_valid_model_name(m)
    {
        return Err(fail(rid, "unknown_model", format!("{m:?} is not a model name")));
    }
    Ok(Request { request_id: rid.map(|s| s.chars().take(128).collect()), command })
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
        assert_eq!(ok("generate", "{}").command, Command::Generate { seed: None, model: None });
        assert_eq!(ok("generate", "").command, Command::Generate { seed: None, model: None });
        let r = ok("generate", r#"{"seed":7,"model":"dcgan-64","request_id":"abc"}"#);
        assert_eq!(r.request_id.as_deref(), Some("abc"));
        assert_eq!(r.command, Command::Generate { seed: Some(7), model: Some("dcgan-64".into()) });
        assert_eq!(ok("model", r#"{"name":"x"}"#).command, Command::Model { name: "x".into() });
        assert_eq!(
            ok("mode", r#"{"mode":"morph","seconds":4,"fps":0}"#).command,
            Command::Mode { mode: Mode::Morph, seconds: Some(4.0), fps: Some(0.0) }
        );
    }

    #[test]
    fn refusals_have_codes_and_keep_request_id() {
        assert_eq!(code("generate", b"{nope"), ("invalid_json", None));
        assert_eq!(code("generate", br#"{"seed":"x","request_id":"r"}"#), ("bad_request", Some("r".into())));
        assert_eq!(code("generate", br#"{"seed":-1}"#).0, "bad_request");
        assert_eq!(code("generate", br#"{"sed":1}"#).0, "bad_request");
        assert_eq!(code("generate", b"[1]").0, "bad_request");
        assert_eq!(code("explode", br#"{"request_id":"q"}"#), ("unknown_command", Some("q".into())));
        assert_eq!(code("model", br#"{"name":"../x"}"#).0, "unknown_model");
        assert_eq!(code("mode", br#"{"mode":"party"}"#).0, "bad_request");
        assert_eq!(code("mode", br#"{"mode":"morph","fps":-1}"#).0, "bad_request");
        let huge = vec![b' '; DEFAULT_MAX_PAYLOAD + 1];
        assert_eq!(code("generate", &huge).0, "payload_too_large");
    }
}
