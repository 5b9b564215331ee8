"""RandAugment as AlgoPerf's PyTorch ``imagenet_vit`` training pipeline applies it, on PIL images.

Two operations per image, each drawn uniformly from the 16 below and applied at AlgoPerf's fixed
magnitude (a signed magnitude is negated with probability 1/2); geometric operations use
nearest-neighbour sampling and fill with grey 128. The PIL calls are those torchvision makes for
PIL images, so the results are the same pixels; the randomness comes from a numpy generator
instead of torch's global one (deterministic per image, see :mod:`optbench.data.imagenet`).

Magnitudes (AlgoPerf's ``ops_space``): shear 0.3 (the shear angle is ``atan(0.3)``; shears act
about the top-left corner), translate 100 pixels, rotate 30 degrees, brightness, colour,
contrast and sharpness factor 1.9, posterize to 4 bits, solarize threshold 256 (which leaves a
uint8 image unchanged, as in AlgoPerf), solarize-add 110 below 128, cutout of an 80-pixel grey
square, and the magnitude-free autocontrast, equalize and invert.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

FILL = (128, 128, 128)
NEAREST = Image.Resampling.NEAREST

# op name -> (magnitude, signed), in AlgoPerf's order (the draw picks an index into it).
OPS: dict[str, tuple[float, bool]] = {
    "ShearX": (0.3, True),
    "ShearY": (0.3, True),
    "TranslateX": (100.0, True),
    "TranslateY": (100.0, True),
    "Rotate": (30.0, True),
    "Brightness": (1.9, False),
    "Color": (1.9, False),
    "Contrast": (1.9, False),
    "Sharpness": (1.9, False),
    "Posterize": (4.0, False),
    "Solarize": (256.0, False),
    "SolarizeAdd": (110.0, False),
    "AutoContrast": (0.0, False),
    "Equalize": (0.0, False),
    "Invert": (0.0, False),
    "Cutout": (40.0, False),
}


def _affine(img: Image.Image, matrix: tuple[float, ...]) -> Image.Image:
    """``img`` sampled at ``matrix`` applied to each output pixel (PIL's inverse affine map)."""
    return img.transform(img.size, Image.Transform.AFFINE, matrix, NEAREST, fillcolor=FILL)


def _solarize(img: Image.Image, threshold: float) -> Image.Image:
    a = np.asarray(img)
    return Image.fromarray(np.where(a < threshold, a, 255.0 - a).astype(np.uint8))


def _solarize_add(img: Image.Image, addition: int) -> Image.Image:
    a = np.asarray(img)
    added = np.clip(a.astype(np.int64) + addition, 0, 255).astype(np.uint8)
    return Image.fromarray(np.where(a < 128, added, a))


def _cutout(img: Image.Image, pad: int, rng: np.random.Generator) -> Image.Image:
    """A grey square of side ``2 * pad`` around a random centre (clipped to the image). The
    centre is uniform between 1 and the size, as AlgoPerf's ``np.random.uniform(width)`` draws
    it (``low`` the size, ``high`` the default 1)."""
    width, height = img.size
    x0, y0 = rng.uniform(1.0, width), rng.uniform(1.0, height)
    side = 2 * pad
    x0, y0 = int(max(0, x0 - side / 2.0)), int(max(0, y0 - side / 2.0))
    x1, y1 = int(min(width, x0 + side)), int(min(height, y0 + side))
    img = img.copy()
    ImageDraw.Draw(img).rectangle((x0, y0, x1, y1), FILL)
    return img


def _enhance(kind: Callable[[Image.Image], Any]) -> Callable[..., Image.Image]:
    """An ``ImageEnhance`` operation (brightness, colour, contrast, sharpness) by factor ``m``."""
    return lambda img, m, rng: kind(img).enhance(m)


_APPLY: dict[str, Callable[[Image.Image, float, np.random.Generator], Image.Image]] = {
    "ShearX": lambda img, m, rng: _affine(img, (1.0, m, 0.0, 0.0, 1.0, 0.0)),
    "ShearY": lambda img, m, rng: _affine(img, (1.0, 0.0, 0.0, m, 1.0, 0.0)),
    "TranslateX": lambda img, m, rng: _affine(img, (1.0, 0.0, -float(int(m)), 0.0, 1.0, 0.0)),
    "TranslateY": lambda img, m, rng: _affine(img, (1.0, 0.0, 0.0, 0.0, 1.0, -float(int(m)))),
    "Rotate": lambda img, m, rng: img.rotate(m, NEAREST, fillcolor=FILL),
    "Brightness": _enhance(ImageEnhance.Brightness),
    "Color": _enhance(ImageEnhance.Color),
    "Contrast": _enhance(ImageEnhance.Contrast),
    "Sharpness": _enhance(ImageEnhance.Sharpness),
    "Posterize": lambda img, m, rng: ImageOps.posterize(img, int(m)),
    "Solarize": lambda img, m, rng: _solarize(img, m),
    "SolarizeAdd": lambda img, m, rng: _solarize_add(img, int(m)),
    "AutoContrast": lambda img, m, rng: ImageOps.autocontrast(img),
    "Equalize": lambda img, m, rng: ImageOps.equalize(img),
    "Invert": lambda img, m, rng: ImageOps.invert(img),
    "Cutout": lambda img, m, rng: _cutout(img, int(m), rng),
}


def apply_op(
    img: Image.Image, name: str, magnitude: float, rng: np.random.Generator
) -> Image.Image:
    """Operation ``name`` at ``magnitude`` (``rng`` places the cutout)."""
    return _APPLY[name](img, magnitude, rng)


def rand_augment(img: Image.Image, rng: np.random.Generator, num_ops: int = 2) -> Image.Image:
    """``num_ops`` random operations of :data:`OPS` applied to an RGB image in turn."""
    names = list(OPS)
    for _ in range(num_ops):
        name = names[int(rng.integers(len(names)))]
        magnitude, signed = OPS[name]
        if signed and rng.integers(2):
            magnitude = -magnitude
        img = apply_op(img, name, magnitude, rng)
    return img
