//! The gallery page in a real headless Chromium: a picture generated after
//! the page loaded appears without a reload (crossfaded in, decoded, with
//! its caption), and when the daemon restarts on the same port the page
//! reconnects by itself, keeping the last picture meanwhile.

mod web_support;

use std::time::Duration;
use web_support::browser::Browser;
use web_support::generate;

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
