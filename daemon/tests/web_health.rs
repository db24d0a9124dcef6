//! `/healthz` follows the MQTT link: 200 with an external mosquitto up,
//! 503 (saying why) once it is stopped, 200 again when it returns on the
//! same port — the daemon reconnects by itself.

mod web_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use web_support::{Daemon, Setup, free_port, get, wait_for};

fn mosquitto(port: u16, dir: &std::path::Path) -> Child {
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let binary = ["/usr/sbin/mosquitto", "mosquitto"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("-h")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .expect("mosquitto is installed (scripts/setup.sh installs it)");
    let child = Command::new(binary)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(10), "mosquitto to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    child
}

fn health(daemon: &Daemon) -> (u16, serde_json::Value) {
    let r = get(daemon.addr, "/healthz").unwrap();
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

#[test]
fn healthz_follows_the_external_broker() {
    let port = free_port();
    let setup = Setup::new(
        "127.0.0.1:0",
        &format!("url = \"mqtt://127.0.0.1:{port}\""),
        "",
    );
    let mut broker = mosquitto(port, setup.dir.path());
    let daemon = Daemon::start(&setup.config);
    daemon.wait_ready();
    wait_for(
        Duration::from_secs(30),
        "healthz 200 with the broker up",
        || (health(&daemon).0 == 200).then_some(()),
    );

    broker.kill().unwrap();
    broker.wait().unwrap();
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
    let metrics = get(daemon.addr, "/metrics").unwrap().text();
    assert!(metrics.contains("easel_mqtt_connected 0"), "{metrics}");

    let mut broker = mosquitto(port, setup.dir.path());
    wait_for(
        Duration::from_secs(60),
        "healthz 200 after the broker returns",
        || (health(&daemon).0 == 200).then_some(()),
    );
    assert!(
        get(daemon.addr, "/metrics")
            .unwrap()
            .text()
            .contains("easel_mqtt_connected 1")
    );
    drop(daemon);
    let _ = broker.kill();
    let _ = broker.wait();
}
