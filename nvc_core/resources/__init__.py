"""Files shipped inside the package (see README.md here): the bundled weights and their model card,
the YAML presets, the sample clip. Found through :mod:`importlib.resources`, so they are where the
package is, whether it runs from a checkout or from a ``pip install``."""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource(*parts: str) -> Path:
    """The path of a shipped file, e.g. ``resource("weights", "nvc.pt")`` (it may not exist)."""
    return Path(str(resources.files(__name__).joinpath(*parts)))


BUNDLED_WEIGHTS = resource("weights", "nvc.pt")
SAMPLE_CLIP = resource("sample", "carphone_30.y4m")
