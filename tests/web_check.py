#!/usr/bin/env python3
"""web_check.py - what `make check-web` asks of the browser page (examples/web/index.html).

    web_check.py dom DOM_FILE MAX_LOSS
        DOM_FILE is the page as headless Chromium dumped it (--dump-dom) after training: the
        element #final-loss must carry data-done="1" and hold a finite loss below MAX_LOSS,
        and #error must be empty.
    web_check.py png PNG_FILE WIDTH HEIGHT
        the screenshot must be a WIDTH x HEIGHT PNG that is not blank: many colours, and no
        one colour covering nearly all of it.

Prints one line saying what it found; exits 1 on failure. Standard library only."""
import math
import re
import struct
import sys
import zlib


def fail(msg):
    print("check-web: FAIL: " + msg)
    sys.exit(1)


def check_dom(path, max_loss):
    html = open(path, encoding="utf-8", errors="replace").read()
    err = re.search(r'<p id="error">([^<]*)</p>', html)
    if err is None:
        fail(path + ": no #error element (did the page load?)")
    if err.group(1).strip():
        fail("the page reports an error: " + err.group(1).strip())
    m = re.search(r'<span id="final-loss"([^>]*)>([^<]*)</span>', html)
    if m is None:
        fail(path + ": no #final-loss element")
    if 'data-done="1"' not in m.group(1):
        steps = re.search(r'<b id="step">([^<]*)</b>', html)
        fail("training did not finish (step %s; #final-loss says %r)" % (steps.group(1) if steps else "?", m.group(2)))
    try:
        loss = float(m.group(2))
    except ValueError:
        fail("#final-loss is not a number: %r" % m.group(2))
    if not math.isfinite(loss) or loss >= max_loss:
        fail("final loss %r is not finite and below %g" % (loss, max_loss))
    print("check-web: training finished in the page, final loss %s (below %g)" % (m.group(2), max_loss))


def png_pixels(path):
    """(width, height, rows of bytes, bytes per pixel) of an 8-bit RGB or RGBA PNG"""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(path + " is not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        fail("%s: a PNG of depth %d, colour type %d, interlace %d: only 8-bit RGB(A), not interlaced, is read here"
             % (path, depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):   # undo the row filter
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows, bpp


def check_png(path, want_w, want_h):
    w, h, rows, bpp = png_pixels(path)
    if (w, h) != (want_w, want_h):
        fail("%s is %dx%d, not %dx%d" % (path, w, h, want_w, want_h))
    counts = {}
    for row in rows[::4]:   # every 4th pixel of every 4th row is plenty
        for x in range(0, w * bpp, 4 * bpp):
            px = row[x:x + 3]
            counts[px] = counts.get(px, 0) + 1
    total, top = sum(counts.values()), max(counts.values())
    if len(counts) < 200 or top > 0.9 * total:
        fail("%s looks blank: %d colours, the commonest covers %.0f%%" % (path, len(counts), 100.0 * top / total))
    print("check-web: screenshot %s is %dx%d with %d colours (commonest %.0f%%)"
          % (path, w, h, len(counts), 100.0 * top / total))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "dom":
        check_dom(sys.argv[2], float(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "png":
        check_png(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
