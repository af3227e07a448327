"""Beyond the study: do the evaluations agree, across seeds and under the open choices?

  python -m experiments.agreement --corpus=synthetic --seeds=0,1,2,3,4
  python -m experiments.agreement --corpus=sst --preset=cpu

1. Seeds: one pipeline run per seed (classifier, maps, the three evaluations),
   all on the same data split (--split_seed); every evaluation gets mean ± sd
   across seeds, and Kendall τ between the evaluations' explainer rankings is
   computed per seed. The seeds' classifiers and weak learners are then
   re-evaluated stacked (explainers, deletion, weak-learner F1 and shuffle test
   for all of them in one vmapped program per bucket), which must give the
   per-seed results again.
2. Per example: Spearman between deletion rate and shuffle TVD, per explainer.
3. Sensitivity (on the seed-0 model): the deletion ranking under every mask
   mode x signed/absolute x explained scalar and under other IG step counts,
   and the weak-learner ranking under L1 vs L2 normalisation; each row says
   whether the run's own ranking survives.
4. Ground truth (synthetic only): which evaluation's ranking matches the
   planted-token precision@k ranking best.
Writes experiments/results/agreement_<corpus>.md with heatmaps and scatters.
"""

import dataclasses
import itertools
import os
import time

from absl import flags
from absl import logging
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from faithjax import cli  # pylint: disable=wrong-import-position
from faithjax import config as config_lib  # pylint: disable=wrong-import-position
from faithjax import explain
from faithjax import io
from faithjax import metrics
from faithjax import paper
from faithjax import pipeline
from faithjax import provenance
from faithjax import reevaluate
from faithjax import report
from faithjax import study
from faithjax import workdir as workdir_lib
from faithjax.data import encode
from faithjax.faithfulness import agreement
from faithjax.faithfulness import deletion
from faithjax.faithfulness import evaluations
from faithjax.faithfulness import weak_learner

FLAGS = flags.FLAGS
config_lib.define_compile_cache_flag()
flags.DEFINE_string('corpus', 'synthetic', 'Corpus.')
flags.DEFINE_list('seeds', ['0', '1', '2', '3', '4'], 'One classifier per seed.')
flags.DEFINE_list('full_seeds', None, 'Seeds that run the whole pipeline (default every seed; the first seed must '
                  'be one). The others only train: their maps and deletion rates come from the stacked '
                  're-evaluation, for corpora where every seed\'s training-split maps (the weak learner\'s input) '
                  'cost too much.')
flags.DEFINE_integer('stacked_subset', 0, 'The stacked re-evaluation reads the first N test examples of the deletion '
                     'evaluation (0: all of them); with train-only seeds every seed\'s deletion cell comes from it.')
flags.DEFINE_bool('stacked', True, 'Re-evaluate all seeds stacked and compare with each seed\'s run (--nostacked '
                  'skips it where its deletion runs cost too much; train-only seeds need it).')
flags.DEFINE_string('runs_dir', 'runs/agreement', 'Parent of the per-seed workdirs.')
flags.DEFINE_string('out', 'experiments/results', 'Where the report goes.')
config_lib.define_preset_flag('full', of=' per seed')
flags.DEFINE_integer('sensitivity_subset', 200, 'Test examples for the sensitivity grid (0: skip the grid, e.g. '
                     'where its 12 x 4 deletion runs over long documents cost too much).')
flags.DEFINE_list('sensitivity_ig_steps', ['5', '20', '100'], 'IG step counts tried besides the run\'s own.')
flags.DEFINE_string('data_dir', None, 'Folder of the real corpora (default ../shared/datasets).')
flags.DEFINE_multi_enum('recompute', ['sensitivity', 'stacked'], ['sensitivity', 'stacked'],
                        'The slow analyses to compute; one left out is kept from the agreement_<corpus>.json '
                        'already in --out (--recompute=stacked refreshes only the stacked re-evaluation).')
flags.DEFINE_list('explainers', list(explain.DEFAULT), 'The explainers compared (registered names; default the '
                  "study's four).")
flags.DEFINE_bool('summary_only', False, 'Only rebuild agreement.md from the agreement_<corpus>.json already in --out.')

SLOW = {'sensitivity': ('sensitivity', 'sensitivity_subset'),
        'stacked': ('stacked', 'stacked_seconds', 'stacked_subset')}


def explainers():
  """The explainers compared (--explainers): the runs' config.explainers."""
  return tuple(FLAGS.explainers)


def full_seeds():
  """The seeds that run the whole pipeline (--full_seeds), checked against --seeds."""
  seeds = list(map(int, FLAGS.seeds))
  full = list(map(int, FLAGS.full_seeds)) if FLAGS.full_seeds else seeds
  if not set(full) <= set(seeds) or min(seeds) not in full:
    raise SystemExit(f'faithjax: error: --full_seeds={FLAGS.full_seeds} must be among --seeds={FLAGS.seeds} and '
                     f'include the first seed ({min(seeds)}), on which the per-example and sensitivity analyses run')
  return full


def run_seeds(seeds, full):
  """{seed: (config, workdir, results)}; a seed outside `full` runs up to its train stage only."""
  runs = {}
  for seed in seeds:
    config = config_lib.make_config(FLAGS.corpus, preset=FLAGS.preset, seed=seed, data_dir=FLAGS.data_dir,
                                    explainers=explainers())
    workdir = os.path.join(FLAGS.runs_dir, FLAGS.corpus, f'seed{seed}')
    io.log(f'== seed {seed} -> {workdir}' + ('' if seed in full else ' (train only)'))
    stages = config_lib.STAGES if seed in full else ('encode', 'train')
    runs[seed] = (config, workdir, pipeline.run_pipeline(config, workdir, stages))
  return runs


def ran_whole_pipeline(results):
  """False for a train-only seed (--full_seeds), also after it adopted its stacked deletion rates."""
  return 'explain' in results['stages']


def adopt_stacked_deletion(runs, stacked_rows):
  """With train-only seeds, every seed's deletion means become the stacked program's.

  A train-only seed has no other; the full seeds follow so that all seeds are
  scored on the same examples (--stacked_subset may be fewer than a run's own).
  """
  if all(ran_whole_pipeline(r) for _, _, r in runs.values()):
    return
  for seed, (_, _, results) in runs.items():
    deletion = {name: {'mean': stacked, 'ci95': None}
                for s, e, name, _, stacked, _ in stacked_rows if s == seed and e == 'deletion_rate'}
    results['stages']['evaluate'] = {**results['stages'].get('evaluate', {}), 'deletion': deletion}


def over_seeds(values):
  """[mean, sd (0 for one seed), count] of one number measured on each seed."""
  values = np.asarray(values, np.float64)
  return [float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values)]


def seed_table(runs):
  rows = []
  for evaluation in study.evaluation_names():
    for name in explainers():
      values = [study.our_scores(r, evaluation).get(name) for _, _, r in runs.values()]
      rows.append([evaluation, name, *over_seeds([v for v in values if v is not None])])
  return rows


def tau_heatmap(runs, path):
  """Mean over seeds of Kendall τ between each pair of evaluations' explainer rankings."""
  names = list(study.evaluation_names())
  matrix = np.eye(len(names))
  per_seed = [study.evaluation_agreement(r) for _, _, r in runs.values()]
  for i, j in itertools.combinations(range(len(names)), 2):
    taus = [row['tau'] for rows in per_seed for row in rows if {row['a'], row['b']} == {names[i], names[j]}]
    matrix[i, j] = matrix[j, i] = np.mean(taus)
  fig, ax = plt.subplots(figsize=(4.6, 3.8))
  image = ax.imshow(matrix, vmin=-1, vmax=1, cmap='RdBu_r')
  ax.set_xticks(range(len(names)), names, rotation=30, ha='right')
  ax.set_yticks(range(len(names)), names)
  for i, j in itertools.product(range(len(names)), repeat=2):
    ax.text(j, i, f'{matrix[i, j]:.2f}', ha='center', va='center')
  fig.colorbar(image)
  ax.set_title(f'Kendall τ between evaluations (mean of {len(per_seed)} seeds)', fontsize=9)
  io.save_figure(fig, path)
  return per_seed


def per_example(runs, path):
  """Spearman(deletion rate, shuffle TVD) per explainer on seed 0, and the scatter plot."""
  _, workdir, _ = next(iter(runs.values()))
  work = workdir_lib.Workdir(os.path.abspath(workdir))
  fig, axes = plt.subplots(1, len(explainers()), figsize=(3.4 * len(explainers()), 3.2), squeeze=False)
  rows = []
  for ax, name in zip(axes[0], explainers()):
    deleted = io.load_npz(work.evaluation('deletion', name))
    tvds = io.load_npz(work.evaluation('shuffle', name))['median_tvd']
    result = study.per_example_agreement(deleted['rates'], deleted['indices'], tvds)
    rows.append([name, result['rho'], result['low'], result['high'], len(deleted['rates'])])
    ax.scatter(deleted['rates'], tvds[deleted['indices']], s=4, alpha=0.4)
    ax.set_title(f'{name}\nρ = {result["rho"]:.2f}', fontsize=9)
    ax.set_xlabel('deletion rate (ρ uses −rate)')
  axes[0][0].set_ylabel('median TVD')
  io.save_figure(fig, path)
  return rows


def sensitivity(config, workdir, results):
  """Explainer rankings under the open choices, on one seed's model and maps.

  The run's own target and norm reuse its stored maps and weak learners; the
  other target's maps, other IG step counts and the other norm's weak learners
  are computed here. Rows: [evaluation, choice, scores, ranking, survives]
  where `survives` says whether the ranking under the run's own choices (on
  the same examples) holds.
  """
  work = workdir_lib.Workdir(os.path.abspath(workdir))
  corpus = encode.EncodedCorpus.load(work.corpus)
  model, params = pipeline.load_classifier(config, work, corpus)
  stored = {name: io.load_npz(work.maps(name)) for name in explainers()}
  test = corpus.splits['test']
  subset = np.arange(min(FLAGS.sensitivity_subset, len(test)))
  part = test.subset(subset)

  def explained(name, run_config):
    return explain.explain_split(explain.make_explainer(name, model, **pipeline.explainer_options(run_config, name)),
                                 params, part, config.eval_batch_size)

  def deletion_scores(maps, mode=config.deletion_mode, absolute=config.absolute):
    removal = deletion.removal_mode(mode, config.pad_rule)  # 'pad' under the run's pad rule
    return {n: float(np.mean(deletion.deletion_rates(model, params, part, m, absolute=absolute, mode=removal)))
            for n, m in maps.items()}

  rows = []
  own_maps = {n: test.subset_values(subset, stored[n]['test']) for n in explainers()}
  own = {}
  for target in ('prob', 'logit'):
    other = dataclasses.replace(config, target=target)
    maps = own_maps if target == config.target else {n: explained(n, other) for n in explainers()}
    for mode, absolute in itertools.product(deletion.MODES, (False, True)):
      scores = deletion_scores(maps, mode, absolute)
      if (target, mode, absolute) == (config.target, config.deletion_mode, config.absolute):
        own['deletion_rate'] = agreement.ranking(scores, 'deletion_rate')
      rows.append(['deletion_rate', f'target={target}, mode={mode}, {"absolute" if absolute else "signed"}', scores])
  ig = 'integrated_gradients'
  run_steps = config.explainer_options(ig).steps
  for steps in sorted({int(s) for s in FLAGS.sensitivity_ig_steps} - {run_steps} if ig in explainers() else ()):
    maps = {**own_maps, ig: explained(ig, config.with_options(ig, steps=steps))}
    rows.append(['deletion_rate', f'ig_steps={steps} (run: {run_steps}), mode={config.deletion_mode}',
                 deletion_scores(maps)])
  weak = pipeline.make_weak_learner(config, corpus)
  for norm in weak_learner.NORMS:
    if norm == config.norm:
      scores = {n: study.our_scores(results, 'weak_learner_f1')[n] for n in explainers()}
      own['weak_learner_f1'] = agreement.ranking(scores, 'weak_learner_f1')
    else:
      weak_config = pipeline.weak_learner_config(config)
      scores = {n: weak_learner.train_weak_learner(weak, corpus, stored[n], weak_config,
                                                   work.path('checkpoints', f'sensitivity_weak_{norm}_{n}'),
                                                   norm=norm).test['f1'] for n in explainers()}
    rows.append(['weak_learner_f1', f'norm={norm}', scores])
  return [[e, choice, scores, agreement.ranking(scores, e), agreement.ranking(scores, e) == own[e]]
          for e, choice, scores in rows]


def stacked_seeds(runs):
  """Every seed re-evaluated in one stacked program per bucket (maps, deletion, weak learner, shuffle test).

  Beside each seed's own run on the same test examples: its stored deletion
  rates and shuffle TVDs, and its weak learner's F1 with its stored maps. With
  train-only seeds (--full_seeds) only maps and deletion are stacked, and those
  seeds have no run of their own to compare with (None). Returns (rows [seed,
  evaluation, explainer, per-seed run, stacked, largest difference (per
  example; of F1 for the weak learner)], seconds of the stacked call).
  """
  config, workdir, _ = runs[min(runs)]
  corpus = encode.EncodedCorpus.load(workdir_lib.Workdir(os.path.abspath(workdir)).corpus)
  test = corpus.splits['test']
  subset = pipeline.test_subset(config, test)[:FLAGS.stacked_subset or None]
  part = test.subset(subset)
  weak = pipeline.make_weak_learner(config, corpus)
  all_evaluated = all(ran_whole_pipeline(r) for _, _, r in runs.values())
  start = time.perf_counter()
  stacked = reevaluate.reevaluate(
      [w for _, w, _ in runs.values()], corpus, pipeline.make_model(config, corpus),
      {n: pipeline.explainer_options(config, n) for n in explainers()}, subset=subset,
      batch_size=config.eval_batch_size,
      deletion_options=deletion.options_of(config),
      weak={'model': weak, 'norm': config.norm, 'permutations': config.permutations} if all_evaluated else None)
  seconds = time.perf_counter() - start
  rows = []
  for (seed, (_, seed_workdir, results)), again in zip(runs.items(), stacked):
    work = workdir_lib.Workdir(os.path.abspath(seed_workdir))
    for name in explainers():
      stacked_rates = again['deletion'][name]['rates']
      if not ran_whole_pipeline(results):
        rows.append([seed, 'deletion_rate', name, None, float(stacked_rates.mean()), None])
        continue
      rates = io.load_npz(work.evaluation('deletion', name))['rates'][:len(subset)]  # stored in `subset` order
      rows.append([seed, 'deletion_rate', name, float(rates.mean()), float(stacked_rates.mean()),
                   float(np.abs(rates - stacked_rates).max())])
      if all_evaluated:
        tvds = io.load_npz(work.evaluation('shuffle', name))['median_tvd'][subset]
        weak_params = reevaluate.restore_weak([work.classifier_ckpt], name, weak)[0]
        stored_map = test.subset_values(subset, io.load_npz(work.maps(name))['test'])
        f1 = metrics.test_report(part.labels, weak_learner.predict_split(weak, weak_params, part, stored_map,
                                                                         config.norm))['f1']
        stacked_tvds, stacked_f1 = again['shuffle'][name]['median_tvd'], again['weak_learner'][name]['f1']
        rows += [[seed, 'weak_learner_f1', name, f1, stacked_f1, abs(f1 - stacked_f1)],
                 [seed, 'shuffle_tvd', name, float(tvds.mean()), float(stacked_tvds.mean()),
                  float(np.abs(tvds - stacked_tvds).max())]]
  return rows, seconds


def classifier_table(runs):
  """Table 2 across seeds: rows [metric, mean, sd, seeds] of the classifiers' test accuracy and F1."""
  return [[metric, *over_seeds([r['stages']['train']['test'][metric] for _, _, r in runs.values()])]
          for metric in ('accuracy', 'f1')]


def seed_stability(runs):
  """{evaluation: mean pairwise Kendall τ between the seeds' explainer rankings} (1 = the seed never matters;
  None where fewer than two seeds measured it)."""
  stability = {e: study.cross_corpus_stability({seed: study.our_scores(r, e) for seed, (_, _, r) in runs.items()}, e)
               for e in study.evaluation_names()}
  return {e: tau if np.isfinite(tau) else None for e, tau in stability.items()}


def ground_truth(runs):
  """Kendall τ between each evaluation's ranking and the precision@k ranking, per seed."""
  rows = []
  for seed, (_, _, results) in runs.items():
    if not ran_whole_pipeline(results):
      continue
    truth = {n: results['stages']['explain']['quality'][n].get('precision_at_k') for n in explainers()}
    if None in truth.values():
      return []
    for evaluation in study.evaluation_names():
      ours = study.our_scores(results, evaluation)
      tau = agreement.kendall_tau([truth[n] for n in explainers()],
                                  evaluations.oriented(evaluation, [ours[n] for n in explainers()]))
      rows.append([seed, evaluation, tau])
  return rows


def mean_sd(mean, sd, seeds):
  return f'{mean:.3f} ± {sd:.3f}' if seeds > 1 else f'{mean:.3f} (one seed)'


def without_single_seed_sd(rows):
  """Table rows ending [..., mean, sd, seeds] with the sd of a one-seed row shown as — (it is not 0)."""
  return [[*r[:-2], r[-2] if r[-1] > 1 else None, r[-1]] for r in rows]


def largest_difference(stacked_rows, evaluation):
  """The largest stacked-vs-own difference of one evaluation, '—' where no seed has a run of its own to compare."""
  differences = [r[5] for r in stacked_rows if r[1] == evaluation and r[5] is not None]
  return f'{max(differences):.1e}' if differences else '—'


def seed_means(record, evaluation):
  """{explainer: mean over seeds} of one evaluation in a corpus record."""
  return {r[1]: r[2] for r in record['seed_table'] if r[0] == evaluation}


def recorded_evaluations(*records):
  """The registered evaluations every record measured (records made before an evaluation was added lack it)."""
  return [e for e in study.evaluation_names() if all(any(r[0] == e for r in rec['seed_table']) for rec in records)]


def write_summary(out):
  """agreement_<corpus>.md for every agreement_<corpus>.json in `out`, and agreement.md: all side by side."""
  records = {}
  for corpus in ('synthetic', *paper.CORPORA):
    path = os.path.join(out, f'agreement_{corpus}.json')
    if os.path.exists(path):
      records[corpus] = io.read_json(path)
  if not records:
    raise SystemExit(f'faithjax: error: no agreement_<corpus>.json in {out}; run without --summary_only first')
  for corpus, record in records.items():
    io.write_text(os.path.join(out, f'agreement_{corpus}.md'), render_corpus(record))
  names = list(records)
  evaluations_measured = recorded_evaluations(*records.values())
  real = [c for c in names if c in paper.CORPORA]
  pairs = [(a, b) for a, b in itertools.combinations(sorted(evaluations_measured), 2)]

  def seed_cell(record, evaluation, name):
    return next(mean_sd(*r[2:5]) for r in record['seed_table'] if r[0] == evaluation and r[1] == name)

  def tau_cell(record, a, b):
    taus = [r['tau'] for rows in record['per_seed_tau'] for r in rows if (r['a'], r['b']) == (a, b)]
    return f'{np.mean(taus):.2f} [{min(taus):.2f}, {max(taus):.2f}]'

  def survival(record, evaluation):
    rows = [r for r in record['sensitivity'] if r[0] == evaluation]
    broken = [r[1] for r in rows if not r[4]]
    if not rows:
      return 'not measured'
    return f'{len(rows) - len(broken)}/{len(rows)}' + (f' (not: {"; ".join(broken)})' if broken else '')

  lines = ['# Do the evaluations agree? All corpora', '',
           'Built by `python -m experiments.agreement --summary_only` from the per-corpus reports '
           + ', '.join(f'[{c}](agreement_{c}.md)' for c in names) + '; each names its command, settings, seeds, '
           'versions and hardware. Presets (config.PRESETS): '
           + ', '.join(f'{c} `{records[c]["preset"]}`' for c in names) + '.', '',
           '## The classifier across seeds (Table 2: test metrics, mean ± sd over seeds)', '',
           report.markdown_table(['metric'] + names,
                                 [[m] + [next(mean_sd(*r[1:4]) for r in records[c]['classifier'] if r[0] == m)
                                         for c in names] for m in ('accuracy', 'f1')]), '',
           '## Every evaluation across seeds (mean ± sd over seeds)', '',
           report.markdown_table(['evaluation', 'explainer'] + [f'{c} ({len(records[c]["seeds"])} seeds)'
                                                                for c in names],
                                 [[e, n] + [seed_cell(records[c], e, n) for c in names]
                                  for e in evaluations_measured for n in explainers()]), '',
           '## Does the seed or the dataset change the verdict? (mean pairwise Kendall τ between rankings)', '',
           'Per corpus: between the seeds\' explainer rankings. Last column: between the real corpora\'s '
           'rankings of the seed means. 1 = the ranking never changes.', '',
           report.markdown_table(['evaluation'] + names + ['across real corpora'],
                                 [[e] + [records[c]['seed_stability'][e] for c in names]
                                  + [study.cross_corpus_stability({c: seed_means(records[c], e) for c in real}, e)]
                                  for e in evaluations_measured]), '',
           '## Do the evaluations agree? (Kendall τ between their explainer rankings: mean [min, max] over seeds)',
           '',
           report.markdown_table(['evaluations'] + names,
                                 [[f'{a} vs {b}'] + [tau_cell(records[c], a, b) for c in names] for a, b in pairs]),
           '',
           '## Per example: Spearman ρ between −deletion rate and shuffle TVD (seed 0, [95% CI])', '',
           report.markdown_table(['explainer'] + names,
                                 [[n] + [next(f'{r[1]:.2f} [{r[2]:.2f}, {r[3]:.2f}]' for r in records[c]['per_example']
                                              if r[0] == n) for c in names] for n in explainers()]), '',
           '## Which rankings survive the open choices (seed 0; rows that keep the run\'s own ranking)', '',
           report.markdown_table(['evaluation'] + names,
                                 [[e] + [survival(records[c], e) for c in names]
                                  for e in ('deletion_rate', 'weak_learner_f1')]), '',
           '## Stacked re-evaluation of all seeds (the three evaluations in one program per bucket)', '',
           'Largest difference from the per-seed runs, per example for deletion and shuffle, of F1 for the '
           'weak learner.', '',
           report.markdown_table(['corpus', 'seeds', 'seconds'] + list(evaluations_measured),
                                 [[c, len(records[c]['seeds']),
                                   f'{records[c]["stacked_seconds"]:.0f} ({records[c]["provenance"]["device"]["kind"]})'
                                   if records[c]['stacked'] else 'not measured']
                                  + [largest_difference(records[c]['stacked'], e) for e in evaluations_measured]
                                  for c in names]), '']
  truth = {c: r['ground_truth'] for c, r in records.items() if r['ground_truth']}
  for corpus, rows in truth.items():
    lines += [f'## Ground truth ({corpus}): mean τ between each evaluation and the planted-token ranking', '',
              report.markdown_table(['evaluation', 'mean τ over seeds'],
                                    [[e, float(np.mean([t for _, ev, t in rows if ev == e]))]
                                     for e in evaluations_measured]), '']
  io.write_text(os.path.join(out, 'agreement.md'), '\n'.join(lines) + '\n')
  print(f'wrote {out}/agreement.md')


def measure():
  """Runs every seed and every analysis of FLAGS.corpus; writes the figures; returns the JSON-ready record.

  The slow analyses left out of --recompute are copied from the record already
  in --out, which must come from the same preset, seeds and full seeds.
  """
  stem = os.path.join(FLAGS.out, f'agreement_{FLAGS.corpus}')
  kept = set(SLOW) - set(FLAGS.recompute)
  previous = io.read_json(stem + '.json') if kept and os.path.exists(stem + '.json') else {}
  seeds, full = list(map(int, FLAGS.seeds)), full_seeds()
  wanted = (FLAGS.preset, seeds, full)
  found = (previous.get('preset'), previous.get('seeds'), previous.get('full_seeds', previous.get('seeds')))
  if not FLAGS.stacked and full != seeds:
    raise SystemExit('faithjax: error: --nostacked leaves the train-only seeds (outside --full_seeds) without any '
                     'deletion rates; drop one of the two')
  if kept and found != wanted:
    raise SystemExit(f'faithjax: error: keeping {", ".join(sorted(kept))} needs {stem}.json from (preset, seeds, '
                     f'full seeds) {wanted}; it has {found}: recompute everything (drop --recompute)')
  runs = run_seeds(seeds, full)
  config, workdir, results = runs[min(runs)]
  slow = {}
  if 'sensitivity' in kept:
    slow.update({k: previous[k] for k in SLOW['sensitivity']})
  else:
    slow.update(sensitivity=sensitivity(config, workdir, results) if FLAGS.sensitivity_subset else [],
                sensitivity_subset=FLAGS.sensitivity_subset)
  if 'stacked' in kept:
    slow.update({k: previous.get(k) for k in SLOW['stacked']})  # records before --stacked_subset: None = all
  elif FLAGS.stacked:
    slow.update(zip(SLOW['stacked'], (*stacked_seeds(runs), FLAGS.stacked_subset or None)))
  else:
    slow.update(stacked=[], stacked_seconds=None, stacked_subset=None)
  adopt_stacked_deletion(runs, slow['stacked'])
  return {
      'corpus': FLAGS.corpus, 'preset': FLAGS.preset, 'seeds': seeds, 'full_seeds': full,
      'runs_dir': FLAGS.runs_dir,
      'measured': provenance.now(), 'provenance': provenance.record(),
      'classifier': classifier_table(runs), 'seed_table': seed_table(runs),
      'per_seed_tau': tau_heatmap(runs, stem + '_tau.png'),
      'seed_stability': seed_stability(runs), 'per_example': per_example(runs, stem + '_scatter.png'),
      'ground_truth': ground_truth(runs), **slow}


def render_corpus(record):
  """agreement_<corpus>.md from one corpus's record."""
  corpus, seeds, prov = record['corpus'], record['seeds'], record['provenance']
  full = record.get('full_seeds', seeds)
  train_only = [s for s in seeds if s not in full]
  stem = f'agreement_{corpus}'
  lines = [f'# Do the evaluations agree? ({corpus})', '',
           f'Command: `python -m experiments.agreement --corpus={corpus} --preset={record["preset"]} '
           f'--seeds={",".join(map(str, seeds))}'
           + (f' --full_seeds={",".join(map(str, full))}' if train_only else '')
           + (f' --stacked_subset={record["stacked_subset"]}' if record.get('stacked_subset') else '')
           + ('' if record['stacked'] else ' --nostacked') + f' --sensitivity_subset={record["sensitivity_subset"]}`; '
           f'measured {record["measured"]} on {prov["device"]["kind"]} ({prov["device"]["processor"]}); '
           + provenance.versions_text(prov) + '.', '',
           f'Settings per seed: the `{corpus}` defaults of faithjax/config.py with preset `{record["preset"]}` '
           f'(config.json in {record["runs_dir"]}/{corpus}/seed*/); every seed uses the same data split.', '']
  if train_only:
    lines += [f'Seeds {", ".join(map(str, train_only))} only trained their classifier: their maps and deletion '
              'rates come from the stacked re-evaluation below (and so do every seed\'s deletion cells, so that '
              'all seeds are scored on the same examples), and the weak learner and the shuffle test (which '
              f'need every training example\'s map) were run on seeds {", ".join(map(str, full))} only.', '']
  lines += [f'## The classifier across {len(seeds)} seeds (Table 2: test metrics, mean ± sd)', '',
            report.markdown_table(['metric', 'mean', 'sd', 'seeds'], without_single_seed_sd(record['classifier'])), '',
            f'## Every evaluation across {len(seeds)} seeds (mean ± sd)', '',
            report.markdown_table(['evaluation', 'explainer', 'mean', 'sd', 'seeds'],
                                  without_single_seed_sd(record['seed_table'])), '',
            '## Agreement between evaluations (Kendall τ of the explainer rankings; exact p over 4! orders)', '',
            report.markdown_table(['seed', 'a', 'b', 'τ', 'p'],
                                  [[s, r['a'], r['b'], r['tau'], r['p']]
                                   for s, rows in zip(seeds, record['per_seed_tau']) for r in rows]),
            '', f'![τ heatmap]({stem}_tau.png)', '',
            '## Per example: Spearman between −deletion rate and shuffle TVD (seed 0, bootstrap 95% CI)', '',
            'Oriented like τ: positive ρ means the examples one evaluation finds faithfully explained, the other '
            'does too.', '',
            report.markdown_table(['explainer', 'ρ', 'low', 'high', 'examples'], record['per_example']), '',
            f'![scatter]({stem}_scatter.png)', '',
            f'## All {len(seeds)} seeds re-evaluated stacked (one vmapped program per bucket)', '']
  if record['stacked']:
    lines += [f'`reevaluate.reevaluate` restored the {len(seeds)} classifiers'
              + ('' if train_only else ' and each seed\'s weak learners') + ', stacked their parameters and computed '
              'the four explainers\' test maps, deletion rates'
              + ('' if train_only else ', weak-learner F1 and shuffle TVDs') + ' for all of them together in '
              f'{record["stacked_seconds"]:.1f} s ({prov["device"]["kind"]}), on '
              + (f'the first {record["stacked_subset"]} ' if record.get('stacked_subset') else 'the ')
              + 'test examples of the deletion evaluation. Beside each seed\'s own run on the same examples (its '
              'stored deletion rates and TVDs; its '
              'weak learner on its stored maps; — where the seed only trained):', '',
              report.markdown_table(['seed', 'evaluation', 'explainer', 'per-seed run', 'stacked',
                                     'largest difference (per example; F1)'],
                                    [[*row[:5], None if row[5] is None else f'{row[5]:.1e}']
                                     for row in record['stacked']]), '']
  else:
    lines += ['Not measured (`--nostacked`).', '']
  lines += ['## Sensitivity to the open choices (seed 0)', '']
  if record['sensitivity']:
    lines += [f'Deletion on the first {record["sensitivity_subset"]} test examples. survives: the row ranks the '
              'explainers as the run\'s own setting does.', '',
              report.markdown_table(['evaluation', 'choice', 'ranking (most faithful first)', 'survives', 'scores'],
                                    [[e, c, ' > '.join(r), 'yes' if same else 'no',
                                      ', '.join(f'{n} {v:.3f}' for n, v in s.items())]
                                     for e, c, s, r, same in record['sensitivity']]), '']
  else:
    lines += ['Not measured (`--sensitivity_subset=0`).', '']
  if record['ground_truth']:
    lines += ['## Ground truth: τ between each evaluation and the planted-token precision@k ranking', '',
              report.markdown_table(['seed', 'evaluation', 'τ'], record['ground_truth']), '']
    for evaluation in recorded_evaluations(record):
      taus = [t for _, e, t in record['ground_truth'] if e == evaluation]
      lines.append(f'- {evaluation}: mean τ {np.mean(taus):.2f} over {len(taus)} seeds')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  if not FLAGS.summary_only:
    os.makedirs(FLAGS.out, exist_ok=True)
    io.write_json(os.path.join(FLAGS.out, f'agreement_{FLAGS.corpus}.json'), measure())
  write_summary(FLAGS.out)


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
