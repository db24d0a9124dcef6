//! Board health against the real `easeld`: `/metrics` has the free disk
//! of the data folder (checked against `df`), the uptime and the memory
//! (against `/proc/meminfo`), and
//! `[health] min_free_disk_mb` above the real free space is a `/healthz`
//! warning (200 still: a restart frees no disk) and in `state.board`.

mod web_support;

use std::time::Duration;
use web_support::{get, prometheus};

fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let text = get(addr, "/metrics").unwrap().text();
    let samples = prometheus::parse(&text).expect("metrics parse");
    prometheus::value(&samples, name, &[]).unwrap_or_else(|| panic!("{name} missing:\n{text}"))
}

/// `df`'s available and total bytes for the filesystem of `dir`.
fn df(dir: &std::path::Path) -> (f64, f64) {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail,size"])
        .arg(dir)
        .output()
        .expect("running df");
    let text = String::from_utf8(out.stdout).unwrap();
    let numbers: Vec<f64> = text
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("df printed {text:?}"))
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn metrics_have_disk_and_uptime_and_low_disk_is_a_warning() {
    // 2^30 MiB (a pebibyte): more than any disk this runs on has free.
    let mut daemon = web_support::easeld()
        .extra("[health]\nmin_free_disk_mb = 1073741824\n")
        .start();
    daemon.wait_ready();
    let addr = daemon.http_addr();

    let free = metric(addr, "easel_disk_free_bytes");
    let total = metric(addr, "easel_disk_total_bytes");
    let (df_free, df_total) = df(&daemon.data_dir());
    assert!(free > 0.0 && free <= total, "free {free} of {total}");
    assert_eq!(total, df_total, "the data folder's filesystem");
    // Other programs write meanwhile: within 1% of the disk.
    assert!(
        (free - df_free).abs() <= total / 100.0,
        "easel says {free} free, df {df_free}"
    );

    let uptime = metric(addr, "easel_uptime_seconds");
    let started = metric(addr, "process_start_time_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (0.0..600.0).contains(&uptime),
        "uptime {uptime} s for a daemon just started"
    );
    assert!(
        started <= now && now - started < 600.0,
        "started at {started}, now {now}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert!(metric(addr, "easel_uptime_seconds") >= uptime + 1.0);

    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let mem_total: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert_eq!(metric(addr, "easel_memory_total_bytes"), mem_total * 1024.0);
    let available = metric(addr, "easel_memory_available_bytes");
    assert!(available > 0.0 && available <= mem_total * 1024.0);
    let resident = metric(addr, "process_resident_memory_bytes");
    assert!(
        (1e6..available).contains(&resident),
        "easeld's resident memory {resident}"
    );

    let r = get(addr, "/healthz").unwrap();
    let health: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(r.status, 200, "{health}");
    assert!(
        health["warnings"].to_string().contains("low disk space"),
        "{health}"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&get(addr, "/api/state").unwrap().body).unwrap();
    let board = &state["board"];
    assert!(
        board["warnings"].to_string().contains("low disk space"),
        "{state}"
    );
    assert!(board["disk_free_bytes"].as_f64().unwrap() > 0.0, "{state}");
    assert_eq!(
        board["memory_total_bytes"].as_f64(),
        Some(mem_total * 1024.0),
        "{state}"
    );
}

#[test]
fn enough_free_disk_is_no_warning() {
    let mut daemon = web_support::easeld()
        .extra("[health]\nmin_free_disk_mb = 0\n")
        .start();
    daemon.wait_ready();
    let r = get(daemon.http_addr(), "/healthz").unwrap();
    let health: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(r.status, 200, "{health}");
    assert!(!health["warnings"].to_string().contains("disk"), "{health}");
}
