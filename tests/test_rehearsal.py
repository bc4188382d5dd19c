"""The GPU path rehearsed on the CPU: bf16 autocast and channels_last switched on by `cpu_bf16` (LT_REPRO_CPU_BF16), and the
methods of the CIFAR grids training through it (the CIFAR grids have never run on a GPU)."""
import dataclasses, json, pytest, torch
from fastai.callback.core import Callback
from lt_repro.data import get_lt_dataset
from lt_repro.experiments import rehearsal, rehearse, REHEARSAL_N_MAX
from lt_repro.train import lt_learner, fit_lt, gpu_path, BF16, get_grid
import lt_repro.resampling  # noqa: F401  (registers resampling_cifar100)


class Spy(Callback):
    "Record, before `BF16` turns the predictions back to float, their dtype and the input's memory format."
    order = 5
    def after_pred(self):
        if self.training: self.seen = (self.pred.dtype, self.xb[0].is_contiguous(memory_format=torch.channels_last))


@pytest.mark.parametrize('rehearse_on', [False, True])
def test_rehearsal_switches_the_cpu_to_the_gpu_path(monkeypatch, rehearse_on):
    if rehearse_on: monkeypatch.setenv('LT_REPRO_CPU_BF16', '1')
    else: monkeypatch.delenv('LT_REPRO_CPU_BF16', raising=False)
    assert gpu_path('cpu') == rehearse_on
    ds = get_lt_dataset('cifar10', rho=10, n_max=40, classes=[0, 5], n_test=50)   # two classes, 100 test images
    spy = Spy()
    learn = lt_learner(ds, 'resnet32', device='cpu', cbs=[spy])
    assert any(isinstance(c, BF16) for c in learn.cbs) == rehearse_on
    fit_lt(learn, 1, 0.05)
    assert spy.seen == ((torch.bfloat16, True) if rehearse_on else (torch.float32, False))
    assert next(learn.model.parameters()).dtype == torch.float32            # autocast: the weights stay fp32


def test_rehearsal_covers_every_row_and_setting_of_the_full_grid():
    for name in ('stg', 'auxiliary', 'csa_table2', 'dive_flatness'):
        reh, full, ci = rehearsal(name), get_grid(name, 'full'), get_grid(name, 'ci')
        key = lambda c: json.dumps([c.method, c.params], sort_keys=True, default=str)
        assert {key(c) for c in reh} == {key(c) for c in ci}                      # every method row
        sig = lambda c: (c.dataset, c.model, c.schedule, tuple(c.classes or ()))
        assert {sig(c) for c in reh} == {sig(c) for c in full}                    # every dataset/model/schedule/subset
        assert all(c.n_max <= REHEARSAL_N_MAX and c.n_max / c.rho >= 4 and c.seed == 0 for c in reh)
        assert all(c.experiment == f'{name}_rehearsal' for c in reh)              # never a results file's name
    with pytest.raises(ValueError, match='unknown grid'): rehearsal('nope')


def test_methods_train_the_gpu_way_on_cifar(tmp_path):
    """One run per method module on its full grid's dataset, in bf16 + channels_last; cRT+mixup needs no head classes.
    Dtype and layout errors under autocast show in the first steps, so each run is as small as keeps its method whole: the
    first ten classes, at most 16 images a class (the rarest 4), one epoch, 5 test images a class. Small enough for a CPU that emulates bf16 (an
    AVX2 EPYC: x7.7 slower than fp32), where the rehearsal-sized runs took over 30 minutes."""
    tiny = lambda c: dataclasses.replace(c, classes=c.classes or list(range(10)), epochs=1)
    pick = [tiny(next(c for c in rehearsal('csa_table2', n_max=16) if c.dataset == 'cifar100' and c.params.get('mixup_alpha'))),
            tiny(next(c for c in rehearsal('auxiliary', n_max=16) if c.params.get('ss'))),
            tiny(next(c for c in rehearsal('dive', n_max=16) if c.method == 'dive' and c.dataset == 'cifar10')),
            tiny(next(c for c in rehearsal('stg', n_max=16) if c.method == 'crt_mixup' and c.dataset == 'cifar100'))]
    assert all((c.n_max, c.rho, c.epochs, len(c.classes)) == (16, 4.0, 1, 10) for c in pick)   # no class above 100 images: no many-shot group
    df = rehearse(pick, jobs=2, root=tmp_path, progress=False)
    assert df.ok.all(), df.error.tolist()
    assert len(df) == 4 and df.acc.between(0, 100).all()
    recs = [json.loads(l) for f in tmp_path.glob('*_rehearsal.jsonl') for l in f.read_text().splitlines()]
    assert len(recs) == 4 and {r['precision'] for r in recs} == {'bf16'}   # the record says how it was trained
    assert all(r['cams']['shape'] == [8, 8] and r['cams']['classes'] == list(range(10)) for r in recs)   # every method's model gives its Grad-CAM maps (channels_last input, a bf16-trained model)
