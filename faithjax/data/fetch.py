"""IMDB and AG News from tensorflow-datasets, written in the layout of ../shared/datasets.

  pip install 'faithjax[tfds]'   # internet access needed
  python -m faithjax.data.fetch --corpus=ag_news --data_dir=~/faithjax-data
  python run.py --corpus=ag_news --data_dir=~/faithjax-data

There is one reader (faithjax/data/corpora.py) and one on-disk format: this
module only converts tfds examples into it, so every later stage is unchanged.
- imdb: tfds `imdb_reviews` -> imdb/imdb_{train,test}.jsonl.gz (id, text, label).
- ag_news: tfds `ag_news_subset` -> ag_news/{train,test}.csv.gz in the official
  CSV format ("class","title","description"; class = label + 1; a newline in a
  description written as a backslash). With the official 120k-row train set
  the full Jain & Wallace protocol (51000 / 9000 / 3800) replaces
  "AG News (reduced train)".
"""

import argparse
import csv
import gzip
import io as stdio
import json
import os
from typing import Iterable, Iterator, Sequence

from faithjax import FaithjaxError
from faithjax import io

SOURCES = {'imdb': 'imdb_reviews', 'ag_news': 'ag_news_subset'}


def examples(name: str, split: str) -> Iterator[dict]:
  """The examples of one tfds split as dicts of Python values (bytes decoded as UTF-8)."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise FaithjaxError("tensorflow-datasets is not installed: pip install 'faithjax[tfds]' (it also needs "
                        'internet access), or copy the corpora into --data_dir') from e
  for example in tfds.as_numpy(tfds.load(name, split=split)):
    yield {k: v.decode('utf-8') if isinstance(v, bytes) else v.item() for k, v in example.items()}


def _write_gzip(path: str, text: str) -> None:
  """Atomically writes `text` gzip-compressed (mtime 0, so equal content gives equal bytes)."""
  with io.atomic_path(path) as tmp:
    with open(tmp, 'wb') as raw, gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as f:
      f.write(text.encode('utf-8'))


def imdb_jsonl(rows: Iterable[dict], split: str) -> str:
  """tfds imdb_reviews examples -> JSONL text of (id, text, label) rows."""
  return ''.join(json.dumps({'id': f'{split}/{i}', 'text': r['text'], 'label': int(r['label'])}) + '\n'
                 for i, r in enumerate(rows))


def ag_news_csv(rows: Iterable[dict]) -> str:
  """tfds ag_news_subset examples -> official AG News CSV text (class 1..4, title, description)."""
  buffer = stdio.StringIO()
  writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator='\n')
  for r in rows:
    writer.writerow([int(r['label']) + 1, r['title'].replace('\n', '\\'), r['description'].replace('\n', '\\')])
  return buffer.getvalue()


def fetch(corpus: str, data_dir: str) -> list[str]:
  """Writes `corpus` under data_dir in the shared layout; returns the paths written."""
  if corpus not in SOURCES:
    raise FaithjaxError(f'tfds fetch covers {", ".join(SOURCES)}; {corpus!r} is read from its files only')
  written = []
  for split in ('train', 'test'):
    rows = examples(SOURCES[corpus], split)
    if corpus == 'imdb':
      path, text = os.path.join(data_dir, 'imdb', f'imdb_{split}.jsonl.gz'), imdb_jsonl(rows, split)
    else:
      path, text = os.path.join(data_dir, 'ag_news', f'{split}.csv.gz'), ag_news_csv(rows)
    _write_gzip(path, text)
    written.append(path)
  return written


def main(argv: Sequence[str] | None = None) -> None:
  # argparse, not absl flags: this module is imported beside run.py, whose flags share the names.
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--corpus', choices=sorted(SOURCES), default='ag_news')
  parser.add_argument('--data_dir', required=True, help='folder to write into; then pass it to run.py --data_dir')
  args = parser.parse_args(argv)
  try:
    for path in fetch(args.corpus, os.path.expanduser(args.data_dir)):
      print(f'wrote {path}')
  except FaithjaxError as e:
    raise SystemExit(f'faithjax: error: {e}') from e


if __name__ == '__main__':
  main()
