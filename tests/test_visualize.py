"""What a network learned: Grad-CAM, ZFNet's occlusion, saliency and guided backpropagation checked
against their definitions on small models (computed here independently), and on a task where the
class is decided by a small patch at a random place: after training, the Grad-CAM peak and the
occlusion minimum fall inside the patch, on a plain network and on one with concatenations."""

import keras
import numpy as np
import pytest

from kerascnn import visualize
from kerascnn.config import ConfigError
from kerascnn.inference import explaining
from kerascnn.spec import build_from_spec

PATCH = 8


def patch_task(n, seed, size=32):
    """Noise, and an 8x8 patch of horizontal stripes, vertical stripes or a checkerboard (the
    class) at a random place."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.5, (n, size, size, 1)).astype("float32")
    y = rng.integers(0, 3, n)
    boxes = rng.integers(0, size - PATCH + 1, (n, 2))
    r = np.arange(PATCH)
    patterns = [
        np.tile((r % 2)[:, None], (1, PATCH)),
        np.tile((r % 2)[None, :], (PATCH, 1)),
        (r[:, None] + r[None, :]) % 2,
    ]
    for i in range(n):
        top, left = boxes[i]
        x[i, top : top + PATCH, left : left + PATCH, 0] = patterns[y[i]]
    return x, y, boxes


PLAIN = {
    "input_shape": [32, 32, 1],
    "defaults": {"norm": "batch"},
    "stages": [
        {"blocks": ["conv3-16", "conv3-16", "maxpool"]},
        {"blocks": ["conv3-32", "conv3-32", "maxpool"]},
        {"blocks": ["conv3-64"]},
    ],
    "head": {"pool": "avg", "classes": 3},
}
INCEPTION = {
    "input_shape": [32, 32, 1],
    "defaults": {"norm": "batch"},
    "stem": ["conv3-16", "maxpool"],
    "stages": [
        {
            "name": "mixa",
            "blocks": [{"block": "inception", "name": "mixa", "filters": [8, 8, 16, 4, 8, 8]}],
        },
        {"name": "pool", "blocks": ["maxpool"]},
        {
            "name": "mixb",
            "blocks": [{"block": "inception", "name": "mixb", "filters": [16, 16, 32, 8, 16, 16]}],
        },
    ],
    "head": {"pool": "avg", "classes": 3},
}


@pytest.fixture(scope="module", params=["plain", "inception"])
def trained(request):
    x, y, _ = patch_task(1600, 0)
    keras.utils.set_random_seed(0)
    model = build_from_spec(PLAIN if request.param == "plain" else INCEPTION)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=64, epochs=5, verbose=0)
    return request.param, model


def inside(maps, pick, boxes) -> float:
    hits = [
        top <= r < top + PATCH and left <= c < left + PATCH
        for m, (top, left) in zip(maps, boxes)
        for r, c in [np.unravel_index(pick(m), m.shape)]
    ]
    return float(np.mean(hits))


@pytest.mark.slow  # end to end; over 10 s on 2 cores (README's command stays under 10 min)
def test_the_maps_point_at_the_patch_that_decides_the_class(trained):
    name, model = trained
    x, y, boxes = patch_task(100, 1)
    assert np.mean(model.predict(x, verbose=0).argmax(1) == y) > 0.95
    target = visualize.target_layer(model)
    assert target == ("stage3_conv1_act" if name == "plain" else "mixb_concat")
    assert isinstance(model.get_layer(target), keras.layers.Concatenate) == (name == "inception")
    cam = visualize.gradcam(model, x)  # each image's top class
    assert cam.shape == (100, 32, 32) and cam.min() >= 0 and cam.max() == pytest.approx(1)
    assert inside(cam, np.argmax, boxes) >= 0.9
    occluded = visualize.occlusion(model, x, classes=y, window=6, stride=2)
    assert occluded.shape == (100, 32, 32)
    assert inside(occluded, np.argmin, boxes) >= 0.9
    for guided in (False, True):
        assert inside(visualize.saliency(model, x[:20], guided=guided), np.argmax, boxes[:20]) >= 0.8


def tiny(hidden=None):
    """Input 6x6x2 -> conv 3x3 (4 maps, ReLU) -> global average pool -> dense softmax, named as
    kerascnn names layers (the head apart)."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((6, 6, 2), name="input")
    a = keras.layers.Conv2D(4, 3, padding="same", name="stage1_conv")(inputs)
    a = keras.layers.Activation("relu", name="stage1_act")(a)
    z = keras.layers.GlobalAveragePooling2D(name="head_pool")(a)
    z = keras.layers.Dense(3, name="head_logits")(z)
    out = keras.layers.Activation("softmax", name="head_pred")(z)
    return keras.Model(inputs, out)


def test_gradcam_is_its_definition(tmp_path):
    """With global average pooling and a linear classifier, Grad-CAM's weights are the classifier's
    weights over the map size (Selvaraju et al., Sec. 3.1: Grad-CAM generalizes CAM): the map is
    ReLU(sum_k w_kc A_k), scaled to [0, 1]."""
    model = tiny()
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 2)).astype("float32")
    maps = keras.Model(model.inputs[0], model.get_layer("stage1_act").output).predict(x, verbose=0)
    kernel = model.get_layer("head_logits").get_weights()[0]  # (4, 3)
    classes = np.array([0, 1, 2, 1])
    expected = np.maximum(np.einsum("nhwk,kn->nhw", maps, kernel[:, classes]), 0)
    expected /= expected.reshape(4, -1).max(1)[:, None, None]
    got = visualize.gradcam(model, x, classes=classes)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Naming the stage or the layer is the same layer; the head is never a target.
    assert visualize.target_layer(model) == visualize.target_layer(model, "stage1") == "stage1_act"
    with pytest.raises(ConfigError, match="no layer or stage named 'stage9'. Stages: stage1"):
        visualize.gradcam(model, x, layer="stage9")
    with pytest.raises(ConfigError, match="not a feature map"):
        visualize.gradcam(model, x, layer="head_logits")


def test_occlusion_is_the_probability_with_the_square_grey():
    model = tiny()
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 2)).astype("float32")
    grid = visualize.occlusion(model, x, classes=[2, 0], window=3, stride=2, grid=True)
    edges = [0, 2, 3]  # every 2 pixels, the last square at the border
    assert grid.shape == (2, 3, 3)
    per_pixel = np.zeros((2, 6, 6))
    count = np.zeros((6, 6))
    for r, top in enumerate(edges):
        for c, left in enumerate(edges):
            covered = x.copy()
            covered[:, top : top + 3, left : left + 3] = 0.0
            p = model.predict(covered, verbose=0)[[0, 1], [2, 0]]
            np.testing.assert_allclose(grid[:, r, c], p, atol=1e-6)
            per_pixel[:, top : top + 3, left : left + 3] += p[:, None, None]
            count[top : top + 3, left : left + 3] += 1
    np.testing.assert_allclose(
        visualize.occlusion(model, x, classes=[2, 0], window=3, stride=2), per_pixel / count, atol=1e-6
    )
    with pytest.raises(ConfigError, match="larger than the image"):
        visualize.occlusion(model, x, window=7)


def test_saliency_and_guided_backpropagation_are_their_definitions():
    """A one-hidden-layer network: the saliency is |W1 (relu'(z) * w2c)|, guided backpropagation
    lets only positive gradients through the ReLU: |W1 (relu'(z) * max(w2c, 0))|."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((3, 3, 2), name="input")
    flat = keras.layers.Flatten(name="stage1_flat")(inputs)
    hidden = keras.layers.Dense(16, activation="relu", name="stage1_fc")(flat)
    out = keras.layers.Dense(3, activation="softmax", name="head_logits")(hidden)
    model = keras.Model(inputs, out)
    x = np.random.default_rng(3).normal(size=(2, 3, 3, 2)).astype("float32")
    w1, b1 = model.get_layer("stage1_fc").get_weights()
    w2 = model.get_layer("head_logits").get_weights()[0]
    z = x.reshape(2, -1) @ w1 + b1
    for guided in (False, True):
        upstream = w2[:, [1, 1]].T * (z > 0)
        if guided:
            upstream = upstream * (upstream > 0)
        grads = np.abs((upstream @ w1.T).reshape(2, 3, 3, 2)).max(-1)
        assert (grads.reshape(2, -1).max(1) > 0).all()  # something passes for both images
        expected = grads / grads.reshape(2, -1).max(1)[:, None, None]
        np.testing.assert_allclose(
            visualize.saliency(model, x, classes=1, guided=guided), expected, atol=1e-5
        )
    assert model.get_layer("stage1_fc").activation.__name__ == "relu"  # restored afterwards


# --- from image files: kerascnn explain and kerascnn show -------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from kerascnn.recipe import load_recipe
    from kerascnn.verbs import train

    root = tmp_path_factory.mktemp("explain")
    recipe = load_recipe(
        {
            "model": {
                "spec": {
                    "defaults": {"norm": "batch"},
                    "stages": [{"blocks": ["conv3-8", "maxpool"]}, {"blocks": ["conv3-16"]}],
                    "head": {"pool": "avg"},
                }
            },
            "data": {
                "source": "synthetic",
                "classes": 3,
                "samples": 90,
                "image_size": [20, 20],
                "batch_size": 32,
            },
            "train": {"epochs": 1},
            "output": {"dir": str(root / "run"), "tensorboard": False},
        },
        name="explain",
    )
    return train(recipe, verbose=0, log=lambda *a: None).run_dir


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    from PIL import Image

    from kerascnn.data import synthetic_images

    root = tmp_path_factory.mktemp("images")
    images, _ = synthetic_images(3, 3, (20, 20), 3, seed=1)
    for i, image in enumerate(images):
        Image.fromarray(image.astype(np.uint8)).save(root / f"img{i}.png")
    return root


@pytest.mark.parametrize("method", ["gradcam", "occlusion", "saliency", "guided"])
def test_explain_draws_each_image(run, pngs, tmp_path, method, capsys):
    from kerascnn.cli import main

    out = tmp_path / "pictures"
    assert main(["explain", str(run), str(pngs), "--method", method, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(f"_{method}.png" in line for line in lines)
    pictures = sorted(out.glob("*.png"))
    assert [p.name for p in pictures] == [f"img{i}_{method}.png" for i in range(3)]
    assert all(p.stat().st_size > 5000 for p in pictures)
    # Python: the arrays, at the network's input size; a class chosen by name.
    found = explaining.explain(run, pngs / "img0.png", method=method, classes="2")
    assert found[0].label == "2" and found[0].heatmap.shape == (20, 20)
    assert main(["explain", str(run), str(pngs), "--method", method, "--out", str(out)]) == 2
    assert "does not overwrite" in capsys.readouterr().err  # and nothing was redrawn


def test_show_filters_and_features(run, pngs, tmp_path, capsys):
    from kerascnn.cli import main

    assert main(["show", "filters", str(run), "--out", str(tmp_path / "filters.png")]) == 0
    assert (
        main(
            [
                "show",
                "filters",
                str(run / "model.keras"),
                "--layer",
                "stage2_conv1",
                "--out",
                str(tmp_path / "filters2.png"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "show",
                "features",
                str(run),
                str(pngs / "img1.png"),
                "--out",
                str(tmp_path / "features.png"),
            ]
        )
        == 0
    )
    assert all(
        (tmp_path / n).stat().st_size > 5000 for n in ("filters.png", "filters2.png", "features.png")
    )
    capsys.readouterr()
    stages = visualize.stage_features(
        explaining.as_trained(run).model, np.zeros((20, 20, 3), "float32"), top=4
    )
    assert list(stages) == ["stage1", "stage2"] and stages["stage2"].shape == (4, 10, 10)


def test_bad_requests_are_one_line_naming_the_problem(run, pngs, tmp_path, capsys):
    from kerascnn.cli import main

    def refused(*argv):
        assert main(list(argv)) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
        return err

    out = str(tmp_path / "x")
    assert "no layer or stage named 'stage7'" in refused(
        "explain", str(run), str(pngs), "--layer", "stage7", "--out", out
    )
    (tmp_path / "text.png").write_text("not an image")
    assert "text.png" in refused("explain", str(run), str(tmp_path / "text.png"), "--out", out)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no trained model" in refused("explain", str(empty), str(pngs), "--out", out)
    assert "unknown class 'cat'" in refused(
        "explain", str(run), str(pngs), "--class", "cat", "--out", out
    )
    assert "no layer named 'conv9'" in refused(
        "show", "filters", str(run), "--layer", "conv9", "--out", str(tmp_path / "f.png")
    )
    assert "not a 2-D convolution" in refused(
        "show", "filters", str(run), "--layer", "head_logits", "--out", str(tmp_path / "f.png")
    )
    assert "layer applies to gradcam" in refused(
        "explain", str(run), str(pngs), "--method", "occlusion", "--layer", "stage1", "--out", out
    )
    # Two images of the same file name would be drawn as the same picture: both named.
    import shutil

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(pngs / "img0.png", tmp_path / folder / "img0.png")
    err = refused(
        "explain", str(run), str(tmp_path / "a"), str(tmp_path / "b" / "img0.png"), "--out", out
    )
    assert (
        f"images with the same file name: {tmp_path / 'a' / 'img0.png'} and "
        f"{tmp_path / 'b' / 'img0.png'} would both be {tmp_path / 'x' / 'img0_gradcam.png'}" in err
    )
    assert not (tmp_path / "x").exists() and not (tmp_path / "f.png").exists()
    for command in (["explain"], ["show"], ["show", "filters"], ["show", "features"], ["export"]):
        with pytest.raises(SystemExit) as done:
            main([*command, "--help"])
        assert done.value.code == 0


@pytest.mark.parametrize(
    "name, layer, kind",
    [
        ("googlenet", "inception5b_concat", "Concatenate"),  # through the module's concatenation
        ("densenet_bc_100_12", "post_act1", "Activation"),  # after the last dense block's BN-ReLU
        ("resnet20", "stage3_block3_out", "Activation"),  # the last residual unit's output
        ("vgg11", "stage5_pool1", "MaxPooling2D"),  # the last stage, its pool included
    ],
)
def test_the_last_stage_of_the_zoo_networks_is_found(name, layer, kind):
    import kerascnn

    model = kerascnn.build(name, input_shape=(64, 64, 3), classes=5)
    assert visualize.target_layer(model) == layer
    assert type(model.get_layer(layer)).__name__ == kind
    cam = visualize.gradcam(model, np.random.default_rng(0).normal(size=(1, 64, 64, 3)))
    assert cam.shape == (1, 64, 64) and np.isfinite(cam).all()


_ON_JAX = """
import sys
import numpy as np
import kerascnn
from kerascnn import visualize
from kerascnn.inference import explaining
model = kerascnn.load_model(sys.argv[1])
x = np.load(sys.argv[2])
np.savez(sys.argv[3], gradcam=visualize.gradcam(model, x, classes=[0, 1, 2]),
         stage=visualize.gradcam(model, x, layer="stage1"),
         saliency=visualize.saliency(model, x), guided=visualize.saliency(model, x, guided=True))
try:
    visualize.gradcam(model, x, layer="stage2_block1_conv1_act")
except Exception as e:
    print(type(e).__name__, e)
"""


@pytest.mark.slow  # 12 s a backend, in a process of its own; the TensorFlow pictures in the default tier
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_gradient_pictures_on_jax_and_pytorch_are_tensorflows(tmp_path, backend):
    """Grad-CAM (the default layer and a stage), saliency and guided backpropagation computed with
    `jax.grad` in a JAX process, and `torch.autograd` in a PyTorch one, equal TensorFlow's
    GradientTape's on the same float32 model; there a Grad-CAM layer that something after it goes
    around is refused, saying why. (PyTorch is installed for the slow tier only: its wheel is
    large.)"""
    import os
    import subprocess
    import sys

    import keras

    from kerascnn.spec import build_from_spec

    spec = {
        "input_shape": [20, 20, 3],
        "defaults": {"norm": "batch"},
        "stages": [{"blocks": ["conv3-8", "maxpool"]}, {"block": "basic", "filters": 8, "repeats": 1}],
        "head": {"pool": "avg", "classes": 3},
    }
    model = build_from_spec(spec)
    assert model.layers[1].compute_dtype == "float32"
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(3, 20, 20, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _ON_JAX,
            str(tmp_path / "m.keras"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "maps.npz"),
        ],
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        f"ConfigError on the {backend} backend Grad-CAM needs a layer whose output everything after "
        "it depends on alone (a stage's output, the default); something after "
        "'stage2_block1_conv1_act' goes around it."
    ) in done.stdout  # the shortcut does
    jax_maps = np.load(tmp_path / "maps.npz")
    model = keras.saving.load_model(tmp_path / "m.keras")
    tf_maps = {
        "gradcam": visualize.gradcam(model, x, classes=[0, 1, 2]),
        "stage": visualize.gradcam(model, x, layer="stage1"),
        "saliency": visualize.saliency(model, x),
        "guided": visualize.saliency(model, x, guided=True),
    }
    for name, expected in tf_maps.items():
        assert expected.max() > 0, name
        np.testing.assert_allclose(jax_maps[name], expected, atol=1e-4, err_msg=name)
