//! The one line `systemctl status easeld` shows under the unit
//! (`STATUS=`): the current model and what the piece is doing. Pure.

use crate::piece::command::Mode;
use crate::piece::state::State;

/// `STATUS=` for this state.
pub fn line(state: &State) -> String {
    let Some(model) = &state.model else {
        return if state.models.is_empty() {
            "no model loaded".into()
        } else {
            "no current model".into()
        };
    };
    let mode = match state.mode {
        Mode::Still => "still",
        Mode::Morph if state.attract => "attract",
        Mode::Morph => "morph",
        Mode::Live => "live",
    };
    let loaded = state.models.len();
    format!(
        "showing {model} ({mode}); {loaded} model{} loaded",
        if loaded == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::piece::state::{ModelSummary, initial};

    fn summary(name: &str) -> ModelSummary {
        ModelSummary {
            name: name.into(),
            kind: "latent".into(),
            sha256: String::new(),
            width: 64,
            height: 64,
            engine: None,
            provider: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn names_the_model_and_the_mode() {
        let mut s = initial("n");
        assert_eq!(line(&s), "no model loaded");
        s.models = vec![summary("dcgan-64")];
        s.model = Some("dcgan-64".into());
        assert_eq!(line(&s), "showing dcgan-64 (still); 1 model loaded");
        s.models.push(summary("cppn-aurora"));
        s.mode = Mode::Morph;
        s.attract = true;
        assert_eq!(line(&s), "showing dcgan-64 (attract); 2 models loaded");
    }
}
