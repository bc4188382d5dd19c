"""`.ci/gpu-session run` on a CPU: the one command a lent GPU machine runs, in a scratch copy of its layout, with the
venv standing in for the wheels (GPU_SITE, PY). What it must get right cannot be seen until GPU time is spent: at most
8 files come back from $OUT (a session lost its run log and fits to that limit), committed runs are skipped, and
only results files the call added to are returned; and `.ci/gpu-import` takes what came back into the tree, once."""
import json, os, shutil, subprocess, sys, tarfile
from pathlib import Path
import fastai, pytest
from lt_repro.data import data_roots

REPO = Path(__file__).resolve().parents[1]


def _session(work: Path, out: Path, *args):
    env = {**os.environ, 'OUT': str(out), 'GPU_SITE': str(Path(fastai.__file__).parents[1]), 'PY': sys.executable,
           'OMP_NUM_THREADS': '1', 'HARD_LIMIT': '300', 'TRACE_TEST': ''}
    out.mkdir()
    return subprocess.run(['bash', str(REPO/'.ci'/'gpu-session'), 'c0ffee', 'run', '240', *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=400)


def _import(work: Path, src: Path, check=True):
    r = subprocess.run(['bash', str(REPO/'.ci'/'gpu-import'), str(src)], cwd=work, env={**os.environ, 'PY': sys.executable},
                       capture_output=True, text=True, timeout=120)
    if check: assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.mark.skipif(not any(r.exists() for r in data_roots()), reason='no data root: MNIST is needed')
def test_gpu_session_returns_only_new_records_and_tars(tmp_path):
    work = tmp_path/'repo'
    (work/'results').mkdir(parents=True); (work/'.carry').mkdir()
    (work/'lt_repro').symlink_to(REPO/'lt_repro')
    (work/'.carry'/'data').symlink_to(next(r for r in data_roots() if r.exists()).resolve())
    (work/'results'/'untouched.jsonl').write_text('{"experiment": "untouched"}\n')   # a committed file no run adds to
    run = ['--experiment', 'gs_test', '--dataset', 'mnist', '--method', 'ce', '--epochs', '1']
    r = _session(work, tmp_path/'out1', *run, '--seeds', '0')
    assert r.returncode == 0, r.stdout + r.stderr
    got = sorted(p.name for p in (tmp_path/'out1').iterdir())
    assert got == ['fits.tar', 'gs_test.jsonl', 'run.log'], got                     # not untouched.jsonl
    assert len(got) <= 8
    with tarfile.open(tmp_path/'out1'/'fits.tar') as t: assert any(n.startswith('fits/') and n.endswith('.pt') for n in t.getnames())
    recs = [json.loads(l) for l in (tmp_path/'out1'/'gs_test.jsonl').read_text().splitlines()]
    assert [(x['method'], x['seed'], x['commit']) for x in recs] == [('ce', 0, 'c0ffee')]
    # back here, `.ci/gpu-import` takes it in: the record into results/, the fits unpacked into .carry/, bench lines appended once
    shutil.rmtree(work/'.carry'/'fits')
    (tmp_path/'out1'/'bench.jsonl').write_text('{"bench": "a"}\n{"bench": "b"}\n')
    (work/'results'/'bench.jsonl').write_text('{"bench": "a"}\n')
    for _ in range(2): _import(work, tmp_path/'out1')                                          # twice: the second adds nothing
    test = [json.loads(l) for l in (work/'results'/'gs_test.jsonl').read_text().splitlines()]
    assert [(x['method'], x['seed']) for x in test] == [('ce', 0)]
    assert (work/'results'/'bench.jsonl').read_text() == '{"bench": "a"}\n{"bench": "b"}\n'
    assert list((work/'.carry'/'fits').glob('*.pt'))
    assert _import(work, tmp_path/'nowhere', check=False).returncode == 2
    # a cold machine: seed 0 is now committed, so the same command trains nothing and returns no results file (none changed)
    shutil.rmtree(work/'.carry'/'results'); shutil.rmtree(work/'.carry'/'fits')
    r = _session(work, tmp_path/'out2', *run, '--seeds', '0')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'ran 0, skipped 1' in (tmp_path/'out2'/'run.log').read_text()
    assert sorted(p.name for p in (tmp_path/'out2').iterdir()) == ['run.log']


def test_gpu_plan_steps_select_configs_and_skip_what_is_recorded(tmp_path, monkeypatch):
    "`.ci/gpu-plan`: every step's arguments are a valid `lt_repro run` selection of GPU configs (a typo would select nothing), and a step whose runs are all recorded is not printed."
    import runpy, contextlib, io
    plan = runpy.run_path(str(REPO/'.ci'/'gpu-plan'), run_name='gpu_plan')
    monkeypatch.setenv('LT_REPRO_RESULTS', str(tmp_path))   # an empty results folder: nothing recorded
    for issue, what, data, args in plan['PLAN']:
        n, rec, rhos = plan['left'](args)
        assert n > 0 and rec == 0, (what, n, rec)
        assert set(rhos) == set(data.split(',')), (what, rhos)   # the archives named are the ones its configs read
    # record every config of step 1 (made-up records in the temporary folder): the plan moves on to step 2
    from lt_repro.cli import _parser, configs_from_args
    from lt_repro.experiments import Registry
    a = _parser().parse_args(['run', *plan['PLAN'][0][3].split()]); a.seeds_given, a.seeds = False, '0,1,2'
    for c in configs_from_args(a): Registry(c.experiment, tmp_path).append(dict(c.to_dict(), config_id=c.config_id, acc=1.0, acc_many=1.0, acc_medium=1.0, acc_few=1.0,
                                                                               per_class_acc=[1.0], train_counts=[1], wall_s=1.0, device='x', commit='x', versions={}, finished_at='x'))
    assert plan['left'](plan['PLAN'][0][3])[:2] == (12, 12)
    out = subprocess.run([sys.executable, str(REPO/'.ci'/'gpu-plan'), '1'], cwd=REPO, env={**os.environ, 'LT_REPRO_RESULTS': str(tmp_path)},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.startswith('step 2 (issue 4)'), out.stdout + out.stderr
