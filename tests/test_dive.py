"""DiVE pieces: logit adjustment, virtual examples, distillation, flatness smoothing, shifted tests, recipes."""
import numpy as np, pytest, torch, torch.nn as nn, torch.nn.functional as F
from fastai.learner import Learner
from lt_repro.dive import (LogitAdjust, DistillCallback, VirtualExampleSmoothing, distill_loss, virtual_examples, log_prior,
                           posthoc_adjust, shift_targets, shift_accuracy, ve_ratio, dive_grid, dive_flatness_grid, dive_label)
from lt_repro.data import LTDataset, shot_groups
from lt_repro.models import lenet32
from lt_repro.train import lt_dls, sgd, train_lt, get_recipe


def tiny_ds(counts=(60, 20, 6), seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    x = np.zeros((len(y), 28, 28, 1), np.uint8)
    for c in range(len(counts)): x[y == c, 4 * c:4 * c + 8, 4:20] = 255          # a class-specific bar: learnable
    x = np.clip(x.astype(int) + rng.integers(0, 40, x.shape), 0, 255).astype(np.uint8)
    yt = np.repeat(np.arange(len(counts)), 10); xt = np.zeros((len(yt), 28, 28, 1), np.uint8)
    for c in range(len(counts)): xt[yt == c, 4 * c:4 * c + 8, 4:20] = 255
    return LTDataset('mnist', 10, 0, x, y, np.arange(len(y)).astype(str), xt, yt, np.arange(len(yt)).astype(str),
                     [str(c) for c in range(len(counts))], list(counts), shot_groups(counts, 'count'), 'count', 'synthetic')


def test_logit_adjust_is_bsce_in_training_and_plain_in_prediction():
    ds = tiny_ds()
    cb = LogitAdjust(1.0)
    learn = Learner(lt_dls(ds, 16, 'uniform', device='cpu'),
                    lenet32(3), loss_func=nn.CrossEntropyLoss(), opt_func=sgd(0.0, 0.0), cbs=[cb])
    seen = {}
    class Spy(LogitAdjust.__mro__[1]):
        order = 70
        def after_pred(self): seen.setdefault(self.training, (self.pred.detach().clone(), self.learn.model(self.xb[0]).detach()))
    learn.add_cb(Spy())
    learn.fit(1, 0.01)
    pred_train, raw = seen[True]
    assert torch.allclose(pred_train - raw, log_prior(ds.counts).expand_as(raw), atol=1e-4)   # shifted by log π while training
    pred_valid, raw_v = seen[False]
    assert torch.allclose(pred_valid, raw_v, atol=1e-5)                                         # untouched at validation


def test_posthoc_adjust_shifts_bias_by_log_prior():
    m = lenet32(3); b0 = m.heads['main'].bias.detach().clone()
    posthoc_adjust(m, [100, 10, 1], tau=0.5)
    assert torch.allclose(m.heads['main'].bias - b0, -0.5 * log_prior([100, 10, 1]))


def test_power_normalisation_flattens_and_distill_loss_is_zero_at_the_teacher():
    z = torch.tensor([[4.0, 1.0, -2.0]])
    v1, v5 = virtual_examples(z, 1, 1), virtual_examples(z, 1, 0.5)
    assert v5[0, 0] < v1[0, 0] and v5[0, 2] > v1[0, 2]
    assert torch.allclose(virtual_examples(z, 3, 0.5), virtual_examples(z, 6, 1.0))      # p = 0.5 doubles τ
    assert distill_loss(z, z, tau=2, p=1.0).abs() < 1e-6 and distill_loss(-z, z, tau=2, p=1.0) > 0.1
    with pytest.raises(ValueError): virtual_examples(z, 0, 1)


def test_distill_callback_mixes_the_two_losses():
    ds = tiny_ds(); torch.manual_seed(0)
    teacher = lenet32(3).eval()
    losses = {}
    for a in (0.0, 1.0):
        torch.manual_seed(1)
        learn = Learner(lt_dls(ds, 16, 'uniform', device='cpu'),
                        lenet32(3), loss_func=nn.CrossEntropyLoss(), opt_func=sgd(0.0, 0.0), cbs=[DistillCallback(teacher, 2.0, 1.0, a)])
        xb, yb = next(iter(learn.dls.train))
        learn.xb, learn.yb, learn.training = (xb,), (yb,), True
        learn('before_fit'); learn.pred = learn.model(xb); learn('after_pred')
        learn.loss_grad = learn.loss_func(learn.pred, yb); learn('after_loss')
        losses[a] = (learn.loss_grad.item(), learn.loss_func(learn.pred, yb).item(), distill_loss(learn.pred, teacher(xb), 2.0, 1.0).item())
    assert abs(losses[0.0][0] - losses[0.0][1]) < 1e-5          # α = 0: plain loss
    assert abs(losses[1.0][0] - losses[1.0][2]) < 1e-5          # α = 1: distillation only
    with pytest.raises(ValueError): DistillCallback(None, alpha=1.5)


def test_virtual_example_smoothing_targets_and_ratio():
    assert ve_ratio(5000, 500, 0) == pytest.approx(0.1) and ve_ratio(500, 50, 0.4) == pytest.approx((50 + 200) / 300)
    for bad in (-0.1, 0.5): 
        with pytest.raises(ValueError): VirtualExampleSmoothing(bad)


def test_shift_targets_and_accuracy():
    q = shift_targets([10, 1000, 100])                 # ranks by count: class 1 is the head
    assert q['forward50'].argmax() == 1 and q['backward50'].argmax() == 0
    assert q['forward50'][1] / q['forward50'][0] == pytest.approx(50)
    y = np.array([0, 1, 2, 2]); logits = torch.tensor([[1., 0, 0], [1., 0, 0], [0, 0, 1.], [0, 1., 0]])
    # per-class accuracy: 1, 0, 0.5
    assert shift_accuracy(logits, y, np.array([0.2, 0.3, 0.5])) == pytest.approx(100 * (0.2 + 0.25))


def test_dive_recipe_trains_its_teacher_and_records_shifts():
    ds = tiny_ds()
    rep, learn = train_lt(ds, 'dive', {'tau': 2.0, 'p': 1.0}, model='lenet32', epochs=1, lr=0.05, schedule='cosine', bs=16, seed=0, device='cpu')
    assert set(rep['extra']) == {'teacher', 'shift'} and 0 <= rep['extra']['teacher']['acc'] <= 100
    assert set(rep['extra']['shift']['uniform']) == {'acc', 'acc_pc'}
    assert rep['extra']['shift']['uniform']['acc'] == pytest.approx(rep['acc'], abs=1e-3)   # uniform target = balanced test
    with pytest.raises(ValueError): get_recipe('dive', {'gamma': 1})


def test_grids_and_labels():
    full = dive_grid()
    assert len({(c.config_id, c.seed) for c in full}) == len(full)
    assert {c.dataset for c in full} == {'cifar10', 'cifar100'} and {c.rho for c in full} == {100, 50, 10}
    fl = dive_flatness_grid()
    assert {(c.n_max, c.rho) for c in fl} == {(5000, 10), (5000, 100), (500, 10)}
    assert dive_label('bsce', {'tau': 0.0}) == 'CE' and dive_label('bsce', {}) == 'BSCE' and dive_label('dive', {}) == 'DiVE'
