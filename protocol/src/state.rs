//! The piece's state as the world sees it: the retained `P/N/state`
//! payload, also served as `/api/state`. Current model, mode, seed,
//! params, the loaded and the deployed models, the frame source, the
//! version, and the newest picture.
//!
//! The daemon fills it in (`ModelSummary` from the engine's model info is
//! the daemon's conversion: the engine is not part of the contract) and
//! serialises it unchanged; tools and pages read it back. Optional fields
//! are always written (`null`). A retained state outlives the daemon that
//! wrote it, so reading is lenient: missing optional fields, lists and
//! flags take their empty value, and fields this version does not know are
//! ignored.

use crate::command::Mode;
use serde::{Deserialize, Serialize};
use std::string::String;
use std::vec::Vec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub node: String,
    pub version: String,
    /// The current model; `None` only while nothing could be loaded.
    pub model: Option<String>,
    pub mode: Mode,
    /// Seed of the newest picture, when it came from one.
    pub seed: Option<u64>,
    pub params: Params,
    #[serde(default)]
    pub models: Vec<ModelSummary>,
    pub latest: Option<Latest>,
    /// Nobody has been around for a while: a slow morph is running.
    #[serde(default)]
    pub attract: bool,
    /// Names of the saved scenes.
    #[serde(default)]
    pub scenes: Vec<String>,
    /// Deployed models and their versions (`data_dir/deploy`), by name.
    #[serde(default)]
    pub installed: Vec<Installed>,
    /// The frame source for image models (`source` in the config): whether
    /// it works, and the warning when it does not.
    pub source: Option<SourceStatus>,
    /// Content Credentials: whether pictures are signed, by whom, and the
    /// warning when they cannot be.
    #[serde(default)]
    pub credentials: Option<CredentialsStatus>,
    /// The board's health (disk, memory, temperature, throttling): `None`
    /// until the daemon has read it once.
    #[serde(default)]
    pub board: Option<BoardStatus>,
    /// Opening hours (`[schedule]`): `None` without a schedule (always open).
    #[serde(default)]
    pub schedule: Option<ScheduleStatus>,
}

impl State {
    /// Outside opening hours: the screen black, the engine idle.
    pub fn closed(&self) -> bool {
        self.schedule.as_ref().is_some_and(|s| !s.open)
    }
}

/// Whether the piece is open, and when that next changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    pub open: bool,
    /// RFC 3339 in UTC; `None` when it never changes.
    pub next_change: Option<String>,
    /// The zone the hours are kept in (`Europe/Vienna`).
    pub timezone: String,
}

/// Live parameters a technician or a knob can change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Morph mode: seconds from one seed to the next.
    pub seconds: f32,
    /// Target frame rate in morph mode; 0 = as fast as possible.
    pub fps: f32,
    /// Target frame rate in live mode, kept apart from morph's: `mode live
    /// --fps 2` must not slow the next morph. Older daemons did not write
    /// it (then the default).
    #[serde(default = "default_live_fps")]
    pub live_fps: f32,
}

fn default_live_fps() -> f32 {
    Params::default().live_fps
}

impl Params {
    /// Applies the values given, keeps the others.
    pub fn set(&mut self, seconds: Option<f32>, fps: Option<f32>) {
        if let Some(seconds) = seconds {
            self.seconds = seconds;
        }
        if let Some(fps) = fps {
            self.fps = fps;
        }
    }

    /// Applies a live frame rate, if given.
    pub fn set_live(&mut self, fps: Option<f32>) {
        if let Some(fps) = fps {
            self.live_fps = fps;
        }
    }
}

impl Default for Params {
    fn default() -> Params {
        Params {
            seconds: 8.0,
            fps: 12.0,
            live_fps: 12.0,
        }
    }
}

/// One loaded model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    /// The engine's model kind as text: `latent`, `image` or `cppn`.
    pub kind: String,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    /// The inference engine running it: `tract` or `onnxruntime` (`None`
    /// from daemons that did not name it).
    #[serde(default)]
    pub engine: Option<String>,
    /// Where that engine runs its operators: `cpu`, `cuda`, `tensorrt`.
    #[serde(default)]
    pub provider: Option<String>,
    /// Why it runs on another engine or provider than the installation
    /// asked for (an onnxruntime fallback); empty when it does not.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The newest archived picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub id: String,
    pub url: String,
    pub model: String,
    pub seed: Option<u64>,
    pub width: u32,
    pub height: u32,
    /// The picture carries a signed C2PA manifest (Content Credentials).
    #[serde(default)]
    pub content_credentials: bool,
}

/// One deployed model in `state.installed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub name: String,
    pub current: String,
    pub previous: Option<String>,
}

/// Content Credentials as `state.credentials` and `/healthz` describe them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsStatus {
    /// True while archived pictures are signed.
    pub signing: bool,
    /// The signing certificate's subject.
    pub signer: Option<String>,
    /// `configured` (`[credentials]` in the config) or `installation`
    /// (made by the daemon in its data folder).
    pub origin: String,
    pub warning: Option<String>,
}

/// The source as `state.source` and `/healthz` describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// The configured source (empty while starting).
    pub uri: String,
    /// False while the configured source fails.
    pub ok: bool,
    /// Where the frames come from now: the source, the fallback pattern,
    /// or `None` (no frames: still images).
    pub showing: Option<String>,
    pub warning: Option<String>,
}

/// The board as `state.board` describes it. Every reading is `None` where
/// the board does not expose it. Republished when something moved enough
/// to matter (not on every reading), so the numbers may lag `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardStatus {
    /// Free to the daemon on the filesystem of its data folder.
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
    /// The kernel's `MemAvailable`.
    pub memory_available_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    /// The CPU's temperature (its hottest CPU sensor), in tenths.
    pub temperature_c: Option<f32>,
    /// Raspberry Pi firmware's throttling flags (`get_throttled`), as
    /// `vcgencmd get_throttled` prints them, e.g. `0x50005`.
    pub throttled: Option<String>,
    /// What a technician should know: low disk, hot, throttled now.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl State {
    /// The state of a piece that has loaded nothing yet. `version` is the
    /// daemon's (`env!("CARGO_PKG_VERSION")` of easeld), passed in so this
    /// crate's own version never stands in for it.
    pub fn new(node: &str, version: &str) -> State {
        State {
            node: node.into(),
            version: version.into(),
            model: None,
            mode: Mode::Still,
            seed: None,
            params: Params::default(),
            models: Vec::new(),
            latest: None,
            attract: false,
            scenes: Vec::new(),
            installed: Vec::new(),
            source: None,
            credentials: None,
            board: None,
            schedule: None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("state always serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn full() -> State {
        State {
            model: Some("dcgan-64".into()),
            mode: Mode::Live,
            seed: Some(7),
            params: Params {
                seconds: 2.5,
                fps: 0.0,
                live_fps: 5.0,
            },
            models: vec![ModelSummary {
                name: "dcgan-64".into(),
                kind: "latent".into(),
                sha256: "ab".into(),
                width: 64,
                height: 64,
                engine: Some("onnxruntime".into()),
                provider: Some("cpu".into()),
                warnings: vec![],
            }],
            latest: Some(Latest {
                id: "abc".into(),
                url: "/images/abc.png".into(),
                model: "dcgan-64".into(),
                seed: None,
                width: 64,
                height: 64,
                content_credentials: true,
            }),
            attract: true,
            scenes: vec!["blue-1".into()],
            installed: vec![Installed {
                name: "dcgan-64".into(),
                current: "dcgan-64-db208809".into(),
                previous: None,
            }],
            source: Some(SourceStatus {
                uri: "v4l:///dev/nonexistent".into(),
                ok: false,
                showing: Some("test://pattern".into()),
                warning: Some("source failing".into()),
            }),
            credentials: Some(CredentialsStatus {
                signing: true,
                signer: Some("CN=g1".into()),
                origin: "installation".into(),
                warning: None,
            }),
            board: Some(BoardStatus {
                disk_free_bytes: Some(1 << 30),
                disk_total_bytes: Some(1 << 34),
                memory_available_bytes: None,
                memory_total_bytes: None,
                temperature_c: Some(81.5),
                throttled: Some("0x50005".into()),
                warnings: vec!["CPU temperature 81.5 °C".into()],
            }),
            schedule: Some(ScheduleStatus {
                open: false,
                next_change: Some("2026-12-02T09:00:00Z".into()),
                timezone: "Europe/Vienna".into(),
            }),
            ..State::new("g1", "0.1.0")
        }
    }

    #[test]
    fn a_new_state_on_the_wire() {
        assert_eq!(
            State::new("n1", "0.1.0").to_json(),
            r#"{"node":"n1","version":"0.1.0","model":null,"mode":"still","seed":null,"params":{"seconds":8.0,"fps":12.0,"live_fps":12.0},"models":[],"latest":null,"attract":false,"scenes":[],"installed":[],"source":null,"credentials":null,"board":null,"schedule":null}"#
        );
    }

    #[test]
    fn a_full_state_on_the_wire() {
        assert_eq!(
            full().to_json(),
            concat!(
                r#"{"node":"g1","version":"0.1.0","model":"dcgan-64","mode":"live","seed":7,"#,
                r#""params":{"seconds":2.5,"fps":0.0,"live_fps":5.0},"#,
                r#""models":[{"name":"dcgan-64","kind":"latent","sha256":"ab","width":64,"height":64,"#,
                r#""engine":"onnxruntime","provider":"cpu","warnings":[]}],"#,
                r#""latest":{"id":"abc","url":"/images/abc.png","model":"dcgan-64","seed":null,"width":64,"height":64,"content_credentials":true},"#,
                r#""attract":true,"scenes":["blue-1"],"#,
                r#""installed":[{"name":"dcgan-64","current":"dcgan-64-db208809","previous":null}],"#,
                r#""source":{"uri":"v4l:///dev/nonexistent","ok":false,"showing":"test://pattern","warning":"source failing"},"#,
                r#""credentials":{"signing":true,"signer":"CN=g1","origin":"installation","warning":null},"#,
                r#""board":{"disk_free_bytes":1073741824,"disk_total_bytes":17179869184,"memory_available_bytes":null,"memory_total_bytes":null,"temperature_c":81.5,"throttled":"0x50005","warnings":["CPU temperature 81.5 °C"]},"#,
                r#""schedule":{"open":false,"next_change":"2026-12-02T09:00:00Z","timezone":"Europe/Vienna"}}"#
            )
        );
    }

    #[test]
    fn round_trips() {
        for state in [State::new("n1", "0.1.0"), full()] {
            assert_eq!(
                serde_json::from_str::<State>(&state.to_json()).unwrap(),
                state
            );
        }
    }

    #[test]
    fn an_older_or_newer_daemons_state_reads() {
        let older = r#"{"node":"n1","version":"0.0.9","mode":"morph","params":{"seconds":8,"fps":12},"added_later":1}"#;
        let state: State = serde_json::from_str(older).unwrap();
        assert_eq!(
            state,
            State {
                mode: Mode::Morph,
                ..State::new("n1", "0.0.9")
            }
        );
        assert!(serde_json::from_str::<State>(r#"{"node":"n1"}"#).is_err());
    }

    #[test]
    fn a_model_summary_without_engine_fields_reads() {
        let older = r#"{"name":"m","kind":"latent","sha256":"ab","width":8,"height":8}"#;
        let m: ModelSummary = serde_json::from_str(older).unwrap();
        assert_eq!((m.engine, m.provider, m.warnings.len()), (None, None, 0));
    }

    #[test]
    fn params_keep_what_is_not_given() {
        let mut p = Params::default();
        p.set(None, Some(6.0));
        assert_eq!(
            p,
            Params {
                seconds: 8.0,
                fps: 6.0,
                live_fps: 12.0
            }
        );
        p.set(Some(1.0), None);
        assert_eq!(
            p,
            Params {
                seconds: 1.0,
                fps: 6.0,
                live_fps: 12.0
            }
        );
    }
}
