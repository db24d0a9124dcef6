//! `--simulate`: a panel on the terminal, so an installation can be tried
//! without hardware.
//!
//! Keys drive *simulated pins*, not events: a tap holds a button's pin for
//! 60 ms, a long press for 1.2 s, an encoder step walks A/B through the
//! four quadrature states. The real drivers and state machines then turn
//! those levels into gestures, so double clicks, debouncing and encoder
//! detents behave as on a board. Terminals report no key releases, which
//! is why holds are keys of their own.
//!
//! | key | action |
//! |---|---|
//! | `1` / `2` | tap button1 / button2 (two quick taps = double) |
//! | `!` / `@` | long press button1 / button2 |
//! | `[` / `]` | encoder enc1 one detent down / up |
//! | `-` / `+` (`=`) | knob1 down / up by 5 % |
//! | `p` | toggle presence |
//! | `q` | quit (publishes `offline`) |
//!
//! Keys come from stdin; on a terminal it is switched to raw mode for the
//! run and restored after.

use crate::cli::Cli;
use crate::link::{self, Console, Settings};
use crate::panel::{self, Panel};
use easel_firmware::pins::{ButtonInput, EncoderInput, PirInput};
use easel_firmware::{ButtonTimings, EncoderConfig, Knob, KnobConfig, PirConfig};
use std::convert::Infallible;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// A pin whose level is set by software.
#[derive(Clone, Default)]
pub struct SimPin(Arc<AtomicBool>);

impl SimPin {
    pub fn set(&self, high: bool) {
        self.0.store(high, Ordering::SeqCst);
    }
}

impl embedded_hal::digital::ErrorType for SimPin {
    type Error = Infallible;
}

impl embedded_hal::digital::InputPin for SimPin {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.load(Ordering::SeqCst))
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.0.load(Ordering::SeqCst))
    }
}

/// The simulated pins behind the panel.
#[derive(Clone, Default)]
pub struct SimPins {
    pub button1: SimPin,
    pub button2: SimPin,
    pub enc_a: SimPin,
    pub enc_b: SimPin,
    pub pir: SimPin,
    /// Raw knob reading, 0..=4095.
    pub knob: Arc<AtomicU16>,
    /// The encoder's last quadrature state (0..4 along the cycle).
    phase: Arc<AtomicU8>,
}

/// Quadrature cycle, clockwise: (A, B).
const CYCLE: [(bool, bool); 4] = [(true, true), (true, false), (false, false), (false, true)];

impl SimPins {
    /// A panel on these pins with the default timings; pins idle low,
    /// encoder at a detent (A = B = high).
    pub fn panel(&self) -> Panel<SimPin> {
        self.enc_a.set(true);
        self.enc_b.set(true);
        self.knob.store(2048, Ordering::SeqCst);
        let timings = ButtonTimings::default();
        let knob = self.knob.clone();
        Panel {
            buttons: vec![
                ButtonInput::new(self.button1.clone(), "button1", false, timings),
                ButtonInput::new(self.button2.clone(), "button2", false, timings),
            ],
            encoder: Some(EncoderInput::new(
                self.enc_a.clone(),
                self.enc_b.clone(),
                "enc1",
                EncoderConfig::default(),
            )),
            pir: Some(PirInput::new(
                self.pir.clone(),
                "presence",
                PirConfig { hold_ms: 0 },
            )),
            knob: Some((
                Knob::new(KnobConfig::default()),
                Box::new(move || knob.load(Ordering::SeqCst)),
            )),
        }
    }

    /// Acts out one key; returns false for quit.
    pub fn key(&self, key: u8) -> bool {
        match key {
            b'1' => hold(self.button1.clone(), 60),
            b'2' => hold(self.button2.clone(), 60),
            b'!' => hold(self.button1.clone(), 1200),
            b'@' => hold(self.button2.clone(), 1200),
            b']' => self.turn(1),
            b'[' => self.turn(-1),
            b'+' | b'=' => self.nudge(205),
            b'-' => self.nudge(-205),
            b'p' => {
                let now = self.pir.0.load(Ordering::SeqCst);
                self.pir.set(!now);
            }
            b'q' | 3 | 4 => return false,
            _ => {}
        }
        true
    }

    fn nudge(&self, by: i32) {
        let v = self.knob.load(Ordering::SeqCst) as i32;
        self.knob
            .store((v + by).clamp(0, 4095) as u16, Ordering::SeqCst);
    }

    /// One detent: four quadrature steps, 3 ms apart.
    fn turn(&self, dir: i8) {
        let pins = self.clone();
        tokio::spawn(async move {
            for _ in 0..4 {
                let phase = (pins.phase.load(Ordering::SeqCst) as i8 + dir).rem_euclid(4) as u8;
                pins.phase.store(phase, Ordering::SeqCst);
                let (a, b) = CYCLE[phase as usize];
                pins.enc_a.set(a);
                pins.enc_b.set(b);
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        });
    }
}

fn hold(pin: SimPin, ms: u64) {
    tokio::spawn(async move {
        pin.set(true);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        pin.set(false);
    });
}

/// Raw mode for the life of the guard, when stdin is a terminal.
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    fn enter() -> RawTerminal {
        // SAFETY: plain termios calls on fd 0 with a zeroed, then filled struct.
        unsafe {
            if libc::isatty(0) != 1 {
                return RawTerminal(None);
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return RawTerminal(None);
            }
            let mut raw = saved;
            raw.c_lflag &= !(libc::ICANON | libc::ECHO);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            RawTerminal(Some(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the attributes read in `enter`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, saved);
            }
        }
    }
}

/// Runs a simulated controller until `q`, end of input, or a signal.
pub async fn run(cli: &Cli) -> anyhow::Result<()> {
    let settings = Settings::from_cli(cli)?;
    let _raw = RawTerminal::enter();
    eprintln!(
        "easel-controller {} (simulated) -> {}: keys 1 2 ! @ [ ] - + p, q quits",
        settings.session.id, settings.broker
    );
    let pins = SimPins::default();
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(panel::poll(pins.panel(), tx));

    let (keys_tx, mut keys) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        while let Ok(1) = std::io::stdin().read(&mut byte) {
            if keys_tx.send(byte[0]).is_err() {
                break;
            }
        }
    });
    let quit = async move {
        while let Some(key) = keys.recv().await {
            if !pins.key(key) {
                return;
            }
        }
        // end of input (a pipe closed): keep running until a signal
        std::future::pending::<()>().await
    };
    let shutdown = async {
        tokio::select! {
            _ = quit => {}
            _ = link::signals() => {}
        }
    };
    let hooks = Console {
        pattern: Arc::new(AtomicU8::new(0)),
        published: None,
    };
    link::run_session(&settings, rx, hooks, shutdown).await
}
