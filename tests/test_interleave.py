"""The interleaved benchmark protocol with stub runners (no timings are measured or asserted)."""

import pytest

from faithjax import bench
from faithjax import interleave


def stub_side(log, case, side, rates):
  """A runner that logs its call and yields round r's rate for each (impl, explainer) of rates[r]."""
  calls = iter(range(10**6))

  def run():
    round_ = next(calls)
    log.append((case, side))
    return [dict(impl=impl, explainer=explainer, examples_per_s=per_round[round_], batch=8)
            for (impl, explainer), per_round in rates.items()]
  return run


def test_sides_alternate_which_goes_first_and_every_case_runs_each_round():
  log = []
  cases = {case: {side: stub_side(log, case, side, {}) for side in ('faithjax', 'peer')} for case in 'ab'}
  list(interleave.run_rounds(cases, rounds=3, loadavg=lambda: (0.5, 0, 0)))
  assert log == [('a', 'faithjax'), ('a', 'peer'), ('b', 'faithjax'), ('b', 'peer'),
                 ('a', 'peer'), ('a', 'faithjax'), ('b', 'peer'), ('b', 'faithjax'),
                 ('a', 'faithjax'), ('a', 'peer'), ('b', 'faithjax'), ('b', 'peer')]


def test_ratio_median_min_max_over_rounds_and_the_load_of_each_round():
  ours = {('faithjax', 'integrated_gradients'): [10., 30., 20., 80., 40.],
          ('faithjax', 'saliency'): [100.] * 5}
  theirs = {('captum', 'integrated_gradients'): [5., 10., 20., 10., 4.],  # ratios 2, 3, 1, 8, 10
            ('torch_batched', 'integrated_gradients'): [10.] * 5,
            ('captum', 'saliency'): [50., 25., 50., 50., 200.]}  # ratios 2, 4, 2, 2, 0.5
  load_readings = iter([0.1, 0.2, 0.3, 0.4, 0.5])
  cases = {'LSTM seq 8': dict(faithjax=stub_side([], 'c', 'faithjax', ours), peer=stub_side([], 'c', 'peer', theirs))}
  records = list(interleave.run_rounds(cases, rounds=5, loadavg=lambda: (next(load_readings), 9., 9.)))
  summary = interleave.ratios(records)
  ig = summary['LSTM seq 8', 'integrated_gradients', 'captum']
  assert ig['ratios'] == [2., 3., 1., 8., 10.]
  assert (ig['median'], ig['min'], ig['max'], ig['rounds']) == (3., 1., 10., 5)
  assert (ig['faithjax_median'], ig['peer_median']) == (30., 10.)
  assert summary['LSTM seq 8', 'integrated_gradients', 'torch_batched']['median'] == 3.
  saliency = summary['LSTM seq 8', 'saliency', 'captum']
  assert (saliency['median'], saliency['min'], saliency['max']) == (2., .5, 4.)
  assert ('LSTM seq 8', 'input_x_gradient', 'captum') not in summary  # neither side measured it
  assert interleave.loads(records) == [0.1, 0.2, 0.3, 0.4, 0.5]
  assert '| LSTM seq 8 | integrated_gradients | captum | 30.0 | 10.0 | 3.00x | 1.00-10.00x | 5 |' in (
      interleave.table(records, n_cores=2))


# The names ../shared/bench/peer_torch.py --extra prints for Captum's explainers.
PEER_EXTRA_NAMES = ('occlusion', 'smoothgrad', 'gradient_shap', 'lime', 'kernel_shap')


def test_every_extra_explainer_is_paired_with_captums_counterpart():
  rates = lambda impl: {(impl, name): [10. * (impl == 'faithjax') + 5.] for name in PEER_EXTRA_NAMES}
  cases = {'LSTM seq 8': dict(faithjax=stub_side([], 'c', 'faithjax', rates('faithjax')),
                              peer=stub_side([], 'c', 'peer', rates('captum')))}
  summary = interleave.ratios(interleave.run_rounds(cases, rounds=1, loadavg=lambda: (0.1, 0, 0)))
  assert {k[1:]: s['median'] for k, s in summary.items()} == {(name, 'captum'): 3. for name in PEER_EXTRA_NAMES}


def test_a_round_above_the_core_count_marks_the_table_not_valid():
  for readings, valid in (([1.5, 2.0], True), ([1.5, 2.5], False)):
    load_readings = iter(readings)
    case = dict(faithjax=stub_side([], 'c', 'faithjax', {('faithjax', 'saliency'): [1., 1.]}),
                peer=stub_side([], 'c', 'peer', {('captum', 'saliency'): [1., 1.]}))
    records = list(interleave.run_rounds({'c': case}, rounds=2, loadavg=lambda: (next(load_readings), 0., 0.)))
    assert interleave.table(records, n_cores=2).startswith('Valid' if valid else '**NOT VALID')


def test_interleave_refuses_to_start_on_a_loaded_machine(monkeypatch, tmp_path):
  monkeypatch.setattr(bench.os, 'getloadavg', lambda: (99., 99., 99.))
  table = tmp_path / 'bench.md'
  with pytest.raises(SystemExit, match='faithjax: error: load average 99.00 exceeds'):
    bench.main(['--interleave', '--table', str(table), '--jsonl', str(tmp_path / 'x.jsonl')])
  assert not table.exists()


@pytest.mark.parametrize('flag', [['--models', 'gru'], ['--seq_lens', '64']])
def test_interleave_names_an_unknown_model_or_length(flag):
  with pytest.raises(SystemExit, match='faithjax: error: --'):
    bench.main(['--interleave', *flag])


def test_the_peer_side_reports_its_best_batch_per_explainer():
  results = [dict(impl='captum', explainer='saliency', examples_per_s=5., batch=16),
             dict(impl='captum', explainer='saliency', examples_per_s=7., batch=32),
             dict(impl='torch_loop', explainer='eraser_deletion', examples_per_s=2., batch=16),
             dict(impl='torch_loop', explainer='eraser_deletion', examples_per_s=1., batch=32)]
  best = {r['impl']: r for r in bench.best_per_explainer(results)}
  assert (best['captum']['batch'], best['captum']['tried']) == (32, {16: 5., 32: 7.})
  assert (best['torch_loop']['batch'], best['torch_loop']['examples_per_s']) == (16, 2.)


def test_interleave_writes_the_table_and_every_record(monkeypatch, tmp_path):
  monkeypatch.setattr(bench.os, 'getloadavg', lambda: (0.5, 0.5, 0.5))
  ours, theirs = {('faithjax', 'saliency'): [40., 60.]}, {('captum', 'saliency'): [20., 20.]}
  monkeypatch.setattr(bench, 'interleave_cases', lambda args: {'LSTM seq 32': dict(
      faithjax=stub_side([], 'c', 'faithjax', ours), peer=stub_side([], 'c', 'peer', theirs))})
  table, jsonl = tmp_path / 'bench.md', tmp_path / 'bench.jsonl'
  bench.main(['--interleave', '--rounds', '2', '--table', str(table), '--jsonl', str(jsonl)])
  text = table.read_text()
  assert 'Valid: load average at most 0.50 on' in text
  assert '| LSTM seq 32 | saliency | captum | 50.0 | 20.0 | 2.50x | 2.00-3.00x | 2 |' in text
  assert 'python -m faithjax.bench --interleave --rounds 2 --models lstm,bilstm --seq_lens 32,256' in text
  assert len(jsonl.read_text().splitlines()) == 4  # 2 rounds x 2 sides x 1 result


def test_deletion_rows_alone_run_only_deletion_on_the_faithjax_side_and_name_it_in_the_command(monkeypatch):
  """--explainers eraser_deletion: faithjax measures deletion alone in every case, the table holds only the
  deletion rows (the peer's other lines have no faithjax partner), and bench.md's command repeats the run."""
  asked = []
  monkeypatch.setattr(bench, 'bench', lambda a: asked.append((a.seq_len, a.bidirectional, a.explainers)) or [])
  args = bench.parse_args(['--interleave', '--explainers', 'eraser_deletion', '--steps', '1', '--rounds', '3'])
  cases = bench.interleave_cases(args)
  for case in cases.values():
    case['faithjax']()
  assert sorted(asked) == [(s, b, ['eraser_deletion']) for s in (32, 256) for b in (False, True)]
  records = list(interleave.run_rounds({'LSTM seq 256': dict(
      faithjax=stub_side([], 'c', 'faithjax', {('faithjax', 'eraser_deletion'): [30.] * 3}),
      peer=stub_side([], 'c', 'peer', {('torch_loop', 'eraser_deletion'): [1.] * 3,
                                      ('captum', 'saliency'): [9.] * 3}))}, 3, loadavg=lambda: (0.5,)))
  assert [k[1] for k in interleave.ratios(records)] == ['eraser_deletion']
  assert bench.interleave_command(args) == ('python -m faithjax.bench --interleave --rounds 3 --models lstm,bilstm '
                                            '--seq_lens 32,256 --steps 1 --explainers eraser_deletion')


def test_the_load_is_read_once_the_previous_cases_own_load_has_settled():
  waits = []
  readings = iter([2.5, 2.2, 1.9, 1.5])
  assert interleave.settled_load(lambda: (next(readings),), n_cores=2, patience=60, wait=waits.append) == 1.9
  assert waits == [5., 5.]  # two waits of one step, then below the core count
  readings = iter([2.5, 2.4, 2.3])
  assert interleave.settled_load(lambda: (next(readings),), n_cores=2, patience=5, wait=waits.append) == 2.4
  # run_rounds records the settled reading, so a busy machine still marks the table NOT VALID after the wait
  readings = iter([500.0, 1.0, 500.0, 500.0])  # above any machine's core count
  case = dict(faithjax=stub_side([], 'c', 'faithjax', {('faithjax', 'saliency'): [1., 1.]}),
              peer=stub_side([], 'c', 'peer', {('captum', 'saliency'): [1., 1.]}))
  records = list(interleave.run_rounds({'c': case}, rounds=2, loadavg=lambda: (next(readings),), patience=5,
                                       wait=lambda seconds: None))
  assert interleave.loads(records) == [1.0, 500.0]
