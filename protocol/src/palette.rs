//! The palette payload on `P/N/palette`: 1 to 8 colours as
//! `#rrggbb,#rrggbb,…`, plain text so a microcontroller can parse it
//! without a JSON library.

use core::fmt;

/// Most colours a palette carries.
pub const MAX_COLOURS: usize = 8;

/// An 8-bit RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// Up to [`MAX_COLOURS`] colours, most dominant first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Palette {
    colours: [Rgb; MAX_COLOURS],
    len: usize,
}

impl Palette {
    /// A palette of the first [`MAX_COLOURS`] of `colours`.
    pub fn new(colours: &[Rgb]) -> Palette {
        let mut palette = Palette::default();
        for &c in colours.iter().take(MAX_COLOURS) {
            palette.colours[palette.len] = c;
            palette.len += 1;
        }
        palette
    }

    /// The colours, most dominant first.
    pub fn colours(&self) -> &[Rgb] {
        &self.colours[..self.len]
    }

    /// Parses `#rrggbb,…`; `None` unless 1..=8 well-formed colours.
    pub fn parse(payload: &[u8]) -> Option<Palette> {
        let text = core::str::from_utf8(payload).ok()?.trim();
        let mut palette = Palette::default();
        for item in text.split(',') {
            if palette.len == MAX_COLOURS {
                return None;
            }
            palette.colours[palette.len] = parse_hex(item.trim())?;
            palette.len += 1;
        }
        (palette.len > 0).then_some(palette)
    }
}

fn parse_hex(item: &str) -> Option<Rgb> {
    let hex = item.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some(Rgb(byte(0)?, byte(2)?, byte(4)?))
}

impl fmt::Display for Palette {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, Rgb(r, g, b)) in self.colours().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "#{r:02x}{g:02x}{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn round_trip() {
        let p = Palette::new(&[Rgb(255, 0, 16), Rgb(1, 2, 3)]);
        assert_eq!(p.to_string(), "#ff0010,#010203");
        assert_eq!(Palette::parse(b"#ff0010,#010203"), Some(p));
        assert_eq!(Palette::parse(b" #FF0010 , #010203\n"), Some(p));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"#12345",
            b"ff0010",
            b"#gg0000",
            b"#ff0010,",
            &[0xff, 0xfe],
        ] {
            assert_eq!(Palette::parse(bad), None, "{bad:?}");
        }
        let nine = "#000000,".repeat(8) + "#000000";
        assert_eq!(Palette::parse(nine.as_bytes()), None);
    }

    #[test]
    fn keeps_at_most_eight() {
        let p = Palette::new(&[Rgb(0, 0, 0); 12]);
        assert_eq!(p.colours().len(), MAX_COLOURS);
    }
}
