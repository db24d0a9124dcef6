//! Opening hours (`[schedule]`) against the real `easeld`: closed, the
//! state says so, the palette is black (controllers' strips go dark), the
//! display hook runs, visitors' buttons do nothing and a technician's
//! command still works; open, the same button makes a picture. When the
//! hours change is the pure core's (`daemon/src/schedule/hours.rs`), tested
//! there with an injected clock.

mod mqtt_support;

use mqtt_support::{BrokerKind, NODE, Probe};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// The same hours every day of the week, in UTC, with hooks that leave a
/// file behind.
fn every_day(hours: &str, hooks: &Path) -> String {
    let days: String = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| format!("{d} = \"{hours}\"\n"))
        .collect();
    format!(
        "[schedule]\ntimezone = \"UTC\"\n{days}on_open = [\"touch\", \"{o}\"]\non_close = [\"touch\", \"{c}\"]\n",
        o = hooks.join("opened").display(),
        c = hooks.join("closed").display(),
    )
}

fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn press_button1(probe: &Probe) {
    probe
        .publish(
            "easel/ctl/visitor/input",
            json!({"input": "button1", "event": "click"}).to_string(),
            false,
        )
        .await;
}

fn is_visitor_picture(s: &mqtt_support::Seen) -> bool {
    s.topic == format!("easel/{NODE}/event")
        && s.json()["type"] == "generated"
        && s.json()["request_id"].is_null()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_the_piece_is_dark_and_deaf_to_visitors_but_not_to_technicians() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let hooks = tempfile::tempdir().unwrap();
    let mut d = mqtt_support::start(BrokerKind::Embedded, &every_day("closed", hooks.path()));
    let mut probe = Probe::connect(d.mqtt_port(), "probe").await;
    probe.wait_online(120).await;
    let state_topic = format!("easel/{NODE}/state");
    let closed =
        |s: &mqtt_support::Seen| s.topic == state_topic && s.json()["schedule"]["open"] == false;
    let state = probe
        .seen_or_wait("a closed state", 30, closed)
        .await
        .json();
    assert_eq!(state["schedule"]["timezone"], "UTC");
    assert!(
        state["schedule"]["next_change"].is_null(),
        "closed every day never opens: {state}"
    );
    let palette_topic = format!("easel/{NODE}/palette");
    let black = |s: &mqtt_support::Seen| s.topic == palette_topic && s.payload == "#000000";
    probe.seen_or_wait("a black palette", 30, black).await;
    wait_for_file(&hooks.path().join("closed"));
    assert!(
        !hooks.path().join("opened").exists(),
        "on_open ran while closed"
    );

    press_button1(&probe).await;
    // The press is read and dropped at the edge; a picture it made would
    // be announced within the engine's time for one (milliseconds here).
    let seen = probe.drain(3.0).await;
    assert!(
        !seen.iter().any(is_visitor_picture),
        "a visitor's press made a picture while closed"
    );
    probe
        .command("generate", json!({"seed": 3, "request_id": "tech"}))
        .await;
    assert_eq!(probe.answer("tech", 60).await["type"], "generated");
    // A technician's picture does not light the strips.
    let seen = probe.drain(1.0).await;
    assert!(
        !seen
            .iter()
            .any(|s| s.topic == palette_topic && s.payload != "#000000"),
        "the palette left black while closed: {seen:#?}"
    );
    assert!(d.is_running());
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_all_day_the_same_press_makes_a_picture() {
    let _serial = mqtt_support::SERIAL.lock().await;
    let hooks = tempfile::tempdir().unwrap();
    let mut d = mqtt_support::start(
        BrokerKind::Embedded,
        &every_day("00:00-24:00", hooks.path()),
    );
    let mut probe = Probe::connect(d.mqtt_port(), "probe").await;
    probe.wait_online(120).await;
    let state_topic = format!("easel/{NODE}/state");
    let open =
        |s: &mqtt_support::Seen| s.topic == state_topic && s.json()["schedule"]["open"] == true;
    probe.seen_or_wait("an open state", 30, open).await;
    wait_for_file(&hooks.path().join("opened"));
    assert!(
        !hooks.path().join("closed").exists(),
        "on_close ran while open"
    );
    press_button1(&probe).await;
    probe
        .wait("a picture from the press", 60, is_visitor_picture)
        .await;
    d.stop();
}
