//! The pure part of `easel ctl`: turning the command line into a command
//! payload with a fresh `request_id`, and deciding, event by event, when
//! every node asked has answered. No sockets here, so the rules are tested
//! as tables.

use easel_protocol::event::{Event, is_final_type};
use easel_protocol::topic::{ALL, Route};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArgsError {
    #[error("no command given (e.g. `easel ctl generate --seed 7`)")]
    NoCommand,
    #[error("{0:?} is not a command name (letters, digits, _ and -)")]
    BadCommand(String),
    #[error("the payload must be a JSON object, got {0}")]
    NotAnObject(String),
    #[error("{0:?} is not valid JSON: {1}")]
    BadJson(String, String),
    #[error("--{0} needs a value")]
    MissingValue(String),
    #[error("{0:?}: expected --key value or one JSON object")]
    Unexpected(String),
    #[error("--{0} is an option of `easel ctl` itself: put it before the command name")]
    CtlOption(String),
}

/// Options of `easel ctl` that a user may wrongly put after the command.
const CTL_OPTIONS: [&str; 7] = [
    "to", "timeout", "broker", "prefix", "ca", "username", "json",
];

/// `generate --seed 7 --model dcgan-64` or `generate '{"seed":7}'` (or both:
/// the flags are merged into the object) -> (command, payload). A flag's
/// value is taken as JSON when it parses (`7`, `true`, `[1,2]`) and as a
/// string otherwise (`dcgan-64`); `--flag` without a value means `true`
/// only when it is followed by another flag or nothing.
pub fn parse_tail(tail: &[String]) -> Result<(String, Map<String, Value>), ArgsError> {
    let (command, rest) = tail.split_first().ok_or(ArgsError::NoCommand)?;
    if command.is_empty()
        || !command
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ArgsError::BadCommand(command.clone()));
    }
    let mut payload = Map::new();
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        if let Some(key) = arg.strip_prefix("--") {
            let (key, inline) = match key.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (key, None),
            };
            if CTL_OPTIONS.contains(&key) {
                return Err(ArgsError::CtlOption(key.into()));
            }
            let value = match inline {
                Some(v) => v,
                None => match rest.get(i + 1) {
                    Some(v) if !v.starts_with("--") => {
                        i += 1;
                        v.clone()
                    }
                    _ => "true".into(),
                },
            };
            if key.is_empty() {
                return Err(ArgsError::MissingValue(key.into()));
            }
            let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
            payload.insert(key.replace('-', "_"), value);
        } else if arg.trim_start().starts_with('{') {
            match serde_json::from_str::<Value>(arg) {
                Ok(Value::Object(object)) => {
                    for (k, v) in object {
                        payload.entry(k).or_insert(v);
                    }
                }
                Ok(other) => return Err(ArgsError::NotAnObject(other.to_string())),
                Err(e) => return Err(ArgsError::BadJson(arg.clone(), e.to_string())),
            }
        } else {
            return Err(ArgsError::Unexpected(arg.clone()));
        }
        i += 1;
    }
    Ok((command.clone(), payload))
}

/// A request id nobody else uses: `ctl-<pid>-<time>-<n>`.
pub fn fresh_request_id(n: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "ctl-{}-{:x}-{n}",
        std::process::id(),
        nanos & 0xff_ffff_ffff
    )
}

/// Which node an event topic `P/N/event` belongs to.
pub fn event_node<'a>(prefix: &str, topic: &'a str) -> Option<&'a str> {
    match Route::parse(prefix, topic)? {
        Route::Event { node } => Some(node),
        _ => None,
    }
}

/// Same for `P/N/status` (a daemon's; never the fleet-wide `all`).
pub fn status_node<'a>(prefix: &str, topic: &'a str) -> Option<&'a str> {
    match Route::parse(prefix, topic)? {
        Route::Status { node } if node != ALL => Some(node),
        _ => None,
    }
}

/// What one event means for the wait.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// Not about this request.
    Other,
    /// About it, but not final (printed).
    Progress { node: String, event: Value },
    /// The node's answer.
    Answer {
        node: String,
        event: Value,
        error: Option<String>,
    },
}

/// The wait for answers to one request from a set of nodes.
#[derive(Debug, Clone)]
pub struct Waiting {
    prefix: String,
    request_id: String,
    pending: BTreeSet<String>,
    answered: BTreeMap<String, Option<String>>,
}

impl Waiting {
    pub fn new(prefix: &str, request_id: &str, nodes: impl IntoIterator<Item = String>) -> Waiting {
        Waiting {
            prefix: prefix.into(),
            request_id: request_id.into(),
            pending: nodes.into_iter().collect(),
            answered: BTreeMap::new(),
        }
    }

    /// Looks at one message; the event JSON gains a `"node"` key.
    pub fn handle(&mut self, topic: &str, payload: &[u8]) -> Seen {
        let Some(node) = event_node(&self.prefix, topic) else {
            return Seen::Other;
        };
        // The typed event decides; the JSON object (with `node` added) is
        // what gets printed, every field as the node sent it. An event of a
        // type this tool does not know (a newer daemon's) is progress.
        let typed = Event::parse(payload);
        let (request_id, kind) = match &typed {
            Ok(e) => (e.request_id(), e.kind()),
            Err(e) => (e.request_id(), e.kind().unwrap_or("")),
        };
        if request_id != Some(self.request_id.as_str()) {
            return Seen::Other;
        }
        let Ok(Value::Object(mut event)) = serde_json::from_slice::<Value>(payload) else {
            return Seen::Other;
        };
        event.insert("node".into(), Value::String(node.into()));
        if !is_final_type(kind) {
            return Seen::Progress {
                node: node.into(),
                event: Value::Object(event),
            };
        }
        let error = match &typed {
            Ok(Event::Error(e)) => Some(format!("{}: {}", e.code, e.message)),
            Err(e) if kind == "error" => Some(format!("error: {e}")),
            _ => None,
        };
        self.pending.remove(node);
        self.answered.insert(node.into(), error.clone());
        Seen::Answer {
            node: node.into(),
            event: Value::Object(event),
            error,
        }
    }

    pub fn done(&self) -> bool {
        self.pending.is_empty()
    }

    /// Nodes still owing an answer.
    pub fn pending(&self) -> impl Iterator<Item = &String> {
        self.pending.iter()
    }

    /// `(node, "code: message")` of every error answer.
    pub fn errors(&self) -> impl Iterator<Item = (&String, &String)> {
        self.answered
            .iter()
            .filter_map(|(n, e)| e.as_ref().map(|e| (n, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tail(args: &[&str]) -> Result<(String, Map<String, Value>), ArgsError> {
        parse_tail(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_lines() {
        let (c, p) = tail(&["generate", "--seed", "7", "--model", "dcgan-64"]).unwrap();
        assert_eq!(c, "generate");
        assert_eq!(Value::Object(p), json!({"seed": 7, "model": "dcgan-64"}));
        let (_, p) = tail(&["generate", r#"{"seed": 7}"#]).unwrap();
        assert_eq!(Value::Object(p), json!({"seed": 7}));
        let (_, p) = tail(&["mode", "--mode=morph", "--seconds", "2.5"]).unwrap();
        assert_eq!(Value::Object(p), json!({"mode": "morph", "seconds": 2.5}));
        let (_, p) = tail(&["scene", "--action", "save", "--name", "7"]).unwrap();
        assert_eq!(Value::Object(p), json!({"action": "save", "name": 7}));
        let (c, p) = tail(&["next_model"]).unwrap();
        assert_eq!((c.as_str(), p.len()), ("next_model", 0));
        // A flag wins over the same key in the object.
        let (_, p) = tail(&["generate", "--seed", "1", r#"{"seed": 2}"#]).unwrap();
        assert_eq!(p["seed"], 1);
    }

    #[test]
    fn bad_command_lines() {
        assert_eq!(tail(&[]), Err(ArgsError::NoCommand));
        assert!(matches!(
            tail(&["gen/erate"]),
            Err(ArgsError::BadCommand(_))
        ));
        assert!(matches!(
            tail(&["generate", "[1]"]),
            Err(ArgsError::Unexpected(_))
        ));
        assert!(matches!(
            tail(&["generate", "{x"]),
            Err(ArgsError::BadJson(..))
        ));
        assert_eq!(
            tail(&["generate", "--to", "all"]),
            Err(ArgsError::CtlOption("to".into()))
        );
        assert!(matches!(
            tail(&["generate", "7"]),
            Err(ArgsError::Unexpected(_))
        ));
    }

    #[test]
    fn topics() {
        assert_eq!(event_node("easel", "easel/n1/event"), Some("n1"));
        assert_eq!(event_node("easel", "easel/ctl/x/event"), None);
        assert_eq!(event_node("easel", "other/n1/event"), None);
        assert_eq!(status_node("easel", "easel/n1/status"), Some("n1"));
        assert_eq!(status_node("easel", "easel/ctl/c1/status"), None);
    }

    #[test]
    fn waiting_for_two_nodes() {
        let mut w = Waiting::new("easel", "r1", ["a".to_string(), "b".to_string()]);
        let ev = |v: Value| v.to_string().into_bytes();
        // Someone else's request, a non-JSON payload, a status: ignored.
        assert_eq!(
            w.handle(
                "easel/a/event",
                &ev(json!({"type":"done","request_id":"r0"}))
            ),
            Seen::Other
        );
        assert_eq!(w.handle("easel/a/event", b"offline"), Seen::Other);
        assert_eq!(w.handle("easel/a/status", b"online"), Seen::Other);
        // Progress does not finish.
        let p = w.handle(
            "easel/a/event",
            &ev(json!({"type":"deploy_progress","request_id":"r1"})),
        );
        assert!(matches!(p, Seen::Progress { .. }), "{p:?}");
        assert!(!w.done());
        let a = w.handle(
            "easel/a/event",
            &ev(json!({"type":"generated","request_id":"r1","seed":7})),
        );
        let Seen::Answer { node, event, error } = a else {
            panic!("{a:?}")
        };
        assert_eq!((node.as_str(), error), ("a", None));
        assert_eq!(event["node"], "a");
        assert_eq!(event["seed"], 7);
        assert_eq!(w.pending().collect::<Vec<_>>(), ["b"]);
        w.handle(
            "easel/b/event",
            &ev(json!({"type":"error","request_id":"r1","code":"unknown_model","message":"no x"})),
        );
        assert!(w.done());
        let errors: Vec<_> = w.errors().collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].1, "unknown_model: no x");
    }
}
