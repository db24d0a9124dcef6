//! Content Credentials end to end through the real `easeld`: every
//! archived picture carries a C2PA manifest that the CAI's own SDK (the
//! `c2pa-python` wheel, through `tests/c2pa_check.py`: an independent
//! reader, not easel's code) validates, with `trainedAlgorithmicMedia` as
//! the digital source type and the model's hash in easel's assertion; a
//! picture with one pixel changed no longer validates; a credential that
//! cannot be used is a start-up warning (log, `/healthz`) and pictures are
//! still made, with their text provenance.

mod web_support;

use easel_engine::picture::read_png_text;
use easel_test_support::repo_root;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use web_support::{Daemon, generate, get};

const TRAINED: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
const COMPOSITE: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia";

/// The CAI SDK's verdict on `picture` (`tests/c2pa_check.py`).
fn check(picture: &Path, trust: &[&Path]) -> Value {
    let mut cmd = Command::new("python3");
    cmd.arg(repo_root().join("tests/c2pa_check.py"))
        .arg(picture);
    for t in trust {
        cmd.arg("--trust").arg(t);
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "c2pa_check.py failed (is c2pa-python installed? scripts/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("c2pa_check.py prints JSON")
}

/// `tests/png_change_pixel.py IN OUT`.
fn change_one_pixel(from: &Path, to: &Path) {
    let status = Command::new("python3")
        .arg(repo_root().join("tests/png_change_pixel.py"))
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn state(daemon: &Daemon) -> Value {
    serde_json::from_slice(&get(daemon.http_addr(), "/api/state").unwrap().body).unwrap()
}

fn health(daemon: &Daemon) -> (u16, Value) {
    let r = get(daemon.http_addr(), "/healthz").unwrap();
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

/// Generates with `seed` and saves the archived PNG as `name` in the
/// daemon's folder; the `generated` event and the file's path.
fn picture(daemon: &Daemon, seed: u64, name: &str) -> (Value, std::path::PathBuf) {
    let event = generate(daemon, &format!("{{\"seed\":{seed}}}"));
    assert_eq!(event["type"], "generated", "{event}");
    let r = get(daemon.http_addr(), event["url"].as_str().unwrap()).unwrap();
    assert_eq!(r.status, 200);
    let path = daemon.dir().join(name);
    std::fs::write(&path, &r.body).unwrap();
    (event, path)
}

#[test]
fn archived_pictures_carry_content_credentials_that_the_cai_sdk_validates() {
    let mut daemon = web_support::easeld().start();
    daemon.wait_ready();
    let credentials = daemon.data_dir().join("credentials");
    let log = daemon.log();
    assert!(
        log.contains("made a per-installation signing certificate"),
        "the first start says it made a credential:\n{log}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(credentials.join("signer.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    }
    assert!(
        !credentials.join("ca.key").exists(),
        "the per-installation CA key is not kept"
    );
    let s = state(&daemon);
    assert_eq!(s["credentials"]["signing"], true, "{s}");
    let sha256 = s["models"][0]["sha256"].as_str().unwrap().to_string();

    let (event, path) = picture(&daemon, 7, "seed7.png");
    let png = std::fs::read(&path).unwrap();
    // The text provenance is still there beside the manifest.
    let text = read_png_text(&png).unwrap();
    assert!(text.iter().any(|(k, v)| k == "easel:seed" && v == "7"));
    assert!(text.iter().any(|(k, _)| k == "XML:com.adobe.xmp"));

    let verdict = check(&path, &[]);
    // Intact and correctly signed; the per-installation signer is on no
    // trust list the reader knows, so "Valid", not "Trusted".
    assert_eq!(verdict["state"], "Valid", "{verdict}");
    assert_eq!(
        verdict["failures"],
        serde_json::json!(["signingCredential.untrusted"]),
        "{verdict}"
    );
    assert_eq!(verdict["digital_source_types"][0], TRAINED, "{verdict}");
    assert_eq!(verdict["actions"][0], "c2pa.created", "{verdict}");
    assert!(
        verdict["actions_label"]
            .as_str()
            .unwrap()
            .starts_with("c2pa.actions"),
        "{verdict}"
    );
    assert_eq!(verdict["generators"][0]["name"], "easel", "{verdict}");
    assert_eq!(
        verdict["generators"][0]["version"],
        env!("CARGO_PKG_VERSION")
    );
    let easel = &verdict["easel"];
    assert_eq!(easel["model"]["name"], "dcgan-64", "{verdict}");
    assert_eq!(easel["model"]["sha256"], sha256.as_str(), "{verdict}");
    let package =
        easel_engine::package::ModelPackage::open(daemon.dir().join("models/dcgan-64")).unwrap();
    assert_eq!(
        easel["model"]["license"],
        package.manifest.license.as_str(),
        "{verdict}"
    );
    assert_eq!(easel["seed"], 7);
    assert_eq!(easel["node"], "web-test");

    // With the installation's CA as a trust anchor, the same picture is trusted.
    let trusted = check(&path, &[&credentials.join("ca.pem")]);
    assert_eq!(trusted["state"], "Trusted", "{trusted}");

    // One pixel changed: the manifest no longer matches the picture.
    let forged = daemon.dir().join("forged.png");
    change_one_pixel(&path, &forged);
    assert_ne!(std::fs::read(&forged).unwrap(), png);
    let verdict = check(&forged, &[]);
    assert_eq!(verdict["state"], "Invalid", "{verdict}");
    assert!(
        verdict["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("assertion.dataHash")),
        "{verdict}"
    );

    // The page knows the newest picture is signed.
    let latest = &state(&daemon)["latest"];
    assert_eq!(latest["id"], event["id"]);
    assert_eq!(latest["content_credentials"], true, "{latest}");
    let metrics = get(daemon.http_addr(), "/metrics").unwrap().text();
    assert!(
        metrics.contains("easel_signing_seconds_count 1"),
        "{metrics}"
    );

    // A restart signs with the same credential; it is not made again.
    let cert = std::fs::read(credentials.join("signer.pem")).unwrap();
    daemon.restart();
    daemon.wait_ready();
    assert!(
        !daemon
            .log()
            .contains("made a per-installation signing certificate")
    );
    let (_, again) = picture(&daemon, 8, "seed8.png");
    assert_eq!(
        check(&again, &[&credentials.join("ca.pem")])["state"],
        "Trusted"
    );
    assert_eq!(std::fs::read(credentials.join("signer.pem")).unwrap(), cert);
}

#[test]
fn a_capture_is_a_composite_with_the_frame_as_ingredient() {
    let mut daemon = web_support::easeld()
        .models(&["style-256"])
        .extra("source = \"test://pattern\"")
        .start();
    daemon.wait_ready();
    easel_test_support::wait_for(std::time::Duration::from_secs(120), "style-256", || {
        (state(&daemon)["models"].as_array()?.len() == 2).then_some(())
    });
    let before = state(&daemon)["latest"]["id"].clone();
    let r = easel_test_support::http::request(
        daemon.http_addr(),
        "POST",
        "/admin/cmd/capture",
        &[(
            "Authorization",
            &format!("Bearer {}", web_support::ADMIN_TOKEN),
        )],
        b"{}",
    )
    .unwrap();
    // The answer is the capture's `generated` event.
    assert_eq!(r.status, 200, "{}", r.text());
    let url = easel_test_support::wait_for(
        std::time::Duration::from_secs(120),
        "the captured picture",
        || {
            let s = state(&daemon);
            (s["latest"]["id"] != before).then(|| s["latest"]["url"].as_str().map(String::from))?
        },
    );
    let path = daemon.dir().join("capture.png");
    std::fs::write(&path, get(daemon.http_addr(), &url).unwrap().body).unwrap();
    let verdict = check(&path, &[]);
    assert_eq!(verdict["state"], "Valid", "{verdict}");
    assert_eq!(verdict["digital_source_types"][0], COMPOSITE, "{verdict}");
    assert_eq!(
        verdict["ingredients"][0]["relationship"], "componentOf",
        "{verdict}"
    );
    assert!(
        verdict["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "c2pa.placed"),
        "{verdict}"
    );
    assert_eq!(verdict["easel"]["model"]["name"], "style-256");
}

/// Starts a daemon, lets `prepare` break its credential (it gets the
/// daemon's folder and returns config lines to append), restarts it, and
/// checks that it warns (log and `/healthz`) and still makes pictures with
/// their text provenance and no manifest.
fn still_makes_pictures_without_credentials(prepare: impl FnOnce(&Path) -> String) {
    let mut daemon = web_support::easeld().start();
    daemon.wait_ready();
    let lines = prepare(daemon.dir());
    let config = daemon.config_path().to_path_buf();
    let text = std::fs::read_to_string(&config).unwrap() + &lines;
    std::fs::write(&config, text).unwrap();
    daemon.restart();
    daemon.wait_ready();
    let log = daemon.log();
    assert!(
        log.contains("content credentials unavailable"),
        "a clear start-up warning:\n{log}"
    );
    let (status, body) = health(&daemon);
    assert_eq!(status, 200, "still healthy: {body}");
    assert!(
        body["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("content credentials unavailable")),
        "{body}"
    );
    assert_eq!(state(&daemon)["credentials"]["signing"], false);
    let (_, path) = picture(&daemon, 5, "unsigned.png");
    let text = read_png_text(&std::fs::read(&path).unwrap()).unwrap();
    assert!(
        text.iter().any(|(k, v)| k == "easel:seed" && v == "5"),
        "{text:?}"
    );
    let verdict = check(&path, &[]);
    assert_eq!(verdict["state"], Value::Null, "no manifest: {verdict}");
    assert_eq!(state(&daemon)["latest"]["content_credentials"], false);
}

/// `[credentials]` naming `dir/signer.pem` and `dir/signer.key`.
fn credentials_table(dir: &Path) -> String {
    format!(
        "\n[credentials]\ncert = {:?}\nkey = {:?}\n",
        dir.join("signer.pem"),
        dir.join("signer.key")
    )
}

#[test]
fn a_missing_configured_credential_is_a_warning_not_a_dead_piece() {
    still_makes_pictures_without_credentials(|dir| credentials_table(&dir.join("nowhere")));
}

#[test]
fn an_unreadable_key_is_a_warning_not_a_dead_piece() {
    // A real certificate, and a key file that holds no key.
    still_makes_pictures_without_credentials(|dir| {
        let studio = dir.join("studio");
        easel_credentials::store::new_studio(&studio, "Test", std::time::SystemTime::now())
            .unwrap();
        std::fs::write(
            studio.join("signer.key"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        credentials_table(&studio)
    });
}

#[test]
fn a_data_folder_where_no_credential_can_be_made_is_a_warning() {
    still_makes_pictures_without_credentials(|dir| {
        // Where the per-installation credential goes, a file.
        let credentials = dir.join("data").join("credentials");
        std::fs::remove_dir_all(&credentials).unwrap();
        std::fs::write(&credentials, "not a folder").unwrap();
        String::new()
    });
}
