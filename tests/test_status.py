"The status page reads every study's verdicts from the results folder it is given, and only from it."
import shutil, tempfile
from collections import Counter
from pathlib import Path
import pandas as pd
import pytest
import lt_repro
from lt_repro.status import status, status_counts, STUDIES, VERDICTS

RESULTS = Path(lt_repro.__file__).parent.parent / 'results'


@pytest.fixture(scope='module')
def here():
    "The status table on the committed records (read once: each read takes seconds)."
    return status()


@pytest.fixture(scope='module')
def none():
    "The status table on an empty results folder."
    with tempfile.TemporaryDirectory() as empty: return status(empty)


def test_status_reads_the_folder_it_is_given(tmp_path, here):
    "The committed records copied elsewhere give the same table; a folder with only the re-sampling study's records changes only that study's rows, to 'not run' elsewhere."
    for f in RESULTS.glob('*.jsonl'): shutil.copy(f, tmp_path / f.name)
    pd.testing.assert_frame_equal(status(tmp_path), here, check_dtype=False)
    only = tmp_path / 'only'; only.mkdir()
    for f in RESULTS.glob('resampling*.jsonl'): shutil.copy(f, only / f.name)
    part = status(only)
    pd.testing.assert_frame_equal(part[part.study == '001 §2'].reset_index(drop=True), here[here.study == "001 §2"].reset_index(drop=True), check_dtype=False)
    assert set(part[part.study != '001 §2'].verdict) <= {'not run', 'not judged'}
    assert set(here[here.study == '001 §2'].verdict) - {'not run'}   # the committed records do judge something there


def test_counts_add_up_and_keep_every_verdict_column(here):
    st = here
    c = status_counts(st)
    assert list(c.columns) == list(VERDICTS) and c.values.sum() == len(st)
    assert list(dict.fromkeys(st.study)) == list(STUDIES)
    assert (st[st.data != ''].claim + st[st.data != ''].setting).str.contains('cifar100|CIFAR-100', case=False).all()


def test_datasets_go_by_the_papers_names(here, none):
    "Every study names its datasets as the papers do (`lt_name`: CIFAR-100-LT, MNIST-LT, ImageNet-LT), never by the package's keys (cifar100, mnist, imagenet_lt), on an empty folder (every claim listed) and on the committed records."
    import re
    from lt_repro.data import LT_DATASETS
    key = re.compile(r'\b(?:' + '|'.join(LT_DATASETS) + r')\b')   # lower case: the keys, not the names
    for st in (none, here):
        text = st.claim + ' | ' + st.setting
        assert not (bad := text[text.str.contains(key)].tolist()), bad[:5]


def test_an_empty_folder_lists_every_claim(here, none):
    "A study's claims are a fixed list that records fill in: an empty results folder lists the same claims as the committed records, each 'not run' (or 'not judged'), so the status page is the whole checklist before the first run."
    missing, extra = Counter(zip(here.study, here.claim)) - Counter(zip(none.study, none.claim)), Counter(zip(none.study, none.claim)) - Counter(zip(here.study, here.claim))
    assert not missing and not extra, (list(missing)[:5], list(extra)[:5])
    assert set(none.verdict) <= {'not run', 'not judged'}
