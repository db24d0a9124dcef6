//! Puts `memory.x` where the linker finds it and turns the controller's
//! build-time settings into constants, failing the build on a bad value
//! rather than shipping a controller that cannot connect.
//!
//! Settings come from the environment or from `easel.env` in this folder
//! (`KEY=value` lines, gitignored: it is per installation, never
//! committed); the environment wins.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `EASEL_BROKER` | `192.168.1.10:1883` | broker: `host:port` or `mqtt://host:port`, host a DNS name or an IPv4 address |
//! | `EASEL_MQTT_USERNAME` | empty | broker login (a locked broker wants one) |
//! | `EASEL_MQTT_PASSWORD` | empty | its password |
//! | `EASEL_CONTROLLER_ID` | `ctl-1` | `[a-z0-9_-]{1,32}`, unique per controller |
//! | `EASEL_NODE` | `gallery-1` | the daemon node to follow |
//! | `EASEL_PREFIX` | `easel` | topic prefix |

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=easel.env");

    let file = fs::read_to_string("easel.env").unwrap_or_default();
    let get = |key: &str, default: &str| -> String {
        println!("cargo:rerun-if-env-changed={key}");
        env::var(key).ok().unwrap_or_else(|| {
            file.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_else(|| default.to_string())
        })
    };
    // The grammar every easel client accepts (easel-protocol's).
    let broker_text = get("EASEL_BROKER", "192.168.1.10:1883");
    let broker = easel_protocol::broker::parse(&broker_text).unwrap_or_else(|e| {
        panic!("EASEL_BROKER={broker_text:?} must be host:port or mqtt://host:port: {e}")
    });
    assert!(
        !broker.tls,
        "EASEL_BROKER={broker_text:?}: the controller speaks plain MQTT (mqtt://), not TLS"
    );
    let username = get("EASEL_MQTT_USERNAME", "");
    let password = get("EASEL_MQTT_PASSWORD", "");
    assert!(
        username.len() <= 64
            && password.len() <= 64
            && (!username.is_empty() || password.is_empty()),
        "EASEL_MQTT_USERNAME/EASEL_MQTT_PASSWORD: at most 64 bytes each, a password needs a username"
    );
    let slug = |key: &str, default: &str, max: usize| {
        let v = get(key, default);
        let ok = !v.is_empty()
            && v.len() <= max
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        assert!(ok, "{key}={v:?} must be [a-z0-9_-]{{1,{max}}}");
        v
    };
    let id = slug("EASEL_CONTROLLER_ID", "ctl-1", 32);
    let node = slug("EASEL_NODE", "gallery-1", 32);
    let prefix = slug("EASEL_PREFIX", "easel", 24);
    let (host, port) = (broker.host, broker.port);
    let config = format!(
        "pub const BROKER_HOST: &str = {host:?};\n\
         pub const BROKER_PORT: u16 = {port};\n\
         pub const MQTT_USERNAME: &str = {username:?};\n\
         pub const MQTT_PASSWORD: &str = {password:?};\n\
         pub const CONTROLLER_ID: &str = {id:?};\n\
         pub const NODE: &str = {node:?};\n\
         pub const PREFIX: &str = {prefix:?};\n"
    );
    fs::write(out.join("config.rs"), config).unwrap();
}
