"""nnc.images: any image of a digit, prepared the way MNIST's digits were
(the end-to-end check against real MNIST digits is in test_cli.py)."""
import numpy as np
import pytest

from nnc import images

Image = pytest.importorskip("PIL.Image")


def _page(size=(200, 140), box=(120, 30, 150, 110), ink=0, paper=255, mode="L"):
    """A light page with one dark upright bar (a "1") off-centre."""
    page = np.full(size[::-1], paper, np.uint8)
    x0, y0, x1, y1 = box
    page[y0:y1, x0:x1] = ink
    return Image.fromarray(page).convert(mode)


def _centre(img):
    rows, cols = np.arange(28), np.arange(28)
    return ((img.sum(1) * rows).sum() / img.sum(), (img.sum(0) * cols).sum() / img.sum())


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_dark_digit_on_paper_becomes_mnist_style(mode, tmp_path):
    path = tmp_path / "one.png"
    _page(mode=mode).save(path)
    for source in (path, str(path), Image.open(path)):
        x = images.prepare_image(source)
        assert x.shape == (784,) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() == pytest.approx(1.0, abs=0.02)
        img = x.reshape(28, 28)
        rows, cols = np.flatnonzero(img.any(1)), np.flatnonzero(img.any(0))
        assert rows[-1] - rows[0] + 1 in (20, 21)          # the longer side: 20 pixels
        assert cols[-1] - cols[0] + 1 < 12                 # aspect ratio kept
        cy, cx = _centre(img)
        assert abs(cy - 14) < 1.0 and abs(cx - 14) < 1.0   # centre of mass in the middle
        assert img[0].max() == 0 and img[:, 0].max() == 0  # background is black


def test_light_on_dark_is_not_inverted_and_transparency_is_paper():
    dark = images.prepare_image(_page(ink=255, paper=0))
    light = images.prepare_image(_page())
    np.testing.assert_allclose(dark, light, atol=1e-6)
    rgba = np.zeros((60, 60, 4), np.uint8)        # transparent, with an opaque black bar
    rgba[10:50, 25:32] = (0, 0, 0, 255)
    x = images.prepare_image(Image.fromarray(rgba, "RGBA"))
    assert x.max() == pytest.approx(1.0, abs=0.02) and x.reshape(28, 28)[0].max() == 0


def test_plain_only_resizes():
    x = images.prepare_image(_page(), plain=True).reshape(28, 28)
    # the bar stays where it was on the page (right of centre), not centred
    assert _centre(x)[1] > 16


def test_prepare_images_stacks_rows(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        _page(box=(20 + 30 * i, 20, 45 + 30 * i, 100)).save(paths[-1])
    X = images.prepare_images(paths)
    assert X.shape == (3, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(X[1], images.prepare_image(paths[1]))
    assert images.prepare_images([]).shape == (0, 784)
    with pytest.raises(TypeError, match="sequence of images"):
        images.prepare_images(str(paths[0]))


def test_bad_images_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no digit found"):
        images.prepare_image(Image.new("L", (40, 40), 255))
    with pytest.raises(FileNotFoundError, match="no image file"):
        images.prepare_image(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="not a readable image"):
        images.prepare_image(junk)


def test_missing_pillow_is_reported_before_reading(monkeypatch, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"nnc\[image\]"):
        images.prepare_images([tmp_path / "never-read.png"])
