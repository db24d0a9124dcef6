//! Turns the controller's build-time settings into constants, failing the
//! build on a bad value rather than shipping a controller that cannot
//! connect.
//!
//! Settings come from the environment or from `easel.env` in this folder
//! (`KEY=value` lines, gitignored: WiFi credentials are per installation
//! and never committed); the environment wins. WiFi, broker and login are
//! only the defaults: they can be changed on site over the USB serial port
//! (Improv, see main.rs), and are validated here by the same code that
//! validates them then (`easel_firmware::site`).
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `EASEL_WIFI_SSID` | none | network name, 1–32 bytes; none: join nothing until set up over USB |
//! | `EASEL_WIFI_PASSWORD` | required with a name | WPA2 passphrase, 8–63 characters; empty = open network |
//! | `EASEL_BROKER` | `192.168.1.10:1883` | broker: `host:port` or `mqtt://host:port`, host a DNS name or an IP |
//! | `EASEL_MQTT_USERNAME` | empty | broker login (a locked broker wants one) |
//! | `EASEL_MQTT_PASSWORD` | empty | its password |
//! | `EASEL_CONTROLLER_ID` | `ctl-1` | `[a-z0-9_-]{1,32}`, unique per controller |
//! | `EASEL_NODE` | `gallery-1` | the daemon node to follow |
//! | `EASEL_PREFIX` | `easel` | topic prefix |

use easel_firmware::site::SiteSettings;
use std::{env, fs, path::PathBuf};

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

    // Without a network the controller joins nothing until it is set up
    // over USB: one image for any venue. Said loudly, since a forgotten
    // easel.env gives the same.
    let ssid = settings.get("EASEL_WIFI_SSID").unwrap_or_default();
    let password = if ssid.is_empty() {
        println!(
            "cargo:warning=EASEL_WIFI_SSID not set: this controller joins no network until it is \
             set up over USB (firmware/README.md, on-site setup)"
        );
        String::new()
    } else {
        settings.required(
            "EASEL_WIFI_PASSWORD",
            "WiFi passphrase (set it empty for an open network)",
        )
    };
    let broker = settings
        .get("EASEL_BROKER")
        .unwrap_or_else(|| "192.168.1.10:1883".into());
    let username = settings.get("EASEL_MQTT_USERNAME").unwrap_or_default();
    let mqtt_password = settings.get("EASEL_MQTT_PASSWORD").unwrap_or_default();
    let site = if ssid.is_empty() {
        SiteSettings::without_wifi(&broker, &username, &mqtt_password)
    } else {
        SiteSettings::new(&ssid, &password, &broker, &username, &mqtt_password)
    };
    if let Err(e) = site {
        panic!("EASEL_WIFI_SSID / EASEL_WIFI_PASSWORD / EASEL_BROKER / EASEL_MQTT_*: {e}");
    }
    let id = settings.name("EASEL_CONTROLLER_ID", "ctl-1", 32);
    let node = settings.name("EASEL_NODE", "gallery-1", 32);
    let prefix = settings.name("EASEL_PREFIX", "easel", 24);

    let config = format!(
        "pub const WIFI_SSID: &str = {ssid:?};\n\
         pub const WIFI_PASSWORD: &str = {password:?};\n\
         pub const BROKER: &str = {broker:?};\n\
         pub const MQTT_USERNAME: &str = {username:?};\n\
         pub const MQTT_PASSWORD: &str = {mqtt_password:?};\n\
         pub const CONTROLLER_ID: &str = {id:?};\n\
         pub const NODE: &str = {node:?};\n\
         pub const PREFIX: &str = {prefix:?};\n"
    );
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::write(out.join("config.rs"), config).unwrap();
}
