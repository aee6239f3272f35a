"""Example images that installed packages ship (scikit-image's data, matplotlib's samples), for
the Style transfer page's pickers. Read as files, without importing those packages; an example
whose package is missing is simply not offered."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from engine.images import load_image

# name → (package, path inside it)
CONTENT_EXAMPLES = {
    "Astronaut (scikit-image)": ("skimage", "data/astronaut.png"),
    "Chelsea the cat (scikit-image)": ("skimage", "data/chelsea.png"),
    "Coffee (scikit-image)": ("skimage", "data/coffee.png"),
    "Rocket (scikit-image)": ("skimage", "data/rocket.jpg"),
    "Grace Hopper (matplotlib)": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}
STYLE_EXAMPLES = {
    "Hubble deep field (scikit-image)": ("skimage", "data/hubble_deep_field.jpg"),
    "Coffee (scikit-image)": ("skimage", "data/coffee.png"),
    "Brick (scikit-image)": ("skimage", "data/brick.png"),
    "Gravel (scikit-image)": ("skimage", "data/gravel.png"),
    "Chelsea the cat (scikit-image)": ("skimage", "data/chelsea.png"),
    "Retina (scikit-image)": ("skimage", "data/retina.jpg"),
}


def _path(package: str, inside: str) -> Path | None:
    try:
        path = Path(str(resources.files(package) / inside))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


def available(examples: dict[str, tuple[str, str]]) -> list[str]:
    """The names of ``examples`` whose files are installed."""
    return [name for name, where in examples.items() if _path(*where) is not None]


def load_example(name: str) -> np.ndarray:
    """An example (content or style) as RGB uint8."""
    where = CONTENT_EXAMPLES.get(name) or STYLE_EXAMPLES.get(name)
    path = _path(*where) if where else None
    if path is None:
        raise KeyError(f"no installed example called {name!r}")
    return load_image(path)
