"""Images to network inputs: a photo or scan of a digit, prepared the way
MNIST's digits were.

MNIST's digits are white on black, scaled so that the longer side of the
digit's bounding box is 20 pixels (keeping its aspect ratio), and placed in a
28x28 field with their centre of mass at the field's centre.  A network
trained on them recognises a new digit only if it is prepared the same way;
:func:`prepare_image` does that for any image Pillow reads (black on white
or white on black, any size, PNG or JPEG, transparent areas as paper).

Reading images needs Pillow, an optional dependency: ``pip install
'nnc[image]'``.

>>> from nnc.images import prepare_images                  # doctest: +SKIP
>>> X = prepare_images(["three.png", "seven.jpg"])         # doctest: +SKIP
>>> net.predict(X)                                          # doctest: +SKIP
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from nnc._typing import NDArray, PathLike

__all__ = ["prepare_image", "prepare_images"]


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'nnc[image]'") from None
    return Image


def _greyscale(image):
    """The image as a float array of grey levels in [0, 255]; transparent
    areas count as white paper."""
    Image = _pillow()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float64)


def prepare_image(image: PathLike | Any, plain: bool = False) -> NDArray[np.float32]:
    """Convert an image to a 784-vector in [0, 1] the way MNIST's digits were made.

    Greyscale; inverted when the background (the median of the border
    pixels) is light, so the digit is bright on black; background level
    subtracted and contrast stretched; cropped to the digit's bounding box;
    scaled so its longer side is 20 pixels, keeping the aspect ratio; pasted
    into a 28x28 field with its centre of mass at the centre.

    Parameters
    ----------
    image : str, os.PathLike or PIL.Image.Image
        A PNG, JPEG or any format Pillow reads.
    plain : bool
        Only greyscale, invert if needed and resize to 28x28 (for images that
        already fill the frame, such as Fashion-MNIST's).

    Returns
    -------
    ndarray of shape (784,), float32 in [0, 1]

    Raises
    ------
    ValueError
        When the image is blank (no contrast) or cannot be read.
    """
    Image = _pillow()
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no image file at {path!r}")
        try:
            with Image.open(path) as im:
                im.load()
                grey = _greyscale(im)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ValueError(f"{path!r} is not a readable image: {exc}") from None
        name = path
    else:
        grey, name = _greyscale(image), "image"

    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 127.5:
        grey = 255.0 - grey
        border = 255.0 - border
    background = float(np.median(border))
    ink = grey - background
    peak = ink.max()
    if peak <= 8.0:  # no digit: at most faint noise above the background
        raise ValueError(f"{name}: no digit found (the image has no contrast)")
    ink = np.clip(ink / peak, 0.0, 1.0)

    if plain:
        small = Image.fromarray(np.uint8(np.round(ink * 255))).resize((28, 28), Image.LANCZOS)
        return (np.asarray(small, dtype=np.float32) / 255.0).reshape(784)

    # Crop to the digit: rows and columns with any pixel above a tenth of the
    # peak, so that paper texture and JPEG noise do not widen the box.
    mask = ink > 0.1
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    crop = np.where(crop > 0.1, crop, 0.0)
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    patch = Image.fromarray(np.uint8(np.round(crop * 255))).resize((new_w, new_h), Image.LANCZOS)
    patch = np.asarray(patch, dtype=np.float64) / 255.0

    # MNIST's digits have their centre of mass at index (14, 14) of the field.
    total = patch.sum()
    cy = (patch.sum(axis=1) * np.arange(new_h)).sum() / total
    cx = (patch.sum(axis=0) * np.arange(new_w)).sum() / total
    top, left = int(round(14.0 - cy)), int(round(14.0 - cx))
    top = min(max(top, 0), 28 - new_h)   # keep the whole digit inside the field
    left = min(max(left, 0), 28 - new_w)
    field = np.zeros((28, 28), dtype=np.float32)
    field[top:top + new_h, left:left + new_w] = patch
    return field.reshape(784)


def prepare_images(images: Sequence[PathLike | Any], plain: bool = False) -> NDArray[np.float32]:
    """Prepare several images with :func:`prepare_image`, as the rows of one array.

    Pillow's absence is reported before any image is read.

    Parameters
    ----------
    images : sequence of str, os.PathLike or PIL.Image.Image
    plain : bool
        See :func:`prepare_image`.

    Returns
    -------
    ndarray of shape (len(images), 784), float32 in [0, 1]
    """
    _pillow()
    if isinstance(images, (str, os.PathLike)):
        raise TypeError("images must be a sequence of images or paths, not one path "
                        "(use prepare_image)")
    rows = [prepare_image(image, plain=plain) for image in images]
    if not rows:
        return np.empty((0, 784), dtype=np.float32)
    return np.stack(rows)
