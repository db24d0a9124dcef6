//! The MQTT control plane end to end: the real `easeld` binary against the
//! embedded broker and against a mosquitto started here, observed by a
//! real MQTT client. Every scenario runs on both brokers (`both!`).

mod mqtt_support;

use easel_test_support::wait_port;
use mqtt_support::{BrokerKind, Daemon, NODE, Probe};
use serde_json::json;

async fn online(kind: BrokerKind, extra: &str) -> (Daemon, Probe) {
    assert!(
        mqtt_support::SERIAL.try_lock().is_err(),
        "tests hold SERIAL"
    );
    let d = mqtt_support::start(kind, extra);
    wait_port(d.mqtt_port());
    let mut probe = Probe::connect(d.mqtt_port(), "probe").await;
    probe.wait_online(60).await;
    (d, probe)
}

fn state_topic() -> String {
    format!("easel/{NODE}/state")
}

async fn generate_model_switch_and_controller_input(kind: BrokerKind) {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (mut d, mut probe) = online(kind, "").await;
    // generate -> generated event with the requested seed, request_id echoed.
    probe
        .command("generate", json!({"seed": 7, "request_id": "g1"}))
        .await;
    let answer = probe.answer("g1", 30).await;
    assert_eq!(answer["type"], "generated", "{answer}");
    assert_eq!(answer["seed"], 7);
    assert_eq!(answer["model"], "cppn-aurora");
    assert!(answer["url"].as_str().unwrap().starts_with("/images/"));
    let palette = format!("easel/{NODE}/palette");
    let p = probe.wait("the palette", 10, |s| s.topic == palette).await;
    assert!(p.payload.starts_with('#') && p.retain, "{p:?}");
    // The fleet-wide topic too.
    probe
        .publish(
            "easel/all/cmd/generate",
            json!({"seed": 8, "request_id": "g2"}).to_string(),
            false,
        )
        .await;
    assert_eq!(probe.answer("g2", 30).await["seed"], 8);
    // Model switch -> the retained state changes (wait until dcgan-64 is loaded).
    let loaded = |s: &mqtt_support::Seen| {
        s.topic == state_topic() && s.payload.contains("\"name\":\"dcgan-64\"")
    };
    if !probe.seen.iter().any(loaded) {
        probe.wait("dcgan-64 loaded", 60, loaded).await;
    }
    probe
        .command("model", json!({"name": "dcgan-64", "request_id": "m1"}))
        .await;
    assert_eq!(probe.answer("m1", 10).await["type"], "done");
    // A new subscriber sees the new model in the retained state.
    let mut late = Probe::connect(d.mqtt_port(), "late").await;
    let state = late
        .wait("retained state", 10, |s| {
            s.topic == state_topic() && s.retain
        })
        .await;
    assert_eq!(state.json()["model"], "dcgan-64", "{}", state.payload);
    // Controller input -> generated event.
    probe
        .publish(
            "easel/ctl/test/input",
            json!({"input":"button1","event":"click"}).to_string(),
            false,
        )
        .await;
    let event = format!("easel/{NODE}/event");
    let g = probe
        .wait("a generated event from button1", 30, |s| {
            s.topic == event && s.json()["type"] == "generated" && s.json()["request_id"].is_null()
        })
        .await;
    assert_eq!(g.json()["model"], "dcgan-64");
    assert!(d.is_running());
}

async fn bad_payloads_change_nothing(kind: BrokerKind) {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (mut d, mut probe) = online(kind, "").await;
    probe
        .command("generate", json!({"seed": 3, "request_id": "ok"}))
        .await;
    probe.answer("ok", 30).await;
    // Both models loaded (the state would change under the test otherwise).
    let loaded = |s: &mqtt_support::Seen| {
        s.topic == state_topic() && s.payload.contains("\"name\":\"dcgan-64\"")
    };
    if !probe.seen.iter().any(loaded) {
        probe.wait("dcgan-64 loaded", 60, loaded).await;
    }
    let mut first = Probe::connect(d.mqtt_port(), "first").await;
    let before = first
        .wait("retained state", 10, |s| s.topic == state_topic())
        .await
        .json();
    assert_eq!(before["seed"], 3);
    let topic = |c: &str| format!("easel/{NODE}/cmd/{c}");
    probe.publish(&topic("generate"), "{not json", false).await;
    probe
        .publish(
            &topic("generate"),
            json!({"seed": "seven", "request_id": "types"}).to_string(),
            false,
        )
        .await;
    probe
        .publish(
            &topic("model"),
            json!({"name": "no-such-model", "request_id": "unknown"}).to_string(),
            false,
        )
        .await;
    probe
        .publish(
            &topic("explode"),
            json!({"request_id": "cmd"}).to_string(),
            false,
        )
        .await;
    let mut huge = br#"{"request_id":"big","seed":1,"pad":""#.to_vec();
    huge.resize(1 << 20, b'x');
    huge.extend_from_slice(b"\"}");
    probe.publish(&topic("generate"), huge, false).await;
    probe
        .publish(
            &topic("generate"),
            json!({"seed": 99, "request_id": "kept"}).to_string(),
            true,
        )
        .await;
    for (id, code) in [
        ("types", "bad_request"),
        ("unknown", "unknown_model"),
        ("cmd", "unknown_command"),
        ("kept", "retained_command"),
    ] {
        let e = probe.answer(id, 15).await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some(code)),
            "{id}: {e}"
        );
    }
    let event = format!("easel/{NODE}/event");
    let codes: Vec<String> = probe
        .seen
        .iter()
        .filter(|s| s.topic == event)
        .map(|s| s.json()["code"].as_str().unwrap_or("").to_string())
        .collect();
    for code in ["invalid_json", "payload_too_large"] {
        if !codes.iter().any(|c| c == code) {
            probe
                .wait(code, 15, |s| s.topic == event && s.json()["code"] == code)
                .await;
        }
    }
    // Nothing else happened: no picture, same state; and still alive.
    let later = probe.drain(1.0).await;
    assert!(
        !later.iter().any(|s| s.json()["type"] == "generated"),
        "{later:?}"
    );
    probe.publish(&topic("generate"), "", true).await; // clear the retained command
    let mut late = Probe::connect(d.mqtt_port(), "late").await;
    let now = late
        .wait("retained state", 10, |s| s.topic == state_topic())
        .await
        .json();
    assert_eq!(now, before);
    assert!(d.is_running());
    probe
        .command("generate", json!({"seed": 4, "request_id": "after"}))
        .await;
    assert_eq!(probe.answer("after", 30).await["type"], "generated");
}

async fn last_will_on_sigkill_and_stopped_on_sigterm(kind: BrokerKind) {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (mut d, mut probe) = online(kind, "").await;
    let status = format!("easel/{NODE}/status");
    if matches!(kind, BrokerKind::Embedded) {
        // SIGKILL takes an embedded broker down with its daemon, so the
        // Last Will is checked on a second daemon that is a client of the
        // first one's embedded broker.
        let mut client = mqtt_support::start_client_of(d.mqtt_port());
        probe
            .wait("second node online", 60, |s| {
                s.topic == "easel/e2e-2/status" && s.payload == "online"
            })
            .await;
        client.kill();
        probe
            .wait("offline (Last Will)", 30, |s| {
                s.topic == "easel/e2e-2/status" && s.payload == "offline"
            })
            .await;
        assert!(d.is_running());
        return;
    }
    d.kill();
    probe
        .wait("offline (Last Will)", 30, |s| {
            s.topic == status && s.payload == "offline"
        })
        .await;
    d.restart();
    probe
        .wait("online again", 60, |s| {
            s.topic == status && s.payload == "online"
        })
        .await;
    probe
        .wait("a model", 60, |s| {
            s.topic == state_topic() && !s.json()["model"].is_null()
        })
        .await;
    let exit = d.stop();
    assert!(exit.success(), "{exit:?}");
    probe
        .wait("stopped", 10, |s| {
            s.topic == status && s.payload == "stopped"
        })
        .await;
    let after = probe.drain(1.0).await;
    assert!(
        !after
            .iter()
            .any(|s| s.topic == status && s.payload == "offline"),
        "no Last Will after a clean exit"
    );
}

macro_rules! both {
    ($($name:ident),*) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::BrokerKind::Embedded).await })*
        }
        mod mosquitto {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::BrokerKind::Mosquitto).await })*
        }
    };
}

both!(
    generate_model_switch_and_controller_input,
    bad_payloads_change_nothing,
    last_will_on_sigkill_and_stopped_on_sigterm
);

/// With the embedded broker, SIGTERM must still publish `stopped`: the
/// daemon disconnects before its broker goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_on_sigterm_embedded() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (mut d, _probe) = online(BrokerKind::Embedded, "").await;
    // A mosquitto_sub at 3.1.1 sees the whole goodbye.
    let mut sub = std::process::Command::new("mosquitto_sub")
        .args([
            "-V",
            "mqttv311",
            "-h",
            "127.0.0.1",
            "-p",
            &d.mqtt_port().to_string(),
            "-t",
            &format!("easel/{NODE}/status"),
            "-v",
        ])
        .args(["-C", "2", "-W", "15"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub (apt-get install mosquitto-clients)");
    // Subscribed once the retained `online` has arrived.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(sub.stdout.take().unwrap()));
    let first = lines.next().expect("mosquitto_sub output").unwrap();
    assert_eq!(first, format!("easel/{NODE}/status online"));
    let exit = d.stop();
    assert!(exit.success(), "{exit:?}");
    let second = lines.next().map(|l| l.unwrap()).unwrap_or_default();
    assert_eq!(second, format!("easel/{NODE}/status stopped"));
    let _ = sub.wait();
}

/// mosquitto killed and restarted on the same port: the daemon is online
/// again and answers, without being restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_broker_restart() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (mut d, _) = online(BrokerKind::Mosquitto, "").await;
    let started = std::time::Instant::now();
    d.mosquitto().unwrap().restart();
    let mut probe = Probe::connect(d.mqtt_port(), "probe2").await;
    probe.wait_online(15).await;
    eprintln!("online again {:?} after the restart", started.elapsed());
    probe
        .command("generate", json!({"seed": 11, "request_id": "back"}))
        .await;
    assert_eq!(probe.answer("back", 30).await["seed"], 11);
    let palette = format!("easel/{NODE}/palette");
    probe
        .wait("palette republished", 10, |s| s.topic == palette)
        .await;
    assert!(d.is_running());
}

/// mosquitto_pub at MQTT 3.1.1 and 5 against the embedded broker's one listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_at_both_versions_on_the_embedded_broker() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (_d, mut probe) = online(BrokerKind::Embedded, "").await;
    for (version, id) in [("mqttv311", "v311"), ("mqttv5", "v5")] {
        let status = std::process::Command::new("mosquitto_pub")
            .args([
                "-V",
                version,
                "-h",
                "127.0.0.1",
                "-p",
                &probe_port(&_d),
                "-q",
                "1",
            ])
            .args([
                "-t",
                &format!("easel/{NODE}/cmd/generate"),
                "-m",
                &json!({"seed": 5, "request_id": id}).to_string(),
            ])
            .status()
            .expect("mosquitto_pub (apt-get install mosquitto-clients)");
        assert!(status.success(), "{version}");
        assert_eq!(probe.answer(id, 30).await["seed"], 5, "{version}");
    }
}

fn probe_port(d: &Daemon) -> String {
    d.mqtt_port().to_string()
}

/// Morph mode: frames flow (easel_frames_total grows) and knob input maps
/// to the morph speed in the retained state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn morph_mode_and_knob() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (_d, mut probe) = online(BrokerKind::Embedded, "").await;
    probe
        .command(
            "mode",
            json!({"mode": "morph", "seconds": 2.0, "fps": 0, "request_id": "m"}),
        )
        .await;
    assert_eq!(probe.answer("m", 10).await["type"], "done");
    // The controller's first report is where its knob stands: no change.
    for value in [0.5, 1.0] {
        probe
            .publish(
                "easel/ctl/k/input",
                json!({"input":"knob1","value":value}).to_string(),
                false,
            )
            .await;
    }
    let s = probe
        .wait("seconds = 1 from the knob", 10, |s| {
            s.topic == state_topic() && s.json()["params"]["seconds"] == 1.0
        })
        .await;
    assert_eq!(s.json()["mode"], "morph");
    probe
        .publish(
            "easel/ctl/k/input",
            json!({"input":"button2","event":"click"}).to_string(),
            false,
        )
        .await;
    probe
        .wait("toggled back to still", 10, |s| {
            s.topic == state_topic() && s.json()["mode"] == "still"
        })
        .await;
}

/// Regression: a knob controller repeating its value (its heartbeat) counted
/// as a visitor each time, so attract mode never started while one was
/// connected. Now the repeats are ignored and the piece starts attracting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attract_starts_while_a_knob_repeats_its_value() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (_d, mut probe) = online(BrokerKind::Embedded, "[attract]\nafter_seconds = 2\n").await;
    let started = std::time::Instant::now();
    let mut attracting = false;
    while !attracting && started.elapsed() < std::time::Duration::from_secs(15) {
        probe
            .publish(
                "easel/ctl/k/input",
                json!({"input":"knob1","value":0.5}).to_string(),
                false,
            )
            .await;
        attracting = probe
            .drain(0.4)
            .await
            .iter()
            .any(|s| s.topic == state_topic() && s.json()["attract"] == true);
    }
    assert!(
        attracting,
        "no attract mode within 15 s of a repeating knob"
    );
}

/// Scenes survive a restart of the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenes_survive_restart() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (mut d, mut probe) = online(BrokerKind::Mosquitto, "").await;
    probe
        .command("generate", json!({"seed": 42, "request_id": "g"}))
        .await;
    probe.answer("g", 30).await;
    // (The state is updated before the event is sent.)
    probe
        .command(
            "scene",
            json!({"action": "save", "name": "fav", "request_id": "s"}),
        )
        .await;
    assert_eq!(probe.answer("s", 10).await["type"], "done");
    assert!(d.stop().success());
    d.restart();
    probe
        .wait("scene listed after restart", 60, |s| {
            s.topic == state_topic()
                && s.json()["scenes"] == json!(["fav"])
                && !s.json()["model"].is_null()
        })
        .await;
    probe
        .command(
            "scene",
            json!({"action": "recall", "name": "fav", "request_id": "r"}),
        )
        .await;
    let g = probe.answer("r", 30).await;
    assert_eq!(
        (g["type"].as_str(), g["seed"].as_u64()),
        (Some("generated"), Some(42))
    );
}

/// A retained command larger than the daemon takes in one packet, left on
/// an external broker (by mistake or malice): the daemon announces its
/// maximum packet size when it connects, so the broker never sends it.
/// Were it sent, the client would drop the connection on it, reconnect,
/// get it again as a retained message, and never stay online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_command_too_large_for_a_packet_is_never_delivered() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let (mut d, mut probe) = online(BrokerKind::Mosquitto, "").await;
    let topic = format!("easel/{NODE}/cmd/generate");
    let status = format!("easel/{NODE}/status");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.json");
    let mut huge = br#"{"request_id":"huge","seed":1,"pad":""#.to_vec();
    huge.resize(5 << 20, b'x');
    huge.extend_from_slice(b"\"}");
    std::fs::write(&file, huge).unwrap();
    let port = d.mqtt_port().to_string();
    let mosquitto_pub = |extra: &[&str]| {
        let ok = std::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port, "-t", &topic])
            .args(["-q", "1", "-r"])
            .args(extra)
            .status()
            .expect("mosquitto_pub (apt-get install mosquitto-clients)");
        assert!(ok.success());
    };
    mosquitto_pub(&["-f", file.to_str().unwrap()]);
    // Live, and again at a fresh connection (the retained copy).
    for round in ["live", "after a restart"] {
        let before = probe.seen.len();
        probe
            .command("generate", json!({"seed": 8, "request_id": round}))
            .await;
        assert_eq!(
            probe.answer(round, 30).await["type"],
            "generated",
            "{round}"
        );
        probe.drain(1.0).await;
        assert!(
            !probe.seen[before..]
                .iter()
                .any(|s| s.topic == status && s.payload == "offline"),
            "{round}: the daemon lost its connection"
        );
        assert!(d.is_running());
        if round == "live" {
            assert!(d.stop().success());
            d.restart();
            probe.wait_online(60).await;
        }
    }
    mosquitto_pub(&["-n"]); // clear it
}
