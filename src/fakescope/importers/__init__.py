"""Published detector weights -> fakescope checkpoints (``fakescope weights``).

``list_importers()`` names what can be imported; ``import_weights(name, source, out)`` converts
a published checkpoint (a local file or a URL) into a checkpoint folder (``model.safetensors``
+ ``card.json``) whose card carries the preprocessing, the label sense and the licence, so
``fakescope scan video.mp4 --model OUT`` runs it. See docs/weights.md.
"""

from __future__ import annotations

from .base import Importer, fetch, get_importer, import_weights, list_importers, sha256_of

__all__ = ["Importer", "fetch", "get_importer", "import_weights", "list_importers", "sha256_of"]
