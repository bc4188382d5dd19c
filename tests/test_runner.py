"""The record format, resume/skip, crash safety and bad configs of the runner and registry."""
import sys, json, numpy as np, pytest, torch
from lt_repro.experiments import Config, Registry, run_grid, grid, method_rows, load_results, summarise, REQUIRED_FIELDS
from lt_repro.train import crop_flip, SCHEDULES, TensorDL, get_recipe, cam_maps
from lt_repro.models import resnet32, lenet2d
from lt_repro.data import MNIST_CI

BASE = dict(experiment='t', dataset='mnist', schedule='cosine', epochs=1, mom=0.0, wd=0.0)
SMALL = dict(BASE, **MNIST_CI)   # for tests of plumbing, not of learning: the MNIST-LT of CI (largest class 500, 100 test images a class)


def test_record_format_and_skip(tmp_path):
    cfgs = grid(BASE, seeds=(0,), method=['ce', 'qpower'])
    r = run_grid(cfgs, root=tmp_path, device='cpu', progress=False)
    assert r['ran'] == 2 and r['failed'] == 0
    recs = [json.loads(l) for l in (tmp_path / 't.jsonl').read_text().splitlines()]
    assert len(recs) == 2
    for rec in recs:
        assert set(REQUIRED_FIELDS) <= set(rec)
        assert 0 <= rec['acc'] <= 100 and len(rec['per_class_acc']) == 10 and rec['train_counts'][0] == 5923
        assert rec['versions']['torch'] == torch.__version__ and rec['device'].startswith('cpu')
        assert len(rec['head_norms']) == 10 and min(rec['head_norms']) > 0   # per-class classifier norms
        assert rec['cams']['classes'] == list(range(10)) and cam_maps(rec['cams']).shape[0] == 10   # Grad-CAM maps of the final model
        assert rec['precision'] == 'fp32'                              # a CPU outside `cpu_bf16`
    assert recs[0]['acc'] > 15                                  # above chance (10%) after one epoch
    again = run_grid(cfgs, root=tmp_path, device='cpu', progress=False)
    assert again['ran'] == 0 and again['skipped'] == 2
    forced = run_grid(cfgs[:1], root=tmp_path, device='cpu', progress=False, force=True)
    assert forced['ran'] == 1 and len(Registry('t', tmp_path).records()) == 3   # appended, never rewritten


def test_grid_rows_vary_together_and_repeats_are_dropped():
    cfgs = grid(BASE, (0, 1), method_rows(('ce', {}), ('qpower', {'q': 0.5}), ('ce', {})), dataset=['mnist', 'fashion'])
    assert len(cfgs) == 2 * 2 * 2                                   # the repeated CE row is one config
    assert {(c.dataset, c.method, c.params.get('q'), c.seed) for c in cfgs} == {
        (d, m, q, s) for d in ('mnist', 'fashion') for m, q in (('ce', None), ('qpower', 0.5)) for s in (0, 1)}
    assert all(c.params == {} for c in cfgs if c.method == 'ce')  # a row's params never leak into another row


def test_later_fields_keep_old_config_ids():
    c = Config('t', 'cifar10', rho=10)
    assert c.config_id == Config('t', 'cifar10', rho=10, classes=None, n_max=None).config_id
    assert c.config_id != Config('t', 'cifar10', rho=10, classes=[0, 5], n_max=5000).config_id
    with pytest.raises(ValueError): Config('t', 'cifar10', classes=[3, 3])
    with pytest.raises(ValueError): Config('t', 'cifar10', n_max=0)
    m = Config('t', 'cmnist', 'crt')
    assert m.config_id == Config('t', 'cmnist', 'crt', draw=None).config_id != Config('t', 'cmnist', 'crt', draw='csa').config_id
    with pytest.raises(ValueError, match="draw must be"): Config('t', 'mnist', draw='official')
    with pytest.raises(ValueError, match="mnist, fashion or cmnist"): Config('t', 'cifar10', draw='csa')
    with pytest.raises(ValueError, match="mnist, fashion or cmnist"): Config('t', 'mnist', draw='csa', n_max=500)


def test_crash_leaves_no_record(tmp_path):
    bad = Config('t', 'mnist', 'crt', {'epochs': 1, 'schedule': 'nope'}, epochs=1, schedule='cosine')
    r = run_grid([bad], root=tmp_path, device='cpu', progress=False)
    assert r['failed'] == 1 and not (tmp_path / 't.jsonl').exists()


def test_parallel_workers_append_complete_lines(tmp_path):
    cfgs = grid(SMALL, seeds=(0, 1), method=['ce'])
    r = run_grid(cfgs, root=tmp_path, device='cpu', jobs=2, progress=False)
    assert r['ran'] == 2
    assert sorted(x['seed'] for x in Registry('t', tmp_path).records()) == [0, 1]


@pytest.mark.parametrize('bad, msg', [
    (dict(method='focal'), 'unknown method'), (dict(dataset='svhn'), 'unknown dataset'), (dict(epochs=0), 'epochs'),
    (dict(schedule='step'), 'unknown schedule'), (dict(method='cbrs', params={'q': 1}), 'bad parameters'),
    (dict(rho=0.5), 'rho'), (dict(model='vit'), 'unknown model'), (dict(experiment='a b'), 'experiment')])
def test_bad_configs(bad, msg):
    with pytest.raises(ValueError, match=msg): Config.from_dict(dict(BASE, **bad))


def test_missing_and_unknown_fields():
    with pytest.raises(ValueError, match='missing required'): Config.from_dict({'experiment': 'x'})
    with pytest.raises(ValueError, match='unknown config fields'): Config.from_dict(dict(BASE, lr_max=1))


def test_registry_rejects_partial_records(tmp_path):
    with pytest.raises(ValueError, match='missing fields'): Registry('t', tmp_path).append({'acc': 1.0})
    (tmp_path / 'u.jsonl').write_text('{"a": 1}\n{broken\n')
    with pytest.raises(ValueError, match='not a JSON record'): Registry('u', tmp_path).records()


def test_summarise_mean_std(tmp_path):
    for s, a in [(0, 60.0), (1, 62.0), (2, 64.0)]:
        c = Config.from_dict(dict(BASE, seed=s))
        Registry('t', tmp_path).append(dict(c.to_dict(), config_id=c.config_id, acc=a, acc_many=1., acc_medium=1., acc_few=1.,
                                            per_class_acc=[], train_counts=[], wall_s=0, device='x', commit='x', versions={}, finished_at='x'))
    s = summarise(load_results('t', tmp_path))
    assert s.acc_mean.item() == 62.0 and s.acc_std.item() == pytest.approx(2.0) and s.n.item() == 3


def test_crop_flip_matches_reference():
    x = torch.arange(3 * 6 * 6, dtype=torch.float32).view(1, 3, 6, 6).repeat(50, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    out = crop_flip(x, pad=2, generator=g)
    xp = torch.nn.functional.pad(x[0], (2, 2, 2, 2))
    crops = {tuple(xp[:, i:i + 6, j:j + 6].flatten().tolist()) for i in range(5) for j in range(5)}
    crops |= {tuple(xp[:, i:i + 6, j:j + 6].flip(-1).flatten().tolist()) for i in range(5) for j in range(5)}
    assert all(tuple(o.flatten().tolist()) in crops for o in out)
    assert len({tuple(o.flatten().tolist()) for o in out}) > 10     # and they vary


def test_schedules():
    assert SCHEDULES['ldam'](161, 200) == 0.01 and SCHEDULES['csa'](181, 200) == 0.01 and SCHEDULES['ldam'](0, 200) == 0.2
    dive = [SCHEDULES['dive'](e, 200) for e in range(200)]   # BBN's: x0.01 at each of the 120th and 160th epochs (1-based), warm-up from 1/3
    assert dive[0] == pytest.approx(7 / 15) and dive[4] == dive[118] == 1.0 and dive[119] == 0.01 and dive[159] == pytest.approx(1e-4)


def test_models():
    assert sum(p.numel() for p in resnet32(10).parameters()) == 464154
    m = lenet2d(10); assert m.features(torch.zeros(2, 1, 28, 28)).shape == (2, 2)


def test_tensordl_rejects_bad_input():
    with pytest.raises(ValueError, match='uint8'): TensorDL(np.zeros((4, 8, 8, 1), np.float32), [0, 1, 2, 3])
    with pytest.raises(ValueError, match='labels'): TensorDL(np.zeros((4, 8, 8, 1), np.uint8), [0, 1])


def test_crt_trains_without_stage1_mixup(monkeypatch):
    import lt_repro.train as T
    from lt_repro.data import get_lt_dataset
    seen, real = [], T.fit_lt
    def spy(learn, *a, **k):
        seen.append(sorted(type(c).__name__ for c in learn.cbs)); return real(learn, *a, **k)
    monkeypatch.setattr(T, 'fit_lt', spy)
    ds = get_lt_dataset('mnist', 100, 0, **MNIST_CI)
    T.train_lt(ds, 'crt', {'epochs': 1, 'mixup': 0.4}, epochs=1, lr=0.1, schedule='cosine', mom=0.0, wd=0.0, device='cpu')
    assert 'MixUp' in seen[0] and 'MixUp' not in seen[1] and 'FrozenBody' not in seen[0]

def test_crt_bn_mode_keeps_or_reestimates_the_frozen_body_statistics():
    "cRT freezes φ's weights either way; with bn='eval' its BatchNorm statistics stay the main fit's, with bn='train' (the decoupling code) they are re-estimated on the balanced batches."
    from lt_repro.data import get_lt_dataset
    from lt_repro.train import train_lt, crt
    ds = get_lt_dataset('mnist', 10, 0, n_max=40, n_test=50)
    _, learn = train_lt(ds, 'ce', model='resnet32', epochs=1, lr=0.1, schedule='cosine', bs=32, seed=0, device='cpu')
    stats = lambda: [b.clone() for n, b in learn.model.body.named_buffers() if n.endswith(('running_mean', 'running_var'))]
    weights = lambda: [p.clone() for p in learn.model.body.parameters()]
    s0, w0 = stats(), weights()
    crt(learn, ds, epochs=1, lr=0.1)
    assert all(torch.equal(a, b) for a, b in zip(s0, stats()))
    crt(learn, ds, epochs=1, lr=0.1, bn='train')
    assert not any(torch.equal(a, b) for a, b in zip(s0, stats())) and all(torch.equal(a, b) for a, b in zip(w0, weights()))
    assert all(p.requires_grad for p in learn.model.body.parameters())              # unfrozen again after the stage
    with pytest.raises(ValueError, match='bn must be'): get_recipe('crt', {'bn': 'frozen'})


def test_fit_cache_shares_first_stages_and_changes_nothing(tmp_path, monkeypatch):
    "cRT+mixup loads the mixup row's fit, DiVE's teacher the BSCE row's; every record equals the one trained without sharing."
    import lt_repro.dive  # noqa: F401
    from lt_repro.train import FitCache
    monkeypatch.setenv('LT_REPRO_COMMIT', 'test-commit')
    base = dict(experiment='fc', dataset='mnist', **MNIST_CI, model='lenet32', schedule='cosine', epochs=1, mom=0.0, wd=0.0)
    cfgs = grid(base, (0,), method_rows(('bsce', {}), ('dive', {}), ('mixup', {}), ('crt', {'epochs': 1, 'mixup': 1.0})))
    run_grid(cfgs, root=tmp_path / 'plain', device='cpu', progress=False)
    r = run_grid(cfgs, root=tmp_path / 'shared', device='cpu', progress=False, fit_cache=tmp_path / 'fits')
    assert r['ran'] == 4 and r['failed'] == 0
    a = {x['method']: x for x in Registry('fc', tmp_path / 'plain').records()}
    b = {x['method']: x for x in Registry('fc', tmp_path / 'shared').records()}
    assert 'fit_cache' not in a['bsce']
    assert b['bsce']['fit_cache']['hit'] is False and b['mixup']['fit_cache']['hit'] is False
    assert b['crt']['fit_cache']['hit'] is True and b['crt']['fit_cache']['key'] == b['mixup']['fit_cache']['key']
    assert b['dive']['extra']['teacher']['fit_cache'] == dict(key=b['bsce']['fit_cache']['key'], hit=True, commit='test-commit')
    for m in a: assert a[m]['per_class_acc'] == b[m]['per_class_acc'], m     # sharing a fit changes no result
    monkeypatch.setenv('LT_REPRO_COMMIT', 'another-commit')                 # a later commit, the same lt_repro/ code: the fit is shared
    run_grid(cfgs[:1], root=tmp_path / 'third', device='cpu', progress=False, fit_cache=tmp_path / 'fits')
    third = Registry('fc', tmp_path / 'third').records()[0]
    assert third['fit_cache']['hit'] is True and third['fit_cache']['commit'] == 'test-commit' and third['commit'] == 'another-commit'
    import lt_repro.train as T
    monkeypatch.setattr(T, 'code_hash', lambda: 'other-code')             # other code: other keys, trained again
    run_grid(cfgs[:1], root=tmp_path / 'fourth', device='cpu', progress=False, fit_cache=tmp_path / 'fits')
    assert Registry('fc', tmp_path / 'fourth').records()[0]['fit_cache']['hit'] is False
    with pytest.raises(ValueError, match='commit first'): FitCache(tmp_path, 'abc123+dirty')


def test_time_limit_starts_no_run_past_it(tmp_path):
    cfgs = grid(SMALL, seeds=(0, 1, 2), method=['ce'])
    none = run_grid(cfgs, root=tmp_path, device='cpu', progress=False, time_limit=1e-9)
    assert (none['ran'], none['not_started']) == (0, 3) and not (tmp_path / 't.jsonl').exists()
    first = run_grid(cfgs[:1], root=tmp_path, device='cpu', progress=False, time_limit=600)
    rest = run_grid(cfgs, root=tmp_path, device='cpu', jobs=2, progress=False, time_limit=600)
    assert (first['ran'], rest['ran'], rest['skipped'], rest['not_started']) == (1, 2, 1, 0)
    with pytest.raises(ValueError, match='time_limit'): run_grid(cfgs, root=tmp_path, device='cpu', progress=False, time_limit=0)


def test_next_run_passes_over_a_run_that_would_wait_on_another_runs_fit():
    "With `fit_cache` and several workers, a queued run whose main fit a run in flight is training would only hold a worker on that fit's lock: the first run that need not wait starts instead; the waiting one still starts when nothing else can, and the time limit comes first."
    from lt_repro.experiments import _next_index
    b2, b0, b1 = grid(SMALL, seeds=(2, 0, 1), method=['crt'])   # queue order: seed 2's fit is being trained by a run in flight
    waits, always = (lambda c: c.seed == 2), (lambda c: True)
    assert _next_index([b2, b0, b1], always, waits) == 1
    assert _next_index([b2], always, waits) == 0                                  # nothing else to start: it starts (and waits)
    assert _next_index([b2, b0], lambda c: c.seed == 2, waits) == 0               # the only one inside the time limit
    assert _next_index([b2, b0], lambda c: False, waits) is None
    assert _next_index([b0, b2], always, lambda c: False) == 0                    # no fit in flight: queue order

def _walls(monkeypatch, walls: dict):
    "Make `run_grid`'s runs real but recorded as if each method took `walls[method]` seconds (what its time limit reads)."
    import lt_repro.experiments as E
    real = E._run_safe
    def fake(cfg_dict, *a):
        rec, err = real(cfg_dict, *a)
        if rec and rec['method'] in walls: rec['wall_s'] = float(walls[rec['method']])
        return rec, err
    monkeypatch.setattr(E, '_run_safe', fake)


def test_time_limit_passes_over_a_long_run_for_shorter_ones(tmp_path, monkeypatch):
    "Expected times are per config: after a long CE, a short q-power still starts; CE's second seed does not."
    _walls(monkeypatch, {'ce': 1000, 'qpower': 1})
    q0, q1, c0, c1 = grid(SMALL, seeds=(0, 1), method=['qpower', 'ce'])
    r = run_grid([q0, c0, c1, q1], root=tmp_path, device='cpu', progress=False, time_limit=500)
    assert (r['ran'], r['not_started']) == (3, 1)
    assert sorted((x['method'], x['seed']) for x in Registry('t', tmp_path).records()) == [('ce', 0), ('qpower', 0), ('qpower', 1)]


def test_time_limit_expects_a_cached_fit_to_cost_only_its_later_stages(tmp_path, monkeypatch):
    "cRT after CE's fit (shared through `fit_cache`) is expected to take CE's time × its re-training epochs / CE's epochs."
    monkeypatch.setenv('LT_REPRO_COMMIT', 'test-commit')
    _walls(monkeypatch, {'ce': 600})   # > the limit: anything expected to take as long as CE does not start
    base = dict(SMALL, epochs=2)
    ce, short, long_ = grid(base, (0,), method_rows(('ce', {}), ('crt', {'epochs': 1}), ('crt', {'epochs': 4})))
    r = run_grid([ce, short, long_], root=tmp_path, device='cpu', progress=False, time_limit=500, fit_cache=tmp_path / 'fits')
    recs = Registry('t', tmp_path).records()
    assert (r['ran'], r['not_started']) == (2, 1) and [x['params'] for x in recs if x['method'] == 'crt'] == [{'epochs': 1}]   # 600·1/2 < 500 < 600·4/2
    assert [x['fit_cache']['hit'] for x in recs] == [False, True]
    none = run_grid([short], root=tmp_path / 'nocache', device='cpu', progress=False, time_limit=500, force=True)
    assert none['ran'] == 1   # the first run of a grid always starts (nothing measured yet)


def test_snapshot_resumes_in_a_worker_process(tmp_path, monkeypatch):
    "A fit killed after epoch 2 of 3 leaves a snapshot; a 2-process grid, at a later commit with the same code, resumes it in a spawned worker and ends exactly as a fit never stopped."
    from lt_repro.train import killed_after
    monkeypatch.setenv('LT_REPRO_COMMIT', 'test-commit')   # spawned workers inherit it: the same snapshot keys
    base = dict(experiment='snap', dataset='mnist', **MNIST_CI, schedule='cosine', epochs=3, mom=0.9, wd=5e-4)
    cfgs = grid(base, seeds=(0, 1), rows=method_rows(('cbrs', {'epoch': 'dataset'})))
    run_grid(cfgs, root=tmp_path / 'plain', device='cpu', jobs=2, progress=False)   # workers run 1 thread each: so does the killed part
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        with killed_after('cbrs', 2): killed = run_grid(cfgs[:1], root=tmp_path / 'snap', device='cpu', progress=False, snapshots=tmp_path / 's', snapshot_every=1)
    finally: torch.set_num_threads(threads)
    assert (killed['ran'], killed['failed']) == (0, 1) and len(list((tmp_path / 's').glob('*.snap.pt'))) == 1
    from lt_repro.train import Snapshots
    assert Snapshots.progress(tmp_path / 's') == {Snapshots.run_id(cfgs[0]): 2 / 3}   # the note beside it: whose run, how far
    from lt_repro.train import method_code_hash
    assert json.loads(next((tmp_path / 's').glob('*.snap.json')).read_text())['code'] == method_code_hash('cbrs')   # and by which code
    monkeypatch.setenv('LT_REPRO_COMMIT', 'later-commit')   # a later commit with the same lt_repro/ code still resumes
    r = run_grid(cfgs, root=tmp_path / 'snap', device='cpu', jobs=2, progress=False, snapshots=tmp_path / 's', snapshot_every=1)
    assert r['ran'] == 2 and not list((tmp_path / 's').glob('*.snap.*'))   # snapshot and note cleared once the fit ends
    a = {x['seed']: x for x in Registry('snap', tmp_path / 'plain').records()}
    b = {x['seed']: x for x in Registry('snap', tmp_path / 'snap').records()}
    rf = b[0]['resumed_from']
    assert (rf['epoch'], rf['commit']) == (2, 'test-commit') and b[0]['commit'] == 'later-commit' and 'resumed_from' not in b[1]
    assert 0 < rf['train_s'] < b[0]['train_s']   # the first part's fit time, counted in the record's train_s
    for s in (0, 1): assert a[s]['per_class_acc'] == b[s]['per_class_acc'], s

RUNNER = """
import os, sys, time, concurrent.futures as cf, multiprocessing as mp
from lt_repro.experiments import _worker_init
if __name__ == '__main__':
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context('spawn'), initializer=_worker_init, initargs=(1, os.getpid())) as ex:
        print(ex.submit(os.getpid).result(), flush=True)   # the worker's pid; then the worker idles, waiting for work
        time.sleep(120)
"""

@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='PR_SET_PDEATHSIG is Linux-only')
def test_killed_runner_leaves_no_worker(tmp_path):
    "A runner killed with SIGKILL (no chance to clean up) takes its pool workers with it: no orphan trains on."
    import subprocess, signal, time, os
    (tmp_path/'runner.py').write_text(RUNNER)
    import lt_repro   # the runner imports the same package as this test
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(lt_repro.__file__)), os.environ.get('PYTHONPATH', '')]))
    p = subprocess.Popen([sys.executable, str(tmp_path/'runner.py')], stdout=subprocess.PIPE, text=True, env=env)
    worker = int(p.stdout.readline())
    def alive(pid):   # running, not a zombie waiting to be reaped
        try: return open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z'
        except FileNotFoundError: return False
    assert alive(worker)
    p.send_signal(signal.SIGKILL); p.wait()
    for _ in range(100):
        if not alive(worker): break
        time.sleep(0.1)
    assert not alive(worker), 'the pool worker outlived its runner'

def test_code_hash_follows_code_not_prose(tmp_path):
    "Fits and snapshots are keyed by `code_hash`: a docstring, a comment, a blank line or nbdev's index changes nothing; a changed statement changes it."
    import shutil, lt_repro
    from pathlib import Path
    from lt_repro.train import code_hash
    src = Path(lt_repro.__file__).parent
    for p in src.glob('*.py'): shutil.copy(p, tmp_path/p.name)
    h0 = code_hash(tmp_path)
    assert h0 == code_hash()
    t = tmp_path/'train.py'; s = t.read_text()
    t.write_text(s.replace('"Freeze `model.body` during fit:', '"Freeze φ (`model.body`) during fit:', 1)
                 .replace('# the official `epoch + 1 > ms` on 0-based epochs', '# as the official code', 1) + '\n\n# a trailing comment\n')
    (tmp_path/'_modidx.py').write_text('d = {}\n')
    assert t.read_text() != s and code_hash(tmp_path) == h0
    t.write_text(s.replace('if e >= round(ms * s): m = g', 'if e > round(ms * s): m = g', 1))
    assert t.read_text() != s and code_hash(tmp_path) != h0

def test_snapshots_are_keyed_by_the_code_their_method_runs(tmp_path):
    "A run's snapshots are keyed by `method_code_hash`: the core modules and its method's module; a changed statement in another method's module (or in a table function) leaves them usable, one in its own module or in the trainer does not."
    import shutil, lt_repro, lt_repro.csa
    from pathlib import Path
    from lt_repro.train import code_hash, method_code_hash
    for p in Path(lt_repro.__file__).parent.glob('*.py'): shutil.copy(p, tmp_path/p.name)
    csa0, ce0, all0 = method_code_hash('csa', tmp_path), method_code_hash('ce', tmp_path), code_hash(tmp_path)
    assert len({csa0, ce0, all0}) == 3 and method_code_hash('no-such-method', tmp_path) == all0   # unknown: every module counts
    def edit(name, old, new):
        f = tmp_path/name; s = f.read_text(); assert old in s; f.write_text(s.replace(old, new, 1))
    edit('resampling.py', "OFFICIAL_SHOTS = {100: (36, 71)}", "OFFICIAL_SHOTS = {100: (35, 70)}")
    assert code_hash(tmp_path) != all0 and (method_code_hash('csa', tmp_path), method_code_hash('ce', tmp_path)) == (csa0, ce0)
    edit('csa.py', "def __init__(self, delta=0.8,", "def __init__(self, delta=0.9,")
    assert method_code_hash('csa', tmp_path) != csa0 and method_code_hash('ce', tmp_path) == ce0
    edit('train.py', "if e >= round(ms * s): m = g", "if e > round(ms * s): m = g")
    assert method_code_hash('ce', tmp_path) != ce0


def test_time_limit_resumes_snapshotted_runs_first_and_expects_only_their_rest(tmp_path, monkeypatch):
    "Runs whose snapshots note their progress start first (furthest along first), and are expected to take only the part left: a nearly done run fits where a fresh one does not."
    import json
    from lt_repro.train import Snapshots
    monkeypatch.setenv('LT_REPRO_COMMIT', 'test-commit')
    _walls(monkeypatch, {'ce': 600})
    a, b, c = grid(dict(SMALL, epochs=1), (0, 1, 2), method_rows(('ce', {})))
    snaps = tmp_path / 's'; snaps.mkdir()
    for name, cfg, ep in (('x', b, 19), ('y', c, 18)):   # notes of two runs 95 % and 90 % through a 20-epoch fit (their snapshots' keys match nothing here: they train afresh)
        (snaps / f'{name}.snap.pt').write_bytes(b'')
        (snaps / f'{name}.snap.json').write_text(json.dumps(dict(run=Snapshots.run_id(cfg), epoch=ep, n_epoch=20)))
    assert Snapshots.progress(snaps) == {Snapshots.run_id(b): 0.95, Snapshots.run_id(c): 0.9}
    r = run_grid([a, b, c], root=tmp_path, device='cpu', progress=False, time_limit=500, snapshots=snaps)
    assert (r['ran'], r['not_started']) == (2, 1)                                                     # b (600 s measured), then c (expected 600 × 0.1), not a (600)
    assert [x['seed'] for x in Registry('t', tmp_path).records()] == [1, 2]


def test_progress_passes_over_notes_of_other_code(tmp_path):
    "A snapshot note written by other code (its `method_code_hash` differs from today's) does not count as progress: its snapshot's key no longer matches, so the run starts afresh and must not be put first nor expected short. A note without a code is kept."
    import json
    from lt_repro.train import Snapshots, method_code_hash
    a, b, c = grid(dict(SMALL, epochs=1), (0, 1, 2), method_rows(('ce', {})))
    now = method_code_hash('ce')
    for name, cfg, code in (('x', a, now), ('y', b, 'old0123456789ab'), ('z', c, None)):
        (tmp_path / f'{name}.snap.pt').write_bytes(b'')
        (tmp_path / f'{name}.snap.json').write_text(json.dumps(dict(run=Snapshots.run_id(cfg), epoch=5, n_epoch=10, code=code)))
    codes = {Snapshots.run_id(x): now for x in (a, b, c)}
    assert Snapshots.progress(tmp_path, codes) == {Snapshots.run_id(a): 0.5, Snapshots.run_id(c): 0.5}
    assert len(Snapshots.progress(tmp_path)) == 3   # without codes: every note
