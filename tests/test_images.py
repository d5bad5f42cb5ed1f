"""Reading every image kind a user may open."""
import numpy as np
import pytest
from PIL import Image

from attnviewer.errors import MediaError
from attnviewer.media.images import MAX_DISPLAY_SIDE, load_image, model_input


def marked_rgb(w=64, h=48):
    """An image whose left half is red and right half blue, to check orientation."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = (255, 0, 0)
    a[:, w // 2 :] = (0, 0, 255)
    return a


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".tif", ".webp"])
def test_formats_load_as_rgb(tmp_path, suffix):
    path = tmp_path / f"img{suffix}"
    Image.fromarray(marked_rgb()).save(path)
    im = load_image(path)
    assert im.rgb.shape == (48, 64, 3) and im.rgb.dtype == np.uint8
    assert im.rgb[24, 5, 0] > 200 and im.rgb[24, 60, 2] > 200  # red left, blue right


def test_grayscale_rgba_palette_and_16bit(tmp_path):
    Image.fromarray(np.full((32, 32), 90, np.uint8), "L").save(tmp_path / "gray.png")
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, 16:, 3] = 255  # left half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(marked_rgb()).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(np.full((32, 32), 65535 // 2, np.uint16)).save(tmp_path / "deep.png")

    assert (load_image(tmp_path / "gray.png").rgb == 90).all()
    rgba_im = load_image(tmp_path / "rgba.png").rgb
    assert (rgba_im[:, :16] == 255).all()  # transparent shows as white
    assert tuple(rgba_im[5, 20]) == (255, 0, 0)
    assert load_image(tmp_path / "palette.png").rgb.shape == (48, 64, 3)
    deep = load_image(tmp_path / "deep.png").rgb
    assert deep.shape == (32, 32, 3) and abs(int(deep[0, 0, 0]) - 127) <= 1  # 16-bit mid grey


def test_exif_rotation_is_applied(tmp_path):
    img = Image.fromarray(marked_rgb(64, 48))
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img.save(tmp_path / "rotated.jpg", exif=exif)
    im = load_image(tmp_path / "rotated.jpg")
    assert im.rgb.shape == (64, 48, 3)  # upright: taller than wide
    assert im.rgb[5, 24, 0] > 200 and im.rgb[60, 24, 2] > 200  # red on top after rotation
    assert im.original_size == (48, 64)


def test_huge_jpeg_is_reduced_while_decoding(tmp_path):
    big = np.zeros((6000, 8000, 3), np.uint8)
    big[:, :4000] = (200, 30, 30)
    Image.fromarray(big).save(tmp_path / "huge.jpg", quality=50)
    im = load_image(tmp_path / "huge.jpg")
    assert max(im.rgb.shape[:2]) <= MAX_DISPLAY_SIDE
    assert im.original_size == (8000, 6000)
    assert im.rgb[10, 10, 0] > 150 and im.rgb[10, -10, 0] < 60


def test_model_input_is_square_uint8():
    out = model_input(marked_rgb(300, 200), 160)
    assert out.shape == (160, 160, 3) and out.dtype == np.uint8


def test_tiny_image_is_refused(tmp_path):
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "dot.png")
    with pytest.raises(MediaError, match="1x1 pixels"):
        load_image(tmp_path / "dot.png")
