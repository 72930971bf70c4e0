"""all-MiniLM-L6-v2 in numpy: the BERT encoder's forward pass over the packaged weights.

The model is small (6 layers, 384 wide), so numpy's matrix products do the work that
torch and sentence-transformers did, at a fraction of their memory (and without them
installed). The weights are mapped from model.safetensors, not copied: pages stay
shared between server processes and rows of the vocabulary never used are never read.
tests/py/test_local_model.py checks the vectors against sentence-transformers' own.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

Array = NDArray[np.float32]
# Texts per forward pass. Small batches keep each pass's arrays in the CPU's caches, and
# there are batches enough to keep every core busy.
BATCH = 16


class ModelFilesError(RuntimeError):
    """A model file is missing or not what this code reads."""


class MiniLM:
    """A BERT encoder with mean pooling and unit length: sentence-transformers' pipeline
    for all-MiniLM-L6-v2 (modules.json: Transformer, Pooling mean, Normalize)."""

    def __init__(self, directory: Path) -> None:
        config = _read_json(directory / "config.json")
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ModelFilesError(f"{directory / 'config.json'} does not describe a BERT model")
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.dimensions = int(config["hidden_size"])
        self._epsilon = float(config["layer_norm_eps"])
        self._weights = _map_safetensors(directory / "model.safetensors")
        # sentence-transformers truncates to its own max_seq_length and pads each batch to
        # its longest text; tokenizer.json's settings (128, fixed padding) are not used.
        max_tokens = int(_read_json(directory / "sentence_bert_config.json")["max_seq_length"])
        tokenizer_path = directory / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise ModelFilesError(f"{tokenizer_path} is missing")
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.enable_padding(pad_id=int(config["pad_token_id"]))
        if self._weight("embeddings.word_embeddings.weight").shape[1] != self.dimensions:
            raise ModelFilesError(f"{directory / 'model.safetensors'} does not match config.json")
        # One thread per core, each with a single-threaded BLAS: numpy's elementwise work
        # (GELU, softmax, layer norms) runs on one core, so batches side by side use both
        # cores throughout where a threaded BLAS would only in the products (24.6 against
        # 29-32 ms of CPU per catalog text, the threaded BLAS's, on this 2-core machine).
        # Process-wide: nothing else in the server multiplies matrices with numpy.
        threadpool_limits(limits=1, user_api="blas")
        self._pool = ThreadPoolExecutor(len(os.sched_getaffinity(0)), "zava-model")

    def encode(self, texts: Sequence[str]) -> Array:
        """Unit vectors, one row per text. Texts are batched by length, as
        sentence-transformers does, so that short texts are not padded to long ones, and
        the batches share the cores."""
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: -sum(encodings[i].attention_mask))
        batches = [order[start : start + BATCH] for start in range(0, len(order), BATCH)]

        def embed(chosen: list[int]) -> Array:
            width = max(sum(encodings[i].attention_mask) for i in chosen)
            ids = np.array([encodings[i].ids[:width] for i in chosen])
            mask = np.array([encodings[i].attention_mask[:width] for i in chosen], np.float32)
            return self._embed(ids, mask)

        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        found = map(embed, batches) if len(batches) == 1 else self._pool.map(embed, batches)
        for chosen, embedded in zip(batches, found, strict=True):
            vectors[chosen] = embedded
        return vectors

    def _embed(self, ids: NDArray[np.int64], mask: Array) -> Array:
        w = self._weight
        batch, length = ids.shape
        hidden = (
            w("embeddings.word_embeddings.weight")[ids]
            + w("embeddings.position_embeddings.weight")[:length]
            + w("embeddings.token_type_embeddings.weight")[0]  # one sentence: type 0
        )
        hidden = self._layer_norm(hidden, "embeddings.LayerNorm")
        # Padding gets the smallest float added to its attention scores: no weight at all.
        padding = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        head_size = self.dimensions // self.heads
        scale = np.float32(1 / math.sqrt(head_size))
        for index in range(self.layers):
            prefix = f"encoder.layer.{index}."
            query, key, value = (
                self._heads(hidden, prefix + f"attention.self.{name}")
                for name in ("query", "key", "value")
            )
            scores = (query * scale) @ key.transpose(0, 1, 3, 2) + padding
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3)
            context = context.reshape(batch, length, self.dimensions)
            attended = self._linear(context, prefix + "attention.output.dense") + hidden
            hidden = self._layer_norm(attended, prefix + "attention.output.LayerNorm")
            inner = _gelu(self._linear(hidden, prefix + "intermediate.dense"))
            output = self._linear(inner, prefix + "output.dense") + hidden
            hidden = self._layer_norm(output, prefix + "output.LayerNorm")
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(
            mask.sum(axis=1, keepdims=True), 1e-9
        )
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Array = pooled / np.maximum(norms, 1e-12)
        return result

    def _weight(self, name: str) -> Array:
        found = self._weights.get(name)
        if found is None:
            raise ModelFilesError(f"model.safetensors has no tensor {name}")
        return found

    def _heads(self, hidden: Array, name: str) -> Array:
        """A projection split into the attention heads: (batch, heads, tokens, head size)."""
        batch, length, _ = hidden.shape
        projected = self._linear(hidden, name)
        return projected.reshape(batch, length, self.heads, -1).transpose(0, 2, 1, 3)

    def _linear(self, values: Array, name: str) -> Array:
        # Stored as (out, in), as torch's Linear: multiply by the transpose, a view. One
        # 2-d product for the whole batch: numpy would loop over a 3-d array's first axis.
        weight = self._weight(name + ".weight")
        flat = values.reshape(-1, values.shape[-1]) @ weight.T
        flat += self._weight(name + ".bias")
        return flat.reshape(*values.shape[:-1], weight.shape[0])

    def _layer_norm(self, values: Array, name: str) -> Array:
        centred = values - values.mean(axis=-1, keepdims=True)
        variance = (centred * centred).mean(axis=-1, keepdims=True)
        normed = centred / np.sqrt(variance + np.float32(self._epsilon))
        result: Array = normed * self._weight(name + ".weight") + self._weight(name + ".bias")
        return result


def _gelu(values: Array) -> Array:
    """BERT's exact GELU, x·Φ(x), with erf from Abramowitz and Stegun 7.1.26 (absolute
    error below 1.5e-7, float32's own rounding): numpy has no erf. In place where it
    can be: these are the largest arrays of the pass."""
    x = values * np.float32(1 / math.sqrt(2))
    t = np.abs(x)
    t *= np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(x, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    poly *= t  # 1 - erf(|x|)
    np.subtract(1, poly, out=poly)
    np.copysign(poly, x, out=poly)  # erf(x)
    poly += 1
    poly *= values
    poly *= np.float32(0.5)
    return poly


def _map_safetensors(path: Path) -> dict[str, Array]:
    """The float32 tensors of a safetensors file, as read-only arrays over a memory map.
    The format: an 8-byte little-endian header length, a JSON header giving each tensor's
    dtype, shape and byte range, then the bytes."""
    try:
        with path.open("rb") as file:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as error:
        raise ModelFilesError(f"cannot read {path}: {error}") from None
    try:
        (header_size,) = struct.unpack("<Q", mapped[:8])
        header = json.loads(mapped[8 : 8 + header_size])
    except (struct.error, ValueError) as error:
        raise ModelFilesError(f"{path} is not a safetensors file: {error}") from None
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] != "F32":
            continue  # position_ids (I64) is only 0..511, recomputed here
        begin, end = entry["data_offsets"]
        count = math.prod(entry["shape"])
        if end - begin != count * 4:
            raise ModelFilesError(f"{path}: tensor {name} has the wrong size")
        array = np.frombuffer(mapped, dtype="<f4", count=count, offset=8 + header_size + begin)
        tensors[name] = array.reshape(entry["shape"])
    return tensors


def _read_json(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelFilesError(f"cannot read {path}: {error}") from None
    if not isinstance(found, dict):
        raise ModelFilesError(f"{path} is not a JSON object")
    return found
