//! The OSC edge (docs/osc.md) from outside, with a real OSC client:
//! python-osc (PyPI; scripts/setup.sh installs it) sends `/easel/...`
//! messages to a real easeld and listens, as a configured target, for
//! `/easel/generated` and `/easel/palette`; an MQTT probe sees the same
//! `generated` event an MQTT command makes. Garbage on the port is
//! ignored and the daemon keeps serving.

mod mqtt_support;

use mqtt_support::{NODE, Probe, SERIAL};
use std::net::UdpSocket;
use std::process::Command;

/// A UDP port nobody uses right now.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// python-osc: binds `listen` as a target, sends each (address, args)
/// to `daemon_port`, then prints every message it receives as a JSON line
/// until it has seen every address in `wait_for` (or 60 s pass).
const CLIENT: &str = r#"
import json, sys, time
from pythonosc.udp_client import SimpleUDPClient
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

daemon_port, listen_port = int(sys.argv[1]), int(sys.argv[2])
sends = json.loads(sys.argv[3])
wait_for = set(json.loads(sys.argv[4]))
seen = set()

def heard(address, *args):
    print(json.dumps({"address": address, "args": list(args)}), flush=True)
    seen.add(address)

dispatcher = Dispatcher()
dispatcher.set_default_handler(heard)
server = BlockingOSCUDPServer(("127.0.0.1", listen_port), dispatcher)
server.timeout = 0.5
client = SimpleUDPClient("127.0.0.1", daemon_port)
for address, args in sends:
    client.send_message(address, args)
deadline = time.time() + 60
while not wait_for <= seen and time.time() < deadline:
    server.handle_request()
sys.exit(0 if wait_for <= seen else 1)
"#;

/// Runs the python-osc client; the messages it heard.
fn python_osc(
    daemon_port: u16,
    listen_port: u16,
    sends: serde_json::Value,
    wait_for: &[&str],
) -> Vec<serde_json::Value> {
    let out = Command::new("python3")
        .args(["-c", CLIENT])
        .arg(daemon_port.to_string())
        .arg(listen_port.to_string())
        .arg(sends.to_string())
        .arg(serde_json::to_string(wait_for).unwrap())
        .output()
        .expect("python3 with python-osc (scripts/setup.sh installs it)");
    let heard: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        out.status.success(),
        "python-osc did not hear {wait_for:?}: heard {heard:?}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    heard
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_osc_generate_with_a_seed_makes_that_picture_and_tells_the_targets() {
    let _serial = SERIAL.lock().await;
    let (osc_port, target_port) = (free_udp_port(), free_udp_port());
    let extra = format!(
        "[osc]\nlisten = \"127.0.0.1:{osc_port}\"\ntargets = [\"127.0.0.1:{target_port}\"]\n"
    );
    let mut daemon = mqtt_support::start(mqtt_support::BrokerKind::Embedded, &extra);
    daemon.wait_ready();
    let mut probe = Probe::connect(daemon.mqtt_port(), "osc-probe").await;
    probe.wait_online(30).await;

    let heard = tokio::task::spawn_blocking(move || {
        python_osc(
            osc_port,
            target_port,
            serde_json::json!([["/easel/generate", [7]]]),
            &["/easel/generated", "/easel/palette"],
        )
    })
    .await
    .unwrap();

    let event_topic = format!("easel/{NODE}/event");
    let event = probe
        .wait("the generated event of seed 7", 60, |s| {
            s.topic == event_topic && s.json()["type"] == "generated"
        })
        .await
        .json();
    assert_eq!(event["seed"], 7, "{event}");
    assert_eq!(event["model"], "cppn-aurora");
    let generated = heard
        .iter()
        .find(|m| m["address"] == "/easel/generated")
        .unwrap();
    let args = generated["args"].as_array().unwrap();
    assert_eq!(args[0], event["id"], "{generated}");
    assert_eq!(args[1], "cppn-aurora");
    assert_eq!(args[2], 7);
    let url = args[3].as_str().unwrap();
    assert_eq!(
        url,
        format!("{}{}", daemon.url(""), event["url"].as_str().unwrap())
    );
    let palette = heard
        .iter()
        .find(|m| m["address"] == "/easel/palette")
        .unwrap();
    let colours = palette["args"].as_array().unwrap();
    assert!(!colours.is_empty() && colours.len() <= 8, "{palette}");
    assert!(colours.iter().all(|c| {
        c.as_str()
            .is_some_and(|c| c.len() == 7 && c.starts_with('#'))
    }));
    // The picture is really there, where the URL says.
    let r =
        easel_test_support::http::get(daemon.http_addr(), event["url"].as_str().unwrap()).unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_osc_is_refused_like_bad_mqtt_and_never_stops_the_daemon() {
    let _serial = SERIAL.lock().await;
    let (osc_port, target_port) = (free_udp_port(), free_udp_port());
    let extra = format!(
        "[osc]\nlisten = \"127.0.0.1:{osc_port}\"\ntargets = [\"127.0.0.1:{target_port}\"]\n"
    );
    let mut daemon = mqtt_support::start(mqtt_support::BrokerKind::Embedded, &extra);
    daemon.wait_ready();
    let mut probe = Probe::connect(daemon.mqtt_port(), "osc-probe-2").await;
    probe.wait_online(30).await;
    // Not OSC at all, and a burst of it: logged (a few lines) and dropped.
    let garbage = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..200 {
        garbage
            .send_to(b"\xff\x00not osc", ("127.0.0.1", osc_port))
            .unwrap();
    }
    let heard = tokio::task::spawn_blocking(move || {
        python_osc(
            osc_port,
            target_port,
            serde_json::json!([
                ["/other/thing", [1]],
                ["/easel/model", ["no-such-model"]],
                ["/easel/generate", ["seven"]],
                ["/easel/generate", [8]],
            ]),
            &["/easel/generated"],
        )
    })
    .await
    .unwrap();
    let event_topic = format!("easel/{NODE}/event");
    let codes: Vec<String> = {
        let mut codes = Vec::new();
        while codes.len() < 2 {
            let e = probe
                .wait("two error events", 30, |s| {
                    s.topic == event_topic && s.json()["type"] == "error"
                })
                .await
                .json();
            codes.push(e["code"].as_str().unwrap().to_string());
        }
        codes
    };
    assert_eq!(codes, ["unknown_model", "bad_request"]);
    let errors: Vec<_> = heard
        .iter()
        .filter(|m| m["address"] == "/easel/error")
        .map(|m| m["args"][0].clone())
        .collect();
    assert!(errors.contains(&"unknown_model".into()), "{heard:?}");
    let generated = probe
        .wait("the picture of seed 8", 60, |s| {
            s.topic == event_topic && s.json()["type"] == "generated"
        })
        .await
        .json();
    assert_eq!(generated["seed"], 8);
    assert!(daemon.is_running());
    let log = daemon.log();
    let lines = log.matches("not an OSC packet").count();
    assert!(
        (1..=10).contains(&lines),
        "200 bad datagrams gave {lines} log lines"
    );
}
