"The status page reads every study's verdicts from the results folder it is given, and only from it."
import shutil
from pathlib import Path
import pandas as pd
import lt_repro
from lt_repro.status import status, status_counts, STUDIES, VERDICTS

RESULTS = Path(lt_repro.__file__).parent.parent / 'results'


def test_status_reads_the_folder_it_is_given(tmp_path):
    "The committed records copied elsewhere give the same table; a folder with only the re-sampling study's records changes only that study's rows, to 'not run' elsewhere."
    here = status()
    for f in RESULTS.glob('*.jsonl'): shutil.copy(f, tmp_path / f.name)
    pd.testing.assert_frame_equal(status(tmp_path), here, check_dtype=False)
    only = tmp_path / 'only'; only.mkdir()
    for f in RESULTS.glob('resampling*.jsonl'): shutil.copy(f, only / f.name)
    part = status(only)
    pd.testing.assert_frame_equal(part[part.study == '001 §2'].reset_index(drop=True), here[here.study == "001 §2"].reset_index(drop=True), check_dtype=False)
    assert set(part[part.study != '001 §2'].verdict) <= {'not run', 'not judged'}
    assert set(here[here.study == '001 §2'].verdict) - {'not run'}   # the committed records do judge something there


def test_counts_add_up_and_keep_every_verdict_column():
    st = status()
    c = status_counts(st)
    assert list(c.columns) == list(VERDICTS) and c.values.sum() == len(st)
    assert list(dict.fromkeys(st.study)) == list(STUDIES)
    assert (st[st.data != ''].claim + st[st.data != ''].setting).str.contains('cifar100|CIFAR-100', case=False).all()


def test_datasets_go_by_the_papers_names():
    "Every study names its datasets as the papers do (`lt_name`: CIFAR-100-LT, MNIST-LT, ImageNet-LT), never by the package's keys (cifar100, mnist, imagenet_lt), on an empty folder (every claim listed) and on the committed records."
    import re, tempfile
    from lt_repro.data import LT_DATASETS
    key = re.compile(r'\b(' + '|'.join(LT_DATASETS) + r')\b')   # lower case: the keys, not the names
    with tempfile.TemporaryDirectory() as empty:
        for st in (status(empty), status()):
            text = st.claim + ' | ' + st.setting
            assert not (bad := text[text.str.contains(key)].tolist()), bad[:5]
