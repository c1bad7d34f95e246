"""Exports: bitstream, screenshots, per-frame statistics (CSV, JSON), decoded video (.y4m)."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QWidget

from nvc_core.video_io import VideoWriter
from nvc_gui.encoding import Encoding
from nvc_gui.views.image_view import rgb_to_qimage


def copy_bitstream(source: Path, destination: Path) -> None:
    """Copy the .nvc file that nvc_core wrote (byte for byte what `nvc encode` writes)."""
    shutil.copyfile(source, destination)


def save_rgb_png(image: np.ndarray, destination: Path) -> None:
    """Write an RGB uint8 `(h, w, 3)` image as PNG at its own resolution."""
    if not rgb_to_qimage(image).save(str(destination), "PNG"):
        raise OSError(f"cannot write {destination}")


def save_widget_png(widget: QWidget, destination: Path) -> None:
    """Write what `widget` shows (e.g. the whole window) as PNG."""
    if not widget.grab().save(str(destination), "PNG"):
        raise OSError(f"cannot write {destination}")


def frame_statistics(encoding: Encoding) -> list[dict]:
    """One row per coded frame: nvc_core's numbers. `bits` are the frame's bits in the file; the
    `estimate_*` columns are nvc_core's estimates (sub-streams, motion ŷ with the temporal prior on
    and off); the `psnr_*_prediction` columns are `nvc_core.mc_gain`'s."""
    rows = []
    for i, record in enumerate(encoding.records):
        gain = encoding.gains[i] if i < len(encoding.gains) else None
        row = {"frame": i, "type": record.frame_type, "coded_temporal_prior": record.temporal_prior,
               "motion_rate_point": encoding.quality - record.motion_offset if record.frame_type == "P" else None,
               "bits": record.bits, "psnr_rgb": record.psnr_rgb, "psnr_y": record.psnr_y,
               "ms_ssim": record.ms_ssim, "estimate_bits": record.bits_estimated,
               "estimate_motion_y_tp_on": encoding.motion_estimate(i, True),
               "estimate_motion_y_tp_off": encoding.motion_estimate(i, False),
               "psnr_mcn_prediction": None if gain is None else gain.psnr_prediction,
               "psnr_warp_prediction": None if gain is None else gain.psnr_warp,
               "psnr_zero_motion_prediction": None if gain is None else gain.psnr_zero}
        groups = encoding.stream_bits(i)
        row["bits_other"] = groups.pop("other")          # file minus estimates: framing, coder overhead
        row.update({f"estimate_{group}": bits for group, bits in groups.items()})
        row.update({f"estimate_{key}": bits for key, bits in sorted(record.bits_by_stream.items())})
        rows.append(row)
    return rows


def write_csv(rows: list[dict], destination: Path) -> None:
    """Write `rows` as CSV (columns: the union of the rows' keys, in first-seen order)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(destination, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def write_json(encoding: Encoding, rows: list[dict], destination: Path) -> None:
    """Write the clip's settings and `rows` as JSON."""
    request = encoding.request
    document = {"source": str(request.source), "status": encoding.status.value,
                "quality": encoding.quality, "gop": encoding.gop,
                "weights": request.weights or "bundled", "fps": str(encoding.fps), "frames": rows}
    destination.write_text(json.dumps(document, indent=1))


def write_video(encoding: Encoding, destination: Path) -> None:
    """Write the reconstructions as .y4m (or a PNG folder for a path without suffix)."""
    first = encoding.records[0]
    writer = VideoWriter(destination, first.width, first.height, encoding.fps)
    try:
        for record in encoding.records:
            writer.write(record.reconstruction)
    except BaseException:
        writer.abort()
        raise
    writer.close()
