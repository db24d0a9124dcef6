#!/usr/bin/env python3
"""Changes one pixel of a PNG and keeps every other chunk byte for byte
(text, XMP, the C2PA manifest): what a forger touching up a signed
picture would do. The tests check that the Content Credentials of such a
picture no longer validate.

    python3 tests/png_change_pixel.py IN.png OUT.png

8-bit RGB, non-interlaced only (what easel writes). The centre pixel's
red value changes by one; the rows are re-encoded unfiltered, so every
other pixel decodes exactly as before.
"""

import struct
import sys
import zlib


def chunks(data):
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind = data[at + 4:at + 8]
        yield kind, data[at:at + 12 + length], data[at + 8:at + 8 + length]
        at += 12 + length


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def unfilter(raw, width, height, bpp=3):
    """The decoded rows of 8-bit filtered PNG data."""
    stride = width * bpp
    rows, prev, at = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        prev = line
    return rows


def main():
    src, dst = sys.argv[1], sys.argv[2]
    data = open(src, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    parts = list(chunks(data))
    ihdr = next(body for kind, _, body in parts if kind == b"IHDR")
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
    assert (depth, color, interlace) == (8, 2, 0), "8-bit RGB, not interlaced"
    idat = b"".join(body for kind, _, body in parts if kind == b"IDAT")
    rows = unfilter(zlib.decompress(idat), width, height)
    # One pixel, one channel, one step: the smallest change there is.
    rows[height // 2][3 * (width // 2)] ^= 0x01
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    new_idat = chunk(b"IDAT", zlib.compress(raw, 9))
    out = bytearray(data[:8])
    wrote = False
    for kind, whole, _ in parts:
        if kind == b"IDAT":
            if not wrote:
                out += new_idat
                wrote = True
            continue
        out += whole
    open(dst, "wb").write(bytes(out))


if __name__ == "__main__":
    main()
