//! `easel ctl` end to end: the real `easel` binary against the real
//! `easeld` (the harness of `easel-test-support`, with the binary found
//! next to `easel` in the target directory; `cargo test --workspace`
//! builds both), on the daemon's embedded broker and on a mosquitto
//! started here.
//!
//! The control plane benchmark is here too, `#[ignore]`d (it measures,
//! it asserts only that every request got exactly one answer):
//! `cargo test --release -p easel-tools --test ctl -- --ignored --nocapture`.

use easel_test_support::{Broker, Daemon, Mosquitto, free_port, target_binary, wait_port};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One scenario at a time: real daemons on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn easel_bin() -> &'static str {
    env!("CARGO_BIN_EXE_easel")
}

/// The real daemon (`easeld` from the target directory `easel` was built
/// into) with `models` copied, the first the default; returns once a
/// model is loaded.
fn easeld(node: &str, models: &[&str], broker: Broker) -> Daemon {
    let mut d = Daemon::builder(target_binary("easeld"))
        .node(node)
        .models(models)
        .broker(broker)
        .start();
    d.wait_ready();
    d
}

/// On an external broker at `url`.
fn easeld_on(node: &str, models: &[&str], url: &str) -> Daemon {
    easeld(node, models, Broker::External(url.into()))
}

/// Embedded broker on a free port: (daemon, broker URL).
fn embedded(node: &str, models: &[&str]) -> (Daemon, String) {
    let d = easeld(node, models, Broker::Embedded);
    wait_port(d.mqtt_port());
    let url = d.mqtt_url();
    (d, url)
}

fn easel(args: &[&str]) -> Output {
    Command::new(easel_bin())
        .args(args)
        .output()
        .expect("running easel")
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn generate_answers_with_its_request_id() {
    let _s = serial();
    let (mut d, url) = embedded("ctl-one", &["dcgan-64"]);
    let out = easel(&[
        "ctl", "--broker", &url, "--to", "ctl-one", "generate", "--seed", "7",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let events = lines(&out);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["type"], "generated", "{e}");
    assert_eq!(e["seed"], 7);
    assert_eq!(e["node"], "ctl-one");
    assert_eq!(e["model"], "dcgan-64");
    assert!(e["request_id"].as_str().unwrap().starts_with("ctl-"), "{e}");
    // The picture is really there.
    let png = d
        .data_dir()
        .join("images")
        .join(format!("{}.png", e["id"].as_str().unwrap()));
    assert!(png.exists(), "{}", png.display());
    // Without --to: the only node online; a JSON payload and our own id.
    let out = easel(&[
        "ctl",
        "--broker",
        &url,
        "generate",
        r#"{"seed": 8, "request_id": "mine-1"}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let e = &lines(&out)[0];
    assert_eq!(
        (e["seed"].as_u64(), e["request_id"].as_str()),
        (Some(8), Some("mine-1"))
    );
    // A command answered with `done`.
    let out = easel(&["ctl", "--broker", &url, "mode", "--mode", "still"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lines(&out)[0]["type"], "done");
    assert!(d.is_running());
}

#[test]
fn refusals_timeouts_and_unreachable_brokers_fail_with_one_line() {
    let _s = serial();
    let (mut d, url) = embedded("ctl-err", &["dcgan-64"]);
    // Unknown model: the error event on stdout, the code on stderr, exit 1.
    let out = easel(&[
        "ctl", "--broker", &url, "--to", "ctl-err", "generate", "--model", "nope",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let e = &lines(&out)[0];
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("unknown_model"))
    );
    let err = stderr(&out);
    assert!(
        err.contains("unknown_model") && err.lines().count() == 1,
        "{err}"
    );
    // A node that does not exist: a timeout naming it.
    let started = Instant::now();
    let out = easel(&[
        "ctl",
        "--broker",
        &url,
        "--to",
        "ghost",
        "--timeout",
        "1",
        "generate",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(8));
    let err = stderr(&out);
    assert!(
        err.contains("no answer") && err.contains("ghost") && err.lines().count() == 1,
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // Wrong arguments are refused before anything is sent.
    let out = easel(&["ctl", "--broker", &url, "generate", "--to", "all"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("before the command"),
        "{}",
        stderr(&out)
    );
    // Nothing listening: a clear reason, quickly.
    let port = free_port();
    let out = easel(&[
        "ctl",
        "--broker",
        &format!("mqtt://127.0.0.1:{port}"),
        "generate",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach") && err.contains("connection refused"),
        "{err}"
    );
    assert!(d.is_running());
}

#[test]
fn to_all_asks_every_online_node_and_watch_shows_retained_state() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let mut a = easeld_on("ctl-a", &["dcgan-64"], &url);
    let mut b = easeld_on("ctl-b", &["cppn-aurora", "dcgan-64"], &url);
    for d in [&mut a, &mut b] {
        d.wait_log("MQTT connected", Duration::from_secs(30));
    }
    let out = easel(&[
        "ctl",
        "--broker",
        &url,
        "--to",
        "all",
        "--timeout",
        "30",
        "generate",
        "--seed",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut events = lines(&out);
    events.sort_by_key(|e| e["node"].as_str().unwrap_or("").to_string());
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["node"], "ctl-a");
    assert_eq!(events[1]["node"], "ctl-b");
    assert_eq!(events[0]["request_id"], events[1]["request_id"]);
    for e in &events {
        assert_eq!(
            (e["type"].as_str(), e["seed"].as_u64()),
            (Some("generated"), Some(5))
        );
    }
    // One node refuses (ctl-a has no cppn-aurora): every answer is printed,
    // the refusal makes the exit status non-zero.
    let out = easel(&[
        "ctl",
        "--broker",
        &url,
        "--to",
        "all",
        "--timeout",
        "30",
        "generate",
        "--model",
        "cppn-aurora",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out).len(), 2);
    let err = stderr(&out);
    assert!(err.contains("ctl-a: unknown_model"), "{err}");
    // Two nodes online: --to is required.
    let out = easel(&["ctl", "--broker", &url, "generate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("choose one with --to"),
        "{}",
        stderr(&out)
    );
    // watch: the retained status, state and palette of both nodes.
    let out = easel(&["ctl", "watch", "--broker", &url, "--duration", "1.5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for node in ["ctl-a", "ctl-b"] {
        assert!(
            text.contains(&format!("easel/{node}/status online\n")),
            "{text}"
        );
        let state = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("easel/{node}/state ")))
            .unwrap_or_else(|| panic!("no state of {node} in {text}"));
        let state: serde_json::Value = serde_json::from_str(state).unwrap();
        assert_eq!(state["node"], node);
        assert!(state["model"].is_string(), "{state}");
        assert!(text.contains(&format!("easel/{node}/palette #")), "{text}");
    }
    // --node narrows it; a live event shows up while watching.
    let watcher = Command::new(easel_bin())
        .args([
            "ctl",
            "watch",
            "--broker",
            &url,
            "--node",
            "ctl-b",
            "--duration",
            "4",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let out = easel(&[
        "ctl", "--broker", &url, "--to", "ctl-b", "generate", "--seed", "11",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let watched = watcher.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&watched.stdout);
    assert!(!text.contains("easel/ctl-a/"), "{text}");
    let event = text
        .lines()
        .find_map(|l| l.strip_prefix("easel/ctl-b/event "))
        .unwrap_or_else(|| panic!("no live event in {text}"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(event).unwrap()["seed"],
        11
    );
    assert!(a.is_running() && b.is_running());
}

#[test]
fn mqtts_with_a_ca_file_and_a_wrong_ca() {
    use easel_test_support::tls;
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let pki = tls::make_pki("ctl");
    let tls_port = free_port();
    let broker = Mosquitto::start_with(
        dir.path(),
        &tls::mosquitto_listener(dir.path(), &pki, tls_port),
    );
    wait_port(tls_port);
    // easeld on the plain listener; easel ctl over TLS on the other.
    let _d = easeld_on(
        "ctl-tls",
        &["dcgan-64"],
        &format!("mqtt://127.0.0.1:{}", broker.port),
    );
    let ca = tls::write(dir.path(), "trusted.pem", &pki.ca);
    let url = format!("mqtts://127.0.0.1:{tls_port}");
    let out = easel(&[
        "ctl",
        "--broker",
        &url,
        "--ca",
        ca.to_str().unwrap(),
        "--to",
        "ctl-tls",
        "generate",
        "--seed",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lines(&out)[0]["seed"], 3);
    // A CA that did not sign the broker's certificate: one clear line.
    let wrong = tls::write(dir.path(), "wrong.pem", &tls::make_pki("other").ca);
    let out = easel(&[
        "ctl",
        "--broker",
        &url,
        "--ca",
        wrong.to_str().unwrap(),
        "--to",
        "ctl-tls",
        "generate",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("TLS handshake failed")
            && err.contains("wrong.pem")
            && err.lines().count() == 1,
        "{err}"
    );
    // --ca on a plain broker URL is refused before connecting.
    let out = easel(&[
        "ctl",
        "--broker",
        &format!("mqtt://127.0.0.1:{}", broker.port),
        "--ca",
        ca.to_str().unwrap(),
        "generate",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("mqtts://"), "{}", stderr(&out));
}

/// Regression: under a flood bigger than the daemon's events channel, the
/// MQTT edge took commands faster than it could publish their answers and
/// the channel dropped the oldest (`events not published: too many at
/// once`): 2526 of these 20 000 requests went unanswered. Now it holds
/// the broker's messages (unacknowledged, Receive Maximum) while it is
/// behind, and every request gets exactly one answer. mosquitto queues
/// without limit here, as docs/mqtt.md advises for a busy gallery.
#[test]
fn a_flood_on_mosquitto_gets_exactly_one_answer_per_request() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_with(dir.path(), "set_tcp_nodelay true\nmax_queued_messages 0");
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let mut d = easeld_on("flood", &["dcgan-64"], &url);
    d.wait_log("MQTT connected", Duration::from_secs(30));
    let out = Command::new(easel_bin())
        .args(["ctl", "--broker", &url, "--to", "flood", "--timeout", "30"])
        .args(["bench", "--count", "1", "--flood-clients", "20"])
        .args(["--flood-count", "1000", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_default();
    assert!(
        out.status.success() && report["flood"]["answered"] == 20_000,
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["flood"]["duplicates"], 0, "{stdout}");
    assert!(!d.log().contains("events not published"), "{}", d.log());
}

/// Issue 3's benchmark: latency over 200 `generate` commands on dcgan-64
/// and a 10 x 1000 flood, on the embedded broker and on mosquitto.
#[test]
#[ignore = "benchmark: cargo test --release -p easel-tools --test ctl -- --ignored --nocapture"]
fn bench_control_plane() {
    let _s = serial();
    let count = std::env::var("EASEL_BENCH_COUNT").unwrap_or_else(|_| "200".into());
    let flood = std::env::var("EASEL_BENCH_FLOOD").unwrap_or_else(|_| "1000".into());
    // mosquitto as installed (Nagle on; at most 1000 QoS 1 messages queued
    // per subscriber, so the flood's fan-out to its 10 clients overflows),
    // and tuned for a gallery: no Nagle, no per-client queue limit.
    let (plain_dir, fast_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = Mosquitto::start(plain_dir.path());
    let fast = Mosquitto::start_with(
        fast_dir.path(),
        "set_tcp_nodelay true\nmax_queued_messages 0",
    );
    // (name, external broker port, must every request get its answer):
    // mosquitto's defaults drop QoS 1 messages beyond 1000 per subscriber,
    // which the flood's fan-out exceeds; that is measured, not asserted.
    let setups = [
        ("embedded", None, true),
        (
            "mosquitto, set_tcp_nodelay true, max_queued_messages 0",
            Some(fast.port),
            true,
        ),
        ("mosquitto, defaults", Some(plain.port), false),
    ];
    let mut failed = Vec::new();
    for (name, external, must_answer_all) in setups {
        let (mut d, url) = match external {
            None => embedded("bench", &["dcgan-64"]),
            Some(port) => {
                let url = format!("mqtt://127.0.0.1:{port}");
                (easeld_on("bench", &["dcgan-64"], &url), url)
            }
        };
        d.wait_log("MQTT connected", Duration::from_secs(30));
        let http = d.url("");
        println!("== {name} broker ({url}), easeld web {http}");
        let out = Command::new(easel_bin())
            .args([
                "ctl",
                "--broker",
                &url,
                "--to",
                "bench",
                "--timeout",
                "30",
                "bench",
                "--count",
                &count,
                "--flood-clients",
                "10",
                "--flood-count",
                &flood,
                "--http",
                &http,
            ])
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        println!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() && must_answer_all {
            failed.push(name);
        }
        assert!(d.is_running());
        let rss = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap_or_default();
        if let Some(l) = rss.lines().find(|l| l.starts_with("VmHWM")) {
            println!("easeld peak RSS: {}", l.trim_start_matches("VmHWM:").trim());
        }
        let dropped = d.log().matches("events not published").count();
        if dropped > 0 {
            println!("easeld logged {dropped} \"events not published\" warnings");
        }
    }
    assert!(
        failed.is_empty(),
        "requests without exactly one answer: {failed:?}"
    );
}

/// `mosquitto_pub -r`: a retained message on the test's broker.
fn retain(port: u16, topic: &str, payload: &str) {
    let status = Command::new("mosquitto_pub")
        .args(["-p", &port.to_string(), "-t", topic, "-m", payload, "-r"])
        .status()
        .expect("mosquitto_pub (apt-get install mosquitto-clients)");
    assert!(status.success());
}

#[test]
fn watch_reconnects_when_the_broker_restarts_and_says_so() {
    use std::io::BufRead;
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path());
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    retain(broker.port, "easel/w1/status", "online");
    let mut watch = Command::new(easel_bin())
        .args(["ctl", "watch", "--broker", &url, "--duration", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(bool, String)>();
    for (is_err, pipe) in [
        (
            false,
            Box::new(watch.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        ),
        (true, Box::new(watch.stderr.take().unwrap())),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send((is_err, line));
            }
        });
    }
    // Waits for a line on stdout (false) or stderr (true); panics after 60 s.
    let expect = |err: bool, what: &str| {
        let end = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok((e, line)) if e == err && line.contains(what) => return,
                Ok(other) => seen.push(other),
                Err(_) => break,
            }
        }
        panic!(
            "no {what:?} on {}; saw {seen:?}",
            if err { "stderr" } else { "stdout" }
        );
    };
    expect(false, "easel/w1/status online");
    // Regression: watch exited when the broker restarted.
    broker.restart();
    expect(true, "lost the connection");
    expect(true, "reconnected to");
    // A fresh broker forgot the retained status: a new one is shown.
    retain(broker.port, "easel/w1/status", "stopped");
    expect(false, "easel/w1/status stopped");
    assert!(
        watch.try_wait().unwrap().is_none(),
        "watch is still running"
    );
    let _ = watch.kill();
    let _ = watch.wait();
}
