"The GPU benchmark's table and plot read `bench.jsonl` records as `record_bench` writes them; targets are judged, not assumed."
import pandas as pd, pytest
from lt_repro.bench import gpu_bench_table, plot_bench, BENCH_TARGETS

def _bench(acc=(70.5, 71.0, 70.2), ours_s=25.0, ref_s=420.0, rpm=(2.0, 6.0, 9.0, 10.0)):
    dev = 'cuda:0 (NVIDIA H100 80GB HBM3)'
    recs = [dict(bench='cifar10_lt_resnet32_ce', device=dev, seed=s, epochs=200, speedup=ref_s / ours_s,
                 ours=dict(acc=a, wall_s=ours_s, s_per_epoch=ours_s / 200, peak_mem_mb=900.0),
                 reference=dict(acc=70.3, wall_s=ref_s, s_per_epoch=ref_s / 200, peak_mem_mb=700.0)) for s, a in enumerate(acc)]
    recs += [dict(bench='concurrency', device=dev, n=n, epochs=5, wall_s=60 * n / r, runs_per_min=r) for n, r in zip((1, 4, 8, 16), rpm)]
    recs += [dict(bench='cpu_lenet_mnist_lt_8ep', device='cpu', wall_s=20.0, acc=66.0, target_s=60)]   # ignored here
    return pd.DataFrame(recs)

def test_targets_met():
    t = gpu_bench_table(_bench()).set_index('figure')
    assert t.loc['final test accuracy (%)', 'met'] == 'yes' and t.loc['final test accuracy (%)', 'ours'].startswith('70.6')
    assert t.loc['wall time of a run (s)', 'met'] == 'yes' and t.loc['speed-up over the reference (×)', 'ours'].startswith('16.8')
    assert t.loc['8 concurrent / 1, runs per minute (×)', 'ours'] == '4.50' and t.loc['8 concurrent / 1, runs per minute (×)', 'met'] == 'yes'
    assert t.loc['4 concurrent / 1, runs per minute (×)', 'met'] == ''

def test_targets_missed():
    t = gpu_bench_table(_bench(acc=(69.0, 68.5, 68.9), ours_s=40.0, ref_s=400.0, rpm=(2.0, 5.0, 7.0, 7.5))).set_index('figure')
    assert (t.loc[['final test accuracy (%)', 'wall time of a run (s)', 'speed-up over the reference (×)',
                   '8 concurrent / 1, runs per minute (×)'], 'met'] == 'no').all()
    two = gpu_bench_table(_bench(acc=(71.0, 72.0))).set_index('figure')   # above 70 but only 2 seeds: not met
    assert two.loc['final test accuracy (%)', 'met'] == 'no'
    noref = gpu_bench_table(_bench().drop(columns='speedup')).set_index('figure').loc['speed-up over the reference (×)']   # no reference run: said so
    assert (noref.ours, noref.reference, noref.met) == ('–', '', 'not measured')

def test_no_gpu_records_and_plot():
    assert len(gpu_bench_table(pd.DataFrame())) == 0
    assert len(gpu_bench_table(_bench().query("bench == 'cpu_lenet_mnist_lt_8ep'"))) == 0
    import matplotlib; matplotlib.use('Agg')
    axs = plot_bench(_bench())
    assert len(axs[0].patches) == 2 and len(axs[1].lines) == 2
