//! The MQTT session as a pure value: which topics to subscribe to, what to
//! publish on every (re)connect, what the Last Will is, and what an
//! incoming publish means. No sockets and no clock here: `client.rs` reads
//! and writes, this decides (like rumqttc's `MqttState`).

use crate::deploy::transfer;
use crate::piece::activity::Activity;
use crate::piece::bindings::Bindings;
use crate::piece::command::{self, CommandError, Request};
use crate::piece::event::Event;
use crate::piece::state::State;
use easel_protocol::topic::{ALL, Route, Topic};
use easel_protocol::{Availability, InputMessage};

/// One message to publish (QoS 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// The palette of a closed piece's black screen.
const CLOSED_PALETTE: &str = "#000000";

/// The topics and the decisions of one daemon's session.
#[derive(Debug, Clone)]
pub struct Session {
    prefix: String,
    node: String,
    max_payload: usize,
    bindings: Bindings,
    /// Controllers' repeats filtered out: only changes are visitors.
    activity: Activity,
    /// Outside opening hours (`[schedule]`): controller input does nothing.
    closed: bool,
}

impl Session {
    pub fn new(prefix: &str, node: &str, max_payload: usize, bindings: Bindings) -> Session {
        Session {
            prefix: prefix.into(),
            node: node.into(),
            max_payload,
            bindings,
            activity: Activity::new(),
            closed: false,
        }
    }

    /// Follows the piece's opening hours: while closed, controllers'
    /// input is read (so their last values stay known) but asks nothing.
    pub fn set_closed(&mut self, closed: bool) {
        self.closed = closed;
    }

    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Subscribed on every connect: this node's commands, the fleet's, and
    /// every controller's input.
    pub fn subscriptions(&self) -> Vec<String> {
        let prefix = self.prefix.as_str();
        vec![
            Topic::Command {
                prefix,
                node: &self.node,
                command: "+",
            }
            .to_string(),
            Topic::Command {
                prefix,
                node: ALL,
                command: "+",
            }
            .to_string(),
            Topic::ControllerInput { prefix, id: "+" }.to_string(),
            Topic::DeployFilter {
                prefix,
                node: &self.node,
            }
            .to_string(),
        ]
    }

    /// A message of a model transfer (`P/N/deploy/<id>/…`, docs/deploy.md),
    /// decoded; `None` when the topic is not one. Deploy messages are never
    /// retained: a retained one is refused.
    pub fn handle_deploy(
        &self,
        topic: &str,
        payload: &[u8],
        retained: bool,
    ) -> Option<Result<transfer::Message, transfer::Refusal>> {
        let Route::Deploy { node, id, part } = Route::parse(&self.prefix, topic)? else {
            return None;
        };
        if node != self.node {
            return None;
        }
        if retained {
            return Some(Err(transfer::Refusal {
                id: id.chars().take(64).collect(),
                code: "retained_command",
                message: format!("{topic}: deploy messages must not be retained; ignored"),
            }));
        }
        Some(transfer::parse(id, part, payload.to_vec()))
    }

    fn status(&self, availability: Availability) -> Outgoing {
        Outgoing {
            topic: Topic::Status {
                prefix: &self.prefix,
                node: &self.node,
            }
            .to_string(),
            payload: availability.as_str().as_bytes().to_vec(),
            retain: true,
        }
    }

    /// The Last Will: the broker publishes it when the connection dies.
    pub fn last_will(&self) -> Outgoing {
        self.status(Availability::Offline)
    }

    /// Published just before a clean disconnect.
    pub fn stopped(&self) -> Outgoing {
        self.status(Availability::Stopped)
    }

    /// Published after every CONNACK: a broker that restarted has lost
    /// every retained message, so all of them are sent again.
    pub fn on_connect(&self, state: &State, palette: &str) -> Vec<Outgoing> {
        let mut out = vec![self.status(Availability::Online), self.state(state)];
        if !palette.is_empty() || self.closed {
            out.push(self.palette(palette));
        }
        out
    }

    pub fn state(&self, state: &State) -> Outgoing {
        Outgoing {
            topic: Topic::State {
                prefix: &self.prefix,
                node: &self.node,
            }
            .to_string(),
            payload: state.to_json().into_bytes(),
            retain: true,
        }
    }

    /// The palette controllers light their strips with: black while the
    /// piece is closed, as its screen is.
    pub fn palette(&self, palette: &str) -> Outgoing {
        let palette = if self.closed { CLOSED_PALETTE } else { palette };
        Outgoing {
            topic: Topic::Palette {
                prefix: &self.prefix,
                node: &self.node,
            }
            .to_string(),
            payload: palette.as_bytes().to_vec(),
            retain: true,
        }
    }

    pub fn event(&self, event: &Event) -> Outgoing {
        Outgoing {
            topic: Topic::Event {
                prefix: &self.prefix,
                node: &self.node,
            }
            .to_string(),
            payload: event.to_json().into_bytes(),
            retain: false,
        }
    }

    /// What an incoming publish asks of the piece: zero or more requests
    /// (or refusals, which become error events). `retained` must be the
    /// flag as published (MQTT 5 "retain as published"), so a command left
    /// retained on the broker is refused instead of replayed on restart.
    pub fn handle_publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        retained: bool,
    ) -> Vec<Result<Request, CommandError>> {
        match Route::parse(&self.prefix, topic) {
            Some(Route::Command { node, command }) if node == self.node || node == ALL => {
                if retained {
                    // Still parsed, only to echo its request_id.
                    let request_id = command::parse(command, payload, self.max_payload)
                        .map_or_else(|e| e.request_id, |r| r.request_id);
                    return vec![Err(CommandError {
                        request_id,
                        code: "retained_command",
                        message: format!("{topic}: commands must not be retained; ignored"),
                    })];
                }
                vec![command::parse(command, payload, self.max_payload)]
            }
            Some(Route::ControllerInput { id }) => {
                if payload.len() > self.max_payload {
                    tracing::warn!(controller = id, "input of {} bytes ignored", payload.len());
                    return Vec::new();
                }
                match serde_json::from_slice::<InputMessage>(payload) {
                    Ok(input) if self.activity.handle_report(id, &input) && !self.closed => {
                        self.bindings.handle(&input)
                    }
                    Ok(_) => Vec::new(),
                    Err(e) => {
                        tracing::warn!(controller = id, "malformed input ignored: {e}");
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piece::command::Command;

    fn session() -> Session {
        Session::new("easel", "n1", 1024, Bindings::defaults())
    }

    fn codes(out: Vec<Result<Request, CommandError>>) -> Vec<Result<Command, &'static str>> {
        out.into_iter()
            .map(|r| r.map(|r| r.command).map_err(|e| e.code))
            .collect()
    }

    #[test]
    fn subscribes_to_own_fleet_and_controller_topics() {
        assert_eq!(
            session().subscriptions(),
            [
                "easel/n1/cmd/+",
                "easel/all/cmd/+",
                "easel/ctl/+/input",
                "easel/n1/deploy/#"
            ]
        );
    }

    #[test]
    fn deploy_topics_of_this_node_only() {
        let s = session();
        assert!(matches!(
            s.handle_deploy("easel/n1/deploy/t1/chunk/3", b"xy", false),
            Some(Ok(transfer::Message::Chunk { index: 3, .. }))
        ));
        assert!(matches!(
            s.handle_deploy("easel/n1/deploy/t1/commit", b"", false),
            Some(Ok(transfer::Message::Commit { .. }))
        ));
        assert!(
            s.handle_deploy("easel/n2/deploy/t1/commit", b"", false)
                .is_none()
        );
        assert!(
            s.handle_deploy("easel/n1/cmd/generate", b"", false)
                .is_none()
        );
        assert!(
            s.handle_deploy("easel/n10/deploy/t1/commit", b"", false)
                .is_none()
        );
        let refused = |topic, retained| {
            s.handle_deploy(topic, b"", retained)
                .unwrap()
                .unwrap_err()
                .code
        };
        assert_eq!(
            refused("easel/n1/deploy/t1/commit", true),
            "retained_command"
        );
        assert_eq!(refused("easel/n1/deploy/a.b/commit", false), "bad_request");
        assert_eq!(refused("easel/n1/deploy/t1", false), "bad_request");
    }

    #[test]
    fn every_connect_republishes_retained_topics() {
        let s = session();
        let out = s.on_connect(&crate::piece::state::initial("n1"), "#ff0000");
        let topics: Vec<_> = out.iter().map(|o| (o.topic.as_str(), o.retain)).collect();
        assert_eq!(
            topics,
            [
                ("easel/n1/status", true),
                ("easel/n1/state", true),
                ("easel/n1/palette", true)
            ]
        );
        assert_eq!(out[0].payload, b"online");
        assert_eq!(
            s.on_connect(&crate::piece::state::initial("n1"), "").len(),
            2,
            "no palette before the first picture"
        );
        assert_eq!(s.last_will().payload, b"offline");
        assert_eq!(s.stopped().payload, b"stopped");
    }

    #[test]
    fn commands_for_this_node_and_all_only() {
        let mut s = session();
        let generate = || {
            Ok(Command::Generate {
                seed: Some(1),
                model: None,
            })
        };
        assert_eq!(
            codes(s.handle_publish("easel/n1/cmd/generate", br#"{"seed":1}"#, false)),
            [generate()]
        );
        assert_eq!(
            codes(s.handle_publish("easel/all/cmd/generate", br#"{"seed":1}"#, false)),
            [generate()]
        );
        assert!(
            s.handle_publish("easel/n2/cmd/generate", b"{}", false)
                .is_empty()
        );
        assert!(
            s.handle_publish("other/n1/cmd/generate", b"{}", false)
                .is_empty()
        );
        assert_eq!(
            codes(s.handle_publish("easel/n1/cmd/nope", b"{}", false)),
            [Err("unknown_command")]
        );
    }

    #[test]
    fn retained_commands_are_refused_with_their_request_id() {
        let out =
            session().handle_publish("easel/n1/cmd/generate", br#"{"request_id":"r9"}"#, true);
        let e = out[0].as_ref().unwrap_err();
        assert_eq!(
            (e.code, e.request_id.as_deref()),
            ("retained_command", Some("r9"))
        );
    }

    #[test]
    fn closed_controller_input_asks_nothing_and_the_palette_is_black() {
        let mut s = session();
        let click = br#"{"input":"button1","event":"click"}"#;
        s.set_closed(true);
        assert!(
            s.handle_publish("easel/ctl/a/input", click, false)
                .is_empty()
        );
        assert_eq!(s.palette("#ff0000").payload, b"#000000");
        assert_eq!(
            s.on_connect(&State::new("n1", "0"), "").len(),
            3,
            "black even before a picture"
        );
        s.set_closed(false);
        assert_eq!(s.handle_publish("easel/ctl/b/input", click, false).len(), 1);
        assert_eq!(s.palette("#ff0000").payload, b"#ff0000");
    }

    #[test]
    fn controller_input_goes_through_bindings() {
        let mut s = session();
        let out = codes(s.handle_publish(
            "easel/ctl/a/input",
            br#"{"input":"button1","event":"click"}"#,
            false,
        ));
        assert_eq!(
            out,
            [Ok(Command::Generate {
                seed: None,
                model: None
            })]
        );
        assert!(
            s.handle_publish("easel/ctl/a/input", b"{garbage", false)
                .is_empty()
        );
        assert!(
            s.handle_publish("easel/ctl/a/input", &[b' '; 2000], false)
                .is_empty()
        );
    }

    /// A knob controller repeating its position (a heartbeat, a reconnect)
    /// kept attract mode from ever starting, and a new controller's first
    /// report moved the morph speed.
    #[test]
    fn repeated_knob_values_are_not_commands() {
        let mut s = session();
        let knob = |s: &mut Session, v: f32| {
            s.handle_publish(
                "easel/ctl/k/input",
                format!(r#"{{"input":"knob1","value":{v}}}"#).as_bytes(),
                false,
            )
            .len()
        };
        assert_eq!(knob(&mut s, 0.5), 0, "first report: the baseline");
        assert_eq!(knob(&mut s, 0.5), 0, "a repeat");
        assert_eq!(knob(&mut s, 0.8), 1, "a turn");
        assert_eq!(knob(&mut s, 0.8), 0, "the turn repeated");
    }
}
