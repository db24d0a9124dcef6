//! Text the tools print for people: columns aligned to their widest cell
//! (names are as long as artists make them), and counts with the right
//! plural. Pure: strings in, strings out.

/// `1 node`, `2 nodes`, `0 threads`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// How a column lines up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// The widths that fit `header` and every row, per column.
pub fn widths(header: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    widths
}

/// One line of cells padded to `widths` (two spaces between columns; the
/// last column is not padded when left-aligned, so no trailing blanks).
pub fn line(cells: &[&str], widths: &[usize], align: &[Align]) -> String {
    let last = cells.len().saturating_sub(1);
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push_str("  ");
        }
        let width = widths.get(i).copied().unwrap_or(0);
        let pad = width.saturating_sub(cell.chars().count());
        match align.get(i).copied().unwrap_or(Align::Left) {
            Align::Right => {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(cell);
            }
            Align::Left => {
                out.push_str(cell);
                if i < last {
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
    }
    out
}

/// A header and rows, every line ending in a newline.
pub fn render(header: &[&str], rows: &[Vec<String>], align: &[Align]) -> String {
    let widths = widths(header, rows);
    let mut out = line(header, &widths, align) + "\n";
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out += &line(&cells, &widths, align);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(count(1, "thread"), "1 thread");
        assert_eq!(count(2, "thread"), "2 threads");
        assert_eq!(count(0, "node"), "0 nodes");
    }

    #[test]
    fn long_names_push_the_columns_not_the_rows() {
        let rows = vec![
            vec!["a".to_string(), "1.00".to_string()],
            vec!["a-much-longer-model-name".to_string(), "12.50".to_string()],
        ];
        let text = render(&["model", "ms"], &rows, &[Align::Left, Align::Right]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "a                          1.00");
        assert_eq!(lines[2], "a-much-longer-model-name  12.50");
        // Every line is as wide: the right column ends in one place.
        assert!(lines.iter().all(|l| l.len() == lines[2].len()), "{text}");
    }
}
