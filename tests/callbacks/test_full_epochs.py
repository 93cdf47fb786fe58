"""FullEpochCallback: an epoch is full when it ran all of params["steps"] batches."""

from mnist_core.callbacks.full_epochs import FullEpochCallback


def _epoch(callback: FullEpochCallback, batches: int) -> bool:
    callback.on_epoch_begin(0)
    for batch in range(batches):
        callback.on_train_batch_end(batch)
    return callback.epoch_was_full()


def test_an_epoch_cut_short_is_not_full_and_the_count_starts_again_each_epoch():
    callback = FullEpochCallback()
    callback.set_params({"steps": 3, "epochs": 2})
    assert _epoch(callback, 3)
    assert not _epoch(callback, 2)  # a stop request after two of three batches
    assert _epoch(callback, 3)


def test_without_a_known_number_of_steps_every_epoch_is_full():
    callback = FullEpochCallback()
    callback.set_params({"epochs": 1})
    assert _epoch(callback, 1)
