//! A controller's inputs, sampled together: the same drivers and state
//! machines as the boards (`easel_firmware::pins`), over any embedded-hal
//! `InputPin` (GPIO lines or simulated pins).

use easel_firmware::mqtt::now_ms;
use easel_firmware::pins::{ButtonInput, EncoderInput, PirInput};
use easel_firmware::{InputEvent, Knob};
use easel_protocol::Signal;
use embedded_hal::digital::InputPin;
use std::time::Duration;
use tokio::sync::mpsc;

/// Reads an analog value (0..=4095) for a knob.
pub type AnalogSource = Box<dyn FnMut() -> u16 + Send>;

/// Everything a visitor can touch.
pub struct Panel<P> {
    pub buttons: Vec<ButtonInput<P>>,
    pub encoder: Option<EncoderInput<P, P>>,
    pub pir: Option<PirInput<P>>,
    pub knob: Option<(Knob, AnalogSource)>,
}

impl<P: InputPin> Panel<P> {
    /// Samples every input once.
    pub fn sample(&mut self, now: u64, out: &mut Vec<InputEvent>) -> Result<(), P::Error> {
        for b in &mut self.buttons {
            out.extend(b.sample(now)?);
        }
        if let Some(e) = &mut self.encoder {
            out.extend(e.sample(now)?);
        }
        if let Some(p) = &mut self.pir {
            out.extend(p.sample(now)?);
        }
        if let Some((knob, read)) = &mut self.knob
            && let Some(v) = knob.update(read(), now)
        {
            out.push(InputEvent {
                input: "knob1",
                signal: Signal::Level(v),
                at_ms: now,
            });
        }
        Ok(())
    }
}

/// Samples the panel every millisecond and forwards events until the
/// receiver is gone or a pin fails.
pub async fn poll<P>(mut panel: Panel<P>, tx: mpsc::Sender<InputEvent>) -> anyhow::Result<()>
where
    P: InputPin,
    P::Error: std::fmt::Debug,
{
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut events = Vec::new();
    loop {
        tick.tick().await;
        panel
            .sample(now_ms(), &mut events)
            .map_err(|e| anyhow::anyhow!("reading an input pin: {e:?}"))?;
        for e in events.drain(..) {
            if tx.send(e).await.is_err() {
                return Ok(());
            }
        }
    }
}
