"""The stages: encode -> train -> (explain -> evaluate) -> report.

Each stage reads its inputs from the workdir and writes one artefact plus a
`stages/<name>.json` summary; a stage whose summary exists is skipped, so a
killed run resumes where it stopped. run.py only parses flags and calls
`run_pipeline` or `reevaluate_checkpoints`.
"""

import contextlib
import dataclasses
import os
import shutil
import time
from typing import Any, Callable

import jax
import numpy as np

from faithjax import batching
from faithjax import FaithjaxError
from faithjax import Interrupted
from faithjax import artefacts
from faithjax import config as config_lib
from faithjax import explain
from faithjax import heatmap
from faithjax import interrupts
from faithjax import io
from faithjax import memory
from faithjax import metrics
from faithjax import models
from faithjax import parallel
from faithjax import plugins
from faithjax import provenance
from faithjax import reevaluate
from faithjax import report
from faithjax import streams
from faithjax import timing
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.data import corpora
from faithjax.data import inputs
from faithjax.data import text
from faithjax.faithfulness import deletion
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import weak_learner
from faithjax.models import contract
from faithjax.models import weak_learner as weak_learner_model


def make_model(config: config_lib.RunConfig, corpus: encode.EncodedCorpus) -> Any:
  """The classifier `config.model` names, sized for the encoded corpus's vocabulary and classes."""
  return models.build(config, len(corpus.vocab), corpus.num_classes)


def stage_encode(config: config_lib.RunConfig, workdir: workdir_lib.Workdir, mesh: Any | None = None) -> dict:
  """The encode stage: the corpus read, split and encoded into workdir.corpus; returns its summary (sizes,
  vocabulary, protocol)."""
  del mesh  # host-side work
  about = corpora.describe(config.corpus, config.data_dir, config.split_seed)
  with (corpora.recording_reads() as files, text.keeping_punctuation(config.punctuation),
        corpora.ag_news_test_title(config.ag_news_title)):
    raw, classes = corpora.load_raw(config.corpus, config.data_dir, seed=config.split_seed, with_classes=True)
    raw, empty = encode.drop_empty(raw)
  if any(empty.values()):
    io.log(f'encode: dropped {sum(empty.values())} documents without a token (' +
           ', '.join(f'{s} {n}' for s, n in empty.items()) + '); report.md lists them')
  by_length, train_docs = {}, raw['train'][0]
  if config.length_filter:
    if about['length_filter'] is None:
      raise FaithjaxError(f'--length_filter: {about["display"]} has no Jain & Wallace length filter (their loaders '
                          'cover SST, IMDB, AG News and 20 News)')
    raw, by_length = encode.filter_by_length(raw, *about['length_filter'])
    io.log(f'encode: the length filter {about["length_filter"]} dropped ' +
           ', '.join(f'{s} {n}' for s, n in by_length.items()))
  corpus, truncated = encode.encode_corpus(config.corpus, raw, about['min_df'], about['max_len'], train_docs,
                                           num_classes=len(classes))
  encode.check_learnable(corpus, about['display'])
  corpus.save(workdir.corpus)
  return {'display_name': about['display'], 'protocol': about['protocol'],
          'reduced_train': about['reduced_train'], 'vocab_size': len(corpus.vocab), 'classes': list(classes),
          'sizes': {s: len(d) for s, d in corpus.splits.items()},
          'max_len': about['max_len'], 'truncated': truncated, 'dropped_empty': empty, 'dropped_by_length': by_length,
          'inputs': inputs.identity(files, about['data_dir'])}


def make_weak_learner(config: config_lib.RunConfig, corpus: encode.EncodedCorpus) -> weak_learner_model.WeakLearner:
  """The weak learner (Jain & Wallace's map-weighted classifier) sized for the encoded corpus."""
  return weak_learner_model.WeakLearner(vocab_size=len(corpus.vocab), num_classes=corpus.num_classes,
                                        emb_dim=config.emb_dim, hidden=config.hidden)


def weak_learner_config(config: config_lib.RunConfig) -> config_lib.RunConfig:
  """The settings `train.fit` reads for a weak learner: the run's, with weak_epochs as epochs.

  Its selection may keep any epoch: --select_from_epoch is Jain & Wallace's rule for the classifier (Wiegreffe &
  Pinter's weak-learner rule was not checked).
  """
  return dataclasses.replace(config, epochs=config.weak_epochs, select_from_epoch=1)


def load_classifier(config: config_lib.RunConfig, workdir: workdir_lib.Workdir,
                    corpus: encode.EncodedCorpus) -> tuple[Any, Any]:
  """The classifier `config.model` names and its selected parameters from workdir's checkpoint: (model, params)."""
  model = make_model(config, corpus)
  abstract = jax.eval_shape(lambda: contract.init(model, jax.random.key(0)))
  return model, train.restore_best(workdir.classifier_ckpt, abstract)


def stage_train(config: config_lib.RunConfig, workdir: workdir_lib.Workdir, mesh: Any | None = None) -> dict:
  """The train stage: the classifier trained and its best epoch kept; returns its test report, selected epoch and
  history."""
  corpus = encode.EncodedCorpus.load(workdir.corpus)
  model = make_model(config, corpus)
  params, history = train.train_classifier(model, corpus, config, workdir.classifier_ckpt, mesh=mesh)
  test = corpus.splits['test']
  probs = train.predict_split(model, params, test, config.eval_batch_size, mesh=mesh)
  return {'test': metrics.test_report(test.labels, probs),
          'selected_epoch': train.selected_epoch(history, 'valid_roc_auc', config.select_from_epoch),
          'history': history}


def explainer_options(config: config_lib.RunConfig, name: str) -> dict:
  """The keyword options explainer `name` runs with: the run-wide settings it takes (plugins.SHARED_OPTIONS) and
  its options section, a map transform's being its base explainer's."""
  shared = {k: getattr(config, k) for k in plugins.SHARED_OPTIONS if k in explain.options_of(name)}
  return {**shared, **dataclasses.asdict(config.explainer_options(name))}


def explainer_key(config: config_lib.RunConfig, name: str, split_index: int) -> jax.Array | None:
  """The PRNG key (a scalar key array) of a sampling explainer on one split (streams.explainer_key); None for the
  others."""
  if not explain.explainer_of(name).needs_key:
    return None
  return streams.explainer_key(config.seed, split_index)


def run_options(config: config_lib.RunConfig, corpus: encode.EncodedCorpus, name: str) -> dict:
  """Explainer `name`'s options in this run: its config section and its data options (baseline documents)."""
  data_options = explain.explainer_of(name).data_options
  return {**explainer_options(config, name), **(data_options(config, corpus) if data_options else {})}


def explainer_fn(config: config_lib.RunConfig, corpus: encode.EncodedCorpus, model: Any, name: str,
                 mesh: Any | None = None) -> Callable:
  """Explainer `name`'s fn(params, ids, mask, key) with the run's options, over `mesh`."""
  return parallel.sharded(mesh, explain.make_explainer(name, model, **run_options(config, corpus, name)))


def explain_corpus(config: config_lib.RunConfig, corpus: encode.EncodedCorpus, model: Any, params: Any, name: str,
                   out: workdir_lib.Workdir, mesh: Any | None = None) -> None:
  """Explainer `name`'s maps of every split of `corpus`, stored at out.maps(name) (.npz, ragged like the ids) unless
  there, and its per-document counts, if it counts (explain.make_counted_explainer), at out.counts(name)."""
  path = out.maps(name)
  counted = explain.make_counted_explainer(name, model, **run_options(config, corpus, name))
  if os.path.exists(path) and (counted is None or os.path.exists(out.counts(name))):  # deleted counts: both redone
    return
  if transform_stored_base(config, corpus, name, out, counted is not None):
    return
  fn = parallel.sharded(mesh, counted) if counted else explainer_fn(config, corpus, model, name, mesh)
  explain_split = explain.explain_split_counted if counted else explain.explain_split
  start = time.perf_counter()
  runs = {split: explain_split(fn, params, data, config.eval_batch_size, explainer_key(config, name, i),
                               progress=f'{name} ({split})')
          for i, (split, data) in enumerate(corpus.splits.items())}
  if counted:  # before the map: a map on disk has its counts beside it
    io.save_npz(out.counts(name), **{f'{split}.{count}': values for split, (_, counts) in runs.items()
                                     for count, values in counts.items()})
  io.save_npz(path, **{split: run[0] if counted else run for split, run in runs.items()})
  io.log(f'{name}: {sum(map(len, corpus.splits.values())) / (time.perf_counter() - start):,.1f} examples/s')


def transform_stored_base(config: config_lib.RunConfig, corpus: encode.EncodedCorpus, name: str,
                          out: workdir_lib.Workdir, counted: bool) -> bool:
  """Stores the maps of a map transform ('integrated_gradients.abs') from its base explainer's maps in `out`
  (explain.transform_split: the same options and keys, so the same maps), its counts copied; False, storing
  nothing, where `name` has no transform or its base's maps (or counts) are not there."""
  base = explain.parse_name(name)[0]
  if base == name or not os.path.exists(out.maps(base)) or (counted and not os.path.exists(out.counts(base))):
    return False
  maps = io.load_npz(out.maps(base))
  if counted:
    io.save_npz(out.counts(name), **io.load_npz(out.counts(base)))
  io.save_npz(out.maps(name), **{split: explain.transform_split(name, corpus.splits[split], maps[split],
                                                                config.eval_batch_size) for split in maps})
  io.log(f'{name}: from the stored {base} maps')
  return True


def explained_corpus(config: config_lib.RunConfig, workdir: workdir_lib.Workdir) -> encode.EncodedCorpus:
  """The workdir's corpus as the explain and evaluate stages read it, the one its stored maps are aligned with:
  the training split reduced to a sample of --weak_train_subset documents (the same for every --seed) where set."""
  corpus = encode.EncodedCorpus.load(workdir.corpus)
  train = corpus.splits['train']
  rows = streams.sample_rows(len(train), config.weak_train_subset, streams.weak_train_rng(config.split_seed))
  if len(rows) == len(train):
    return corpus
  return dataclasses.replace(corpus, splits={**corpus.splits, 'train': train.subset(rows)})


def stage_explain(config: config_lib.RunConfig, workdir: workdir_lib.Workdir, mesh: Any | None = None) -> dict:
  """Feature maps of every explainer on every split, stored as ragged arrays beside the ids (and the counts of an
  explainer that counts, summarised over test); the training split is explained_corpus's."""
  corpus = explained_corpus(config, workdir)
  if config.weak_train_subset:
    io.log(f'explain: {len(corpus.splits["train"])} training documents, a sample (--weak_train_subset)')
  model, params = load_classifier(config, workdir, corpus)
  summary, test_maps = {}, {}
  for name in config.explainers:
    explain_corpus(config, corpus, model, params, name, workdir, mesh)
    test_maps[name] = io.load_npz(workdir.maps(name))['test']
    summary[name] = {**map_quality(model, params, corpus.splits['test'], test_maps[name], name, config),
                     **seed_stability(config, corpus, model, params, name, mesh), **counts_summary(workdir, name)}
  return {'quality': summary, 'heatmaps': write_heatmaps(config, workdir, corpus, model, params, test_maps)}


def counts_summary(workdir: workdir_lib.Workdir, name: str) -> dict:
  """{'per_document': summary over test} of the counts stored beside explainer `name`'s map (read verified), or {}
  where it stored none."""
  if not os.path.exists(workdir.counts(name)):
    return {}
  counts = io.load_npz(workdir.counts(name))
  return {'per_document': explain.summarise_counts(
      {key.removeprefix('test.'): values for key, values in counts.items() if key.startswith('test.')})}


def store_absolute_maps(config: config_lib.RunConfig, corpus: encode.EncodedCorpus, workdir: workdir_lib.Workdir,
                        explainers: tuple[str, ...]) -> list[str]:
  """Stores the maps of 'X.abs' from X's stored maps (transform_stored_base) for every explainer X whose stored maps
  have a negative value; returns those explainers (for the others |X| is X)."""
  signed = [name for name in explainers
            if any(np.any(values < 0) for values in io.load_npz(workdir.maps(name)).values())]
  for name in signed:
    if not os.path.exists(workdir.maps(f'{name}.abs')):
      transform_stored_base(config, corpus, f'{name}.abs', workdir, os.path.exists(workdir.counts(name)))
  return signed


def write_heatmaps(config: config_lib.RunConfig, workdir: workdir_lib.Workdir, corpus: encode.EncodedCorpus, model: Any,
                   params: Any, maps: dict[str, np.ndarray], count: int = 3) -> list[str]:
  """Token heatmaps (the paper's Figure 1) of `maps` ({explainer: test map, ragged [len(test.ids)]}) for the first
  `count` test examples; returns the files' paths relative to the workdir."""
  test = corpus.splits['test']
  rows = np.arange(min(count, len(test)))
  predictions = train.predict_split(model, params, test.subset(rows)).argmax(-1)
  examples = []
  for row, prediction in zip(rows, predictions):
    span = slice(test.offsets[row], test.offsets[row + 1])
    tokens = [corpus.vocab[i] for i in test.ids[span]]
    examples.append((tokens, {name: m[span] for name, m in maps.items()},
                     {'title': f'{config.corpus} test example {row}', 'label': int(test.labels[row]),
                      'prediction': int(prediction)}))
  return [os.path.relpath(p, workdir.root) for p in heatmap.write_heatmaps(workdir.root, examples, 'test')]


def map_quality(model: Any, params: Any, split: encode.EncodedSplit, scores: np.ndarray, name: str,
                config: config_lib.RunConfig) -> dict:
  """The explainer's own measures (its record's `quality`: IG's completeness error) and, where the rationale is
  known, precision@k of the top tokens; scores: its ragged map of `split`, [len(split.ids)]."""
  measure = explain.explainer_of(name).quality
  quality = measure(model, params, split, scores, config) if measure and name == explain.base_name(name) else {}
  if split.rationale is not None:
    quality['precision_at_k'] = float(np.nanmean(precision_per_example(split, scores, config.eval_batch_size)))
  return quality


def precision_per_example(split: encode.EncodedSplit, scores: np.ndarray, batch_size: int) -> np.ndarray:
  """Each example's precision@k of its planted tokens (explain.precision_at_k) under the ragged map `scores`
  [len(split.ids)]: [len(split)], NaN where an example has none; the split must have rationales."""
  values = np.full(len(split), np.nan)
  for indices, ids, batch_scores, rationale in batching.padded_batches(split, batch_size, scores, split.rationale):
    values[indices] = explain.precision_at_k(batch_scores, rationale, ids != 0)[:len(indices)]
  return values


def seed_stability(config: config_lib.RunConfig, corpus: encode.EncodedCorpus, model: Any, params: Any, name: str,
                   mesh: Any | None = None) -> dict:
  """A sampling explainer's (its record `needs_key`) seed stability, {} for the others: the median per-document
  Spearman between its maps under two keys (explain.seed_stability) on explain.STABILITY_DOCUMENTS test documents,
  drawn with --split_seed so that every --seed measures the same ones."""
  if not explain.explainer_of(name).needs_key:
    return {}
  test = corpus.splits['test']
  rows = streams.stability_rng(config.split_seed).choice(
      len(test), min(explain.STABILITY_DOCUMENTS, len(test)), replace=False)
  keys = streams.stability_keys(config.seed)
  rho = explain.seed_stability(explainer_fn(config, corpus, model, name, mesh), params, test.subset(np.sort(rows)),
                               config.eval_batch_size, keys)
  median = float(np.nanmedian(rho)) if np.isfinite(rho).any() else None  # None: no document of 2 tokens
  stability = {'median_spearman': median, 'documents': int(np.isfinite(rho).sum())}
  io.log(f'{name}: seed stability {report.seed_stability(stability)}')
  return {'seed_stability': stability}


def test_subset(config: config_lib.RunConfig, split: encode.EncodedSplit) -> np.ndarray:
  """The test examples the deletion evaluation reads, <int>[n] sorted indices into `split`: all, or a sample shared
  by every --seed (reduced settings)."""
  return streams.sample_rows(len(split), config.test_subset, streams.test_subset_rng(config.split_seed))


def stage_evaluate(config: config_lib.RunConfig, workdir: workdir_lib.Workdir, mesh: Any | None = None) -> dict:
  """Every registered evaluation (plugins.EVALUATIONS) of every map and baseline: deletion until flip (Table 3),
  ERASER, weak learner (Table 4, Figure 5), shuffle test (Table 5), and any plug-in's."""
  corpus = explained_corpus(config, workdir)
  model, params = load_classifier(config, workdir, corpus)
  return evaluate_maps(config, corpus, model, params, workdir, config.explainers + explain.baseline_names(),
                       lambda name: io.load_npz(workdir.maps(name)) if name in config.explainers else None, mesh=mesh)


def evaluate_maps(config: config_lib.RunConfig, corpus: encode.EncodedCorpus, model: Any, params: Any,
                  out: workdir_lib.Workdir, names: tuple[str, ...], maps_of: Callable[[str], dict | None],
                  sections: tuple[str, ...] | None = None, mesh: Any | None = None) -> dict:
  """The evaluations `sections` (default every registered one) of the classifier on the maps `names`.

  maps_of(name) -> {split: ragged map}, or None for a registered explainer
  (a baseline) whose maps are drawn here (explain_corpus) and stored in
  out.maps(name); out: the Workdir whose evaluations/ and checkpoints/weak_<name>
  hold each result, so a killed call resumes. Returns {section: {name: summary},
  'test_subset': n}.
  """
  weak_model = make_weak_learner(config, corpus)
  weak_config = weak_learner_config(config)
  learnt = {}

  def weak_learner_of(name: str, maps: dict[str, np.ndarray]) -> weak_learner.WeakLearnerResult:
    """Context.weak_learner: the weak learner trained on `maps` ({split: ragged map}) of explainer `name`."""
    if name not in learnt:  # trained (or restored from its checkpoint) once, for every evaluation that reads it
      record = plugins.EXPLAINERS.get(name)  # None for maps that are no registered explainer's (probe maps)
      learnt[name] = weak_learner.train_weak_learner(
          weak_model, corpus, maps, weak_config, out.weak_ckpt(name), norm=weak_learner.map_norm(config, name),
          mesh=mesh, fresh_map=bool(record and record.baseline and record.needs_key))  # noise, drawn afresh
    return learnt[name]

  subset = test_subset(config, corpus.splits['test'])
  context = evaluations.Context(config=config, corpus=corpus, model=model, params=params, subset=subset,
                                weak_model=weak_model, weak_learner=weak_learner_of, mesh=mesh)
  records = [plugins.get(plugins.Evaluation, s) for s in sections or plugins.EVALUATIONS]
  summary = {**{record.name: {} for record in records}, 'test_subset': len(subset)}
  for name in io.scoped(names):
    maps = maps_of(name)
    if maps is None:
      explain_corpus(config, corpus, model, params, name, out, mesh)
      maps = io.load_npz(out.maps(name))
    for record in records:
      if record.applies(name):
        path = out.evaluation(record.name, name)
        if not os.path.exists(path):
          io.save_npz(path, **record.evaluate(context, name, maps))
        summary[record.name][name] = record.summarise(io.load_npz(path))
  return summary


STAGE_FUNCTIONS = {'encode': stage_encode, 'train': stage_train, 'explain': stage_explain,
                   'evaluate': stage_evaluate}


def run_pipeline(config: config_lib.RunConfig, root: str, stages: tuple[str, ...] | list[str] = config_lib.STAGES,
                 mesh: Any | None = None) -> dict:
  """Runs `stages` in order, skipping those already done, holding the workdir's lock; returns results.json's
  content."""
  unknown = [s for s in stages if s not in config_lib.STAGES]
  if unknown:
    raise FaithjaxError(f'unknown stage(s) {", ".join(unknown)}; choose from {", ".join(config_lib.STAGES)}')
  corpora.spec(config.corpus)  # an unknown corpus is refused before the workdir is made
  memory.check(config, corpora.describe(config.corpus, config.data_dir, config.split_seed)['max_len'])
  try:
    with workdir_lib.locked(root):
      return _run_stages(config, workdir_lib.prepare_workdir(root, config), stages, mesh)
  except io.CorruptArtefact as e:
    raise artefacts.with_redo_command(e) from None


def stage_outputs(config: config_lib.RunConfig, workdir: workdir_lib.Workdir, stage: str) -> list[str]:
  """What a finished `stage` wrote that later stages read: a stage whose summary exists but whose output is
  missing (deleted as an artefact's fix) is run again, and must reproduce its summary."""
  return {'encode': [workdir.corpus], 'train': [workdir.classifier_ckpt],
          'explain': [workdir.maps(name) for name in config.explainers]}.get(stage, [])


def _run_stage(config, workdir, stage, mesh):
  """Runs one stage: its summary, refused if it holds a non-finite number, and its timing.StageTime."""
  try:
    with io.progress_scope(stage), timing.measure() as spent:
      summary = STAGE_FUNCTIONS[stage](config, workdir, mesh)
  except KeyboardInterrupt:
    raise Interrupted(f'stage {stage}') from None
  bad = artefacts.non_finite(summary)
  if bad:
    raise FaithjaxError(f'stage {stage} computed {bad[0][1]} for {bad[0][0]} (and {len(bad) - 1} more non-finite '
                        'values); nothing was written to results. Delete the stage\'s outputs and re-run: '
                        + artefacts.redo_command_of_stage(workdir, stage))
  return io.json_ready(summary), spent


def _recompute(config, workdir, stage, missing, mesh):
  """Runs the finished `stage` again for its `missing` outputs; refuses (deleting them again) unless it
  reproduces the summary that the workdir's later results were computed from."""
  recorded = io.load_json(workdir.summary(stage))
  io.log(f'stage {stage}: recomputing {os.path.relpath(missing[0], workdir.root)}'
         + (f' and {len(missing) - 1} more' if len(missing) > 1 else ''))
  summary, spent = _run_stage(config, workdir, stage, mesh)
  # a field the recorded summary lacks was added to the stage since it was written (e.g. encode's classes)
  summary = {k: v for k, v in summary.items() if k in recorded}
  if summary != recorded:
    for path in missing:
      if os.path.isdir(path):
        shutil.rmtree(path)
      else:
        os.remove(path)
    differ = sorted(k for k in set(summary) | set(recorded) if summary.get(k) != recorded.get(k))
    raise FaithjaxError(f'stage {stage} recomputed {os.path.relpath(missing[0], workdir.root)}, but it differs from '
                        f'what the workdir\'s results were computed from ({", ".join(differ)} in '
                        f'{workdir.summary(stage)}); pass a new --workdir')
  io.log(f'stage {stage}: recomputed in {spent.describe()}, the same as before')


def _run_stages(config, workdir, stages, mesh):
  inputs.check_workdir(config, workdir.summary('encode'))
  # A requested stage brings the stages before it (each skipped if already done).
  last = max(config_lib.STAGES.index(s) for s in stages)
  summaries = {}
  for stage in config_lib.STAGES[:last + 1]:
    if stage == 'report':
      continue
    if os.path.lexists(workdir.summary(stage)):
      missing = [p for p in stage_outputs(config, workdir, stage) if not os.path.lexists(p)]
      if missing:
        _recompute(config, workdir, stage, missing, mesh)
      else:
        io.log(f'stage {stage}: done before, skipped ({workdir.summary(stage)})')
    else:
      io.log(f'stage {stage}: running')
      summary, spent = _run_stage(config, workdir, stage, mesh)
      io.save_json(workdir.stage_time(stage), spent.as_dict())  # beside the summary: results.json holds no clock
      io.save_json(workdir.summary(stage), summary)
      io.log(f'stage {stage}: done in {spent.describe()}')
    interrupts.raise_if_received(f'stage {stage}')  # a Ctrl-C that a library swallowed stops the run here
    summaries[stage] = io.load_json(workdir.summary(stage))
  results = {'config': dataclasses.asdict(config), 'stages': summaries, 'provenance': provenance.record()}
  if 'report' in stages:
    io.write_json(workdir.path('results.json'), results)
    times = {s: io.load_json(workdir.stage_time(s)) for s in summaries if os.path.lexists(workdir.stage_time(s))}
    io.write_text(workdir.path('report.md'), report.render(results, times))
  return results


def reevaluate_checkpoints(config: config_lib.RunConfig, root: str, checkpoints: str | list[str],
                           mesh: Any | None = None) -> None:
  """Every checkpoint of `checkpoints` (reevaluate.checkpoint_dirs) re-evaluated in one vmapped program per
  bucket, on the corpus `config` names; writes <root>/reevaluate.json.

  Explainers, deletion and ERASER always; the weak-learner F1 and shuffle test too when
  every checkpoint's workdir has its weak learners (its evaluate stage ran).
  mesh: every batch split over its devices (also across processes).
  """
  if not checkpoints:
    raise FaithjaxError('--mode=reevaluate needs --checkpoints=<workdir, checkpoint folder or glob>')
  dirs = reevaluate.checkpoint_dirs(checkpoints)
  try:
    with contextlib.ExitStack() as locks:
      locks.enter_context(workdir_lib.locked(root))
      for source in dict.fromkeys(reevaluate.workdir_of(d).root for d in dirs):  # read only: a shared lock
        locks.enter_context(workdir_lib.locked(source, shared=True))
      _reevaluate(config, root, dirs, mesh)
  except io.CorruptArtefact as e:
    raise artefacts.with_redo_command(e, output_root=root) from None


def _reevaluate(config, root, dirs, mesh):
  run_pipeline(config, root, ['encode'])
  corpus = encode.EncodedCorpus.load(workdir_lib.Workdir(os.path.abspath(root)).corpus)
  missing = reevaluate.missing_weak_learners(dirs, config.explainers)
  weak = None if missing else {'model': make_weak_learner(config, corpus), 'norm': config.norm,
                               'permutations': config.permutations}
  io.log('weak learner and shuffle test: ' + (f'skipped, no weak learner in {missing[0]} (and {len(missing) - 1} '
                                              'more)' if missing else 'every workdir has its weak learners'))
  unstacked = [r.name for r in plugins.EVALUATIONS.values() if not r.stacked]
  if unstacked:
    io.log(f'not re-evaluated (no stacked path): {", ".join(unstacked)}; the evaluate stage of each workdir has them')
  subset, test_size = test_subset(config, corpus.splits['test']), len(corpus.splits['test'])
  if len(subset) < test_size:
    io.log(f'every evaluation runs on {len(subset)} of the {test_size} test examples (--test_subset); the '
           "pipeline's weak learner and shuffle test use all of them, so those means differ from its")
  results = reevaluate.reevaluate(
      dirs, corpus, make_model(config, corpus),
      {n: explainer_options(config, n) for n in config.explainers},
      subset=subset, batch_size=config.eval_batch_size,
      key=jax.random.key(config.seed),
      deletion_options=deletion.options_of(config),
      weak=weak, evaluation_options=config.evaluation, mesh=mesh)
  io.write_json(os.path.join(root, 'reevaluate.json'),
                [{'test_examples': f'{len(subset)} of {test_size}', **row} for row in reevaluate.summary(results)])
