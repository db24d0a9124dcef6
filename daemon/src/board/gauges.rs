//! The board's Prometheus gauges (docs/contract.md, "board health"): set
//! from the newest reading when `/metrics` is scraped, so they are never
//! older than the sampler's period. Uptime is computed at the scrape.

use super::Board;
use prometheus::core::Collector;
use prometheus::{Gauge, IntGauge};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub struct BoardGauges {
    /// When the daemon started, for the uptime.
    started: Instant,
    pub disk_free: IntGauge,
    pub disk_total: IntGauge,
    pub uptime: Gauge,
    /// The standard name a Prometheus process collector would export.
    pub start_time: Gauge,
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
            disk_free: IntGauge::new(
                "easel_disk_free_bytes",
                "Bytes free to the daemon on the filesystem of its data folder",
            )
            .expect("valid metric"),
            disk_total: IntGauge::new(
                "easel_disk_total_bytes",
                "Size of the filesystem of the data folder",
            )
            .expect("valid metric"),
            uptime: Gauge::new("easel_uptime_seconds", "Seconds since the daemon started")
                .expect("valid metric"),
            start_time,
        }
    }

    /// Everything to register.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.disk_free.clone()),
            Box::new(self.disk_total.clone()),
            Box::new(self.uptime.clone()),
            Box::new(self.start_time.clone()),
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
