"""Peak memory of decoding one very large image, for the canvas and for the model.

Usage: python bench/large_image_memory.py [--side 15000] [--modes L RGB] [--folder DIR]

Writes a flat side x side PNG per mode (mode L at 15000 px is the 218 KB file of issue 17),
then, each in a fresh interpreter, decodes it the way the canvas does
(`app.workers.image_loader.decode`: pixels plus QImage) and the way the model does
(`detr_model.image_input.prepare_image` at 800 px). Prints the peak resident memory added by
the decode (VmHWM after minus VmRSS before, from /proc/self/status, Linux only), in MB and as
a ratio to one 4-byte-per-pixel frame of the image (side * side * 4 bytes), measured in the same
run, plus the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)

what, path = sys.argv[1], sys.argv[2]
if what == "canvas":
    from app.workers.image_loader import decode
    run = lambda: decode(path)
else:
    from detr_model.image_input import prepare_image
    run = lambda: prepare_image(path, 800, 1333)
before = status("VmRSS")
result = run()
print(json.dumps({"before": before, "peak": status("VmHWM"), "kept": status("VmRSS")}))
"""


def make_image(folder: Path, mode: str, side: int) -> Path:
    """Write a flat side x side PNG of `mode` (compresses to a few hundred KB); return its path."""
    from PIL import Image

    path = folder / f"flat_{mode}_{side}.png"
    if not path.exists():
        Image.new(mode, (side, side), 90 if mode == "L" else (90, 120, 160)).save(path)
    return path


def measure(what: str, path: Path) -> dict[str, int] | str:
    """Return the child's RSS before, its peak and what it keeps, in bytes, or its error."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, what, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if out.returncode != 0:
        return (out.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=15000)
    parser.add_argument("--modes", nargs="+", default=["L", "RGB"])
    parser.add_argument("--folder", type=Path, help="where the PNGs go (default: a temp folder)")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="large-image-"))
    folder.mkdir(parents=True, exist_ok=True)
    frame = args.side * args.side * 4
    mb = 1024 * 1024
    with open("/proc/loadavg") as f:
        print(f"load average: {f.read().strip()}")
    print(f"one 4-byte frame of {args.side}x{args.side}: {frame / mb:.0f} MB")
    print(f"{'image':<24} {'path':<7} {'peak added':>11} {'/frame':>7} {'kept':>9}")
    for mode in args.modes:
        path = make_image(folder, mode, args.side)
        label = f"{path.name} ({path.stat().st_size // 1024} KB)"
        for what in ("canvas", "model"):
            m = measure(what, path)
            if isinstance(m, str):
                print(f"{label:<24} {what:<7} refused: {m}")
                continue
            peak, kept = m["peak"] - m["before"], m["kept"] - m["before"]
            print(
                f"{label:<24} {what:<7} {peak / mb:>8.0f} MB {peak / frame:>6.2f}x {kept / mb:>6.0f} MB"
            )
    with open("/proc/loadavg") as f:
        print(f"load average: {f.read().strip()}")


if __name__ == "__main__":
    main()
