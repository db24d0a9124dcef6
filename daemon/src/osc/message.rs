//! OSC messages in and out (docs/osc.md), as pure translations. An incoming
//! `/easel/<command>` with positional arguments becomes the JSON payload
//! the MQTT command of that name takes, and then goes through the very
//! same `command::parse`: one validation, one set of error codes, for
//! every edge. Outgoing events become `/easel/generated`, `/easel/error`
//! and `/easel/palette`. No sockets here.

use crate::piece::command::{self, CommandError, Request};
use crate::piece::event::Event;
use rosc::{OscMessage, OscPacket, OscType};
use serde_json::{Map, Value, json};

/// The address space: `/easel/<command>`.
pub const ROOT: &str = "/easel/";

/// Bundles inside bundles are followed this deep, and at most this many
/// messages are taken from one packet: a datagram cannot flood the piece.
const MAX_DEPTH: usize = 4;
pub const MAX_MESSAGES: usize = 32;

/// The messages of a packet, bundles flattened (time tags are ignored: a
/// piece acts on what it is told when it hears it).
pub fn messages(packet: OscPacket) -> Vec<OscMessage> {
    fn walk(packet: OscPacket, depth: usize, out: &mut Vec<OscMessage>) {
        match packet {
            OscPacket::Message(m) if out.len() < MAX_MESSAGES => out.push(m),
            OscPacket::Message(_) => {}
            OscPacket::Bundle(b) if depth < MAX_DEPTH => {
                for p in b.content {
                    walk(p, depth + 1, out);
                }
            }
            OscPacket::Bundle(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(packet, 0, &mut out);
    out
}

/// An OSC argument as JSON: ints as ints; a float that holds a whole
/// number as an int too (show-control tools often send every number as a
/// float: `/easel/generate 7.0` must mean seed 7); strings as strings.
fn json_value(arg: &OscType) -> Value {
    match arg {
        OscType::Int(i) => json!(i),
        OscType::Long(i) => json!(i),
        OscType::Float(f) => number(f64::from(*f)),
        OscType::Double(f) => number(*f),
        OscType::String(s) => json!(s),
        OscType::Bool(b) => json!(b),
        OscType::Char(c) => json!(c.to_string()),
        OscType::Nil | OscType::Inf => Value::Null,
        // Blobs, colours, MIDI, time tags, arrays: no command takes them.
        other => json!(format!("{other:?}")),
    }
}

fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// The JSON keys each command's positional arguments fill, in order.
fn keys(command: &str) -> &'static [&'static str] {
    match command {
        "generate" => &["seed", "model"],
        "model" | "rollback" => &["name"],
        "mode" => &["mode", "seconds", "fps"],
        "params" => &["seconds", "fps"],
        "capture" => &["model"],
        "scene" => &["action", "name"],
        _ => &[],
    }
}

/// What an incoming message asks of the piece: `None` when its address is
/// not ours (another device's message on a shared port), else the request
/// or its refusal (which becomes an `error` event, as on MQTT).
pub fn request(message: &OscMessage, max_payload: usize) -> Option<Result<Request, CommandError>> {
    let name = message.addr.strip_prefix(ROOT)?;
    let keys = keys(name);
    if message.args.len() > keys.len() {
        return Some(Err(CommandError {
            request_id: None,
            code: "bad_request",
            message: format!(
                "{}: {} argument(s), expected at most {} ({})",
                message.addr,
                message.args.len(),
                keys.len(),
                keys.join(", ")
            ),
        }));
    }
    let mut payload = Map::new();
    for (key, arg) in keys.iter().zip(&message.args) {
        payload.insert((*key).into(), json_value(arg));
    }
    let payload = Value::Object(payload).to_string();
    Some(command::parse(name, payload.as_bytes(), max_payload))
}

/// The OSC messages that announce `event` to the targets, if any.
/// `base_url` makes the picture's URL absolute.
pub fn announce(event: &Event, base_url: &str) -> Option<OscMessage> {
    match event {
        Event::Generated(g) => Some(OscMessage {
            addr: "/easel/generated".into(),
            args: vec![
                OscType::String(g.id.clone()),
                OscType::String(g.model.clone()),
                seed(g.seed),
                OscType::String(format!("{base_url}{}", g.url)),
            ],
        }),
        Event::Error(e) => Some(OscMessage {
            addr: "/easel/error".into(),
            args: vec![
                OscType::String(e.code.clone()),
                OscType::String(e.message.clone()),
            ],
        }),
        _ => None,
    }
}

/// A seed as an OSC int64; one above `i64::MAX` (only ever given by
/// hand: random seeds stay below 2^53) as its decimal string.
fn seed(seed: Option<u64>) -> OscType {
    match seed.map(i64::try_from) {
        Some(Ok(s)) => OscType::Long(s),
        Some(Err(_)) => OscType::String(seed.unwrap_or_default().to_string()),
        // A capture has no seed.
        None => OscType::Nil,
    }
}

/// `/easel/palette` with one `#rrggbb` string per colour.
pub fn palette(palette: &str) -> Option<OscMessage> {
    let colours: Vec<OscType> = palette
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| OscType::String(c.into()))
        .collect();
    (!colours.is_empty()).then(|| OscMessage {
        addr: "/easel/palette".into(),
        args: colours,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piece::command::{Command, Mode, SceneAction};
    use easel_protocol::event::Generated;

    fn msg(addr: &str, args: Vec<OscType>) -> OscMessage {
        OscMessage {
            addr: addr.into(),
            args,
        }
    }

    fn command(addr: &str, args: Vec<OscType>) -> Result<Command, &'static str> {
        request(&msg(addr, args), 16 * 1024)
            .expect("our address")
            .map(|r| r.command)
            .map_err(|e| e.code)
    }

    #[test]
    fn messages_become_the_commands_mqtt_makes() {
        use OscType::*;
        let generate = |seed| Ok(Command::Generate { seed, model: None });
        assert_eq!(command("/easel/generate", vec![]), generate(None));
        assert_eq!(command("/easel/generate", vec![Int(7)]), generate(Some(7)));
        assert_eq!(
            command("/easel/generate", vec![Float(7.0)]),
            generate(Some(7))
        );
        assert_eq!(
            command("/easel/generate", vec![Long(1 << 40)]),
            generate(Some(1 << 40))
        );
        assert_eq!(
            command("/easel/model", vec![String("dcgan-64".into())]),
            Ok(Command::Model {
                name: "dcgan-64".into()
            })
        );
        assert_eq!(
            command(
                "/easel/mode",
                vec![String("morph".into()), Float(4.5), Int(10)]
            ),
            Ok(Command::Mode {
                mode: Mode::Morph,
                seconds: Some(4.5),
                fps: Some(10.0)
            })
        );
        assert_eq!(
            command("/easel/params", vec![Float(2.0)]),
            Ok(Command::Params {
                seconds: Some(2.0),
                fps: None
            })
        );
        assert_eq!(
            command("/easel/capture", vec![]),
            Ok(Command::Capture { model: None })
        );
        assert_eq!(command("/easel/next_model", vec![]), Ok(Command::NextModel));
        assert_eq!(
            command(
                "/easel/scene",
                vec![String("recall".into()), String("blue".into())]
            ),
            Ok(Command::Scene {
                action: SceneAction::Recall,
                name: "blue".into()
            })
        );
    }

    #[test]
    fn bad_arguments_are_refused_as_mqtt_refuses_them() {
        use OscType::*;
        assert_eq!(
            command("/easel/generate", vec![Int(-1)]),
            Err("bad_request")
        );
        assert_eq!(
            command("/easel/generate", vec![Float(0.5)]),
            Err("bad_request")
        );
        assert_eq!(command("/easel/model", vec![Int(3)]), Err("bad_request"));
        assert_eq!(
            command("/easel/model", vec![String("../x".into())]),
            Err("unknown_model")
        );
        assert_eq!(
            command("/easel/mode", vec![String("party".into())]),
            Err("bad_request")
        );
        assert_eq!(
            command("/easel/next_model", vec![Int(1)]),
            Err("bad_request")
        );
        assert_eq!(command("/easel/explode", vec![]), Err("unknown_command"));
        assert!(request(&msg("/other/generate", vec![]), 1024).is_none());
    }

    #[test]
    fn bundles_are_flattened_within_limits() {
        let m = OscPacket::Message(msg("/easel/generate", vec![]));
        let bundle = |content| {
            OscPacket::Bundle(rosc::OscBundle {
                timetag: (0, 1).into(),
                content,
            })
        };
        assert_eq!(
            messages(bundle(vec![m.clone(), bundle(vec![m.clone()])])).len(),
            2
        );
        let deep = bundle(vec![bundle(vec![bundle(vec![bundle(vec![bundle(
            vec![m.clone()],
        )])])])]);
        assert!(messages(deep).is_empty());
        assert_eq!(messages(bundle(vec![m; 100])).len(), MAX_MESSAGES);
    }

    #[test]
    fn events_and_palettes_go_out_as_osc() {
        let g = Event::Generated(Generated {
            request_id: None,
            id: "abc".into(),
            model: "cppn-aurora".into(),
            seed: Some(7),
            url: "/images/abc.png".into(),
            width: 4,
            height: 4,
            latency_ms: 1.0,
        });
        let out = announce(&g, "http://10.0.0.5:8080").unwrap();
        assert_eq!(out.addr, "/easel/generated");
        assert_eq!(
            out.args,
            [
                OscType::String("abc".into()),
                OscType::String("cppn-aurora".into()),
                OscType::Long(7),
                OscType::String("http://10.0.0.5:8080/images/abc.png".into())
            ]
        );
        assert_eq!(seed(Some(u64::MAX)), OscType::String(u64::MAX.to_string()));
        let p = palette("#ff0000,#00ff00").unwrap();
        assert_eq!((p.addr.as_str(), p.args.len()), ("/easel/palette", 2));
        assert!(palette("").is_none());
    }
}
