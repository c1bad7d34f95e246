"""Whole-process speed of nvc against CompressAI's ssf2020, side by side on the same frames.

    python benchmarks/bench_ssf2020.py --threads 1,2 --repeats 3 --out benchmarks/results/speed_vs_ssf2020.json

What runs, each as a separate process timed from start to exit (wall clock, and the CPU seconds of
the process from ``getrusage(RUSAGE_CHILDREN)``: user + system):

* **nvc**: ``nvc encode CLIP --frames N --quality Q -o X.nvc``, then ``nvc decode X.nvc -o X.y4m``
  (``python -m nvc_core.cli`` of this checkout, ``NVC_THREADS=T``, bundled weights);
* **ssf2020**: ``benchmarks/ssf2020_driver.py encode`` then ``decode`` with ``--ssf-python``, the
  Python of a separate environment holding CompressAI (never an nvc dependency): ssf2020 with random
  weights, its CDF tables from ``update()``, real rANS coding, low-delay P as CompressAI's video
  evaluation codes it (keyframe, then ``encode_inter`` on the previous reconstruction), frames
  zero-padded to a multiple of 128 as there (640x272 -> 640x384: ssf2020's hyperprior needs it),
  ``torch.set_num_threads(T)``.

Same frames: the first N frames of CLIP as nvc reads them (RGB from :mod:`nvc_core.video_io`), given
to ssf2020 as an .npy file, so ssf2020 does not pay for the video decoding that ``nvc encode`` does.
Both sides get ``OMP_NUM_THREADS=T``. The two codecs alternate (nvc first in even repetitions, ssf2020
first in odd ones) so that a change of the machine's load hits both; every run records the 1-minute
load average before it. The speed ratio is ssf2020's time over nvc's (above 1: nvc is faster), per
repetition pair and of the medians, for wall and CPU time.

Skips with a message (exit 0) when the ssf2020 environment is missing or cannot import
``compressai.zoo.ssf2020``: it is not part of the nvc install. Setting it up (CPU torch from the
local wheel; CompressAI 1.2.0 from its source distribution, whose package import needs neither
torchvision nor torch_geometric):

    python3 -m venv /work/venv-ssf
    /work/venv-ssf/bin/pip install torch==2.13.0 numpy scipy matplotlib pytorch-msssim pybind11
    /work/venv-ssf/bin/pip install --no-deps --no-build-isolation compressai==1.2.0
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "ssf2020_driver.py"
DEFAULT_CLIP = "/work/shared/data/eval/video/bikes.mp4"
DEFAULT_SSF_PYTHON = os.environ.get("NVC_SSF_PYTHON", "/work/venv-ssf/bin/python")


def ssf_unavailable(python: str) -> str | None:
    """Why the ssf2020 environment cannot run, or None."""
    if not Path(python).is_file():
        return f"no ssf2020 environment: {python} does not exist (see this script's docstring to set it up)"
    probe = subprocess.run([python, "-c", "from compressai.zoo import ssf2020; import compressai.ans"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"{python} cannot import compressai.zoo.ssf2020: {last}"
    return None


def timed(cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd`` to completion: wall seconds from start to exit, CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "sys_s": after.ru_stime - before.ru_stime, "stdout": proc.stdout.strip().splitlines()[-1:]}


def run_pair(codec: str, threads: int, paths: dict, args, ssf_python: str) -> dict:
    env = {**os.environ, "NVC_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    load = os.getloadavg()[0]
    if codec == "nvc":
        nvc = [sys.executable, "-m", "nvc_core.cli"]
        enc = timed(nvc + ["encode", args.clip, "--frames", str(args.frames), "--quality", str(args.quality),
                           "-o", paths["nvc"]], env)
        dec = timed(nvc + ["decode", paths["nvc"], "-o", paths["nvc_decoded"]], env)
        size = os.path.getsize(paths["nvc"])
        matches = "every frame matches" in " ".join(dec["stdout"])
    else:
        ssf = [ssf_python, str(DRIVER)]
        enc = timed(ssf + ["encode", paths["frames"], paths["ssf"], "--quality", str(args.ssf_quality),
                           "--threads", str(threads)], env)
        dec = timed(ssf + ["decode", paths["ssf"], paths["ssf_decoded"], "--threads", str(threads)], env)
        e, d = json.loads(enc["stdout"][0]), json.loads(dec["stdout"][0])
        size, matches = e["bytes"], e["recon_digest"] == d["recon_digest"]
    return {"codec": codec, "load_average_before": load, "encode": enc, "decode": dec,
            "wall_s": enc["wall_s"] + dec["wall_s"], "cpu_s": enc["cpu_s"] + dec["cpu_s"],
            "bytes": size, "decoder_matches_encoder": matches}


def psnr(a, b) -> float:
    import numpy as np
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clip", default=DEFAULT_CLIP)
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--quality", type=int, default=3, help="nvc rate point")
    p.add_argument("--ssf-quality", type=int, default=3, help="ssf2020 quality (1..9)")
    p.add_argument("--threads", default="1", help="comma-separated thread counts")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ssf-python", default=DEFAULT_SSF_PYTHON)
    p.add_argument("--out", default=None, help="JSON file")
    args = p.parse_args()
    reason = ssf_unavailable(args.ssf_python)
    if reason:
        print(f"bench_ssf2020: skipped: {reason}")
        return 0
    import numpy as np
    sys.path.insert(0, str(ROOT))
    from nvc_core.video_io import open_video

    threads = [int(t) for t in args.threads.split(",")]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {k: str(Path(tmp) / v) for k, v in (("frames", "frames.npy"), ("nvc", "nvc.nvc"),
                 ("nvc_decoded", "nvc.y4m"), ("ssf", "ssf.bin"), ("ssf_decoded", "ssf.npy"))}
        with open_video(args.clip) as reader:
            source = np.stack(list(itertools.islice(reader, args.frames)))
        np.save(paths["frames"], source)
        for t in threads:
            for rep in range(args.repeats):
                order = ("nvc", "ssf2020") if rep % 2 == 0 else ("ssf2020", "nvc")
                for codec in order:
                    r = run_pair(codec, t, paths, args, args.ssf_python)
                    r.update(threads=t, repeat=rep)
                    runs.append(r)
                    print(f"threads {t} rep {rep} {codec:8s} encode {r['encode']['wall_s']:6.2f} s  decode "
                          f"{r['decode']['wall_s']:6.2f} s  total {r['wall_s']:6.2f} s wall, {r['cpu_s']:6.2f} s CPU "
                          f"({r['bytes']} bytes, load {r['load_average_before']:.2f})", flush=True)
        with open_video(paths["nvc_decoded"]) as reader:
            nvc_psnr = statistics.mean(psnr(a, b) for a, b in zip(source, reader))
        ssf_psnr = statistics.mean(psnr(a, b) for a, b in zip(source, np.load(paths["ssf_decoded"])))

    summary = {}
    for t in threads:
        mine = {c: [r for r in runs if r["threads"] == t and r["codec"] == c] for c in ("nvc", "ssf2020")}
        s = {}
        for clock in ("wall_s", "cpu_s"):
            med = {c: statistics.median(r[clock] for r in rs) for c, rs in mine.items()}
            pairs = [b[clock] / a[clock] for a, b in zip(mine["nvc"], mine["ssf2020"])]
            s[clock] = {"nvc_median": med["nvc"], "ssf2020_median": med["ssf2020"],
                        "speed_ratio_of_medians": med["ssf2020"] / med["nvc"], "speed_ratio_per_pair": pairs}
        summary[str(t)] = s
        print(f"threads {t}: nvc {s['wall_s']['nvc_median']:.2f} s, ssf2020 {s['wall_s']['ssf2020_median']:.2f} s "
              f"wall (medians): speed ratio ssf2020/nvc {s['wall_s']['speed_ratio_of_medians']:.2f} "
              f"(CPU {s['cpu_s']['speed_ratio_of_medians']:.2f})")
    report = {
        "clip": args.clip, "frames": args.frames, "size": [int(source.shape[2]), int(source.shape[1])],
        "nvc_quality": args.quality, "ssf2020_quality": args.ssf_quality, "threads": threads,
        "repeats": args.repeats, "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                                             "load_average_end": os.getloadavg()},
        "note": "speed ratio = ssf2020 seconds / nvc seconds (above 1: nvc faster); whole processes, encode + "
                "decode; ssf2020 has random weights (its rate and PSNR mean nothing) and codes 128-padded frames",
        "psnr_rgb_db": {"nvc": nvc_psnr, "ssf2020_random_weights": ssf_psnr},
        "summary": summary, "runs": runs,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
