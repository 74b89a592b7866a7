"""The measures of generated images (ocularis.uses.fidelity): FID against its closed form computed with SciPy,
precision and recall against a brute-force reading of their definition, and all of them on real digits through a
trained model's features."""

import numpy as np
import pytest
from scipy import linalg
from sklearn.datasets import load_digits

import ocularis
from ocularis.errors import DataError
from ocularis.uses.fidelity import fidelity, image_fidelity, manifold_precision_recall


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), as Heusel et al. define FID."""
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def brute_force_precision_recall(real: np.ndarray, generated: np.ndarray, k: int) -> tuple[float, float]:
    def radius(points, i):
        return np.sort(np.linalg.norm(points - points[i], axis=1))[k]  # [0] is the point itself

    def inside(samples, manifold):
        radii = [radius(manifold, i) for i in range(len(manifold))]
        return np.mean([any(np.linalg.norm(s - m) <= r for m, r in zip(manifold, radii, strict=True))
                        for s in samples])

    return inside(generated, real), inside(real, generated)


def test_fid_is_the_frechet_distance_and_precision_recall_follow_their_definition():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 8))
    shifted = rng.normal(size=(400, 8)) * 1.5 + 0.7
    measured = fidelity(real, shifted, "given features")
    assert measured.fid == pytest.approx(frechet_distance(real, shifted), rel=1e-4)
    small_real, small_generated = real[:60], shifted[:50]
    assert manifold_precision_recall(small_real, small_generated, k=3) == pytest.approx(
        brute_force_precision_recall(small_real, small_generated, k=3))

    same = fidelity(real, rng.normal(size=(400, 8)), "given features")
    collapsed = fidelity(real, rng.normal(size=(400, 8)) * 0.1, "given features")  # one mode, drawn sharply
    assert same.fid < 0.5 < measured.fid and abs(same.kid) < 3 * same.kid_std + 0.01 < measured.kid
    assert same.precision > 0.7 and same.recall > 0.7
    assert collapsed.precision > 0.95 and collapsed.recall < 0.05  # all inside the real manifold, covering little
    assert "features of given features" in str(same) and same.to_json()["generated"] == 400


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(DataError, match="more than 3 real and 3 generated images; got 100 and 2"):
        fidelity(np.zeros((100, 4)), np.zeros((2, 4)), "x")
    with pytest.raises(DataError, match="real features have 4 dimensions, generated ones 5"):
        fidelity(np.zeros((100, 4)), np.zeros((100, 5)), "x")


def test_real_digits_lie_closer_to_real_digits_than_noise_does_on_a_trained_models_features(digits_model):
    """On LeNet-5's features (tests/conftest.py's, trained on the digits): other real digits score near 0; uniform
    noise far off; real digits of one class only (a generator's mode collapse) precise but recalling little."""
    model = ocularis.load(digits_model)
    bunch = load_digits()
    scans = (bunch.images * 255 / 16).astype(np.uint8)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(scans))
    real, other = list(scans[order[:600]]), list(scans[order[600:1200]])
    noise = list(rng.integers(0, 256, size=(600, 8, 8), dtype=np.uint8))
    threes = list(scans[order[600:]][bunch.target[order[600:]] == 3])
    alike, unlike, collapsed = (image_fidelity(model, real, fake) for fake in (other, noise, threes))
    print(f"real against real: {alike}\nagainst noise: {unlike}\nagainst threes only: {collapsed}")
    assert alike.fid * 5 < min(unlike.fid, collapsed.fid) and alike.kid < min(unlike.kid, collapsed.kid)
    assert alike.precision > 0.8 and alike.recall > 0.8 and unlike.precision < alike.precision - 0.4
    assert collapsed.precision > 0.8 and collapsed.recall < 0.3  # measured: 0.90 / 0.92, 0.30 / 0.92, 0.92 / 0.21
    assert alike.features.startswith("lenet5 (classify, ")
