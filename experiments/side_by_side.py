"""Two reproductions' Tables 2-5 side by side with the paper's: e.g. the Transformer beside the LSTM.

  python -m experiments.side_by_side \
      --runs=experiments/results/reproduction_reduced_transformer_runs.json --label=Transformer \
      --beside=experiments/results/reproduction_cpu_runs.json --beside_label=BiLSTM \
      --out=experiments/results/transformer_beside_lstm.md

Reads the *_runs.json that `experiments.reproduce` writes; one table per corpus both cover and per
evaluation, rows the explainers (Table 2: the metrics), cells 'value [95% CI]'; the settings of each
below, since the two may differ.
"""

from absl import flags

from faithjax import cli
from faithjax import config as config_lib
from faithjax import io
from faithjax import paper
from faithjax import provenance
from faithjax import report
from faithjax import study

FLAGS = flags.FLAGS
flags.DEFINE_string('runs', None, 'A reproduction_*_runs.json.', required=True)
flags.DEFINE_string('label', None, 'Its column title.', required=True)
flags.DEFINE_string('beside', None, 'The reproduction_*_runs.json to set beside it.', required=True)
flags.DEFINE_string('beside_label', None, 'Its column title.', required=True)
flags.DEFINE_string('out', None, 'The markdown file written.', required=True)

SETTINGS = ('model', 'epochs', 'weak_epochs', 'ig_steps', 'test_subset', 'permutations', 'emb_dim', 'hidden',
            'layers', 'heads', 'deletion_mode', 'target', 'seed')


def cells(runs, rows, key):
  """{(row name, corpus): 'value [CI]'} and {(row name, corpus): the paper's value or None}."""
  ours = {(r[key], r['corpus']): report.with_ci(r['ours'], None if r['low'] is None else (r['low'], r['high']))
          for r in rows(runs)}
  theirs = {(r[key], r['corpus']): r['paper'] for r in rows(runs)}
  return ours, theirs


def tables(a, b, labels):
  """One markdown table per (table, corpus both runs cover)."""
  corpora = shared_corpora(a, b)
  sections = [('Table 2: classifier on test', lambda runs: study.table2_rows(runs), 'metric')]
  sections += [(study.title(e), lambda runs, e=e: study.comparison_rows(runs, e), 'map')
               for e in study.evaluation_names()]
  lines = []
  for title, rows, key in sections:
    (ours_a, theirs), (ours_b, _) = cells(a, rows, key), cells(b, rows, key)
    for corpus in corpora:
      names = list(dict.fromkeys(n for n, c in ours_a if c == corpus))
      lines += [f'### {title}: {a[corpus]["stages"]["encode"]["display_name"]}', '',
                report.markdown_table([key, *labels, 'paper (BiLSTM)'],
                                      [[n, ours_a[n, corpus], ours_b.get((n, corpus)), theirs.get((n, corpus))]
                                       for n in names]), '']
  return lines


def shared_corpora(a, b):
  return [c for c in paper.CORPORA if c in a and c in b]


def settings(runs_by_label, corpora):
  # Runs made before RunConfig had a `model` field are the LSTM's, its default.
  value = lambda config, k: config_lib.saved_setting(config, k, 'lstm' if k == 'model' else None)
  rows = [[label, runs[c]['stages']['encode']['display_name']] + [value(runs[c]['config'], k) for k in SETTINGS]
          for label, runs in runs_by_label.items() for c in corpora]
  return report.markdown_table(['run', 'corpus', *SETTINGS], rows)


def render(a, b, labels):
  prov = next(iter(a.values()))['provenance']
  lines = [f'# {labels[0]} beside {labels[1]} and the paper', '',
           f'Built by `python -m experiments.side_by_side --runs={FLAGS.runs} --label={labels[0]} '
           f'--beside={FLAGS.beside} --beside_label={labels[1]} --out={FLAGS.out}`. Each cell: value [bootstrap 95% '
           f'CI over test examples]; — where a run has no such number. {labels[0]} measured on '
           f'{report.device_name(prov["device"])}; ' + provenance.versions_text(prov) + '.',
           '', '## Settings', '', settings(dict(zip(labels, (a, b))), shared_corpora(a, b)), '', '## Tables', '']
  return '\n'.join(lines + tables(a, b, labels))


def main(argv):
  del argv
  a, b = io.read_json(FLAGS.runs), io.read_json(FLAGS.beside)
  io.write_text(FLAGS.out, render(a, b, (FLAGS.label, FLAGS.beside_label)))
  print(f'wrote {FLAGS.out}')


if __name__ == '__main__':
  cli.run(main)
