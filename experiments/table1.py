"""Table 1 of the paper (corpus sizes and document lengths) beside ours.

  python -m experiments.table1 [--data_dir DIR] [--seed 0] [--out_dir experiments/results]

Writes table1.md and table1.csv in --out_dir.
"""

import argparse
import csv
import datetime
import io
import os
import platform
import sys

import numpy as np

from faithjax import io as fio
from faithjax.data import corpora
from faithjax.data.encode import SPLITS

# The paper's Table 1 (Jain & Wallace 2019 corpora): the reference, not our results.
PAPER_TABLE1 = {
    'imdb': {'train': 17212, 'valid': 4304, 'test': 4363, 'mean': 181, 'median': 162, 'p90': 310},
    'sst': {'train': 6920, 'valid': 872, 'test': 1821, 'mean': 20, 'median': 19, 'p90': 31},
    'ag_news': {'train': 51000, 'valid': 9000, 'test': 3800, 'mean': 38, 'median': 37, 'p90': 49},
    '20news': {'train': 1236, 'valid': 310, 'test': 387, 'mean': 171, 'median': 90, 'p90': 345},
}
COLUMNS = ('corpus', 'source', 'train', 'valid', 'test', 'mean', 'median', 'p90', 'max', 'max_len', 'truncated',
           'classes_train', 'classes_valid', 'classes_test')
NOTES = (
    'Ours: tokens per document after cleaning, before truncation to max_len, over train+valid+test; '
    '`truncated`: documents longer than max_len; `classes_*`: documents per class, class 0 first. '
    'Paper rows: the reference numbers of its Table 1; its lengths probably include the <SOS>/<EOS> pair '
    'that the Jain & Wallace vectorizer adds to every document (+2).')


def our_row(name, data_dir, seed):
  """One row (dict over COLUMNS) of our numbers for corpus `name`."""
  raw = corpora.load_raw(name, data_dir, seed)
  stats, counts = corpora.table1(name, raw), corpora.class_counts(raw)
  return {'corpus': corpora.describe(name, data_dir, seed)['display'], 'source': 'ours',
          **{k: stats[k] for k in ('train', 'valid', 'test', 'median', 'p90', 'max', 'truncated')},
          'mean': round(stats['mean'], 1), 'max_len': corpora.spec(name).max_len,
          **{f'classes_{s}': '/'.join(str(c) for c in counts[s]) for s in SPLITS}}


def paper_row(name):
  return {'corpus': corpora.spec(name).display, 'source': 'paper', **PAPER_TABLE1[name]}


def to_csv(rows):
  out = io.StringIO()
  writer = csv.DictWriter(out, COLUMNS, lineterminator='\n')
  writer.writeheader()
  writer.writerows(rows)
  return out.getvalue()


def to_markdown(rows):
  lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
  return '\n'.join(lines + ['| ' + ' | '.join(str(r.get(c, '')) for c in COLUMNS) + ' |' for r in rows]) + '\n'


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data_dir', default=str(corpora.DEFAULT_DATA_DIR))
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--out_dir', default=os.path.join(os.path.dirname(__file__), 'results'))
  args = parser.parse_args(argv)
  rows = []
  for name in corpora.names():
    rows += [our_row(name, args.data_dir, args.seed)] + ([paper_row(name)] if name in PAPER_TABLE1 else [])
  described = [corpora.describe(name, args.data_dir, args.seed) for name in corpora.names()]
  report = '\n'.join([
      '# Table 1: corpora', '',
      f'Command: `{" ".join(["python -m experiments.table1"] + argv)}`  ',
      f'Python {platform.python_version()}, numpy {np.__version__}, '
      f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}, split seed {args.seed}', '',
      NOTES, '', to_markdown(rows), '## Protocols', ''] +
      [f'- **{d["display"]}** (min_df {d["min_df"]}, max_len {d["max_len"]}): {d["protocol"]}' for d in described])
  fio.write_text(os.path.join(args.out_dir, 'table1.md'), report + '\n')
  fio.write_text(os.path.join(args.out_dir, 'table1.csv'), to_csv(rows))
  print(to_markdown(rows))


if __name__ == '__main__':
  main(sys.argv[1:])
