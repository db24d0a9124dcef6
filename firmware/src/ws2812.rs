//! WS2812/SK6812 ("NeoPixel") strip driver over an SPI bus.
//!
//! The strip's one-wire protocol is produced with SPI's MOSI line: each
//! data bit becomes four SPI bits (`1110` for a one, `1000` for a zero), so
//! with the SPI clock at 3.2 MHz (±10 %) each LED bit lasts 1.25 µs with
//! the high times the chips expect. Every colour byte becomes four SPI
//! bytes, sent in the strip's GRB order, one pixel per write; a frame ends
//! with a run of zero bytes long enough (> 280 µs) to latch even newer
//! chips. This needs only `SpiBus`, so it works on any chip family without
//! PIO or RMT code, at the cost of 12 bytes of SPI traffic per LED.
//!
//! The driver owns the bus and hands it back with [`Ws2812::release`];
//! errors are the bus error unchanged.

use easel_protocol::Rgb;
use embedded_hal::spi::SpiBus;

/// SPI clock the encoding is designed for.
pub const SPI_HZ: u32 = 3_200_000;
/// Zero bytes after a frame: 120 × 2.5 µs = 300 µs of low line.
const RESET_BYTES: usize = 120;

/// A WS2812 strip on `SPI`.
pub struct Ws2812<SPI> {
    spi: SPI,
}

impl<SPI: SpiBus<u8>> Ws2812<SPI> {
    /// Takes a bus clocked at [`SPI_HZ`].
    pub fn new(spi: SPI) -> Ws2812<SPI> {
        Ws2812 { spi }
    }

    /// Gives the bus back.
    pub fn release(self) -> SPI {
        self.spi
    }

    /// Shows `pixels` (first pixel nearest the data input).
    pub fn write(&mut self, pixels: &[Rgb]) -> Result<(), SPI::Error> {
        for &px in pixels {
            self.spi.write(&encode_pixel(px))?;
        }
        self.spi.write(&[0u8; RESET_BYTES])?;
        self.spi.flush()
    }
}

/// The 12 SPI bytes for one pixel (GRB order).
pub fn encode_pixel(Rgb(r, g, b): Rgb) -> [u8; 12] {
    let mut out = [0u8; 12];
    for (i, byte) in [g, r, b].into_iter().enumerate() {
        for half in 0..4 {
            // two data bits per SPI byte, most significant first
            let bits = byte >> (6 - 2 * half);
            let hi = if bits & 0b10 != 0 { 0b1110 } else { 0b1000 };
            let lo = if bits & 0b01 != 0 { 0b1110 } else { 0b1000 };
            out[i * 4 + half] = hi << 4 | lo;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use embedded_hal_mock::eh1::spi::{Mock, Transaction};
    use std::vec;

    #[test]
    fn encoding_table() {
        let cases: &[(Rgb, [u8; 12])] = &[
            (Rgb(0, 0, 0), [0x88; 12]),
            (
                Rgb(0, 0xff, 0),
                [
                    0xee, 0xee, 0xee, 0xee, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
                ],
            ),
            (
                Rgb(0x80, 0, 0x01),
                [
                    0x88, 0x88, 0x88, 0x88, 0xe8, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x8e,
                ],
            ),
        ];
        for (px, want) in cases {
            assert_eq!(&encode_pixel(*px), want, "{px:?}");
        }
    }

    #[test]
    fn writes_pixels_then_latch_and_flushes() {
        let a = Rgb(1, 2, 3);
        let b = Rgb(255, 255, 255);
        let expectations = [
            Transaction::write_vec(encode_pixel(a).to_vec()),
            Transaction::write_vec(encode_pixel(b).to_vec()),
            Transaction::write_vec(vec![0; RESET_BYTES]),
            Transaction::flush(),
        ];
        let mut strip = Ws2812::new(Mock::new(&expectations));
        strip.write(&[a, b]).unwrap();
        strip.release().done();
    }
}
