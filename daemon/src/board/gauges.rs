//! The board's Prometheus gauges (docs/contract.md, "board health"): set
//! from the newest reading when `/metrics` is scraped, so they are never
//! older than the sampler's period. Uptime is computed at the scrape.
//! A reading the board does not expose is no series at all, never a 0
//! that an alert would take for a real value.

use super::{Board, Throttled};
use prometheus::core::Collector;
use prometheus::{Gauge, GaugeVec, IntGauge, IntGaugeVec, Opts};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub struct BoardGauges {
    /// When the daemon started, for the uptime.
    started: Instant,
    pub disk_free: IntGauge,
    pub disk_total: IntGauge,
    pub uptime: Gauge,
    /// The standard name a Prometheus process collector would export.
    pub start_time: Gauge,
    pub memory_available: IntGaugeVec,
    pub memory_total: IntGaugeVec,
    pub resident: IntGaugeVec,
    /// Every sensor, labels `sensor` (`thermal_zone0`) and `type`.
    pub temperature: GaugeVec,
    /// The one `[health] max_temperature_c` is compared with.
    pub cpu_temperature: GaugeVec,
    /// Raspberry Pi firmware flags, labels `condition` and `when`
    /// (`now`, `since_boot`).
    pub throttled: IntGaugeVec,
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid metric")
}

/// A gauge that may be absent: a vector without labels, set or reset.
fn optional(name: &str, help: &str) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), &[]).expect("valid metric")
}

impl BoardGauges {
    pub fn new() -> BoardGauges {
        let start_time = Gauge::new(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds",
        )
        .expect("valid metric");
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        start_time.set(since_epoch.floor());
        BoardGauges {
            started: Instant::now(),
            disk_free: gauge(
                "easel_disk_free_bytes",
                "Bytes free to the daemon on the filesystem of its data folder",
            ),
            disk_total: gauge(
                "easel_disk_total_bytes",
                "Size of the filesystem of the data folder",
            ),
            uptime: Gauge::new("easel_uptime_seconds", "Seconds since the daemon started")
                .expect("valid metric"),
            start_time,
            memory_available: optional(
                "easel_memory_available_bytes",
                "Memory available without swapping (MemAvailable)",
            ),
            memory_total: optional("easel_memory_total_bytes", "Memory of the board (MemTotal)"),
            resident: optional(
                "process_resident_memory_bytes",
                "Resident memory of the daemon",
            ),
            temperature: GaugeVec::new(
                Opts::new(
                    "easel_temperature_celsius",
                    "Temperature of each thermal zone (and the CPU's hwmon sensor)",
                ),
                &["sensor", "type"],
            )
            .expect("valid metric"),
            cpu_temperature: GaugeVec::new(
                Opts::new(
                    "easel_cpu_temperature_celsius",
                    "The CPU's temperature: its hottest sensor ([health] max_temperature_c)",
                ),
                &[],
            )
            .expect("valid metric"),
            throttled: IntGaugeVec::new(
                Opts::new(
                    "easel_throttled",
                    "Raspberry Pi firmware throttling flags: 1 = the condition holds now / has occurred since boot",
                ),
                &["condition", "when"],
            )
            .expect("valid metric"),
        }
    }

    /// Everything to register.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.disk_free.clone()),
            Box::new(self.disk_total.clone()),
            Box::new(self.uptime.clone()),
            Box::new(self.start_time.clone()),
            Box::new(self.memory_available.clone()),
            Box::new(self.memory_total.clone()),
            Box::new(self.resident.clone()),
            Box::new(self.temperature.clone()),
            Box::new(self.cpu_temperature.clone()),
            Box::new(self.throttled.clone()),
        ]
    }

    /// Sets every gauge from `board` (the newest reading, if any).
    pub fn set(&self, board: Option<&Board>) {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        let Some(board) = board else { return };
        if let Some(disk) = board.disk {
            self.disk_free.set(clamp(disk.free_bytes));
            self.disk_total.set(clamp(disk.total_bytes));
        }
        let set = |g: &IntGaugeVec, v: Option<u64>| match v {
            Some(v) => g.with_label_values::<&str>(&[]).set(clamp(v)),
            None => g.reset(),
        };
        set(
            &self.memory_available,
            board.memory.map(|m| m.available_bytes),
        );
        set(&self.memory_total, board.memory.map(|m| m.total_bytes));
        set(&self.resident, board.resident_bytes);
        // Sensors can come and go (a USB sensor, a zone that fails to
        // read): only this reading's are exported.
        self.temperature.reset();
        for s in &board.sensors {
            self.temperature
                .with_label_values(&[s.id.as_str(), s.kind.as_str()])
                .set(f64::from(s.celsius));
        }
        match super::health::cpu_temperature(&board.sensors) {
            Some(cpu) => self
                .cpu_temperature
                .with_label_values::<&str>(&[])
                .set(f64::from(cpu.celsius)),
            None => self.cpu_temperature.reset(),
        }
        self.throttled.reset();
        if let Some(flags) = board.throttled {
            for (bit, condition) in Throttled::CONDITIONS {
                let since_boot = bit << Throttled::SINCE_BOOT_SHIFT;
                for (when, on) in [("now", flags & bit), ("since_boot", flags & since_boot)] {
                    self.throttled
                        .with_label_values(&[condition, when])
                        .set(i64::from(on != 0));
                }
            }
        }
    }
}

impl Default for BoardGauges {
    fn default() -> BoardGauges {
        BoardGauges::new()
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::{Memory, Sensor};

    fn render(g: &BoardGauges) -> String {
        let registry = prometheus::Registry::new();
        for c in g.collectors() {
            registry.register(c).unwrap();
        }
        let mut out = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_pi_reading_becomes_series_and_absent_readings_none() {
        let g = BoardGauges::new();
        g.set(Some(&Board {
            memory: Some(Memory {
                total_bytes: 8 << 30,
                available_bytes: 6 << 30,
            }),
            sensors: vec![Sensor {
                id: "thermal_zone0".into(),
                kind: "cpu-thermal".into(),
                celsius: 61.25,
            }],
            throttled: Some(0x50005),
            ..Board::default()
        }));
        let text = render(&g);
        for line in [
            "easel_memory_available_bytes 6442450944",
            "easel_temperature_celsius{sensor=\"thermal_zone0\",type=\"cpu-thermal\"} 61.25",
            "easel_cpu_temperature_celsius 61.25",
            "easel_throttled{condition=\"under_voltage\",when=\"now\"} 1",
            "easel_throttled{condition=\"under_voltage\",when=\"since_boot\"} 1",
            "easel_throttled{condition=\"frequency_capped\",when=\"now\"} 0",
            "easel_throttled{condition=\"throttled\",when=\"now\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        // A board without sensors (this VM): no temperature series at all.
        g.set(Some(&Board::default()));
        let text = render(&g);
        assert!(!text.contains("easel_cpu_temperature_celsius "), "{text}");
        assert!(!text.contains("easel_throttled{"), "{text}");
        assert!(!text.contains("easel_memory_available_bytes "), "{text}");
    }
}
