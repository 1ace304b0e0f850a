"""Decoding decides the format; variants are scaled, oriented and stripped of private metadata."""

from __future__ import annotations

import errno
import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from services.photo.imaging import ImageTooLarge, Rendered, UnsupportedImage, render
from tests.support.photos import gps_exif, make_gif, make_jpeg, make_png, make_webp


def _render(tmp_path: Path, data: bytes, max_pixels: int = 50_000_000) -> Rendered:
    source = tmp_path / "original"
    source.write_bytes(data)
    return render(str(source), str(tmp_path), max_pixels)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (make_jpeg(300, 200), "image/jpeg"),
        (make_png(300, 200), "image/png"),
        (make_webp(300, 200), "image/webp"),
        (make_gif(300, 200), "image/gif"),
    ],
)
def test_each_accepted_format_is_recognised_by_its_bytes(tmp_path: Path, data: bytes, content_type: str) -> None:
    rendered = _render(tmp_path, data)
    assert rendered.content_type == content_type
    assert (rendered.width, rendered.height) == (300, 200)
    with Image.open(rendered.thumbnail.path) as thumbnail:
        assert thumbnail.size == (300, 200)  # never scaled up


def test_variants_are_scaled_to_their_longest_side(tmp_path: Path) -> None:
    rendered = _render(tmp_path, make_jpeg(2400, 1200))
    with Image.open(rendered.display.path) as display, Image.open(rendered.thumbnail.path) as thumbnail:
        assert display.size == (1080, 540)
        assert thumbnail.size == (640, 320)
        assert display.format == "JPEG"


def test_variant_sizes_and_checksums_describe_the_written_files(tmp_path: Path) -> None:
    rendered = _render(tmp_path, make_png(500, 400, alpha=True))
    data = Path(rendered.display.path).read_bytes()
    assert rendered.display.content_type == "image/png"  # transparency kept
    assert rendered.display.byte_size == len(data)
    assert rendered.display.sha256 == hashlib.sha256(data).hexdigest()


def test_orientation_is_applied_and_gps_stripped_from_variants(tmp_path: Path) -> None:
    original = make_jpeg(400, 200, exif=gps_exif(orientation=6))  # 6: rotate 90° clockwise to display
    with Image.open(io.BytesIO(original)) as check:
        assert 0x8825 in check.getexif()  # the original really carries GPS
    rendered = _render(tmp_path, original)
    assert (rendered.width, rendered.height) == (200, 400)
    for variant in (rendered.display, rendered.thumbnail):
        with Image.open(variant.path) as image:
            assert image.size == (200, 400)
            exif = image.getexif()
            assert 0x8825 not in exif and not exif.get_ifd(0x8825)
            assert 0x0112 not in exif and 0x010F not in exif


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not an image",
        make_jpeg(200, 200)[:600],  # truncated
        make_png(200, 200)[:-40],  # truncated
        b"\xff\xd8\xff\xe0" + b"\x00" * 500,  # a JPEG magic number and garbage
    ],
    ids=["empty", "text", "truncated-jpeg", "truncated-png", "fake-jpeg-header"],
)
def test_corrupt_or_foreign_bytes_are_refused(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnsupportedImage):
        _render(tmp_path, data)


def test_formats_outside_the_list_are_refused_even_if_pillow_reads_them(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (50, 50), "red").save(out, format="BMP")
    with pytest.raises(UnsupportedImage):
        _render(tmp_path, out.getvalue())


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("L", (4000, 4000)).save(out, format="PNG")  # tiny file, 16 million pixels
    assert len(out.getvalue()) < 100_000
    with pytest.raises(ImageTooLarge):
        _render(tmp_path, out.getvalue(), max_pixels=1_000_000)
    # Just over the limit (Pillow only warns up to twice the limit) is refused too.
    with pytest.raises(ImageTooLarge):
        _render(tmp_path, out.getvalue(), max_pixels=10_000_000)


@pytest.mark.parametrize("variant", ["display", "thumbnail"])
def test_a_full_disk_writing_a_variant_is_not_taken_for_a_bad_image(tmp_path: Path, variant: str) -> None:
    """The kernel's own ENOSPC: the variant's path is /dev/full, which refuses every write with it."""
    (tmp_path / variant).symlink_to("/dev/full")
    with pytest.raises(OSError) as caught:
        _render(tmp_path, make_jpeg(300, 200))
    assert not isinstance(caught.value, UnsupportedImage)
    assert caught.value.errno == errno.ENOSPC


def test_an_unreadable_original_is_an_io_error_not_a_bad_image(tmp_path: Path) -> None:
    with pytest.raises(OSError) as caught:
        render(str(tmp_path / "missing"), str(tmp_path), 50_000_000)
    assert caught.value.errno == errno.ENOENT


@pytest.mark.parametrize(
    "data",
    [make_jpeg(300, 200)[:-400], make_png(300, 200)[:200], b"\xff\xd8\xff" + b"\x00" * 64, b"not an image"],
    ids=["truncated-jpeg", "truncated-png", "broken-jpeg-header", "text"],
)
def test_decoding_errors_are_still_the_images_fault(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnsupportedImage):
        _render(tmp_path, data)


def test_placeholders_are_a_blurhash_and_the_dominant_colour(tmp_path: Path) -> None:
    image = Image.new("RGB", (300, 200), (200, 30, 40))  # mostly red, a wide blue band along the top
    image.paste((20, 60, 220), (0, 0, 300, 80))  # the average would be a purple with red below 130
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")

    rendered = _render(tmp_path, encoded.getvalue())

    assert len(rendered.blurhash) == 4 + 2 * 4 * 3  # size flag, max AC, DC (4 chars), then 2 per AC component
    red, green, blue = (int(rendered.dominant_color[i : i + 2], 16) for i in (1, 3, 5))
    assert rendered.dominant_color.startswith("#") and red > 150 and green < 80 and blue < 90  # red, not the average
    blurred = _render(tmp_path, make_jpeg(64, 64))
    assert blurred.blurhash != rendered.blurhash
