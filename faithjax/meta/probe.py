"""The map-property probe (issue 15, item 3): what does each evaluation reward?

On the synthetic corpus the planted evidence tokens are the true rationale. Per
seed the classifier is trained (pipeline stages encode and train), the maps of
faithjax/faithfulness/probe_maps.py are built on every split (ground truth, its
sign flip, noise levels, top-k sparsified and random top-k, temperatures,
attention-like, truth's values at random places) and every evaluation of the
registry scores each of them and the uniform and random baselines
(pipeline.evaluate_maps, in <runs_dir>/seed<N>/probe; a killed run resumes).
CONTRASTS, pairs of maps that differ in one property, get the oriented
difference over the seeds (Score.difference: the crossed two-level bootstrap)
and its p, Benjamini–Hochberg-corrected over the table.
Rendered by faithjax/meta/render_controls.py; experiments/probe.py drives it.
"""

import dataclasses
import os
from typing import Sequence

from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import plugins
from faithjax import provenance
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import probe_maps
from faithjax.meta import sign_control

CORPUS = 'synthetic'  # the corpus whose rationale is known
LEVEL = sign_control.LEVEL


@dataclasses.dataclass(frozen=True)
class Contrast:
  """Two probe maps that differ in one property; a difference > 0 means the evaluation prefers a."""
  property: str
  a: str
  b: str


CONTRASTS = (
    Contrast('sign: truth vs truth flipped', 'truth', 'truth_flipped'),
    Contrast('location: truth vs its values at random places', 'truth', 'random_like_truth'),
    Contrast('noise: sigma 0.1 vs 4', 'noise_0.1', 'noise_4'),
    Contrast('sparsity: top-1 vs top-16 of the base', 'topk_1', 'topk_16'),
    Contrast('location at matched sparsity: top-4 vs random top-4', 'topk_4', 'random_topk_4'),
    Contrast('concentration: temperature 0.25 vs 4', 'temperature_0.25', 'temperature_4'),
    Contrast('attention form: softmax of the base vs the base', 'attention_like', probe_maps.BASE),
    Contrast('truth vs the random baseline', 'truth', 'random'),
)


@dataclasses.dataclass(frozen=True)
class Classifier:
  """One seed's classifier on the test split."""
  seed: int
  accuracy: float
  f1: float


@dataclasses.dataclass(frozen=True)
class MapScore:
  """One score of one map: its mean per seed."""
  score: str
  map: str
  means: tuple  # one per seed, in the probe's seed order


@dataclasses.dataclass(frozen=True)
class ProbeContrast:
  """One score of one Contrast over the seeds: the oriented difference a - b, its CI and p (difference 0), and
  that p Benjamini–Hochberg-corrected over the table."""
  score: str
  property: str
  a: str
  b: str
  difference: float
  ci95: tuple
  examples: int  # over all seeds
  p: float | None = None
  p_bh: float | None = None  # None in a record measured before the correction (read its CI)

  @property
  def separated(self) -> bool:
    """Whether the score tells a from b: BH p < 1 - LEVEL (an old record: its CI excludes 0)."""
    return self.p_bh < 1 - LEVEL if self.p_bh is not None else self.ci95[0] > 0 or self.ci95[1] < 0


@dataclasses.dataclass(frozen=True)
class Probe:
  """The probe over seeds: how it was made, the classifiers, every map's scores and the contrasts."""
  corpus: str
  preset: str
  seeds: tuple
  runs_dir: str
  measured: str  # when (provenance.now())
  provenance: dict  # provenance.record()
  classifiers: tuple  # Classifier
  scores: tuple  # MapScore
  contrasts: tuple  # ProbeContrast


def map_names() -> tuple:
  """Every map the probe evaluates: the constructed ones, then the baselines."""
  return (*probe_maps.NAMES, *explain.baseline_names())


def evaluate_seed(seed: int, preset: str, runs_dir: str) -> tuple:
  """Trains the seed's classifier and evaluates every probe map: (Classifier, evaluate summary, probe Workdir)."""
  config = config_lib.make_config(CORPUS, preset=preset, seed=seed)
  root = os.path.join(runs_dir, f'seed{seed}')
  io.log(f'== seed {seed} -> {root}')
  test = pipeline.run_pipeline(config, root, ('encode', 'train'))['stages']['train']['test']
  work = workdir_lib.Workdir(os.path.abspath(root))
  corpus = encode.EncodedCorpus.load(work.corpus)
  model, params = pipeline.load_classifier(config, work, corpus)
  maps = probe_maps.split_maps(corpus, seed)
  out = workdir_lib.Workdir(work.path('probe'))
  summary = pipeline.evaluate_maps(config, corpus, model, params, out, list(map_names()), maps.get)
  return Classifier(seed, test['accuracy'], test['f1']), summary, out


def map_scores(summaries: Sequence[dict]) -> list:
  """A MapScore of every score and map that every seed's evaluate summary holds."""
  rows = []
  for score, spec in evaluations.SCORES.items():
    for name in map_names():
      cells = [spec.cell(summary, name) for summary in summaries]
      if all(cells):
        rows.append(MapScore(score, name, tuple(c['mean'] for c in cells)))
  return rows


def contrasts(outs: Sequence[workdir_lib.Workdir], scores: Sequence[str] | None = None,
              design: str = 'crossed') -> list:
  """A ProbeContrast of every score in `scores` (default every resampled one) and every Contrast whose maps it
  applies to, over the seeds' probe Workdirs (the same test examples: crossed), p corrected by
  Benjamini–Hochberg over the table."""
  rows = []
  for score, spec in evaluations.SCORES.items():
    if not spec.resampled or (scores is not None and score not in scores):
      continue
    for contrast in CONTRASTS:
      if not all(plugins.EVALUATIONS[spec.section].applies(n) for n in (contrast.a, contrast.b)):
        continue
      saved = [[io.load_npz(out.evaluation(spec.section, n)) for out in outs] for n in (contrast.a, contrast.b)]
      result = spec.difference(*saved, design=design)
      rows.append(ProbeContrast(score, contrast.property, contrast.a, contrast.b, result['difference'],
                                tuple(result['ci95']), result['n'], result['p']))
  return sign_control.bh_corrected(rows)


def probe(seeds: Sequence[int], preset: str, runs_dir: str) -> Probe:
  """The probe over `seeds`, one classifier and one draw of the random maps each."""
  runs = [evaluate_seed(seed, preset, runs_dir) for seed in seeds]
  return Probe(corpus=CORPUS, preset=preset, seeds=tuple(seeds), runs_dir=runs_dir, measured=provenance.now(),
               provenance=provenance.record(), classifiers=tuple(c for c, _, _ in runs),
               scores=tuple(map_scores([summary for _, summary, _ in runs])),
               contrasts=tuple(contrasts([out for _, _, out in runs])))


def load(saved: dict) -> Probe:
  """The Probe of its JSON (dataclasses.asdict), or of one written before the records (lists, no p)."""
  if 'classifier' in saved:  # before the records
    saved = {**{k: v for k, v in saved.items() if k != 'classifier'},
             'classifiers': [dict(zip(('seed', 'accuracy', 'f1'), row)) for row in saved['classifier']],
             'scores': [{'score': score, 'map': name, 'means': means}
                        for score, by_map in saved['scores'].items() for name, means in by_map.items()],
             'contrasts': [dict(zip(('score', 'property', 'a', 'b', 'difference'), row[:5]), ci95=row[5:7],
                                examples=row[7]) for row in saved['contrasts']]}
  return Probe(**{**saved, 'seeds': tuple(saved['seeds']),
                  'classifiers': tuple(Classifier(**c) for c in saved['classifiers']),
                  'scores': tuple(MapScore(**{**s, 'means': tuple(s['means'])}) for s in saved['scores']),
                  'contrasts': tuple(ProbeContrast(**{**c, 'ci95': tuple(c['ci95'])}) for c in saved['contrasts'])})
