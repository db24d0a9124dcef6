//! Commands on `P/N/cmd/<name>` and `P/all/cmd/<name>`: their names and
//! the JSON objects they carry, as the daemon reads them and the tools
//! write them.
//!
//! | command | payload |
//! |---|---|
//! | `generate` | `GeneratePayload` `{"seed"?, "model"?}` |
//! | `capture` | `CapturePayload` `{"model"?}` |
//! | `model`, `rollback` | `ModelPayload` `{"name"}` |
//! | `activate` | `VersionPayload` `{"version"}` |
//! | `mode` | `ModePayload` `{"mode", "seconds"?, "fps"?}` |
//! | `params` | `ParamsPayload` `{"seconds"?, "fps"?}` |
//! | `next_model`, `toggle_mode`, `wake` | `BarePayload` `{}` (or empty) |
//! | `scene` | `ScenePayload` `{"action", "name"}` |
//!
//! Every payload may carry a `request_id`, which the answer echoes.
//! Unknown fields are refused (a typo must not be ignored). Only the
//! shapes live here: the daemon keeps the checks that need its policy
//! (payload size, value ranges, model and scene names, the request id
//! recovered from a payload that fails them). Names and the two enums are
//! `no_std`; the payload structs need the `std` feature.

use serde::{Deserialize, Serialize};

pub const GENERATE: &str = "generate";
pub const CAPTURE: &str = "capture";
pub const MODEL: &str = "model";
pub const ROLLBACK: &str = "rollback";
pub const ACTIVATE: &str = "activate";
pub const MODE: &str = "mode";
pub const PARAMS: &str = "params";
pub const NEXT_MODEL: &str = "next_model";
pub const TOGGLE_MODE: &str = "toggle_mode";
pub const WAKE: &str = "wake";
pub const SCENE: &str = "scene";

/// Every command name the daemon knows.
pub const NAMES: [&str; 11] = [
    GENERATE,
    CAPTURE,
    MODEL,
    ROLLBACK,
    ACTIVATE,
    MODE,
    PARAMS,
    NEXT_MODEL,
    TOGGLE_MODE,
    WAKE,
    SCENE,
];

/// Longest `request_id` echoed, in characters; a longer one is cut.
pub const MAX_REQUEST_ID: usize = 128;

/// How the piece shows pictures: `state.mode` and the `mode` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Still,
    Morph,
    Live,
}

impl Mode {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Still => "still",
            Mode::Morph => "morph",
            Mode::Live => "live",
        }
    }
}

/// What the `scene` command does with a saved scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SceneAction {
    Save,
    Recall,
    Delete,
}

impl SceneAction {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SceneAction::Save => "save",
            SceneAction::Recall => "recall",
            SceneAction::Delete => "delete",
        }
    }
}

#[cfg(feature = "std")]
pub use payload::{
    BarePayload, CapturePayload, GeneratePayload, ModePayload, ModelPayload, ParamsPayload,
    ScenePayload, VersionPayload,
};

/// Optional fields are left out when `None` (the daemon reads a missing
/// field and a `null` alike), so a payload a tool writes is what a person
/// would type.
#[cfg(feature = "std")]
mod payload {
    use super::{Mode, SceneAction};
    use serde::{Deserialize, Serialize};
    use std::string::String;

    /// `generate`: a picture from `seed` (random when `None`) with `model`
    /// (the current one when `None`).
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct GeneratePayload {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub request_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub seed: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
    }

    /// `capture`: one frame from the source, re-painted by an image model.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CapturePayload {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub request_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub model: Option<String>,
    }

    /// `model` (make it current) and `rollback` (its previous deployed
    /// version current again).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ModelPayload {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub request_id: Option<String>,
        pub name: String,
    }

    /// `activate`: a deployed version (`<name>-<8 hex digits>`, staged by
    /// a deploy without activation, or installed) becomes current.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct VersionPayload {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub request_id: Option<String>,
        pub version: String,
    }

    /// `mode`, with the live parameters to change at the same time.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ModePayload {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub request_id: Option<String>,
        pub mode: Mode,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub seconds: Option<f32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub fps: Option<f32>,
    }

    /// `params`: live parameters without changing the mode.
    #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ParamsPayload {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub request_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub seconds: Option<f32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub fps: Option<f32>,
    }

    /// `next_model`, `toggle_mode`, `wake`: no arguments.
    #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct BarePayload {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub request_id: Option<String>,
    }

    /// `scene`: save, recall or delete a favourite by name.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ScenePayload {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub request_id: Option<String>,
        pub action: SceneAction,
        pub name: String,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn names_are_distinct_slugs() {
        for (i, name) in NAMES.iter().enumerate() {
            assert!(crate::is_valid_model_name(name), "{name}");
            assert!(!NAMES[..i].contains(name), "{name} twice");
        }
    }

    #[test]
    fn enums_on_the_wire() {
        for mode in [Mode::Still, Mode::Morph, Mode::Live] {
            let json = serde_json::to_string(&mode).unwrap();
            assert_eq!(json, std::format!("\"{}\"", mode.as_str()));
            assert_eq!(serde_json::from_str::<Mode>(&json).unwrap(), mode);
        }
        for action in [SceneAction::Save, SceneAction::Recall, SceneAction::Delete] {
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, std::format!("\"{}\"", action.as_str()));
            assert_eq!(serde_json::from_str::<SceneAction>(&json).unwrap(), action);
        }
        assert!(serde_json::from_str::<Mode>(r#""party""#).is_err());
        assert!(serde_json::from_str::<Mode>(r#""Still""#).is_err());
    }
}

#[cfg(all(test, feature = "std"))]
mod payload_tests {
    use super::*;

    #[test]
    fn tools_write_what_a_person_would_type() {
        let cases = [
            (
                serde_json::to_string(&GeneratePayload::default()).unwrap(),
                "{}",
            ),
            (
                serde_json::to_string(&GeneratePayload {
                    request_id: Some("abc".into()),
                    seed: Some(7),
                    model: Some("dcgan-64".into()),
                })
                .unwrap(),
                r#"{"request_id":"abc","seed":7,"model":"dcgan-64"}"#,
            ),
            (
                serde_json::to_string(&ModePayload {
                    request_id: None,
                    mode: Mode::Morph,
                    seconds: Some(2.5),
                    fps: None,
                })
                .unwrap(),
                r#"{"mode":"morph","seconds":2.5}"#,
            ),
            (
                serde_json::to_string(&ScenePayload {
                    request_id: None,
                    action: SceneAction::Recall,
                    name: "blue-1".into(),
                })
                .unwrap(),
                r#"{"action":"recall","name":"blue-1"}"#,
            ),
            (
                serde_json::to_string(&ModelPayload {
                    request_id: Some("r".into()),
                    name: "x".into(),
                })
                .unwrap(),
                r#"{"request_id":"r","name":"x"}"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn the_daemons_contract_payloads_read() {
        let g: GeneratePayload =
            serde_json::from_str(r#"{"seed":7,"model":"dcgan-64","request_id":"abc"}"#).unwrap();
        assert_eq!(
            g,
            GeneratePayload {
                request_id: Some("abc".into()),
                seed: Some(7),
                model: Some("dcgan-64".into())
            }
        );
        // `null` reads like a missing field.
        let g: GeneratePayload = serde_json::from_str(r#"{"seed":null}"#).unwrap();
        assert_eq!(g, GeneratePayload::default());
        let m: ModePayload =
            serde_json::from_str(r#"{"mode":"morph","seconds":4,"fps":0}"#).unwrap();
        assert_eq!(
            (m.mode, m.seconds, m.fps),
            (Mode::Morph, Some(4.0), Some(0.0))
        );
        let p: ParamsPayload = serde_json::from_str(r#"{"fps":6}"#).unwrap();
        assert_eq!((p.seconds, p.fps), (None, Some(6.0)));
        assert_eq!(
            serde_json::from_str::<CapturePayload>(r#"{"model":"style-256"}"#)
                .unwrap()
                .model
                .as_deref(),
            Some("style-256")
        );
        assert_eq!(
            serde_json::from_str::<BarePayload>("{}").unwrap(),
            BarePayload::default()
        );
        let s: ScenePayload = serde_json::from_str(r#"{"action":"save","name":"blue-1"}"#).unwrap();
        assert_eq!((s.action, s.name.as_str()), (SceneAction::Save, "blue-1"));
    }

    #[test]
    fn shapes_that_are_refused() {
        let refused = [
            serde_json::from_str::<GeneratePayload>(r#"{"sed":1}"#).is_err(),
            serde_json::from_str::<GeneratePayload>(r#"{"seed":-1}"#).is_err(),
            serde_json::from_str::<GeneratePayload>(r#"{"seed":"x","request_id":"r"}"#).is_err(),
            serde_json::from_str::<CapturePayload>(r#"{"seed":1}"#).is_err(),
            serde_json::from_str::<ModelPayload>("{}").is_err(),
            serde_json::from_str::<ModePayload>(r#"{"mode":"party"}"#).is_err(),
            serde_json::from_str::<ModePayload>(r#"{"seconds":1}"#).is_err(),
            serde_json::from_str::<BarePayload>(r#"{"now":true}"#).is_err(),
            serde_json::from_str::<ScenePayload>(r#"{"action":"keep","name":"a"}"#).is_err(),
            serde_json::from_str::<ScenePayload>(r#"{"name":"a"}"#).is_err(),
        ];
        for (i, refused) in refused.into_iter().enumerate() {
            assert!(refused, "case {i} was accepted");
        }
    }

    #[test]
    fn round_trips() {
        let mode = ModePayload {
            request_id: Some("q".into()),
            mode: Mode::Live,
            seconds: None,
            fps: Some(24.0),
        };
        let json = serde_json::to_string(&mode).unwrap();
        assert_eq!(serde_json::from_str::<ModePayload>(&json).unwrap(), mode);
        let params = ParamsPayload {
            request_id: None,
            seconds: Some(1.0),
            fps: Some(0.0),
        };
        let json = serde_json::to_string(&params).unwrap();
        assert_eq!(
            serde_json::from_str::<ParamsPayload>(&json).unwrap(),
            params
        );
    }
}
