//! The piece: the running artwork. It owns the state (current model,
//! mode, seed, params), turns commands into engine jobs, archives results
//! and announces them. Edges (MQTT, web, controllers) only send it
//! commands and watch what it publishes:
//!
//! commands (mpsc) -> piece -> engine -> archive -> events (broadcast),
//! state / palette / frames (watch).
//!
//! The command loop never waits for inference: renders run on the engine
//! worker while the loop takes the next command (so "latest wins" works),
//! and each finished render is archived and announced by its own task.

pub mod activity;
mod archiving;
pub mod attract;
pub mod bindings;
mod capture;
pub mod command;
pub mod deploy;
pub mod event;
pub mod live;
pub mod morph;
mod morph_task;
pub mod scenes;
pub mod stage;
pub mod state;
pub mod viewport;

use crate::archive::Archive;
use crate::metrics::Metrics;
use command::{Command, CommandError, Request, SceneAction};
use easel_engine::package::ModelPackage;
use easel_engine::{Engine, Lane, ModelInfo, RenderRequest, Rendered, RunError, Source, Urgency};
use event::{Event, Events, Frame, Generated};
use state::{Latest, State};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Room for a burst of answers while the broker acknowledges slowly:
/// refusals (`superseded`, `busy`) come as fast as commands arrive, and
/// mosquitto lets a client have only 20 unacknowledged publishes. With
/// 1024, a 10 x 1000 flood through mosquitto lost ~75% of its answers
/// (`easel ctl bench`); events are small (16384 of them ~ 3 MB). The MQTT
/// edge holds its intake well before this fills (`mqtt/client.rs`).
pub const EVENTS_CAPACITY: usize = 16 * 1024;

/// A command as it arrives from an edge, decoded or refused.
#[derive(Debug)]
pub struct Incoming {
    pub arrived: Instant,
    pub request: Result<Request, CommandError>,
}

impl Incoming {
    pub fn now(request: Result<Request, CommandError>) -> Incoming {
        Incoming {
            arrived: Instant::now(),
            request,
        }
    }
}

/// What the edges hold: a way in, and everything to watch. Cheap to clone.
#[derive(Clone)]
pub struct Piece {
    pub commands: mpsc::Sender<Incoming>,
    pub events: Events,
    pub state: watch::Receiver<State>,
    /// The newest picture's palette, `#rrggbb,…`.
    pub palette: watch::Receiver<String>,
    /// The newest morph/live frame.
    pub frames: watch::Receiver<Option<Frame>>,
    pub archive: Arc<Archive>,
    pub metrics: Arc<Metrics>,
    /// Set by the MQTT edge; read by health checks.
    pub mqtt_connected: Arc<watch::Sender<bool>>,
    /// Model transfers (the MQTT edge) and rollbacks (`deploy.rs`).
    pub deploy: mpsc::Sender<deploy::Job>,
    /// The state's writer, for [`Piece::report_board`] only.
    state_writer: Arc<watch::Sender<State>>,
    /// The kiosk screen's size, from the gallery page (`viewport.rs`).
    viewport: Arc<watch::Sender<Option<(u32, u32)>>>,
}

impl Piece {
    /// The gallery page's screen size: still CPPN pictures fill it.
    pub fn report_viewport(&self, size: (u32, u32)) {
        self.viewport.send_if_modified(|v| {
            let changed = *v != Some(size);
            *v = Some(size);
            changed
        });
    }

    /// Puts the board's health (`crate::board`) into the state: the one
    /// part of it the piece does not own, only carries.
    pub fn report_board(&self, board: state::BoardStatus) {
        self.state_writer.send_if_modified(|s| {
            let changed = s.board.as_ref() != Some(&board);
            s.board = Some(board);
            changed
        });
    }
}

impl Piece {
    /// Opening hours (`crate::schedule`): open or closed, and until when.
    /// Closed, morph, live and attract modes pause (they look at
    /// `state.closed()`), the page shows black, and the MQTT edge ignores
    /// controller input and publishes a black palette.
    pub fn set_schedule(&self, status: state::ScheduleStatus) {
        self.state_writer.send_if_modified(|s| {
            let changed = s.schedule.as_ref() != Some(&status);
            s.schedule = Some(status);
            changed
        });
    }
}

/// The piece's own side of the channels.
struct Studio {
    engine: Engine,
    archive: Arc<Archive>,
    metrics: Arc<Metrics>,
    events: Events,
    state: Arc<watch::Sender<State>>,
    palette: watch::Sender<String>,
    frames: watch::Sender<Option<Frame>>,
    /// Loaded models' facts (the morph needs their latent sizes).
    infos: Mutex<HashMap<String, Arc<ModelInfo>>>,
    /// Loaded variants (`[variant] source` in their manifest) and the
    /// model each was made from: one entry in the `next_model` rotation.
    variant_of: Mutex<HashMap<String, String>>,
    /// The configured default model: when it is a variant (the one
    /// `easel bench --pick` chose), it stands for its group in the rotation.
    picked: String,
    scenes: Mutex<scenes::Scenes>,
    attract: Mutex<attract::Attract>,
    attract_config: attract::AttractConfig,
    /// Woken on every command, so the morph task re-checks attract mode.
    activity: tokio::sync::Notify,
    in_flight: TaskTracker,
    /// The deploy task's queue (`rollback` goes there).
    deploy: mpsc::Sender<deploy::Job>,
    /// The frame source for `image` models (live mode, capture).
    feed: crate::source::Feed,
    /// The kiosk screen's size, once a page reported it.
    viewport: Arc<watch::Sender<Option<(u32, u32)>>>,
    /// Signs every archived picture's C2PA manifest; `None`: no usable
    /// credential (pictures keep their text provenance only).
    signer: Option<Arc<easel_credentials::PictureSigner>>,
    node: String,
}

/// What the piece is set up with; the config's second stage builds it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub node: String,
    pub models_dir: std::path::PathBuf,
    pub default_model: String,
    /// Scenes and deployed models live here.
    pub data_dir: std::path::PathBuf,
    pub attract: attract::AttractConfig,
    pub deploy: deploy::Settings,
}

/// Starts the piece's command loop. Loading models is `load_models`.
pub fn start(
    config: Settings,
    engine: Engine,
    archive: Arc<Archive>,
    metrics: Arc<Metrics>,
    feed: crate::source::Feed,
    credentials: crate::credentials::Credentials,
    cancel: CancellationToken,
) -> (Piece, tokio::task::JoinHandle<()>) {
    let (commands, rx) = mpsc::channel(256);
    let events = Events::new(EVENTS_CAPACITY);
    let (state_tx, state) = watch::channel(state::initial(&config.node));
    let state_tx = Arc::new(state_tx);
    let (palette_tx, palette) = watch::channel(String::new());
    let (frames_tx, frames) = watch::channel(None);
    let (mqtt_connected, _) = watch::channel(false);
    let viewport = Arc::new(watch::channel(None).0);
    // Small: a chunk is up to 256 KiB, and a full queue slows the sender.
    let (deploy_tx, deploy_rx) = mpsc::channel(8);
    let piece = Piece {
        commands,
        events: events.clone(),
        state,
        palette,
        frames,
        archive: archive.clone(),
        metrics: metrics.clone(),
        mqtt_connected: Arc::new(mqtt_connected),
        deploy: deploy_tx.clone(),
        state_writer: state_tx.clone(),
        viewport: viewport.clone(),
    };
    let mut packages = deploy::with_deployed(discover(&config.models_dir), &config.data_dir);
    // The default model first, so the piece shows something soon.
    packages.sort_by_key(|p| p.name() != config.default_model);
    let studio = Arc::new(Studio {
        engine,
        archive,
        metrics,
        events,
        state: state_tx,
        palette: palette_tx,
        frames: frames_tx,
        infos: Mutex::new(HashMap::new()),
        variant_of: Mutex::new(HashMap::new()),
        picked: config.default_model.clone(),
        scenes: Mutex::new(scenes::Scenes::open(&config.data_dir)),
        attract: Mutex::new(attract::Attract::new(&config.attract, Instant::now())),
        attract_config: config.attract,
        activity: tokio::sync::Notify::new(),
        in_flight: TaskTracker::new(),
        deploy: deploy_tx,
        feed,
        viewport,
        signer: credentials.signer,
        node: config.node.clone(),
    });
    let names = studio.scenes.lock().expect("scenes lock").names();
    studio.state.send_modify(|s| {
        s.scenes = names;
        s.credentials = Some(credentials.status);
    });
    tokio::spawn(morph_task::run(studio.clone(), cancel.clone()));
    tokio::spawn(deploy::run(
        studio.clone(),
        deploy_rx,
        config.deploy.clone(),
        cancel.clone(),
    ));
    tokio::spawn(live::run(studio.clone(), cancel.clone()));
    tokio::spawn(live::watch_source(studio.clone(), cancel.clone()));
    let loader = studio.clone();
    let default_model = config.default_model.clone();
    let task = tokio::spawn(async move {
        let mut rest = packages.into_iter();
        if let Some(first) = rest.next() {
            let is_default = first.name() == default_model;
            // A signal while the first model loads stops at once.
            let loaded = tokio::select! {
                _ = cancel.cancelled() => return,
                loaded = loader.load(first) => loaded,
            };
            if !loaded || !is_default {
                tracing::error!("default model {default_model} is not available");
            }
        }
        // The others load in the background while commands are served.
        let background = loader.clone();
        tokio::spawn(async move {
            for package in rest {
                background.load(package).await;
            }
            tracing::info!("all models loaded");
        });
        command_loop(loader, rx, cancel).await
    });
    (piece, task)
}

async fn command_loop(
    studio: Arc<Studio>,
    mut rx: mpsc::Receiver<Incoming>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            incoming = rx.recv() => match incoming {
                Some(incoming) => studio.handle(incoming),
                None => break,
            },
        }
    }
    // Shutdown: the picture in flight is finished and announced.
    studio.in_flight.close();
    studio.in_flight.wait().await;
}

impl Studio {
    fn publish_error(&self, request_id: Option<String>, code: &str, message: String) {
        self.metrics.errors.with_label_values(&[code]).inc();
        tracing::warn!(
            code,
            request_id = request_id.as_deref().unwrap_or(""),
            "{message}"
        );
        self.events.send(Event::error(request_id, code, message));
    }

    /// Shows a morph or live frame on the page and counts it. Morph and
    /// live frames share one sequence: the page draws only frames newer
    /// than the last one it drew.
    fn show_frame(
        &self,
        image: easel_engine::picture::RgbImage,
        provenance: easel_engine::picture::Provenance,
    ) {
        self.frames.send_modify(|frame| {
            let seq = frame.as_ref().map_or(0, |f| f.seq) + 1;
            *frame = Some(Frame::new(seq, image, provenance));
        });
        self.metrics.frames.inc();
    }

    /// Answers a command that has no picture to show for itself.
    fn done(&self, request_id: Option<String>, command: &str) {
        if request_id.is_some() {
            self.events.send(Event::Done(event::Done {
                request_id,
                command: command.into(),
            }));
        }
    }

    /// The stage the decisions (`stage.rs`) work on, from the state and
    /// the loaded models' facts (state first, then facts: the lock order
    /// of `live.rs`).
    fn stage(&self) -> stage::Stage {
        let s = self.state.borrow().clone();
        let infos = self.infos.lock().expect("infos lock");
        let variant_of = self.variant_of.lock().expect("variants lock");
        stage::Stage {
            mode: s.mode,
            attract: s.attract,
            model: s.model,
            models: s
                .models
                .iter()
                .filter_map(|m| {
                    let info = infos.get(&m.name)?;
                    Some(stage::Loaded {
                        name: m.name.clone(),
                        kind: info.kind,
                        group: variant_of.get(&m.name).unwrap_or(&m.name).clone(),
                    })
                })
                .collect(),
            picked: Some(self.picked.clone()),
            params: s.params,
        }
    }

    fn handle(self: &Arc<Self>, incoming: Incoming) {
        let request = match incoming.request {
            Ok(request) => request,
            Err(e) => return self.publish_error(e.request_id, e.code, e.message),
        };
        self.attract
            .lock()
            .expect("attract lock")
            .handle_activity(incoming.arrived);
        self.activity.notify_one();
        let request_id = request.request_id;
        match request.command {
            Command::Rollback { name } => {
                self.wake();
                return self.rollback(request_id, name);
            }
            Command::Scene { action, name } => {
                self.wake();
                return self.handle_scene(request_id, action, name, incoming.arrived);
            }
            Command::Activate { version } => {
                self.wake();
                return self.activate(request_id, version);
            }
            _ => {}
        }
        let mut stage = self.stage();
        let answer = stage.handle(&request.command);
        self.state.send_if_modified(|s| {
            let before = (s.mode, s.attract, s.model.clone(), s.params.clone());
            s.mode = stage.mode;
            s.attract = stage.attract;
            s.model = stage.model.clone();
            s.params = stage.params.clone();
            before != (s.mode, s.attract, s.model.clone(), s.params.clone())
        });
        match answer {
            stage::Answer::Render { model, seed } => {
                self.render(request_id, model, seed, incoming.arrived)
            }
            stage::Answer::Capture { model } => {
                capture::handle(self, request_id, model, incoming.arrived)
            }
            stage::Answer::Done(command) => self.done(request_id, command),
            stage::Answer::Error { code, message } => self.publish_error(request_id, code, message),
        }
    }

    /// Any command ends attract mode.
    fn wake(&self) {
        if self.state.borrow().attract {
            self.state.send_modify(|s| s.attract = false);
        }
    }

    /// A picture from a seed with a loaded `latent` or `cppn` model.
    fn render(
        self: &Arc<Self>,
        request_id: Option<String>,
        model: String,
        seed: Option<u64>,
        arrived: Instant,
    ) {
        let seed = seed.unwrap_or_else(easel_engine::seed::random_seed);
        // A CPPN paints at any size: the kiosk's, once a page reported it.
        let is_cppn = self
            .infos
            .lock()
            .expect("infos lock")
            .get(&model)
            .is_some_and(|i| i.kind == easel_engine::package::ModelKind::Cppn);
        let size = (*self.viewport.borrow())
            .filter(|_| is_cppn)
            .map(viewport::cppn_size);
        let rx = self.engine.render(RenderRequest {
            model,
            source: Source::Seed(seed),
            size,
            urgency: Urgency::Latest(Lane::Interactive),
        });
        self.metrics
            .queue_depth
            .set(self.engine.queue_depth() as i64);
        let studio = self.clone();
        self.in_flight.spawn(async move {
            let result = rx.await.unwrap_or(Err(RunError::Stopped));
            studio
                .finish(
                    request_id,
                    arrived,
                    result,
                    None,
                    easel_credentials::Origin::Generated,
                )
                .await;
        });
    }

    fn handle_scene(
        self: &Arc<Self>,
        request_id: Option<String>,
        action: SceneAction,
        name: String,
        arrived: Instant,
    ) {
        let mut scenes = self.scenes.lock().expect("scenes lock");
        let result = match action {
            SceneAction::Save => {
                let latest = self.state.borrow().latest.clone();
                match latest {
                    Some(Latest {
                        model,
                        seed: Some(seed),
                        ..
                    }) => scenes
                        .save(&name, scenes::Scene { model, seed })
                        .map_err(|e| ("scene_failed", e.to_string())),
                    _ => Err(("no_picture", "no picture with a seed to save yet".into())),
                }
            }
            SceneAction::Delete => match scenes.delete(&name) {
                Ok(true) => Ok(()),
                Ok(false) => Err(("unknown_scene", format!("no scene {name:?}"))),
                Err(e) => Err(("scene_failed", e.to_string())),
            },
            SceneAction::Recall => {
                let Some(scene) = scenes.get(&name).cloned() else {
                    drop(scenes);
                    return self.publish_error(
                        request_id,
                        "unknown_scene",
                        format!("no scene {name:?}"),
                    );
                };
                drop(scenes);
                // A recalled scene is answered by its `generated` event.
                let command = Command::Generate {
                    seed: Some(scene.seed),
                    model: Some(scene.model),
                };
                return self.handle(Incoming {
                    arrived,
                    request: Ok(Request {
                        request_id,
                        command,
                    }),
                });
            }
        };
        let names = scenes.names();
        drop(scenes);
        match result {
            Ok(()) => {
                self.state.send_modify(|s| s.scenes = names);
                self.done(request_id, "scene");
            }
            Err((code, message)) => self.publish_error(request_id, code, message),
        }
    }

    /// Archives a finished render and announces it. `params` adds to the
    /// provenance's params (a capture names its source); `origin` says
    /// whether the model painted from a frame (the C2PA source type).
    async fn finish(
        &self,
        request_id: Option<String>,
        arrived: Instant,
        result: Result<Rendered, RunError>,
        params: Option<serde_json::Value>,
        origin: easel_credentials::Origin,
    ) {
        self.metrics
            .queue_depth
            .set(self.engine.queue_depth() as i64);
        let rendered = match result {
            Ok(r) => r,
            Err(e) => return self.publish_error(request_id, e.code(), e.to_string()),
        };
        self.metrics
            .inference_seconds
            .with_label_values(&[
                rendered.model.name.as_str(),
                rendered.model.engine.as_str(),
                rendered.model.provider.as_str(),
            ])
            .observe(rendered.inference.as_secs_f64());
        let mut params = params.unwrap_or_else(|| serde_json::json!({}));
        params["size"] = serde_json::json!([rendered.image.width, rendered.image.height]);
        let provenance = rendered.provenance(params);
        let archive = self.archive.clone();
        let signer = self.signer.clone();
        let metrics = self.metrics.clone();
        let node = self.node.clone();
        let model = rendered.model.clone();
        let image = rendered.image.clone();
        // PNG encoding, signing and the disk write stay off the async threads.
        let stored = tokio::task::spawn_blocking(move || {
            let facts = archiving::Facts {
                provenance: &provenance,
                license: &model.license,
                kind: &model.kind.to_string(),
                node: &node,
                origin,
            };
            archiving::store(&archive, signer.as_deref(), &metrics, &image, facts)
        })
        .await;
        let archiving::Stored {
            id,
            palette,
            signed,
        } = match stored {
            Ok(Ok(stored)) => stored,
            Ok(Err(e)) => {
                return self.publish_error(
                    request_id,
                    "archive_failed",
                    format!("storing the picture: {e}"),
                );
            }
            Err(e) => {
                return self.publish_error(
                    request_id,
                    "archive_failed",
                    format!("encoding the picture: {e}"),
                );
            }
        };
        let url = format!("/images/{id}.png");
        let (w, h) = (rendered.image.width, rendered.image.height);
        self.state.send_modify(|s| {
            s.seed = rendered.seed;
            s.latest = Some(Latest {
                id: id.clone(),
                url: url.clone(),
                model: rendered.model.name.clone(),
                seed: rendered.seed,
                width: w,
                height: h,
                content_credentials: signed,
            });
        });
        self.palette.send_replace(palette);
        self.metrics.images_generated.inc();
        let latency = arrived.elapsed();
        self.metrics.command_seconds.observe(latency.as_secs_f64());
        self.events.send(Event::Generated(Generated {
            request_id,
            id,
            model: rendered.model.name.clone(),
            seed: rendered.seed,
            url,
            width: w,
            height: h,
            latency_ms: latency.as_secs_f64() * 1e3,
        }));
    }
}

/// Finds the packages in `models_dir` (sub-folders with a manifest),
/// logging the ones that cannot be opened.
pub fn discover(models_dir: &std::path::Path) -> Vec<ModelPackage> {
    let Ok(entries) = std::fs::read_dir(models_dir) else {
        tracing::error!("models folder {} cannot be read", models_dir.display());
        return Vec::new();
    };
    let mut dirs: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(easel_engine::package::MANIFEST).is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .filter_map(|dir| match ModelPackage::open(&dir) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!("skipping model package: {e}");
                None
            }
        })
        .collect()
}

impl Studio {
    /// Remembers which model a loaded one is a variant of (`None`: a base
    /// model), for the `next_model` rotation.
    fn note_variant(&self, name: &str, source: Option<String>) {
        let mut variants = self.variant_of.lock().expect("variants lock");
        match source {
            Some(source) => variants.insert(name.to_string(), source),
            None => variants.remove(name),
        };
    }

    /// Loads one package and lists it in the state; the first model that
    /// loads becomes current.
    async fn load(&self, package: ModelPackage) -> bool {
        let name = package.name().to_string();
        let source = package.manifest.variant.as_ref().map(|v| v.source.clone());
        match self.engine.load(package).await {
            Ok(Ok(info)) => {
                self.infos
                    .lock()
                    .expect("infos lock")
                    .insert(name.clone(), info.clone());
                self.note_variant(&name, source);
                tracing::info!(model = %name, kind = %info.kind, engine = %info.engine, provider = %info.provider, ms = info.load_time.as_millis() as u64, "model loaded");
                for warning in &info.warnings {
                    tracing::warn!(model = %name, "{warning}");
                }
                self.state.send_modify(|s| {
                    s.models.retain(|m| m.name != name);
                    s.models.push(state::summary(info.as_ref()));
                    if s.model.is_none() {
                        s.model = Some(name.clone());
                    }
                });
                true
            }
            Ok(Err(e)) => {
                tracing::error!("model {name} not loaded: {e}");
                false
            }
            Err(_) => false,
        }
    }
}
