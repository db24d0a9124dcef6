//! Home Assistant discovery (docs/homeassistant.md) from outside: a real
//! easeld with `[homeassistant] enabled = true` on a private mosquitto
//! (as a venue's Home Assistant brings its own broker; it also keeps the
//! retained configs across the daemon's restart), and a probe in Home
//! Assistant's place. It checks the retained configs
//! (a button whose `command_topic` + `payload_press` make a picture, a
//! select of the loaded models, an image, device and availability on
//! each), presses the button as Home Assistant would, follows the image
//! URL, re-announces on Home Assistant's birth message, and withdraws
//! every entity when the integration is switched off.

mod mqtt_support;

use mqtt_support::{BrokerKind, NODE, Probe, SERIAL, Seen};
use serde_json::Value;

/// The first message matching `pred`, among those seen already or still
/// to come: Home Assistant's topics and the daemon's come over two
/// connections, so their order is not fixed.
async fn seen_or_wait(
    probe: &mut Probe,
    what: &str,
    secs: u64,
    pred: impl Fn(&Seen) -> bool,
) -> Seen {
    match probe.seen.iter().find(|s| pred(s)) {
        Some(s) => s.clone(),
        None => probe.wait(what, secs, pred).await,
    }
}

fn config_of<'a>(seen: &'a [Seen], component: &str, object: &str) -> Option<&'a Seen> {
    let topic = format!("homeassistant/{component}/easel-{NODE}/{object}/config");
    seen.iter().rev().find(|s| s.topic == topic)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_discovers_the_piece_and_its_button_makes_a_picture() {
    let _serial = SERIAL.lock().await;
    let mut daemon =
        mqtt_support::start(BrokerKind::Mosquitto, "[homeassistant]\nenabled = true\n");
    daemon.wait_ready();
    let mut ha = Probe::connect_with(
        daemon.mqtt_port(),
        "home-assistant",
        &["homeassistant/#", "easel/#"],
        None,
    )
    .await;
    ha.wait_online(30).await;
    // The model select lists every loaded model (dcgan-64 loads second:
    // the select is announced again when it has, often before the daemon's
    // status reached this client, so it may be among those seen already).
    let select = seen_or_wait(&mut ha, "the model select with both models", 60, |s| {
        s.topic == format!("homeassistant/select/easel-{NODE}/model/config")
            && s.json()["options"] == serde_json::json!(["cppn-aurora", "dcgan-64"])
    })
    .await;
    assert!(select.retain, "discovery configs are retained");
    let _ = ha.drain(1.0).await;
    let seen = ha.seen.clone();
    for (component, object) in [
        ("button", "generate"),
        ("button", "next_model"),
        ("button", "capture"),
        ("select", "model"),
        ("select", "mode"),
        ("number", "morph_seconds"),
        ("number", "fps"),
        ("image", "picture"),
        ("sensor", "frame_rate"),
        ("sensor", "latency"),
        ("sensor", "errors"),
        ("binary_sensor", "presence"),
    ] {
        let c = config_of(&seen, component, object)
            .unwrap_or_else(|| panic!("no {component}/{object} config"));
        assert!(c.retain, "{}", c.topic);
        let p = c.json();
        assert_eq!(
            p["device"]["identifiers"][0],
            format!("easel-{NODE}"),
            "{}",
            c.topic
        );
        assert_eq!(
            p["availability"][0]["topic"],
            format!("easel/{NODE}/status")
        );
        assert!(p["unique_id"].is_string(), "{}", c.topic);
    }
    let image = config_of(&seen, "image", "picture").unwrap().json();
    let url_topic = image["url_topic"].as_str().unwrap().to_string();

    // Press the button as Home Assistant does: payload_press on
    // command_topic, not retained.
    let button = config_of(&seen, "button", "generate").unwrap().json();
    ha.publish(
        button["command_topic"].as_str().unwrap(),
        button["payload_press"].as_str().unwrap(),
        false,
    )
    .await;
    let event_topic = format!("easel/{NODE}/event");
    let generated = ha
        .wait("the pressed button's picture", 60, |s| {
            s.topic == event_topic && s.json()["type"] == "generated"
        })
        .await
        .json();
    // The image entity gets the picture's absolute URL, and it works.
    let expected = format!("{}{}", daemon.url(""), generated["url"].as_str().unwrap());
    seen_or_wait(&mut ha, "the image URL", 30, |s| {
        s.topic == url_topic && s.payload == expected
    })
    .await;
    let r = easel_test_support::http::get(daemon.http_addr(), generated["url"].as_str().unwrap())
        .unwrap();
    assert_eq!(r.status, 200);
    // The sensors' stats say so too.
    let stats_topic = format!("easel/{NODE}/ha/stats");
    let stats = seen_or_wait(&mut ha, "stats with the picture", 30, |s| {
        s.topic == stats_topic && s.json()["images"].as_u64() >= Some(1)
    })
    .await
    .json();
    assert!(stats["latency_ms"].as_f64().is_some(), "{stats}");
    assert_eq!(stats["presence"], false);

    // Selecting a model as Home Assistant does: command_template rendered.
    let select = config_of(&seen, "select", "model").unwrap().json();
    let payload = select["command_template"]
        .as_str()
        .unwrap()
        .replace("{{ value }}", "dcgan-64");
    ha.publish(select["command_topic"].as_str().unwrap(), payload, false)
        .await;
    let state_topic = format!("easel/{NODE}/state");
    ha.wait("the state with the selected model", 30, |s| {
        s.topic == state_topic && s.json()["model"] == "dcgan-64"
    })
    .await;

    // Home Assistant restarted: its birth message brings every config again.
    let before = ha.seen.len();
    ha.publish("homeassistant/status", "online", false).await;
    ha.wait("configs again after the birth message", 30, |s| {
        s.topic == format!("homeassistant/button/easel-{NODE}/generate/config")
    })
    .await;
    assert!(ha.seen.len() > before);

    // Presence from a controller reaches the binary sensor's topic.
    ha.publish(
        "easel/ctl/door/input",
        r#"{"input":"presence","value":true}"#,
        false,
    )
    .await;
    ha.wait("presence in the stats", 30, |s| {
        s.topic == stats_topic && s.json()["presence"] == true
    })
    .await;

    // Switched off: every entity announced is withdrawn (empty retained).
    let announced: Vec<String> = ha
        .seen
        .iter()
        .filter(|s| s.topic.starts_with("homeassistant/") && s.topic.ends_with("/config"))
        .map(|s| s.topic.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(announced.len() >= 12, "{announced:?}");
    let config = daemon.config_path().to_path_buf();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("enabled = true", "enabled = false")).unwrap();
    daemon.restart();
    for topic in &announced {
        ha.wait(&format!("{topic} withdrawn"), 60, |s| {
            &s.topic == topic && s.payload.is_empty()
        })
        .await;
    }
    // A new subscriber finds no configs left on the broker.
    let mut fresh = Probe::connect_with(
        daemon.mqtt_port(),
        "home-assistant-2",
        &["homeassistant/#"],
        None,
    )
    .await;
    let left: Vec<Value> = fresh
        .drain(2.0)
        .await
        .into_iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| Value::String(s.topic))
        .collect();
    assert!(left.is_empty(), "configs left retained: {left:?}");
}
