"""Entry point of the analyzer: `nvc-gui [INPUT]` / `python main.py [INPUT]`.

The window comes first: the GUI modules import neither torch nor the codec; the window is put on
screen, then the model (torch, the codec) is loaded on the worker thread behind it.

Headless mode (`--screenshot OUT.png`) codes the clip, shows frame `--frame` with all panels, saves
the window as PNG and exits (status 2 and a one-line error on bad input)."""

import argparse
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from nvc_gui.settings import Settings

APP_NAME = "nvc-gui"
EXPOSE_TIMEOUT_S = 3.0     # the longest wait for the window to be on screen before loading the rest


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, got '{text}'") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=APP_NAME, description="NVC analyzer: code a video (or decode an "
                                     ".nvc bitstream) and inspect every frame.")
    parser.add_argument("input", nargs="?", type=Path,
                        help="video (.y4m .yuv .mp4 .avi .mkv, PNG folder) or .nvc bitstream")
    parser.add_argument("--size", type=_size, help="WxH of a raw .yuv whose name does not say _WxH")
    parser.add_argument("--quality", type=int, help="rate point (0 = lowest rate)")
    parser.add_argument("--gop", type=int, help="GOP length")
    parser.add_argument("--frames", type=int, help="number of frames to code (0 = all)")
    parser.add_argument("--no-temporal-prior", dest="temporal_prior", action="store_false", default=None,
                        help="show the motion bits without the temporal prior")
    parser.add_argument("--weights", help='weights file, or "random" (default: bundled)')
    parser.add_argument("--device", choices=("cpu", "cuda"), help="device of the model")
    parser.add_argument("--frame", type=int, default=0, help="frame to show (headless mode)")
    parser.add_argument("--screenshot", type=Path,
                        help="headless: code, show --frame, save the window as this PNG, exit")
    return parser.parse_args(argv)


def _apply(args: argparse.Namespace, settings: Settings) -> None:
    """Command-line options override the settings."""
    for name in ("quality", "gop", "frames", "temporal_prior", "weights", "device"):
        value = getattr(args, name)
        if value is not None:
            setattr(settings, name, value)


def _wait_until_exposed(app: QApplication, window) -> None:
    """Let Qt put `window` on screen (map and paint it) before anything slow runs."""
    deadline = time.monotonic() + EXPOSE_TIMEOUT_S
    app.processEvents()
    while not (window.windowHandle() and window.windowHandle().isExposed()) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    app.processEvents()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    headless = args.screenshot is not None
    if headless:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")   # read when the QApplication starts
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("nvc")
    # headless runs are reproducible: gui.yaml defaults and the options, nothing remembered
    store = None if headless else QSettings("nvc", APP_NAME)
    settings = Settings.defaults() if headless else Settings.load(store)
    _apply(args, settings)
    import pyqtgraph as pg                      # the GUI's heavier modules, after Qt is up
    pg.setConfigOptions(imageAxisOrder="row-major")
    from nvc_gui.main_window import MainWindow
    window = MainWindow(settings, store, interactive=not headless)
    if headless:
        from nvc_gui.headless import screenshot
        return screenshot(app, window, args.input, args.size, args.frame, args.screenshot)
    window.show()
    _wait_until_exposed(app, window)
    window.load_model()
    if args.input is not None:
        window.open_path(args.input, args.size)
    status = app.exec()
    # Everything that must outlive the window was done in its closeEvent (settings saved, temporary
    # bitstreams removed): leave now rather than wait for the interpreter's shutdown (measured at
    # 23 s once under load) or for a frame still being coded on the worker's daemon thread.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
