"""Image work for uploads: decode the bytes to learn what they are, then render the variants.

Pure functions on file paths, so they run in a worker process (the service's ImagePool) without
touching the event loop. The format is decided by decoding with a closed list of Pillow decoders,
never by a claimed content type. Variants are re-encoded from pixels only: orientation applied
first, then no EXIF (GPS, camera serials), XMP or text chunks survive; the ICC profile is kept so
colours stay right.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import blurhash
from PIL import Image, ImageOps

# Decoders we accept, and the content type each one means.
CONTENT_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
DISPLAY_LONGEST_SIDE = 1080
THUMBNAIL_LONGEST_SIDE = 640
JPEG_QUALITY = 85
# Placeholders are computed on a small copy: a BlurHash has 4×3 components, a colour is one pixel's worth.
PLACEHOLDER_SIDE = 64
BLURHASH_COMPONENTS = (4, 3)


class UnsupportedImage(ValueError):
    """The bytes are not a complete JPEG, PNG, WebP or GIF image."""


class ImageTooLarge(ValueError):
    """More pixels than the configured limit (a decompression bomb or just too big)."""


@dataclass(frozen=True)
class RenderedVariant:
    path: str
    content_type: str
    byte_size: int
    sha256: str


@dataclass(frozen=True)
class Rendered:
    """What the original turned out to be, and where its variants were written."""

    content_type: str
    width: int
    height: int
    display: RenderedVariant
    thumbnail: RenderedVariant
    # What a client paints before the bytes come: a BlurHash and the dominant colour ("#rrggbb").
    blurhash: str = ""
    dominant_color: str = ""


def render(source: str, out_dir: str, max_pixels: int) -> Rendered:
    """Decode `source` fully, then write display and thumbnail variants into `out_dir`.

    Raises UnsupportedImage for anything that is not a whole image in an accepted format, and
    ImageTooLarge when the pixel count exceeds `max_pixels` (checked before decoding the pixels).
    The variants are encoded in memory first and written last, so a fault of our own files (ENOSPC
    or EIO writing a variant, EIO reading the staged original) is never taken for a bad image: it
    propagates as the OSError it is, errno included, for the caller to answer as the server's fault
    (services.runtime.errors.storage_faults). Pillow reports bad input without an errno.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        # Pillow only warns between the limit and twice the limit; any excess is an error here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(source, formats=list(CONTENT_TYPES)) as image:
                kind = image.format or ""
                image.load()
                oriented = ImageOps.exif_transpose(image)
                width, height = oriented.size
                display = _encode_variant(oriented, DISPLAY_LONGEST_SIDE)
                thumbnail = _encode_variant(oriented, THUMBNAIL_LONGEST_SIDE)
                hash_, colour = placeholders(oriented)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"image has more than {max_pixels} pixels") from exc
        except OSError as exc:
            if exc.errno is not None:  # the kernel's, on our staged file: not the image's fault
                raise
            raise UnsupportedImage(f"not a complete JPEG, PNG, WebP or GIF image ({type(exc).__name__})") from exc
        except (SyntaxError, ValueError, EOFError) as exc:
            raise UnsupportedImage(f"not a complete JPEG, PNG, WebP or GIF image ({type(exc).__name__})") from exc
    if kind not in CONTENT_TYPES:
        raise UnsupportedImage(f"format {kind!r} is not accepted")
    return Rendered(
        CONTENT_TYPES[kind],
        width,
        height,
        _write_variant(display, Path(out_dir) / "display"),
        _write_variant(thumbnail, Path(out_dir) / "thumbnail"),
        hash_,
        colour,
    )


def placeholders(image: Image.Image) -> tuple[str, str]:
    """The BlurHash and the dominant colour of `image`, from a PLACEHOLDER_SIDE copy (transparency on white).

    The dominant colour is the most common of an 8-colour median-cut palette: an average would turn a
    blue sky over a red roof into a brown neither of them is."""
    small = image.convert("RGBA")
    small.thumbnail((PLACEHOLDER_SIDE, PLACEHOLDER_SIDE), Image.Resampling.BOX)
    rgb = Image.new("RGB", small.size, (255, 255, 255))
    rgb.paste(small, mask=small.getchannel("A"))
    palette = rgb.quantize(colors=8, method=Image.Quantize.MEDIANCUT)
    x_components, y_components = BLURHASH_COMPONENTS
    hash_ = blurhash.encode(rgb, x_components=x_components, y_components=y_components)  # closes `rgb`
    counts = sorted(palette.getcolors() or [], reverse=True)
    index = counts[0][1] if counts else 0
    red, green, blue = (palette.getpalette() or [0, 0, 0])[index * 3 : index * 3 + 3]
    return hash_, f"#{red:02x}{green:02x}{blue:02x}"


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (image.mode == "P" and "transparency" in image.info)


def _encode_variant(image: Image.Image, longest_side: int) -> tuple[bytes, str]:
    """Scale down (never up) and re-encode from bare pixels: PNG when transparent, JPEG otherwise."""
    alpha = _has_alpha(image)
    converted = image.convert("RGBA" if alpha else "RGB")
    converted.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    # A new image from the raw pixels carries no info dict: no EXIF, XMP, comments or text chunks.
    bare = Image.frombytes(converted.mode, converted.size, converted.tobytes())
    icc_profile = image.info.get("icc_profile")
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    encoded = io.BytesIO()
    if alpha:
        bare.save(encoded, format="PNG", optimize=True, **extra)
        return encoded.getvalue(), "image/png"
    bare.save(encoded, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True, **extra)
    return encoded.getvalue(), "image/jpeg"


def _write_variant(encoded: tuple[bytes, str], path: Path) -> RenderedVariant:
    data, content_type = encoded
    path.write_bytes(data)
    return RenderedVariant(str(path), content_type, len(data), hashlib.sha256(data).hexdigest())


def start_worker(parent_pid: int, nice: int) -> None:
    """Worker initializer: run `nice` lower than the service, and end with it (exit_with_parent)."""
    if nice:
        os.nice(nice)
    exit_with_parent(parent_pid)


def exit_with_parent(parent_pid: int) -> None:
    """End this worker when the service process is gone, even by SIGKILL.

    A spawned pool worker holds both ends of its task queue, so it would wait forever otherwise.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def warm_up() -> bool:
    """Run once in each worker at start so the first upload does not pay for importing Pillow."""
    Image.init()
    return True
