"""The measures of generated images (ocularis.uses.fidelity): FID against its closed form computed with SciPy,
precision and recall against a brute-force reading of their definition, and all of them on real digits through a
trained model's features."""

import numpy as np
import pytest
from scipy import linalg
from sklearn.datasets import load_digits

import ocularis
from ocularis.errors import DataError
from ocularis.uses.fidelity import InceptionFeatures, fidelity, image_fidelity, manifold_precision_recall


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


def test_inception_weights_from_a_file_measure_any_folder(tmp_path, capsys):
    """FID on Inception-v3's 2048 pooled features, given its weights as a file (none download here: the test saves
    untrained ones in torchvision's layout); against the same features taken straight from torchvision."""
    import torch
    from PIL import Image
    from torchvision.models import inception_v3

    from tests.conftest import main

    network = inception_v3(weights=None, aux_logits=True, init_weights=True)
    torch.save(network.state_dict(), tmp_path / "inception.pth")
    digits = load_digits()
    for name, indices in (("real", range(0, 12)), ("fake", range(100, 112))):
        (tmp_path / name).mkdir()
        for i in indices:
            picture = Image.fromarray((digits.images[i] * 15).astype(np.uint8)).resize((64, 64))
            picture.save(tmp_path / name / f"{i}.png")
    code, out, err = main(capsys, "generate", "score", str(tmp_path / "fake"), "--real", str(tmp_path / "real"),
                          "--features", str(tmp_path / "inception.pth"), "--out", str(tmp_path / "score.json"))
    assert code == 0, err
    assert "Inception-v3 pool features (inception.pth" in out
    found = InceptionFeatures(tmp_path / "inception.pth").embed(str(tmp_path / "real"))
    network.fc, network.transform_input = torch.nn.Identity(), True
    files = sorted((tmp_path / "real").glob("*.png"))  # a folder's images in name order
    batch = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB").resize((299, 299)), np.float32))
                         for f in files]).permute(0, 3, 1, 2) / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        wanted = network.eval()((batch - mean) / std).numpy()
    assert found.shape == (12, 2048) and np.allclose(found, wanted, atol=1e-4)
    (tmp_path / "not.pth").write_bytes(b"nothing")
    code, _, err = main(capsys, "generate", "score", str(tmp_path / "fake"), "--real", str(tmp_path / "real"),
                        "--features", str(tmp_path / "not.pth"))
    assert code != 0 and "not Inception-v3 weights" in err and "Traceback" not in err
