"""Photo-like JPEGs made with Pillow: a sky, a sun and a sea, with grain so they weigh what a
real photo does (the upload progress test needs bytes that take a moment to send)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

PALETTES = {
    "dawn": ((28, 46, 112), (247, 163, 92), (255, 236, 179), (22, 58, 92)),
    "noon": ((40, 110, 200), (160, 205, 240), (255, 250, 220), (18, 90, 120)),
}


def scene_jpeg(width: int, height: int, palette: str = "dawn", grain: float = 18.0) -> bytes:
    top, horizon, sun, sea = PALETTES[palette]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    sea_line = int(height * 0.62)
    for y in range(sea_line):
        t = y / sea_line
        draw.line([(0, y), (width, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(top, horizon, strict=True)))
    for y in range(sea_line, height):
        t = (y - sea_line) / (height - sea_line)
        draw.line([(0, y), (width, y)], fill=tuple(int(a * (1 - 0.5 * t)) for a in sea))
    radius = height // 9
    cx, cy = int(width * 0.62), sea_line - radius // 2
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=sun)
    draw.rectangle([0, sea_line, width, height], fill=None)
    for i in range(14):  # the sun's path on the water
        y = sea_line + 8 + i * (height - sea_line) // 15
        half = radius * (1.2 - i / 16)
        draw.line([(cx - half, y), (cx + half, y)], fill=sun, width=max(2, height // 240))
    noise = Image.effect_noise((width, height), grain).convert("RGB")
    image = Image.blend(image, noise, 0.08)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92)
    return out.getvalue()
