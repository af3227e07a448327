"""The corpora by name: files -> cleaned token lists, split as in Jain & Wallace (2019).

`load_raw(name)` returns {split: (token lists, labels <int32>[n])} for 'train',
'valid' and 'test' ('synthetic' adds its rationale masks as a third element),
ready for `encode.encode_corpus(name, raw, spec.min_df, spec.max_len)`.
Each corpus is a `plugins.Corpus` record registered below, as a user's is (docs/extending.md).
`describe(name)` records what was done: the protocol, the split seed, and
whether a stand-in replaced an official file.

Files are read from `data_dir` (default: ../shared/datasets beside the repo;
layout in its README.md). They must be UTF-8: a byte that is not stops the
load with its line number, because silently replacing it would hide a wrong
or damaged copy. Every problem with a file is a one-line `FaithjaxError`.
"""

import contextlib
import contextvars
import csv
import dataclasses
import functools
import gzip
import html
import io
import json
import logging
import math
import pathlib
import re
import zlib
from typing import BinaryIO, Iterator, Mapping

import numpy as np

from faithjax import FaithjaxError
from faithjax import plugins
from faithjax.data import fetch
from faithjax.data import synthetic
from faithjax.data import text
from faithjax.data.encode import SPLITS

DEFAULT_DATA_DIR = pathlib.Path(__file__).resolve().parents[2].parent / 'shared' / 'datasets'
IMDB_SIZES = {'train': 17212, 'valid': 4304, 'test': 4363}
IMDB_MAX_TOKENS = 400  # documents with >= 400 tokens are dropped before sampling

log = logging.getLogger(__name__)
_reads = []  # lists collecting the files read (recording_reads)


# ----------------------------------------------------------------------------- reading files

@contextlib.contextmanager
def recording_reads() -> Iterator[list]:
  """Yields a list that collects the path of every corpus file read inside the block."""
  files = []
  _reads.append(files)
  try:
    yield files
  finally:
    _reads.remove(files)


def open_content(path: str | pathlib.Path) -> BinaryIO:
  """The file as the loaders read it: a binary file object, gunzipped when the name ends in .gz."""
  return gzip.open(path) if pathlib.Path(path).suffix == '.gz' else open(path, 'rb')


def _read_text(path):
  """The whole file as str (open_content); strict UTF-8."""
  for files in _reads:
    files.append(path)
  try:
    with open_content(path) as f:
      data = f.read()
  except FileNotFoundError:
    raise FaithjaxError(f'missing corpus file {path}: copy the corpora there (see shared/datasets/README.md) '
                        'or pass data_dir= pointing at them') from None
  except (gzip.BadGzipFile, EOFError, zlib.error) as e:
    raise FaithjaxError(f'{path} is a truncated or corrupt gzip file ({e}): copy it again') from None
  except OSError as e:
    raise FaithjaxError(f'cannot read {path} ({e}): check the path and its permissions') from None
  if not data.strip():
    raise FaithjaxError(f'{path} is empty: copy it again')
  try:
    return data.decode('utf-8')
  except UnicodeDecodeError as e:
    line = data.count(b'\n', 0, e.start) + 1
    raise FaithjaxError(f'{path} line {line} is not UTF-8 ({e.reason}): re-encode the file as UTF-8') from None


LINE = '_line'  # the key under which _read_jsonl keeps each row's line in its file, for errors that name it


def _read_jsonl(path, fields):
  """Rows (dicts) of a JSON-lines file, each checked to hold `fields`."""
  rows = []
  # split on '\n' only: str.splitlines would also break at U+2028, U+0085 inside texts
  for n, line in enumerate(_read_text(path).split('\n'), 1):
    if not line.strip():
      continue
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      raise FaithjaxError(f'{path} line {n} is not JSON ({e.msg}): the file must hold one JSON object '
                          'per line; copy it again') from None
    missing = [k for k in fields if not isinstance(row, dict) or k not in row]
    if missing:
      raise FaithjaxError(f'{path} line {n} lacks the field(s) {missing}: is it the right file? copy it again')
    if 'text' in fields and not isinstance(row['text'], str):
      raise FaithjaxError(f'{path} line {n}: text {row["text"]!r} is not a string')
    rows.append({**row, LINE: n})
  return rows


def _read_ag_csv(path):
  """Rows of an official AG News CSV: (class 1..4, title, description), no header."""
  rows = list(csv.reader(io.StringIO(_read_text(path), newline='')))
  for n, row in enumerate(rows, 1):
    if len(row) != 3:
      raise FaithjaxError(f'{path} row {n} has {len(row)} columns, expected 3 (class,title,description): '
                          'use the official AG News CSV')
  return rows


def _where(row, n):
  """Where row `n` (1-based) of a file is: its file line where it came from a JSON-lines file (LINE)."""
  return f'line {row[LINE]}' if isinstance(row, dict) and LINE in row else f'row {n}'


def _labels(values, allowed, path, rows=None):
  """Checked labels <int32>[n]: every value an int in `allowed`. rows: where each value came from (_where)."""
  for n, v in enumerate(values, 1):
    if isinstance(v, bool) or not isinstance(v, int) or v not in allowed:
      raise FaithjaxError(f'{path} {_where(rows[n - 1] if rows else None, n)}: label {v!r} is out of range '
                          f'(expected one of {sorted(allowed)}): the file is not the expected corpus; copy it again')
  return np.array(values, np.int32)


def _find(data_dir, name):
  """`name` or `name`.gz in data_dir, whichever exists (the gzipped one if neither)."""
  plain = data_dir / name
  return plain if plain.exists() else data_dir / (name + '.gz')


# ----------------------------------------------------------------------------- cleaning

_PTB_BRACKET = re.compile(r'-[LR]RB-')
_NON_WORD = re.compile(r'\W')
_AG_ENTITY = re.compile(r'(?:^| )(#\d+|quot|amp|lt|gt);')  # '&#39;' / '&quot;' stored as ' #39;' / ' quot;'
_TAG = re.compile(r'<[^>]*>')
_DIGIT_SEPARATOR = re.compile(r'(?<=\d)[,.](?=\d)')
_QUOTE_LINE = re.compile(r'(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)')


def qqq_tokens(raw: str) -> list[str]:
  """Lowercased word tokens; every token containing a digit becomes 'qqq'.

  Separators inside numbers go first, so '1,900' and '3.5' are one 'qqq' each.
  """
  tokens = text.tokenize(_DIGIT_SEPARATOR.sub('', raw))
  return ['qqq' if any(c.isdigit() for c in t) else t for t in tokens]


def clean_imdb(raw: str) -> list[str]:
  """IMDB review -> tokens: HTML line breaks removed, lowercased, word-tokenised."""
  return text.tokenize(raw.replace('<br />', ' '))


def clean_sst(raw: str) -> list[str]:
  """SST sentence (PTB leaves joined by spaces) -> tokens.

  -LRB-/-RRB- are dropped; every other non-word character (PTB escapes `\\/`,
  `\\*`, quotes `` and '', punctuation, the apostrophe of 's) becomes a space,
  exactly as in J&W's SST notebook, so "co-writer\\/director 's" gives
  ['co', 'writer', 'director', 's'].
  """
  return _NON_WORD.sub(' ', _PTB_BRACKET.sub(' ', raw).lower()).split()


def clean_ag_news(raw: str) -> list[str]:
  """AG News description -> tokens, numbers as 'qqq'.

  The source replaced the '&' of HTML entities by a space (' #39;s' is "'s")
  and marks newlines with a backslash; both are undone first, so entities do
  not turn into spurious 'qqq' tokens. HTML tags are dropped.
  """
  raw = html.unescape(_AG_ENTITY.sub(r'&\1;', raw))
  return qqq_tokens(_TAG.sub(' ', raw).replace('\\', ' '))


def _strip_footer(body):
  """Drops everything from the last blank or all-dash line on (sklearn's signature rule).

  Trailing blank lines do not count; a post whose only such line is its first
  is kept whole.
  """
  lines = body.strip().split('\n')
  cut = next((i for i in range(len(lines) - 1, -1, -1) if not lines[i].strip().strip('-')), 0)
  return '\n'.join(lines[:cut]) if cut > 0 else body


def clean_newsgroup(raw: str) -> list[str]:
  """20 Newsgroups post -> tokens, numbers as 'qqq'.

  As sklearn's `remove=('headers', 'footers', 'quotes')`, which J&W used:
  headers are everything before the first blank line; the footer starts at the
  last blank or dashes-only line; quoted lines start with '>' or '|', or
  attribute a quote ('In article ...', '... writes:', 'wrote:', 'says:').
  """
  body = _strip_footer(raw.partition('\n\n')[2])
  kept = [line for line in body.split('\n') if not _QUOTE_LINE.search(line)]
  return qqq_tokens('\n'.join(kept))


# ----------------------------------------------------------------------------- splitting

def stratified_split(labels: np.ndarray, fraction: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """(rest, held) index arrays of labels [n], each shuffled; `held` has ceil(fraction * n) rows.

  Each class gets its proportional share of `held` (largest remainders take
  the rounding), as sklearn's train_test_split(stratify=...) sizes it.
  """
  labels = np.asarray(labels)
  n_held = math.ceil(round(fraction * len(labels), 6))  # round: 0.55 * 100 is 55.00000000000001
  classes, counts = np.unique(labels, return_counts=True)
  quota = counts * n_held / len(labels)
  take = np.floor(quota).astype(int)
  take[np.argsort(take - quota, kind='stable')[:n_held - take.sum()]] += 1
  rest, held = [], []
  for c, k in zip(classes, take):
    members = rng.permutation(np.flatnonzero(labels == c))
    held.append(members[:k])
    rest.append(members[k:])
  empty = [np.zeros(0, np.int64)]  # no rows: no classes
  return rng.permutation(np.concatenate(empty + rest)), rng.permutation(np.concatenate(empty + held))


def _take(pool, indices):
  """(docs, labels, ids) restricted to `indices`, in that order."""
  docs, labels, ids = pool
  return [docs[i] for i in indices], labels[indices], [ids[i] for i in indices]


def _pool(rows, clean, labels, text_of=lambda row: row['text']):
  """(cleaned docs, labels, source ids) of parsed JSONL rows."""
  return [clean(text_of(r)) for r in rows], labels, [r['id'] for r in rows]


# ----------------------------------------------------------------------------- the corpora

def _load_imdb(data_dir, seed):
  rng = np.random.default_rng(seed)
  pools = {}
  for part in ('train', 'test'):
    path = data_dir / 'imdb' / f'imdb_{part}.jsonl.gz'
    rows = _read_jsonl(path, ('id', 'text', 'label'))
    docs, labels, ids = _pool(rows, clean_imdb, _labels([r['label'] for r in rows], {0, 1}, path, rows))
    short = np.array([i for i, d in enumerate(docs) if len(d) < IMDB_MAX_TOKENS], np.int64)
    pools[part] = _take((docs, labels, ids), short)
  train_idx, valid_idx = stratified_split(pools['train'][1], 0.2, rng)
  test_idx = rng.permutation(len(pools['test'][1]))
  parts = {'train': ('train', train_idx), 'valid': ('train', valid_idx), 'test': ('test', test_idx)}
  out = {}
  for split, (part, idx) in parts.items():
    if len(idx) < IMDB_SIZES[split]:
      raise FaithjaxError(f'IMDB: only {len(idx)} {split} candidates with < {IMDB_MAX_TOKENS} tokens, the protocol '
                          f'needs {IMDB_SIZES[split]}: use the complete aclImdb files')
    out[split] = _take(pools[part], idx[:IMDB_SIZES[split]])  # idx is shuffled: a prefix is a random sample
  return out


def _load_sst(data_dir, seed):
  del seed  # the official splits
  out = {}
  for split, part in (('train', 'train'), ('valid', 'dev'), ('test', 'test')):
    path = data_dir / 'sst' / f'sst2_sentence_{part}.jsonl.gz'
    rows = _read_jsonl(path, ('id', 'text', 'label'))
    out[split] = _pool(rows, clean_sst, _labels([r['label'] for r in rows], {0, 1}, path, rows))
  return out


AG_CLASSES = ('World', 'Sports', 'Business', 'Sci/Tech')  # official CSV classes 1..4 (classes.txt)
AG_WORLD, AG_BUSINESS = 1, 3
AG_PAPER = (AG_WORLD, AG_BUSINESS)  # Jain & Wallace's binary task: World 0 vs Business 1


# RunConfig.ag_news_title: read the official test rows as title + ' ' + description, the text the 5k train
# sample's rows hold, instead of the description alone (the official protocol). The encode stage sets it.
_AG_TEST_TITLE = contextvars.ContextVar('ag_news_test_title', default=False)


@contextlib.contextmanager
def ag_news_test_title(title: bool = True) -> Iterator[None]:
  """Within the block, AG News's official test rows are read as title + description."""
  token = _AG_TEST_TITLE.set(title)
  try:
    yield
  finally:
    _AG_TEST_TITLE.reset(token)


def _ag_news_official(path, kept, title=False):
  """The rows of the official classes `kept` (sorted, e.g. AG_PAPER) of an official AG News CSV: (docs, labels
  = the class's index in `kept`, ids); with `title` each document is the title followed by the description."""
  rows = _read_ag_csv(path)
  classes = _labels([int(r[0]) if r[0].strip().isdigit() else r[0] for r in rows], {1, 2, 3, 4}, path)
  keep = np.flatnonzero(np.isin(classes, kept))
  text_of = (lambda r: r[1] + ' ' + r[2]) if title else (lambda r: r[2])
  return ([clean_ag_news(text_of(rows[i])) for i in keep], np.searchsorted(kept, classes[keep]).astype(np.int32),
          [f'{path.name}:{i + 1}' for i in keep])


def _ag_news_sample(data_dir, kept):
  """The rows of the official classes `kept` of the 5k train sample: (docs, labels as in _ag_news_official, ids).

  Its rows hold only `text` = title + ' ' + description with no separator, so
  the title cannot be removed: here the title stays (a documented deviation).
  """
  path = data_dir / 'ag_news' / 'ag_news_train_sample5k.jsonl.gz'
  rows = _read_jsonl(path, ('id', 'text', 'label'))
  classes = _labels([r['label'] for r in rows], {0, 1, 2, 3}, path, rows) + 1  # the file's label is class - 1
  keep = np.flatnonzero(np.isin(classes, kept))
  return _pool([rows[i] for i in keep], clean_ag_news, np.searchsorted(kept, classes[keep]).astype(np.int32),
               lambda row: row.get('description', row['text']))


def _ag_news_train_path(data_dir):
  return _find(data_dir / 'ag_news', 'train.csv')


def _ag_news_reduced(data_dir):
  return not _ag_news_train_path(data_dir).exists()


def _load_ag_news(data_dir, seed, kept=AG_PAPER):
  """The official classes `kept` (AG_PAPER: the paper's binary task; all four for ag_news4)."""
  rng = np.random.default_rng(seed)
  pool = (_ag_news_sample(data_dir, kept) if _ag_news_reduced(data_dir)
          else _ag_news_official(_ag_news_train_path(data_dir), kept))
  train_idx, valid_idx = stratified_split(pool[1], 0.15, rng)
  return {'train': _take(pool, train_idx), 'valid': _take(pool, valid_idx),
          'test': _ag_news_official(_find(data_dir / 'ag_news', 'test.csv'), kept, title=_AG_TEST_TITLE.get())}


NEWS_BASEBALL, NEWS_HOCKEY = 9, 10  # sklearn target ids of rec.sport.baseball / rec.sport.hockey


def _load_20news(data_dir, seed):
  rng = np.random.default_rng(seed)
  docs, labels, ids = [], [], []
  for part in ('train', 'test'):  # J&W use all posts and split them afresh
    path = data_dir / '20newsgroups' / f'20news_bydate_{part}.jsonl.gz'
    rows = _read_jsonl(path, ('id', 'text', 'label_id'))
    groups = _labels([r['label_id'] for r in rows], set(range(20)), path, rows)
    for row, group in zip(rows, groups):
      tokens = clean_newsgroup(row['text']) if group in (NEWS_BASEBALL, NEWS_HOCKEY) else []
      if tokens:  # other groups, and posts that were only headers, quotes or a signature
        docs.append(tokens)
        labels.append(int(group == NEWS_HOCKEY))
        ids.append(row['id'])
  pool = (docs, np.array(labels, np.int32), ids)
  rest, test_idx = stratified_split(pool[1], 0.2, rng)
  train_pos, valid_pos = stratified_split(pool[1][rest], 0.2, rng)
  return {'train': _take(pool, rest[train_pos]), 'valid': _take(pool, rest[valid_pos]), 'test': _take(pool, test_idx)}


def _load_synthetic(data_dir, seed):
  del data_dir  # generated, no files
  return {split: (docs, labels, rationales, [f'{split}-{i}' for i in range(len(docs))])
          for split, (docs, labels, rationales) in synthetic.generate(seed).items()}


for _record in (
    plugins.Corpus(
        'synthetic', 'Synthetic', 1, 64,
        'synthetic.generate(seed): planted evidence tokens among filler; rationales known', _load_synthetic,
        classes=('neg', 'pos')),
    plugins.Corpus(
        'imdb', 'IMDB', 10, 512,  # every kept document has < 400 tokens: none is truncated
        'strip <br />, lowercase, word tokens; official train docs < 400 tokens split 80/20 (stratified) '
        '-> train/valid, official test docs < 400 tokens; random samples of 17212/4304/4363',
        _load_imdb, length_filter=(6, None), classes=('negative', 'positive')),
    plugins.Corpus(
        'sst', 'SST', 1, 64,
        'official sentence-level binary splits (neutral dropped); drop -LRB-/-RRB-, non-word chars -> space, '
        'lowercase; 6920/872/1821',
        _load_sst, length_filter=(5, None), classes=('negative', 'positive')),
    plugins.Corpus(
        'ag_news', 'AG News', 5, 128,
        'World 0 vs Business 1 of the official train.csv/test.csv; description only, HTML entities decoded, '
        'lowercase, digit tokens -> qqq; stratified 15% of train -> valid: 51000/9000/3800',
        _load_ag_news, _ag_news_reduced,
        'World 0 vs Business 1 of the 5k-row train sample (text = title + description: the title cannot be '
        'removed) split stratified 85/15 -> train/valid, official test.csv (description only); '
        'HTML entities decoded, lowercase, digit tokens -> qqq', length_filter=(None, None),
        classes=tuple(AG_CLASSES[c - 1] for c in AG_PAPER)),
    # AG News's native task, not the paper's: the same files and cleaning, every class kept.
    plugins.Corpus(
        'ag_news4', 'AG News (4 classes)', 5, 128,
        'all four classes (World 0, Sports 1, Business 2, Sci/Tech 3) of the official train.csv/test.csv; '
        'otherwise as ag_news: 102000/18000/7600',
        functools.partial(_load_ag_news, kept=(1, 2, 3, 4)), _ag_news_reduced,
        'all four classes (World 0, Sports 1, Business 2, Sci/Tech 3) of the 5k-row train sample (text = title + '
        'description) split stratified 85/15 -> train/valid, official test.csv (description only); HTML entities '
        'decoded, lowercase, digit tokens -> qqq', classes=AG_CLASSES),
    plugins.Corpus(
        '20news', '20 News', 2, 512,
        'rec.sport.baseball 0 vs rec.sport.hockey 1, all bydate posts; sklearn-style removal of headers, '
        'footers and quotes; lowercase, digit tokens -> qqq; posts left without word tokens dropped (J&W kept '
        '2 punctuation-only posts, hence their 1236/310/387); '
        'stratified 80/20 -> test, then 80/20 -> valid',
        _load_20news, length_filter=(6, 500), classes=('rec.sport.baseball', 'rec.sport.hockey')),
):
  plugins.register(_record)


# Bring your own corpus: the same protocol knobs as the built-in ones (words in >= min_df training documents,
# documents truncated to max_len tokens), lowercased word tokens.
OWN_MIN_DF, OWN_MAX_LEN = 2, 256


def _own_labels(rows, source):
  """The labels of rows as they are: <int or str>[n], all integers or all strings (load_raw numbers them)."""
  kind = str if isinstance(rows[0]['label'], str) else int
  for n, row in enumerate(rows, 1):
    if isinstance(row['label'], bool) or not isinstance(row['label'], kind):
      raise FaithjaxError(f'{source} {_where(row, n)}: label {row["label"]!r} is not '
                          f'{"a string" if kind is str else "an integer"} like the first row\'s (labels are all '
                          'integers or all strings)')
  return np.array([row['label'] for row in rows])


def _own_splits(rows, source, seed):
  """{split: (docs, labels, ids)} of rows with text, label (any k >= 2 distinct integers or strings: load_raw
  numbers them), id and optionally split.

  Without a split column: stratified 80/20 -> test, then 80/20 of the rest ->
  valid (as 20 News); with train and test but no valid: 20% of train -> valid.
  """
  pool = _pool(rows, text.tokenize, _own_labels(rows, source))
  rng = np.random.default_rng(seed)
  if not any('split' in r for r in rows):
    rest, test_idx = stratified_split(pool[1], 0.2, rng)
  else:
    for n, row in enumerate(rows, 1):
      if row.get('split') not in SPLITS:
        raise FaithjaxError(f'{source} {_where(row, n)}: split {row.get("split")!r} is not one of '
                            f'{", ".join(SPLITS)} (give every row a split, or none)')
    of = lambda split: np.array([i for i, r in enumerate(rows) if r['split'] == split], int)
    empty = [split for split in ('train', 'test') if not len(of(split))]
    if empty:
      raise FaithjaxError(f'{source}: no row has split {empty[0]!r}; a corpus with a split column needs train and '
                          'test rows (valid is drawn from train when it has none)')
    if len(of('valid')):
      return {split: _take(pool, of(split)) for split in SPLITS}
    rest, test_idx = of('train'), of('test')
  train_pos, valid_pos = stratified_split(pool[1][rest], 0.2, rng)
  return {'train': _take(pool, rest[train_pos]), 'valid': _take(pool, rest[valid_pos]), 'test': _take(pool, test_idx)}


def _load_jsonl(path, data_dir, seed):
  del data_dir  # the path is absolute or relative to the working directory
  path = pathlib.Path(path)
  if not path.exists():
    raise FaithjaxError(f'no file {path} for --corpus=jsonl:{path}')
  rows = _read_jsonl(path, ('text', 'label'))
  for n, row in enumerate(rows):
    row.setdefault('id', f'{path.name}:{n + 1}')
  return _own_splits(rows, path, seed)


def _load_tfds(name, data_dir, seed):
  """A tfds text-classification set with 'text' and a 'label' (e.g. imdb_reviews, ag_news_subset), via
  fetch.examples."""
  del data_dir  # tfds keeps its own cache
  rows = [{**r, 'id': f'{split}/{n}', 'split': split}
          for split in ('train', 'test') for n, r in enumerate(fetch.examples(name, split))]
  missing = [k for k in ('text', 'label') if rows and k not in rows[0]]
  if missing:
    raise FaithjaxError(f'tfds {name} has no {missing} feature: only text classification sets with text and a '
                        'label are read directly')
  return _own_splits(rows, f'tfds {name}', seed)


for _record in (plugins.Corpus('jsonl', 'jsonl', OWN_MIN_DF, OWN_MAX_LEN, '', _load_jsonl, argument='PATH'),
                plugins.Corpus('tfds', 'tfds', OWN_MIN_DF, OWN_MAX_LEN, '', _load_tfds, argument='NAME')):
  plugins.register(_record)


def names() -> tuple:
  """The registered corpora named without an argument (not jsonl:PATH or tfds:NAME)."""
  return tuple(n for n, r in plugins.CORPORA.items() if not r.argument)


def spec(name: str) -> plugins.Corpus:
  """The corpus record of `name`: a registered name, or 'kind:ARGUMENT' of a record that takes an argument
  (jsonl:PATH, tfds:NAME) with the argument bound; a FaithjaxError listing the known names otherwise."""
  kind, _, argument = name.partition(':')
  record = plugins.CORPORA.get(kind if argument else name)
  if record is None or bool(argument) != bool(record.argument):
    known = [f'{n}:{r.argument}' if r.argument else n for n, r in plugins.CORPORA.items()]
    raise FaithjaxError(f'unknown corpus {name!r}: use one of {", ".join(known)}')
  if not argument:
    return record
  return dataclasses.replace(
      record, name=name, display=name, load=functools.partial(record.load, argument),
      protocol=record.protocol or f'{name}: text with a label, the k distinct labels sorted (numbers by value, '
                                  'strings alphabetically) -> classes 0..k-1; its own splits, else stratified 80/20 '
                                  '-> test and 80/20 -> valid; lowercased word tokens')


def describe(name: str, data_dir: str | pathlib.Path | None = None, seed: int = 0) -> dict:
  """What load_raw(name, data_dir, seed) does, as a JSON-ready dict for run records."""
  s, data_dir = spec(name), pathlib.Path(data_dir or DEFAULT_DATA_DIR)
  reduced = s.reduced(data_dir)
  return {'name': name, 'display': s.display + (' (reduced train)' if reduced else ''),
          'min_df': s.min_df, 'max_len': s.max_len, 'length_filter': s.length_filter, 'seed': seed,
          'reduced_train': reduced,
          'protocol': s.reduced_protocol if reduced else s.protocol,
          'data_dir': str(data_dir)}


def numbered(splits: dict, classes: tuple = ()) -> tuple:
  """(splits with labels <int32>[n] in 0..k-1, the k class names).

  classes: the corpus's names (plugins.Corpus.classes), its loader's labels
  already being their ids; () numbers the distinct labels of every split in
  sorted order (numbers by value, strings alphabetically), named as themselves.
  """
  if classes:
    return splits, tuple(classes)
  names = np.unique(np.concatenate([np.asarray(value[1]) for value in splits.values()]))
  return ({split: (value[0], np.searchsorted(names, value[1]).astype(np.int32), *value[2:])
           for split, value in splits.items()}, tuple(str(n) for n in names))


def load_raw(name: str, data_dir: str | pathlib.Path | None = None, seed: int = 0, with_ids: bool = False,
             with_classes: bool = False) -> dict[str, tuple] | tuple[dict[str, tuple], tuple[str, ...]]:
  """{split: (token lists, labels <int32>[n] in 0..k-1)} for 'train', 'valid', 'test'.

  'synthetic' adds rationale masks (bool lists beside the tokens) as a third
  element. `seed` fixes every random split and sample (the same seed gives the
  same splits). With `with_ids` each split also ends with the documents' source
  ids (e.g. 'train/neg/0_3'), to trace an example back to its file. With
  `with_classes`: (that, the k class names in id order) (`numbered`).
  """
  s, data_dir = spec(name), pathlib.Path(data_dir or DEFAULT_DATA_DIR)
  if s.reduced(data_dir):
    log.warning('%s: official train file not found in %s; using "%s": %s',
                name, data_dir, describe(name, data_dir, seed)['display'], s.reduced_protocol)
  splits, classes = numbered(s.load(data_dir, seed), s.classes)
  splits = splits if with_ids else {split: value[:-1] for split, value in splits.items()}
  return (splits, classes) if with_classes else splits


def class_counts(raw: Mapping[str, tuple]) -> dict[str, np.ndarray]:
  """{split: <int64>[classes] documents per class} (at least two entries)."""
  k = max(2, *(int(np.max(raw[split][1], initial=0)) + 1 for split in SPLITS))
  return {split: np.bincount(raw[split][1], minlength=k) for split in SPLITS}


def table1(name: str, raw: Mapping[str, tuple]) -> dict:
  """The paper's Table 1 row: split sizes and length statistics.

  Lengths are tokens per document after cleaning, before truncation, over
  train + valid + test together; 'truncated' counts documents longer than the
  corpus's max_len.
  """
  lengths = np.array([len(d) for split in SPLITS for d in raw[split][0]])
  return {'name': name, **{split: len(raw[split][0]) for split in SPLITS},
          'mean': float(lengths.mean()), 'median': float(np.median(lengths)),
          'p90': float(np.percentile(lengths, 90)), 'max': int(lengths.max()),
          'truncated': int((lengths > spec(name).max_len).sum())}
