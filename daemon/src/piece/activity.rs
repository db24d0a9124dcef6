//! Which controller reports are a visitor doing something. Controllers
//! repeat their state: a knob sends its position again as a heartbeat and
//! after every reconnect, a presence sensor repeats "someone is there". A
//! repeat is not a visitor: it must neither keep the piece out of attract
//! mode nor move a parameter. And a controller's first report of a
//! position is where the knob happens to stand (0.5 on a fresh board), not
//! a turn: it becomes the baseline and changes nothing.
//!
//! Pure: reports in, "act on it or not" out. Button gestures and encoder
//! detents are events, always acted on; positions and presence only when
//! they change.

use easel_protocol::{InputMessage, Signal};
use std::collections::HashMap;

/// A knob moved less than this (of its 0..1 range) since the last acted-on
/// position is standing still: ADC noise and float rounding of a repeated
/// value stay below it, a deliberate turn does not.
pub const LEVEL_STEP: f32 = 0.005;
/// Inputs remembered at most. A controller naming endless inputs (or ids)
/// cannot grow the daemon's memory: past this, the memory starts over, and
/// the next report of each input is a baseline again.
const REMEMBERED: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Last {
    Level(f32),
    Presence(bool),
}

/// The last acted-on position of every (controller, input).
#[derive(Debug, Clone, Default)]
pub struct Activity {
    last: HashMap<(String, String), Last>,
}

impl Activity {
    pub fn new() -> Activity {
        Activity::default()
    }

    /// Whether `report` from `controller` should reach the bindings (and
    /// so count as a visitor).
    pub fn handle_report(&mut self, controller: &str, report: &InputMessage) -> bool {
        let now = match report.signal {
            Signal::Button(_) => return true,
            Signal::Delta(delta) => return delta != 0,
            Signal::Level(v) => Last::Level(v),
            Signal::Presence(p) => Last::Presence(p),
        };
        let key = (controller.to_string(), report.input.to_string());
        let previous = self.last.get(&key).copied();
        let act = match (previous, now) {
            // A first position is the baseline; a first "someone is there"
            // is someone there (a sensor that connects while a visitor
            // stands in front of it), a first "nobody" is nothing.
            (None, Last::Level(_)) => false,
            (None, Last::Presence(p)) => p,
            (Some(Last::Level(before)), Last::Level(v)) => (v - before).abs() >= LEVEL_STEP,
            (Some(Last::Presence(before)), Last::Presence(p)) => before != p,
            // The input changed its kind: take the new report as it is.
            (Some(_), _) => true,
        };
        // Only an acted-on position moves the baseline, so a slow drift in
        // sub-step increments still adds up to a step.
        if act || previous.is_none() {
            if self.last.len() >= REMEMBERED && previous.is_none() {
                self.last.clear();
            }
            self.last.insert(key, now);
        }
        act
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use easel_protocol::ButtonEvent;

    fn level(input: &str, v: f32) -> InputMessage<'_> {
        InputMessage {
            input,
            signal: Signal::Level(v),
        }
    }

    fn presence(p: bool) -> InputMessage<'static> {
        InputMessage {
            input: "presence",
            signal: Signal::Presence(p),
        }
    }

    /// (controller, report, acted on?) in order, as a table.
    #[test]
    fn only_changes_are_visitors() {
        let click = InputMessage {
            input: "button1",
            signal: Signal::Button(ButtonEvent::Click),
        };
        let steps: Vec<(&str, InputMessage, bool)> = vec![
            ("k", level("knob1", 0.5), false), // a new controller's knob: baseline
            ("k", level("knob1", 0.5), false), // its heartbeat
            ("k", level("knob1", 0.502), false), // noise
            ("k", level("knob1", 0.504), false),
            ("k", level("knob1", 0.506), true), // drift adds up to a step
            ("k", level("knob1", 0.9), true),   // a turn
            ("k", level("knob1", 0.9), false),  // the knob reports it again
            ("j", level("knob1", 0.9), false),  // another controller: its own baseline
            ("k", level("knob2", 0.1), false),  // another input: its own baseline
            ("k", click, true),
            ("k", click, true), // gestures always count
            (
                "k",
                InputMessage {
                    input: "enc1",
                    signal: Signal::Delta(0),
                },
                false,
            ),
            (
                "k",
                InputMessage {
                    input: "enc1",
                    signal: Signal::Delta(-2),
                },
                true,
            ),
            ("p", presence(false), false), // first report: nobody
            ("p", presence(false), false),
            ("p", presence(true), true),  // someone came
            ("p", presence(true), false), // still there
            ("q", presence(true), true),  // a sensor that connects with someone there
        ];
        let mut activity = Activity::new();
        for (i, (controller, report, want)) in steps.iter().enumerate() {
            assert_eq!(
                activity.handle_report(controller, report),
                *want,
                "step {i}: {controller} {report:?}"
            );
        }
    }

    #[test]
    fn memory_is_bounded() {
        let mut activity = Activity::new();
        for i in 0..3 * REMEMBERED {
            activity.handle_report(&format!("c{i}"), &level("knob1", 0.5));
        }
        assert!(activity.last.len() <= REMEMBERED);
    }
}
