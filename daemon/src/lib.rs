//! easeld, the installation daemon, as a library: the binary in `main.rs`
//! only parses arguments and calls [`run`]; tests and the `easel` tools use
//! the same pieces (the engine above all) from here.

pub mod accept;
pub mod archive;
pub mod board;
pub mod config;
pub mod credentials;
pub mod deploy;
pub mod durable;
pub mod homeassistant;
pub mod logs;
pub mod metrics;
pub mod mqtt;
pub mod osc;
pub mod palette;
pub mod piece;
pub mod public_url;
pub mod schedule;
pub mod service;
pub mod source;
pub mod stalls;
pub mod web;

use anyhow::Context;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How long the exit waits for the engine's job in progress.
const ENGINE_STOP_WAIT: std::time::Duration = std::time::Duration::from_millis(1000);

/// Runs the installation until `shutdown` resolves; then finishes the
/// picture in flight and returns.
pub async fn run(config: config::Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let open_files = service::limits::raise_open_files();
    tracing::info!(node = %config.node, threads = config.threads, engine = %config.engine.engine, ?open_files, "easeld {} starting", env!("CARGO_PKG_VERSION"));
    // systemd (Type=notify): nothing is sent without NOTIFY_SOCKET.
    let notifier = Arc::new(service::Notifier::from_env());
    notifier.status("starting: loading models");
    let images = config.data_dir.join("images");
    let archive = archive::Archive::open(&images, config.archive)
        .with_context(|| format!("opening the image archive {}", images.display()))?;
    // Deployed models: what a crash left half-written goes before any is loaded.
    match deploy::store::recover(&config.data_dir) {
        Ok(r) => {
            if !r.removed.is_empty() {
                tracing::warn!(removed = ?r.removed, "deploy: removed what an interrupted install left")
            }
            for (model, why) in &r.damaged {
                tracing::error!(
                    "deploy: the pointer of deployed model {model} is damaged ({why}); its versions are kept, its models_dir copy is used"
                );
            }
        }
        Err(e) => tracing::error!("deploy: recovering {}: {e}", config.data_dir.display()),
    }
    // The signing credential before the first picture: read, or made on a
    // first start, and proven with one test signature (off the async threads).
    let credentials = {
        let (c, dir, node) = (
            config.credentials.clone(),
            config.data_dir.clone(),
            config.node.clone(),
        );
        tokio::task::spawn_blocking(move || credentials::open(&c, &dir, &node)).await?
    };
    let engine = easel_engine::Engine::start_with(
        config.threads,
        easel_engine::worker::DEFAULT_QUEUE,
        config.engine.clone(),
    );
    let metrics = Arc::new(metrics::Metrics::new());
    let cancel = CancellationToken::new();
    tokio::spawn(stalls::run(engine.clone(), cancel.clone()));
    // Frames for image models: opened now, so a missing camera is reported
    // at start; frames are only made while live mode or a capture wants them.
    let feed = source::Feed::start(&config.source, config.camera.clone());
    let (piece, piece_task) = piece::start(
        config.piece(),
        engine.clone(),
        Arc::new(archive),
        metrics,
        feed,
        credentials,
        cancel.clone(),
    );
    // Opening hours: known before the page is up, so a kiosk started at
    // night never shows a picture.
    if let Some(schedule) = config.schedule.clone() {
        let status = schedule.schedule.at(jiff::Timestamp::now());
        piece.set_schedule(schedule::task::report(&status, &schedule.zone_name));
        tokio::spawn(schedule::task::run(schedule, piece.clone(), cancel.clone()));
    }
    // The page is up before any model is: a kiosk shows the glow (or the
    // archive's newest picture) instead of a browser error while models load.
    let board = board::sampler::start(
        board::probe::Probe::system(&config.data_dir),
        config.health,
        piece.clone(),
        cancel.clone(),
    )
    .await;
    let (listener, addr) = web::bind(config.http_listen).await?;
    tracing::info!("listening http://{addr}/ (gallery page; /admin, /healthz, /metrics)");
    let web_task = tokio::spawn(web::serve(
        listener,
        web::Web::new(piece.clone(), config.admin_token.clone(), cancel.clone())
            .with_board(board)
            .with_checks(engine.clone(), &config.default_model, &config.data_dir),
        config.http_limits,
    ));
    let mqtt = mqtt::MqttEdge::start(
        &config.mqtt,
        &config.node,
        config.bindings.clone(),
        piece.clone(),
    )
    .await?;
    // The venue's systems: they stop after the piece, so the last
    // picture's news still reaches them.
    let edges = CancellationToken::new();
    let base_url = public_url::base_url(
        config
            .homeassistant
            .as_ref()
            .and_then(|h| h.base_url.as_deref()),
        addr,
        public_url::hostname().as_deref(),
    );
    let homeassistant = homeassistant::start(
        homeassistant::Settings {
            config: config.homeassistant.clone(),
            endpoint: mqtt.endpoint.clone(),
            prefix: config.mqtt.prefix.clone(),
            node: config.node.clone(),
            data_dir: config.data_dir.clone(),
            base_url: base_url.clone(),
        },
        piece.clone(),
        edges.clone(),
    );
    let osc = match &config.osc {
        Some(osc) => Some(
            osc::OscEdge::start(
                osc,
                piece.clone(),
                config.mqtt.max_payload,
                base_url,
                edges.clone(),
            )
            .await
            .with_context(|| format!("starting OSC on {:?}", osc.listen))?,
        ),
        None => None,
    };
    let mut state = piece.state.clone();
    // The model's name is copied out at once: a `watch::Ref` kept through the
    // branch (select! holds its output) plus a second `borrow()` deadlocks
    // the state's lock whenever a writer queues between the two reads (a
    // second model finishing its load at that moment froze the daemon).
    let ready = async {
        let s = state.wait_for(|s| s.model.is_some()).await;
        s.map(|s| s.model.clone().unwrap_or_default())
    };
    // A signal counts at any time, while models load too.
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    let mut stopping_early = false;
    tokio::select! {
        Ok(model) = ready => tracing::info!(%model, "ready"),
        _ = tokio::time::sleep(std::time::Duration::from_secs(120)) => tracing::error!("no model loaded after 120 s"),
        _ = &mut shutdown => stopping_early = true,
    }
    // Ready even without a model after 120 s: the page and /healthz are
    // up and tell the truth, and a restart would not bring a model back.
    notifier.ready(&service::status::line(&piece.state.borrow()));
    let supervisor = tokio::spawn(service::supervise(
        notifier.clone(),
        engine.clone(),
        piece.state.clone(),
        cancel.clone(),
    ));
    if !stopping_early {
        shutdown.await;
    }
    notifier.stopping();
    tracing::info!("stopping: finishing the picture in flight");
    cancel.cancel();
    let _ = supervisor.await;
    let _ = piece_task.await;
    edges.cancel();
    if let Some(osc) = osc {
        osc.stop().await;
    }
    if let Some(task) = homeassistant {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    match tokio::time::timeout(std::time::Duration::from_secs(5), web_task).await {
        Ok(Ok(Err(e))) => tracing::error!("{e}"),
        Err(_) => tracing::warn!("web server did not stop within 5 s"),
        _ => {}
    }
    // After the last picture's event: `stopped`, then a clean disconnect.
    mqtt.stop().await;
    // The engine finishes its job first: a model half-loaded (seconds for
    // a large one on a small board) is not worth waiting for, nothing of
    // it is kept.
    let engine_stopped = tokio::task::spawn_blocking(move || engine.shutdown());
    if tokio::time::timeout(ENGINE_STOP_WAIT, engine_stopped)
        .await
        .is_err()
    {
        tracing::warn!(
            "the engine is still busy (a model loading): stopping without waiting for it"
        );
    }
    tracing::info!("stopped");
    Ok(())
}
