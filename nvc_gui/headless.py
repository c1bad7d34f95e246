"""Headless mode: code a clip, show one frame with all panels, save the window as PNG."""

import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication

from nvc_gui.main_window import MainWindow

WINDOW_SIZE = (1920, 1200)


def screenshot(app: QApplication, window: MainWindow, source: Path | None, size: tuple[int, int] | None,
               frame: int, destination: Path) -> int:
    """Returns the exit status: 0, or 2 after printing a one-line error."""
    errors: list[str] = []
    window.error_reported.connect(errors.append)
    try:
        if source is None:
            raise ValueError("headless mode needs an INPUT")
        window.resize(*WINDOW_SIZE)
        window.show()
        loop = QEventLoop()
        window.idle.connect(loop.quit)
        window.open_path(source, size)
        if window.is_busy():
            loop.exec()
        if errors:
            raise ValueError(errors[0])
        if not 0 <= frame < window.frame_count():
            raise ValueError(f"--frame {frame} is outside the {window.frame_count()} coded frames")
        window.set_frame(frame)
        app.processEvents()
        if not window.save_window(destination):
            raise ValueError(errors[-1])
    except ValueError as error:
        print(f"nvc-gui: error: {error}", file=sys.stderr)
        return 2
    finally:
        window.close()
    return 0
