//! Model deploy at the piece (docs/deploy.md): the IO around the pure
//! transfer machine (`deploy::transfer`) — spool files, events — and the
//! steps after a package is complete: verify, stage, smoke-test, activate
//! into the engine, roll back. One task owns all of it, so two store
//! operations (an activation and a `rollback` command) never interleave.
//!
//! Nothing is current before it loaded in the engine: an activation whose
//! load fails is rolled back on disk at once, and the engine keeps serving
//! the model it had (it replaces a model only once the new one loaded).

use super::Studio;
use super::event::{Activated, DeployProgress, Deployed, Event, RolledBack};
use super::state::Installed;
use crate::deploy::transfer::{self, Decision, Message, Offer, TransferLimits, Transfers};
use crate::deploy::{DeployError, TrustedKeys, format, store};
use easel_engine::ModelInfo;
use easel_engine::package::ModelPackage;
use easel_pack::PackError;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the deploy task is asked to do.
#[derive(Debug)]
pub enum Job {
    /// A transfer message from the MQTT edge, decoded or refused.
    Transfer(Result<Message, transfer::Refusal>),
    /// The `rollback` command.
    Rollback {
        request_id: Option<String>,
        name: String,
    },
    /// The `activate` command: a staged or installed version current.
    Activate {
        request_id: Option<String>,
        version: String,
    },
}

/// From the config: where, whom to trust, how much to take.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// The shipped models: a rollback past a first deploy returns to the
    /// one of the same name here.
    pub models_dir: PathBuf,
    pub trusted_keys: Vec<PathBuf>,
    pub limits: TransferLimits,
}

/// Every deployed model with its versions, for `state`.
pub fn installed(data_dir: &Path) -> Vec<Installed> {
    match store::deployed(data_dir) {
        Ok(list) => list
            .into_iter()
            .map(|(name, p)| Installed {
                name,
                current: p.current,
                previous: p.previous,
            })
            .collect(),
        Err(e) => {
            tracing::error!("listing deployed models: {e}");
            Vec::new()
        }
    }
}

/// `packages` (from `models_dir`) with each deployed model's current
/// version in place of a package of the same name: deployed models survive
/// restarts and win over what was shipped in `models_dir`.
pub fn with_deployed(mut packages: Vec<ModelPackage>, data_dir: &Path) -> Vec<ModelPackage> {
    for model in installed(data_dir) {
        let dir = store::installed_path(data_dir, &model.current);
        match ModelPackage::open(&dir) {
            Ok(package) if package.name() == model.name => {
                tracing::info!(model = %model.name, version = %model.current, "deployed version");
                packages.retain(|p| p.name() != model.name);
                packages.push(package);
            }
            Ok(_) => tracing::error!("{}: the package is not {}", dir.display(), model.name),
            Err(e) => tracing::error!("deployed {} not loaded: {e}", model.current),
        }
    }
    packages
}

impl Studio {
    /// The `rollback` command goes to the deploy task, behind any install.
    pub(super) fn rollback(&self, request_id: Option<String>, name: String) {
        if let Err(e) = self.deploy.try_send(Job::Rollback { request_id, name }) {
            let Job::Rollback { request_id, .. } = e.into_inner() else {
                unreachable!("sent a rollback")
            };
            self.publish_error(
                request_id,
                "busy",
                "a deploy is in progress; try again".into(),
            );
        }
    }

    /// The `activate` command goes to the deploy task too.
    pub(super) fn activate(&self, request_id: Option<String>, version: String) {
        if let Err(e) = self.deploy.try_send(Job::Activate {
            request_id,
            version,
        }) {
            let Job::Activate { request_id, .. } = e.into_inner() else {
                unreachable!("sent an activation")
            };
            self.publish_error(
                request_id,
                "busy",
                "a deploy is in progress; try again".into(),
            );
        }
    }

    /// Loads a deployed version into the engine and lists it in the state.
    async fn load_deployed(&self, dir: &Path) -> Result<Arc<ModelInfo>, String> {
        let package = ModelPackage::open(dir).map_err(|e| e.to_string())?;
        let name = package.name().to_string();
        let source = package.manifest.variant.as_ref().map(|v| v.source.clone());
        let info = match self.engine.load(package).await {
            Ok(Ok(info)) => info,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("the engine has stopped".into()),
        };
        self.infos
            .lock()
            .expect("infos lock")
            .insert(name.clone(), info.clone());
        self.note_variant(&name, source);
        self.state.send_modify(|s| {
            s.models.retain(|m| m.name != name);
            s.models.push(super::state::summary(info.as_ref()));
            if s.model.is_none() {
                s.model = Some(name.clone());
            }
        });
        Ok(info)
    }
}

/// The deploy task's own state.
struct Desk {
    studio: Arc<Studio>,
    data_dir: PathBuf,
    models_dir: PathBuf,
    trusted: Arc<TrustedKeys>,
    format_limits: format::Limits,
    transfers: Transfers,
    spools: HashMap<String, File>,
}

/// Runs until `cancel`: transfer messages, rollbacks, and the clock that
/// abandons stalled transfers.
pub(super) async fn run(
    studio: Arc<Studio>,
    mut jobs: mpsc::Receiver<Job>,
    settings: Settings,
    cancel: CancellationToken,
) {
    let trusted = match TrustedKeys::read(&settings.trusted_keys) {
        Ok(keys) => keys,
        Err(e) => {
            tracing::error!("[deploy] trusted_keys: {e}; no package will be accepted");
            TrustedKeys::default()
        }
    };
    let mut desk = Desk {
        studio,
        data_dir: settings.data_dir.clone(),
        models_dir: settings.models_dir.clone(),
        trusted: Arc::new(trusted),
        format_limits: format::Limits {
            max_bytes: settings.limits.max_package,
            ..format::Limits::default()
        },
        transfers: Transfers::new(settings.limits),
        spools: HashMap::new(),
    };
    desk.refresh_state();
    let period =
        (settings.limits.stall / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut clock = tokio::time::interval(period);
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = clock.tick() => {
                let decisions = desk.transfers.tick(Instant::now());
                desk.apply(decisions).await;
            }
            job = jobs.recv() => match job {
                None => break,
                Some(Job::Transfer(Ok(message))) => {
                    let decisions = desk.transfers.handle(message, Instant::now());
                    desk.apply(decisions).await;
                }
                Some(Job::Transfer(Err(r))) => desk.studio.publish_error(Some(r.id), r.code, r.message),
                Some(Job::Rollback { request_id, name }) => desk.rollback(request_id, name).await,
                Some(Job::Activate { request_id, version }) => desk.activate(request_id, version).await,
            },
        }
    }
    // Unfinished transfers: their spools go now (`recover` would at start).
    for id in desk.transfers.open_ids() {
        desk.discard(&id);
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DeployError> + Send + 'static,
) -> Result<T, DeployError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(PackError::Malformed(format!("deploy step panicked: {e}")).into()))
}

impl Desk {
    fn refresh_state(&self) {
        let list = installed(&self.data_dir);
        self.studio.state.send_modify(|s| s.installed = list);
    }

    fn event(&self, event: Event) {
        self.studio.events.send(event);
    }

    fn discard(&mut self, id: &str) {
        self.spools.remove(id);
        let path = store::spool_path(&self.data_dir, id);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!("removing {}: {e}", path.display());
        }
    }

    /// Carries out the machine's decisions. Spool writes are small (at most
    /// one chunk) and go to the page cache; they are done in place.
    async fn apply(&mut self, decisions: Vec<Decision>) {
        let mut queue: std::collections::VecDeque<Decision> = decisions.into();
        while let Some(decision) = queue.pop_front() {
            match decision {
                Decision::Open { id, size } => {
                    let path = store::spool_path(&self.data_dir, &id);
                    let opened = path
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| File::create(&path))
                        .and_then(|f| f.set_len(size).map(|()| f));
                    match opened {
                        Ok(file) => {
                            self.spools.insert(id, file);
                        }
                        Err(e) => queue.extend(self.io_failure(&id, &path, e)),
                    }
                }
                Decision::Write { id, offset, bytes } => {
                    use std::os::unix::fs::FileExt;
                    let written = match self.spools.get(&id) {
                        Some(file) => file.write_all_at(&bytes, offset),
                        None => Err(std::io::Error::other("spool file not open")),
                    };
                    if let Err(e) = written {
                        let path = store::spool_path(&self.data_dir, &id);
                        queue.extend(self.io_failure(&id, &path, e));
                    }
                }
                Decision::Progress(p) => self.event(Event::DeployProgress(DeployProgress {
                    request_id: Some(p.id.clone()),
                    transfer: p.id,
                    name: p.name,
                    received: p.received,
                    total: p.total,
                    missing: p.missing,
                    commit: p.answers_commit,
                })),
                Decision::Complete {
                    id,
                    offer,
                    activate,
                } => self.complete(id, offer, activate).await,
                Decision::Discard { id } => self.discard(&id),
                Decision::Refuse(r) => self.studio.publish_error(Some(r.id), r.code, r.message),
            }
        }
    }

    /// A spool that cannot be written ends its transfer.
    fn io_failure(&mut self, id: &str, path: &Path, e: std::io::Error) -> Vec<Decision> {
        self.studio.publish_error(
            Some(id.into()),
            "io",
            format!("{}: {e}; transfer ended", path.display()),
        );
        self.transfers
            .handle(Message::Abort { id: id.into() }, Instant::now())
    }

    /// A complete transfer: the whole file checked, verified, staged and
    /// smoke-tested off the async threads; then activated when asked.
    async fn complete(&mut self, id: String, offer: Offer, activate: bool) {
        self.spools.remove(&id);
        let started = Instant::now();
        let spool = store::spool_path(&self.data_dir, &id);
        let data_dir = self.data_dir.clone();
        let trusted = self.trusted.clone();
        let limits = self.format_limits;
        let staged = blocking(move || {
            let bytes = std::fs::read(&spool).map_err(|source| DeployError::Io {
                path: spool.clone(),
                source,
            });
            let _ = std::fs::remove_file(&spool);
            crate::deploy::receive(&bytes?, &offer, &trusted, &limits, &data_dir)
        })
        .await;
        let staged = match staged {
            Ok(staged) => staged,
            Err(e) => return self.studio.publish_error(Some(id), e.code(), e.to_string()),
        };
        tracing::info!(version = %staged.version, "deployed (staged and smoke-tested)");
        self.event(Event::Deployed(Deployed {
            request_id: Some(id.clone()),
            transfer: id.clone(),
            name: staged.name.clone(),
            version: staged.version.clone(),
            check_ms: started.elapsed().as_secs_f64() * 1e3,
        }));
        if activate {
            self.activate(Some(id), staged.version).await;
        }
    }

    /// Makes `version` current on disk, then in the engine; rolls back on
    /// disk if the engine refuses it.
    async fn activate(&mut self, request_id: Option<String>, version: String) {
        let name = store::name_of(&version).unwrap_or_default().to_string();
        let data_dir = self.data_dir.clone();
        let v = version.clone();
        let pointer = match blocking(move || store::activate(&data_dir, &v)).await {
            Ok(pointer) => pointer,
            Err(e) => {
                return self
                    .studio
                    .publish_error(request_id, e.code(), e.to_string());
            }
        };
        let started = Instant::now();
        let dir = store::installed_path(&self.data_dir, &version);
        match self.studio.load_deployed(&dir).await {
            Ok(_) => {
                tracing::info!(%version, "activated");
                self.refresh_state();
                self.event(Event::Activated(Activated {
                    request_id,
                    name,
                    version,
                    previous: pointer.previous,
                    load_ms: started.elapsed().as_secs_f64() * 1e3,
                }));
            }
            Err(reason) => {
                let data_dir = self.data_dir.clone();
                let n = name.clone();
                let back = blocking(move || match pointer.previous {
                    Some(_) => store::rollback(&data_dir, &n).map(|p| Some(p.current)),
                    None => store::forget(&data_dir, &n).map(|()| None),
                })
                .await;
                self.refresh_state();
                self.studio.publish_error(
                    request_id.clone(),
                    "activation_failed",
                    format!("{version} did not load: {reason}"),
                );
                match back {
                    Ok(back) => self.event(Event::RolledBack(RolledBack {
                        request_id,
                        name,
                        version: back,
                        from: version,
                        reason: Some(reason),
                    })),
                    Err(e) => self.studio.publish_error(
                        None,
                        e.code(),
                        format!("rolling back {name}: {e}"),
                    ),
                }
            }
        }
    }

    /// The package of `models_dir` named `name`, if one ships there.
    fn shipped(&self, name: &str) -> Option<PathBuf> {
        let dir = self.models_dir.join(name);
        ModelPackage::open(&dir)
            .ok()
            .filter(|p| p.name() == name)
            .map(|_| dir)
    }

    /// A rollback past the first deploy of a model that ships in
    /// `models_dir`: the shipped one is loaded, then the deployed versions
    /// are forgotten (if it does not load, nothing changes).
    async fn rollback_to_shipped(&mut self, request_id: Option<String>, name: String) {
        let Some(dir) = self.shipped(&name) else {
            return;
        };
        let (data_dir, n) = (self.data_dir.clone(), name.clone());
        let from = blocking(move || store::pointer(&data_dir, &n))
            .await
            .ok()
            .flatten()
            .map(|p| p.current)
            .unwrap_or_default();
        if let Err(reason) = self.studio.load_deployed(&dir).await {
            return self.studio.publish_error(
                request_id,
                "rollback_failed",
                format!("the shipped {name} did not load: {reason}"),
            );
        }
        let (data_dir, n) = (self.data_dir.clone(), name.clone());
        if let Err(e) = blocking(move || store::forget(&data_dir, &n)).await {
            return self
                .studio
                .publish_error(request_id, e.code(), e.to_string());
        }
        tracing::info!(model = %name, %from, "rolled back to the shipped model");
        self.refresh_state();
        self.event(Event::RolledBack(RolledBack {
            request_id,
            name,
            version: None,
            from,
            reason: None,
        }));
    }

    /// The `rollback` command: the previous version current again, on disk
    /// and in the engine; if it does not load, nothing changes.
    async fn rollback(&mut self, request_id: Option<String>, name: String) {
        let data_dir = self.data_dir.clone();
        let n = name.clone();
        let pointer = match blocking(move || store::rollback(&data_dir, &n)).await {
            Ok(pointer) => pointer,
            Err(crate::deploy::DeployError::NoPrevious(_)) if self.shipped(&name).is_some() => {
                return self.rollback_to_shipped(request_id, name).await;
            }
            Err(e) => {
                return self
                    .studio
                    .publish_error(request_id, e.code(), e.to_string());
            }
        };
        let dir = store::installed_path(&self.data_dir, &pointer.current);
        let from = pointer.previous.clone().unwrap_or_default();
        match self.studio.load_deployed(&dir).await {
            Ok(_) => {
                tracing::info!(model = %name, version = %pointer.current, "rolled back");
                self.refresh_state();
                self.event(Event::RolledBack(RolledBack {
                    request_id,
                    name,
                    version: Some(pointer.current),
                    from,
                    reason: None,
                }));
            }
            Err(reason) => {
                let data_dir = self.data_dir.clone();
                let n = name.clone();
                // Swap back: the version that was current stays current.
                let _ = blocking(move || store::rollback(&data_dir, &n)).await;
                self.refresh_state();
                self.studio.publish_error(
                    request_id,
                    "rollback_failed",
                    format!("{} did not load: {reason}", pointer.current),
                );
            }
        }
    }
}
