"Seed 001 §2 helpers: each dataset is judged on its own paper schedule (CIFAR-100-LT: csa), and the CPU-budget grid."
import json
import numpy as np, pandas as pd
from lt_repro.resampling import (verdict_table, table1, judge_claim, resampling_cifar100_grid, resampling_cifar100_cpu_grid, PAPER_SCHEDULE,
                                 plot_gamma)

def _records(dataset, schedule, accs: dict, seeds=(0, 1, 2), K=100):
    "Fake per-seed records: method -> mean accuracy, with a ±0.5 spread over seeds."
    rows = []
    for m, a in accs.items():
        for s in seeds:
            acc = a + (s - 1) * 0.5
            rows.append(dict(dataset=dataset, schedule=schedule, method=m, seed=s, params={}, epochs=20, acc=acc, acc_many=acc, acc_medium=acc,
                             acc_few=acc, per_class_acc=[acc] * K))
    return pd.DataFrame(rows)

CLAIM = 'cRT is best and CB-RS worst on CIFAR-100-LT'

def test_cifar100_is_judged_on_its_own_schedule():
    assert PAPER_SCHEDULE['cifar100'] == 'csa' and PAPER_SCHEDULE['mnist'] == 'cosine'
    assert {c.schedule for c in resampling_cifar100_grid()} == {'csa', 'one_cycle'}
    df = pd.concat([_records('cifar100', 'csa', {'ce': 39.0, 'crt': 42.0, 'cbrs': 34.0}),
                    _records('cifar100', 'one_cycle', {'ce': 40.0, 'crt': 43.0, 'cbrs': 35.0})])
    v = verdict_table(df).set_index('claim').loc[CLAIM]
    assert v.verdict == 'reproduced', v
    assert 'crt−ce all +3.0' in v.ours
    t = table1(df)   # the paper schedule: csa for CIFAR-100-LT
    assert list(t.method) == ['Uniform (CE)', 'cRT', 'CB-RS'] and t['All paper'].tolist() == ['39.1', '41.6', '34.1']
    assert t.All.iloc[0].startswith('39.0')
    # a reversal on the paper's schedule is 'not', whatever one-cycle says
    rev = pd.concat([_records('cifar100', 'csa', {'ce': 39.0, 'crt': 42.0, 'cbrs': 45.0}),
                     _records('cifar100', 'one_cycle', {'ce': 40.0, 'crt': 43.0, 'cbrs': 35.0})])
    assert verdict_table(rev).set_index('claim').loc[CLAIM].verdict == 'not'
    # one-cycle failing beyond noise makes it 'partly', and says so
    part = pd.concat([_records('cifar100', 'csa', {'ce': 39.0, 'crt': 42.0, 'cbrs': 34.0}),
                      _records('cifar100', 'one_cycle', {'ce': 40.0, 'crt': 39.0, 'cbrs': 35.0})])
    v = verdict_table(part).set_index('claim').loc[CLAIM]
    assert v.verdict == 'partly' and '(one_cycle: fails)' in v.ours

def test_cpu_budget_rows():
    full = resampling_cifar100_cpu_grid()
    g = [c for c in full if c.schedule == 'one_cycle']
    assert len(g) == 21 and {c.seed for c in g} == {0, 1, 2}
    assert sorted(c.params['q'] for c in g if c.method == 'qpower' and c.seed == 0) == [0.0, 0.25, 0.5, 0.75]   # gamma 1 ... 0.25
    # and the paper's schedule at the same budget: CE, cRT, CB-RS and gamma 1, the same configs otherwise
    step = [c for c in full if c.schedule != 'one_cycle']
    assert len(step) == 12 and {c.schedule for c in step} == {PAPER_SCHEDULE['cifar100']}
    same = lambda c: (c.method, json.dumps(c.params, sort_keys=True), c.seed, c.epochs, c.lr, c.experiment)
    assert {same(c) for c in step} <= {same(c) for c in g}
    assert {c.experiment for c in g} == {'resampling_cifar100_cpu'} and {c.epochs for c in g} == {20}
    assert [c.params for c in g if c.method == 'cbrs'][0] == {'epoch': 'dataset'}   # step-matched CB-RS
    ci = resampling_cifar100_cpu_grid('ci')
    assert len(ci) == 4 and all(c.epochs == 1 and c.n_max == 128 and c.experiment.endswith('_ci') for c in ci)
    mnist = _records('mnist', 'cosine', {'ce': 66.0, 'crt': 80.0, 'cbrs': 90.0}, K=10)
    cpu = _records('cifar100', 'one_cycle', {'ce': 30.0, 'crt': 33.0, 'cbrs': 31.0})   # CB-RS above CE: the claim fails
    vt = verdict_table(mnist, cpu).set_index('claim')
    assert vt.loc[CLAIM].verdict == 'not run'   # no paper-schedule CIFAR-100 records
    row = vt.loc[[c for c in vt.index if c.startswith(CLAIM + ' — CPU budget')][0]]
    assert row.verdict == 'not' and 'ce−cbrs all -1.0' in row.ours
    assert '(20 one-cycle epochs' in row.name   # the budget is read from the records, not written in

def test_cpu_budget_rows_on_both_schedules():
    "With CPU records on the paper's (scaled) schedule too, a CPU row is judged on it and checked on one-cycle, as the main rows are."
    mnist = _records('mnist', 'cosine', {'ce': 66.0}, K=10)
    good = {'ce': 30.0, 'crt': 33.0, 'cbrs': 28.0}
    cpu = pd.concat([_records('cifar100', 'csa', good), _records('cifar100', 'one_cycle', good)])
    vt = verdict_table(mnist, cpu).set_index('claim')
    row = vt.loc[CLAIM + " — CPU budget (20 epochs of the paper's step schedule, checked on one-cycle, step-matched CB-RS and γ)"]
    assert row.verdict == 'reproduced' and 'crt−ce all +3.0' in row.ours
    # one-cycle reversing it: partly, and said; the step schedule reversing it: not
    cpu = pd.concat([_records('cifar100', 'csa', good), _records('cifar100', 'one_cycle', {'ce': 30.0, 'crt': 33.0, 'cbrs': 31.0})])
    row = verdict_table(mnist, cpu).set_index('claim').loc[row.name]
    assert row.verdict == 'partly' and '(one_cycle: fails)' in row.ours
    cpu = pd.concat([_records('cifar100', 'csa', {'ce': 30.0, 'crt': 29.0, 'cbrs': 28.0}), _records('cifar100', 'one_cycle', good)])
    assert verdict_table(mnist, cpu).set_index('claim').loc[row.name].verdict == 'not'

FIG1 = 'Uniform (CE, γ = 0) beats balanced sampling (γ = 1) on CIFAR-100-LT (Figure 1)'

def test_figure1_claims_pick_gamma_by_params():
    q = lambda acc, qv: _records('cifar100', 'one_cycle', {'qpower': acc}).assign(params=[{'q': qv}] * 3)
    cpu = pd.concat([_records('cifar100', 'one_cycle', {'ce': 30.0}), q(25.0, 0.0), q(35.0, 0.5)])   # gamma 1 below CE, gamma 0.5 above
    vt = verdict_table(_records('mnist', 'cosine', {'ce': 66.0}, K=10), cpu).set_index('claim')
    row = vt.loc[FIG1 + ' — CPU budget (20 one-cycle epochs, step-matched CB-RS and γ)']
    assert (row.verdict, row.paper) == ('reproduced', 'Figure 1 (curves, no numbers)') and 'ce−γ=1 all +5.0' in row.ours
    assert vt.loc['Balanced sampling (γ = 1) beats uniform (CE, γ = 0) on MNIST-LT (Figure 1)'].verdict == 'not run'   # no MNIST q-power records
    flipped = pd.concat([_records('cifar100', 'one_cycle', {'ce': 30.0}), q(33.0, 0.0), q(25.0, 0.5)])
    assert verdict_table(_records('mnist', 'cosine', {'ce': 66.0}, K=10), flipped).set_index('claim').loc[row.name].verdict == 'not'

def test_judge_claim_needs_the_first_schedule():
    df = _records('cifar100', 'one_cycle', {'ce': 39.0, 'crt': 42.0, 'cbrs': 34.0})
    pairs = [('cifar100', 'crt', 'ce', 'acc')]
    assert judge_claim(df, pairs)[0] == 'not run'
    assert judge_claim(df, pairs, schedules=('one_cycle',))[0] == 'reproduced'

def test_judge_claim_reproduced_needs_every_schedule():
    "Judged on the paper's schedule; a gap inside its std on one-cycle (or reversed there) makes it only partly reproduced."
    paper, pairs = _records('cifar100', 'csa', {'ce': 39.0, 'crt': 42.0}), [('cifar100', 'crt', 'ce', 'acc')]
    oc = lambda crt: _records('cifar100', 'one_cycle', {'ce': 30.0, 'crt': crt})
    assert judge_claim(pd.concat([paper, oc(33.0)]), pairs)[0] == 'reproduced'
    v, txt = judge_claim(pd.concat([paper, oc(30.5)]), pairs)   # +0.5 against a combined std of 0.7
    assert v == 'partly' and txt.endswith('(one_cycle: holds)') and 'crt−ce all +3.0±0.7' in txt
    v, txt = judge_claim(pd.concat([paper, oc(29.0)]), pairs)
    assert v == 'partly' and txt.endswith('(one_cycle: fails)')
    assert judge_claim(pd.concat([_records('cifar100', 'csa', {'ce': 39.0, 'crt': 38.0}), oc(33.0)]), pairs)[0] == 'not'   # the paper schedule decides 'not'
    v, txt = judge_claim(paper, pairs)   # one-cycle not run yet: judged on the paper's schedule, and said so
    assert v == 'reproduced' and txt.endswith('(one_cycle: not run)')
    v, txt = judge_claim(_records('cifar100', 'csa', {'ce': 39.0, 'crt': 39.5}), pairs)
    assert v == 'partly' and txt.endswith('(one_cycle: not run)')

def test_plot_gamma_uses_ce_for_gamma_zero():
    import matplotlib; matplotlib.use('Agg')
    q = _records('cifar100', 'csa', {'qpower': 30.0})
    q['params'] = [{'q': 0.0}] * len(q)
    df = pd.concat([q, _records('cifar100', 'csa', {'ce': 39.0})])
    ax = plot_gamma(df, 'cifar100')
    xs = sorted({x for l in ax.get_lines() for x in l.get_xdata()})
    assert xs == [0.0, 1.0] and 'csa' in ax.get_title()

def test_no_worse_claims():
    "Figure 4's 'without degradation on head classes': a drop inside the seed std passes, one beyond it fails the claim; beside a 'beats' gap both must hold."
    pairs = [('mnist', 'cbrs', 'ce', 'acc_few'), ('mnist', 'cbrs', 'ce', 'acc', 'no_worse')]
    df = lambda cbrs: _records('mnist', 'cosine', {'ce': 90.0, 'cbrs': cbrs})   # acc_few = acc here: one number a method
    v, txt = judge_claim(pd.concat([df(89.8)]), [pairs[1]], schedules=('paper',))   # −0.2 against a combined std of 0.7
    assert v == 'reproduced' and txt == 'cbrs−ce all -0.2±0.7 (no worse)'
    assert judge_claim(df(88.0), [pairs[1]], schedules=('paper',))[0] == 'not'       # −2.0: a drop beyond the noise
    assert judge_claim(df(95.0), pairs, schedules=('paper',))[0] == 'reproduced'      # up on few-shot, not down overall
    assert judge_claim(df(89.8), pairs, schedules=('paper',))[0] == 'not'             # but few-shot did not go up

def test_official_shots_split_cifar100_by_index():
    "Seed 001's code splits CIFAR-100-LT 36 / 35 / 29 by class index; the records keep the count split; 10-class records are left alone."
    from lt_repro.resampling import official_shots
    df = pd.DataFrame([dict(per_class_acc=list(range(100)), acc_many=0.0, acc_medium=0.0, acc_few=0.0),
                       dict(per_class_acc=[50.0] * 10, acc_many=1.0, acc_medium=2.0, acc_few=3.0)])
    o = official_shots(df)
    assert (o.loc[0, 'acc_many'], o.loc[0, 'acc_medium'], o.loc[0, 'acc_few']) == (17.5, 53.0, 85.0)   # means of 0..35, 36..70, 71..99
    assert o.loc[1, ['acc_many', 'acc_medium', 'acc_few']].tolist() == [1.0, 2.0, 3.0] and df.loc[0, 'acc_many'] == 0.0   # a copy

def test_crt_epoch_grid_shares_ce_fits_and_pairs_by_seed():
    "The N-draw cRT variant re-uses the CE fit of its seed and schedule (so it costs only its classifier stage), and its table pairs by seed."
    from lt_repro.resampling import resampling_crt_epoch_grid, resampling_crt_bn_grid, crt_variant_table
    from lt_repro.experiments import _fit_group
    main, var = resampling_cifar100_grid(), resampling_crt_epoch_grid()
    assert len(var) == 6 and {c.experiment for c in var} == {'resampling_crt_epoch'} and all(c.params['epoch'] == 'dataset' for c in var)
    ce = {(c.schedule, c.seed): _fit_group(c) for c in main if c.method == 'ce'}
    assert all(_fit_group(c) == ce[(c.schedule, c.seed)] for c in var)                    # the same cached main fit
    assert not {c.config_id for c in var} & {c.config_id for c in main}                    # but its own configs
    assert all(c.method == 'crt' and c.experiment == 'resampling_crt_epoch_ci' for c in resampling_crt_epoch_grid('ci'))
    def recs(cfgs, acc):   # one record per config, accuracy acc(seed) on every class
        return pd.DataFrame([dict(c.to_dict(), config_id=c.config_id, acc=acc(c.seed), acc_many=acc(c.seed), acc_medium=acc(c.seed),
                                  acc_few=acc(c.seed), per_class_acc=[acc(c.seed)] * 100) for c in cfgs])
    m = recs([c for c in main if c.method == 'crt'], lambda s: 40.0 + s)
    assert len(crt_variant_table(m, pd.DataFrame())) == 0                                    # not run: no rows
    v = recs(var, lambda s: 41.0 + 2 * s)                                                    # N draws: +1, +2, +3 over seeds 0, 1, 2
    t = crt_variant_table(pd.concat([m, recs([c for c in main if c.method == 'ce'], lambda s: 0.0)]), v)
    assert list(t.schedule.unique()) == ['csa', 'one_cycle'] and list(t.metric[:4]) == ['All', 'Many', 'Med.', 'Few']
    assert t['difference, same seed'].iloc[0] == '+2.0 ± 1.0 (n=3)', t                      # paired by seed, CE rows left out
    assert t['cRT as in Table 1'].iloc[0] == '41.0 ± 1.0 (n=3)' and t['N draws an epoch'].iloc[0] == '43.0 ± 2.0 (n=3)'
    bn = resampling_crt_bn_grid()                                                            # the BatchNorm variant: the same CE fits, its own configs
    assert len(bn) == 6 and all(c.params['bn'] == 'train' and _fit_group(c) == ce[(c.schedule, c.seed)] for c in bn)
    assert not {c.config_id for c in bn} & {c.config_id for c in main + var}
    assert len(crt_variant_table(m, v, 'resampling_crt_bn')) == 0                            # the N-draw records are not the BN grid's
    tb = crt_variant_table(m, recs(bn, lambda s: 39.0), 'resampling_crt_bn')
    assert tb['difference, same seed'].iloc[0] == '-2.0 ± 1.0 (n=3)' and 'BN statistics re-estimated' in tb

def test_crt_cpu_variants_share_their_own_ce_fit_and_pair_with_their_own_crt():
    "At the CPU budget the two cRT variants load the CE fit that `resampling_crt_cpu` trains (the budget's step-schedule configs, renamed) and are paired with that grid's cRT, never with Table 1's GPU cRT or the budget's bf16 records."
    from lt_repro.resampling import (resampling_crt_cpu_grid, resampling_crt_epoch_cpu_grid, resampling_crt_bn_cpu_grid, resampling_cifar100_cpu_grid,
                                     crt_variant_table, CRT_VARIANTS)
    from lt_repro.experiments import _fit_group
    base, ep, bn = resampling_crt_cpu_grid(), resampling_crt_epoch_cpu_grid(), resampling_crt_bn_cpu_grid()
    budget = {(c.method, c.schedule, c.seed): c for c in resampling_cifar100_cpu_grid()}
    assert sorted((c.method, c.seed) for c in base) == [(m, s) for m in ('ce', 'crt') for s in (0, 1, 2)] and {c.schedule for c in base} == {'csa'}
    assert all(dict(c.to_dict(), experiment='resampling_cifar100_cpu') == budget[(c.method, c.schedule, c.seed)].to_dict() for c in base)
    fit = {c.seed: _fit_group(c) for c in base if c.method == 'ce'}
    assert all(_fit_group(c) == fit[c.seed] for c in base + ep + bn)                        # one CE fit a seed, under fit_cache
    assert [c.params.get('epoch') for c in ep] == ['dataset'] * 3 and [c.params.get('bn') for c in bn] == ['train'] * 3
    assert {c.experiment for c in resampling_crt_epoch_cpu_grid('ci')} == {'resampling_crt_epoch_cpu_ci'}
    assert all(CRT_VARIANTS[n][1]('full') for n in CRT_VARIANTS)                             # every variant names a grid with configs
    def recs(cfgs, acc):
        return pd.DataFrame([dict(c.to_dict(), config_id=c.config_id, acc=acc(c.seed), acc_many=acc(c.seed), acc_medium=acc(c.seed),
                                  acc_few=acc(c.seed), per_class_acc=[acc(c.seed)] * 100) for c in cfgs])
    gpu_crt = recs([c for c in resampling_cifar100_grid() if c.method == 'crt'], lambda s: 40.0)
    own = recs([c for c in base if c.method == 'crt'], lambda s: 30.0 + s)
    v = recs(ep, lambda s: 31.0)
    assert len(crt_variant_table(gpu_crt, v, 'resampling_crt_epoch_cpu')) == 0               # Table 1's GPU cRT is not its pair
    t = crt_variant_table(pd.concat([gpu_crt, own]), v, 'resampling_crt_epoch_cpu')
    assert list(t.schedule.unique()) == ['csa'] and t['difference, same seed'].iloc[0] == '+0.0 ± 1.0 (n=3)', t
    assert len(crt_variant_table(own, v, 'resampling_crt_bn_cpu')) == 0                     # the N-draw records are not the BN grid's

def test_gradcam_grid_shares_ce_fits_with_the_crt_epoch_grid():
    "Figure 3's paper-schedule runs: Table 1's CE and CB-RS configs under their own experiment; CE shares the main fit that the N-draw cRT's CE stage leaves in the cache."
    from lt_repro.resampling import resampling_gradcam_grid, resampling_crt_epoch_grid
    from lt_repro.experiments import _fit_group
    g, main = resampling_gradcam_grid(), resampling_cifar100_grid()
    assert sorted((c.method, c.seed) for c in g) == [(m, s) for m in ('cbrs', 'ce') for s in (0, 1, 2)]
    assert {c.experiment for c in g} == {'resampling_gradcam'} and {c.schedule for c in g} == {'csa'}
    t1 = {(c.method, c.schedule, c.seed): c for c in main}
    assert all(dict(c.to_dict(), experiment='resampling') == t1[(c.method, c.schedule, c.seed)].to_dict() for c in g)   # Table 1's configs, renamed
    crt = {c.seed: _fit_group(c) for c in resampling_crt_epoch_grid() if c.schedule == 'csa'}
    assert all(_fit_group(c) == crt[c.seed] for c in g if c.method == 'ce')

def test_cam_table_compares_runs_of_different_seeds():
    "cam_table: within-method and cross-method agreement of stored Grad-CAM maps, pairs of different seeds only; figure3 skips records without maps."
    import base64
    from lt_repro.resampling import figure3, LABELS
    from lt_repro.experiments import cam_table
    rng = np.random.default_rng(0)
    base = rng.random((4, 8, 8))
    def rec(m, s, noise):   # four images of classes 0, 1, 2, 3 (counts 200, 50, 10, 5: many, medium, few, few)
        maps = np.clip(base + noise * rng.standard_normal(base.shape), 0, 1)
        q = (maps * 255).round().astype(np.uint8)
        return dict(method=m, seed=s, dataset='toy', schedule='cosine', train_counts=[200, 50, 10, 5], shot_rule='count', acc=50.0,
                    cams=dict(classes=[0, 1, 2, 3], idx=[10, 11, 12, 13], shape=[8, 8], pred=[0, 1, 2, 3], cam=base64.b64encode(q.tobytes()).decode()))
    d = pd.DataFrame([rec('ce', s, 0.02) for s in range(3)] + [rec('cbrs', s, 0.6) for s in range(3)])
    t = cam_table(d, 'ce', 'cbrs', labels=LABELS)
    assert list(t.index) == ['Uniform (CE) vs Uniform (CE)', 'CB-RS vs CB-RS', 'Uniform (CE) vs CB-RS'] and list(t.columns) == ['many', 'medium', 'few', 'all']
    ce_ce, cross = (float(t.loc[k, 'all'].split(' ')[0]) for k in ('Uniform (CE) vs Uniform (CE)', 'Uniform (CE) vs CB-RS'))
    assert ce_ce > 0.95 and cross < ce_ce - 0.2, t        # near-identical CE maps; the noisy CB-RS maps agree less
    assert t.loc['Uniform (CE) vs CB-RS', 'all'].endswith('(n=6)') and t.loc['CB-RS vs CB-RS', 'all'].endswith('(n=3)')
    assert figure3(d.drop(columns='cams'), 'toy') == {}       # no maps, nothing drawn

def test_figure3_claim_is_judged_from_map_agreement():
    "Figure 3's verdict row: r(ce,ce) − r(ce,cbrs) on many-shot images, per pair of runs of different seeds, on the paper's schedule checked on one-cycle."
    import base64
    from lt_repro.resampling import verdict_table, cam_frame
    rng = np.random.default_rng(1)
    base = rng.random((3, 8, 8))
    def rec(m, s, sched, noise):
        q = (np.clip(base + noise * rng.standard_normal(base.shape), 0, 1) * 255).round().astype(np.uint8)
        return dict(method=m, seed=s, dataset='cifar100', schedule=sched, params={}, train_counts=[500, 50, 5], shot_rule='count', acc=40.0,
                    cams=dict(classes=[0, 1, 2], idx=[0, 1, 2], shape=[8, 8], pred=[0, 1, 2], cam=base64.b64encode(q.tobytes()).decode()))
    cams = pd.DataFrame([rec('ce', s, sch, 0.05) for s in range(3) for sch in ('csa', 'one_cycle')] +
                        [rec('cbrs', s, sch, 0.8) for s in range(3) for sch in ('csa', 'one_cycle')])
    f = cam_frame(cams)
    assert sorted(f.groupby(['schedule', 'method']).size().items()) == [(('csa', 'r(ce,cbrs)'), 6), (('csa', 'r(ce,ce)'), 3), (('one_cycle', 'r(ce,cbrs)'), 6), (('one_cycle', 'r(ce,ce)'), 3)]
    df = _records('cifar100', 'csa', {'ce': 39.0, 'crt': 41.0, 'cbrs': 34.0})
    row = verdict_table(df, cams=cams).iloc[-1]
    assert 'Figure 3' in row.claim and row.verdict == 'reproduced' and row.ours.startswith('r(ce,ce)−r(ce,cbrs) many +'), row.ours
    assert verdict_table(df, cams=cams[cams.method == 'ce']).iloc[-1].verdict == 'not run'   # no CB-RS maps: nothing to judge
    same = cams.assign(cams=[rec('ce', 0, 'csa', 0.05)['cams']] * len(cams))                # every map alike: no move of attention
    assert verdict_table(df, cams=same).iloc[-1].verdict == 'not'
    assert len(verdict_table(df)) == len(verdict_table(df, cams=cams)) - 1                     # without `cams`, no Figure 3 row

def test_figure3_cpu_row_reads_its_own_records_and_budget():
    "The CPU budget's Figure 3 row: judged on `cpu_cams` alone, on the schedules those runs have (the paper's step schedule only: no one-cycle check owed), its setting from them, or from `resampling_gradcam_cpu`'s grid before any has run."
    import base64, dataclasses
    from lt_repro.resampling import verdict_table, resampling_gradcam_cpu_grid, resampling_cifar100_cpu_grid
    rng = np.random.default_rng(2)
    base = rng.random((3, 8, 8))
    def rec(m, s, noise):
        q = (np.clip(base + noise * rng.standard_normal(base.shape), 0, 1) * 255).round().astype(np.uint8)
        return dict(method=m, seed=s, dataset='cifar100', schedule='csa', params={}, epochs=20, train_counts=[500, 50, 5], shot_rule='count', acc=25.0,
                    cams=dict(classes=[0, 1, 2], idx=[0, 1, 2], shape=[8, 8], pred=[0, 1, 2], cam=base64.b64encode(q.tobytes()).decode()))
    moved = pd.DataFrame([rec('ce', s, 0.05) for s in range(3)] + [rec('cbrs', s, 0.8) for s in range(3)])
    df, cpu = _records('cifar100', 'csa', {'ce': 39.0, 'crt': 41.0, 'cbrs': 34.0}), _records('cifar100', 'csa', {'ce': 22.0, 'crt': 28.0, 'cbrs': 25.0})
    def fig3(cams, cpu_cams):
        "Figure 3's rows of the verdict table."
        v = verdict_table(df, cpu, cams, cpu_cams); return v[v.claim.str.startswith('Re-sampling moves where')]
    (_, r), = fig3(None, moved).iterrows()                                                            # no paper-setting maps given: the CPU row alone
    assert r.claim.endswith("— CPU budget (20 epochs of the paper's step schedule, step-matched CB-RS)"), r.claim
    assert r.verdict == 'reproduced' and 'not run' not in r.ours, r.ours      # one schedule ran, and only one was planned
    (_, p), = fig3(moved, None).iterrows()
    assert p.verdict == 'reproduced' and '— CPU budget' not in p.claim         # the paper-setting row does not read the CPU maps ...
    assert fig3(None, moved.assign(cams=[moved.cams.iloc[0]] * 6)).verdict.tolist() == ['not']       # ... and the CPU row no other maps
    (_, e), = fig3(None, moved.iloc[:0]).iterrows()
    assert e.verdict == 'not run' and e.claim == r.claim.replace('schedule,', 'schedule, checked on one-cycle,')   # before any run: the setting the grid plans
    g = resampling_gradcam_cpu_grid()
    assert {c.epochs for c in g} == {20} and [c.schedule for c in g] == ['csa'] * 6 + ['one_cycle'] * 6   # the step schedule's runs first (recorded before the one-cycle check was added)
    cpu_cfg = {c.config_id for c in resampling_cifar100_cpu_grid()}
    assert all(dataclasses.replace(c, experiment='resampling_cifar100_cpu').config_id in cpu_cfg for c in g)   # the budget's own configs, renamed
    assert sorted((c.schedule, c.method, c.seed) for c in g) == [(s, m, i) for s in ('csa', 'one_cycle') for m in ('cbrs', 'ce') for i in (0, 1, 2)]
    # the one-cycle check (issue item 6): until each side has two pairs of runs the row says it has not run; then it can fail
    oc = lambda recs: pd.DataFrame([dict(r, schedule='one_cycle') for r in recs])
    (_, h), = fig3(None, pd.concat([moved, oc([rec('ce', 0, 0.05), rec('ce', 1, 0.05), rec('cbrs', 1, 0.8)])], ignore_index=True)).iterrows()
    assert h.verdict == 'reproduced' and h.ours.endswith('(one_cycle: not run)') and 'checked on one-cycle' in h.claim, (h.ours, h.claim)
    (_, f), = fig3(None, pd.concat([moved, oc([rec('ce', s, 0.3) for s in range(3)] + [rec('cbrs', s, 0.0) for s in range(3)])], ignore_index=True)).iterrows()
    assert f.verdict == 'partly' and f.ours.endswith('(one_cycle: fails)'), f.ours      # under one-cycle CB-RS's maps agree with CE's better than CE's own: the check fails

def test_cam_shot_groups_follow_the_official_index_split():
    "Figure 3's agreement, like nb 10's tables, puts CIFAR-100-LT's classes in many / medium / few by the official code's index split (36 / 35 / 29), not the records' count rule (35 / 35 / 30)."
    import base64
    from lt_repro.resampling import official_groups, cam_frame
    from lt_repro.experiments import record_shots, cam_pairs
    counts = [int(500 * 0.01 ** (i / 99)) for i in range(100)]
    r = dict(train_counts=counts, shot_rule='count')
    assert [list(official_groups(r)).count(g) for g in ('many', 'medium', 'few')] == [36, 35, 29]
    assert [list(record_shots(r)).count(g) for g in ('many', 'medium', 'few')] == [35, 35, 30] and record_shots(r)[35] == 'medium'
    m = np.random.default_rng(2).random((8, 8))
    def rec(s, flip):   # images of classes 0 and 35: class 35's map is inverted in the second run, class 0's the same
        maps = np.stack([m, 1 - m if flip else m])
        return dict(method='ce', seed=s, dataset='cifar100', schedule='csa', params={}, train_counts=counts, shot_rule='count', acc=40.0,
                    cams=dict(classes=[0, 35], idx=[0, 3500], shape=[8, 8], pred=[0, 35], cam=base64.b64encode((maps * 255).round().astype(np.uint8).tobytes()).decode()))
    d = pd.DataFrame([rec(0, False), rec(1, True)])
    by_count, official = cam_pairs(d), cam_pairs(d, shots=official_groups)
    assert by_count['many'].iloc[0] > 0.99 and by_count['medium'].iloc[0] < -0.99    # class 35 is medium by count
    assert abs(official['many'].iloc[0]) < 0.01 and 'medium' not in official          # and many by index: mean of +1 and -1
    assert abs(cam_frame(d).acc_many.iloc[0]) < 0.01                                    # the verdict row reads the official split
