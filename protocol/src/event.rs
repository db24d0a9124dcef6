//! Events a piece publishes on `P/N/event` (not retained): a result or an
//! error per request, echoing its `request_id`. The JSON shape is the
//! contract: the daemon serialises these values unchanged (MQTT and web
//! edges alike), and the tools read them back with [`Event::parse`]
//! instead of looking fields up by hand.
//!
//! Every event is one object tagged by `type` (`generated`, `error`,
//! `done`, `deploy_progress`, `deployed`, `activated`, `rolled_back`).
//! Optional fields are always written (`null`) and may be missing when
//! read; fields this version does not know are ignored, so a newer daemon
//! may add some. A newer daemon's new event *type* is not an error a tool
//! should stop at: [`Event::parse`] reports it as
//! [`EventError::UnknownType`] with the request id it echoes.

use serde::{Deserialize, Serialize};
use std::string::String;
use std::vec::Vec;

/// One event, as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Generated(Generated),
    Error(ErrorEvent),
    /// A command without a picture of its own (model, mode, params…) was
    /// carried out; sent only when the command had a `request_id`.
    Done(Done),
    /// Model deploy (docs/deploy.md); `request_id` is the transfer id.
    DeployProgress(DeployProgress),
    Deployed(Deployed),
    Activated(Activated),
    RolledBack(RolledBack),
}

/// The `type` of every event this version knows, in [`Event`]'s order.
pub const TYPES: [&str; 7] = [
    "generated",
    "error",
    "done",
    "deploy_progress",
    "deployed",
    "activated",
    "rolled_back",
];

/// Event types that end a command's request (`easel ctl`): a picture, a
/// `done`, a refusal, `activated` (the answer to `activate`) or
/// `rolled_back` (the answer to `rollback`). Any
/// other type echoing the request id (progress of a long job) is not the
/// answer yet. A model transfer, whose request id is the transfer id, ends
/// differently (at `deployed` or `activated`, docs/deploy.md).
pub const FINAL_TYPES: [&str; 5] = ["generated", "done", "error", "activated", "rolled_back"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub request_id: Option<String>,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generated {
    pub request_id: Option<String>,
    /// Archive id: the picture is at `url`.
    pub id: String,
    pub model: String,
    pub seed: Option<u64>,
    pub url: String,
    pub width: u32,
    pub height: u32,
    /// From the command's arrival to the picture in the archive.
    pub latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub request_id: Option<String>,
    /// A stable machine-readable name (`invalid_json`, `unknown_model`, …).
    pub code: String,
    pub message: String,
}

/// `deploy_progress`: chunks received; `missing` as `[start, end)` ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployProgress {
    pub request_id: Option<String>,
    pub transfer: String,
    pub name: String,
    pub received: u32,
    pub total: u32,
    pub missing: Vec<[u32; 2]>,
    /// The answer to a `commit` (the missing chunks never arrived), not a
    /// report sent while chunks were streaming in.
    pub commit: bool,
}

impl DeployProgress {
    /// The missing chunk indices, `missing`'s ranges expanded: what a
    /// sender sends again.
    pub fn missing_chunks(&self) -> impl Iterator<Item = u32> + '_ {
        self.missing.iter().flat_map(|&[start, end]| start..end)
    }
}

/// `deployed`: verified, staged and smoke-tested; not current yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployed {
    pub request_id: Option<String>,
    pub transfer: String,
    pub name: String,
    pub version: String,
    /// Whole-file hash, signature, staging and smoke test.
    pub check_ms: f64,
}

/// `activated`: the version is current and loaded in the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activated {
    pub request_id: Option<String>,
    pub name: String,
    pub version: String,
    pub previous: Option<String>,
    /// Loading into the engine (with its warm-up run).
    pub load_ms: f64,
}

/// `rolled_back`: `version` is current again (`None`: no deployed version
/// is left, the model of `models_dir` serves), `from` is the one left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    pub request_id: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub from: String,
    /// Why, when the rollback was automatic.
    pub reason: Option<String>,
}

impl Event {
    pub fn error(request_id: Option<String>, code: &str, message: impl Into<String>) -> Event {
        Event::Error(ErrorEvent {
            request_id,
            code: code.into(),
            message: message.into(),
        })
    }

    /// The request this event answers, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Event::Generated(e) => e.request_id.as_deref(),
            Event::Error(e) => e.request_id.as_deref(),
            Event::Done(e) => e.request_id.as_deref(),
            Event::DeployProgress(e) => e.request_id.as_deref(),
            Event::Deployed(e) => e.request_id.as_deref(),
            Event::Activated(e) => e.request_id.as_deref(),
            Event::RolledBack(e) => e.request_id.as_deref(),
        }
    }

    /// The wire `type`.
    pub fn kind(&self) -> &'static str {
        let index = match self {
            Event::Generated(_) => 0,
            Event::Error(_) => 1,
            Event::Done(_) => 2,
            Event::DeployProgress(_) => 3,
            Event::Deployed(_) => 4,
            Event::Activated(_) => 5,
            Event::RolledBack(_) => 6,
        };
        TYPES[index]
    }

    /// True when this event ends a command's request (see [`FINAL_TYPES`]).
    pub fn is_final(&self) -> bool {
        is_final_type(self.kind())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }

    /// Reads one event payload. Never panics; on failure the error says
    /// whether the payload was no event at all, an event type this version
    /// does not know (a newer daemon's: treat it as progress, not as an
    /// answer), or a known type whose fields do not fit, with the type and
    /// request id whenever the payload has them.
    pub fn parse(payload: &[u8]) -> Result<Event, EventError> {
        let error = match serde_json::from_slice::<Event>(payload) {
            Ok(event) => return Ok(event),
            Err(e) => e,
        };
        // The slow path, for payloads that are not events of this version:
        // what they say they are.
        let envelope = match serde_json::from_slice::<Envelope>(payload) {
            Ok(envelope) => envelope,
            Err(_) => return Err(EventError::NotAnEvent(error)),
        };
        let Some(kind) = envelope.kind else {
            return Err(EventError::NotAnEvent(error));
        };
        let request_id = match envelope.request_id {
            Some(serde_json::Value::String(id)) => Some(id),
            _ => None,
        };
        if TYPES.contains(&kind.as_str()) {
            Err(EventError::Malformed {
                kind,
                request_id,
                error,
            })
        } else {
            Err(EventError::UnknownType { kind, request_id })
        }
    }
}

/// True when an event of type `kind` ends a command's request; for the
/// `kind` of a payload [`Event::parse`] could not read.
pub fn is_final_type(kind: &str) -> bool {
    FINAL_TYPES.contains(&kind)
}

/// Just enough of an event to say what it claims to be.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<String>,
    /// A `Value`, so a request id of the wrong type does not hide the type.
    request_id: Option<serde_json::Value>,
}

/// Why [`Event::parse`] returned no event.
#[derive(Debug)]
pub enum EventError {
    /// Not JSON, or not an object with a string `type`.
    NotAnEvent(serde_json::Error),
    /// A type this version does not know, from a newer daemon.
    UnknownType {
        kind: String,
        request_id: Option<String>,
    },
    /// A known type with missing or mistyped fields.
    Malformed {
        kind: String,
        request_id: Option<String>,
        error: serde_json::Error,
    },
}

impl EventError {
    /// The `type` the payload claims, when it has one.
    pub fn kind(&self) -> Option<&str> {
        match self {
            EventError::NotAnEvent(_) => None,
            EventError::UnknownType { kind, .. } | EventError::Malformed { kind, .. } => Some(kind),
        }
    }

    /// The `request_id` the payload echoes, when it has a string one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            EventError::NotAnEvent(_) => None,
            EventError::UnknownType { request_id, .. }
            | EventError::Malformed { request_id, .. } => request_id.as_deref(),
        }
    }
}

impl core::fmt::Display for EventError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EventError::NotAnEvent(e) => write!(f, "not an event: {e}"),
            EventError::UnknownType { kind, .. } => write!(f, "unknown event type {kind:?}"),
            EventError::Malformed { kind, error, .. } => {
                write!(f, "malformed {kind} event: {error}")
            }
        }
    }
}

impl std::error::Error for EventError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EventError::NotAnEvent(e) | EventError::Malformed { error: e, .. } => Some(e),
            EventError::UnknownType { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec;

    fn generated() -> Event {
        Event::Generated(Generated {
            request_id: Some("r1".into()),
            id: "abc".into(),
            model: "m".into(),
            seed: Some(7),
            url: "/images/abc.png".into(),
            width: 64,
            height: 32,
            latency_ms: 12.5,
        })
    }

    /// One of each type with the exact JSON the daemon has always written.
    fn contract() -> Vec<(Event, &'static str)> {
        vec![
            (
                generated(),
                r#"{"type":"generated","request_id":"r1","id":"abc","model":"m","seed":7,"url":"/images/abc.png","width":64,"height":32,"latency_ms":12.5}"#,
            ),
            (
                Event::error(None, "invalid_json", "bad"),
                r#"{"type":"error","request_id":null,"code":"invalid_json","message":"bad"}"#,
            ),
            (
                Event::Done(Done {
                    request_id: Some("m1".into()),
                    command: "model".into(),
                }),
                r#"{"type":"done","request_id":"m1","command":"model"}"#,
            ),
            (
                Event::DeployProgress(DeployProgress {
                    request_id: Some("t1".into()),
                    transfer: "t1".into(),
                    name: "dcgan-64".into(),
                    received: 2,
                    total: 4,
                    missing: vec![[1, 3]],
                    commit: true,
                }),
                r#"{"type":"deploy_progress","request_id":"t1","transfer":"t1","name":"dcgan-64","received":2,"total":4,"missing":[[1,3]],"commit":true}"#,
            ),
            (
                Event::Deployed(Deployed {
                    request_id: Some("t1".into()),
                    transfer: "t1".into(),
                    name: "dcgan-64".into(),
                    version: "dcgan-64-db208809".into(),
                    check_ms: 850.25,
                }),
                r#"{"type":"deployed","request_id":"t1","transfer":"t1","name":"dcgan-64","version":"dcgan-64-db208809","check_ms":850.25}"#,
            ),
            (
                Event::Activated(Activated {
                    request_id: Some("t1".into()),
                    name: "dcgan-64".into(),
                    version: "dcgan-64-db208809".into(),
                    previous: None,
                    load_ms: 412.0,
                }),
                r#"{"type":"activated","request_id":"t1","name":"dcgan-64","version":"dcgan-64-db208809","previous":null,"load_ms":412.0}"#,
            ),
            (
                Event::RolledBack(RolledBack {
                    request_id: Some("rb".into()),
                    name: "dcgan-64".into(),
                    version: None,
                    from: "dcgan-64-db208809".into(),
                    reason: Some("did not load".into()),
                }),
                r#"{"type":"rolled_back","request_id":"rb","name":"dcgan-64","version":null,"from":"dcgan-64-db208809","reason":"did not load"}"#,
            ),
        ]
    }

    #[test]
    fn contract_shapes() {
        for (event, json) in contract() {
            assert_eq!(event.to_json(), json);
        }
    }

    #[test]
    fn round_trips() {
        for (event, json) in contract() {
            assert_eq!(Event::parse(json.as_bytes()).unwrap(), event, "{json}");
            assert_eq!(serde_json::from_str::<Event>(json).unwrap(), event);
        }
    }

    #[test]
    fn kinds_are_the_wire_tags() {
        let events = contract();
        assert_eq!(events.len(), TYPES.len(), "one contract event per type");
        for (event, _) in events {
            let v: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
            assert_eq!(v["type"], event.kind());
        }
    }

    #[test]
    fn finality() {
        let finals: Vec<_> = contract()
            .into_iter()
            .filter(|(e, _)| e.is_final())
            .map(|(e, _)| e.kind())
            .collect();
        assert_eq!(
            finals,
            ["generated", "error", "done", "activated", "rolled_back"]
        );
        assert!(is_final_type("done"));
        assert!(!is_final_type("deploy_progress"));
        assert!(!is_final_type("something_new"));
    }

    #[test]
    fn request_ids() {
        assert_eq!(generated().request_id(), Some("r1"));
        assert_eq!(Event::error(None, "x", "y").request_id(), None);
    }

    #[test]
    fn missing_options_read_as_none_and_unknown_fields_are_ignored() {
        let event = Event::parse(br#"{"type":"error","code":"busy","message":"m"}"#).unwrap();
        assert_eq!(event, Event::error(None, "busy", "m"));
        let event = Event::parse(
            br#"{"request_id":"r","name":"n","from":"v1","type":"rolled_back","added_later":[1]}"#,
        )
        .unwrap();
        assert_eq!(
            event,
            Event::RolledBack(RolledBack {
                request_id: Some("r".into()),
                name: "n".into(),
                version: None,
                from: "v1".into(),
                reason: None,
            })
        );
        // Whole-number milliseconds read as f64.
        let Event::Activated(a) = Event::parse(
            br#"{"type":"activated","request_id":null,"name":"n","version":"v","previous":"u","load_ms":3}"#,
        )
        .unwrap() else {
            panic!("not activated")
        };
        assert_eq!(a.load_ms, 3.0);
    }

    #[test]
    fn a_newer_daemons_type_is_reported_not_fatal() {
        let e = Event::parse(br#"{"type":"job_progress","request_id":"r1","pct":40}"#).unwrap_err();
        assert!(
            matches!(&e, EventError::UnknownType { kind, request_id }
                if kind == "job_progress" && request_id.as_deref() == Some("r1")),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "unknown event type \"job_progress\"");
        assert!(!is_final_type(e.kind().unwrap()));
    }

    #[test]
    fn malformed_and_foreign_payloads() {
        let e = Event::parse(br#"{"type":"generated","request_id":"r1","seed":7}"#).unwrap_err();
        assert!(matches!(e, EventError::Malformed { .. }), "{e:?}");
        assert_eq!((e.kind(), e.request_id()), (Some("generated"), Some("r1")));
        assert!(
            e.to_string().starts_with("malformed generated event: "),
            "{e}"
        );
        let e = Event::parse(br#"{"type":"done","request_id":7}"#).unwrap_err();
        assert_eq!((e.kind(), e.request_id()), (Some("done"), None));
        for foreign in [
            &b"offline"[..],
            b"",
            b"[1,2]",
            br#"{"request_id":"r1"}"#,
            br#"{"type":7,"request_id":"r1"}"#,
            &[0xff, 0xfe],
        ] {
            let e = Event::parse(foreign).unwrap_err();
            assert!(matches!(e, EventError::NotAnEvent(_)), "{foreign:?}: {e:?}");
            assert_eq!(e.request_id(), None);
        }
    }

    #[test]
    fn missing_ranges_expand_to_chunk_indices() {
        let Event::DeployProgress(p) = Event::parse(
            br#"{"type":"deploy_progress","request_id":"t","transfer":"t","name":"n","received":3,"total":8,"missing":[[0,2],[5,7]],"commit":false}"#,
        )
        .unwrap() else {
            panic!("not progress")
        };
        assert_eq!(p.missing_chunks().collect::<Vec<_>>(), [0, 1, 5, 6]);
    }
}
