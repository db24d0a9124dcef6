//! `[schedule]`: the venue's opening hours (docs/install.md, "Opening
//! hours"). Validated values only; keeping time is `crate::schedule`'s.

use crate::schedule::hours::{DAYS, Hours, Schedule};
use crate::schedule::{Hooks, ScheduleConfig};
use jiff::tz::TimeZone;
use serde::Deserialize;

/// `[schedule]` as serde reads it (unknown keys rejected).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// IANA name (`Europe/Vienna`); default: the board's own zone.
    pub timezone: Option<String>,
    pub mon: Option<String>,
    pub tue: Option<String>,
    pub wed: Option<String>,
    pub thu: Option<String>,
    pub fri: Option<String>,
    pub sat: Option<String>,
    pub sun: Option<String>,
    /// A command (program and arguments, no shell) run on opening, e.g.
    /// `["cec-ctl", "--to", "0", "--image-view-on"]` to wake the display.
    pub on_open: Option<Vec<String>>,
    /// A command run on closing (the display to standby).
    pub on_close: Option<Vec<String>>,
}

/// The second stage of `[schedule]`: `None` when the table is absent (the
/// piece is always open); on failure every (key, problem) pair.
pub fn schedule(
    raw: Option<&RawSchedule>,
) -> Result<Option<ScheduleConfig>, Vec<(&'static str, String)>> {
    let Some(raw) = raw else { return Ok(None) };
    let mut problems = Vec::new();
    let days = [
        &raw.mon, &raw.tue, &raw.wed, &raw.thu, &raw.fri, &raw.sat, &raw.sun,
    ]
    .map(|d| d.as_deref());
    if days.iter().all(Option::is_none) {
        problems.push((
            "schedule",
            format!(
                "[schedule] names no day: write the opening hours of {} (\"10:00-18:00\" or \"closed\")",
                DAYS.join(", ")
            ),
        ));
    }
    let hours = Hours::parse(days).unwrap_or_else(|errors| {
        for (day, e) in errors {
            problems.push((day, e.to_string()));
        }
        Hours::default()
    });
    let zone = match raw.timezone.as_deref() {
        None => TimeZone::system(),
        Some(name) => TimeZone::get(name).unwrap_or_else(|e| {
            problems.push((
                "timezone",
                format!("{name:?} is not a time zone this board knows (an IANA name such as \"Europe/Vienna\"): {e}"),
            ));
            TimeZone::UTC
        }),
    };
    for (key, command) in [("on_open", &raw.on_open), ("on_close", &raw.on_close)] {
        if command
            .as_ref()
            .is_some_and(|c| c.first().is_none_or(|p| p.is_empty()))
        {
            problems.push((
                key,
                "needs a program: [\"program\", \"argument\", …]".into(),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let zone_name = raw
        .timezone
        .clone()
        .or_else(|| zone.iana_name().map(str::to_string))
        .unwrap_or_else(|| "local".into());
    Ok(Some(ScheduleConfig {
        schedule: Schedule { hours, zone },
        zone_name,
        hooks: Hooks {
            on_open: raw.on_open.clone().unwrap_or_default(),
            on_close: raw.on_close.clone().unwrap_or_default(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawSchedule {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let r = raw("timezone = \"Mars/Olympus\"\nmon = \"9-5\"\non_open = []\n");
        let problems = schedule(Some(&r)).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["mon", "timezone", "on_open"]);
        let r = raw("timezone = \"UTC\"\n");
        let problems = schedule(Some(&r)).unwrap_err();
        assert!(problems[0].1.contains("names no day"), "{problems:?}");
    }

    #[test]
    fn a_good_table_builds_and_none_is_always_open() {
        assert!(schedule(None).unwrap().is_none());
        let r = raw("timezone = \"Europe/Vienna\"\nmon = \"10:00-18:00\"\non_close = [\"true\"]\n");
        let s = schedule(Some(&r)).unwrap().unwrap();
        assert_eq!(s.zone_name, "Europe/Vienna");
        assert_eq!(s.hooks.on_close, ["true"]);
        assert!(s.hooks.on_open.is_empty());
    }
}
