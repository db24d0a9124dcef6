//! The piece's decisions: what a command does, given the mode and the
//! kind of the current model. Pure: the stage (mode, attract, current
//! model, loaded models, params) and a command in, the changed stage and
//! one answer out. `Studio::handle` (mod.rs) builds the stage from the
//! state, applies the answer (a render, a capture, `done`, an `error`
//! event) and writes the stage back; no IO or clock here.
//!
//! The rules, so that a visitor never reaches a dead end:
//! - every kind serves still mode: a seeded picture from `latent` and
//!   `cppn` models, a captured frame painted by an `image` model;
//! - morph mode needs a `latent` or `cppn` model, live mode an `image`
//!   model: asking for the mode switches to a model that serves it, or is
//!   refused with an error when none is loaded; asking for a model the
//!   mode cannot use is refused (the technician switches mode first);
//! - `next_model` turns through the models that serve the current mode;
//!   in still mode it answers with a picture from the new model;
//! - `toggle_mode` goes from still to the moving mode the current model
//!   serves (morph, or live for an image model), and back to still;
//! - any command ends attract mode.
//!
//! Commands that do not depend on the mode (`rollback`, `scene` save and
//! delete) are the studio's own.

use super::command::{Command, Mode};
use easel_engine::package::ModelKind;
use easel_protocol::state::Params;

/// A loaded model, as far as the decisions care.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub name: String,
    pub kind: ModelKind,
    /// The model it is a variant of (`name` itself for a base model):
    /// `next_model` shows one entry per group.
    pub group: String,
}

/// What is on stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub mode: Mode,
    /// Still mode left alone: a slow morph draws people in.
    pub attract: bool,
    pub model: Option<String>,
    /// Loaded models, in rotation order.
    pub models: Vec<Loaded>,
    /// The model that stands for its variant group in the rotation (the
    /// configured default model: `easel bench --pick` writes the variant
    /// it chose there); other groups show their base model.
    pub picked: Option<String>,
    pub params: Params,
}

/// The one answer to a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A picture from a seed (random when `None`), archived and announced
    /// with a `generated` event.
    Render { model: String, seed: Option<u64> },
    /// A frame from the source painted by an image model, archived and
    /// announced with a `generated` event.
    Capture { model: String },
    /// Done; the stage shows the change (a `done` event names the command).
    Done(&'static str),
    /// Refused: nothing changed.
    Error { code: &'static str, message: String },
}

/// Whether a model of `kind` can make the pictures of `mode`.
pub fn serves(kind: ModelKind, mode: Mode) -> bool {
    match mode {
        Mode::Still => true,
        Mode::Morph => kind != ModelKind::Image,
        Mode::Live => kind == ModelKind::Image,
    }
}

fn refuse(code: &'static str, message: String) -> Answer {
    Answer::Error { code, message }
}

fn no_model_for(mode: Mode) -> Answer {
    match mode {
        Mode::Live => refuse(
            "no_image_model",
            "live mode needs an image model (kind = \"image\"), and none is loaded".into(),
        ),
        _ => refuse(
            "no_morph_model",
            "morph mode needs a latent or cppn model, and none is loaded".into(),
        ),
    }
}

impl Stage {
    fn kind(&self, name: &str) -> Option<ModelKind> {
        self.models.iter().find(|m| m.name == name).map(|m| m.kind)
    }

    fn current_kind(&self) -> Option<ModelKind> {
        self.model.as_deref().and_then(|m| self.kind(m))
    }

    /// The model `mode` should use: the current one if it serves it, else
    /// the first loaded one that does.
    pub fn model_for(&self, mode: Mode) -> Option<&str> {
        let current = self
            .model
            .as_deref()
            .filter(|m| self.kind(m).is_some_and(|k| serves(k, mode)));
        current.or_else(|| {
            self.models
                .iter()
                .find(|m| serves(m.kind, mode))
                .map(|m| m.name.as_str())
        })
    }

    /// The model attract mode morphs: the current one, or the first that
    /// can morph when the current one is an image model.
    pub fn attract_model(&self) -> Option<&str> {
        self.model_for(Mode::Morph)
    }

    /// The picture a click asks of `name`: a seeded one, or a painted frame.
    fn picture(&self, name: &str, seed: Option<u64>) -> Answer {
        match self.kind(name) {
            None => refuse("unknown_model", format!("model {name:?} is not loaded")),
            Some(ModelKind::Image) => Answer::Capture { model: name.into() },
            Some(_) => Answer::Render {
                model: name.into(),
                seed,
            },
        }
    }

    /// Applies `seconds` and `fps` to the parameters of `mode`: live mode
    /// has its own frame rate, morph its own rate and speed.
    fn set_params(&mut self, mode: Mode, seconds: Option<f32>, fps: Option<f32>) {
        if mode == Mode::Live {
            self.params.set_live(fps);
            self.params.set(seconds, None);
        } else {
            self.params.set(seconds, fps);
        }
    }

    /// Switches to `mode` with a model that serves it.
    fn enter(&mut self, mode: Mode) -> Result<(), Answer> {
        let model = self.model_for(mode).ok_or_else(|| no_model_for(mode))?;
        self.model = Some(model.to_string());
        self.mode = mode;
        Ok(())
    }

    /// The next model for the current mode, one per variant group.
    fn next_model(&self) -> Option<&str> {
        let current_group = self
            .model
            .as_deref()
            .and_then(|m| self.models.iter().find(|l| l.name == m))
            .map(|l| l.group.as_str());
        // The group's entry: the picked model, else the base model, else
        // its first variant.
        let rank = |m: &Loaded| {
            if self.picked.as_deref() == Some(m.name.as_str()) {
                0
            } else if m.name == m.group {
                1
            } else {
                2
            }
        };
        let mut groups: Vec<&Loaded> = Vec::new();
        for m in self.models.iter().filter(|m| serves(m.kind, self.mode)) {
            match groups.iter_mut().find(|g| g.group == m.group) {
                Some(g) if rank(m) < rank(g) => *g = m,
                Some(_) => {}
                None => groups.push(m),
            }
        }
        let at = groups
            .iter()
            .position(|g| Some(g.group.as_str()) == current_group);
        let next = match at {
            Some(i) => groups.get((i + 1) % groups.len()),
            None => groups.first(),
        };
        next.map(|g| g.name.as_str())
    }

    /// The state transition for one command. `rollback` and `scene` save
    /// or delete do not depend on the stage: `Done` without a change.
    pub fn handle(&mut self, command: &Command) -> Answer {
        self.attract = false;
        match command {
            Command::Generate { seed, model } => match model.as_deref().or(self.model.as_deref()) {
                Some(name) => self.picture(name, *seed),
                None => refuse("no_model", "no model is loaded".into()),
            },
            Command::Capture { model: Some(name) } => match self.kind(name) {
                None => refuse("unknown_model", format!("model {name:?} is not loaded")),
                Some(ModelKind::Image) => Answer::Capture {
                    model: name.clone(),
                },
                Some(_) => refuse(
                    "not_image_model",
                    format!("{name:?} is not an image model; capture needs one"),
                ),
            },
            Command::Capture { model: None } => match self.model_for(Mode::Live) {
                Some(name) => Answer::Capture { model: name.into() },
                None => refuse(
                    "no_image_model",
                    "capture needs an image model (kind = \"image\"), and none is loaded".into(),
                ),
            },
            Command::Model { name } => match self.kind(name) {
                None => refuse("unknown_model", format!("model {name:?} is not loaded")),
                Some(kind) if serves(kind, self.mode) => {
                    self.model = Some(name.clone());
                    Answer::Done("model")
                }
                Some(_) if self.mode == Mode::Live => refuse(
                    "not_image_model",
                    format!(
                        "{name:?} is not an image model; live mode needs one (switch mode first)"
                    ),
                ),
                Some(_) => refuse(
                    "cannot_morph",
                    format!(
                        "{name:?} is an image model: it paints frames and cannot morph (switch mode first)"
                    ),
                ),
            },
            Command::Mode { mode, seconds, fps } => match self.enter(*mode) {
                Ok(()) => {
                    self.set_params(*mode, *seconds, *fps);
                    Answer::Done("mode")
                }
                Err(refusal) => refusal,
            },
            Command::Params { seconds, fps } => {
                self.set_params(self.mode, *seconds, *fps);
                Answer::Done("params")
            }
            Command::NextModel => {
                let Some(next) = self.next_model().map(str::to_string) else {
                    return match self.mode {
                        Mode::Still => refuse("no_model", "no model is loaded".into()),
                        mode => no_model_for(mode),
                    };
                };
                self.model = Some(next.clone());
                match self.mode {
                    // The new model shows itself at once.
                    Mode::Still => self.picture(&next, None),
                    _ => Answer::Done("next_model"),
                }
            }
            Command::ToggleMode => {
                let to = match (self.mode, self.current_kind()) {
                    (Mode::Still, Some(ModelKind::Image)) => Mode::Live,
                    (Mode::Still, _) => Mode::Morph,
                    _ => Mode::Still,
                };
                match self.enter(to) {
                    Ok(()) => Answer::Done("toggle_mode"),
                    Err(refusal) => refusal,
                }
            }
            Command::Wake => Answer::Done("wake"),
            Command::Rollback { .. } | Command::Scene { .. } | Command::Activate { .. } => {
                Answer::Done("stage")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(name: &str, kind: ModelKind, group: &str) -> Loaded {
        Loaded {
            name: name.into(),
            kind,
            group: group.into(),
        }
    }

    /// cppn, latent, two image models, and an int8 variant of the latent one.
    fn stage(mode: &str, model: &str) -> Stage {
        let (mode, attract) = match mode {
            "still" => (Mode::Still, false),
            "attract" => (Mode::Still, true),
            "morph" => (Mode::Morph, false),
            "live" => (Mode::Live, false),
            other => panic!("mode {other}"),
        };
        Stage {
            mode,
            attract,
            model: Some(model.into()),
            models: vec![
                loaded("cppn", ModelKind::Cppn, "cppn"),
                loaded("dcgan", ModelKind::Latent, "dcgan"),
                loaded("dcgan-int8", ModelKind::Latent, "dcgan"),
                loaded("style", ModelKind::Image, "style"),
                loaded("style-b", ModelKind::Image, "style-b"),
            ],
            picked: None,
            params: Params::default(),
        }
    }

    fn command(text: &str) -> Command {
        let (name, payload) = text.split_once(':').unwrap_or((text, ""));
        let payload = match (name, payload) {
            ("generate" | "capture", m) if !m.is_empty() => format!(r#"{{"model":"{m}"}}"#),
            ("model", m) => format!(r#"{{"name":"{m}"}}"#),
            ("mode", m) => format!(r#"{{"mode":"{m}","fps":3}}"#),
            ("params", _) => r#"{"fps":3}"#.into(),
            _ => "{}".into(),
        };
        super::super::command::parse(name, payload.as_bytes(), usize::MAX)
            .unwrap()
            .command
    }

    fn answer(a: &Answer) -> String {
        match a {
            Answer::Render { model, .. } => format!("render:{model}"),
            Answer::Capture { model } => format!("capture:{model}"),
            Answer::Done(what) => format!("done:{what}"),
            Answer::Error { code, .. } => format!("error:{code}"),
        }
    }

    fn mode_name(s: &Stage) -> &'static str {
        match (s.mode, s.attract) {
            (Mode::Still, true) => "attract",
            (m, _) => m.as_str(),
        }
    }

    /// Every mode x kind of the current model x command: the answer, and
    /// the mode and model after it. Each row starts from a fresh stage.
    const TABLE: &str = "
        # mode   current  command          answer                 mode    model
        still    dcgan    generate         render:dcgan           still   dcgan
        still    cppn     generate         render:cppn            still   cppn
        still    style    generate         capture:style          still   style
        morph    dcgan    generate         render:dcgan           morph   dcgan
        morph    cppn     generate         render:cppn            morph   cppn
        live     style    generate         capture:style          live    style
        attract  dcgan    generate         render:dcgan           still   dcgan
        attract  cppn     generate         render:cppn            still   cppn
        attract  style    generate         capture:style          still   style
        still    dcgan    generate:style   capture:style          still   dcgan
        still    style    generate:cppn    render:cppn            still   style
        live     style    generate:dcgan   render:dcgan           live    style
        morph    cppn     generate:style-b capture:style-b        morph   cppn
        still    dcgan    generate:nope    error:unknown_model    still   dcgan
        live     style    generate:nope    error:unknown_model    live    style

        still    dcgan    capture          capture:style          still   dcgan
        still    style-b  capture          capture:style-b        still   style-b
        morph    cppn     capture          capture:style          morph   cppn
        live     style-b  capture          capture:style-b        live    style-b
        attract  cppn     capture          capture:style          still   cppn
        still    style    capture:style-b  capture:style-b        still   style
        still    style    capture:dcgan    error:not_image_model  still   style
        morph    dcgan    capture:cppn     error:not_image_model  morph   dcgan
        still    dcgan    capture:nope     error:unknown_model    still   dcgan
        still    cppn     capture          capture:style          still   cppn
        attract  dcgan    capture          capture:style          still   dcgan
        attract  style    capture          capture:style          still   style

        still    dcgan    model:style      done:model             still   style
        still    style    model:cppn       done:model             still   cppn
        still    cppn     model:style-b    done:model             still   style-b
        attract  cppn     model:dcgan      done:model             still   dcgan
        attract  dcgan    model:style      done:model             still   style
        attract  style    model:dcgan      done:model             still   dcgan
        morph    dcgan    model:cppn       done:model             morph   cppn
        morph    cppn     model:style      error:cannot_morph     morph   cppn
        live     style    model:style-b    done:model             live    style-b
        live     style    model:dcgan      error:not_image_model  live    style
        live     style    model:cppn       error:not_image_model  live    style
        still    dcgan    model:nope       error:unknown_model    still   dcgan
        live     style    model:nope       error:unknown_model    live    style

        still    dcgan    mode:still       done:mode              still   dcgan
        still    style    mode:still       done:mode              still   style
        morph    cppn     mode:still       done:mode              still   cppn
        live     style    mode:still       done:mode              still   style
        attract  dcgan    mode:still       done:mode              still   dcgan
        still    dcgan    mode:morph       done:mode              morph   dcgan
        still    cppn     mode:morph       done:mode              morph   cppn
        still    style    mode:morph       done:mode              morph   cppn
        morph    dcgan    mode:morph       done:mode              morph   dcgan
        live     style    mode:morph       done:mode              morph   cppn
        attract  style    mode:morph       done:mode              morph   cppn
        attract  cppn     mode:morph       done:mode              morph   cppn
        still    dcgan    mode:live        done:mode              live    style
        still    style-b  mode:live        done:mode              live    style-b
        morph    cppn     mode:live        done:mode              live    style
        live     style-b  mode:live        done:mode              live    style-b
        attract  dcgan    mode:live        done:mode              live    style

        still    dcgan    params           done:params            still   dcgan
        still    style    params           done:params            still   style
        morph    cppn     params           done:params            morph   cppn
        live     style    params           done:params            live    style
        attract  dcgan    params           done:params            still   dcgan
        still    cppn     params           done:params            still   cppn
        morph    dcgan    params           done:params            morph   dcgan
        attract  cppn     params           done:params            still   cppn
        attract  style    params           done:params            still   style

        still    cppn     next_model       render:dcgan           still   dcgan
        still    dcgan    next_model       capture:style          still   style
        still    dcgan-int8 next_model     capture:style          still   style
        still    style    next_model       capture:style-b        still   style-b
        still    style-b  next_model       render:cppn            still   cppn
        attract  style-b  next_model       render:cppn            still   cppn
        attract  cppn     next_model       render:dcgan           still   dcgan
        attract  dcgan    next_model       capture:style          still   style
        morph    cppn     next_model       done:next_model        morph   dcgan
        morph    dcgan    next_model       done:next_model        morph   cppn
        live     style    next_model       done:next_model        live    style-b
        live     style-b  next_model       done:next_model        live    style

        still    dcgan    toggle_mode      done:toggle_mode       morph   dcgan
        still    cppn     toggle_mode      done:toggle_mode       morph   cppn
        still    style    toggle_mode      done:toggle_mode       live    style
        attract  dcgan    toggle_mode      done:toggle_mode       morph   dcgan
        attract  style    toggle_mode      done:toggle_mode       live    style
        attract  cppn     toggle_mode      done:toggle_mode       morph   cppn
        morph    dcgan    toggle_mode      done:toggle_mode       still   dcgan
        morph    cppn     toggle_mode      done:toggle_mode       still   cppn
        live     style    toggle_mode      done:toggle_mode       still   style

        still    dcgan    wake             done:wake              still   dcgan
        still    style    wake             done:wake              still   style
        still    cppn     wake             done:wake              still   cppn
        morph    dcgan    wake             done:wake              morph   dcgan
        morph    cppn     wake             done:wake              morph   cppn
        live     style    wake             done:wake              live    style
        attract  dcgan    wake             done:wake              still   dcgan
        attract  cppn     wake             done:wake              still   cppn
        attract  style    wake             done:wake              still   style
    ";

    #[test]
    fn every_mode_kind_and_command() {
        let mut rows = 0;
        for line in TABLE.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let [mode, current, cmd, want, mode_after, model_after] = f[..] else {
                panic!("bad row {line:?}");
            };
            let mut s = stage(mode, current);
            let got = s.handle(&command(cmd));
            assert_eq!(answer(&got), want, "{line}");
            assert_eq!(
                (mode_name(&s), s.model.as_deref().unwrap_or("")),
                (mode_after, model_after),
                "{line}"
            );
            rows += 1;
        }
        // Every mode (attract included) x kind x command appears: the
        // visitor's and the technician's commands alike.
        assert!(rows >= 80, "{rows}");
    }

    /// Each (mode, kind) pair has a row for each command family, so a new
    /// rule cannot leave a combination undefined.
    #[test]
    fn the_table_covers_every_combination() {
        let kind = |m: &str| match m {
            "cppn" => "cppn",
            "dcgan" | "dcgan-int8" => "latent",
            _ => "image",
        };
        let mut seen = std::collections::HashSet::new();
        for line in TABLE.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let family = f[2].split(':').next().unwrap();
            seen.insert((f[0], kind(f[1]), family));
        }
        let families = [
            "generate",
            "capture",
            "model",
            "mode",
            "params",
            "next_model",
            "toggle_mode",
            "wake",
        ];
        for mode in ["still", "morph", "live", "attract"] {
            for k in ["latent", "cppn", "image"] {
                // Morph never has an image model current, live never a
                // latent or cppn one: the stage cannot get there.
                if (mode == "morph" && k == "image") || (mode == "live" && k != "image") {
                    continue;
                }
                for family in families {
                    assert!(
                        seen.contains(&(mode, k, family)),
                        "no row for {mode} x {k} x {family}"
                    );
                }
            }
        }
    }

    #[test]
    fn without_a_model_for_the_mode_nothing_changes() {
        let mut only_images = stage("still", "style");
        only_images.models.retain(|m| m.kind == ModelKind::Image);
        assert_eq!(
            answer(&only_images.handle(&command("mode:morph"))),
            "error:no_morph_model"
        );
        assert_eq!(only_images.mode, Mode::Still);
        let mut no_images = stage("morph", "dcgan");
        no_images.models.retain(|m| m.kind != ModelKind::Image);
        assert_eq!(
            answer(&no_images.handle(&command("mode:live"))),
            "error:no_image_model"
        );
        assert_eq!(
            answer(&no_images.handle(&command("capture"))),
            "error:no_image_model"
        );
        assert_eq!(no_images.mode, Mode::Morph);
        let mut empty = stage("still", "dcgan");
        empty.models.clear();
        empty.model = None;
        assert_eq!(
            answer(&empty.handle(&command("generate"))),
            "error:no_model"
        );
        assert_eq!(
            answer(&empty.handle(&command("next_model"))),
            "error:no_model"
        );
        assert_eq!(
            answer(&empty.handle(&command("toggle_mode"))),
            "error:no_morph_model"
        );
    }

    #[test]
    fn morph_and_live_keep_their_own_rates() {
        let mut s = stage("still", "dcgan");
        s.handle(&command("mode:live"));
        assert_eq!((s.params.live_fps, s.params.fps), (3.0, 12.0));
        s.handle(&command("mode:morph"));
        assert_eq!(s.params.fps, 3.0);
        let mut s = stage("live", "style");
        s.handle(&Command::Params {
            seconds: None,
            fps: Some(7.0),
        });
        assert_eq!((s.params.live_fps, s.params.fps), (7.0, 12.0));
    }

    #[test]
    fn attract_morphs_a_model_that_can() {
        assert_eq!(stage("attract", "style").attract_model(), Some("cppn"));
        assert_eq!(stage("attract", "dcgan").attract_model(), Some("dcgan"));
    }

    #[test]
    fn the_picked_variant_stands_for_its_group() {
        let turn = |picked: Option<&str>| {
            let mut s = stage("morph", "cppn");
            s.picked = picked.map(String::from);
            let mut shown = Vec::new();
            for _ in 0..3 {
                s.handle(&command("next_model"));
                shown.push(s.model.clone().unwrap());
            }
            shown
        };
        assert_eq!(turn(None), ["dcgan", "cppn", "dcgan"]);
        assert_eq!(
            turn(Some("dcgan-int8")),
            ["dcgan-int8", "cppn", "dcgan-int8"]
        );
        // From a variant shown by name, the rotation goes on to the next group.
        let mut s = stage("morph", "dcgan-int8");
        s.handle(&command("next_model"));
        assert_eq!(s.model.as_deref(), Some("cppn"));
    }
}
