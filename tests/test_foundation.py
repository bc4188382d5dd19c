"""Properties of the foundation: profiles, seeded selection, samplers, CMNIST-LT, bad input."""
import gzip, os, numpy as np, pytest, torch
from scipy.stats import chisquare
from lt_repro.data import (lt_counts, get_lt_dataset, load_raw, read_idx, shot_groups, make_cmnist, flip_labels,
                           DataMissingError, CorruptDataError, select_lt)
from lt_repro.sampling import QPowerSampler, ClassAwareSampler, PairedBatchSampler, qpower_class_probs

CIFAR10_LT = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
MNIST_LT = [5923, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]


def test_profiles():
    assert lt_counts(5000, 10, 100) == CIFAR10_LT
    assert lt_counts(6000, 10, 100, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]) == MNIST_LT
    assert lt_counts(500, 100, 100)[-1] == 5 and lt_counts(500, 100, 1) == [500] * 100
    assert lt_counts(5000, 10, 10)[-1] == 500 and lt_counts(5000, 10, 50)[-1] == 100


@pytest.mark.parametrize('rho', [0.5, 0, -3, float('nan')])
def test_bad_rho(rho):
    with pytest.raises(ValueError, match='rho'): lt_counts(100, 10, rho)


def test_profile_leaving_empty_class():
    with pytest.raises(ValueError, match='0 images'): lt_counts(50, 10, 100)


def test_seeded_selection_is_per_class_random_and_reproducible():
    y = np.repeat(np.arange(3), 100)
    a, b, c = select_lt(y, [50, 20, 5], 0), select_lt(y, [50, 20, 5], 0), select_lt(y, [50, 20, 5], 1)
    assert (a == b).all() and not np.array_equal(a, c)
    assert np.bincount(y[a]).tolist() == [50, 20, 5]
    assert not np.array_equal(a[:50], np.arange(50))          # never the first n


def test_real_lt_sets():
    d = get_lt_dataset('mnist', 100, 0)
    assert d.counts == MNIST_LT and len(d.y_test) == 10000 and d.x_train.dtype == np.uint8
    assert (get_lt_dataset('mnist', 100, 0).ids_train == d.ids_train).all()
    c = get_lt_dataset('cifar10', 100, 3)
    assert c.counts == CIFAR10_LT and c.source.startswith('cifar10-webp') and list(np.bincount(c.y_test)) == [1000] * 10
    c100 = get_lt_dataset('cifar100', 100, 0)
    assert c100.source.startswith('cifar100-resplit') and [(c100.shots == s).sum() for s in ('many', 'medium', 'few')] == [35, 35, 30]


def test_unknown_dataset():
    with pytest.raises(ValueError, match='unknown dataset'): get_lt_dataset('svhn')


def test_missing_data_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv('LT_REPRO_DATA', raising=False)
    with pytest.raises(DataMissingError) as e: load_raw('fashion', root=tmp_path, download=False)
    assert str(tmp_path) in str(e.value) and 'LT_REPRO_DATA' in str(e.value)


def test_corrupt_idx(tmp_path):
    p = tmp_path / 'x.gz'
    with gzip.open(p, 'wb') as f: f.write(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]) + bytes(100))
    with pytest.raises(CorruptDataError, match='expected'): read_idx(p)
    p.write_bytes(b'not gzip at all')
    with pytest.raises(CorruptDataError): read_idx(p)


def test_cmnist_rules():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), MNIST_LT); x = rng.integers(0, 256, (len(y), 4, 4, 1), dtype=np.uint8)
    xt, yt = x[:500], y[:500]
    xc, yn, fl, col, xtc, colt = make_cmnist(x, y, xt, yt, rng=np.random.default_rng(5))
    assert fl.sum() == int(0.25 * len(y))
    assert (yn[fl] != y[fl]).all() and (yn[~fl] == y[~fl]).all()
    assert (col[yn >= 5] == yn[yn >= 5]).all()                       # tail: one fixed colour
    assert len(np.unique(col[yn == 0])) == 10                         # head: any of ten
    assert xc.shape == (len(y), 4, 4, 3) and xc.dtype == np.uint8
    # deterministic given the seed
    assert (make_cmnist(x, y, xt, yt, rng=np.random.default_rng(5))[0] == xc).all()
    # flipped labels follow p(j) ∝ n_j, j != y
    yy = np.zeros(200_000, int); yy[:50_000] = 1; yy[50_000:60_000] = 2
    new, f = flip_labels(yy, 3, 0.5, np.random.default_rng(0))
    src0 = new[f & (yy == 0)]
    assert abs((src0 == 1).mean() - 50_000 / 60_000) < 0.01


def test_cmnist_real_flip_rate():
    d = get_lt_dataset('cmnist', 100, 2)
    assert d.extra['flipped'].mean() == pytest.approx(0.25, abs=1e-4) and d.x_train.shape[-1] == 3


@pytest.mark.parametrize('q', [1.0, 0.5, 0.0])
def test_qpower_frequencies_chi_square(q):
    y = np.repeat(np.arange(10), CIFAR10_LT)
    s = QPowerSampler(y, q=q, num_samples=100_000, seed=1)
    obs = np.bincount(y[list(s)], minlength=10)
    assert chisquare(obs, qpower_class_probs(np.bincount(y), q) * obs.sum()).pvalue > 0.001
    # and a wrong p is rejected by the same test: the test can fail
    wrong = qpower_class_probs(np.bincount(y), q + 0.3)
    assert chisquare(obs, wrong * obs.sum()).pvalue < 1e-6


def test_class_aware():
    y = np.repeat(np.arange(10), CIFAR10_LT)
    s = ClassAwareSampler(y, Z=4, seed=0)
    assert len(s) == 50_000 and list(s)[:40] != list(ClassAwareSampler(y, Z=4, seed=1))[:40]
    obs = np.bincount(y[list(s)], minlength=10)
    assert chisquare(obs).pvalue > 0.001
    with pytest.raises(ValueError, match='smallest class'): ClassAwareSampler(y, Z=51)


def test_paired_epoch_is_one_pass_of_the_instance_stream():
    y = np.repeat(np.arange(4), [40, 20, 10, 5])
    pairs = list(PairedBatchSampler(y, 16, seed=0))
    assert len(pairs) == 5 and sorted(np.concatenate([u for u, _ in pairs]).tolist()) == list(range(75))
    assert all(len(u) == len(b) for u, b in pairs)


def test_labels_out_of_range():
    with pytest.raises(ValueError, match='outside'): QPowerSampler(np.array([0, 1, -2]))


def test_shot_groups():
    assert list(shot_groups([150, 100, 20, 19])) == ['many', 'medium', 'medium', 'few']
    with pytest.raises(ValueError): shot_groups([1, 2, 3], rule='rank10')
