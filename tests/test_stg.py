"""STG (seed 004): Eq. 1 targets, the FIFO memory, per-sample smoothing, Eqs. 3-4, the stage-3 callback, LWS, recipe wiring."""
import numpy as np, pytest, torch, torch.nn as nn
from lt_repro.data import LTDataset, shot_groups
from lt_repro.train import train_lt, get_recipe, lt_learner, fit_lt
from lt_repro.stg import (eq1_targets, FeatureMemory, TargetEMA, STG, train_stg, head_classes, class_beta, keep_mix,
                          semantic_augment, STGAugment, LWSHead, retrain_classifier, features_of, gaussian_kl, kl_matrix,
                          transformation_kl, kl_by_shared_head, stg_grid, stg_ablation_grid, variant)
from lt_repro.train import feature_module

torch.set_num_threads(1)


def test_eq1_on_a_hand_made_batch():
    a = torch.tensor([[0., 0.], [2., 4.], [5., 5.], [1., 1.]]); y = torch.tensor([0, 0, 1, 0])
    mu, var, k = eq1_targets(a, y)
    # class 0 = {(0,0), (2,4), (1,1)}: mean (1, 5/3); variance ((1+1+0)/3, (25/9+49/9+4/9)/3)
    mean, v = torch.tensor([1., 5 / 3]), torch.tensor([2 / 3, 26 / 9])
    for i in (0, 1, 3):
        torch.testing.assert_close(mu[i], mean - a[i]); torch.testing.assert_close(var[i], v)
    assert k.tolist() == [3., 3., 1., 3.]
    assert torch.equal(mu[2], torch.zeros(2)) and torch.equal(var[2], torch.zeros(2))   # alone in its class: the set is {0}


def test_eq1_matches_the_definition_with_memory_and_without_self():
    g = torch.Generator().manual_seed(0)
    a, y = torch.randn(12, 3, generator=g), torch.randint(0, 3, (12,), generator=g)
    ma, my = torch.randn(20, 3, generator=g), torch.randint(0, 3, (20,), generator=g)
    for inc in (True, False):
        mu, var, k = eq1_targets(a, y, ma, my, include_self=inc)
        for i in range(12):
            ctx = torch.cat([a[[j for j in range(12) if y[j] == y[i] and (inc or j != i)]], ma[my == y[i]]])
            d = ctx - a[i]                                                  # the set {a_j - a_i}
            torch.testing.assert_close(mu[i], d.mean(0), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(var[i], ((d.mean(0) - d) ** 2).mean(0), atol=1e-5, rtol=1e-5)
            assert k[i] == len(d)


def test_eq1_bad_shapes():
    with pytest.raises(ValueError): eq1_targets(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError): eq1_targets(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))


def test_fifo_memory():
    m = FeatureMemory(5)
    for i in range(4): m.push(torch.full((2, 1), float(i)), torch.full((2,), i))
    assert len(m) == 5
    assert m.feats.squeeze().tolist() == [1., 2., 2., 3., 3.] and m.labels.tolist() == [1, 2, 2, 3, 3]   # oldest out first
    m.push(torch.arange(10.)[:, None], torch.arange(10))                 # a batch larger than the memory: its last 5
    assert m.feats.squeeze().tolist() == [5., 6., 7., 8., 9.]
    z = FeatureMemory(0); z.push(torch.ones(3, 2), torch.zeros(3, dtype=torch.long))
    assert len(z) == 0 and z.feats is None
    mu0, _, k0 = eq1_targets(torch.ones(2, 2), torch.zeros(2, dtype=torch.long), z.feats, z.labels)
    assert k0.tolist() == [2., 2.]
    for bad in (-1, 1.5, '10'):
        with pytest.raises(ValueError): FeatureMemory(bad)


def test_target_smoothing_per_sample():
    e = TargetEMA(5, 2, momentum=0.8)
    e.update(torch.tensor([0, 3]), torch.ones(2, 2), torch.ones(2, 2))
    mu, var = e.update(torch.tensor([3, 4]), torch.zeros(2, 2), torch.full((2, 2), 2.))
    torch.testing.assert_close(mu, torch.tensor([[0.8, 0.8], [0., 0.]]))        # sample 3 smoothed, sample 4 new
    torch.testing.assert_close(var, torch.tensor([[1.2, 1.2], [2., 2.]]))
    assert e.mu[0].tolist() == [1., 1.]                                          # others untouched
    with pytest.raises(ValueError): TargetEMA(3, 2, momentum=1.0)


def test_beta_formula():
    torch.testing.assert_close(class_beta([400, 100, 25]), torch.tensor([0.25, 0.5, 1.0]))
    with pytest.raises(ValueError): class_beta([10, 0])


def test_keep_mask_threshold():
    a, b = torch.zeros(200, 50), torch.ones(200, 50)
    assert torch.equal(keep_mix(a, b, 0.0), a) and torch.equal(keep_mix(a, b, 1.0), b)
    for t in (0.2, 0.5, 0.8):
        frac = keep_mix(a, b, t, torch.Generator().manual_seed(1)).mean().item()
        assert abs(frac - t) < 0.02                                              # P(m <= t) = t dimensions augmented


def test_semantic_augment_formula_and_lambda_zero():
    g = torch.Generator().manual_seed(0)
    a, mu, var = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g), torch.rand(4, 6, generator=g)
    beta = torch.tensor([1., .5, .25, 1.])
    out = semantic_augment(a, mu, var, 2.0, beta, t=1.0, generator=torch.Generator().manual_seed(3))
    eps = torch.randn(4, 6, generator=torch.Generator().manual_seed(3))        # the same draw: ε first, then the mask
    torch.testing.assert_close(out, a + (var.sqrt() * eps + mu) * 2.0 * beta[:, None])
    assert torch.equal(semantic_augment(a, mu, var, 0.0, beta, t=1.0), a)


def _fitted(C=4, d=6, head=(True, True, False, False)):
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0] * 60 + [1] * 40 + [2] * 8 + [3] * 4)
    f = torch.randn(len(y), d, generator=g) + 3 * torch.eye(C, d)[y]
    return train_stg(f, y, head, epochs=2, bs=32, m=50), f, y


class _FakeLearn:
    def __init__(self, d=6): self.model = nn.Module(); self.model.body = nn.Linear(d, d)


@pytest.mark.parametrize('mode,kw', [('stg', {}), ('dropout', {'p': 0.5}), ('noise', {'std': 1.0})])
def test_augmentation_only_touches_tail_classes(mode, kw):
    fit, f, y = _fitted()
    cb = STGAugment([60, 40, 8, 4], [True, True, False, False], fit if mode == 'stg' else None, mode=mode, **kw)
    cb.learn = _FakeLearn(); cb.before_fit()
    out = cb.augment(f, y)
    head = y < 2
    assert torch.equal(out[head], f[head])
    assert not torch.equal(out[~head], f[~head])
    assert cb.stats['augmented'] == int((~head).sum())
    cb.after_fit()
    cb_all = STGAugment([60, 40, 8, 4], [True, True, False, False], fit if mode == 'stg' else None, mode=mode, apply_to='all', **kw)
    cb_all.learn = _FakeLearn(); cb_all.before_fit()
    assert (cb_all.augment(f, y)[head] != f[head]).any()


def test_lambda_zero_and_mode_none_are_the_identity():
    fit, f, y = _fitted()
    for cb in (STGAugment([60, 40, 8, 4], [True, True, False, False], fit, lam=0.0), STGAugment([60, 40, 8, 4], [True, True, False, False], mode='none')):
        cb.learn = _FakeLearn(); cb.before_fit()
        assert torch.equal(cb.augment(f, y), f)


def test_hook_acts_on_training_batches_only_and_is_removed():
    fit, f, y = _fitted()
    learn = _FakeLearn(); learn.model.body = nn.Identity()
    cb = STGAugment([60, 40, 8, 4], [True, True, False, False], fit); cb.learn = learn; cb.before_fit()
    cb._y = y                                     # what before_batch sets in a training batch
    assert not torch.equal(learn.model.body(f), f)
    assert torch.equal(learn.model.body(f), f)    # used once: a second forward (e.g. validation) is untouched
    cb.after_fit()
    cb._y = y; assert torch.equal(learn.model.body(f), f)


def test_similar_head_and_kl():
    fit, f, y = _fitted()
    h = fit.similar_head(f)
    assert set(h.tolist()) <= {0, 1}
    assert (h[y == 0] == 0).float().mean() > 0.9                                   # a head sample's own class is the most similar
    mu, var = torch.randn(3, 4), torch.rand(3, 4) + 0.1
    km = kl_matrix(mu, var)
    assert torch.allclose(km.diagonal(), torch.zeros(3), atol=1e-6) and (km + torch.eye(3) > 0).all()
    torch.testing.assert_close(km[0, 1], gaussian_kl(mu[0], var[0], mu[1], var[1]))
    t5 = transformation_kl(fit, f, y)
    assert t5['cls'] == 3 and t5['kl'].shape == (4, 4)                             # the rarest tail class, its 4 samples
    s = kl_by_shared_head(fit, f, y)
    assert s['n_same'] + s['n_diff'] == 8 * 7 + 4 * 3
    with pytest.raises(ValueError): transformation_kl(fit, f, y, cls=0)


def test_lws_keeps_the_classifier_directions():
    lin = nn.Linear(5, 3); w0, b0 = lin.weight.detach().clone(), lin.bias.detach().clone()
    lws = LWSHead(lin)
    assert [n for n, _ in lws.named_parameters()] == ['scales']
    with torch.no_grad(): lws.scales.copy_(torch.tensor([3., 0.5, 1.]))
    folded = lws.fold()
    torch.testing.assert_close(nn.functional.cosine_similarity(folded.weight, w0, dim=1), torch.ones(3))
    torch.testing.assert_close(folded.weight.norm(dim=1), w0.norm(dim=1) * torch.tensor([3., 0.5, 1.]))
    torch.testing.assert_close(folded.bias, b0 * torch.tensor([3., 0.5, 1.]))
    x = torch.randn(7, 5); torch.testing.assert_close(folded(x), lws(x))


def _synthetic_ds(counts=(200, 120, 60, 30, 12), seed=0):
    "A tiny long-tailed image set: each class a bright square at its own place, plus noise."
    rng = np.random.default_rng(seed)
    def make(cs):
        y = np.repeat(np.arange(len(cs)), cs)
        x = rng.integers(0, 60, (len(y), 28, 28, 1)).astype(np.uint8)
        for c in range(len(cs)): x[y == c, 4 * c:4 * c + 8, 4 * c:4 * c + 8] = 250
        return x, y
    xtr, ytr = make(counts); xte, yte = make((20,) * len(counts))
    return LTDataset('mnist', 16.7, seed, xtr, ytr, np.arange(len(ytr)), xte, yte, np.arange(len(yte)), [str(c) for c in range(len(counts))],
                     list(counts), shot_groups(counts, 'count'), 'count', 'synthetic')


def test_lws_through_the_trainer_leaves_directions_fixed():
    ds = _synthetic_ds()
    learn = lt_learner(ds, 'lenet32', bs=32, seed=0, device='cpu')
    fit_lt(learn, 1, 0.05, 'cosine')
    w0 = learn.model.heads['main'].weight.detach().clone()
    body0 = {k: v.clone() for k, v in learn.model.body.state_dict().items()}
    retrain_classifier(learn, ds, epochs=1, lr=0.05, lws=True, epoch_len='dataset')
    w1 = learn.model.heads['main'].weight.detach()
    assert isinstance(learn.model.heads['main'], nn.Linear)                          # folded back
    torch.testing.assert_close(nn.functional.cosine_similarity(w0, w1, dim=1), torch.ones(len(w0)))
    assert not torch.allclose(w0.norm(dim=1), w1.norm(dim=1))                        # the scales moved
    assert all(torch.equal(v, learn.model.body.state_dict()[k]) for k, v in body0.items())


def test_features_follow_the_training_set_order():
    ds = _synthetic_ds()
    learn = lt_learner(ds, 'lenet32', bs=32, seed=0, device='cpu')
    f, y = features_of(learn, aug=False, bs=100)
    assert f.shape == (len(ds.y_train), 32) and torch.equal(y, torch.as_tensor(ds.y_train))
    learn.model.eval()
    with torch.no_grad(): ref = learn.model.body(learn.dls.train.process(learn.dls.train.x[:5]))
    torch.testing.assert_close(f[:5], ref)


def test_features_of_views_follow_the_seed():
    "With the training augmentation, one seed gives the same views, another seed other views; aug=False gives none."
    learn = lt_learner(_synthetic_ds(), 'lenet32', bs=32, seed=0, device='cpu'); learn.dls.train.aug = 'crop_flip'
    f = lambda **kw: features_of(learn, bs=100, **kw)[0]
    assert torch.equal(f(), f()) and torch.equal(f(seed=5), f(seed=5)) and not torch.equal(f(seed=5), f(seed=6))
    assert torch.equal(f(aug=False, seed=5), f(aug=False, seed=6))


def test_stage_two_sees_new_views_every_epoch(monkeypatch):
    "Stage 2 re-extracts the features each epoch with the training augmentation: every epoch its own crops and flips."
    import lt_repro.stg as stg_mod
    seen = {}
    def spy(feats, labels, *a, **kw):
        seen['views'] = [feats(e) for e in range(3)]; raise RuntimeError('stop after stage 2 got its features')
    monkeypatch.setattr(stg_mod, 'train_stg', spy)
    ds = _synthetic_ds()
    import lt_repro.train as tr
    monkeypatch.setitem(tr.DATA_DEFAULTS, 'mnist', dict(tr.DATA_DEFAULTS['mnist'], aug='crop_flip'))   # this synthetic set, augmented like CIFAR
    with pytest.raises(RuntimeError, match='stop after stage 2'):
        train_lt(ds, 'stg', dict(stg_epochs=3, crt_epochs=1, m=64), model='lenet32', epochs=1, lr=0.05, schedule='cosine', bs=32, seed=0, device='cpu')
    v = seen['views']
    assert not torch.equal(v[0], v[1]) and not torch.equal(v[1], v[2]) and not torch.equal(v[0], v[2])


@pytest.mark.parametrize('params,msg', [({'aug': 'mixup'}, 'aug must'), ({'lam': -1}, 'lam'), ({'t': 2}, 't must'),
                                        ({'m': -1}, 'memory size'), ({'m': 1.5}, 'memory size'), ({'p': 1.0}, 'dropout p'),
                                        ({'std': -0.1}, 'std'), ({'head': 'few'}, 'head rule'), ({'head': True}, 'head rule'),
                                        ({'loss': 'l1'}, 'loss'), ({'apply_to': 'head'}, 'apply_to'), ({'smooth': 1.0}, 'smooth'),
                                        ({'stg_epochs': 0}, 'epochs'), ({'crt_epoch': 'half'}, 'crt_epoch'), ({'gamma': 1}, 'bad parameters')])
def test_clear_errors_on_bad_parameters(params, msg):
    with pytest.raises(ValueError, match=msg): get_recipe('stg', params)


def test_clear_errors_elsewhere():
    with pytest.raises(ValueError, match='selects no class'): head_classes([10, 5], 100)
    with pytest.raises(ValueError, match='shot groups'): head_classes([10, 5], 'many')
    with pytest.raises(ValueError, match='top:k'): head_classes([10, 5], 'top:3')
    with pytest.raises(ValueError, match='fewer than 2'): head_classes([1, 1], 0)
    with pytest.raises(ValueError, match='needs a trained STG'): STGAugment([5, 2], [True, False])
    with pytest.raises(ValueError, match='mode'): STGAugment([5, 2], [True, False], mode='cutout')
    with pytest.raises(ValueError, match='differ in length'): STGAugment([5, 2, 1], [True, False], mode='none')
    with pytest.raises(ValueError, match='labels'): train_stg(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long), [True])
    with pytest.raises(ValueError, match='epoch_len'): retrain_classifier(None, None, epoch_len='half')
    with pytest.raises(ValueError, match='feat_module'): feature_module(nn.Linear(2, 2))        # a model without `body`


def test_recipe_end_to_end_through_train_lt():
    ds = _synthetic_ds()
    p = dict(stg_epochs=2, crt_epochs=2, crt_epoch='dataset', m=64, crt_lr=1e-2)
    rep, learn = train_lt(ds, 'stg', p, model='lenet32', epochs=1, lr=0.05, schedule='cosine', bs=32, mom=0.0, wd=0.0, seed=0, device='cpu')
    st = rep['extra']['stg']
    assert st['head_classes'] == [0, 1] and st['n_tail'] == 3 and len(st['stg_loss']) == 2
    assert 0 < st['augmented_frac'] < 1 and st['kl_same_head'] is not None and len(st['table5']['kl']) == 5
    assert rep['acc'] > 60                                                            # an easy set: far above chance (20 %)
    assert not learn.model.body._forward_hooks                                       # the stage-3 hook is gone
    for m in ('crt_mixup', 'lws_mixup'):
        r2, _ = train_lt(ds, m, {'crt_epochs': 1, 'crt_epoch': 'dataset'}, model='lenet32', epochs=1, lr=0.05, schedule='cosine', bs=32, seed=0, device='cpu')
        assert r2['extra']['stg']['augmented_frac'] == 0 and 'stg_loss' not in r2['extra']['stg']


def test_grids():
    full, abl = stg_grid('full'), stg_ablation_grid('full')
    assert len(full) == 180 and {c.experiment for c in full + abl} == {'stg'}
    assert {c.schedule for c in full} == {'csa', 'one_cycle'} and {c.rho for c in full} == {100, 50, 10}
    keys = {variant(c.params) for c in abl if c.dataset == 'cifar100'}
    assert {('m', 0), ('m', 600), ('stg', 0.5), ('stg', 1.0), ('stg', 1.5), ('dropout', 0.1), ('noise', 1.5), ('no_mu', 1.5)} <= keys
    shared = {(c.config_id, c.seed) for c in abl} & {(c.config_id, c.seed) for c in full}
    assert len(shared) == 6                                                          # STG λ=1.5, m=1200 on both datasets, 3 seeds
    assert all(c.dataset == 'mnist' and c.epochs == 1 for c in stg_grid('ci') + stg_ablation_grid('ci'))


def _fake_results(acc_of):
    "A results frame as load_results gives it, for the full grids, with acc = acc_of(config)."
    import pandas as pd, json
    cfgs = stg_grid('full') + stg_ablation_grid('full')
    recs = [dict(c.to_dict(), acc=acc_of(c)) for c in cfgs]
    df = pd.DataFrame(recs); df['params_str'] = df.params.map(lambda p: json.dumps(p, sort_keys=True))
    return df.drop_duplicates(['params_str', 'dataset', 'rho', 'method', 'schedule', 'seed'])


def test_variant_never_pools_other_settings():
    "Runs that change anything the tables do not vary (LWS, the head rule, the loss, ...) are ('other', params), not a table row."
    assert variant({'crt_lr': 1e-4, 'crt_epoch': 'dataset', 'stg_epochs': 2}) == ('stg', 1.5)   # budget and stage-3 lr: the same row
    for p in ({'lws': True}, {'head': 'top:3'}, {'loss': 'kl'}, {'apply_to': 'all'}, {'lam': 1.0, 'alpha': 0.0}):
        assert variant(p)[0] == 'other', p
    assert {variant(c.params)[0] for c in stg_grid('full') + stg_ablation_grid('full') if c.method == 'stg'} <= {'stg', 'm', 'no_mu', 'dropout', 'noise'}


def test_post_epochs_count_what_follows_the_main_fit():
    "`run_grid`'s time limit reads `post_epochs`: stage 3's epochs, plus stage 2's feature passes when STG runs."
    assert (get_recipe('stg').post_epochs, get_recipe('stg', {'aug': 'noise'}).post_epochs, get_recipe('lws_mixup').post_epochs) == (20, 10, 10)
    assert get_recipe('stg', {'stg_epochs': 3, 'crt_epochs': 2}).post_epochs == 5


def test_tables_and_verdicts_from_records():
    from lt_repro.stg import table12, table6, table7, stg_verdicts
    base = {'ce': 40, 'mixup': 41, 'crt_mixup': 45, 'lws_mixup': 44}
    def acc(c):
        if c.method != 'stg': return base[c.method] + 0.1 * c.seed
        k = variant(c.params)
        return {('stg', 1.5): 48, ('m', 0): 47.9, ('dropout', 0.3): 49}.get(k, 46) + 0.1 * c.seed
    df = _fake_results(acc)
    t1 = table12(df, 'cifar100')
    assert t1.loc[t1.method == 'STG (ours)', 'ours 100'].item().startswith('48.1 ± 0.1 (n=3)')
    assert table6(df).set_index('m').loc[0, 'ours'].startswith('48.0 ± 0.1')
    assert table7(df).set_index('strategy').loc['Dropout p=0.3', 'ours C100'].startswith('49.1')
    v = stg_verdicts(df, dict(kl_same_head=1.0, kl_diff_head=2.0, n=3)).set_index('claim').verdict
    assert v.filter(like='cRT+mixup on CIFAR-100').item() == 'reproduced'                # +3 over a std of 0.14
    assert v.filter(like='m=1200 beats m=0').item() == 'partly'                         # +0.1: within the seeds' spread
    assert v.filter(like='CIFAR-100-LT rho 100, Table 7').item() == 'not'               # dropout p=0.3 is better
    assert v.filter(like='Table 5').item() == 'reproduced'
    assert set(stg_verdicts(df.iloc[:0]).verdict) == {'not run', 'not judged'}


def test_table5_summary_reads_the_records_extra():
    from lt_repro.stg import table5_summary
    df = _fake_results(lambda c: 50.0)
    assert table5_summary(df) is None                                                  # no `extra` column: not run
    df['extra'] = [{'stg': {'kl_same_head': 1.0 + c, 'kl_diff_head': 5.0, 'table5': {'cls': 99}}} for c in range(len(df))]
    s = table5_summary(df)
    keep = (df.method == 'stg') & (df.dataset == 'cifar100') & (df.rho == 100) & df.params.map(lambda p: variant(p) == ('stg', 1.5))
    assert s['n'] == keep.sum() == 6 and s['kl_diff_head'] == 5.0
    assert s['kl_same_head'] == 1.0 + np.flatnonzero(keep.values).mean()


def test_stage_one_is_the_mixup_rows_fit():
    "STG, cRT+mixup, LWS+mixup and cRT(mixup) share the mixup row's main fit under --fit-cache; alpha=0 is plain CE's."
    from lt_repro.train import get_recipe
    keys = {get_recipe(m, p).fit_key for m, p in [('mixup', {}), ('stg', {}), ('crt_mixup', {}), ('lws_mixup', {}), ('crt', {'mixup': 1.0})]}
    assert keys == {'mixup1.0'}
    assert get_recipe('stg', {'alpha': 0.0}).fit_key == get_recipe('ce').fit_key == 'ce'
