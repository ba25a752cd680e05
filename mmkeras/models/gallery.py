"""A retrieval gallery: embeddings with their ids and paths, on disk as
plain arrays any vector database can load."""

import dataclasses
import json
import os

import numpy as np

EMBEDDINGS_FILE = "embeddings.npy"
IDS_FILE = "ids.npy"
PATHS_FILE = "paths.npy"
INFO_FILE = "gallery.json"


@dataclasses.dataclass
class Gallery:
    """Embeddings of one modality's items, row i being `ids[i]`, `paths[i]`.

    Args:
        modality: str. What was embedded ("image", "text", ...).
        embeddings: float32 `(items, width)`, unit rows (a numpy array or
            a read-only memory map).
        ids: str array `(items,)`.
        paths: str array `(items,)`: the item's file, or its text.
        model: str or None. The task file that embedded it.
    """

    modality: str
    embeddings: np.ndarray
    ids: np.ndarray
    paths: np.ndarray
    model: str = None

    def __post_init__(self):
        if self.embeddings.ndim != 2 or not len(self.embeddings):
            raise ValueError(
                "A gallery needs a non-empty (items, width) array of "
                f"embeddings, received shape {self.embeddings.shape}."
            )
        items = len(self.embeddings)
        for name in ("ids", "paths"):
            if len(getattr(self, name)) != items:
                raise ValueError(
                    f"The gallery has {items} embeddings but "
                    f"{len(getattr(self, name))} {name}."
                )

    @property
    def width(self):
        return self.embeddings.shape[1]

    def __len__(self):
        return len(self.embeddings)


def check_width(embeddings, width, where="the gallery"):
    """Raises ValueError when `embeddings`' rows are not `width` wide."""
    received = np.shape(embeddings)[-1]
    if received != width:
        raise ValueError(
            f"{where} has embeddings of width {received} but this model "
            f"embeds to width {width}; was it built by another model? "
            "Rebuild it with `mmkeras index` and this model."
        )


def save_gallery(gallery, directory):
    """Writes `embeddings.npy` (float32), `ids.npy`, `paths.npy` (unicode)
    and `gallery.json` (modality, size, width, model) in `directory`."""
    os.makedirs(directory, exist_ok=True)
    np.save(
        os.path.join(directory, EMBEDDINGS_FILE),
        np.asarray(gallery.embeddings, np.float32),
    )
    np.save(os.path.join(directory, IDS_FILE), np.asarray(gallery.ids, str))
    np.save(os.path.join(directory, PATHS_FILE), np.asarray(gallery.paths, str))
    info = {
        "modality": gallery.modality,
        "items": len(gallery),
        "width": gallery.width,
        "model": gallery.model,
    }
    with open(os.path.join(directory, INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)


def load_gallery(directory, memory_map=True):
    """The gallery `save_gallery` wrote; embeddings memory-mapped by
    default, so a gallery larger than memory can still be searched."""
    info_path = os.path.join(directory, INFO_FILE)
    if not os.path.isfile(info_path):
        raise FileNotFoundError(
            f"No gallery at {directory} (no {INFO_FILE}); build one with "
            "`mmkeras index`."
        )
    with open(info_path, encoding="utf-8") as f:
        info = json.load(f)
    return Gallery(
        modality=info["modality"],
        embeddings=np.load(
            os.path.join(directory, EMBEDDINGS_FILE),
            mmap_mode="r" if memory_map else None,
        ),
        ids=np.load(os.path.join(directory, IDS_FILE)),
        paths=np.load(os.path.join(directory, PATHS_FILE)),
        model=info.get("model"),
    )
