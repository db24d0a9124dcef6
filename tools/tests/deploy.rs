//! `easel deploy` to a gallery, `easel activate` and `easel list`, as a
//! technician runs them: the real `easel` against two real `easeld`
//! (found next to `easel` in the target directory) on a mosquitto started
//! here, with a third node that does not exist.

use easel_test_support::{Broker, Daemon, Mosquitto, target_binary};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn easel(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_easel"))
        .args(args)
        .output()
        .expect("running easel");
    eprintln!(
        "$ easel {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn easeld(node: &str, url: &str, public_key: &Path) -> Daemon {
    let mut d = Daemon::builder(target_binary("easeld"))
        .node(node)
        .models(&["cppn-aurora"])
        .broker(Broker::External(url.into()))
        .extra(&format!(
            "[deploy]\ntrusted_keys = [\"{}\"]",
            public_key.display()
        ))
        .start();
    d.wait_ready();
    d.wait_log("MQTT connected", Duration::from_secs(30));
    d
}

#[test]
fn a_gallery_deploy_goes_past_a_failing_node_then_activate_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("studio");
    assert!(easel(&["keygen", "-o", s(&key)]).status.success());
    let public = dir.path().join("studio.pub");
    let cppn = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/cppn-aurora");
    let pkg = dir.path().join("gallery-test.easelpkg");
    let out = easel(&[
        "pack",
        s(&cppn),
        "--key",
        s(&key),
        "--name",
        "gallery-test",
        "-o",
        s(&pkg),
    ]);
    assert!(out.status.success());

    let broker = Mosquitto::start(dir.path());
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let _a = easeld("gal-a", &url, &public);
    let _b = easeld("gal-b", &url, &public);

    // Regression: one node failing ended the whole run, and a node that
    // does not exist got a transfer rate printed before `no_answer`.
    let out = easel(&[
        "deploy",
        s(&pkg),
        "--broker",
        &url,
        "--to",
        "gal-a,gal-missing,gal-b",
        "--jobs",
        "2",
        "--timeout",
        "5",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "one node did not take it");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("gal-a: installed gallery-test-"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("gal-b: installed gallery-test-"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("gal-missing: rejected: no_answer: "),
        "{stdout}"
    );
    let version = lines[0]["gal-a: installed ".len()..].to_string();
    assert_eq!(lines[1], format!("gal-b: installed {version}"));
    // The closing table: a header and a row per node, columns aligned.
    let table: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("node "))
        .take(4)
        .collect();
    assert_eq!(table.len(), 4, "{stderr}");
    for h in ["result", "version", "time"] {
        assert!(table[0].contains(h), "{stderr}");
    }
    let column = table[0].find("version").unwrap();
    assert_eq!(
        &table[1][column..column + version.len()],
        version,
        "{stderr}"
    );
    assert!(table[3].starts_with("gal-missing"), "{stderr}");
    assert!(table[3].contains("rejected: no_answer"), "{stderr}");
    assert!(
        !stderr
            .lines()
            .any(|l| l.contains("gal-missing") && l.contains("MB/s")),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 of 3 nodes did not take the package"),
        "{stderr}"
    );

    // Installed, not current: `easel activate` makes it current on both.
    let out = easel(&[
        "activate",
        &version,
        "--broker",
        &url,
        "--to",
        "all",
        "--timeout",
        "60",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let answers: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 2, "{stdout}");
    for a in &answers {
        assert_eq!(a["type"], "activated", "{a}");
        assert_eq!(a["version"], version.as_str(), "{a}");
    }

    // `easel list`: both nodes, the deployed model and its current version.
    let out = easel(&["list", "--broker", &url]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for node in ["gal-a", "gal-b"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(node)
                && l.contains("online")
                && l.contains("gallery-test")
                && l.contains(&version)),
            "{stdout}"
        );
    }
    let out = easel(&["list", "--broker", &url, "--to", "gal-a,gal-missing"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("gal-missing"), "{}", text(&out).1);

    // A version no node holds is refused with the node's code.
    let out = easel(&[
        "activate",
        "gallery-test-00000000",
        "--broker",
        &url,
        "--to",
        "gal-a",
    ]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("not_installed"), "{}", text(&out).1);
}
