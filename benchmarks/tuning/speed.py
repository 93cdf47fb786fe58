"""Side-by-side step timing of candidates, in one process, round-robin (CPU is shared/noisy).

Usage: .venv/bin/python benchmarks/tuning/speed.py STEPS ROUNDS name:batch[:aug] ...
Reports, per candidate: first-fit seconds (tracing + 3 steps), median ms per step and
microseconds per image over ROUNDS rounds of STEPS steps each, with the real training
pipeline (training.make_dataset, same optimizer, op determinism on, as train() does).
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(__file__))
import cands  # noqa: E402

from mnist_core.presets import PRESETS  # noqa: E402


def main():
    import keras
    import tensorflow as tf

    from mnist_core import training
    from mnist_core.data import load_mnist

    steps, rounds = int(sys.argv[1]), int(sys.argv[2])
    data = load_mnist()
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    items = []
    for spec in sys.argv[3:]:
        parts = spec.split(":")
        name, batch = parts[0], int(parts[1])
        cands.register(name)
        preset = PRESETS[name]
        aug = preset.augment if len(parts) < 3 else parts[2] == "1"
        model = preset.build()
        model.compile(
            optimizer=training.make_optimizer(preset, preset.learning_rate, 10000),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        ds = training.make_dataset(data.x_train, data.y_train, batch, 0, aug, 30).repeat()
        t = time.perf_counter()
        model.fit(ds, epochs=1, steps_per_epoch=3, verbose=0)
        first = time.perf_counter() - t
        items.append(
            dict(
                spec=spec,
                model=model,
                ds=ds,
                batch=batch,
                first=first,
                times=[],
                params=model.count_params(),
            )
        )
    for _ in range(rounds):
        for it in items:
            t = time.perf_counter()
            it["model"].fit(it["ds"], epochs=1, steps_per_epoch=steps, verbose=0)
            it["times"].append((time.perf_counter() - t) / steps)
    for it in items:
        med = statistics.median(it["times"])
        print(
            f"{it['spec']:22s} params {it['params']:7d} first {it['first']:5.2f}s  "
            f"step {med * 1e3:6.1f} ms  {med / it['batch'] * 1e6:6.1f} us/img  "
            f"-> 60k imgs {med / it['batch'] * 60000:5.1f} s  (all: {[round(x * 1e3) for x in it['times']]})"
        )


if __name__ == "__main__":
    main()
