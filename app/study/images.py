"""Re-encoding of study images: one encoder, one setting, for real and synthetic alike.

Anything that differs between a real and a synthetic PNG besides pixels (chunks, bit depth,
colour type, compression, byte length) would let a reader or a browser tool tell them apart:
a browser shows the size of every image it loads, and a compressed PNG's size follows its
content (speckle compresses worse than a smooth GAN image or a constant surround).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ussim.errors import UsageError

# DECISION: zlib level 0 (stored, uncompressed deflate blocks) and optimize=False for every image,
# so the file's length depends only on the image's dimensions; Pillow adds no tEXt/pHYs/tIME
# chunks unless asked, so the file holds only IHDR, IDAT and IEND. A 256 x 256 case is 65,882
# bytes (against 23-50 KB compressed): nothing for a browser on a hospital network.
PNG_OPTIONS = {"format": "PNG", "optimize": False, "compress_level": 0}


def encode_png(image) -> bytes:
    """8-bit grayscale PNG of a 2-D uint8 array, uncompressed, with no metadata chunks."""
    pixels = np.asarray(image)
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise UsageError(f"study image must be 2-D uint8, got shape {pixels.shape} dtype {pixels.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, **PNG_OPTIONS)
    return buffer.getvalue()


def png_length(shape: tuple[int, int]) -> int:
    """The byte length every study PNG of this shape has (the encoder's, on a blank image)."""
    return len(encode_png(np.zeros(shape, np.uint8)))


def png_chunk_types(data: bytes) -> list[str]:
    """The chunk types of a PNG file, in order (to check that no metadata chunk is present)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise UsageError("not a PNG file (bad signature)")
    types, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        types.append(data[offset + 4:offset + 8].decode("latin-1"))
        offset += 12 + length
    return types
