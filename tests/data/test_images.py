"""read_image: 8-bit and 16-bit PNGs on the right scale, and one-line refusals of decompression bombs."""

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from specdiff.data.images import read_image, save_image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, pixels: bytes | None) -> bytes:
    """A PNG written by hand (PIL cannot write 16-bit colour); ``pixels`` None leaves out the image data, which
    is enough for a header that PIL checks on open."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    data = chunk(b"IDAT", zlib.compress(pixels)) if pixels is not None else b""
    return b"\x89PNG\r\n\x1a\n" + header + data + chunk(b"IEND", b"")


VALUES16 = np.array([[0, 32896, 65535], [1000, 256, 32768]], dtype=np.uint16)


def test_16_bit_grey_pngs_are_read_on_the_16_bit_scale(tmp_path):
    path = tmp_path / "grey16.png"
    Image.fromarray(VALUES16).save(path)
    assert Image.open(path).mode == "I;16"
    expected = torch.from_numpy(VALUES16 / 65535 * 2 - 1).float()
    x = read_image(path)
    assert x.shape == (1, 2, 3) and torch.allclose(x[0], expected, atol=1e-6)
    assert float(x[0, 0, 1]) == pytest.approx(32896 / 65535 * 2 - 1, abs=1e-6)  # was +1.0 (clipped to 8 bits)
    assert float(x[0, 0, 0]) == -1.0 and float(x[0, 0, 2]) == 1.0
    assert torch.equal(read_image(path, channels=1), x)
    assert torch.equal(read_image(path, channels=3), x.expand(3, -1, -1))


def test_16_bit_colour_pngs_keep_their_scale(tmp_path):
    # PIL reads 16-bit RGB at 8 bits (the high byte): the value is right to 1/255, never rescaled or clipped.
    rgb = np.stack([VALUES16, VALUES16[::-1], VALUES16[:, ::-1]], axis=-1).astype(">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in rgb)
    (tmp_path / "rgb16.png").write_bytes(png_bytes(3, 2, 16, 2, rows))
    x = read_image(tmp_path / "rgb16.png")
    truth = torch.from_numpy(rgb.astype(np.float64) / 65535 * 2 - 1).permute(2, 0, 1).float()
    assert x.shape == (3, 2, 3) and (x - truth).abs().max() <= 2 / 255 + 1e-6


def test_8_bit_pngs_are_exact(tmp_path):
    image = torch.from_numpy(np.arange(48, dtype=np.uint8).reshape(3, 4, 4) * 5)
    save_image(image.float() / 127.5 - 1, tmp_path / "rgb.png")
    x = read_image(tmp_path / "rgb.png")
    assert torch.equal(x, image.float() / 127.5 - 1)


@pytest.mark.parametrize("side", [20000, 10000])  # above PIL's error limit, and between its warning and error
def test_decompression_bombs_are_refused_in_one_line(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(side, side, 8, 0, None))
    with pytest.raises(ValueError) as info:
        read_image(path)
    message = str(info.value)
    assert "\n" not in message and repr(str(path)) in message
    assert f"more than {Image.MAX_IMAGE_PIXELS} pixels" in message and "decompression bombs" in message


def test_cli_evaluate_refuses_a_bomb_in_one_line(tmp_path):
    (tmp_path / "gen").mkdir()
    save_image(torch.zeros(1, 8, 8), tmp_path / "gen" / "a.png")
    (tmp_path / "gen" / "b.png").write_bytes(png_bytes(20000, 20000, 8, 0, None))
    proc = subprocess.run([sys.executable, "-m", "specdiff", "evaluate", "--generated", str(tmp_path / "gen"),
                           "--reference", str(tmp_path / "gen")], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "b.png': it has more than" in proc.stderr
