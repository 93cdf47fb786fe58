"""Candidate architectures for tuning best-cnn and fast-cnn (registered at runtime).

Usage: .venv/bin/python benchmarks/tuning/cands.py NAME [key=value ...]
  keys: epochs, batch_size, learning_rate, seed, train_limit, val_fraction (TrainConfig)
        warmup_fraction, optimizer, schedule, augment (Preset fields)
Prints one JSON line with accuracy, seconds and the per-epoch history.
"""

import dataclasses
import io
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from mnist_core import presets  # noqa: E402
from mnist_core.presets import PRESETS  # noqa: E402


def conv_bn(x, filters, kernel, strides=1, padding="same"):
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def bn_net(spec, dense=128, drop=(0.25, 0.25, 0.4)):
    """spec: list of blocks; each block a list of (filters, kernel, strides, padding)."""

    def build():
        import keras
        from keras import layers

        inputs = presets._input()
        x = inputs
        for i, block in enumerate(spec):
            for f, k, s, p in block:
                x = layers.MaxPooling2D(k)(x) if f == "P" else conv_bn(x, f, k, s, p)
            if drop[min(i, 1)]:
                x = layers.Dropout(drop[min(i, 1)])(x)
        x = layers.Flatten()(x)
        if dense:
            x = layers.Dense(dense, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            if drop[2]:
                x = layers.Dropout(drop[2])(x)
        outputs = layers.Dense(10, activation="softmax")(x)
        return keras.Model(inputs, outputs)

    return build


V, S = "valid", "same"
# fmt: off
BEST = {
    # the current preset
    "b-cur": bn_net([[(32, 3, 1, V), (32, 3, 1, V), (32, 5, 2, S)],
                     [(64, 3, 1, V), (64, 3, 1, V), (64, 5, 2, S)]]),
    # thinner first block (24-24-32), 3x3 strided convs
    "b-24": bn_net([[(24, 3, 1, V), (24, 3, 1, V), (32, 3, 2, S)],
                    [(64, 3, 1, V), (64, 3, 1, V), (64, 3, 2, S)]]),
    # 16-32-32s2(3x3) / 64-64-64s2(3x3)
    "b-16": bn_net([[(16, 3, 1, V), (32, 3, 1, V), (32, 3, 2, S)],
                    [(64, 3, 1, V), (64, 3, 1, V), (64, 3, 2, S)]]),
    # current widths but 3x3 stride-2 convs (5x5 s2 at 12x12x32->32 is ~3.7M MACs)
    "b-cur3": bn_net([[(32, 3, 1, V), (32, 3, 1, V), (32, 3, 2, S)],
                      [(64, 3, 1, V), (64, 3, 1, V), (64, 3, 2, S)]]),
    # 32C5 - pool - 64C3 - 64C3 - pool - D128 (~4.8M MACs/img vs ~15M for b-cur)
    "b-L": bn_net([[(32, 5, 1, V), ("P", 2, 0, 0)],
                   [(64, 3, 1, V), (64, 3, 1, V), ("P", 2, 0, 0)]]),
    # 32C5 - 32C3s2 - 64C3 - 64C3 - 64C3s2 - D128 (~6.6M MACs/img)
    "b-M": bn_net([[(32, 5, 1, V), (32, 3, 2, S)],
                   [(64, 3, 1, V), (64, 3, 1, V), (64, 3, 2, S)]]),
}
# fmt: on


def fast_plain(c1=24, k1=5, s1=1, pool1=True, c2=32, dense=256, bn=False):
    def build():
        import keras
        from keras import layers

        inputs = presets._input()
        x = layers.Conv2D(c1, k1, strides=s1, use_bias=not bn)(inputs)
        if bn:
            x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        if pool1:
            x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(c2, 3, use_bias=not bn)(x)
        if bn:
            x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(dense, activation="relu")(x)
        outputs = layers.Dense(10, activation="softmax")(x)
        return keras.Model(inputs, outputs)

    return build


FAST = {
    "f-cur": fast_plain(),
    "f-16": fast_plain(c1=16),
    "f-16-d128": fast_plain(c1=16, dense=128),
    "f-16-bn": fast_plain(c1=16, bn=True),
    "f-24-bn": fast_plain(bn=True),
    "f-s2": fast_plain(c1=32, k1=5, s1=2, pool1=False, c2=32),  # 5x5 s2 conv -> 12x12
    "f-s2-bn": fast_plain(c1=32, k1=5, s1=2, pool1=False, c2=32, bn=True),
    "f-s2-16": fast_plain(c1=16, k1=5, s1=2, pool1=False, c2=32),
    "f-s2-16-48": fast_plain(c1=16, k1=5, s1=2, pool1=False, c2=48),
    "f-s2-24": fast_plain(c1=24, k1=5, s1=2, pool1=False, c2=32),
    "f-s2-24-d128": fast_plain(c1=24, k1=5, s1=2, pool1=False, c2=32, dense=128),
}

PRESET_KEYS = {"warmup_fraction", "optimizer", "schedule", "augment"}
CFG_KEYS = {"epochs", "batch_size", "learning_rate", "seed", "train_limit", "val_fraction"}


def register(name, **preset_kw):
    base = PRESETS["best-cnn"] if name.startswith("b-") else PRESETS["fast-cnn"]
    build = (BEST | FAST)[name]
    PRESETS[name] = dataclasses.replace(base, name=name, build=build, **preset_kw)


def main():
    from mnist_core.data import load_mnist
    from mnist_core.training import TrainConfig, train

    name, kv = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[2:])

    def conv(v):
        return (
            (v == "True")
            if v in ("True", "False")
            else (float(v) if "." in v or "e" in v else (int(v) if v.lstrip("-").isdigit() else v))
        )

    kv = {k: conv(v) for k, v in kv.items()}
    register(name, **{k: v for k, v in kv.items() if k in PRESET_KEYS})
    cfg = TrainConfig(name, **{k: v for k, v in kv.items() if k in CFG_KEYS})
    data = load_mnist()
    model_params = PRESETS[name].build().count_params()
    import resource

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    run = train(cfg, data=data)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    load = os.getloadavg()[0]
    import csv

    hist = list(csv.DictReader(io.StringIO((run.path / "history.csv").read_text())))
    out = {
        "name": name,
        **kv,
        "params": model_params,
        "test_accuracy": run.meta.test_accuracy,
        "train_seconds": run.meta.train_seconds,
        "cpu_s": round(cpu_s, 1),
        "load1": round(load, 2),
        "epoch_s": [round(float(h["epoch_s"]), 1) for h in hist],
        "val_acc": [
            round(float(h["val_accuracy"]), 4) if h["val_accuracy"] not in ("", "nan") else None
            for h in hist
        ],
        "history": hist,
    }
    print("RESULT " + json.dumps(out))
    with open(os.path.join(os.path.dirname(__file__), "results.jsonl"), "a") as f:
        f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
