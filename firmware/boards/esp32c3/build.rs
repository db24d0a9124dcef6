//! Turns the controller's build-time settings into constants, failing the
//! build on a missing or bad value rather than shipping a controller that
//! cannot join the network.
//!
//! Settings come from the environment or from `easel.env` in this folder
//! (`KEY=value` lines, gitignored: WiFi credentials are per installation
//! and never committed); the environment wins.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `EASEL_WIFI_SSID` | required | network name, 1–32 bytes |
//! | `EASEL_WIFI_PASSWORD` | required | WPA2 passphrase, 8–63 characters; empty = open network |
//! | `EASEL_BROKER` | `192.168.1.10:1883` | broker IPv4 address and port |
//! | `EASEL_CONTROLLER_ID` | `ctl-1` | `[a-z0-9_-]{1,32}`, unique per controller |
//! | `EASEL_NODE` | `gallery-1` | the daemon node to follow |
//! | `EASEL_PREFIX` | `easel` | topic prefix |

use std::{env, fs, net::SocketAddrV4, path::PathBuf};

/// The settings file and the environment, environment first.
struct Settings {
    file: String,
}

impl Settings {
    fn get(&self, key: &str) -> Option<String> {
        println!("cargo:rerun-if-env-changed={key}");
        env::var(key).ok().or_else(|| {
            self.file
                .lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
        })
    }

    fn required(&self, key: &str, what: &str) -> String {
        self.get(key).unwrap_or_else(|| {
            panic!(
                "{key} is not set: give the {what} in the environment or in easel.env \
                 (firmware/README.md, ESP32-C3)"
            )
        })
    }

    fn name(&self, key: &str, default: &str, max: usize) -> String {
        let v = self.get(key).unwrap_or_else(|| default.to_string());
        let ok = !v.is_empty()
            && v.len() <= max
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        assert!(ok, "{key}={v:?} must be [a-z0-9_-]{{1,{max}}}");
        v
    }
}

fn main() {
    println!("cargo:rerun-if-changed=easel.env");
    let settings = Settings {
        file: fs::read_to_string("easel.env").unwrap_or_default(),
    };

    let ssid = settings.required("EASEL_WIFI_SSID", "WiFi network name");
    assert!(
        (1..=32).contains(&ssid.len()),
        "EASEL_WIFI_SSID must be 1 to 32 bytes, not {}",
        ssid.len()
    );
    let password = settings.required(
        "EASEL_WIFI_PASSWORD",
        "WiFi passphrase (set it empty for an open network)",
    );
    assert!(
        password.is_empty() || ((8..=63).contains(&password.len()) && password.is_ascii()),
        "EASEL_WIFI_PASSWORD must be empty (open network) or 8 to 63 ASCII characters (WPA2)"
    );
    let broker: SocketAddrV4 = settings
        .get("EASEL_BROKER")
        .unwrap_or_else(|| "192.168.1.10:1883".into())
        .parse()
        .unwrap_or_else(|e| panic!("EASEL_BROKER must be IPv4:port: {e}"));
    let id = settings.name("EASEL_CONTROLLER_ID", "ctl-1", 32);
    let node = settings.name("EASEL_NODE", "gallery-1", 32);
    let prefix = settings.name("EASEL_PREFIX", "easel", 24);

    let [a, b, c, d] = broker.ip().octets();
    let port = broker.port();
    let config = format!(
        "pub const WIFI_SSID: &str = {ssid:?};\n\
         pub const WIFI_PASSWORD: &str = {password:?};\n\
         pub const BROKER_IP: [u8; 4] = [{a}, {b}, {c}, {d}];\n\
         pub const BROKER_PORT: u16 = {port};\n\
         pub const CONTROLLER_ID: &str = {id:?};\n\
         pub const NODE: &str = {node:?};\n\
         pub const PREFIX: &str = {prefix:?};\n"
    );
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::write(out.join("config.rs"), config).unwrap();
}
