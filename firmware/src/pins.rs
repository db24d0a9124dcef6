//! Drivers that tie the input state machines to embedded-hal 1.0 pins.
//!
//! Each owns its pins, samples them when asked (`sample(now)`), feeds the
//! state machine and returns ready [`InputEvent`]s; `release()` hands the
//! pins back. Pin errors are returned unchanged. Polling (rather than
//! interrupts) keeps these usable on every HAL, blocking or async: a board
//! calls `sample` every millisecond or two from its input task.

use crate::button::{Button, ButtonTimings, Gestures};
use crate::encoder::{Encoder, EncoderConfig};
use crate::event::InputEvent;
use crate::presence::{Pir, PirConfig};
use easel_protocol::Signal;
use embedded_hal::digital::InputPin;

/// A push button on one pin.
pub struct ButtonInput<P> {
    pin: P,
    name: &'static str,
    /// True when pressing pulls the pin low (the usual wiring with a pull-up).
    active_low: bool,
    button: Button,
}

impl<P: InputPin> ButtonInput<P> {
    pub fn new(pin: P, name: &'static str, active_low: bool, timings: ButtonTimings) -> Self {
        ButtonInput {
            pin,
            name,
            active_low,
            button: Button::new(timings),
        }
    }

    /// Reads the pin once; returns the gestures completed.
    pub fn sample(&mut self, now: u64) -> Result<heapless::Vec<InputEvent, 3>, P::Error> {
        let high = self.pin.is_high()?;
        let gestures = self.button.update(high != self.active_low, now);
        Ok(self.events(gestures, now))
    }

    fn events(&self, gestures: Gestures, now: u64) -> heapless::Vec<InputEvent, 3> {
        gestures
            .into_iter()
            .map(|g| InputEvent {
                input: self.name,
                signal: Signal::Button(g),
                at_ms: now,
            })
            .collect()
    }

    pub fn release(self) -> P {
        self.pin
    }
}

/// A quadrature encoder on two pins.
pub struct EncoderInput<A, B> {
    a: A,
    b: B,
    name: &'static str,
    encoder: Encoder,
}

impl<A: InputPin, B: InputPin<Error = A::Error>> EncoderInput<A, B> {
    pub fn new(a: A, b: B, name: &'static str, config: EncoderConfig) -> Self {
        EncoderInput {
            a,
            b,
            name,
            encoder: Encoder::new(config),
        }
    }

    /// Reads both pins once; returns a delta event when one is due.
    pub fn sample(&mut self, now: u64) -> Result<Option<InputEvent>, A::Error> {
        let (a, b) = (self.a.is_high()?, self.b.is_high()?);
        Ok(self.encoder.update(a, b, now).map(|d| InputEvent {
            input: self.name,
            signal: Signal::Delta(d),
            at_ms: now,
        }))
    }

    pub fn release(self) -> (A, B) {
        (self.a, self.b)
    }
}

/// A PIR motion sensor on one pin (high = motion).
pub struct PirInput<P> {
    pin: P,
    name: &'static str,
    pir: Pir,
}

impl<P: InputPin> PirInput<P> {
    pub fn new(pin: P, name: &'static str, config: PirConfig) -> Self {
        PirInput {
            pin,
            name,
            pir: Pir::new(config),
        }
    }

    pub fn sample(&mut self, now: u64) -> Result<Option<InputEvent>, P::Error> {
        let motion = self.pin.is_high()?;
        Ok(self.pir.update(motion, now).map(|p| InputEvent {
            input: self.name,
            signal: Signal::Presence(p),
            at_ms: now,
        }))
    }

    pub fn release(self) -> P {
        self.pin
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use easel_protocol::ButtonEvent;
    use embedded_hal_mock::eh1::MockError;
    use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};
    use std::vec::Vec;

    fn reads(levels: &[State]) -> Vec<Transaction> {
        levels.iter().map(|&s| Transaction::get(s)).collect()
    }

    #[test]
    fn active_low_button_reports_press_and_release() {
        use State::{High, Low};
        let pin = Mock::new(&reads(&[High, Low, Low, High, High]));
        let timings = ButtonTimings {
            debounce_ms: 5,
            double_ms: 0,
            long_ms: 1000,
        };
        let mut button = ButtonInput::new(pin, "button1", true, timings);
        let mut got = Vec::new();
        for now in [0, 10, 15, 30, 35] {
            got.extend(
                button
                    .sample(now)
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.at_ms, e.signal)),
            );
        }
        let b = |e| Signal::Button(e);
        assert_eq!(
            got,
            [
                (15, b(ButtonEvent::Press)),
                (35, b(ButtonEvent::Release)),
                (35, b(ButtonEvent::Click))
            ]
        );
        button.release().done();
    }

    #[test]
    fn pin_errors_come_back_unchanged() {
        let err = MockError::Io(std::io::ErrorKind::NotConnected);
        let pin = Mock::new(&[Transaction::get(State::High).with_error(err.clone())]);
        let mut button = ButtonInput::new(pin, "button1", true, ButtonTimings::default());
        assert_eq!(button.sample(0).unwrap_err(), err);
        button.release().done();
    }

    #[test]
    fn encoder_reads_a_then_b() {
        use State::{High, Low};
        // rest (1,1), then one clockwise detent: 10, 00, 01, 11
        let seq = [
            (High, High),
            (High, Low),
            (Low, Low),
            (Low, High),
            (High, High),
        ];
        let a = Mock::new(&reads(&seq.map(|s| s.0)));
        let b = Mock::new(&reads(&seq.map(|s| s.1)));
        let mut enc = EncoderInput::new(a, b, "enc1", EncoderConfig::default());
        let mut got = Vec::new();
        for now in 0..seq.len() as u64 {
            got.extend(enc.sample(now).unwrap().map(|e| e.signal));
        }
        assert_eq!(got, [Signal::Delta(1)]);
        let (mut a, mut b) = enc.release();
        a.done();
        b.done();
    }

    #[test]
    fn pir_pin() {
        use State::{High, Low};
        let pin = Mock::new(&reads(&[Low, High, Low, Low]));
        let mut pir = PirInput::new(pin, "presence", PirConfig { hold_ms: 100 });
        let got: Vec<_> = [0, 10, 50, 110]
            .into_iter()
            .filter_map(|t| pir.sample(t).unwrap())
            .map(|e| (e.at_ms, e.signal))
            .collect();
        assert_eq!(
            got,
            [(10, Signal::Presence(true)), (110, Signal::Presence(false))]
        );
        pir.release().done();
    }
}
