//! The gallery page in a real headless Chromium: a picture generated after
//! the page loaded appears without a reload (crossfaded in, decoded, with
//! its caption), and when the daemon restarts on the same port the page
//! reconnects by itself, keeping the last picture meanwhile; a CPPN
//! picture fills the screen the page reports; `/admin`'s buttons show the
//! command's real answer.

mod web_support;

use serde_json::json;
use std::time::Duration;
use web_support::browser::Browser;
use web_support::{Daemon, generate};

/// JSON describing what the page shows right now.
const SHOWN: &str = r#"(() => {
  const e = window.easel;
  if (!e) return null;
  const img = document.querySelector('img.still.shown');
  return {
    shown: e.shown, connected: e.connected, connects: e.connects, boot: e.boot,
    src: img ? img.getAttribute('src') : null,
    loaded: img ? (img.complete && img.naturalWidth > 0) : false,
    width: img ? img.naturalWidth : 0,
    opacity: img ? Number(getComputedStyle(img).opacity) : 0,
    caption: document.getElementById('caption').textContent,
    credentialsMark: !!document.querySelector('#caption .cr'),
  };
})()"#;

#[test]
fn new_picture_appears_without_reload_and_page_survives_restart() {
    let mut daemon = web_support::easeld().start();
    daemon.wait_ready();
    let mut browser = Browser::launch();
    let page = browser.open_connected(&daemon.url("/"));
    // Marks the document: a reload would lose it.
    browser.eval(&page, "window.sameDocument = 'yes'");

    let event = generate(&daemon, r#"{"seed":4242}"#);
    let id = event["id"].as_str().unwrap().to_string();
    let check = format!(
        "(() => {{ const s = {SHOWN}; return s && s.shown === '{id}' && s.loaded && s.opacity > 0.99 ? s : null; }})()"
    );
    let shown = browser.wait_until(&page, Duration::from_secs(20), "the new picture", &check);
    assert_eq!(shown["src"], format!("/images/{id}.png"));
    assert_eq!(shown["width"], 64);
    let caption = shown["caption"].as_str().unwrap();
    assert!(
        caption.contains("dcgan-64")
            && caption.contains("seed 4242")
            && caption.contains("AI-generated"),
        "{caption}"
    );
    assert_eq!(
        shown["credentialsMark"], true,
        "a signed picture's caption shows the Content Credentials mark"
    );
    assert_eq!(
        browser.eval(&page, "window.sameDocument"),
        "yes",
        "the page was not reloaded"
    );

    // A second picture replaces the first, still in the same document.
    let second = generate(&daemon, r#"{"seed":7}"#)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let check2 = format!(
        "(() => {{ const s = {SHOWN}; return s && s.shown === '{second}' && s.loaded && s.opacity > 0.99 ? s : null; }})()"
    );
    browser.wait_until(
        &page,
        Duration::from_secs(20),
        "the second picture",
        &check2,
    );
    let boot = browser.eval(&page, "window.easel.boot");

    // Restart on the same port (the same config file).
    let addr = daemon.http_addr();
    assert!(daemon.stop().success());
    browser.wait_until(
        &page,
        Duration::from_secs(10),
        "that the daemon went away",
        "window.easel.connected === false",
    );
    // Meanwhile the last picture stays on screen.
    let during = browser.eval(&page, SHOWN);
    assert_eq!(during["shown"], second.as_str());
    assert_eq!(during["loaded"], true);
    assert!(during["opacity"].as_f64().unwrap() > 0.99, "{during}");
    std::thread::sleep(Duration::from_secs(2));

    daemon.restart();
    assert_eq!(daemon.http_addr(), addr);
    browser.wait_until(
        &page,
        Duration::from_secs(30),
        "a reconnection to the new daemon",
        &format!("window.easel.connected && window.easel.boot !== {boot} ? true : null"),
    );
    daemon.wait_ready();
    let third = generate(&daemon, r#"{"seed":99}"#)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let check3 = format!(
        "(() => {{ const s = {SHOWN}; return s && s.shown === '{third}' && s.loaded && s.opacity > 0.99 ? s : null; }})()"
    );
    browser.wait_until(
        &page,
        Duration::from_secs(20),
        "a picture made after the restart",
        &check3,
    );
    assert_eq!(
        browser.eval(&page, "window.sameDocument"),
        "yes",
        "recovered without a reload"
    );
}

/// The page reports the screen it is on (`/live?viewport=WxH`, device
/// pixels), and a CPPN picture then fills that screen at its aspect, not
/// the manifest's 512x512 square; the archived picture has that size.
///
/// Regression: a 16:9 kiosk showed a square in the middle of the screen.
#[test]
fn a_cppn_picture_fills_the_screen_the_page_reports() {
    let mut daemon = Daemon::builder(env!("CARGO_BIN_EXE_easeld"))
        .node("web-test")
        .models(&["cppn-aurora"])
        .admin_token(Some(web_support::ADMIN_TOKEN))
        .start();
    daemon.wait_ready();
    let mut browser = Browser::launch();
    let page = browser.open_sized(&daemon.url("/"), 320, 180);
    browser.wait_connected(&page);
    assert_eq!(browser.eval(&page, "window.easel.viewport"), "320x180");

    let event = generate(&daemon, r#"{"seed":11}"#);
    assert_eq!(
        (&event["width"], &event["height"]),
        (&json!(320), &json!(180)),
        "{event}"
    );
    let id = event["id"].as_str().unwrap().to_string();
    let check = format!(
        "(() => {{ const s = {SHOWN}; const img = document.querySelector('img.still.shown'); \
         return s && s.shown === '{id}' && s.loaded ? [img.naturalWidth, img.naturalHeight] : null; }})()"
    );
    let size = browser.wait_until(&page, Duration::from_secs(20), "the CPPN picture", &check);
    assert_eq!(size, json!([320, 180]));
}

/// `/admin` in the browser: each button shows the command's own answer
/// (the event, an error with its code and 422), and the 3-second refresh
/// leaves a list the technician is choosing from alone.
///
/// Regression: every action logged 202 whatever happened, and the model
/// list jumped back to the current model while a technician chose.
#[test]
fn admin_buttons_show_the_real_answer_and_a_choice_survives_the_refresh() {
    let mut daemon = web_support::easeld().models(&["cppn-aurora"]).start();
    daemon.wait_ready();
    let mut browser = Browser::launch();
    let page = browser.open(&daemon.url("/admin"));
    let long = Duration::from_secs(60);
    browser.wait_until(
        &page,
        long,
        "the admin page",
        "document.getElementById('node') && document.getElementById('node').textContent === 'web-test'",
    );
    browser.eval(
        &page,
        &format!(
            "(() => {{ const t = document.getElementById('token'); t.value = '{}'; \
             t.dispatchEvent(new Event('change')); return true; }})()",
            web_support::ADMIN_TOKEN
        ),
    );
    browser.wait_until(
        &page,
        long,
        "both models in the list, controls on",
        "document.getElementById('models').options.length === 2 && !document.getElementById('switch').disabled",
    );
    let log = |browser: &mut Browser, what: &str, needle: &str| {
        browser.wait_until(
            &page,
            Duration::from_secs(30),
            what,
            // The newest line with `needle` (the log is newest first).
            &format!(
                "document.getElementById('log').textContent.split('\\n').find((l) => l.includes({needle:?})) || null"
            ),
        )
    };

    // Choose the model that is not current, and let a refresh pass.
    let chosen = browser.eval(
        &page,
        "(() => { const s = document.getElementById('models'); \
         const other = [...s.options].map((o) => o.value).find((v) => v !== s.value); \
         s.value = other; s.dispatchEvent(new Event('change')); return other; })()",
    );
    assert_eq!(chosen, "cppn-aurora");
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(
        browser.eval(&page, "document.getElementById('models').value"),
        chosen,
        "the refresh reset the list the technician was choosing from"
    );

    // Switch: the answer is the event, `done` for this command.
    browser.eval(&page, "document.getElementById('switch').click()");
    let text = log(&mut browser, "the switch's answer", "model → 200");
    assert!(
        text.as_str().unwrap().contains(r#""type":"done""#),
        "{text}"
    );
    browser.wait_until(
        &page,
        Duration::from_secs(10),
        "the new model in the header",
        "document.getElementById('model').textContent === 'cppn-aurora'",
    );

    // Next model: a picture from the other one.
    browser.eval(
        &page,
        "document.querySelector('button[data-cmd=\"next_model\"]').click()",
    );
    let text = log(&mut browser, "next model's answer", "next_model → 200");
    let text = text.as_str().unwrap();
    assert!(
        text.contains("\"generated\"") && text.contains("dcgan-64"),
        "{text}"
    );

    // A malformed command is shown as one, with its code.
    browser.eval(
        &page,
        "(() => { document.getElementById('fps').value = '99999'; document.getElementById('params').click(); return true; })()",
    );
    let text = log(&mut browser, "the refused params", "params → ");
    let text = text.as_str().unwrap();
    assert!(
        text.contains("params → 400") && text.contains("bad_request"),
        "{text}"
    );
    // What the piece cannot do: live mode with no image model loaded.
    browser.eval(
        &page,
        "document.querySelector('button[data-mode=\"live\"]').click()",
    );
    let text = log(&mut browser, "the refused mode", "mode → ");
    let text = text.as_str().unwrap();
    assert!(
        text.contains("mode → 422") && text.contains("no_image_model"),
        "{text}"
    );

    // A scene saved from the page is in its list after the refresh.
    browser.eval(
        &page,
        "(() => { document.getElementById('scene').value = 'hall'; document.getElementById('save').click(); return true; })()",
    );
    log(&mut browser, "the saved scene", "scene → 200");
    browser.wait_until(
        &page,
        Duration::from_secs(10),
        "the scene in the list",
        "[...document.getElementById('scenes').options].some((o) => o.value === 'hall')",
    );
}
