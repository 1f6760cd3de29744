"""A calm cover per story: a night sky over still water, its palette following the story from
the synthetic (cold screen light) to the natural (moonlight on the water).

Drawn with Pillow, in the DejaVu Serif that matplotlib carries, so a cover is the same image on
every machine whatever fonts it has."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SIZE_PX = 1400
_SKY_TOP = np.array([8, 11, 26])
_SKY_LOW = np.array([24, 32, 58])
_SYNTHETIC = np.array([92, 196, 228])
"""Screen light: the colour of a chapter whose bed is all machine."""
_NATURAL = np.array([236, 214, 160])
"""Moonlight: the colour of a chapter whose bed is all nature."""
_INK = (232, 226, 212)


def palette(synthetic_share: float) -> tuple[int, int, int]:
    """A chapter's colour, from its bed's synthetic share (1 = all machine, 0 = all nature)."""
    share = min(1.0, max(0.0, synthetic_share))
    r, g, b = np.rint(_NATURAL + (_SYNTHETIC - _NATURAL) * share).astype(int)
    return int(r), int(g), int(b)


def cover(title: str, author: str | None, shares: Sequence[float]) -> Image.Image:
    """The cover: one ripple on the water per chapter, the first (nearest the horizon) in the
    colour of the first chapter; the moon takes the colour of the last."""
    image = Image.fromarray(_sky(), "RGB")
    glow = Image.new("RGB", image.size)
    draw = ImageDraw.Draw(glow)
    moon_xy, moon_r = (SIZE_PX * 0.68, SIZE_PX * 0.26), SIZE_PX * 0.075
    draw.ellipse(_box(moon_xy, moon_r * 1.9), fill=_dim(palette(shares[-1]), 0.35))
    glow = glow.filter(ImageFilter.GaussianBlur(SIZE_PX * 0.05))
    image = Image.fromarray(np.maximum(np.asarray(image), np.asarray(glow)), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse(_box(moon_xy, moon_r), fill=palette(shares[-1]))
    horizon = SIZE_PX * 0.52
    draw.line([(0, horizon), (SIZE_PX, horizon)], fill=_dim(palette(shares[0]), 0.5), width=2)
    for index, share in enumerate(shares):
        depth = (index + 1) / (len(shares) + 1)
        y = horizon + SIZE_PX * 0.2 * depth
        half_width = SIZE_PX * (0.08 + 0.22 * depth)
        box = (moon_xy[0] - half_width, y - 6 - 18 * depth, moon_xy[0] + half_width, y + 6)
        width = max(2, round(2 + 4 * depth))
        draw.arc(box, 15, 165, fill=_dim(palette(share), 0.55 + 0.35 * depth), width=width)
    _caption(draw, title, author, top_px=SIZE_PX * 0.78)
    return image


def write_covers(image: Image.Image, folder: Path) -> bytes:
    """cover.jpg and cover.png into folder; returns the JPEG's bytes, for embedding."""
    jpeg = io.BytesIO()
    image.save(jpeg, "JPEG", quality=90, optimize=True)
    (folder / "cover.jpg").write_bytes(jpeg.getvalue())
    image.save(folder / "cover.png", "PNG", optimize=True)
    return jpeg.getvalue()


def _sky() -> np.ndarray:
    """A vertical gradient, darkest at the top, with a faint seeded scatter of stars."""
    rows = np.linspace(0.0, 1.0, SIZE_PX)[:, np.newaxis, np.newaxis]
    sky = _SKY_TOP + (_SKY_LOW - _SKY_TOP) * rows
    sky = np.broadcast_to(sky, (SIZE_PX, SIZE_PX, 3)).copy()
    rng = np.random.default_rng(7)
    count = 140
    ys = rng.integers(0, int(SIZE_PX * 0.5), count)
    xs = rng.integers(0, SIZE_PX, count)
    sky[ys, xs] = np.maximum(sky[ys, xs], rng.uniform(90, 200, (count, 1)))
    return np.rint(sky).astype(np.uint8)


def _caption(draw: ImageDraw.ImageDraw, title: str, author: str | None, top_px: float) -> None:
    font = _font(round(SIZE_PX * 0.064))
    small = _font(round(SIZE_PX * 0.028))
    y = top_px
    for row in textwrap.wrap(title, width=22)[:3]:
        draw.text((SIZE_PX / 2, y), row, font=font, fill=_INK, anchor="mt")
        y += SIZE_PX * 0.075
    if author:
        draw.text(
            (SIZE_PX / 2, y + SIZE_PX * 0.01), author, font=small, fill=_dim(_INK, 0.7), anchor="mt"
        )


def _font(size_px: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSerif.ttf"
    return ImageFont.truetype(str(path), size_px)


def _box(centre: tuple[float, float], radius: float) -> tuple[float, float, float, float]:
    x, y = centre
    return (x - radius, y - radius, x + radius, y + radius)


def _dim(colour: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    r, g, b = (round(channel * amount) for channel in colour)
    return r, g, b
