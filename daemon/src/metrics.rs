//! Prometheus metrics (docs/contract.md `/metrics`). One registry per daemon
//! (not the global default) so tests can run several daemons in a process.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

/// Error codes exported at 0 from the start: a series that appears only
/// after the first failure breaks `rate()` and alerts on it.
pub const KNOWN_ERROR_CODES: &[&str] = &[
    "invalid_json",
    "bad_request",
    "payload_too_large",
    "unknown_command",
    "unknown_model",
    "no_model",
    "bad_input",
    "inference_failed",
    "busy",
    "archive_failed",
    "sign_failed",
];

pub struct Metrics {
    registry: Registry,
    pub images_generated: IntCounter,
    pub inference_seconds: HistogramVec,
    pub errors: IntCounterVec,
    pub mqtt_connected: IntGauge,
    pub frames: IntCounter,
    pub frames_dropped: IntCounter,
    pub queue_depth: IntGauge,
    pub command_seconds: Histogram,
    pub archive_images: IntGauge,
    pub archive_bytes: IntGauge,
    /// Gallery pages connected to `/live` now.
    pub page_clients: IntGauge,
    pub frames_served: IntCounter,
    /// Signing one archived picture's C2PA manifest.
    pub signing_seconds: Histogram,
    /// Disk, uptime and the board's other health gauges.
    pub board: crate::board::gauges::BoardGauges,
    /// `/healthz`'s faults as numbers (see [`FaultGauges`]).
    pub faults: FaultGauges,
}

/// `easel_fault{kind}`: the faults `/healthz` names, as gauges set at
/// scrape time, every kind exported from the start (at 0) so an alert on
/// it works before the first fault.
pub struct FaultGauges(IntGaugeVec);

impl FaultGauges {
    pub const KINDS: &[&str] = &[
        "engine_stuck",
        "engine_restarts",
        "models_crashed",
        "models_refused",
        "default_model_unavailable",
        "archive_unwritable",
        "deploy_store",
    ];

    fn new() -> FaultGauges {
        let gauges = IntGaugeVec::new(
            Opts::new(
                "easel_fault",
                "Faults /healthz reports, by kind (1 or a count; 0 when none)",
            ),
            &["kind"],
        )
        .expect("valid metric");
        for kind in FaultGauges::KINDS {
            gauges.with_label_values(&[kind]);
        }
        FaultGauges(gauges)
    }

    pub fn set(&self, checks: &crate::web::health::Checks, state: &crate::piece::state::State) {
        let faults = &checks.engine;
        for (kind, value) in [
            ("engine_stuck", usize::from(checks.engine_stuck.is_some())),
            ("engine_restarts", faults.restarts as usize),
            ("models_crashed", faults.crashed.len()),
            ("models_refused", faults.refused.len()),
            (
                "default_model_unavailable",
                usize::from(checks.default_unavailable(state).is_some()),
            ),
            ("archive_unwritable", usize::from(checks.archive.is_some())),
            ("deploy_store", checks.deploy.len()),
        ] {
            self.0.with_label_values(&[kind]).set(value as i64);
        }
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let metrics = Metrics {
            images_generated: IntCounter::new(
                "easel_images_generated_total",
                "Pictures generated and archived",
            )
            .expect("valid metric"),
            inference_seconds: HistogramVec::new(
                HistogramOpts::new("easel_inference_seconds", "Time in the model per picture")
                    .buckets(buckets.clone()),
                // Which engine and provider ran it: a fallback to tract
                // shows in the latency series, not only in /healthz.
                &["model", "engine", "provider"],
            )
            .expect("valid metric"),
            errors: IntCounterVec::new(
                Opts::new("easel_errors_total", "Error events by code"),
                &["code"],
            )
            .expect("valid metric"),
            mqtt_connected: IntGauge::new(
                "easel_mqtt_connected",
                "1 while connected to the broker",
            )
            .expect("valid metric"),
            frames: IntCounter::new("easel_frames_total", "Frames shown in morph and live modes")
                .expect("valid metric"),
            frames_dropped: IntCounter::new(
                "easel_frames_dropped_total",
                "Morph/live frames skipped because the engine was behind the target rate",
            )
            .expect("valid metric"),
            queue_depth: IntGauge::new("easel_queue_depth", "Inference jobs waiting")
                .expect("valid metric"),
            command_seconds: Histogram::with_opts(
                HistogramOpts::new("easel_command_seconds", "Command arrival to result event")
                    .buckets(buckets),
            )
            .expect("valid metric"),
            archive_images: IntGauge::new("easel_archive_images", "Pictures held in the archive")
                .expect("valid metric"),
            archive_bytes: IntGauge::new("easel_archive_bytes", "Bytes held in the archive")
                .expect("valid metric"),
            page_clients: IntGauge::new(
                "easel_page_clients",
                "Gallery pages connected to the live stream",
            )
            .expect("valid metric"),
            frames_served: IntCounter::new(
                "easel_frames_served_total",
                "Morph/live frames fetched by gallery pages",
            )
            .expect("valid metric"),
            signing_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "easel_signing_seconds",
                    "Signing an archived picture's C2PA manifest (Content Credentials)",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ]),
            )
            .expect("valid metric"),
            board: crate::board::gauges::BoardGauges::new(),
            faults: FaultGauges::new(),
            registry,
        };
        for c in [
            Box::new(metrics.images_generated.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.inference_seconds.clone()),
            Box::new(metrics.errors.clone()),
            Box::new(metrics.mqtt_connected.clone()),
            Box::new(metrics.frames.clone()),
            Box::new(metrics.frames_dropped.clone()),
            Box::new(metrics.queue_depth.clone()),
            Box::new(metrics.command_seconds.clone()),
            Box::new(metrics.archive_images.clone()),
            Box::new(metrics.archive_bytes.clone()),
            Box::new(metrics.page_clients.clone()),
            Box::new(metrics.frames_served.clone()),
            Box::new(metrics.signing_seconds.clone()),
            Box::new(metrics.faults.0.clone()),
        ]
        .into_iter()
        .chain(metrics.board.collectors())
        {
            metrics.registry.register(c).expect("unique metric names");
        }
        for code in KNOWN_ERROR_CODES {
            metrics.errors.with_label_values(&[code]);
        }
        metrics
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_names_present() {
        let m = Metrics::new();
        m.inference_seconds
            .with_label_values(&["m", "onnxruntime", "cpu"])
            .observe(0.01);
        m.errors.with_label_values(&["invalid_json"]).inc();
        let text = m.render();
        for name in [
            "easel_images_generated_total",
            "easel_inference_seconds_bucket{engine=\"onnxruntime\",model=\"m\",provider=\"cpu\"",
            "easel_errors_total{code=\"invalid_json\"} 1",
            "easel_mqtt_connected 0",
            "easel_frames_total 0",
            "easel_errors_total{code=\"busy\"} 0",
            "easel_uptime_seconds",
            "easel_fault{kind=\"engine_stuck\"} 0",
            "easel_fault{kind=\"archive_unwritable\"} 0",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
