"""Issue 16, item 1: every protocol departure from Jain & Wallace (2019) / Wiegreffe & Pinter (2019), measured.

  python -m experiments.departures --corpus=sst --preset=reduced --emb_dim=64 --hidden=64 --att_hidden=64
  python -m experiments.departures --corpus=ag_news --preset=reduced --emb_dim=64 --hidden=64 --att_hidden=64 \
      --departures=pad_rule,uniform_weights,ag_news_title,punctuation
  python -m experiments.departures --corpus=sst --summary_only     # re-render the .md from the .json

Every RunConfig flag of run.py applies; they set the baseline. The baseline runs the pipeline to its evaluate
stage in <workdir>/baseline (default workdir runs/departures/<corpus>); each departure (--departures, cheapest
first) is the baseline with one switch set to the original protocol's choice (DEPARTURES):
  - a switch read only by the evaluations (pad_rule, uniform_weights) re-runs those evaluations on the
    baseline's classifier and maps (pipeline.evaluate_maps, in <workdir>/baseline/departures/<name>);
  - a switch read by encoding or training runs the whole pipeline in <workdir>/<name>. Where the switch cannot
    change the run (the baseline already selected an epoch >= 2; the corpus's cleaner ignores the tokenizer's
    punctuation rule, as SST's does, checked on the encoded corpus), the row says so and nothing is retrained.
Each moved cell of Tables 2-5 (and ERASER) is the variant minus the baseline in the cell's own units, on the same
test examples, with a paired bootstrap 95% CI (Evaluation.difference; metrics.paired_difference for Table 2).
A killed run resumes. Writes <out>/departures_<corpus>.json and .md.
"""

import dataclasses
import os
import sys
import time

from absl import flags
from absl import logging
import numpy as np

from experiments import evaluated_runs
from faithjax import FaithjaxError
from faithjax import cli
from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import metrics
from faithjax import pipeline
from faithjax import provenance
from faithjax import report
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import evaluations


@dataclasses.dataclass(frozen=True)
class Departure:
  """One protocol departure: the RunConfig field, the value its variant runs (the original protocol's, or ours
  where the default already is the original's), what it needs re-run."""
  field: str
  original: object
  stage: str  # the first stage the field changes: 'evaluate' (no retraining), 'train' or 'encode'
  sections: tuple = ()  # for stage 'evaluate': the evaluation sections it changes
  names: str = 'all'  # for stage 'evaluate': 'all' maps, or 'uniform' only
  what: str = ''


# Cheapest first: no retraining, then retraining.
DEPARTURES = {
    # The default is now the original's symmetric rule, so this row measures the other one, our old default.
    'pad_rule': Departure('pad_rule', 'trailing', 'evaluate', ('deletion', 'eraser'), what=(
        "deletion's pad mode with the asymmetric rule faithjax used before session 7 (the valid span recomputed "
        'from the edited mask: a removed last token skipped by the backward LSTM), against the default, every '
        'position of the original length stepped over in both directions (a PyTorch packed LSTM with the original '
        'lengths)')),
    # Since session 11 the default is the original's 1/n, so this row measures our old 1/sqrt(n).
    'uniform_weights': Departure('uniform_weights', 'norm', 'evaluate', ('weak_learner', 'shuffle'), 'uniform',
                                 'Uniform baseline 1/sqrt(n) per token after L2 (faithjax before session 11), '
                                 'against the default 1/n (Wiegreffe & Pinter)'),
    # Since session 11 the default is the original's rule (never epoch 1), so this row measures our old one.
    'select_from_epoch': Departure('select_from_epoch', 1, 'train', what=(
        'checkpoint selection may keep epoch 1 (faithjax before session 11), against the default, Jain & '
        "Wallace's `metric > best_metric and i > 0`")),
    'loss_reduction': Departure('loss_reduction', 'sum', 'train', what=(
        'classifier loss summed over the batch (Jain & Wallace), so the coupled L2 weighs ~batch_size times less')),
    'init_scheme': Departure('init_scheme', 'pytorch', 'train', what=(
        "PyTorch's nn.LSTM / nn.Linear / nn.Embedding default initialisation, not orthogonal / lecun")),
    'punctuation': Departure('punctuation', True, 'encode', what="punctuation marks kept as tokens (spaCy's)"),
    'ag_news_title': Departure('ag_news_title', True, 'encode', what=(
        'AG News test documents read as title + description, like the train rows here (ours: train on title + '
        'description, test on the description)')),
    'length_filter': Departure('length_filter', True, 'encode', what=(
        "Jain & Wallace's length filter on every split (their DatasetBC loaders: SST > 5 tokens, IMDB > 6, 20 News "
        "6 < n < 500, AG News strictly between each split's shortest and longest), instead of keeping every "
        'document and truncating at max_len; the test split shrinks, so its cells are unpaired')),
}
FLAGS = flags.FLAGS
config_lib.define_compile_cache_flag()
config_lib.define_preset_flag('reduced', of=' of the baseline')
flags.DEFINE_string('workdir', None, 'Root of the runs (default runs/departures/<corpus>). Re-running resumes.')
flags.DEFINE_list('departures', list(DEPARTURES), 'Departures to measure, in order: ' + ', '.join(DEPARTURES))
flags.DEFINE_string('out', 'experiments/results', 'Where the report goes.')
flags.DEFINE_bool('summary_only', False, 'Only rebuild departures_<corpus>.md from its JSON in --out.')
flags.DEFINE_string('suffix', '', 'Appended to the output name (departures_<corpus><suffix>) and the default '
                    'workdir, for a second baseline on the same corpus (e.g. _epochs8).')
cli.define_config_flags()

EVALUATE = ('encode', 'train', 'explain', 'evaluate')


def maps_of(work, config):
  return lambda name: io.load_npz(work.maps(name)) if name in config.explainers else name


def saved_evaluations(work_of, names):
  """{(evaluation, map): saved npz} for every resampled Evaluation whose file exists; work_of(section) -> Workdir."""
  found = {}
  for evaluation, spec in evaluations.SCORES.items():
    if not spec.resampled:
      continue
    for name in names:
      path = work_of(spec.section).evaluation(spec.section, name)
      if os.path.exists(path):
        found[evaluation, name] = io.load_npz(path)
  return found


def same_examples(a, b):
  """Whether two saved evaluations are on the same test examples (their indices or labels agree)."""
  for key in ('indices', 'labels'):
    if key in a and key in b:
      return np.array_equal(a[key], b[key])
  return len(next(iter(a.values()))) == len(next(iter(b.values())))


def cell_differences(base, variant, paired=True):
  """Rows [evaluation, map, baseline, variant, variant - baseline, low, high, n] of every cell both measured.

  paired: both on the same test examples (a cell on other examples is left out); False: the variant's test split
  differs (the length filter), the sides are resampled independently and n is 'variant vs baseline (unpaired)'.
  """
  rows = []
  for (evaluation, name), saved in variant.items():
    if (evaluation, name) not in base or (paired and not same_examples(base[evaluation, name], saved)):
      continue
    spec = evaluations.SCORES[evaluation]
    oriented = spec.difference([saved], [base[evaluation, name]], paired)  # > 0: variant more faithful
    # back in the cell's own units: variant - baseline
    low, high = sorted(spec.orientation * np.asarray(oriented['ci95']) + 0.)
    value = lambda s: (spec.units(s)[1](*spec.units(s)[0]) if spec.units else np.mean(s[spec.per_example]))
    rows.append([evaluation, name, float(value(base[evaluation, name])), float(value(saved)),
                 spec.orientation * oriented['difference'] + 0., float(low), float(high),
                 oriented['n'] if paired else unpaired_count(saved, base[evaluation, name])])
  return rows


def unpaired_count(variant, base):
  count = lambda saved: len(next(iter(saved.values())))
  return f'{count(variant)} vs {count(base)} (unpaired)'



def classifier_rows(config, base_work, variant_config, variant_work):
  """Table 2 cells (test accuracy, F1) of two classifiers on the same test documents, paired."""
  probs = []
  for cfg, work in ((config, base_work), (variant_config, variant_work)):
    corpus = encode.EncodedCorpus.load(work.corpus)
    model, params = pipeline.load_classifier(cfg, work, corpus)
    test = corpus.splits['test']
    probs.append((test.labels, train.predict_split(model, params, test, cfg.eval_batch_size)))
  (labels_a, probs_a), (labels_b, probs_b) = probs
  paired = np.array_equal(labels_a, labels_b)  # else the variant's test split differs (the length filter)
  pred_a, pred_b = probs_a.argmax(-1), probs_b.argmax(-1)
  difference = metrics.paired_difference if paired else metrics.unpaired_difference
  n = None if paired else f'{len(labels_b)} vs {len(labels_a)} (unpaired)'
  rows = []
  for metric, a, b, statistic in (('accuracy', (labels_b == pred_b).astype(float), (labels_a == pred_a).astype(float),
                                   None),
                                  ('f1', (labels_b, pred_b), (labels_a, pred_a), metrics.f1_along_last_axis)):
    diff = difference(a, b, statistic)
    rows.append([f'classifier_{metric}', 'classifier', float(metrics.classification_report(labels_a, probs_a)[metric]),
                 float(metrics.classification_report(labels_b, probs_b)[metric]), diff['difference'],
                 *diff['ci95'], n or diff['n']])
  return rows


def measure(config, root, names):
  """Runs the baseline and every departure in `names`; returns the departures' records."""
  base_root = os.path.join(root, 'baseline')
  started = time.time()
  pipeline.run_pipeline(config, base_root, EVALUATE)
  base_work = workdir_lib.Workdir(os.path.abspath(base_root))
  corpus = pipeline.explained_corpus(config, base_work)  # the one the baseline's maps are aligned with
  all_maps = list(config.explainers) + list(explain.baseline_names())
  base = saved_evaluations(lambda section: base_work, all_maps)
  trained = io.read_json(base_work.summary('train'))
  encoded = io.read_json(base_work.summary('encode'))
  records = [{'departure': 'baseline', 'seconds': round(time.time() - started, 1),
              'selected_epoch': trained['selected_epoch'], 'test': trained['test'],
              'max_len': encoded['max_len'], 'truncated': encoded['truncated']}]
  model = params = None
  for name in names:
    spec = DEPARTURES[name]
    variant = dataclasses.replace(config, **{spec.field: spec.original})
    started = time.time()
    record = {'departure': name, 'field': spec.field, 'ours': getattr(config, spec.field), 'original': spec.original,
              'what': spec.what, 'rows': [], 'note': ''}
    io.log(f'departures: {name} ({spec.field}={spec.original})')
    if spec.stage == 'evaluate':
      if model is None:
        model, params = pipeline.load_classifier(config, base_work, corpus)
      out = workdir_lib.Workdir(base_work.path('departures', name))
      maps = ['uniform'] if spec.names == 'uniform' else all_maps
      pipeline.evaluate_maps(variant, corpus, model, params, out, maps, maps_of(base_work, config), spec.sections)
      record['rows'] = cell_differences(base, saved_evaluations(lambda section: out, maps))
      record['note'] = 'measured on the baseline classifier and maps'
    elif (name == 'select_from_epoch' and trained['selected_epoch']
          == train.selected_epoch(trained['history'], train.SELECT_METRIC, spec.original)):
      record['note'] = (f"not retrained: the baseline selected epoch {trained['selected_epoch']}, which the other "
                        'rule keeps too, so the checkpoint and every cell are the same (0 by construction)')
    else:
      variant_root = os.path.join(root, name)
      if spec.stage == 'encode':
        pipeline.run_pipeline(variant, variant_root, ('encode',))
        same = encode.EncodedCorpus.load(workdir_lib.Workdir(os.path.abspath(variant_root)).corpus)
        if all(np.array_equal(same.splits[s].ids, corpus.splits[s].ids) for s in encode.SPLITS):
          record['note'] = ('not retrained: the encoded corpus is identical (the corpus cleaner ignores the '
                            'switch), so every cell is the same (0 by construction)')
          record['seconds'] = round(time.time() - started, 1)
          records.append(record)
          continue
      pipeline.run_pipeline(variant, variant_root, EVALUATE)
      variant_work = workdir_lib.Workdir(os.path.abspath(variant_root))
      same_test = np.array_equal(encode.EncodedCorpus.load(variant_work.corpus).splits['test'].labels,
                                 corpus.splits['test'].labels)
      record['rows'] = (classifier_rows(config, base_work, variant, variant_work)
                        + cell_differences(base, saved_evaluations(lambda section: variant_work, all_maps),
                                           paired=same_test))
      record['selected_epoch'] = io.read_json(variant_work.summary('train'))['selected_epoch']
      record['note'] = 'retrained' if same_test else ('retrained on a smaller test split: its cells are unpaired '
                                                      '(each side resampled on its own test examples)')
    record['seconds'] = round(time.time() - started, 1)
    records.append(record)
  return records


def carry_seconds(previous, records):
  """Each record's `seconds` as the longest wall time of any invocation that built it: a resumed departure
  takes ~0 s, and the invocation that computed it (recorded in `previous`, the JSON it rewrites) the real time."""
  before = {r['departure']: r.get('seconds', 0) for r in (previous or {}).get('departures', [])}
  return [{**r, 'seconds': max(r['seconds'], before.get(r['departure'], 0))} for r in records]


def moved(row):
  """Whether a cell's CI excludes 0 (by more than float rounding)."""
  return evaluated_runs.excludes_zero(row[5], row[6])


def render(record):
  prov = record['provenance']
  settings = ', '.join(f'{k}={v}' for k, v in record['settings'].items()) or 'none'
  lines = [f'# Protocol departures ({record["corpus"]}): each switched to the original protocol, measured', '',
           provenance.measured_text('python -m experiments.departures ' + ' '.join(record['arguments']),
                                    record['measured'], prov), '',
           f'Baseline: preset `{record["preset"]}` with departures ({settings}); seed {record["seed"]}, split seed '
           f'{record["split_seed"]}; one seed, so the CIs cover test examples only, not seed variance. Deletion and '
           f'ERASER on {record["test_subset"]} test examples, the weak learner, shuffle test and classifier on the '
           'whole test split. Each departure sets one RunConfig field to the original protocol\'s value; its '
           'cells are variant − baseline in the cell\'s own units on the same test examples, with a paired '
           'percentile bootstrap 95% CI (Evaluation.difference; 1000 resamples), or, where the departure changes '
           'the test split (the length filter), on each side\'s own test examples with each side resampled on its '
           'own (metrics.unpaired_difference). "moved": the CI excludes 0 (by more '
           f'than {evaluated_runs.ROUNDING:g}, float rounding).', '',
           '## One row per departure', '']
  summary_rows = []
  for dep in record['departures'][1:]:
    rows = dep['rows']
    shifted = [r for r in rows if moved(r)]
    largest = max(shifted or rows, key=lambda r: abs(r[4]), default=None)  # the largest move, else the largest tie
    summary_rows.append([dep['departure'], f'`--{dep["field"]}={dep["original"]}` (ours: {dep["ours"]})',
                         f'{len(shifted)} of {len(rows)}' if rows else '0 (not re-run)',
                         f'{largest[0]} / {largest[1]}: {report.signed_with_ci(*largest[4:7])}'
                         if largest else '—', dep['note'], f'{dep["seconds"]:.0f}'])
  lines += [report.markdown_table(['departure', 'switch', 'cells moved', 'largest move (variant − baseline)',
                                   'how', 'seconds (wall, the invocation that computed it)'], summary_rows), '']
  base = record['departures'][0]
  lines += [f'Baseline: selected epoch {base["selected_epoch"]}; test accuracy {base["test"]["accuracy"]:.3f}; '
            f'documents longer than max_len {base.get("max_len")} (truncated): {base.get("truncated")}.', '']
  lines += ['## Not measured', '']
  for name, why in record['not_measured'].items():
    lines.append(f'- **{name}**: {why}')
  lines.append('')
  for dep in record['departures'][1:]:
    if not dep['rows']:
      continue
    lines += [f'## {dep["departure"]}: {dep["what"]}', '']
    if 'selected_epoch' in dep:
      lines += [f'Retrained; selected epoch: baseline {base["selected_epoch"]}, variant {dep["selected_epoch"]}.', '']
    lines += [report.markdown_table(['cell', 'map', 'baseline', 'variant', 'variant − baseline', 'low', 'high', 'n',
                                     'moved'],
                                    [[*r[:4], *(f'{v:+.4f}' for v in r[4:7]), r[7], 'yes' if moved(r) else 'no']
                                     for r in dep['rows']]), '']
  return '\n'.join(lines)


def main(argv):
  del argv  # flags only
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  config = cli.config_from_flags(FLAGS.preset)
  stem = os.path.join(FLAGS.out, f'departures_{config.corpus}{FLAGS.suffix}')
  if not FLAGS.summary_only:
    unknown = [n for n in FLAGS.departures if n not in DEPARTURES]
    if unknown:
      raise FaithjaxError(f'--departures: unknown {", ".join(unknown)}; choose from '
                          f'{", ".join(DEPARTURES)}')
    root = FLAGS.workdir or os.path.join('runs', 'departures', config.corpus + FLAGS.suffix)
    records = carry_seconds(io.read_json(stem + '.json') if os.path.exists(stem + '.json') else None,
                            measure(config, root, FLAGS.departures))
    defaults = config_lib.make_config(config.corpus, preset=FLAGS.preset).fingerprint()
    left = [n for n in DEPARTURES if n not in FLAGS.departures]
    command = 'python -m experiments.departures ' + ' '.join(a for a in sys.argv[1:]
                                                             if not a.startswith('--departures'))
    not_measured = {n: f'not run in this session; measure with `{command} --departures={n}`' for n in left}
    os.makedirs(FLAGS.out, exist_ok=True)
    io.write_json(stem + '.json', {
        'corpus': config.corpus, 'preset': FLAGS.preset, 'seed': config.seed, 'split_seed': config.split_seed,
        'workdir': root, 'arguments': sys.argv[1:],
        'settings': {k: v for k, v in config.fingerprint().items() if v != defaults[k] and k != 'seed'},
        'test_subset': pipeline.test_subset(config, encode.EncodedCorpus.load(
            workdir_lib.Workdir(os.path.abspath(os.path.join(root, 'baseline'))).corpus).splits['test']).size,
        'measured': provenance.now(), 'provenance': provenance.record(), 'departures': records,
        'not_measured': not_measured})
  io.write_text(stem + '.md', render(io.read_json(stem + '.json')))
  print(f'wrote {stem}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
