"""Nothing in a training step waits for the device: no host copy of a loss, one index copy an epoch (a GPU would pay a round-trip for each)."""
import numpy as np, torch
from fastai.callback.core import Callback
from lt_repro.data import get_lt_dataset
from lt_repro.sampling import PairedBatchSampler
from lt_repro.train import TensorDL, lt_learner, fit_lt, get_recipe


def _spy(monkeypatch, names):
    "Count calls of these `torch.Tensor` methods while `spy.on` is set."
    spy = type('Spy', (), {'on': False, 'calls': []})()
    for n in names:
        orig = getattr(torch.Tensor, n)
        def f(self, *a, _orig=orig, _n=n, **k):
            if spy.on: spy.calls.append(_n)
            return _orig(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, n, f)
    return spy


class _Steps(Callback):
    "Switch the spy on for exactly the training steps: from the first event of a batch to after every after_batch."
    order = -1000
    def __init__(self, spy): self.spy, self.steps = spy, 0
    def before_batch(self): self.spy.on = self.training; self.steps += self.training
class _StepsEnd(Callback):
    order = 1000
    def __init__(self, spy): self.spy = spy
    def after_batch(self): self.spy.on = False


def _small_mnist():
    ds = get_lt_dataset('mnist', 100, 0)
    keep = np.sort(np.concatenate([np.flatnonzero(ds.y_train == c)[:max(3, n // 20)] for c, n in enumerate(ds.counts)]))
    ds.x_train, ds.y_train, ds.x_test, ds.y_test = ds.x_train[keep], ds.y_train[keep], ds.x_test[:64], ds.y_test[:64]
    return ds


def test_training_steps_copy_nothing_to_the_host(monkeypatch):
    spy = _spy(monkeypatch, ['cpu', 'item', 'tolist', 'numpy', '__float__', '__int__', '__bool__', '__format__'])
    for method in ('ce', 'mixup'):
        r = get_recipe(method, {})
        learn = lt_learner(_small_mnist(), 'default', r.sampler, 32, 0.9, 5e-4, 0, 'cpu', cbs=list(r.cbs), loss_func=r.loss_func)
        steps = _Steps(spy); learn.add_cbs([steps, _StepsEnd(spy)])
        fit_lt(learn, 2, 0.05, 'cosine')
        assert steps.steps >= 8, steps.steps
        assert spy.calls == [], f"{method}: host reads inside training steps: {sorted(set(spy.calls))}"
        L = learn.recorder.losses   # the smoothed losses still reach the host, once an epoch, unchanged in number
        assert len(L) == steps.steps and all(l.device.type == 'cpu' and l.ndim == 0 for l in L)


def test_an_epoch_moves_its_indices_in_one_copy(monkeypatch):
    y = np.repeat(np.arange(4), [40, 20, 10, 5])
    x = np.zeros((len(y), 8, 8, 1), np.uint8)
    for order in ('shuffle', PairedBatchSampler(y, 16, seed=0)):
        dl = TensorDL(x, y, 16, order=order, seed=0)
        spy = _spy(monkeypatch, ['to'])
        spy.on = True; n = sum(1 for _ in dl); spy.on = False
        assert n == len(dl) == 5
        assert spy.calls.count('to') == 1, spy.calls     # not one a batch
