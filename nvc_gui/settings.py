"""User settings: defaults from `nvc_core/resources/configs/gui.yaml`, the user's changes kept in QSettings."""

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml
from PySide6.QtCore import QSettings

from nvc_core.resources import resource

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULTS_PATH = resource("configs", "gui.yaml")
_CONFIG_ONLY = {"sample_clips", "recent_files_max"}   # read from gui.yaml only, never remembered


@dataclass
class Settings:
    """Everything the analyzer remembers between runs."""

    quality: int
    gop: int
    frames: int                      # 0 = whole clip
    temporal_prior: bool
    weights: str                     # "" = bundled, "random", or a path
    device: str                      # "cpu" or "cuda"
    cache_mb: int
    recent_files_max: int
    sample_clips: list[str]
    recent_files: list[str] = field(default_factory=list)

    @classmethod
    def defaults(cls, path: Path = DEFAULTS_PATH) -> "Settings":
        """The defaults shipped in gui.yaml."""
        config = yaml.safe_load(path.read_text())
        coding, model = config["coding"], config["model"]
        return cls(quality=int(coding["quality"]), gop=int(coding["gop"]),
                   frames=int(coding["frames"]), temporal_prior=bool(coding["temporal_prior"]),
                   weights=str(model["weights"]), device=str(model["device"]),
                   cache_mb=int(config["cache_mb"]), recent_files_max=int(config["recent_files"]),
                   sample_clips=[str(p) for p in config["sample_clips"]])

    @classmethod
    def load(cls, store: QSettings) -> "Settings":
        """The defaults overridden by what `store` remembers."""
        settings = cls.defaults()
        for f in fields(cls):
            if f.name in _CONFIG_ONLY or not store.contains(f.name):
                continue
            default = getattr(settings, f.name)
            if isinstance(default, list):
                value = store.value(f.name, [], type=list)
                setattr(settings, f.name, [str(v) for v in value])
            else:
                setattr(settings, f.name, store.value(f.name, default, type=type(default)))
        return settings

    def save(self, store: QSettings) -> None:
        """Remember every user-changeable field in `store`."""
        for f in fields(self):
            if f.name not in _CONFIG_ONLY:
                store.setValue(f.name, getattr(self, f.name))
        store.sync()

    def add_recent(self, path: str) -> None:
        """Put `path` first in the recent-files list."""
        self.recent_files = [path] + [p for p in self.recent_files if p != path]
        del self.recent_files[self.recent_files_max:]

    def sample_clip(self) -> Path | None:
        """The first bundled sample clip that exists."""
        for clip in self.sample_clips:
            path = (REPO_ROOT / clip).resolve()
            if path.exists():
                return path
        return None
