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
//! | `EASEL_BROKER` | `192.168.1.10:1883` | broker IPv4 address and port |
//! | `EASEL_CONTROLLER_ID` | `ctl-1` | `[a-z0-9_-]{1,32}`, unique per controller |
//! | `EASEL_NODE` | `gallery-1` | the daemon node to follow |
//! | `EASEL_PREFIX` | `easel` | topic prefix |

use std::{env, fs, net::SocketAddrV4, path::PathBuf};

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
    let broker: SocketAddrV4 = get("EASEL_BROKER", "192.168.1.10:1883")
        .parse()
        .unwrap_or_else(|e| panic!("EASEL_BROKER must be IPv4:port: {e}"));
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
    let o = broker.ip().octets();
    let config = format!(
        "pub const BROKER_IP: [u8; 4] = [{}, {}, {}, {}];\n\
         pub const BROKER_PORT: u16 = {};\n\
         pub const CONTROLLER_ID: &str = {id:?};\n\
         pub const NODE: &str = {node:?};\n\
         pub const PREFIX: &str = {prefix:?};\n",
        o[0],
        o[1],
        o[2],
        o[3],
        broker.port()
    );
    fs::write(out.join("config.rs"), config).unwrap();
}
