//! `/healthz` follows the MQTT link: 200 with an external mosquitto up,
//! 503 (saying why) once it is stopped, 200 again when it returns on the
//! same port — the daemon reconnects by itself.

mod web_support;

use easel_test_support::{Broker, wait_for};
use std::time::Duration;
use web_support::{Daemon, get};

fn health(daemon: &Daemon) -> (u16, serde_json::Value) {
    let r = get(daemon.http_addr(), "/healthz").unwrap();
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

#[test]
fn healthz_follows_the_external_broker() {
    // A private mosquitto, started before the daemon.
    let mut daemon = web_support::easeld().broker(Broker::Mosquitto).start();
    daemon.wait_ready();
    wait_for(
        Duration::from_secs(30),
        "healthz 200 with the broker up",
        || (health(&daemon).0 == 200).then_some(()),
    );

    daemon.mosquitto().unwrap().stop();
    let (_, body) = wait_for(
        Duration::from_secs(30),
        "healthz 503 with the broker down",
        || {
            let h = health(&daemon);
            (h.0 == 503).then_some(h)
        },
    );
    assert_eq!(body["mqtt_connected"], false);
    assert!(body["reasons"].to_string().contains("MQTT"), "{body}");
    let metrics = get(daemon.http_addr(), "/metrics").unwrap().text();
    assert!(metrics.contains("easel_mqtt_connected 0"), "{metrics}");

    // A new one on the same port.
    daemon.mosquitto().unwrap().restart();
    wait_for(
        Duration::from_secs(60),
        "healthz 200 after the broker returns",
        || (health(&daemon).0 == 200).then_some(()),
    );
    assert!(
        get(daemon.http_addr(), "/metrics")
            .unwrap()
            .text()
            .contains("easel_mqtt_connected 1")
    );
    drop(daemon);
}
