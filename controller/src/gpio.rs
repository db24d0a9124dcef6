//! The controller on real pins: GPIO character-device lines on a
//! Raspberry Pi (or any Linux board), through linux-embedded-hal.
//!
//! Only digital inputs are wired here: a Pi has no ADC, so knobs are best
//! made with an encoder (or a board controller). The status LED, when
//! given, plays the same patterns as on the boards.

use crate::cli::Cli;
use crate::link::{self, Console, Settings};
use crate::panel::{self, Panel};
use anyhow::{Context, bail};
use easel_firmware::mqtt::now_ms;
use easel_firmware::pins::{ButtonInput, EncoderInput, PirInput};
use easel_firmware::{ButtonTimings, EncoderConfig, PirConfig, StatusLed, StatusPattern};
use embedded_hal::digital::OutputPin;
use linux_embedded_hal::CdevPin;
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

const CONSUMER: &str = "easel-controller";

fn line(chip: &mut Chip, offset: u32, flags: LineRequestFlags) -> anyhow::Result<CdevPin> {
    let handle = chip
        .get_line(offset)
        .and_then(|l| l.request(flags, 0, CONSUMER))
        .with_context(|| format!("requesting GPIO line {offset}"))?;
    CdevPin::new(handle).with_context(|| format!("GPIO line {offset}"))
}

/// Runs the controller on GPIO until SIGINT/SIGTERM.
pub async fn run(cli: &Cli) -> anyhow::Result<()> {
    let settings = Settings::from_cli(cli)?;
    if cli.button1.is_none() && cli.button2.is_none() && cli.enc1.is_none() && cli.pir.is_none() {
        bail!("no inputs: give --button1/--button2/--enc1/--pir lines, or --simulate");
    }
    let mut chip =
        Chip::new(&cli.gpio_chip).with_context(|| format!("opening {}", cli.gpio_chip))?;
    let active_low = !cli.active_high;
    let timings = ButtonTimings::default();
    let mut buttons = Vec::new();
    for (name, offset) in [("button1", cli.button1), ("button2", cli.button2)] {
        if let Some(offset) = offset {
            buttons.push(ButtonInput::new(
                line(&mut chip, offset, LineRequestFlags::INPUT)?,
                name,
                active_low,
                timings,
            ));
        }
    }
    let encoder = match cli.enc1 {
        Some((a, b)) => Some(EncoderInput::new(
            line(&mut chip, a, LineRequestFlags::INPUT)?,
            line(&mut chip, b, LineRequestFlags::INPUT)?,
            "enc1",
            EncoderConfig::default(),
        )),
        None => None,
    };
    let pir = match cli.pir {
        Some(offset) => Some(PirInput::new(
            line(&mut chip, offset, LineRequestFlags::INPUT)?,
            "presence",
            PirConfig::default(),
        )),
        None => None,
    };
    let pattern = Arc::new(AtomicU8::new(0));
    if let Some(offset) = cli.status_led {
        let led = line(&mut chip, offset, LineRequestFlags::OUTPUT)?;
        tokio::spawn(status_led(led, pattern.clone()));
    }
    let (tx, rx) = mpsc::channel(64);
    let panel_task = tokio::spawn(panel::poll(
        Panel {
            buttons,
            encoder,
            pir,
            knob: None,
        },
        tx,
    ));
    eprintln!(
        "easel-controller {} (gpio {}) -> {}",
        settings.session.id, cli.gpio_chip, settings.broker
    );
    let hooks = Console {
        pattern,
        published: None,
    };
    let shutdown = async {
        tokio::select! {
            _ = link::signals() => {}
            result = panel_task => {
                if let Ok(Err(e)) = result {
                    eprintln!("easel-controller: {e:#}");
                }
            }
        }
    };
    link::run_session(&settings, rx, hooks, shutdown).await
}

async fn status_led(mut pin: CdevPin, pattern: Arc<AtomicU8>) {
    let mut led = StatusLed::new(StatusPattern::SlowBlink, now_ms());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        let now = now_ms();
        led.set(link::pattern_from(pattern.load(Ordering::Relaxed)), now);
        let _ = if led.level(now) {
            pin.set_high()
        } else {
            pin.set_low()
        };
    }
}
