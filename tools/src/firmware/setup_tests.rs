//! The client against the firmware's own Improv state machine, over a
//! pseudo-terminal: the same bytes a controller's USB serial port carries,
//! the same termios setup a real port gets.

use super::*;
use easel_firmware::improv::{DeviceInfo, Failure, Outbox, Provisioner, Request};
use easel_firmware::site::SiteSettings;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const INFO: DeviceInfo = DeviceInfo {
    firmware: "easel-esp32c3",
    version: "0.1.0",
    chip: "ESP32-C3",
    name: "entrance",
};

/// A simulated controller on the master side of a pty: the real
/// `Provisioner`; joins succeed unless the passphrase is "wrong-passphrase".
struct Board {
    stop: Arc<AtomicBool>,
    site: Arc<Mutex<SiteSettings>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A pseudo-terminal: (master, terminal side, the terminal side's path).
fn pty() -> (OwnedFd, OwnedFd, std::path::PathBuf) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors; no name, no settings.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both were just opened and are owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let path = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd())).unwrap();
    (master, slave, path)
}

impl Board {
    /// Returns the board and the path of the pty's terminal side.
    fn start() -> (Board, std::path::PathBuf) {
        let (master, slave, path) = pty();
        // The tool opens the terminal side by name, as it would
        // /dev/ttyACM0; the board keeps `slave` open so that the pty does
        // not hang up between the tool's opens.
        let site = Arc::new(Mutex::new(
            SiteSettings::new("old-net", "old-passphrase", "10.0.0.5:1883", "", "").unwrap(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (site, stop) = (site.clone(), stop.clone());
            std::thread::spawn(move || serve(File::from(master), slave, &site, &stop))
        };
        (
            Board {
                stop,
                site,
                thread: Some(thread),
            },
            path,
        )
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut port: File, _slave: OwnedFd, site: &Mutex<SiteSettings>, stop: &AtomicBool) {
    let mut improv = Provisioner::new(INFO);
    let mut out = Outbox::new();
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        let mut poll = libc::pollfd {
            fd: port.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, 20) } <= 0 {
            continue;
        }
        let Ok(n) = port.read(&mut buf) else { return };
        for &b in &buf[..n] {
            let current = site.lock().unwrap().clone();
            match improv.handle_byte(b, &current, &mut out) {
                Some(Request::Join(candidate)) if candidate.passphrase() == "wrong-passphrase" => {
                    improv.handle_joined(Err(Failure::Join), &mut out)
                }
                Some(Request::Join(candidate)) => {
                    *site.lock().unwrap() = candidate;
                    improv.handle_joined(Ok(()), &mut out);
                }
                Some(Request::Keep(candidate)) => {
                    *site.lock().unwrap() = candidate.clone();
                    improv.handle_kept(Ok(()), &candidate, &mut out);
                }
                None => {}
            }
            port.write_all(&out).unwrap();
            out.clear();
        }
    }
}

fn client(path: &Path) -> Client<File> {
    Client::new(open_port(path).unwrap(), Duration::from_secs(10))
}

#[test]
fn setup_over_a_serial_port_reaches_the_controllers_settings() {
    let (board, path) = Board::start();
    let mut c = client(&path);
    assert_eq!(
        c.device_info().unwrap(),
        ["easel-esp32c3", "0.1.0", "ESP32-C3", "entrance"]
    );
    let plan = Plan {
        wifi: Some(("gallery".into(), "the-passphrase".into())),
        broker: Some("mqtt://broker.gallery:1883".into()),
        login: Some(("entrance".into(), "s3cret".into())),
    };
    run(&mut c, &plan).unwrap();
    let site = board.site.lock().unwrap().clone();
    assert_eq!(site.ssid(), "gallery");
    assert_eq!(site.passphrase(), "the-passphrase");
    assert_eq!(site.broker_text(), "mqtt://broker.gallery:1883");
    assert_eq!(site.login(), Some(("entrance", "s3cret")));
    // Provisioning (0x03) then provisioned (0x04), as the spec orders them.
    assert_eq!(c.states, [0x03, 0x04]);
    assert_eq!(
        c.broker().unwrap(),
        ["mqtt://broker.gallery:1883", "entrance"]
    );
}

#[test]
fn refusals_come_back_as_the_controllers_error() {
    let (board, path) = Board::start();
    let mut c = client(&path);
    let e = c.set_wifi("gallery", "wrong-passphrase").unwrap_err();
    assert!(matches!(e, SetupError::Device { code: 0x03 }), "{e}");
    assert!(e.to_string().contains("unable to connect"), "{e}");
    let e = c.set_broker("mqtts://broker.gallery", None).unwrap_err();
    assert!(matches!(e, SetupError::Device { code: 0x01 }), "{e}");
    // Nothing was changed by either.
    let site = board.site.lock().unwrap().clone();
    assert_eq!(site.ssid(), "old-net");
    assert_eq!(site.broker_text(), "10.0.0.5:1883");
}

#[test]
fn a_silent_port_is_a_timeout_not_a_hang() {
    // Nobody reads or answers on the other side.
    let (_master, _slave, path) = pty();
    let mut c = Client::new(open_port(&path).unwrap(), Duration::from_millis(300));
    assert!(matches!(c.device_info(), Err(SetupError::Timeout(_))));
}

#[test]
fn a_file_that_is_not_a_serial_port_is_refused() {
    let f = tempfile::NamedTempFile::new().unwrap();
    let e = open_port(f.path()).unwrap_err();
    assert!(e.to_string().contains("not a serial port"), "{e}");
}
