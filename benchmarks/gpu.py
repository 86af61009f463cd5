"""GPU benchmark (issue 9, item 5): ResNet-50 bf16 training throughput, kerascnn vs timm.

Runs on the lent GPU machine (no TensorFlow there: Keras runs on JAX). In one process, alternating:

  A. kerascnn `resnet50` (Keras 3, JAX backend, `mixed_bfloat16`, SGD momentum 0.9), data resident on
     the device, one jitted train step built from Keras' stateless API (what `model.fit` runs on JAX);
  B. timm `resnet50` (PyTorch, channels_last, bf16 autocast, `torch.compile`), data on the device.

Each side runs a window of `--steps` steps, A then B, `--repeats` times; the table reports medians.
Warm-up (compilation) is excluded. Model FLOPs utilisation = 3 x 2 x (forward multiply-adds, counted
from the built Keras model) x images/s over the H100 SXM's dense bf16 peak (989 TFLOP/s).

Then (`--part cifar`): CIFAR ResNets (resnet20, resnet56) epoch time on 50,000 CIFAR-shaped images held
on the device, batch 128, bf16; and `model.fit` from host uint8 arrays for the same models, the path
`kerascnn train` will take.

Then (`--part train`, issue 33): `kerascnn train` itself, the command line, on JAX with mixed
bfloat16: ResNet-20 on 50,000 CIFAR-shaped images (synthetic, 32x32x3) with padded crops and flips,
and ResNet-50 at 224 on 5,120 images with flips, each with the training batches made on the device
(`data.on_device`, the default there) and made on the host by the grain path (`on_device=false`),
against the device-resident jitted step of the same model and batch in the same run (the ceiling).
An epoch's time is the median of `history.csv`'s `seconds` after the first epoch (compilation).

The machine has JAX, PyTorch and timm but no TensorFlow and no network: carry the wheels of
`benchmarks/gpu_wheels.txt` (42 MB for Python 3.12: Keras, grain and keras-tuner 7 MB, the
scikit-learn and matplotlib a run imports for its splits and curves the rest; the command to download
them is in that file) and install them first, there:

    pip install --no-index --no-deps -q .whl/*.whl && pip install --no-deps -q . \\
        && KERAS_BACKEND=jax python3 benchmarks/gpu.py --part train

`--train-fraction 0.02 --train-models resnet20` is the same on 1,000 images (a CPU smoke run).

Writes JSON results to `--out` (a directory) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
# Leave room for PyTorch in the same process.
os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.45")

H100_BF16_DENSE_PEAK = 989.4e12  # FLOP/s, NVIDIA H100 SXM5 datasheet (dense, no sparsity)


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


def forward_macs(model) -> int:
    """Multiply-adds of one image's forward pass: convolutions and dense layers (the convention of
    the papers' and keras.applications' "FLOPs" tables)."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):  # includes grouped convs
            _, h, w, cout = layer.output.shape
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            total += h * w * kh * kw * (cin // layer.groups) * cout
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, cout = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * cout
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


# --------------------------------------------------------------------------------------------- A
class KerasJaxTrainer:
    """A jitted SGD train step over a Keras model's stateless API, data already on the device."""

    def __init__(self, model, lr=0.1):
        import jax
        import keras

        self.model = model
        self.optimizer = keras.optimizers.SGD(lr, momentum=0.9)
        self.optimizer.build(model.trainable_variables)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        def compute_loss(tv, ntv, x, y):
            probs, ntv = model.stateless_call(tv, ntv, x, training=True)
            return loss_fn(y, probs), ntv

        grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

        def step(tv, ntv, ov, x, y):
            (loss, ntv), grads = grad_fn(tv, ntv, x, y)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            return tv, ntv, ov, loss

        self._step = jax.jit(step, donate_argnums=(0, 1, 2))
        self.state = (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in self.optimizer.variables],
        )

    def run(self, batches, steps):
        """`steps` train steps cycling over `batches` [(x, y), ...]; returns seconds (synchronised)."""
        import jax

        tv, ntv, ov = self.state
        t0 = time.perf_counter()
        loss = None
        for i in range(steps):
            x, y = batches[i % len(batches)]
            tv, ntv, ov, loss = self._step(tv, ntv, ov, x, y)
        jax.block_until_ready(loss)
        seconds = time.perf_counter() - t0
        self.state = (tv, ntv, ov)
        self.last_loss = float(loss)
        return seconds


def keras_resnet50(batch, image, n_batches, **options):
    import jax
    import keras
    import numpy as np

    import kerascnn

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    t0 = time.perf_counter()
    model = kerascnn.build("resnet50", input_shape=(image, image, 3), **options)
    build_s = time.perf_counter() - t0
    macs = forward_macs(model)
    trainer = KerasJaxTrainer(model)
    rng = np.random.default_rng(0)
    batches = [
        (
            jax.device_put(
                rng.standard_normal((batch, image, image, 3), dtype=np.float32).astype(
                    jax.numpy.bfloat16
                )
            ),
            jax.device_put(rng.integers(0, 1000, batch).astype(np.int32)),
        )
        for _ in range(n_batches)
    ]
    return model, trainer, batches, macs, build_s


# --------------------------------------------------------------------------------------------- B
class TimmTrainer:
    def __init__(self, batch, image, n_batches):
        import timm
        import torch

        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        self.torch = torch
        model = timm.create_model("resnet50", num_classes=1000).cuda()
        model = model.to(memory_format=torch.channels_last)
        self.params = sum(p.numel() for p in model.parameters())
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        self.model = torch.compile(model)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        g = torch.Generator(device="cuda").manual_seed(0)
        self.batches = [
            (
                torch.randn(batch, 3, image, image, device="cuda", generator=g).to(
                    memory_format=torch.channels_last
                ),
                torch.randint(0, 1000, (batch,), device="cuda", generator=g),
            )
            for _ in range(n_batches)
        ]

    def step(self, x, y):
        torch = self.torch
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss

    def run(self, steps):
        torch = self.torch
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = None
        for i in range(steps):
            loss = self.step(*self.batches[i % len(self.batches)])
        torch.cuda.synchronize()
        self.last_loss = float(loss.detach())
        return time.perf_counter() - t0


VARIANTS = {"v1": {}, "v1.5": {"stride_on": "3x3"}}  # paper / torchvision-timm stride placement


def part_resnet50(args, results):
    """kerascnn ResNet-50 v1 (paper: stride on the first 1x1) and v1.5 (stride on the 3x3, as timm's
    and torchvision's), alternating with timm's resnet50 (v1.5)."""
    import gc

    batch, image = args.batch, args.image
    out = results.setdefault("resnet50", {"batch": batch, "image": image})
    runners, macs_of = {}, {}
    for variant in args.variants:
        log(f"kerascnn resnet50 {variant}: build + compile (batch {batch}, {image}x{image}, bf16, JAX)")
        model, trainer, batches, macs, build_s = keras_resnet50(batch, image, 4, **VARIANTS[variant])
        t = trainer.run(batches, 3)
        trainer.run(batches, 5)
        log(f"  build {build_s:.1f} s, compile {t:.1f} s, {macs / 1e9:.3f} GMACs")
        key = f"kerascnn_{variant}"
        out[key] = {
            "params": model.count_params(),
            "forward_macs": macs,
            "build_s": build_s,
            "compile_s": t,
            "runs": [],
        }
        runners[key] = lambda tr=trainer, b=batches: tr.run(b, args.steps)
        macs_of[key] = macs
    if not args.no_timm:
        try:
            log("timm resnet50: create + torch.compile (channels_last, bf16 autocast)")
            timm_trainer = TimmTrainer(batch, image, n_batches=4)
            t = timm_trainer.run(3)
            timm_trainer.run(5)
            log(f"  compile {t:.1f} s")
            out["timm"] = {
                "params": timm_trainer.params,
                "compile_s": t,
                "runs": [],
                "forward_macs": macs_of.get("kerascnn_v1.5"),
            }
            runners["timm"] = lambda: timm_trainer.run(args.steps)
            macs_of["timm"] = macs_of.get("kerascnn_v1.5")
        except Exception as e:  # report and go on: the kerascnn numbers still matter
            log(f"  timm failed: {type(e).__name__}: {e}")
            out["timm_error"] = f"{type(e).__name__}: {e}"
    for r in range(args.repeats):
        line = f"  repeat {r + 1}:"
        for key, run in runners.items():
            rate = batch * args.steps / run()
            out[key]["runs"].append(rate)
            line += f" {key} {rate:7.0f} img/s |"
        log(line)
    for key in runners:
        rate = statistics.median(out[key]["runs"])
        out[key]["img_s"] = rate
        if macs_of.get(key):
            out[key]["mfu"] = rate * 6 * macs_of[key] / H100_BF16_DENSE_PEAK
    if "timm" in runners:
        for variant in args.variants:
            out[f"ratio_kerascnn_{variant}_over_timm"] = (
                out[f"kerascnn_{variant}"]["img_s"] / out["timm"]["img_s"]
            )
    runners.clear()
    gc.collect()


def part_batch_sweep(args, results):
    """kerascnn resnet50 v1.5 images/s against batch size (device-resident data)."""
    import gc

    import keras

    sweep = results.setdefault("resnet50_batch_sweep", {})
    for batch in args.sweep:
        keras.backend.clear_session()
        model, trainer, batches, macs, _ = keras_resnet50(batch, args.image, 2, stride_on="3x3")
        trainer.run(batches, 3)
        rates = [batch * args.steps / trainer.run(batches, args.steps) for _ in range(3)]
        sweep[str(batch)] = statistics.median(rates)
        log(f"  batch {batch}: {sweep[str(batch)]:.0f} img/s")
        del model, trainer, batches
        gc.collect()


def _sync(model):
    """Wait for the device: `fit` returns while JAX may still be running the last steps."""
    import jax

    jax.block_until_ready([v.value for v in model.variables])


def _device_prefetch(x, y, batch, depth=4):
    """Yield (x, y) batches put on the device by a background thread, `depth` batches ahead."""
    import queue
    import threading

    import jax

    q = queue.Queue(maxsize=depth)
    steps = len(x) // batch

    def worker():
        while True:
            for i in range(steps):
                sl = slice(i * batch, (i + 1) * batch)
                q.put((jax.device_put(x[sl]), jax.device_put(y[sl])))

    threading.Thread(target=worker, daemon=True).start()
    while True:
        yield q.get()


def part_fit(args, results):
    """The path `kerascnn train` will take: `model.fit`, fed four ways, alternating: host uint8
    arrays (Keras' array adapter), a PyDataset of host uint8 batches (8 worker threads), a generator
    whose batches a thread puts on the device 4 ahead, and device-resident batches (Keras' own
    overhead alone). Then steps_per_execution 1 on the device-resident feed."""
    import jax
    import keras
    import numpy as np

    import kerascnn

    keras.backend.clear_session()  # (clear_session also resets the dtype policy: set it after)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    batch, image = args.batch, args.image
    model = kerascnn.build("resnet50", input_shape=(image, image, 3), stride_on="3x3")
    rng = np.random.default_rng(0)
    steps = 32
    n = batch * steps
    x = rng.integers(0, 256, (n, image, image, 3), dtype=np.uint8)
    y = rng.integers(0, 1000, n).astype(np.int32)

    def cycle(items):
        while True:
            yield from items

    resident = [
        (jax.device_put(x[i * batch : (i + 1) * batch]), jax.device_put(y[i * batch : (i + 1) * batch]))
        for i in range(4)
    ]

    class HostBatches(keras.utils.PyDataset):
        def __len__(self):
            return steps

        def __getitem__(self, i):
            return x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]

    feeds = {
        "host_arrays": lambda: dict(x=x, y=y, batch_size=batch),
        "pydataset_8_threads": lambda: dict(x=HostBatches(workers=8, max_queue_size=8)),
        "thread_device_put_4_ahead": lambda: dict(
            x=_device_prefetch(x, y, batch), steps_per_epoch=steps
        ),
        "device_resident": lambda: dict(x=cycle(resident), steps_per_epoch=steps),
    }
    out = results.setdefault("resnet50_model_fit", {"batch": batch, "images_per_epoch": n})
    for spe, names in ((args.steps_per_execution, list(feeds)), (1, ["device_resident"])):
        model.compile(
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            jit_compile=True,
            steps_per_execution=spe,
        )
        model.fit(**feeds["device_resident"](), epochs=1, verbose=0)  # compile
        _sync(model)
        runs = {name: [] for name in names}
        for _ in range(3):
            for name in names:
                kwargs = feeds[name]()
                t0 = time.perf_counter()
                model.fit(**kwargs, epochs=1, verbose=0, shuffle=False)
                _sync(model)
                runs[name].append(n / (time.perf_counter() - t0))
        for name, rates in runs.items():
            out[f"{name}_spe{spe}"] = statistics.median(rates)
            log(
                f"resnet50 v1.5 model.fit, {name}, steps_per_execution={spe}: "
                f"{statistics.median(rates):.0f} img/s"
            )


# --------------------------------------------------------------------------------------------- CIFAR
def part_cifar(args, results):
    import jax
    import keras
    import numpy as np

    import kerascnn

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    n, batch = args.cifar_images, 128
    steps = n // batch
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.int32)
    x_dev = jax.device_put((images.astype(np.float32) / 255.0).astype(jax.numpy.bfloat16))
    y_dev = jax.device_put(labels)
    batches = [
        (x_dev[i * batch : (i + 1) * batch], y_dev[i * batch : (i + 1) * batch]) for i in range(steps)
    ]
    for name in args.cifar_models:
        keras.backend.clear_session()  # (clear_session also resets the dtype policy: set it after)
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = kerascnn.build(name)
        trainer = KerasJaxTrainer(model)
        t_compile = trainer.run(batches, 2)
        epochs = [trainer.run(batches, steps) for _ in range(args.cifar_epochs)]
        entry = {
            "batch": batch,
            "steps_per_epoch": steps,
            "compile_s": t_compile,
            "epoch_s_device_resident": statistics.median(epochs),
            "epoch_runs": epochs,
            "forward_macs": forward_macs(model),
        }
        log(
            f"{name}: device-resident epoch {entry['epoch_s_device_resident']:.2f} s "
            f"({n / entry['epoch_s_device_resident']:.0f} img/s), compile {t_compile:.1f} s"
        )

        # The path `kerascnn train` takes: model.fit from host arrays.
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = kerascnn.build(name)
        model.compile(
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            jit_compile=True,
            steps_per_execution=args.steps_per_execution,
        )
        x_host = images.astype(np.float32) / 255.0
        model.fit(x_host[: batch * 8], labels[: batch * 8], batch_size=batch, epochs=1, verbose=0)
        _sync(model)
        fit_runs = []
        for _ in range(args.cifar_epochs):
            t0 = time.perf_counter()
            model.fit(x_host, labels, batch_size=batch, epochs=1, verbose=0, shuffle=False)
            _sync(model)
            fit_runs.append(time.perf_counter() - t0)
        entry.update(
            epoch_s_model_fit=statistics.median(fit_runs),
            fit_runs=fit_runs,
            steps_per_execution=args.steps_per_execution,
        )
        log(
            f"{name}: model.fit epoch (host float32 arrays, steps_per_execution="
            f"{args.steps_per_execution}) {entry['epoch_s_model_fit']:.2f} s"
        )
        results.setdefault("cifar", {})[name] = entry


TRAIN_CASES = {
    "resnet20": {
        "sets": [
            'model.name="resnet20"',
            'data.source="synthetic"',
            "data.classes=10",
            "data.samples=50000",
            "data.image_size=[32,32]",
            "data.channels=3",
            "data.batch_size=128",
            "data.test_fraction=0",
            "data.validation_split=0",
            "data.augment.crop_padding=4",
            "data.augment.flip=true",
            'train.optimizer="sgd"',
            "train.learning_rate=0.1",
            "train.momentum=0.9",
            "train.epochs=4",
        ],
        "batch": 128,
        "image": 32,
        "images": 50_000,
    },
    "resnet50": {
        "sets": [
            'model.name="resnet50"',
            'data.source="synthetic"',
            "data.classes=1000",
            "data.samples=5120",
            "data.image_size=[224,224]",
            "data.channels=3",
            "data.batch_size=256",
            "data.test_fraction=0",
            "data.validation_split=0",
            "data.augment.flip=true",
            'train.optimizer="sgd"',
            "train.learning_rate=0.1",
            "train.momentum=0.9",
            "train.epochs=4",
        ],
        "batch": 256,
        "image": 224,
        "images": 5_120,
    },
}


def part_train(args, results):
    """`kerascnn train` (the CLI, JAX, mixed bfloat16) against the device-resident jitted step."""
    import csv
    import subprocess

    import jax
    import keras
    import numpy as np

    import kerascnn

    for name in args.train_models:
        case = dict(TRAIN_CASES[name])
        case["images"] = int(case["images"] * args.train_fraction)
        case["sets"] = [
            item if not item.startswith("data.samples=") else f"data.samples={case['images']}"
            for item in case["sets"]
        ]
        entry = {"images": case["images"], "batch": case["batch"], "image": case["image"]}
        for label, on_device in (("cli_on_device", "true"), ("cli_host_grain", "false")):
            out = args.out / f"train-{name}-{label}"
            command = [
                sys.executable,
                "-m",
                "kerascnn.cli",
                "train",
                "lenet5_digits",
                "--output",
                str(out),
                "--restart",
                "--quiet",
                "--set",
                "train.mixed_precision=true",
                "--set",
                "output.tensorboard=false",
                "--set",
                f"data.on_device={on_device}",
            ]
            for item in case["sets"]:
                command += ["--set", item]
            t0 = time.perf_counter()
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=1200,
                env={**os.environ, "KERAS_BACKEND": "jax"},
            )
            wall = time.perf_counter() - t0
            if done.returncode:
                entry[f"{label}_error"] = (done.stdout + done.stderr)[-3000:]
                log(f"{name} {label}: failed\n{entry[f'{label}_error']}")
                continue
            with open(out / "history.csv", newline="") as f:
                seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
            epoch = statistics.median(seconds[1:])
            entry[label] = {
                "epoch_s": epoch,
                "epochs_s": seconds,
                "command_s": wall,
                "images_per_s": case["images"] / epoch,
            }
            log(
                f"{name} {label}: epoch {epoch:.2f} s ({case['images'] / epoch:,.0f} img/s), "
                f"whole command {wall:.0f} s"
            )
        # The ceiling: the same model's jitted step, data resident on the device.
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        model = kerascnn.build(
            name,
            input_shape=(case["image"], case["image"], 3),
            classes=10 if name == "resnet20" else 1000,
        )
        trainer = KerasJaxTrainer(model)
        rng = np.random.default_rng(0)
        batch = case["batch"]
        x = jax.device_put(
            rng.standard_normal((batch, case["image"], case["image"], 3), dtype=np.float32).astype(
                jax.numpy.bfloat16
            )
        )
        y = jax.device_put(rng.integers(0, 10, batch).astype(np.int32))
        trainer.run([(x, y)], 3)
        steps = case["images"] // batch
        epoch = statistics.median(trainer.run([(x, y)], steps) for _ in range(3))
        entry["jitted_step_device_resident"] = {"epoch_s": epoch, "images_per_s": steps * batch / epoch}
        log(
            f"{name} jitted step, data on the device: epoch {epoch:.2f} s "
            f"({steps * batch / epoch:,.0f} img/s)"
        )
        for label in ("cli_on_device", "cli_host_grain"):
            if label in entry:
                entry[label]["of_jitted_step"] = (
                    entry["jitted_step_device_resident"]["images_per_s"]
                    and entry[label]["images_per_s"]
                    / entry["jitted_step_device_resident"]["images_per_s"]
                )
        results.setdefault("train", {})[name] = entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", action="append", choices=["resnet50", "batch_sweep", "fit", "cifar", "train"]
    )
    parser.add_argument(
        "--train-models", nargs="+", default=list(TRAIN_CASES), choices=list(TRAIN_CASES)
    )
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=1.0,
        help="of each --part train case's images (a smoke run: 0.02)",
    )
    parser.add_argument("--variants", nargs="+", default=["v1", "v1.5"], choices=list(VARIANTS))
    parser.add_argument("--sweep", nargs="+", type=int, default=[128, 256, 512])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--image", type=int, default=224)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-timm", action="store_true")
    parser.add_argument("--cifar-models", nargs="+", default=["resnet20", "resnet56"])
    parser.add_argument("--cifar-epochs", type=int, default=3)
    parser.add_argument("--cifar-images", type=int, default=50_000)
    parser.add_argument("--steps-per-execution", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    args = parser.parse_args(argv)
    parts = args.part or ["resnet50", "cifar"]

    import jax
    import keras

    results = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(sys.argv),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "jax": jax.__version__,
        "backend": keras.backend.backend(),
        "devices": [str(d) for d in jax.devices()],
    }
    try:
        import torch

        results.update(torch=torch.__version__, gpu=torch.cuda.get_device_name(0))
        import timm

        results["timm"] = timm.__version__
    except Exception as e:
        results["torch_error"] = str(e)
    log(json.dumps(results))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu_results.json"
    for part in parts:
        try:
            {
                "resnet50": part_resnet50,
                "batch_sweep": part_batch_sweep,
                "fit": part_fit,
                "cifar": part_cifar,
                "train": part_train,
            }[part](args, results)
        except Exception as e:
            import traceback

            traceback.print_exc()
            results[f"{part}_error"] = f"{type(e).__name__}: {e}"
        path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
