"""How much the dataset changes an evaluation's verdict: variance components of its per-example score.

The design: within a corpus, every explainer is scored on the same test examples under every classifier seed
(explainer x seed x example, crossed); corpora have their own examples and seeds (both nested in corpus); the
explainers are the same on every corpus (crossed with corpus). Within each corpus the design is balanced, so
the ANOVA (expected mean squares) estimators of a three-way crossed random model are unbiased and closed-form
(a mixed model with crossed seed and example effects on ~150k rows would be iterative and slow, and gives the
same estimates on balanced data up to truncation at 0); across corpora, the explainer-by-corpus table of
explainer means is split into a main effect (a verdict that holds on every corpus: the variance of the fixed
explainer effects averaged over corpora, sum alpha_e^2 / (E - 1)) and an explainer x corpus interaction (the
dataset changing the verdict: corpus as a random factor), with each cell's noise (from seeds and examples)
taken out using the within-corpus mean squares. Components are "per row" variances on the chosen scale; ANOVA
estimates can be negative (a component that is 0 within noise) and are reported as they are.

Intervals: a bootstrap that redraws, within each corpus, the seeds (with replacement) and one draw of the test
examples shared by every seed and explainer (the design is crossed there), independently across corpora;
explainers and corpora are held fixed (four corpora are too few to resample), so the intervals are
conditional on these corpora. A resample is computed as frequency weights on the original arrays, so no
resampled array is ever built. A component's interval is normal, its estimate +- 1.96 bootstrap standard
errors: the percentile interval of a variance component is shifted by the resampling itself (a resample of 5
seeds holds 5 distinct ones only 4% of the time, so a seed-level mean square drops by about (S - 1) / S = .8);
the ratio interaction_share uses percentiles. On simulated data (tests/test_variance.py, the slow coverage test:
4 corpora x 4 maps x 5 seeds x 80 examples) the intervals of the parts that move a verdict cover at about 95%
(explainer, explainer x corpus, their share, explainer x seed); the seed part under-covers (about 85%: five seeds
resampled) and the example-level parts over-cover (conservative).
"""

import dataclasses
import itertools
from typing import Callable, Mapping

import numpy as np
from scipy import stats

COLUMNS = ('score', 'explainer', 'corpus', 'seed', 'example')
# Sums of squares of the balanced explainer (e) x seed (s) x example (i) design of one corpus.
TERMS = ('e', 's', 'i', 'es', 'ei', 'si', 'esi')
# Variance components, in report order: those that involve the explainer first (they move a verdict).
COMPONENTS = ('explainer', 'explainer x corpus', 'explainer x seed', 'explainer x example', 'residual',
              'seed', 'example', 'seed x example')
CHUNK = 128  # bootstrap resamples computed at once (memory: CHUNK x explainers x examples floats)


def _z(cube: np.ndarray) -> np.ndarray:
  return (cube - cube.mean()) / cube.std()


def _rank(cube: np.ndarray) -> np.ndarray:
  return stats.rankdata(cube, axis=0)


@dataclasses.dataclass(frozen=True)
class Scale:
  """How a corpus's [explainers, seeds, examples] scores are put on a scale shared by the corpora."""
  transform: Callable[[np.ndarray], np.ndarray]
  zero: tuple = ()  # components the scale makes 0 by construction: reported as 0, not estimated


# z: standardised over the corpus's rows (every within-corpus verdict unchanged: an increasing affine map per
# corpus; components are shares of a corpus's total variance); rank: explainers ranked within each (seed,
# example), so no part without the explainer remains (their ANOVA estimates would be artefacts of the
# unrestricted model's expected mean squares); raw: as given.
SCALES = {'z': Scale(_z), 'rank': Scale(_rank, ('seed', 'example', 'seed x example')), 'raw': Scale(np.asarray)}


@dataclasses.dataclass(frozen=True)
class Decomposition:
  """Variance components of one evaluation's score with their bootstrap 95% CIs.

  components / ci95: {COMPONENTS name: estimate / normal (low, high)}; interaction_share: explainer x corpus over
  (explainer + explainer x corpus), both clipped at 0; explainer_means: <float64>[corpora, explainers], each
  corpus's explainer means on the scale, centred; boot_means: <float64>[n_resamples, corpora, explainers], the same
  in each resample.
  """
  scale: str
  explainers: tuple
  corpora: tuple
  seeds: dict  # {corpus: number of seeds}
  examples: dict  # {corpus: number of examples}
  components: dict
  ci95: dict
  interaction_share: float
  interaction_share_ci95: tuple
  explainer_means: np.ndarray
  boot_means: np.ndarray
  n_resamples: int


def cubes(table: Mapping[str, np.ndarray]) -> tuple:
  """A long table turned into one balanced array per corpus.

  table: {column: [n_rows]} with COLUMNS (score float; the others any sortable labels), one row per
  (explainer, corpus, seed, example). Returns (explainers, corpora, [<float64>[explainers, seeds, examples] per
  corpus]); raises ValueError unless every corpus has every explainer on every (seed, example) exactly once.
  """
  missing = set(COLUMNS) - set(table)
  if missing:
    raise ValueError(f'the table lacks columns {sorted(missing)}')
  explainers, explainer_of = np.unique(table['explainer'], return_inverse=True)
  corpora, corpus_of = np.unique(table['corpus'], return_inverse=True)
  out = []
  for c, corpus in enumerate(corpora):
    rows = corpus_of == c
    seeds, seed_of = np.unique(table['seed'][rows], return_inverse=True)
    examples, example_of = np.unique(table['example'][rows], return_inverse=True)
    shape = (len(explainers), len(seeds), len(examples))
    flat = np.ravel_multi_index((explainer_of[rows], seed_of, example_of), shape)
    if len(flat) != np.prod(shape) or len(np.unique(flat)) != len(flat):
      raise ValueError(f'corpus {corpus!r} is not balanced: {rows.sum()} rows for {len(explainers)} explainers x '
                       f'{len(seeds)} seeds x {len(examples)} examples, each needed once')
    cube = np.empty(shape)
    cube.flat[flat] = np.asarray(table['score'], np.float64)[rows]
    out.append(cube)
  return tuple(explainers.tolist()), tuple(corpora.tolist()), out


def sums_of_squares(cube: np.ndarray, seed_counts: np.ndarray, example_counts: np.ndarray) -> dict:
  """ANOVA sums of squares of a balanced explainer x seed x example array, for a batch of bootstrap resamples.

  cube: [E, S, I]; seed_counts: [B, S] and example_counts: [B, I], how often each seed / example is drawn (rows
  of ones: the data as they are). Returns {TERMS name: [B]} and 'explainer_means' [B, E], each as computed on the
  resampled array (one example draw shared by all seeds and explainers), without building it.
  """
  n_e, n_s, n_i = cube.shape
  a, b = np.asarray(seed_counts, np.float64), np.asarray(example_counts, np.float64)
  m_si = cube.mean(0)  # [S, I]
  grand = np.einsum('bs,si,bi->b', a, m_si, b) / (n_s * n_i)
  m_e = np.einsum('bs,esi,bi->be', a, cube, b) / (n_s * n_i)
  m_s = b @ m_si.T / n_i  # [B, S]
  m_i = a @ m_si / n_s  # [B, I]
  m_es = np.einsum('esi,bi->bes', cube, b) / n_i
  m_ei = np.einsum('bs,esi->bei', a, cube) / n_s
  square = lambda x: np.square(x - grand.reshape(-1, *[1] * (x.ndim - 1)))
  ss = {'e': n_s * n_i * square(m_e).sum(1),
        's': n_e * n_i * (a * square(m_s)).sum(1),
        'i': n_e * n_s * (b * square(m_i)).sum(1)}
  ss['es'] = n_i * np.einsum('bs,bes->b', a, square(m_es)) - ss['e'] - ss['s']
  ss['ei'] = n_s * np.einsum('bi,bei->b', b, square(m_ei)) - ss['e'] - ss['i']
  ss['si'] = n_e * (np.einsum('bs,si,bi->b', a, m_si ** 2, b) - n_s * n_i * grand ** 2) - ss['s'] - ss['i']
  total = np.einsum('bs,si,bi->b', a, np.square(cube).sum(0), b) - n_e * n_s * n_i * grand ** 2
  ss['esi'] = total - sum(ss[t] for t in TERMS[:-1])
  return {**ss, 'explainer_means': m_e}


def degrees_of_freedom(n_e: int, n_s: int, n_i: int) -> dict:
  """{TERMS name: df} of the balanced three-way crossed design."""
  levels = {'e': n_e, 's': n_s, 'i': n_i}
  return {t: int(np.prod([levels[f] - 1 for f in t])) for t in TERMS}


def corpus_components(ss: dict, shape: tuple) -> dict:
  """Expected-mean-squares estimates within one corpus (all effects random, unrestricted model).

  ss: sums_of_squares' dict ([B] each); shape: (E, S, I). Returns {'explainer x seed', 'explainer x example',
  'residual', 'seed', 'example', 'seed x example', 'noise': [B]}: 'noise' is what seeds and examples add, in
  expectation, to the variance over explainers of the corpus's explainer means.
  """
  n_e, n_s, n_i = shape
  ms = {t: ss[t] / df for t, df in degrees_of_freedom(*shape).items()}
  return {'explainer x seed': (ms['es'] - ms['esi']) / n_i,
          'explainer x example': (ms['ei'] - ms['esi']) / n_s,
          'residual': ms['esi'],
          'seed': (ms['s'] - ms['es'] - ms['si'] + ms['esi']) / (n_e * n_i),
          'example': (ms['i'] - ms['ei'] - ms['si'] + ms['esi']) / (n_e * n_s),
          'seed x example': (ms['si'] - ms['esi']) / n_e,
          'noise': (ms['es'] + ms['ei'] - ms['esi']) / (n_s * n_i)}


def pooled_components(explainer_means: np.ndarray, within: list) -> dict:
  """Every COMPONENTS entry from the corpora's centred explainer means and within-corpus components.

  explainer_means: [B, C, E]; within: corpus_components' dict per corpus. With D the centred means, Dbar their
  mean over corpora, and v the corpora's mean noise, the explainer x corpus mean square
  M = sum (D - Dbar)^2 / ((E - 1)(C - 1)) estimates sigma2_EC + v, and sum Dbar^2 / (E - 1) estimates
  theta_E + (sigma2_EC + v) / C; within-corpus components are averaged over corpora (each corpus weighs the same,
  as in Dbar).
  """
  n_c, n_e = explainer_means.shape[1:]
  centred = explainer_means - explainer_means.mean(-1, keepdims=True)
  overall = centred.mean(1)  # [B, E]
  interaction_ms = np.square(centred - overall[:, None]).sum((1, 2)) / ((n_e - 1) * (n_c - 1))
  mean_of = lambda name: np.mean([w[name] for w in within], 0)
  return {'explainer': np.square(overall).sum(1) / (n_e - 1) - interaction_ms / n_c,
          'explainer x corpus': interaction_ms - mean_of('noise'),
          **{name: mean_of(name) for name in COMPONENTS[2:]}}


def interaction_share(components: dict) -> np.ndarray:
  """explainer x corpus / (explainer + explainer x corpus), each clipped at 0: [B] (NaN where both are 0)."""
  main, cross = (np.clip(components[k], 0, None) for k in COMPONENTS[:2])
  with np.errstate(invalid='ignore', divide='ignore'):
    return cross / (main + cross)


def rankings_compared(decomposition: Decomposition, level: float = 0.95) -> dict:
  """Which explainer pairs each corpus orders, and the pairs whose order flips between corpora.

  From the decomposition's explainer means (higher = more faithful) and their resamples. Each (pair, corpus)
  difference is tested with a two-sided normal p-value from its bootstrap standard error (a difference of means
  over hundreds to thousands of examples; unlike a count of draws across 0, it resolves the small p-values Holm
  needs over pairs x corpora) and the whole family Holm-corrected (statsmodels); a pair not rejected on a corpus
  is a tie there. A flip: a pair ordered one way on one corpus and the other way on another. Returns {'pairs':
  [{'pair', 'order': {corpus: 1 / -1 / 0}}], 'flips', 'same_everywhere', 'n_pairs', 'correction'}.
  """
  from statsmodels.stats import multitest  # analysis only: not needed to train or evaluate (absent on the GPU image)
  means, boot = decomposition.explainer_means, decomposition.boot_means
  explainers, corpora = decomposition.explainers, decomposition.corpora
  pairs = list(itertools.combinations(range(len(explainers)), 2))
  first, second = (np.array(side) for side in zip(*pairs))
  diff, diff_boot = means[:, first] - means[:, second], boot[..., first] - boot[..., second]  # [C, P], [B, C, P]
  with np.errstate(divide='ignore', invalid='ignore'):
    p = np.where(diff == 0, 1., 2 * stats.norm.sf(np.abs(diff) / diff_boot.std(0, ddof=1)))
  rejected = multitest.multipletests(p.ravel(), alpha=1 - level, method='holm')[0].reshape(p.shape)
  order = np.where(rejected, np.sign(diff), 0).astype(int)  # [C, P]
  records = [{'pair': (explainers[j], explainers[k]), 'order': dict(zip(corpora, order[:, n].tolist()))}
             for n, (j, k) in enumerate(pairs)]
  flips = [r['pair'] for r, col in zip(records, order.T) if col.max() == 1 and col.min() == -1]
  same = [r['pair'] for r, col in zip(records, order.T) if abs(col.sum()) == len(corpora)]
  return {'pairs': records, 'flips': flips, 'same_everywhere': same, 'n_pairs': len(pairs),
          'correction': f'Holm over {order.size} tests (pairs x corpora), normal p-values from bootstrap SEs'}


def decompose(table: Mapping[str, np.ndarray], scale: str = 'z', n_resamples: int = 2000,
              seed: int = 0) -> Decomposition:
  """Variance components of `score` (cubes' long table) on `scale` (a SCALES name), with bootstrap 95% CIs.

  The bootstrap redraws seeds within corpus and one draw of examples within corpus shared by all seeds and
  explainers (crossed), n_resamples times; explainers and corpora are fixed.
  """
  explainers, corpora, raw = cubes(table)
  if len(explainers) < 2 or len(corpora) < 2:
    raise ValueError(f'need >= 2 explainers and >= 2 corpora; got {len(explainers)} and {len(corpora)}')
  scaled = [SCALES[scale].transform(cube) for cube in raw]
  rng = np.random.default_rng(seed)

  def estimate(counts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[dict, np.ndarray]:
    """(pooled_components {name: [B]}, explainer means [B, C, E]) of per-corpus (seed [B, S], example [B, I]) counts."""
    per_corpus = [sums_of_squares(cube, a, b) for cube, (a, b) in zip(scaled, counts)]
    means = np.stack([ss['explainer_means'] for ss in per_corpus], 1)
    within = [corpus_components(ss, cube.shape) for ss, cube in zip(per_corpus, scaled)]
    return pooled_components(means, within), means

  def drawn(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """n resamples' counts per corpus: (seeds drawn [n, S], examples drawn [n, I])."""
    return [(rng.multinomial(cube.shape[1], np.full(cube.shape[1], 1 / cube.shape[1]), n),
             rng.multinomial(cube.shape[2], np.full(cube.shape[2], 1 / cube.shape[2]), n)) for cube in scaled]

  point, means = estimate([(np.ones((1, c.shape[1])), np.ones((1, c.shape[2]))) for c in scaled])
  chunks = [estimate(drawn(min(CHUNK, n_resamples - start))) for start in range(0, n_resamples, CHUNK)]
  boot = {name: np.concatenate([c[0][name] for c in chunks]) for name in COMPONENTS}
  for name in SCALES[scale].zero:
    point[name], boot[name] = np.zeros(1), np.zeros(n_resamples)
  boot_means = np.concatenate([c[1] for c in chunks])
  interval = lambda x: tuple(float(v) for v in np.nanpercentile(x, [2.5, 97.5]))
  normal = lambda estimate, x: tuple(float(estimate + z * np.std(x, ddof=1)) for z in stats.norm.ppf([.025, .975]))
  centre = lambda x: x - x.mean(-1, keepdims=True)
  return Decomposition(
      scale=scale, explainers=explainers, corpora=corpora,
      seeds={c: cube.shape[1] for c, cube in zip(corpora, raw)},
      examples={c: cube.shape[2] for c, cube in zip(corpora, raw)},
      components={name: float(point[name][0]) for name in COMPONENTS},
      ci95={name: normal(point[name][0], boot[name]) for name in COMPONENTS},
      interaction_share=float(interaction_share(point)[0]), interaction_share_ci95=interval(interaction_share(boot)),
      explainer_means=centre(means[0]), boot_means=centre(boot_means), n_resamples=n_resamples)
