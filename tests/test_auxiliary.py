"""CBS+RRS† (+SS†): loss composition, shared forward, heads dropped after training, rotation."""
import numpy as np, pytest, torch, torch.nn as nn
from fastai.learner import Learner
from fastai.callback.core import Callback, CancelFitException
from fastai.data.core import DataLoaders
from lt_repro.auxiliary import AuxiliaryLearning, rotate_batch
from lt_repro.models import lenet2d
from lt_repro.sampling import PairedBatchSampler, ClassAwareSampler
from lt_repro.train import TensorDL, sgd


def learner(cb, bs=16):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), [60, 24, 12]); x = rng.integers(0, 255, (len(y), 28, 28, 1), dtype=np.uint8)
    tr = TensorDL(x, y, bs, PairedBatchSampler(y, bs, ClassAwareSampler(y, Z=2, seed=1), seed=0), seed=0)
    torch.manual_seed(0)
    return Learner(DataLoaders(tr, TensorDL(x[:30], y[:30], 30)), lenet2d(3), loss_func=nn.CrossEntropyLoss(), opt_func=sgd(0.0, 0.0), cbs=[cb])


def test_rotation_labels_are_recoverable():
    x = torch.rand(8, 1, 5, 5); k = torch.arange(8) % 4
    r = rotate_batch(x, k)
    assert all(torch.equal(torch.rot90(r[i], -int(k[i]), (1, 2)), x[i]) for i in range(8))


def test_one_forward_of_the_concatenated_batch_and_no_extra_parameters():
    cb = AuxiliaryLearning((0.5, 1.0, 1.0), drop_aux=True)
    learn = learner(cb)
    assert set(learn.model.heads) == {'main', 'rrs', 'rot'}
    calls = []
    h = learn.model.body.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    learn.fit(1, 0.01)
    h.remove()
    assert 32 in calls and 16 not in calls[:2]           # CBS and RRS halves go through φ together (2 x 16)
    assert list(learn.model.heads) == ['main']
    assert sum(p.numel() for p in learn.model.parameters()) == sum(p.numel() for p in lenet2d(3).parameters())


def test_zero_weight_leaves_a_head_untouched():
    cb = AuxiliaryLearning((1.0, 0.0, 0.0), drop_aux=False)     # CBS-only: h_a gets no gradient
    learn = learner(cb)
    w0 = learn.model.heads['rrs'].weight.detach().clone()
    learn.fit(1, 0.05)
    assert torch.equal(w0, learn.model.heads['rrs'].weight)
    cb2 = AuxiliaryLearning((0.0, 1.0, 0.0), drop_aux=False)    # 0:1 is RRS-only: h gets no gradient, so h_a predicts
    learn2 = learner(cb2)
    m0 = learn2.model.heads['main'].weight.detach().clone(); h_a = learn2.model.heads['rrs']
    learn2.fit(1, 0.05)
    assert learn2.model.heads['main'] is h_a and not torch.equal(m0, h_a.weight)


def test_cbs_only_sends_only_the_cbs_half_through_phi():
    "λ2 = 0 (CBS-only, §4.3's baseline): φ sees B images a step, never the uniform half (nor its BatchNorm statistics)."
    for lam, n in (((1.0, 0.0, 0.0), 16), ((1.0, 0.0, 1.0), 16), ((0.5, 1.0, 0.0), 32)):
        cb = AuxiliaryLearning(lam); learn = learner(cb); calls = []
        h = learn.model.body.register_forward_hook(lambda m, i, o: calls.append(len(i[0])) if learn.training else None)
        learn.fit(1, 0.01); h.remove()
        assert calls and set(calls) == {n}, (lam, set(calls))   # SS†'s rotated pass sees the same images


def test_rotations_follow_the_run_seed():
    "SS†'s rotation stream is seeded from the run's seed (`run_seed`), unless the callback is given its own."
    from lt_repro.train import set_seed
    def first_rotations(seed, cb_seed=None):
        cb = AuxiliaryLearning((0.5, 1.0, 1.0), seed=cb_seed); learn = learner(cb); set_seed(seed); cb('before_fit')
        return torch.randint(0, 4, (64,), generator=cb.g)
    assert torch.equal(first_rotations(1), first_rotations(1)) and not torch.equal(first_rotations(1), first_rotations(2))
    assert torch.equal(first_rotations(1, cb_seed=5), first_rotations(2, cb_seed=5))


def test_rotation_head_runs_in_the_training_precision():
    "Under bf16 autocast (the GPU path) SS†'s rotated pass is bf16 too, like the main pass: it runs before autocast ends."
    from lt_repro.train import BF16
    cb = AuxiliaryLearning((0.5, 1.0, 1.0)); learn = learner(cb); learn.add_cb(BF16())
    dt = {}
    class Peek(Callback):
        order = 30
        def after_loss(self): dt['main'], dt['rot'] = self.learn.pred.dtype, cb.pred_rot.dtype; raise CancelFitException()
    learn.fit(1, 0.01, cbs=[Peek()])
    assert dt == {'main': torch.bfloat16, 'rot': torch.bfloat16}, dt


@pytest.mark.parametrize('lam', [(0, 0, 0), (1, -1, 0), (1, 1)])
def test_bad_lambdas(lam):
    with pytest.raises(ValueError): AuxiliaryLearning(lam)


def test_plain_learner_validates_after_training_and_refuses_late_callbacks():
    "fastai's validate() sends before_fit/after_fit: after training (auxiliary heads dropped) it must still work."
    cb = AuxiliaryLearning((0.5, 1.0, 1.0))
    learn = learner(cb)
    learn.fit(1, 0.01)
    assert list(learn.model.heads) == ['main']
    loss = learn.validate()[0]
    assert np.isfinite(loss) and list(learn.model.heads) == ['main']
    late = learner(AuxiliaryLearning())            # built with its heads ...
    late.model.drop_heads()                        # ... which then go missing before training
    with pytest.raises(RuntimeError, match='auxiliary heads missing'): late.fit(1, 0.01)
