# SPDX-License-Identifier: MIT
"""docs/screenshots/: the checked-in Wireshark screenshots are real images
(valid PNG, the size docs/screenshots/make gives them, not blank, under
150 KB) and docs/packet-analysis.md shows each.  That docs/screenshots/make
makes them again: test_screenshots_make.py."""
import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS_DIR = REPO / "docs" / "screenshots"
MAKE = SHOTS_DIR / "make"
DOC = REPO / "docs" / "packet-analysis.md"
MAX_BYTES = 150 * 1024
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_make():
    loader = importlib.machinery.SourceFileLoader("calc_screenshots",
                                                  str(MAKE))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


SHOTS = _load_make().SHOTS
NAMES = [s.name for s in SHOTS]


def check_image(path, size):
    """A valid PNG of `size`, with real content: many colours, and no
    colour covering nearly all of it (a blank or single-colour screen)."""
    Image = pytest.importorskip("PIL.Image",
                                reason="python3-pil is not installed")
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, "%s is not a PNG" % path
    assert len(data) <= MAX_BYTES, "%s: %d bytes, over %d" % (
        path, len(data), MAX_BYTES)
    with Image.open(path) as img:
        img.verify()                      # checksums, chunk structure
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == size, "%s: %dx%d, expected %dx%d" % (
            path, *img.size, *size)
        rgb = img.convert("RGB")
        colors = rgb.getcolors(1 << 16) or []
        assert len(colors) >= 16, "%s: %d colours: blank?" % (
            path, len(colors))
        top = max(n for n, _ in colors)
        assert top < 0.9 * size[0] * size[1], \
            "%s: one colour covers %d%% of it" % (
                path, 100 * top // (size[0] * size[1]))
        # text: many rows differ from the row above (not one flat colour)
        rows = [rgb.crop((0, y, size[0], y + 1)).tobytes()
                for y in range(0, size[1], 4)]
        changes = sum(1 for a, b in zip(rows, rows[1:]) if a != b)
        assert changes >= len(rows) // 4, "%s: too little content" % path


@pytest.mark.parametrize("shot", SHOTS, ids=NAMES)
def test_checked_in_image(shot):
    check_image(SHOTS_DIR / (shot.name + ".png"), shot.image_size)


def test_doc_shows_every_image():
    text = DOC.read_text()
    for shot in SHOTS:
        assert "(screenshots/%s.png)" % shot.name in text, shot.name
