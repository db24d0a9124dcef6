//! MQTT topic names (`P` = prefix, `N` = node):
//!
//! | topic | who publishes |
//! |---|---|
//! | `P/N/status`, `P/N/state`, `P/N/event`, `P/N/palette` | daemon |
//! | `P/N/cmd/<command>`, `P/all/cmd/<command>` | tools, technicians |
//! | `P/N/deploy/<id>/begin`, `…/chunk/<index>`, `…/commit`, `…/abort` | `easel deploy` |
//! | `P/ctl/<id>/status`, `P/ctl/<id>/input` | controllers |
//!
//! `Topic` formats a topic with `Display`; `Route::parse` classifies an
//! incoming one. Node ids never equal `all` or `ctl`, the two reserved
//! second-level names. Deploy topics are the only ones deeper than four
//! levels (the transfer id, then `chunk/<index>`).

use crate::deploy::{self, Part, PartError};
use core::fmt;

/// The fleet-wide pseudo node that every daemon listens to for commands.
pub const ALL: &str = "all";
/// The second-level name under which controllers publish.
pub const CTL: &str = "ctl";

/// A topic to publish to or subscribe to. Formats as its MQTT name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic<'a> {
    /// `P/N/status`: retained `online` / `offline` / `stopped`.
    Status { prefix: &'a str, node: &'a str },
    /// `P/N/state`: retained JSON state.
    State { prefix: &'a str, node: &'a str },
    /// `P/N/event`: results and errors, not retained.
    Event { prefix: &'a str, node: &'a str },
    /// `P/N/palette`: retained `#rrggbb,…`.
    Palette { prefix: &'a str, node: &'a str },
    /// `P/N/cmd/<command>`; `node` may be [`ALL`]; `command` may be `+`.
    Command {
        prefix: &'a str,
        node: &'a str,
        command: &'a str,
    },
    /// `P/N/deploy/<id>/<part>`: one message of a model transfer
    /// (docs/deploy.md); never retained.
    Deploy {
        prefix: &'a str,
        node: &'a str,
        /// The transfer id ([`deploy::is_valid_id`]).
        id: &'a str,
        part: Part,
    },
    /// `P/N/deploy/#`: the filter a node subscribes to for its transfers.
    DeployFilter { prefix: &'a str, node: &'a str },
    /// `P/ctl/<id>/status`: retained controller availability.
    ControllerStatus { prefix: &'a str, id: &'a str },
    /// `P/ctl/<id>/input`: visitor input; `id` may be `+`.
    ControllerInput { prefix: &'a str, id: &'a str },
}

impl fmt::Display for Topic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Status { prefix, node } => write!(f, "{prefix}/{node}/status"),
            Topic::State { prefix, node } => write!(f, "{prefix}/{node}/state"),
            Topic::Event { prefix, node } => write!(f, "{prefix}/{node}/event"),
            Topic::Palette { prefix, node } => write!(f, "{prefix}/{node}/palette"),
            Topic::Command {
                prefix,
                node,
                command,
            } => write!(f, "{prefix}/{node}/cmd/{command}"),
            Topic::Deploy {
                prefix,
                node,
                id,
                part,
            } => write!(f, "{prefix}/{node}/deploy/{id}/{part}"),
            Topic::DeployFilter { prefix, node } => write!(f, "{prefix}/{node}/deploy/#"),
            Topic::ControllerStatus { prefix, id } => write!(f, "{prefix}/{CTL}/{id}/status"),
            Topic::ControllerInput { prefix, id } => write!(f, "{prefix}/{CTL}/{id}/input"),
        }
    }
}

/// What an incoming topic means to a daemon or controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// A command for `node` (a node id or [`ALL`]).
    Command { node: &'a str, command: &'a str },
    /// A controller's input events.
    ControllerInput { id: &'a str },
    /// A controller's availability.
    ControllerStatus { id: &'a str },
    /// A daemon's availability.
    Status { node: &'a str },
    /// A daemon's state.
    State { node: &'a str },
    /// A daemon's events.
    Event { node: &'a str },
    /// A daemon's palette.
    Palette { node: &'a str },
    /// A message of a model transfer to `node` (as in the topic: a daemon
    /// takes only its own). `id` is not checked (it may be empty or
    /// invalid: [`deploy::is_valid_id`]) and `part` may name no message, so
    /// that a node can answer a bad deploy topic with an error instead of
    /// dropping it.
    Deploy {
        node: &'a str,
        id: &'a str,
        part: Result<Part, PartError<'a>>,
    },
}

impl<'a> Route<'a> {
    /// Classifies `topic` under `prefix`; `None` for anything else.
    pub fn parse(prefix: &str, topic: &'a str) -> Option<Route<'a>> {
        let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
        if let Some((node, path)) = rest.split_once('/')
            && let Some(path) = path.strip_prefix("deploy/")
            && !node.is_empty()
            && node != CTL
        {
            let (id, part) = deploy::parse_path(path);
            return Some(Route::Deploy { node, id, part });
        }
        let mut parts = rest.split('/');
        let first = parts.next()?;
        let second = parts.next()?;
        let third = parts.next();
        let fourth = parts.next();
        if first.is_empty() || second.is_empty() || parts.next().is_some() {
            return None;
        }
        match (first, second, third, fourth) {
            (CTL, id, Some("input"), None) => Some(Route::ControllerInput { id }),
            (CTL, id, Some("status"), None) => Some(Route::ControllerStatus { id }),
            (node, "cmd", Some(command), None) if !command.is_empty() => {
                Some(Route::Command { node, command })
            }
            (node, "status", None, None) => Some(Route::Status { node }),
            (node, "state", None, None) => Some(Route::State { node }),
            (node, "event", None, None) => Some(Route::Event { node }),
            (node, "palette", None, None) => Some(Route::Palette { node }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn formats_contract_topics() {
        let (prefix, node) = ("easel", "gallery-1");
        assert_eq!(
            Topic::Status { prefix, node }.to_string(),
            "easel/gallery-1/status"
        );
        assert_eq!(
            Topic::State { prefix, node }.to_string(),
            "easel/gallery-1/state"
        );
        assert_eq!(
            Topic::Event { prefix, node }.to_string(),
            "easel/gallery-1/event"
        );
        assert_eq!(
            Topic::Palette { prefix, node }.to_string(),
            "easel/gallery-1/palette"
        );
        assert_eq!(
            Topic::Command {
                prefix,
                node: ALL,
                command: "generate"
            }
            .to_string(),
            "easel/all/cmd/generate"
        );
        assert_eq!(
            Topic::ControllerInput { prefix, id: "+" }.to_string(),
            "easel/ctl/+/input"
        );
        assert_eq!(
            Topic::ControllerStatus { prefix, id: "c1" }.to_string(),
            "easel/ctl/c1/status"
        );
        assert_eq!(
            Topic::Deploy {
                prefix,
                node,
                id: "0123abcd-256",
                part: Part::Chunk(20)
            }
            .to_string(),
            "easel/gallery-1/deploy/0123abcd-256/chunk/20"
        );
        for (part, last) in [
            (Part::Begin, "begin"),
            (Part::Commit, "commit"),
            (Part::Abort, "abort"),
        ] {
            assert_eq!(
                Topic::Deploy {
                    prefix,
                    node,
                    id: "t1",
                    part
                }
                .to_string(),
                std::format!("easel/gallery-1/deploy/t1/{last}")
            );
        }
        assert_eq!(
            Topic::DeployFilter { prefix, node }.to_string(),
            "easel/gallery-1/deploy/#"
        );
    }

    #[test]
    fn deploy_topics_round_trip() {
        for part in [
            Part::Begin,
            Part::Chunk(0),
            Part::Chunk(7),
            Part::Commit,
            Part::Abort,
        ] {
            let topic = Topic::Deploy {
                prefix: "easel",
                node: "n1",
                id: "t1",
                part,
            }
            .to_string();
            assert_eq!(
                Route::parse("easel", &topic),
                Some(Route::Deploy {
                    node: "n1",
                    id: "t1",
                    part: Ok(part)
                }),
                "{topic}"
            );
        }
    }

    #[test]
    fn bad_deploy_topics_still_route_so_they_can_be_refused() {
        let cases = [
            (
                "easel/n1/deploy/t1",
                Some(Route::Deploy {
                    node: "n1",
                    id: "t1",
                    part: Err(PartError::Unknown("")),
                }),
            ),
            (
                "easel/n1/deploy/a.b/commit",
                Some(Route::Deploy {
                    node: "n1",
                    id: "a.b",
                    part: Ok(Part::Commit),
                }),
            ),
            (
                "easel/n1/deploy/t1/chunk/x",
                Some(Route::Deploy {
                    node: "n1",
                    id: "t1",
                    part: Err(PartError::BadIndex("x")),
                }),
            ),
            (
                "easel/n1/deploy/t1/explode/now",
                Some(Route::Deploy {
                    node: "n1",
                    id: "t1",
                    part: Err(PartError::Unknown("explode/now")),
                }),
            ),
            (
                "easel/n1/deploy/",
                Some(Route::Deploy {
                    node: "n1",
                    id: "",
                    part: Err(PartError::Unknown("")),
                }),
            ),
            // Not deploy topics at all.
            ("easel/n1/deploy", None),
            ("easel//deploy/t1/begin", None),
            (
                "easel/n1/cmd/deploy",
                Some(Route::Command {
                    node: "n1",
                    command: "deploy",
                }),
            ),
            (
                "easel/ctl/deploy/input",
                Some(Route::ControllerInput { id: "deploy" }),
            ),
            ("easel/ctl/x/deploy/t1/begin", None),
            ("other/n1/deploy/t1/begin", None),
        ];
        for (topic, want) in cases {
            assert_eq!(Route::parse("easel", topic), want, "{topic}");
        }
    }

    #[test]
    fn routes_round_trip() {
        let cases = [
            (
                "easel/g1/cmd/generate",
                Some(Route::Command {
                    node: "g1",
                    command: "generate",
                }),
            ),
            (
                "easel/all/cmd/mode",
                Some(Route::Command {
                    node: "all",
                    command: "mode",
                }),
            ),
            (
                "easel/ctl/knobs/input",
                Some(Route::ControllerInput { id: "knobs" }),
            ),
            (
                "easel/ctl/knobs/status",
                Some(Route::ControllerStatus { id: "knobs" }),
            ),
            ("easel/g1/status", Some(Route::Status { node: "g1" })),
            ("easel/g1/palette", Some(Route::Palette { node: "g1" })),
            ("easel/g1/cmd/", None),
            ("easel/g1/cmd/a/b", None),
            ("other/g1/status", None),
            ("easelx/g1/status", None),
            ("easel//status", None),
            ("easel/g1", None),
        ];
        for (topic, want) in cases {
            assert_eq!(Route::parse("easel", topic), want, "{topic}");
        }
    }
}
