//! The WS2812 strip as one DMA transfer per frame.
//!
//! The bit encoding is `easel_firmware::ws2812`'s (four SPI bits per data
//! bit at 3.2 MHz); what differs from that driver is the transport. It
//! writes one pixel per SPI transaction, and the line idles low between
//! transactions: fine on the RP2040, but on the ESP32-C3 the WiFi driver's
//! interrupts and threads can preempt the writer between two pixels for
//! longer than the ~50 µs after which older WS2812s latch, which would
//! show a torn frame — and the last frame of a palette fade stays on the
//! strip. Encoding the whole frame first and handing it to the SPI DMA in
//! one write streams it without gaps, whatever the CPU is doing.

use easel_firmware::ws2812::encode_pixel;
use easel_protocol::Rgb;
use embedded_hal_async::spi::SpiBus;

/// Zero bytes after the pixels: 120 × 2.5 µs = 300 µs of low line, enough
/// to latch newer chips (> 280 µs) too.
const LATCH_BYTES: usize = 120;

/// Bytes of one encoded frame of `LEDS` pixels.
pub const fn frame_len(leds: usize) -> usize {
    leds * 12 + LATCH_BYTES
}

/// A strip of `LEDS` pixels on a DMA-backed SPI bus clocked at
/// [`easel_firmware::ws2812::SPI_HZ`]; `FRAME` must be `frame_len(LEDS)`.
pub struct DmaStrip<SPI, const LEDS: usize, const FRAME: usize> {
    spi: SPI,
    frame: [u8; FRAME],
}

impl<SPI: SpiBus<u8>, const LEDS: usize, const FRAME: usize> DmaStrip<SPI, LEDS, FRAME> {
    pub fn new(spi: SPI) -> Self {
        const { assert!(FRAME == frame_len(LEDS), "FRAME must be frame_len(LEDS)") };
        DmaStrip {
            spi,
            frame: [0; FRAME],
        }
    }

    /// Shows `pixels` (first pixel nearest the data input).
    pub async fn show(&mut self, pixels: &[Rgb; LEDS]) -> Result<(), SPI::Error> {
        for (chunk, &px) in self.frame.chunks_exact_mut(12).zip(pixels) {
            chunk.copy_from_slice(&encode_pixel(px));
        }
        // the latch tail stays zero from `new`
        self.spi.write(&self.frame).await?;
        self.spi.flush().await
    }
}
