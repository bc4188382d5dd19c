"""The paper-setting path of seed 002: split-file datasets, and data-parallel training launched by torchrun (two CPU processes)."""
import json, os, subprocess, sys, textwrap
import numpy as np, pytest, torch
from lt_repro.data import make_synthetic_split, split_lt_dataset, get_lt_dataset, DataMissingError, CorruptDataError
from lt_repro.train import TensorDL, lt_learner, random_resized_crop, center_crop


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    "A synthetic ImageNet-LT folder (30/12/5 training images) and a private decode cache."
    monkeypatch.setenv('LT_REPRO_CACHE', str(tmp_path / 'cache'))
    return make_synthetic_split(tmp_path / 'data', 'imagenet_lt', counts=(30, 12, 5))


def _env(tmp_path, data):
    return dict(os.environ, LT_REPRO_DATA=str(data), LT_REPRO_CACHE=str(tmp_path / 'cache'), OMP_NUM_THREADS='1',
                PYTHONWARNINGS='ignore')


def test_split_dataset_counts_shots_and_clear_errors(synthetic):
    ds = get_lt_dataset('imagenet_lt', rho=6, root=synthetic)
    assert ds.counts == [30, 12, 5] and ds.rho == 6 and ds.x_train.shape == (47, 256, 256, 3)
    assert list(ds.shots) == ['medium', 'few', 'few'] and ds.source.startswith('imagenet_lt-split:')
    with pytest.raises(ValueError, match='rho=6'): get_lt_dataset('imagenet_lt', rho=100, root=synthetic)
    (synthetic / 'ImageNet_LT_test.txt').write_text('test/c000/0.jpg zero\n')
    with pytest.raises(CorruptDataError, match="expected 'path label'"): split_lt_dataset('imagenet_lt', root=synthetic, size=32)
    (synthetic / 'train/c001/3.jpg').unlink()
    with pytest.raises(DataMissingError, match='3.jpg'): split_lt_dataset('imagenet_lt', root=synthetic, size=32)
    with pytest.raises(DataMissingError, match='Places_LT_train.txt'): split_lt_dataset('places_lt', root=synthetic)


def test_imagenet_augmentation_and_test_crop_shapes(synthetic):
    ds = get_lt_dataset('imagenet_lt', rho=6, root=synthetic)
    learn = lt_learner(ds, sampler={'name': 'paired'}, bs=8, device='cpu')
    X, Y = learn.dls.train.one_batch()
    assert X.shape == (2, 8, 3, 224, 224) and Y.shape == (2, 8)
    xt, _ = learn.dls.valid.one_batch()
    assert xt.shape == (12, 3, 224, 224)
    raw = torch.as_tensor(np.array(ds.x_test[:1])).permute(0, 3, 1, 2).float() / 255     # the test transform is deterministic
    mean, std = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1), torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    assert torch.allclose(xt[:1], (center_crop(raw, 224) - mean) / std, atol=1e-5)
    assert type(learn.model.body[4][0]).__name__ == 'BasicBlock' and learn.model.feat_dim == 512   # ResNet-10 by default


def test_shards_of_a_global_batch_are_disjoint_and_cover_it():
    y = np.repeat(np.arange(4), [40, 20, 10, 5]); x = np.zeros((len(y), 4, 4, 1), np.uint8)
    from lt_repro.sampling import ClassAwareSampler
    whole = [b for _, b in TensorDL(x, y, bs=16, order=ClassAwareSampler(y, seed=1), seed=5)]
    parts = [[b for _, b in TensorDL(x, y, bs=16, order=ClassAwareSampler(y, seed=1), seed=5, shard=(r, 2))] for r in (0, 1)]
    assert len(parts[0]) == len(whole)
    for w, a, b in zip(whole, *parts): assert torch.equal(torch.cat([a, b]), w) and len(a) == 8


def _torchrun(tmp_path, args, data, timeout=600):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2'] + args
    return subprocess.run(cmd, env=_env(tmp_path, data), capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


def test_two_processes_train_cbs_rrs_ss_and_write_one_record(tmp_path, synthetic):
    r = _torchrun(tmp_path, ['-m', 'lt_repro.cli', 'run', '--experiment', 'ddp', '--dataset', 'imagenet_lt', '--rho', '6',
                             '--method', 'cbs_rrs', '--params', '{"ss": true}', '--epochs', '1', '--batch-size', '16',
                             '--seeds', '0', '--results', str(tmp_path / 'res')], synthetic)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    recs = [json.loads(l) for l in (tmp_path / 'res' / 'ddp.jsonl').read_text().splitlines()]
    assert len(recs) == 1                                              # rank 0 writes; rank 1 does not
    assert recs[0]['processes'] == 2 and recs[0]['batch_size'] == 16 and recs[0]['model'] == 'default'
    assert recs[0]['train_counts'] == [30, 12, 5] and 0 <= recs[0]['acc'] <= 100
    assert r.stdout.count('ran 1, skipped 0') == 1                     # one summary line, from rank 0


def test_weights_that_drift_apart_are_an_error(tmp_path, synthetic):
    script = tmp_path / 'drift.py'
    script.write_text(textwrap.dedent("""
        import torch
        from fastai.callback.core import Callback
        from fastai.torch_core import rank_distrib
        from lt_repro.data import get_lt_dataset
        from lt_repro.train import lt_learner, fit_lt, GradAverage
        class Nudge(Callback):   # updates the weights outside the averaged step, in one process only
            def after_step(self):
                if rank_distrib() == 1:
                    with torch.no_grad(): next(self.model.parameters()).add_(0.01)
        ds = get_lt_dataset('imagenet_lt', rho=6)
        learn = lt_learner(ds, model='resnet10', bs=16, device='cpu', cbs=[Nudge()])
        assert any(isinstance(c, GradAverage) for c in learn.cbs)
        try: fit_lt(learn, 1, 0.01, 'cosine')
        except RuntimeError as e: print('CAUGHT', rank_distrib(), e)
    """))
    r = _torchrun(tmp_path, [str(script)], synthetic)
    assert r.returncode == 0, r.stderr[-4000:]
    assert r.stdout.count('CAUGHT') == 2 and 'weights differ across the 2 processes' in r.stdout
