"""When the GPU grids have run, do the notebooks' tables and verdicts find their records? Synthetic records, one per
config of each full grid (config fields exactly as the runner writes them, accuracies made up), go through the same
table and verdict functions the notebooks call: no row that the grid is meant to fill may read 'not run'."""
import json, numpy as np, pandas as pd, pytest
from lt_repro.experiments import get_grid

def fake_records(name) -> pd.DataFrame:
    "A record per config of the full grid `name`: the runner's config fields and made-up accuracies."
    rng = np.random.default_rng(0)
    recs = []
    for c in get_grid(name, 'full'):
        r = c.to_dict(); r['config_id'] = c.config_id
        K = 100 if c.dataset == 'cifar100' else 10
        pc = rng.uniform(0, 100, K).round(2).tolist()
        r.update(acc=float(np.mean(pc)), acc_many=pc[0], acc_medium=pc[1], acc_few=pc[-1], per_class_acc=pc)
        recs.append(json.loads(json.dumps(r)))   # through JSON, as records are read back (tuples become lists)
    df = pd.DataFrame(recs)
    df['params_str'] = df['params'].map(lambda p: json.dumps(p, sort_keys=True))
    return df

def test_csa_table2_fills():
    from lt_repro.csa import csa_label, table2, table2_verdict, T2_ROWS
    df = fake_records('csa_table2'); df['row'] = [csa_label(m, p) for m, p in zip(df.method, df.params)]
    assert set(T2_ROWS) <= set(df.row)
    for sch in ('csa', 'one_cycle'):
        t = table2(df, sch)
        assert not (t[[c for c in t if c.endswith('ours')]] == '–').any().any(), t
    v = table2_verdict(df)
    assert 'not run' not in set(v.verdict) | set(v.one_cycle), v

def test_stg_fills():
    from lt_repro.stg import stg_verdicts, table12, table6, table7
    df = pd.concat([fake_records('stg'), fake_records('stg_ablation')], ignore_index=True)
    for d in ('cifar10', 'cifar100'):
        t = table12(df, d)
        assert not t[t.method != 'MiSLAS'].filter(like='ours').isin(['not run']).any().any(), t
    assert not table6(df).ours.eq('not run').any()
    assert not table7(df)[['ours C10', 'ours C100']].iloc[:-1].eq('not run').any().any()
    v = stg_verdicts(df)
    needs_more = v.claim.str.contains('Table 5|Figures 3-4')   # the KL summary comes from a record's `extra`; figures are not judged
    assert not v[~needs_more].verdict.eq('not run').any(), v

def test_auxiliary_fills():
    from lt_repro.auxiliary import aux_label, aux_verdict
    df = fake_records('auxiliary'); df['row'] = [aux_label(m, p) for m, p in zip(df.method, df.params)]
    groups = list(df.groupby(['dataset', 'schedule']))
    assert len(groups) == 4
    for _, d in groups: assert not aux_verdict(d, set(df.row)).verdict.eq('not run').any()   # the claims between the grid's rows (the CPU grid has one more)

def test_resampling_cifar100_fills():
    from lt_repro.resampling import verdict_table, table1
    df = fake_records('resampling_cifar100')
    v = verdict_table(df).set_index('claim')
    assert v.loc['cRT is best and CB-RS worst on CIFAR-100-LT'].verdict != 'not run'
    assert v.loc['Uniform (CE, γ = 0) beats balanced sampling (γ = 1) on CIFAR-100-LT (Figure 1)'].verdict != 'not run'   # γ = 1 found by its params
    assert len(table1(df)) == 3 and len(table1(df, 'one_cycle')) == 3

def test_csa_ablation_fills():
    from lt_repro.csa import csa_label, ablation_table, context_share, ABLATIONS
    df = pd.concat([fake_records('csa_table2'), fake_records('csa_ablation')], ignore_index=True)
    df['row'] = [csa_label(m, p) for m, p in zip(df.method, df.params)]
    t = ablation_table(df)
    assert list(t.variant) == list(ABLATIONS) and not t.effect.eq('not run').any(), t
    assert context_share(df) is not None

def test_context_share_and_effects():
    from lt_repro.csa import ablation_table, context_share
    rows = [dict(dataset='cifar100', rho=100, schedule='csa', row=r, acc=a + s * 0.2) for r, a in
            (('CE', 38.0), ('CSA', 46.0), ('CSA use_context=False', 42.0), ('CSA lam=0.5', 46.1), ('CSA delta=0.5', 44.0)) for s in range(3)]
    df = pd.DataFrame(rows)
    assert abs(context_share(df) - 0.5) < 1e-9   # (46 - 42) / (46 - 38)
    t = ablation_table(df).set_index('variant')
    assert t.loc['CSA lam=0.5', 'effect'] == 'within noise' and t.loc['CSA delta=0.5', 'effect'] == 'hurts'
    assert t.loc['CSA use_context=False', 'vs_CE'].startswith('+4.0') and t.loc['CSA bank_size=256', 'effect'] == 'not run'
    assert context_share(df[df.row != 'CSA use_context=False']) is None
    assert t.loc['CSA use_context=False', 'paper'].startswith('41.2 (Table 4') and t.loc['CSA lam=0.5', 'paper'] == '–'   # appendix D numbers
    assert set(ablation_table(df, dataset='cifar10').paper) == {'–'}   # they are CIFAR-100-LT numbers only

def test_dive_fills():
    from lt_repro.dive import dive_label, verdict
    df = fake_records('dive'); df['row'] = [dive_label(m, p) for m, p in zip(df.method, df.params)]
    rng = np.random.default_rng(1)   # the shifted-test report every main-table record carries (`shift_report`)
    df['extra'] = [{'shift': {n: {'acc': rng.uniform(0, 100), 'acc_pc': rng.uniform(0, 100)} for n in ('forward50', 'uniform', 'backward50')}}
                   for _ in range(len(df))]
    fl = fake_records('dive_flatness')
    fl['train_counts'] = [[c.n_max, int(c.n_max / c.rho)] for c in fl.itertuples()]   # as the runner records them: head, tail
    v = verdict(df, fl)
    assert not v.verdict.eq('not run').any(), v
    assert v.claim.str.startswith('flatness').sum() == 6   # 3 sizes × 2 pairs
    assert set(verdict(df.iloc[:0], fl.iloc[:0]).verdict) == {'not run'}
