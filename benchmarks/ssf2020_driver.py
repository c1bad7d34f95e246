"""CompressAI's ``ssf2020`` (Agustsson et al., "Scale-Space Flow", CVPR 2020) coding frames low-delay P,
for the side-by-side speed comparison of ``benchmarks/bench_ssf2020.py``. Not part of nvc: it runs with
the Python of a separate environment that has CompressAI (``--ssf-python`` of the benchmark).

    python ssf2020_driver.py encode FRAMES.npy OUT.bin --quality 3 --threads 1
    python ssf2020_driver.py decode OUT.bin DECODED.npy --quality 3 --threads 1

``FRAMES.npy``: (N, H, W, 3) uint8 RGB. The model is ``compressai.zoo.ssf2020(quality, pretrained=False)``
with the weights of ``torch.manual_seed(0)`` (random, the same in both processes) and its CDF tables
from ``update(force=True)``. Frames are coded as CompressAI's own video evaluation does
(``compressai.utils.video.eval_model``): zero-padded, centred, to a multiple of 128, the first frame
with ``encode_keyframe``, the others with ``encode_inter`` against the previous reconstruction clamped
to [0, 1], with its real entropy coding (the rANS C++ extension). The file holds every string with its
length and the latent shapes; the decoder reads only the file. Each command prints one JSON line
(bytes, seconds inside the process, whether the decoder reproduced the encoder's reconstruction).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

PAD = 128          # CompressAI's video evaluation pads to 2^(4+3)


def _model(quality: int):
    from compressai.zoo import ssf2020
    torch.manual_seed(0)
    net = ssf2020(quality=quality, pretrained=False).eval()
    net.update(force=True)
    return net


def _padding(h: int, w: int) -> tuple[int, int, int, int]:
    nh, nw = -(-h // PAD) * PAD, -(-w // PAD) * PAD
    left, top = (nw - w) // 2, (nh - h) // 2
    return left, nw - w - left, top, nh - h - top


def _digest(frames: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for x in frames:
        h.update(x.mul(255).round().to(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _write_strings(out, strings: list) -> None:
    out.write(struct.pack("<I", len(strings)))
    for s in strings:
        out.write(struct.pack("<I", len(s)))
        out.write(s)


def _read_strings(data: memoryview, pos: int) -> tuple[list[bytes], int]:
    (n,), pos = struct.unpack_from("<I", data, pos), pos + 4
    strings = []
    for _ in range(n):
        (size,), pos = struct.unpack_from("<I", data, pos), pos + 4
        strings.append(bytes(data[pos:pos + size]))
        pos += size
    return strings, pos


def _latent(strings: list, shape) -> tuple[list, tuple[int, int]]:
    """CompressAI's [y_strings, z_strings] (batch of one) and the z shape."""
    return [s[0] for s in strings], tuple(int(v) for v in shape)


def encode(args) -> dict:
    frames = np.load(args.frames)
    n, h, w, _ = frames.shape
    pad = _padding(h, w)
    net = _model(args.quality)
    start = time.perf_counter()
    recon, size = [], 0
    with torch.no_grad(), open(args.output, "wb") as out:
        out.write(struct.pack("<IIII", n, h, w, args.quality))
        x_ref = None
        for i in range(n):
            x = torch.from_numpy(frames[i]).permute(2, 0, 1).unsqueeze(0).float() / 255.0
            x = F.pad(x, pad, mode="constant", value=0)
            if x_ref is None:
                x_rec, info = net.encode_keyframe(x)
                parts = [("key", info["strings"], info["shape"])]
            else:
                x_rec, info = net.encode_inter(x, x_ref)
                parts = [(k, info["strings"][k], info["shape"][k]) for k in ("motion", "residual")]
            for _, strings, shape in parts:
                strings, shape = _latent(strings, shape)
                out.write(struct.pack("<II", *shape))
                _write_strings(out, strings)
            x_ref = x_rec.clamp(0, 1)
            recon.append(F.pad(x_ref, tuple(-p for p in pad))[0])
        size = out.tell()
    return {"command": "encode", "frames": n, "width": w, "height": h, "padded": [h + pad[2] + pad[3], w + pad[0] + pad[1]],
            "bytes": size, "coding_s": time.perf_counter() - start, "recon_digest": _digest(recon)}


def decode(args) -> dict:
    data = memoryview(open(args.input, "rb").read())
    n, h, w, quality = struct.unpack_from("<IIII", data, 0)
    pos = 16
    pad = _padding(h, w)
    net = _model(quality)
    start = time.perf_counter()
    decoded = []
    with torch.no_grad():
        x_ref = None
        for i in range(n):
            latents = {}
            for key in (("key",) if i == 0 else ("motion", "residual")):
                shape = struct.unpack_from("<II", data, pos)
                strings, pos = _read_strings(data, pos + 8)
                latents[key] = ([[s] for s in strings], shape)
            if i == 0:
                x_rec = net.decode_keyframe(*latents["key"])
            else:
                x_rec = net.decode_inter(x_ref, {k: v[0] for k, v in latents.items()},
                                         {k: v[1] for k, v in latents.items()})
            x_ref = x_rec.clamp(0, 1)
            decoded.append(F.pad(x_ref, tuple(-p for p in pad))[0])
    np.save(args.output, np.stack([x.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy() for x in decoded]))
    return {"command": "decode", "frames": n, "bytes": len(data), "coding_s": time.perf_counter() - start,
            "recon_digest": _digest(decoded)}


def main() -> int:
    p = argparse.ArgumentParser(description="ssf2020 low-delay P coding of .npy frames (CompressAI)")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("encode")
    e.add_argument("frames")
    e.add_argument("output")
    e.add_argument("--quality", type=int, default=3)
    d = sub.add_parser("decode")
    d.add_argument("input")
    d.add_argument("output")
    for q in (e, d):
        q.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = encode(args) if args.command == "encode" else decode(args)
    import compressai
    result.update(threads=torch.get_num_threads(), compressai=compressai.__version__, torch=torch.__version__,
                  entropy_coder=compressai.get_entropy_coder())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
