"""The sign control (issue 15, item 2): which evaluation rewards a signed map, and by how much?

Every explainer's map X and |X| go through every evaluation of the registry:
|X| is stored as the maps of 'X.abs' from X's own maps
(pipeline.store_absolute_maps: the `.abs` transform of X's stored maps, so the
map explaining with 'X.abs' gives), and the sections that read the weak learner's normalisation
(NORM_SECTIONS) run once per norm (weak_learner.NORMS), the others once. Where
|X| is the same input as X (X has no negative value; or under L1, which
normalises |X| anyway) the row is X's result: 0 by construction, not a test.
Each measured row has an oriented paired-bootstrap difference
(Score.difference) and its p, Benjamini–Hochberg-corrected over the table.
Rendered by faithjax/meta/render_controls.py; experiments/sign_control.py drives it.
"""

import dataclasses
import os
from typing import Sequence

from scipy import stats

from faithjax import config as config_lib
from faithjax import io
from faithjax import pipeline
from faithjax import plugins
from faithjax import provenance
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import weak_learner
from faithjax.models import contract

LEVEL = 0.95
NORM_SECTIONS = ('weak_learner', 'shuffle')  # the sections whose input the weak learner's normalisation changes


@dataclasses.dataclass(frozen=True)
class SignContrast:
  """One score of one explainer, its signed map X against |X|: the oriented difference X - |X| (> 0: the
  evaluation finds the signed map more faithful), its paired bootstrap CI and p (difference 0), and that p
  Benjamini–Hochberg-corrected over the table's measured rows."""
  score: str
  norm: str | None  # the weak learner's normalisation, for the scores of NORM_SECTIONS; None for the others
  explainer: str
  signed: float
  absolute: float
  difference: float
  ci95: tuple
  examples: int
  measured: bool  # False: |X| is X's input, the row X's own result (0 by construction; no p)
  p: float | None = None
  p_bh: float | None = None  # None also in a record measured before the correction (its verdict reads the CI)

  @property
  def label(self) -> str:
    return self.score if self.norm is None else f'{self.score} ({self.norm})'

  @property
  def verdict(self) -> str:
    if not self.measured:
      return 'same input'
    apart = self.p_bh < 1 - LEVEL if self.p_bh is not None else self.ci95[0] > 0 or self.ci95[1] < 0
    if not apart:
      return 'tie (BH p ≥ .05)' if self.p_bh is not None else 'tie (CI covers 0)'
    return 'rewards sign' if self.difference > 0 else 'rewards |·|'


@dataclasses.dataclass(frozen=True)
class SignControl:
  """The sign control of one run: how it was made, and a SignContrast per score, norm and explainer."""
  corpus: str
  preset: str
  seed: int
  workdir: str
  arguments: tuple  # the driver's command-line arguments
  settings: dict  # the config's departures from the preset's (fingerprint fields), the seed left out
  test_subset: int  # test examples deletion and ERASER read
  measured: str  # when (provenance.now())
  provenance: dict  # provenance.record()
  contrasts: tuple  # SignContrast


def absolute(name: str) -> str:
  """The map name of |X|."""
  return f'{name}.abs'


def evaluate_signs(config: config_lib.RunConfig, work: workdir_lib.Workdir, corpus: encode.EncodedCorpus,
                   model: contract.Model, params: contract.Params, signed: Sequence[str]) -> dict:
  """Every evaluation of X and (for `signed`, under L2) |X| for every explainer X of the config, per norm.

  Returns {norm: (evaluate summary, the names evaluated, the Workdir holding the results:
  <work>/sign_control/<norm>, so a killed call resumes)}.
  """
  maps_of = lambda name: io.load_npz(work.maps(name))
  evaluated = {}
  for norm in weak_learner.NORMS:
    out = workdir_lib.Workdir(work.path('sign_control', norm))
    # Under L1 the weak learner normalises |X| whatever the sign: the |·| maps are the same input, evaluated under
    # L2 only. Deletion and ERASER ignore the norm: measured once, in that pass (under the run's own norm, as
    # before, they had no |X| to compare with when it was --norm=l1).
    names = [*config.explainers, *(absolute(n) for n in signed if norm == 'l2')]
    sections = None if norm == 'l2' else NORM_SECTIONS
    summary = pipeline.evaluate_maps(dataclasses.replace(config, norm=norm), corpus, model, params, out, names,
                                     maps_of, sections)
    evaluated[norm] = (summary, names, out)
  return evaluated


def contrasts(explainers: Sequence[str], evaluated: dict) -> list:
  """SignContrast rows of evaluate_signs' results, per norm, score (registration order) and explainer; the
  measured rows' p corrected together (bh_corrected)."""
  rows = []
  for norm, (summary, names, out) in evaluated.items():
    for score, spec in evaluations.SCORES.items():
      if spec.section not in summary or not spec.resampled:
        continue
      for name in explainers:
        if not plugins.EVALUATIONS[spec.section].applies(name):
          continue
        other = absolute(name) if absolute(name) in names else name
        result = spec.difference(*([io.load_npz(out.evaluation(spec.section, n))] for n in (name, other)))
        measured = other != name
        rows.append(SignContrast(score, norm if spec.section in NORM_SECTIONS else None, name,
                                 spec.cell(summary, name)['mean'], spec.cell(summary, other)['mean'],
                                 result['difference'], tuple(result['ci95']), result['n'], measured,
                                 result['p'] if measured else None))
  return bh_corrected(rows)


def bh_corrected(rows: list) -> list:
  """The records `rows` (each with `p` and `p_bh` fields) with p_bh: the p of every row that has one corrected by
  Benjamini–Hochberg over all of them (scipy.stats.false_discovery_control)."""
  tested = [i for i, row in enumerate(rows) if row.p is not None]
  p_bh = stats.false_discovery_control([rows[i].p for i in tested]) if tested else []
  rows = list(rows)
  for i, value in zip(tested, p_bh):
    rows[i] = dataclasses.replace(rows[i], p_bh=float(value))
  return rows


def sign_control(config: config_lib.RunConfig, root: str, preset: str, arguments: Sequence[str] = ()) -> SignControl:
  """Runs the pipeline to its maps in `root` (resuming), stores |X|, evaluates both and measures the contrasts."""
  pipeline.run_pipeline(config, root, ('encode', 'train', 'explain'))
  work = workdir_lib.Workdir(os.path.abspath(root))
  corpus = pipeline.explained_corpus(config, work)
  model, params = pipeline.load_classifier(config, work, corpus)
  evaluated = evaluate_signs(config, work, corpus, model, params,
                             pipeline.store_absolute_maps(config, corpus, work, config.explainers))
  defaults = config_lib.make_config(config.corpus, preset=preset).fingerprint()
  return SignControl(
      corpus=config.corpus, preset=preset, seed=config.seed, workdir=root, arguments=tuple(arguments),
      settings={k: v for k, v in config.fingerprint().items() if v != defaults[k] and k != 'seed'},
      test_subset=next(iter(evaluated.values()))[0]['test_subset'], measured=provenance.now(),
      provenance=provenance.record(), contrasts=tuple(contrasts(config.explainers, evaluated)))


def load(saved: dict) -> SignControl:
  """The SignControl of its JSON (dataclasses.asdict), or of one written before the records (its 'rows': no p)."""
  if 'rows' in saved:
    saved = {**{k: v for k, v in saved.items() if k != 'rows'}, 'contrasts': [_legacy(row) for row in saved['rows']]}
  contrasts_ = tuple(SignContrast(**{**c, 'ci95': tuple(c['ci95'])}) for c in saved['contrasts'])
  return SignControl(**{**saved, 'arguments': tuple(saved['arguments']), 'contrasts': contrasts_})


def _legacy(row: list) -> dict:
  """[label, explainer, signed, |·|, difference, low, high, examples, status] as SignContrast's fields."""
  score, _, norm = row[0].partition(' (')
  return {'score': score, 'norm': norm.rstrip(')') or None, 'explainer': row[1], 'signed': row[2],
          'absolute': row[3], 'difference': row[4], 'ci95': (row[5], row[6]), 'examples': row[7],
          'measured': row[8] == 'measured'}
