"""The meta-evaluation's measurements: typed records of how far each evaluation can be trusted on one corpus.

From evaluated runs (faithjax.runs.Run: seeds or checkpoints of one model on
one corpus and data split), for every registered evaluation, explainer and
model, a user's included:
  diagnose    each score's diagnosticity (faithfulness/diagnosticity.py) against
              degraded copies of every explainer's maps: permuted, noisy at
              NOISE_LEVELS, sign-flipped, and recomputed on the classifier with
              its top 1..`depth` modules re-initialised; the copies are scored by
              the pipeline's own evaluate function (pipeline.evaluate_maps), each
              evaluation's seconds per example timed there; on request the
              evaluations that train on the maps (weak learner, shuffle test)
              too, every map and copy retrained on a named reduced setting
              (retrained_preferences);
  agreement   every score of every explainer resampled with one crossed
              two-level bootstrap (seeds x shared test examples,
              metrics.two_level_bootstrap); explainer pairs, Kendall tau-b and
              Spearman rho between scores (with and without the baselines),
              Kendall's W over all scores;
  per_example Spearman between two scores over the test examples, plain and
              with document length and classifier margin partialled out, the
              random map's row the null, with CIs from the same crossed
              two-level resamples (drawn over the evaluated examples);
  naopc       ERASER's AOPC beside its normalised AOPC (faithfulness/naopc.py),
              and whether normalising changes the explainers' ranking.
Each family of tests is corrected: Holm over a diagnosticity table's rows,
Benjamini–Hochberg over a table of pairs, of rank agreements or of per-example
correlations.
"""

import dataclasses
import hashlib
import itertools
import json
import os
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats import multitest

from faithjax import FaithjaxError
from faithjax import concordance
from faithjax import explain
from faithjax import io
from faithjax import metrics
from faithjax import pipeline
from faithjax import plugins
from faithjax import runs as runs_lib
from faithjax import streams
from faithjax import train
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.data.text import PAD_ID
from faithjax.faithfulness import agreement
from faithjax.faithfulness import deletion
from faithjax.faithfulness import diagnosticity
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import naopc
from faithjax.meta import parts as parts_lib
from faithjax.models import contract

LEVEL = 0.95
DEPTH = 2  # cascading randomisation: the top 1 and the top 2 modules re-initialised
RANDOM = 'random'  # the baseline whose per-example agreement is the null
NAOPC_BUDGET = 8 * 48 ** 2  # AOPC-bounds search: examples × token width² at once (about 4 GB)
NAOPC_MAX_TOKENS = 128  # AOPC bounds only on documents this short by default: minutes each on a CPU at 128 tokens


@dataclasses.dataclass(frozen=True)
class Diagnosis:
  """One score's diagnosticity against one degradation, over every run and explainer: the share of (example,
  map) pairs where it prefers the map over its degraded copy (ties half), its CI over examples, and the
  one-sided p of "share <= 1/2" (t test of the per-example shares) Holm-corrected over the table."""
  score: str
  degradation: str
  share: float
  ci95: tuple
  pairs: int
  examples: int
  p: float
  p_holm: float
  setting: str = ''  # '': the run's own scores of the maps; else the reduced setting both sides were rescored on


@dataclasses.dataclass(frozen=True)
class ScoreDifference:
  """A retrained evaluation's dataset-level score (e.g. the weak learner's F1) of one explainer's map minus that of
  its degraded copy, oriented (> 0: the map is preferred), the mean over the runs with its CI
  (evaluations.Score.difference: the two-level interval of the runs' design, one run: a paired bootstrap)."""
  score: str
  degradation: str
  explainer: str
  setting: str
  difference: float
  ci95: tuple


@dataclasses.dataclass(frozen=True)
class Cost:
  """An evaluation's cost per test example, timed on the degraded maps (compiling included), and that time in
  forward passes of the classifier over the same examples."""
  evaluation: str
  seconds_per_example: float
  forward_equivalents: float


@dataclasses.dataclass(frozen=True)
class Pair:
  """Two explainers under one score: oriented difference a - b (> 0: a more faithful), its two-level CI and p
  (Benjamini–Hochberg over the score's pairs); verdict the more faithful one, or 'tie'."""
  score: str
  a: str
  b: str
  difference: float
  ci95: tuple
  p: float
  p_bh: float
  verdict: str


@dataclasses.dataclass(frozen=True)
class RankAgreement:
  """Kendall tau-b or Spearman rho between two scores' rankings of `explainers`, its two-level CI and p
  (Benjamini–Hochberg over the table's score pairs); baselines: whether the uniform and random maps are ranked."""
  a: str
  b: str
  statistic: str
  baselines: bool
  explainers: tuple
  value: float
  ci95: tuple
  p: float
  p_bh: float


@dataclasses.dataclass(frozen=True)
class Concordance:
  """Kendall's W of every score over the explainers they all rank, with its two-level CI."""
  scores: tuple
  explainers: tuple
  w: float
  ci95: tuple


@dataclasses.dataclass(frozen=True)
class Correlation:
  """A correlation averaged over the runs, its two-level CI and p of "it is 0" (Benjamini–Hochberg over its
  table)."""
  value: float
  ci95: tuple
  p: float
  p_bh: float


@dataclasses.dataclass(frozen=True)
class PerExample:
  """Spearman between two oriented scores over the `examples` test examples every run measured both on, for one
  map: each run's rho, averaged over the runs, with its two-level CI; partial: with document length and
  classifier margin partialled out. The random map's row is the null."""
  a: str
  b: str
  explainer: str
  examples: int
  rho: Correlation
  partial_rho: Correlation


@dataclasses.dataclass(frozen=True)
class NaopcRanking:
  """The explainers ranked (most faithful first) by the mean AOPC and the mean NAOPC of one ERASER kind over the
  runs, and Kendall tau-b between the two means."""
  kind: str
  aopc: tuple  # ((explainer, mean AOPC), ...), most faithful first
  naopc: tuple  # ((explainer, mean NAOPC), ...), most faithful first
  tau: float

  @property
  def changed(self) -> bool:
    return [n for n, _ in self.aopc] != [n for n, _ in self.naopc]


@dataclasses.dataclass(frozen=True)
class RunSetting:
  """What produced one evaluated run, as its results.json recorded it: every reduction it ran under is a flag of
  its command; and how exact its explainers that track completeness (integrated gradients) were."""
  seed: int
  command: str | None  # run.py's command line (None: a run recorded before commands were)
  completeness: tuple = ()  # ((explainer, completeness relative error p90 over test documents, share at the cap), ...)


@dataclasses.dataclass(frozen=True)
class MetaEvaluation:
  """Everything measured on one corpus's evaluated runs."""
  corpus: str
  seeds: tuple
  design: str
  examples: int
  explainers: tuple
  diagnoses: tuple  # Diagnosis
  costs: tuple  # Cost
  pairs: tuple  # Pair
  agreements: tuple  # RankAgreement
  concordance: Concordance | None
  per_example: tuple  # PerExample
  naopc: tuple  # NaopcRanking
  differences: tuple = ()  # ScoreDifference of the retrained evaluations (meta_evaluate's train_evaluations)
  diagnosed: tuple = ()  # the maps whose degraded copies were scored (diagnosed_explainers)
  diagnosis_examples: int = 0  # the evaluated test examples they were scored on (0: all `examples`)
  naopc_examples: int = 0  # the evaluated test examples the AOPC bounds were searched on (0: all)
  naopc_max_tokens: int = 0  # the longest document searched, where longer evaluated ones were left out (0: none)
  settings: tuple = ()  # RunSetting, one per run


# --- the runs' maps and evaluated examples ---

GROUND_TRUTH = 'ground_truth'  # truth_scored's name for the planted-token precision@k ranking

def diagnosed_explainers(explainers: Sequence[str]) -> tuple:
  """One map per base explainer, to degrade: the explainer itself where the runs have it, else its first map
  transform. A degraded copy of |X| says what one of X does, at a second set of copies' cost."""
  bases = {}
  for name in explainers:
    base = explain.base_name(name)
    if base not in bases or name == base:
      bases[base] = name
  return tuple(bases.values())


def run_setting(run: runs_lib.EvaluatedRun) -> RunSetting:
  """The run's command and its explainers' completeness over test documents, from its results.json (neither
  where it has none: a workdir evaluated through the library, not run.py)."""
  quality = run.results().get('stages', {}).get('explain', {}).get('quality', {})
  completeness = tuple(
      (name, entry['per_document']['completeness_relative_error']['p90'],
       entry['per_document'].get('at_cap', {}).get('share', 0.))
      for name, entry in quality.items() if 'completeness_relative_error' in entry.get('per_document', {}))
  return RunSetting(run.config.seed, run.command(), completeness)


def diagnosis_rows(n: int, examples: int, seed: int) -> np.ndarray:
  """Rows of the n evaluated test examples that the degraded copies are scored on (or the AOPC bounds searched
  on), sorted: all (examples 0 or at least n), else a sample of `examples` drawn from the meta-evaluation's seed,
  the same for every run."""
  return streams.sample_rows(n, examples, streams.diagnosis_rng(seed))


def searched_rows(lengths: np.ndarray, examples: int, max_tokens: int, seed: int) -> np.ndarray:
  """Rows of the evaluated test examples (lengths <int>[n]) that the AOPC bounds are searched on, sorted: those of
  at most max_tokens tokens (0: every one), or a seeded sample of `examples` of them (diagnosis_rows)."""
  searchable = np.flatnonzero(lengths <= max_tokens) if max_tokens else np.arange(len(lengths))
  if not len(searchable):
    raise FaithjaxError(f'no evaluated test example has at most {max_tokens} tokens (the shortest has '
                        f'{lengths.min()}); raise --naopc_max_tokens or pass --nonaopc')
  return searchable[diagnosis_rows(len(searchable), examples, seed)]


def test_part(run: runs_lib.Run) -> tuple[encode.EncodedSplit, np.ndarray, np.ndarray]:
  """(the run's evaluated test examples as a split, their indices <int>[n], their ids <int>[n, seq])."""
  test = run.corpus.splits['test']
  subset = pipeline.test_subset(run.config, test)
  part = test.subset(subset)
  return part, subset, part.padded(np.arange(len(part)), int(part.lengths.max()))


def padded_map(run: runs_lib.Run, name: str, subset: np.ndarray, width: int) -> np.ndarray:
  """The run's stored test map of `name` on the examples `subset`: [n, width]."""
  test = run.corpus.splits['test']
  return test.padded(subset, width, io.load_npz(run.work.maps(name))['test'])


def ragged(values: ArrayLike, ids: ArrayLike) -> np.ndarray:
  """A padded map [n, seq] as the flat array aligned with the tokens of ids (each row its tokens, then PAD)."""
  return np.asarray(values, np.float32)[np.asarray(ids) != PAD_ID]


def top_modules(model: contract.Model, params: contract.Params) -> list[str]:
  """The params' top-level modules from the output down: ordered by the step of the forward pass (its jaxpr) that
  first reads each one, latest first. (Their keys are sorted by name, not by depth.)"""
  leaves, treedef = jax.tree.flatten(params)
  module = [path[0].key for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
  ids = jnp.ones((1, 4), jnp.int32)
  jaxpr = jax.make_jaxpr(lambda *flat: contract.apply(model, jax.tree.unflatten(treedef, flat), ids)[0])(*leaves)
  position = {id(v): i for i, v in enumerate(jaxpr.jaxpr.invars)}
  first = [-1] * len(leaves)  # never read: last
  for step, eqn in reversed(list(enumerate(jaxpr.jaxpr.eqns))):
    for v in eqn.invars:
      if id(v) in position:
        first[position[id(v)]] = step
  start = {}
  for name, step in zip(module, first):
    if step >= 0:
      start[name] = min(start.get(name, step), step)
  return sorted(dict.fromkeys(module), key=lambda name: -start.get(name, -1))


def degraded_maps(run: runs_lib.Run, model: contract.Model, params: contract.Params, names: Sequence[str],
                  ids: np.ndarray, subset: np.ndarray, key: jax.Array,
                  levels: Sequence[float] = diagnosticity.NOISE_LEVELS, depth: int = DEPTH) -> dict:
  """{(explainer, degradation): padded map [n, seq]} for every explainer in `names` on the examples `ids`
  <int>[n, seq] (test examples `subset` <int>[n]).

  Degradations: diagnosticity.degradations' (permuted, noise_<level>, sign_flipped), and randomised_<k>: the
  explainer rerun (the run's options) on params with the top k modules re-initialised, k = 1..depth.
  """
  mask = ids != PAD_ID
  part = encode.EncodedSplit.from_lists([row[keep] for row, keep in zip(ids, mask)], np.zeros(len(ids), np.int32))
  randomised = diagnosticity.randomised_layers(model, params, jax.random.fold_in(key, 0),
                                               top_modules(model, params)[:depth])
  copies = {}
  for i, name in enumerate(names):
    scores = padded_map(run, name, subset, ids.shape[1])
    for degradation, values in diagnosticity.degradations(scores, mask, jax.random.fold_in(key, i + 1),
                                                          levels).items():
      copies[name, degradation] = np.asarray(values)
    fn = explain.make_explainer(name, model, **pipeline.explainer_options(run.config, name))
    for k, shuffled in enumerate(randomised, 1):
      flat = explain.explain_split(fn, shuffled, part, run.config.eval_batch_size,
                                   pipeline.explainer_key(run.config, name, 0),
                                   progress=f'{name}, top {k} randomised ({os.path.basename(run.work.root)})')
      copies[name, f'randomised_{k}'] = part.padded(np.arange(len(part)), ids.shape[1], flat)
  return copies


def diagnosed_scores(sections: Sequence[str]) -> dict[str, evaluations.Score]:
  """{score name: Score} of the sections' scores that have per-example arrays (what a pair compares)."""
  return {name: spec for name, spec in evaluations.SCORES.items()
          if spec.section in sections and spec.per_example is not None}


def evaluate_copies(run: runs_lib.Run, model: contract.Model, params: contract.Params, part: encode.EncodedSplit,
                    copies: dict, ids: np.ndarray, out: workdir_lib.Workdir, sections: Sequence[str]) -> tuple:
  """Scores the degraded copies with pipeline.evaluate_maps, one evaluation at a time (timed).

  Returns ({(section, explainer, degradation): saved per-example arrays}, {section: (seconds per example, the same
  in forward passes over `part`)}). The copies are named '<explainer>~<degradation>' in `out` (a Workdir: a killed
  call resumes), each section's cost stored beside them: timed over the copies a call scored (with a forward pass
  timed right after), read back when none was left.
  """
  corpus = encode.EncodedCorpus(run.corpus.name, run.corpus.vocab, {'test': part}, run.corpus.num_classes)
  named = {f'{name}~{degradation}': {'test': ragged(values, ids)} for (name, degradation), values in copies.items()}
  saved, seconds = {}, {}
  for section in sections:
    timed = os.path.join(out.root, f'seconds_per_example_{section}.json')
    pending = [n for n in named if not os.path.exists(out.evaluation(section, n))]
    start = time.perf_counter()
    pipeline.evaluate_maps(run.config, corpus, model, params, out, list(named), named.get, sections=[section])
    scored = [n for n in pending if os.path.exists(out.evaluation(section, n))]
    if scored:  # timed on what this call scored; a resumed call reads it back
      spent = (time.perf_counter() - start) / (len(scored) * len(part))
      io.write_json(timed, [spent, spent / forward_seconds(model, params, part, run.config.eval_batch_size)])
    if os.path.exists(timed):  # else scored by a version that kept no time: no cost from this run
      seconds[section] = tuple(io.read_json(timed))
    for (name, degradation) in copies:
      path = out.evaluation(section, f'{name}~{degradation}')
      if os.path.exists(path):  # the evaluation applies to the map
        saved[section, name, degradation] = io.load_npz(path)
  return saved, seconds


def forward_seconds(model: contract.Model, params: contract.Params, part: encode.EncodedSplit,
                    batch_size: int) -> float:
  """Seconds per example of one forward pass of the classifier over `part` (the second of two calls: compiled)."""
  train.predict_split(model, params, part, batch_size)
  start = time.perf_counter()
  train.predict_split(model, params, part, batch_size)
  return (time.perf_counter() - start) / len(part)


def stored_arrays(path: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """{name: array} made once by `make` and stored at `path` (.npz), read back verified on a later call: what a
  killed meta-evaluation does not compute again."""
  if os.path.exists(path):
    return io.load_npz(path)
  arrays = make()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  io.save_npz(path, **arrays)
  return arrays


def stored_copies(work: workdir_lib.Workdir, make: Callable[[], dict]) -> dict:
  """degraded_maps' copies, made once and stored in `work` (stored_arrays): a resumed call does not recompute the
  cascading randomisation's maps."""
  named = stored_arrays(os.path.join(work.root, 'degraded.npz'), lambda: {
      f'{name}~{degradation}': values for (name, degradation), values in make().items()})
  return {tuple(key.split('~')): values for key, values in named.items()}


def options_folder(*options: Any) -> str:
  """A folder name that changes with any of `options` (JSON-able): copies and their evaluations made under other
  options are never read back as these."""
  return 'options_' + hashlib.sha256(json.dumps(options).encode()).hexdigest()[:12]


def run_folder(out_root: str, run: runs_lib.Run) -> str:
  """Where a run's pieces of the meta-evaluation are stored under `out_root`: named by its seed and workdir, so a
  call on one run fills what a call on several reads."""
  return os.path.join(out_root, f'seed{run.config.seed}_' + hashlib.sha256(run.work.root.encode()).hexdigest()[:8])


def measured_preferences(run: runs_lib.Run, model: contract.Model, params: contract.Params, names: Sequence[str],
                         sections: Sequence[str], folder: str, key: jax.Array, levels: Sequence[float], depth: int,
                         rows: np.ndarray) -> tuple[dict, dict]:
  """Per explainer: each score of the original map and of each degraded copy, and each evaluation's cost, on the
  run's evaluated test examples `rows` <int>[n] (indices into test_part's); copies and scores stored in `folder`.

  Returns ({(score, degradation, explainer): (original [n], degraded [n])}, {section: (seconds per example, forward
  equivalents)}), not oriented, NaN where a score did not measure an example.
  """
  scores = diagnosed_scores(sections)
  part, subset, _ = test_part(run)
  part, subset = part.subset(rows), subset[rows]
  ids = part.padded(np.arange(len(part)), int(part.lengths.max()))
  work = workdir_lib.Workdir(os.path.join(folder, options_folder(
      names, levels, depth, jax.random.key_data(key).tolist(), rows.tolist())))
  copies = stored_copies(work, lambda: degraded_maps(run, model, params, names, ids, subset, key, levels, depth))
  saved, costs = evaluate_copies(run, model, params, part, copies, ids, work, sections)
  preferences = {}
  for (section, name, degradation), arrays in saved.items():
    for score, spec in scores.items():
      if spec.section == section and run.has(section, name):
        preferences[score, degradation, name] = (run.units(spec, name)[0][subset],
                                                 runs_lib.per_example(spec, arrays, len(subset)))
  return preferences, costs


def preference_table(parts: Sequence[parts_lib.RunPart], names: Sequence[str], sections: Sequence[str]) -> tuple:
  """The runs' preferences (measured_preferences') of the maps `names` under the evaluations `sections` (those
  every part measured), and their costs, put together.

  Returns ({(score, degradation): [(original [n], degraded [n], orientation) per run and explainer]}, [Cost]: each
  evaluation's mean over the runs that timed it).
  """
  wins, costs = {}, {}
  for part in parts:
    for (score, degradation, name), (original, degraded) in part.preferences.items():
      spec = evaluations.SCORES[score]
      if name in names and spec.section in sections:
        wins.setdefault((score, degradation), []).append((original, degraded, spec.orientation))
    for section, cost in part.costs.items():
      if section in sections:
        costs.setdefault(section, []).append(cost)
  return wins, [Cost(s, *np.mean(values, 0).tolist()) for s, values in costs.items()]


def diagnoses(wins: dict, n_resamples: int = 1000, seed: int = 0, settings: dict | None = None) -> list:
  """Diagnosis rows from preference_table's (and retrained_preferences') pairs, Holm-corrected over all of them.

  wins: {(score, degradation): [(original [n], degraded [n], orientation)]}, every entry over the same n
  examples; an example is kept where every entry of the row scored both maps. settings: {score: the reduced
  setting it was rescored on}, for the retrained evaluations.
  """
  rows = []
  for (score, degradation), entries in wins.items():
    original, degraded = (np.stack([e[i] for e in entries]) for i in (0, 1))
    keep = np.isfinite(original).all(0) & np.isfinite(degraded).all(0)
    orientation = entries[0][2]
    result = diagnosticity.diagnosticity(original[:, keep], degraded[:, keep], orientation, n_resamples, seed)
    per_example = diagnosticity.preferences(original[:, keep], degraded[:, keep], orientation).mean(0)
    p = stats.ttest_1samp(per_example, 0.5, alternative='greater').pvalue if per_example.std() > 0 else float(
        per_example.mean() <= 0.5)
    rows.append((score, degradation, result, float(p)))
  holm = multitest.multipletests([r[3] for r in rows], method='holm')[1] if rows else []
  return [Diagnosis(score, degradation, d.share, tuple(d.ci95), d.pairs, d.examples, p, float(p_holm),
                    (settings or {}).get(score, ''))
          for (score, degradation, d, p), p_holm in zip(rows, holm)]


# --- the evaluations that train on the maps, retrained on a reduced setting ---

RETRAINED_LEVELS = (1.,)  # one noise level: each degradation costs a weak learner per map and run


def retrained_setting(epochs: int) -> str:
  """The reduced setting's name, as the tables give it."""
  return (f'retrained: map and copy each train a weak learner, {epochs} epochs; degradations of every split\'s map, '
          f'noise {", ".join(f"{level:g}" for level in RETRAINED_LEVELS)} × rms only, no cascading randomisation')


def degraded_splits(corpus: encode.EncodedCorpus, maps: dict, key: jax.Array) -> dict:
  """{degradation: {split: ragged map}}: diagnosticity.degradations (noise at RETRAINED_LEVELS) of a stored map
  {split: ragged map} on every split of `corpus` (the weak learner trains on train and valid, is scored on test)."""
  copies = {}
  for i, (name, split) in enumerate(corpus.splits.items()):
    ids = split.padded(np.arange(len(split)), int(split.lengths.max()))
    scores = split.padded(np.arange(len(split)), ids.shape[1], np.asarray(maps[name], np.float32))
    for degradation, values in diagnosticity.degradations(scores, ids != PAD_ID, jax.random.fold_in(key, i),
                                                          RETRAINED_LEVELS).items():
      copies.setdefault(degradation, {})[name] = ragged(values, ids)
  return copies


def outcome(spec: evaluations.Score, saved: dict, n: int) -> np.ndarray:
  """A score's per-example outcome [n]: its per-example array (runs.per_example), or, for a score that has none
  (the weak learner's F1), whether its (labels, predictions) units agree: 1 correct, 0 wrong."""
  if spec.per_example is not None:
    return runs_lib.per_example(spec, saved, n)
  (labels, predictions), _ = spec.units(saved)
  return (np.asarray(labels) == np.asarray(predictions)).astype(np.float64)


def retrained_evaluations(run: runs_lib.Run, model: contract.Model, params: contract.Params, names: Sequence[str],
                          sections: Sequence[str], folder: str, key: jax.Array, epochs: int | None = None) -> dict:
  """The evaluations `sections` that train on the maps, on every explainer's map and on its degraded copies
  (degraded_splits), all retrained with `epochs` weak-learner epochs (default the run's: retrained_epochs) by
  pipeline.evaluate_maps: the original map is rescored too, so both sides of a pair share the setting.

  Returns {(section, copy): saved arrays}, the copies named '<explainer>~original' and '<explainer>~<degradation>'
  (stored in <folder>/retrained: a killed call resumes).
  """
  config = dataclasses.replace(run.config, weak_epochs=retrained_epochs(run, epochs))
  copies = {}
  for i, name in enumerate(names):
    maps = io.load_npz(run.work.maps(name))
    copies[f'{name}~original'] = {split: maps[split] for split in run.corpus.splits}
    split_copies = degraded_splits(run.corpus, maps, jax.random.fold_in(key, i))
    copies.update({f'{name}~{degradation}': split_maps for degradation, split_maps in split_copies.items()})
  work = workdir_lib.Workdir(os.path.join(folder, 'retrained'))
  pipeline.evaluate_maps(config, run.corpus, model, params, work, list(copies), copies.get, sections=sections)
  return {(section, copy): io.load_npz(work.evaluation(section, copy)) for copy in copies for section in sections}


def retrained_epochs(run: runs_lib.Run, epochs: int | None) -> int:
  """The retrained weak learners' epochs: `epochs`, or the run's own."""
  return epochs or run.config.weak_epochs


def retrained_preferences(runs: Sequence[runs_lib.EvaluatedRun], retrained: Sequence[dict], names: Sequence[str],
                          sections: Sequence[str], epochs: int) -> tuple:
  """The runs' retrained evaluations (retrained_evaluations' record of each run, every one with `epochs` epochs)
  as pairs of a map and its copy.

  Returns ({(score, degradation): [(original [n], degraded [n], orientation) per run and explainer]} of outcome's
  per-example values over the n test examples, [ScoreDifference], {score: setting}).
  """
  scores = {n: spec for n, spec in evaluations.SCORES.items() if spec.section in sections}
  setting = retrained_setting(epochs)
  degradations = [d for d in dict.fromkeys(copy.split('~', 1)[1] for _, copy in retrained[0]) if d != 'original']
  wins, differences = {}, []
  for score, spec in scores.items():
    for degradation in degradations:
      for name in names:
        of_map = [saved[spec.section, f'{name}~original'] for saved in retrained]
        of_copy = [saved[spec.section, f'{name}~{degradation}'] for saved in retrained]
        wins.setdefault((score, degradation), []).extend(
            (outcome(spec, a, len(run.labels)), outcome(spec, b, len(run.labels)), spec.orientation)
            for a, b, run in zip(of_map, of_copy, runs))
        result = spec.difference(of_map, of_copy, design=runs_lib.design_of(runs))  # oriented
        differences.append(ScoreDifference(score, degradation, name, setting, result['difference'],
                                           tuple(result['ci95'])))
  return wins, differences, {score: setting for score in scores}


# --- rankings of explainers over the runs ---

def explainers_of(runs: Sequence[runs_lib.EvaluatedRun]) -> list[str]:
  """The explainers (with baselines and |X| variants) every run has an evaluation of."""
  explainers = runs[0].config.explainers  # the sign control's |X| too, when the runs did not ask for it themselves
  names = list(dict.fromkeys([*explainers, *(f'{n}.abs' for n in explainers), *explain.baseline_names()]))
  sections = {spec.section for spec in evaluations.SCORES.values()}
  return [n for n in names if all(any(r.has(section, n) for section in sections) for r in runs)]


def score_evaluations(runs: Sequence[runs_lib.EvaluatedRun], names: Sequence[str],
                      draws: metrics.TwoLevelDraws) -> dict:
  """{score: {'explainers', 'estimate' [e], 'boot' [e, resamples]}}, oriented (higher = more faithful).

  Every score and explainer reads the same two-level draws (metrics.two_level_draws) over the whole test
  split; 'boot' is metrics.two_level_bootstrap's [e, 3 * n_resamples].
  """
  scored = {}
  for evaluation, spec in evaluations.SCORES.items():
    present = [n for n in names if spec.resampled and all(r.has(spec.section, n) for r in runs)]
    if len(present) < 2:
      continue
    per_name = [[r.units(spec, n) for r in runs] for n in present]  # [explainer][seed] -> tuple of [n_test]
    units = tuple(np.array([[seed[i] for seed in seeds] for seeds in per_name]) for i in range(len(per_name[0][0])))
    estimate, boot = metrics.two_level_bootstrap(units, runs_lib.statistic_of(runs[0], spec, present[0]), draws)
    scored[evaluation] = {'explainers': present, 'estimate': spec.orientation * estimate,
                          'boot': spec.orientation * boot}
  return scored


def planted_precision(run: runs_lib.Run, names: Sequence[str]) -> dict:
  """{explainer: precision@k of the planted tokens per test example [n_test]} of the run's stored maps of `names`
  (no |X| variants), where the corpus plants its evidence (synthetic); {} where it does not."""
  test = run.corpus.splits['test']
  if test.rationale is None:
    return {}
  return {name: pipeline.precision_per_example(test, io.load_npz(run.work.maps(name))['test'],
                                               run.config.eval_batch_size)
          for name in names if explain.base_name(name) == name}


def truth_scored(truths: Sequence[dict], names: Sequence[str], draws: metrics.TwoLevelDraws) -> dict:
  """{GROUND_TRUTH: score_evaluations' record} of each explainer's precision@k of the planted tokens (truths: each
  run's planted_precision), resampled with the evaluations' draws: the ranking a faithful evaluation should find;
  {} where the corpus plants no evidence. The baselines store no map, so the truth ranks none."""
  present = [n for n in names if n not in explain.baseline_names() and explain.base_name(n) == n
             and all(n in truth for truth in truths)]
  if len(present) < 2:
    return {}
  units = np.array([[truth[n] for truth in truths] for n in present])  # [explainers, runs, n_test]
  estimate, boot = metrics.two_level_bootstrap((units,), runs_lib.nanmean, draws)
  return {GROUND_TRUTH: {'explainers': present, 'estimate': estimate, 'boot': boot}}


def pairs(scored: dict, layout: tuple) -> list:
  """Every explainer pair under every score (agreement.pair_differences: BH over the score's pairs)."""
  return [Pair(score, row['a'], row['b'], row['difference'], tuple(row['ci95']), row['p'], row['p_bh'],
               row['verdict'])
          for score, s in scored.items()
          for row in agreement.pair_differences(s['explainers'], s['estimate'], s['boot'], layout)]


def rank_agreements(scored: dict, layout: tuple, baselines: bool = True) -> list:
  """Kendall tau-b and Spearman rho of every two scores over the explainers both rank (baselines=False: without
  the uniform and random maps), each p (the statistic is 0) corrected by Benjamini–Hochberg over the table's
  score pairs ('p_bh'). layout: the draws' (n_seeds, n, design).

  The |X| variants are left out: they are the sign control's maps, not explainers of their own, and
  near-copies of X would inflate the agreement.
  """
  rows = []
  for a, b in itertools.combinations(scored, 2):
    common = [n for n in scored[a]['explainers'] if n in scored[b]['explainers'] and explain.base_name(n) == n
              and (baselines or n not in explain.baseline_names())]
    pick = lambda e: [scored[e]['explainers'].index(n) for n in common]  # pylint: disable=cell-var-from-loop
    ia, ib = pick(a), pick(b)
    rows.append({'a': a, 'b': b, 'explainers': common,
                 **agreement.rank_agreement(scored[a]['estimate'][..., ia], scored[a]['boot'][..., ia, :],
                                            scored[b]['estimate'][..., ib], scored[b]['boot'][..., ib, :], layout)})
  for statistic in agreement.RANK_STATISTICS:
    for row, p_bh in zip(rows, stats.false_discovery_control([r[statistic]['p'] for r in rows]) if rows else []):
      row[statistic]['p_bh'] = float(p_bh)
  return rows


def rank_agreement_records(rows: list, baselines: bool) -> list:
  """rank_agreements' rows as RankAgreement records, one per statistic."""
  return [RankAgreement(row['a'], row['b'], statistic, baselines, tuple(row['explainers']), row[statistic]['value'],
                        tuple(row[statistic]['ci95']), row[statistic]['p'], row[statistic]['p_bh'])
          for row in rows for statistic in agreement.RANK_STATISTICS]


def concordance_interval(estimate: np.ndarray, boot: np.ndarray, layout: tuple) -> tuple:
  """Kendall's W of estimate [..., scores, explainers] and its two-level CI from boot [..., scores, explainers,
  resamples] (metrics.two_level_bootstrap's; layout its (n_seeds, n, design)): (w [...], low [...], high [...]),
  the interval clipped to [0, 1].

  W of estimated means is biased low when explainers lie within noise of each other (noise scrambles their ranks),
  and the bootstrap cannot see that bias: on simulated data the interval covers the population W about 95% of the
  time when the explainers' means are a standard error or more apart, and under 80% at half of one
  (tests/test_meta.py).
  """
  w = concordance.kendalls_w(estimate)
  low, high = np.clip(metrics.two_level_interval(w, concordance.kendalls_w(np.moveaxis(boot, -1, -3)), *layout,
                                                 LEVEL), 0, 1)
  return w, low, high


def kendalls_w(scored: dict, layout: tuple) -> Concordance | None:
  """Kendall's W of every score over the explainers all of them rank (no |X| variants), with the two-level CI
  of its values on the shared resamples (concordance_interval); None with fewer than two scores or explainers."""
  common = [n for n in next(iter(scored.values()))['explainers'] if explain.base_name(n) == n
            and all(n in s['explainers'] for s in scored.values())] if scored else []
  if len(scored) < 2 or len(common) < 2:
    return None
  index = {score: [s['explainers'].index(n) for n in common] for score, s in scored.items()}
  estimate = np.stack([s['estimate'][index[score]] for score, s in scored.items()])  # [scores, explainers]
  boot = np.stack([s['boot'][index[score]] for score, s in scored.items()])  # [scores, explainers, resamples]
  w, low, high = concordance_interval(estimate, boot, layout)
  return Concordance(tuple(scored), tuple(common), float(w), (float(low), float(high)))


def per_example_units(runs: Sequence[runs_lib.EvaluatedRun], parts: Sequence[parts_lib.RunPart],
                      names: Sequence[str]) -> dict:
  """{(score a, score b, map): (a [runs, n], b [runs, n], length [runs, n], margin [runs, n])} for every two
  oriented scores with per-example arrays and every map (no |X| variants) that every run measured both of, on the
  n evaluated examples where all of them did (each run's part: its evaluated examples, their lengths and the
  classifier's top-1 minus top-2 probability): what per_example resamples."""
  scores = {n: s for n, s in evaluations.SCORES.items() if s.per_example is not None}
  columns = {}
  for run, part in zip(runs, parts):
    for (a, sa), (b, sb) in itertools.combinations(scores.items(), 2):
      for name in (n for n in names if explain.base_name(n) == n):
        if run.has(sa.section, name) and run.has(sb.section, name):
          columns.setdefault((a, b, name), []).append(
              (*(s.orientation * run.units(s, name)[0][part.subset] for s in (sa, sb)), part.lengths, part.margins))
  units = {}
  for key, per_run in columns.items():
    stacked = tuple(np.stack(column).astype(np.float64) for column in zip(*per_run))  # each [runs, n]
    keep = np.isfinite(stacked[0]).all(0) & np.isfinite(stacked[1]).all(0)
    if len(per_run) == len(runs) and keep.sum() >= 4:
      units[key] = tuple(column[:, keep] for column in stacked)
  return units


def per_example(units: dict, design: str, n_resamples: int = 1000, seed: int = 0) -> list:
  """PerExample rows of per_example_units' arrays: each Spearman rho (agreement.spearman_along_last_axis) per run,
  averaged over the runs, with the two-level CI of the design's draws (one set of draws per number of examples,
  shared by the rows), p of "rho is 0", Benjamini–Hochberg over every plain and partial rho of the table."""
  draws = {}
  correlations = []  # per row: ((value, (low, high), p) plain, the same partial)
  for x, y, length, margin in units.values():
    n_runs, n = x.shape
    if n not in draws:
      draws[n] = metrics.two_level_draws(n_runs, n, design, n_resamples, seed)
    row = []
    for arrays in ((x, y), (x, y, length, margin)):
      estimate, boot = metrics.two_level_bootstrap(arrays, agreement.spearman_along_last_axis, draws[n])
      low, high = np.clip(draws[n].interval(estimate, boot, LEVEL), -1, 1)
      row.append((float(estimate), (float(low), float(high)), float(metrics.two_level_p_value(
          estimate, boot, *draws[n].layout))))
    correlations.append(row)
  p = [c[2] for row in correlations for c in row]
  p_bh = iter(stats.false_discovery_control(np.nan_to_num(p, nan=1.)) if p else [])
  return [PerExample(a, b, name, x.shape[1], *(Correlation(*c, float(next(p_bh))) for c in row))
          for ((a, b, name), (x, *_)), row in zip(units.items(), correlations)]


def aopc_bounds(model: contract.Model, params: contract.Params, ids: np.ndarray, mode: str,
                budget: int = NAOPC_BUDGET, label: str = 'AOPC bounds') -> naopc.Bounds:
  """naopc.aopc_bounds of ids <int>[n, seq] (progress as `label`), shortest documents first, as many at a time as
  keep examples × width² within `budget`: the beam search holds [examples, 4, beam, width] candidate sets of width
  tokens each in one program (8 AG News documents padded to 128 tokens asked for 30 GB)."""
  lengths = (ids != PAD_ID).sum(-1)
  order = np.argsort(lengths, kind='stable')
  widths = naopc.search_width(lengths[order])  # nondecreasing
  progress, parts, start = io.Progress(label, len(ids)), [], 0
  while start < len(ids):  # the longest prefix whose count × its last width² keeps to the budget, at least one
    stop = start + max(1, int(np.sum(np.arange(1, len(ids) - start + 1) * widths[start:] ** 2 <= budget)))
    parts.append(naopc.aopc_bounds(model, params, ids[order[start:stop]], mode=mode))
    progress.update(stop - start)
    start = stop
  unsorted = np.argsort(order)
  return naopc.Bounds(*(np.concatenate([getattr(b, f.name) for b in parts])[unsorted]
                        for f in dataclasses.fields(naopc.Bounds)))


def stored_bounds(work: workdir_lib.Workdir, make: Callable[[], naopc.Bounds]) -> naopc.Bounds:
  """aopc_bounds' record, made once and stored in `work` (stored_arrays; a search per example: minutes)."""
  return naopc.Bounds(**stored_arrays(os.path.join(work.root, 'aopc_bounds.npz'),
                                      lambda: dataclasses.asdict(make())))


def searched_bounds(run: runs_lib.Run, model: contract.Model, params: contract.Params, rows: np.ndarray,
                    folder: str) -> naopc.Bounds:
  """The AOPC bounds of the run's evaluated test examples at `rows` (aopc_bounds; stored in `folder`: a resumed
  call reads them back)."""
  _, subset, ids = test_part(run)
  mode = deletion.options_of(run.config)['mode']
  work = workdir_lib.Workdir(os.path.join(folder, options_folder(mode, 'aopc_bounds', subset[rows].tolist())))
  return stored_bounds(work, lambda: aopc_bounds(model, params, ids[rows], mode,
                                                 label=f'AOPC bounds ({os.path.basename(run.work.root)})'))


def naopc_rankings(runs: Sequence[runs_lib.EvaluatedRun], searched: Sequence[tuple[np.ndarray, naopc.Bounds]],
                   names: Sequence[str]) -> list[NaopcRanking]:
  """NaopcRanking of both ERASER kinds: each run's AOPC bounds (searched: per run, the test examples searched
  <int>[m] and their bounds), every explainer's stored AOPC on the same examples normalised by them, the means over
  runs ranked."""
  means = {}  # (kind, explainer) -> [(mean AOPC, mean NAOPC) per run]
  for run, (subset, bounds) in zip(runs, searched):
    for name in (n for n in names if explain.base_name(n) == n and run.has('eraser', n)):
      saved = run.saved('eraser', name)
      kept = np.isin(saved['indices'], subset)
      position = np.searchsorted(subset, saved['indices'][kept])
      for kind in naopc.KINDS:
        aopc = np.asarray(saved[f'aopc_{kind}'], np.float64)[kept]
        normal = naopc.normalise(aopc, getattr(bounds, f'{kind}_lower')[position],
                                 getattr(bounds, f'{kind}_upper')[position])
        means.setdefault((kind, name), []).append((aopc.mean(), np.nanmean(normal)))
  rankings = []
  for kind in naopc.KINDS:
    explainers = [n for (k, n) in means if k == kind]
    if len(explainers) < 2:
      continue
    orientation = evaluations.SCORES[f'eraser_{kind}'].orientation
    aopc, normal = (np.array([np.mean([m[i] for m in means[kind, n]]) for n in explainers]) for i in (0, 1))
    order = lambda values: tuple((explainers[i], float(values[i]))
                                 for i in np.argsort(-orientation * values, kind='stable'))
    rankings.append(NaopcRanking(kind, order(aopc), order(normal),
                                 agreement.kendall_tau(orientation * aopc, orientation * normal)))
  return rankings


def run_sections(run: runs_lib.EvaluatedRun, options: parts_lib.PartOptions) -> tuple[tuple, tuple]:
  """(the evaluations diagnosed on the run's own setting, those retrained on every map and copy) under `options`:
  by default every registered one the run evaluated every explainer with (those that train on the maps only with
  train_evaluations, retrained; every registered one of those where the run evaluated none)."""
  explainers = [n for n in run.config.explainers if n in explainers_of([run])]
  sections = options.sections if options.sections is not None else [
      e for e in plugins.EVALUATIONS if all(run.has(e, n) for n in explainers)]
  training = [s for s in sections if plugins.get(plugins.Evaluation, s).trains]
  if training and not options.train_evaluations:
    if options.sections is None:  # the default leaves them out
      return tuple(s for s in sections if s not in training), ()
    raise FaithjaxError(f'{", ".join(training)} train a model on the maps of the train and valid splits; ask for '
                        'them with train_evaluations (--train_evaluations), which retrains one per map and copy')
  if options.train_evaluations:
    training = training or [e for e, record in plugins.EVALUATIONS.items() if record.trains]
  return tuple(s for s in sections if s not in training), tuple(training)


def measure_part(run: runs_lib.Run, options: parts_lib.PartOptions, out_root: str) -> parts_lib.RunPart:
  """The run's part of the meta-evaluation under `options` (parts.RunPart: all that needs its classifier and
  maps), its pieces stored in run_folder(out_root, run) as they are made (a killed call resumes) and the part
  itself last (a later call with the same options reads it back)."""
  folder = run_folder(out_root, run)
  path = os.path.join(folder, options_folder(dataclasses.asdict(options)) + '.npz')
  if os.path.exists(path):
    return parts_lib.read(path)
  sections, training = run_sections(run, options)
  diagnosed = diagnosed_explainers([n for n in run.config.explainers if n in explainers_of([run])])
  model, params = run.classifier()
  part, subset, _ = test_part(run)
  probs = np.sort(train.predict_split(model, params, part, run.config.eval_batch_size), -1)
  key = jax.random.key(options.seed)
  rows = diagnosis_rows(len(part), options.examples, options.seed)
  preferences, costs = measured_preferences(  # runs of other seeds get noise of their own
      run, model, params, diagnosed, sections, folder, jax.random.fold_in(key, run.config.seed), options.levels,
      options.depth, rows) if sections else ({}, {})
  retrained = retrained_evaluations(run, model, params, diagnosed, training, folder, jax.random.fold_in(key, 1),
                                    options.weak_epochs) if training else {}
  bounds = searched_bounds(run, model, params, searched_rows(
      part.lengths, options.naopc_examples, options.naopc_max_tokens, options.seed), folder) \
      if options.naopc_bounds else None
  measured = parts_lib.RunPart(
      options, diagnosed, sections, training, retrained_epochs(run, options.weak_epochs) if training else None,
      subset, part.lengths, probs[:, -1] - probs[:, -2], preferences, costs, retrained, bounds,
      planted_precision(run, run.config.explainers))
  parts_lib.write(measured, path)
  return measured


def archived_part(run: runs_lib.ArchivedRun, options: parts_lib.PartOptions | None = None) -> parts_lib.RunPart:
  """An archived run's part (beside its archive: runs.part_path), checked to be measured under `options`."""
  part = parts_lib.read(runs_lib.part_path(run.path))
  if options is not None and part.options != options:
    raise FaithjaxError(f'{runs_lib.part_path(run.path)} was measured under other options than this '
                        f'meta-evaluation\'s ({"; ".join(part.options.differences(options))}); pass the same flags')
  return part


def part_of(run: runs_lib.EvaluatedRun, options: parts_lib.PartOptions, out_root: str) -> parts_lib.RunPart:
  """measure_part of a workdir, archived_part of an archive."""
  return measure_part(run, options, out_root) if isinstance(run, runs_lib.Run) else archived_part(run, options)


def evaluated_lengths(run: runs_lib.EvaluatedRun) -> np.ndarray:
  """The tokens of the run's evaluated test examples: <int>[n]."""
  return test_part(run)[0].lengths if isinstance(run, runs_lib.Run) else archived_part(run).lengths


def in_every(records: Sequence[tuple]) -> tuple:
  """The items of the first of `records` that every one holds, in its order."""
  return tuple(item for item in records[0] if all(item in r for r in records))


def part_options(sections: Sequence[str] | None, levels: Sequence[float], depth: int, naopc_bounds: bool,
                 seed: int, train_evaluations: bool, weak_epochs: int | None, examples: int, naopc_examples: int,
                 naopc_max_tokens: int) -> parts_lib.PartOptions:
  """meta_evaluate's options as a part records them."""
  return parts_lib.PartOptions(None if sections is None else tuple(sections), train_evaluations,
                               tuple(float(level) for level in levels), depth, seed, examples, naopc_bounds,
                               naopc_examples, naopc_max_tokens, weak_epochs)


def checked_runs(runs: Sequence[runs_lib.EvaluatedRun], options: parts_lib.PartOptions) -> int:
  """The runs' number of test examples, after checking they are of one corpus and data split and that `options`
  ask for nothing a run cannot give (one line each)."""
  if not runs:
    raise FaithjaxError('the meta-evaluation needs at least one evaluated run')
  sizes = {len(r.labels) for r in runs}
  if len(sizes) != 1 or len({r.config.corpus for r in runs}) != 1:
    raise FaithjaxError('the runs hold different corpora or test splits; pass runs of one corpus and data split')
  for run in runs[1:]:  # seeds of one setting: a difference would be read as the seeds' spread
    if differences := runs[0].config.differences(run.config):
      raise FaithjaxError(f'the runs differ in more than their seed ({"; ".join(differences)}); pass seeds or '
                          'checkpoints of one setting')
  if options.sections is not None:
    run_sections(runs[0], options)  # an evaluation that trains, not asked to retrain
  if options.naopc_bounds:  # a limit below every document
    searched_rows(evaluated_lengths(runs[0]), options.naopc_examples, options.naopc_max_tokens, options.seed)
  return sizes.pop()


def measure_parts(runs: Sequence[runs_lib.Run], out: str, *, sections: Sequence[str] | None = None,
                  levels: Sequence[float] = diagnosticity.NOISE_LEVELS, depth: int = DEPTH, naopc_bounds: bool = True,
                  seed: int = 0, train_evaluations: bool = False, weak_epochs: int | None = None, examples: int = 0,
                  naopc_examples: int = 0, naopc_max_tokens: int = NAOPC_MAX_TOKENS) -> list[parts_lib.RunPart]:
  """Each run's part (measure_part) under meta_evaluate's options, without the statistics over runs: what a run
  archived for a later meta-evaluation keeps (runs.write_archive, parts.write at runs.part_path)."""
  options = part_options(sections, levels, depth, naopc_bounds, seed, train_evaluations, weak_epochs, examples,
                         naopc_examples, naopc_max_tokens)
  checked_runs(runs, options)
  return [measure_part(run, options, out) for run in runs]


def meta_evaluate(runs: Sequence[runs_lib.EvaluatedRun], out: str, *, sections: Sequence[str] | None = None,
                  levels: Sequence[float] = diagnosticity.NOISE_LEVELS, depth: int = DEPTH,
                  naopc_bounds: bool = True, n_resamples: int = 1000, seed: int = 0, train_evaluations: bool = False,
                  weak_epochs: int | None = None, examples: int = 0, naopc_examples: int = 0,
                  naopc_max_tokens: int = NAOPC_MAX_TOKENS) -> MetaEvaluation:
  """The meta-evaluation of evaluated runs of one corpus (the same data split): workdirs (faithjax.runs.Run each),
  whose parts it measures, or archives (faithjax.runs.ArchivedRun) with their parts measured under these options.

  out: a folder for the runs' parts and the degraded copies' evaluations (a killed call resumes); sections: the
  evaluations to diagnose (default every registered one the runs evaluated that does not train a model on the
  maps: those retrain per degraded copy); levels: the noise levels; depth: how many top modules the cascading
  randomisation re-initialises; naopc_bounds: measure the AOPC bounds (a search per example);
  train_evaluations: also diagnose every registered evaluation that trains on the maps, on the reduced setting of
  retrained_preferences (weak_epochs: its weak learners' epochs, default the runs'); examples: score the degraded
  copies (of diagnosed_explainers' maps) on a seeded sample of this many evaluated test examples (0: all);
  naopc_examples: the same for the AOPC bounds (a search per example) and the AOPC they normalise, drawn from the
  evaluated examples of at most naopc_max_tokens tokens (0: any length; the search's time grows with the cube of a
  document's length, its memory with the square).
  """
  options = part_options(sections, levels, depth, naopc_bounds, seed, train_evaluations, weak_epochs, examples,
                         naopc_examples, naopc_max_tokens)
  n_test = checked_runs(runs, options)
  names = explainers_of(runs)
  lengths = evaluated_lengths(runs[0])
  evaluated = len(lengths)
  rows = diagnosis_rows(evaluated, examples, seed)
  naopc_rows = searched_rows(lengths, naopc_examples, naopc_max_tokens, seed) if naopc_bounds else None
  parts = [part_of(run, options, out) for run in runs]
  diagnosed = in_every([p.diagnosed for p in parts])  # what every run measured
  wins, costs = preference_table(parts, diagnosed, in_every([p.sections for p in parts]))
  differences, settings = [], {}
  training = in_every([p.training for p in parts])
  if training:
    epochs = {p.weak_epochs for p in parts}
    if len(epochs) > 1:
      raise FaithjaxError(f'the runs\' weak learners were retrained with {sorted(epochs)} epochs; pass '
                          '--weak_epochs (weak_epochs=) to retrain every run\'s alike')
    retrained, differences, settings = retrained_preferences(runs, [p.retrained for p in parts], diagnosed,
                                                             training, epochs.pop())
    wins.update(retrained)
  draws = metrics.two_level_draws(len(runs), n_test, runs_lib.design_of(runs), n_resamples, seed)
  scored = score_evaluations(runs, names, draws)
  truth = truth_scored([p.truth for p in parts], names, draws)
  searched = [(p.subset[searched_rows(p.lengths, naopc_examples, naopc_max_tokens, seed)], p.bounds) for p in parts] \
      if naopc_bounds else []
  return MetaEvaluation(
      corpus=runs[0].config.corpus, seeds=tuple(r.config.seed for r in runs), design=draws.design,
      examples=draws.n, explainers=tuple(names), diagnoses=tuple(diagnoses(wins, n_resamples, seed, settings)),
      costs=tuple(costs), pairs=tuple(pairs(scored, draws.layout)),
      agreements=tuple(rank_agreement_records(rank_agreements(scored | truth, draws.layout), True)
                       + rank_agreement_records(rank_agreements(scored | truth, draws.layout, False), False)),
      concordance=kendalls_w(scored, draws.layout),
      per_example=tuple(per_example(per_example_units(runs, parts, names), draws.design, n_resamples, seed)),
      naopc=tuple(naopc_rankings(runs, searched, names)) if naopc_bounds else (), differences=tuple(differences),
      diagnosed=diagnosed, diagnosis_examples=len(rows) if len(rows) < evaluated else 0,
      naopc_examples=len(naopc_rows) if naopc_bounds and len(naopc_rows) < evaluated else 0,
      naopc_max_tokens=naopc_max_tokens if naopc_bounds and 0 < naopc_max_tokens < lengths.max() else 0,
      settings=tuple(map(run_setting, runs)))


@dataclasses.dataclass(frozen=True)
class Verdict:
  """One score's row of the verdict table: what a user reads first."""
  score: str
  diagnosticity: float | None  # the mean share over the degradations; None: not diagnosed
  blind_to: tuple  # degradations it does not prefer the map over (Holm-corrected p >= 1 - LEVEL)
  seconds_per_example: float | None
  forward_equivalents: float | None
  mean_tau: float | None  # mean Kendall tau-b with the other scores, without the baselines
  separated: int  # explainer pairs it tells apart (Benjamini–Hochberg over its pairs)
  pairs: int
  naopc_changes_ranking: bool | None  # ERASER scores only
  setting: str = ''  # the reduced setting it was diagnosed on (Diagnosis.setting), '' for the runs' own scores
  truth_tau: RankAgreement | None = None  # Kendall tau-b with the ground-truth ranking (truth_scored), if any

  @property
  def verdict(self) -> str:
    if self.diagnosticity is None:
      return 'not diagnosed'
    said = 'diagnostic' if not self.blind_to else 'blind to ' + ', '.join(self.blind_to)
    return said + (' (retrained, reduced setting)' if self.setting else '')


def verdicts(meta: MetaEvaluation) -> list:
  """A Verdict per score that was diagnosed or ranked the explainers."""
  names = list(dict.fromkeys([d.score for d in meta.diagnoses] + [p.score for p in meta.pairs]))
  costs = {c.evaluation: c for c in meta.costs}
  naopc_changes = {f'eraser_{r.kind}': r.changed for r in meta.naopc}
  rows = []
  for score in names:
    diagnosed = [d for d in meta.diagnoses if d.score == score]
    taus = [a.value for a in meta.agreements if score in (a.a, a.b) and GROUND_TRUTH not in (a.a, a.b)
            and a.statistic == 'kendall_tau' and not a.baselines]
    truth = [a for a in meta.agreements if {score, GROUND_TRUTH} == {a.a, a.b} and a.statistic == 'kendall_tau'
             and not a.baselines]
    own = [p for p in meta.pairs if p.score == score]
    cost = costs.get(evaluations.SCORES[score].section)
    rows.append(Verdict(
        score, float(np.mean([d.share for d in diagnosed])) if diagnosed else None,
        tuple(d.degradation for d in diagnosed if d.p_holm >= 1 - LEVEL),
        cost and cost.seconds_per_example, cost and cost.forward_equivalents,
        float(np.mean(taus)) if taus else None, sum(p.verdict != 'tie' for p in own), len(own),
        naopc_changes.get(score), next((d.setting for d in diagnosed if d.setting), ''),
        truth[0] if truth else None))
  return rows
