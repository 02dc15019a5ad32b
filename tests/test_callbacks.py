"""nnc.callbacks: hooks, History, ProgressBar, EarlyStopping, ModelCheckpoint."""
import os

import numpy as np
import pytest

import nnc
from nnc import callbacks as C


def data(n=40, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, (X[:, 0] > 0).astype(int)


def make_net(seed=2):
    return nnc.Network([4, 6, 2], activation="tanh", output_activation="softmax",
                       loss="categorical_crossentropy", dtype="float64", seed=seed)


class Recorder(C.Callback):
    def __init__(self, stop_at=None, via_attribute=False):
        self.calls, self.stop_at, self.via_attribute = [], stop_at, via_attribute

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_span_end(self, epoch, batches_done, n_batches):
        self.calls.append(("span", epoch, batches_done, n_batches))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))
        if epoch == self.stop_at:
            if self.via_attribute:
                self.network.stop_training = True
            else:
                return True
        return None

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


def test_hooks_run_in_order_with_the_network_bound():
    X, y = data()
    net = make_net()
    rec = Recorder()
    net.fit(X, y, epochs=2, batch_size=8, verbose=0, validation_data=(X, y), callbacks=[rec])
    assert rec.network is net and rec.root
    assert rec.calls[0] == ("train_begin",) and rec.calls[-1] == ("train_end",)
    keys = ["accuracy", "loss", "lr", "seconds", "val_accuracy", "val_loss"]
    for epoch in (0, 1):
        i = rec.calls.index(("epoch_begin", epoch))
        spans = [c for c in rec.calls if c[0] == "span" and c[1] == epoch]
        assert spans and spans[-1][2:] == (5, 5)  # 40 rows / 8: every batch reported
        assert rec.calls.index(("epoch_end", epoch, keys)) > i


@pytest.mark.parametrize("via_attribute", [False, True])
def test_a_callback_stops_training(via_attribute):
    X, y = data()
    net = make_net()
    rec = Recorder(stop_at=1, via_attribute=via_attribute)
    h = net.fit(X, y, epochs=10, batch_size=8, verbose=0, callbacks=[rec])
    assert len(h["loss"]) == 2 and len(net.history["loss"]) == 2
    assert rec.calls[-1] == ("train_end",)
    # the flag is reset by the next fit
    h = net.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert len(h["loss"]) == 2


def test_plain_functions_get_this_calls_history_and_every_callback_runs():
    X, y = data()
    net = make_net()
    net.fit(X, y, epochs=1, batch_size=8, verbose=0)
    seen = []

    def f(network, epoch, history):
        seen.append((network is net, epoch, len(history["loss"])))
        return epoch == 1

    later = Recorder()
    h = net.fit(X, y, epochs=5, batch_size=8, verbose=0, callbacks=[f, later])
    assert seen == [(True, 0, 1), (True, 1, 2)] and len(h["loss"]) == 2
    # a stopping callback does not skip the others in that epoch
    assert [c[1] for c in later.calls if c[0] == "epoch_end"] == [0, 1]
    assert len(net.history["loss"]) == 3  # the network's history spans every fit


def test_lambda_callback():
    X, y = data()
    events = []
    cb = C.LambdaCallback(on_train_begin=lambda logs: events.append("begin"),
                          on_epoch_end=lambda epoch, logs: events.append(epoch) or epoch == 2,
                          on_train_end=lambda logs: events.append("end"))
    make_net().fit(X, y, epochs=6, batch_size=8, verbose=0, callbacks=[cb])
    assert events == ["begin", 0, 1, 2, "end"]


def test_history_callback_records_any_metric():
    hist = C.History()
    hist.on_epoch_end(0, {"loss": 1.0, "custom": 3})
    assert hist.history["loss"] == [1.0] and hist.history["custom"] == [3]
    assert hist.history["val_loss"] == []


def _diverging_validation():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((80, 4))
    y = (X[:, 0] > 0).astype(int)
    return X, y, (X[:40], 1 - y[:40])  # validation loss rises as the network learns


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_on_validation_loss(restore):
    X, y, val = _diverging_validation()
    net = make_net(seed=9)
    stopper = C.EarlyStopping(patience=3, restore_best_weights=restore)
    ends = []
    h = net.fit(X, y, epochs=40, batch_size=8, lr=0.5, verbose=0, validation_data=val,
                callbacks=[stopper, lambda n, e, hist: ends.append(n.params.copy())])
    best = int(np.argmin(h["val_loss"]))
    assert len(h["val_loss"]) == best + 1 + 3 < 40
    assert stopper.best_epoch == best and stopper.stopped_epoch == best + 3
    assert stopper.best == h["val_loss"][best]
    np.testing.assert_array_equal(net.params, ends[best] if restore else ends[-1])


def test_early_stopping_falls_back_to_the_training_loss_and_maximises_accuracy():
    X, y, _ = _diverging_validation()
    net = make_net(seed=10)
    h = net.fit(X, y, epochs=20, batch_size=8, lr=0.5, verbose=0,
                callbacks=[C.EarlyStopping(patience=2, min_delta=1e9)])
    assert len(h["loss"]) == 3
    acc = C.EarlyStopping(monitor="accuracy", patience=1, restore_best_weights=False)
    acc.bind(net)
    assert acc.on_epoch_end(0, {"accuracy": 0.5}) is False
    assert acc.on_epoch_end(1, {"accuracy": 0.7}) is False  # higher is better
    assert acc.on_epoch_end(2, {"accuracy": 0.6}) is True
    with pytest.raises(ValueError, match="no 'val_loss'"):
        C.EarlyStopping().on_epoch_end(0, {"accuracy": 1.0})


def test_early_stopping_state_resets_for_each_fit():
    X, y, val = _diverging_validation()
    net = make_net(seed=9)
    stopper = C.EarlyStopping(patience=2)
    h1 = net.fit(X, y, epochs=40, batch_size=8, lr=0.5, verbose=0, validation_data=val,
                 callbacks=[stopper])
    h2 = net.fit(X, y, epochs=40, batch_size=8, lr=0.5, verbose=0, validation_data=val,
                 callbacks=[stopper])
    assert len(h2["loss"]) >= 3 and stopper.best == min(h2["val_loss"])
    assert len(h1["loss"]) < 40


def test_model_checkpoint_saves_every_k_epochs(tmp_path, monkeypatch):
    X, y = data()
    net = make_net()
    path = tmp_path / "ck.npz"
    saved = []
    real_save = nnc.Network.save

    def spy(self, p, *a, **k):
        saved.append(len(self.history["loss"]))
        return real_save(self, p, *a, **k)

    monkeypatch.setattr(nnc.Network, "save", spy)
    net.fit(X, y, epochs=5, batch_size=8, verbose=0, callbacks=[C.ModelCheckpoint(path, every=2)])
    assert saved == [2, 4]
    loaded = nnc.load(path)
    assert len(loaded.history["loss"]) == 4
    assert os.path.exists(path)


def test_model_checkpoint_checks_its_folder_before_training(tmp_path):
    X, y = data()
    net = make_net()
    before = net.params.copy()
    with pytest.raises(FileNotFoundError, match=r"checkpoint: .*the directory .* does not exist"):
        C.ModelCheckpoint(tmp_path / "nope" / "m.npz")
    (tmp_path / "d").mkdir()
    ck = C.ModelCheckpoint(tmp_path / "d" / "m.npz")
    (tmp_path / "d").rmdir()
    rec = Recorder()
    with pytest.raises(FileNotFoundError, match=r"checkpoint: .*the directory .* does not exist"):
        net.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[rec, ck])
    np.testing.assert_array_equal(net.params, before)
    assert net.optimizer is None and net.history["loss"] == []
    assert not any(c[0] == "span" for c in rec.calls)


def test_progress_bar_prints_a_line_per_epoch_without_tqdm(capsys, monkeypatch):
    X, y = data()
    bar = C.ProgressBar(epochs=3)
    bar._tqdm = None  # as when tqdm is not installed
    make_net().fit(X, y, epochs=3, batch_size=8, verbose=0, validation_data=(X, y),
                   callbacks=[bar])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3: loss ") and "val_accuracy" in lines[0]


def test_verbose_adds_a_progress_bar(capsys):
    X, y = data()
    make_net().fit(X, y, epochs=2, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2: loss" in out and "Epoch 2/2: loss" in out
    make_net().fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert capsys.readouterr().out == ""


def test_callbacks_argument_is_checked():
    X, y = data()
    net = make_net()
    for bad in (print, [1], "cb", [C.History, None]):
        with pytest.raises(TypeError, match="callbacks"):
            net.fit(X, y, verbose=0, callbacks=bad)
    assert net.optimizer is None
    # a single Callback object is accepted as well as a list
    rec = Recorder()
    net.fit(X, y, verbose=0, callbacks=rec)
    assert rec.calls[-1] == ("train_end",)
