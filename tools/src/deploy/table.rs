//! What a gallery deploy reports per node: one line on stdout that
//! scripts read (`<node>: installed|activated <version>`, `<node>:
//! rejected: <code>: <reason>`, `<node>: failed: <reason>`), and the
//! closing table (node, result, version, time) for people.

use super::transfer::Outcome;
pub use crate::table::count;
use crate::table::{Align, render as render_table};
use std::time::Duration;

/// One node's result and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub node: String,
    pub outcome: Outcome,
    pub time: Duration,
}

impl Row {
    pub fn new(node: String, outcome: Outcome, time: Duration) -> Row {
        Row {
            node,
            outcome,
            time,
        }
    }

    /// Whether the node took the package.
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Installed(_) | Outcome::Activated(_))
    }

    /// The stdout line.
    pub fn line(&self) -> String {
        let node = &self.node;
        match &self.outcome {
            Outcome::Installed(v) => format!("{node}: installed {v}"),
            Outcome::Activated(v) => format!("{node}: activated {v}"),
            Outcome::Rejected { code, message } => format!("{node}: rejected: {code}: {message}"),
            Outcome::Failed(message) => format!("{node}: failed: {message}"),
        }
    }

    fn cells(&self) -> Vec<String> {
        let (result, version) = match &self.outcome {
            Outcome::Installed(v) => ("installed".to_string(), v.clone()),
            Outcome::Activated(v) => ("activated".to_string(), v.clone()),
            Outcome::Rejected { code, .. } => (format!("rejected: {code}"), "-".into()),
            Outcome::Failed(_) => ("failed".to_string(), "-".into()),
        };
        vec![
            self.node.clone(),
            result,
            version,
            format!("{:.2} s", self.time.as_secs_f64()),
        ]
    }
}

/// The closing table.
pub fn render(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    render_table(
        &["node", "result", "version", "time"],
        &cells,
        &[Align::Left, Align::Left, Align::Left, Align::Right],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_table() {
        let rows = [
            Row::new(
                "gallery-1".into(),
                Outcome::Activated("dcgan-64-db208809".into()),
                Duration::from_millis(2310),
            ),
            Row::new(
                "gallery-10".into(),
                Outcome::Rejected {
                    code: "no_answer".into(),
                    message: "no answer within 60 s".into(),
                },
                Duration::from_secs(60),
            ),
        ];
        assert_eq!(rows[0].line(), "gallery-1: activated dcgan-64-db208809");
        assert!(rows[0].ok() && !rows[1].ok());
        let text = render(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "node        result               version               time"
        );
        assert_eq!(
            lines[1],
            "gallery-1   activated            dcgan-64-db208809   2.31 s"
        );
        assert_eq!(
            lines[2],
            "gallery-10  rejected: no_answer  -                  60.00 s"
        );
    }
}
