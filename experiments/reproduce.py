"""Reproduce the study: every corpus through the pipeline, then Tables 2-5, Figure 5 and the checks.

  python -m experiments.reproduce --preset=cpu   # reduced settings for 2 CPU cores (config.PRESETS)
  python -m experiments.reproduce --preset=full  # the paper's settings, for a GPU
  python -m experiments.reproduce --tables_only  # rebuild the tables from the seed archives
  python -m experiments.reproduce --preset=cpu --corpora=sst,20news --seeds=0,1,2,3,4  # seed-aware tables

Each corpus runs in <runs_dir>/<preset>/<corpus> (seed k > 0: <corpus>-seed<k>);
finished stages are skipped, so an interrupted reproduction resumes. Results go
to experiments/results/. With several --seeds, every cell is the mean over the
seeds with a two-level bootstrap t interval (seeds resampled, and the test
examples, one draw shared by the seeds that scored the same documents:
metrics.two_level_interval), in reproduction_<preset>_seeds.{md,csv}, and the top of that file
counts the cells within .05 of the paper and inside their interval, for the
first seed alone (example CI) and for all seeds. Those tables are built from
each finished seed's archive (reproduction_<preset>_seeds/<corpus>-seed<k>.npz
and .json, committed), written as soon as that seed finishes (a single-seed
reproduction too), so seeds run on other machines add up without their
workdirs; an archived seed is not run again. Every table covers each corpus
archived for this preset, --corpora or not, so a call for one corpus adds it.
"""

import csv
import glob
import io as stdio
import os

from absl import flags
from absl import logging
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from experiments import evaluated_runs  # pylint: disable=wrong-import-position
from faithjax import FaithjaxError  # pylint: disable=wrong-import-position
from faithjax import cli
from faithjax import config as config_lib
from faithjax import io
from faithjax import metrics
from faithjax import paper
from faithjax import pipeline
from faithjax import provenance
from faithjax import report
from faithjax import runs as runs_lib
from faithjax import study

VERDICT = {True: 'confirmed', False: 'not confirmed', None: 'not measurable (one corpus)'}

FLAGS = flags.FLAGS
config_lib.define_compile_cache_flag()
config_lib.define_preset_flag('cpu')
flags.DEFINE_list('corpora', list(paper.CORPORA), 'Corpora to run.')
flags.DEFINE_string('runs_dir', 'runs/reproduce', 'Parent of the per-corpus workdirs.')
flags.DEFINE_string('out', 'experiments/results', 'Where the tables and figures go.')
flags.DEFINE_bool('tables_only', False, 'Only rebuild the tables from the archives (a finished workdir is archived '
                  'first).')
flags.DEFINE_string('data_dir', None, 'Folder of the real corpora (default ../shared/datasets).')
flags.DEFINE_string('model', 'lstm', 'Classifier (a registered plugins.Model); its runs and tables get its name '
                    'unless lstm.')
flags.DEFINE_list('seeds', ['0'], 'Classifier seeds (RunConfig.seed) per corpus; more than one writes the seed-aware '
                  'tables reproduction_<preset>_seeds.* instead of the single-seed ones.')
flags.DEFINE_string('suffix', '', 'Appended to the workdir and result names (needed with any RunConfig flag, e.g. '
                    '--nobidirectional --suffix=_lstm): such runs are not the preset\'s.')
# Every RunConfig field but those set per corpus and seed above is a flag too, applied to every corpus.
PER_RUN = ('corpus', 'seed', 'model', 'data_dir')
cli.define_config_flags(skip=PER_RUN)
flags.DEFINE_string('before', '', 'An earlier reproduction\'s <preset>_runs.json: the seeded tables count its '
                    'cells within .05 and inside their CI beside this one\'s.')
flags.DEFINE_list('variants', [], 'Suffixes of other seeded reproductions of this preset (e.g. _lstm,_pytorch_init) '
                  'whose archives cover corpora here: the "not reproduced" section gives how far each moves every such cell.')
flags.DEFINE_integer('n_resamples', 2000, 'Two-level bootstrap resamples of the seed-aware tables.')


def suffix():
  """'' for the preset's LSTM (the study's model); '_<model>' for another model, then --suffix: in workdir and
  result names."""
  return ('' if FLAGS.model == 'lstm' else f'_{FLAGS.model}') + FLAGS.suffix


def run_options():
  """The command-line options that make these runs other than the preset's LSTM: ' --model=... --x=... --suffix=...'."""
  show = lambda v: ','.join(v) if isinstance(v, tuple) else str(v).lower() if isinstance(v, bool) else str(v)
  chosen = ({'model': FLAGS.model} if FLAGS.model != 'lstm' else {}) | cli.config_overrides(PER_RUN)
  chosen |= {'suffix': FLAGS.suffix} if FLAGS.suffix else {}
  return ''.join(f' --{k}={show(v)}' for k, v in chosen.items())


def make_config(corpus, seed):
  return config_lib.make_config(corpus, data_dir=FLAGS.data_dir, preset=FLAGS.preset, model=FLAGS.model, seed=seed,
                                **cli.config_overrides(PER_RUN))


def seeds():
  try:
    return [int(s) for s in FLAGS.seeds]
  except ValueError:
    raise FaithjaxError(f'--seeds must be integers; got {",".join(FLAGS.seeds)}') from None


def workdir_of(corpus, seed=0):
  """Seed 0 keeps the single-seed path, so a finished single-seed reproduction is the first seed's run."""
  return os.path.join(FLAGS.runs_dir, FLAGS.preset + suffix(), corpus if seed == 0 else f'{corpus}-seed{seed}')


def run_corpora():
  """Runs every (corpus, seed) of --corpora and --seeds that has no archive yet: an archived seed is finished, even
  when its workdir is gone (move the archive away to run it again)."""
  for corpus in FLAGS.corpora:
    for seed in seeds():
      if os.path.exists(archive_of(corpus, seed)):
        archived_run(corpus, seed)  # refused in one line if made with other settings
        io.log(f'== {corpus} ({FLAGS.preset}, seed {seed}): archived in {archive_of(corpus, seed)}, not run again')
        continue
      config = make_config(corpus, seed)
      io.log(f'== {corpus} ({FLAGS.preset}, seed {seed}) -> {workdir_of(corpus, seed)}')
      pipeline.run_pipeline(config, workdir_of(corpus, seed))
      # At once, not after the last corpus: a workdir lost before the tables are rendered loses nothing.
      evaluated_runs.write_archive(evaluated_runs.Run(workdir_of(corpus, seed)), archive_of(corpus, seed))


def table_corpora():
  """--corpora, then every other corpus with an archive of this reproduction, in the paper's order: a call for one
  corpus adds it to the tables instead of rendering them over again with that corpus alone."""
  archived = [os.path.basename(p).rsplit('-seed', 1)[0] for p in glob.glob(archive_of('*', '*'))]
  return study.corpora_of(dict.fromkeys([*FLAGS.corpora, *archived]))


def finished_runs():
  """{corpus: results} of the first seed's archive of every corpus of table_corpora() that has one."""
  runs = {c: archived_run(c, seeds()[0]).results() for c in table_corpora()
          if os.path.exists(archive_of(c, seeds()[0]))}
  if not runs:
    raise FaithjaxError(f'no corpus has an archive of seed {seeds()[0]} in {os.path.dirname(archive_of("x", 0))}; '
                        'run without --tables_only first')
  return runs


def archive_of(corpus, seed, variant=None):
  """Where a finished seed's archive goes (evaluated_runs.write_archive), committed beside the tables; `variant`:
  another reproduction's suffix instead of this one's."""
  name = suffix() if variant is None else variant
  return os.path.join(FLAGS.out, f'reproduction_{FLAGS.preset}{name}_seeds', f'{corpus}-seed{seed}.npz')


def archive_finished_seeds():
  """Archives every seed of --seeds whose workdir finished here (one run before archives were written on finishing,
  too), so the tables keep it when the workdir is gone."""
  for corpus in FLAGS.corpora:
    for seed in seeds():
      if os.path.exists(os.path.join(workdir_of(corpus, seed), 'results.json')):
        evaluated_runs.write_archive(evaluated_runs.Run(workdir_of(corpus, seed)), archive_of(corpus, seed))


def preset_differences(corpus, seed, config) -> list[str]:
  """The settings in which a run's RunConfig differs from what --preset gives now (e.g. a preset revised since)."""
  expected = make_config(corpus, seed).fingerprint()
  return sorted(k for k, v in config.fingerprint().items() if expected.get(k) != v)


def archived_run(corpus, seed):
  """The seed's archive. One made with other settings than --preset gives now is refused in one line when seeds
  are to be run beside it, or when its seed is not `seed`; --tables_only renders the rest, its settings named in
  the tables (settings_section)."""
  run = evaluated_runs.ArchivedRun(archive_of(corpus, seed))
  differ = preset_differences(corpus, seed, run.config)
  if differ and (not FLAGS.tables_only or 'seed' in differ):  # another seed's run under this name is mislabelled
    raise FaithjaxError(f'{archive_of(corpus, seed)} was made with other settings ({", ".join(differ)}) than '
                        f'--preset={FLAGS.preset} gives now; rerun that seed or move the archive away')
  return run


def same_settings(corpus, runs):
  """`runs` (one corpus's seeds), refused in one line unless every seed ran with the same settings."""
  settings = [{k: v for k, v in r.config.fingerprint().items() if k != 'seed'} for r in runs]
  differ = sorted({k for s in settings[1:] for k in s if s[k] != settings[0].get(k)})
  if differ:
    raise FaithjaxError(f'the archived seeds of {corpus} ran with different settings ({", ".join(differ)}); '
                        'move the odd ones away or rerun them')
  return runs


def seeded_runs():
  """{corpus: [evaluated_runs.ArchivedRun per archived seed]}: each corpus with the seeds of --seeds that have an
  archive (the first seed must have), so a corpus still running its last seeds is reported over those it has."""
  done = {c: [s for s in seeds() if os.path.exists(archive_of(c, s))] for c in table_corpora()}
  done = {c: found for c, found in done.items() if found and found[0] == seeds()[0]}
  if not done:
    raise FaithjaxError(f'no corpus has finished seed {seeds()[0]} under {os.path.dirname(workdir_of("x"))} or in '
                        f'{os.path.dirname(archive_of("x", 0))}; run without --tables_only first')
  return {c: same_settings(c, [archived_run(c, s) for s in found]) for c, found in done.items()}


def variant_runs(base_by_corpus):
  """{variant: (the settings it changes, {corpus: [ArchivedRun per seed]})} of --variants: each variant's archives
  of --seeds for the corpora here. A variant may test on other documents (the length filter drops some): the two
  bootstraps are independent anyway, so its move is still the difference of two estimates; the header says so."""
  variants = {}
  for variant in FLAGS.variants:
    by_corpus = {c: [evaluated_runs.ArchivedRun(archive_of(c, s, variant)) for s in seeds()
                     if os.path.exists(archive_of(c, s, variant))] for c in base_by_corpus}
    by_corpus = {c: runs for c, runs in by_corpus.items() if runs}
    if not by_corpus:
      where = os.path.dirname(archive_of('x', 0, variant))
      raise FaithjaxError(f'--variants={variant}: no archive of --seeds under {where}')
    variants[variant] = (evaluated_runs.variant_change(base_by_corpus, by_corpus), by_corpus)
  return variants


def display(runs, corpus):
  return runs[corpus]['stages']['encode']['display_name']


def comparison_cell(row):
  """'ours [CI] | paper | difference', the pipes escaped for a markdown table."""
  ci = None if row['low'] is None else (row['low'], row['high'])
  ours = report.with_ci(row['ours'], ci) + (f' (sd {row["seed_sd"]:.3f})' if row.get('seeds', 1) > 1 else '')
  if row['paper'] is None:  # an evaluation the paper does not report
    return ours
  return f'{ours} \\| {row["paper"]:.3f} \\| {row["diff"]:+.3f}'


def comparison_table(runs, rows, key):
  corpora = study.corpora_of(runs)
  cells = {(r[key], r['corpus']): comparison_cell(r) for r in rows}
  names = list(dict.fromkeys(r[key] for r in rows))
  return report.markdown_table([key] + [display(runs, c) for c in corpora],
                               [[n] + [cells.get((n, c), '—') for c in corpora] for n in names])


def figure5(runs, out):
  """Weak-learner validation loss per epoch, one panel per corpus, one line per map."""
  corpora = study.corpora_of(runs)
  fig, axes = plt.subplots(1, len(corpora), figsize=(4.2 * len(corpora), 3.4), squeeze=False)
  for ax, corpus in zip(axes[0], corpora):
    for name, result in runs[corpus]['stages']['evaluate']['weak_learner'].items():
      losses = result['valid_loss']
      ax.plot(range(1, len(losses) + 1), losses, marker='o', ms=3, label=name)
    ax.set_title(display(runs, corpus))
    ax.set_xlabel('epoch')
    ax.set_ylabel('validation loss')
  axes[0][-1].legend(fontsize=7)
  path = os.path.join(out, f'figure5_{FLAGS.preset}{suffix()}.png')
  io.save_figure(fig, path)
  return path


def write_csv(path, rows):
  buffer = stdio.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for r in rows for k in r)), restval='')
  writer.writeheader()
  writer.writerows(rows)
  io.write_text(path, buffer.getvalue())


IG_TOLERANCE = 'explainer.integrated_gradients.tolerance'


def settings_section(runs):
  """The settings of each corpus's run, and a sentence where a setting differs from what --preset gives now."""
  keys = ('epochs', 'weak_epochs', 'ig_steps', 'quadrature', IG_TOLERANCE, 'test_subset', 'permutations',
          'deletion_mode', 'pad_rule', 'absolute', 'norm', 'target', 'seed')
  # '—': a field the run's config predates (an IG tolerance of '—' or 0 is the fixed rule of ig_steps, quadrature)
  rows = [[display(runs, c)] + [config_lib.saved_setting(runs[c]['config'], k, '—') for k in keys]
          for c in study.corpora_of(runs)]
  configs = {c: runs_lib.config_of(runs[c]['config']) for c in study.corpora_of(runs)}
  differ = {c: preset_differences(c, config.seed, config) for c, config in configs.items()}
  note = '; '.join(f'{display(runs, c)}: {", ".join(d)}' for c, d in differ.items() if d)
  return report.markdown_table(['corpus', *('ig_tolerance' if k == IG_TOLERANCE else k for k in keys)], rows) + (
      f'\n\nMade with settings other than `--preset={FLAGS.preset}` gives now (a preset revised since these runs; '
      f'the columns above say how): {note}.' if note else '')


def render(runs, figure_path):
  prov = next(iter(runs.values()))['provenance']
  corpora = study.corpora_of(runs)
  options = run_options() + (f' --corpora={",".join(corpora)}' if corpora != list(paper.CORPORA) else '')
  lines = ['# Reproduction of the study' + (f' with the {FLAGS.model} classifier' if suffix() else ''), '',
           f'Preset `{FLAGS.preset}`; command `python -m experiments.reproduce --preset={FLAGS.preset}{options}`; '
           f'rendered {provenance.now()} on {prov["device"]["kind"]} ({prov["device"]["platform"]}, '
           f'{prov["device"]["processor"]}); ' + provenance.versions_text(prov) + '.', '',
           'Each cell: ours [bootstrap 95% CI over test examples] | paper | ours − paper.', '',
           '## Settings that produced these numbers', '', settings_section(runs), '',
           '## Table 2: classifier on test', '', comparison_table(runs, study.table2_rows(runs), 'metric'), '']
  for evaluation in study.evaluation_names():
    lines += [f'## {study.title(evaluation)}', '',
              comparison_table(runs, study.comparison_rows(runs, evaluation), 'map'), '']
    ranks = study.ranking_agreement_with_paper(runs, evaluation)
    if not ranks:  # the paper has no such table
      continue
    lines += ['Our ranking of the explainers against the paper\'s (Kendall τ, exact permutation p):', '',
              report.markdown_table(['corpus', 'τ', 'p', 'ours (best first)', 'paper (best first)'],
                                    [[display(runs, c), r['tau'], r['p'], ', '.join(r['ours']), ', '.join(r['paper'])]
                                     for c, r in ranks.items()]), '']
  lines += ['## Figure 5: weak-learner validation loss per epoch', '', f'![Figure 5]({os.path.basename(figure_path)})', '']
  ours, theirs = study.conclusions(study.our_scores_by_evaluation(runs)), study.conclusions(study.paper_scores())
  lines += ['## The paper\'s conclusions, checked', '',
            report.markdown_table(['claim', 'ours', 'evidence (ours)', 'paper\'s numbers', 'evidence (paper)'],
                                  [[o['claim'], VERDICT[o['holds']], o['evidence'],
                                    'holds' if t['holds'] else 'does not hold', t['evidence']]
                                   for o, t in zip(ours, theirs)]), '']
  lines += ['## Do the evaluations agree? (per corpus, Kendall τ between explainer rankings)', '',
            report.markdown_table(['corpus', 'evaluation a', 'evaluation b', 'τ', 'p'],
                                  [[display(runs, c), r['a'], r['b'], r['tau'], r['p']]
                                   for c in runs for r in study.evaluation_agreement(runs[c])]), '']
  return '\n'.join(lines)


def seeded_rows(runs_by_corpus, draws_seed=0):
  """{table key: rows} of Table 2 and every evaluation over every seed; draws_seed: the bootstrap's."""
  draws = {c: metrics.two_level_draws(len(runs), len(runs[0].labels), evaluated_runs.design_of(runs),
                                      FLAGS.n_resamples, seed=draws_seed)
           for c, runs in runs_by_corpus.items()}
  return {'table2': evaluated_runs.seeded_table2_rows(runs_by_corpus, draws.get),
          **{e: evaluated_runs.seeded_rows(runs_by_corpus, e, draws.get) for e in study.evaluation_names()}}


def design_text(seeded: dict) -> str:
  """How the seeded tables' intervals were resampled, naming the design of every corpus (seeded rows' 'design')."""
  designs = sorted({(r['corpus'], r['design']) for rows in seeded.values() for r in rows})
  crossed = [c for c, d in designs if d == 'crossed']
  nested = [c for c, d in designs if d == 'nested']
  return ('t interval of the two-level bootstrap (metrics.two_level_interval): the seed variance from '
          f'{FLAGS.n_resamples} resamples of seeds with replacement, the test examples\' variance from '
          f'{FLAGS.n_resamples} resamples of examples; design crossed (every seed scored the same test documents, '
          'so one example draw is shared by all seeds) on ' + (', '.join(crossed) or 'no corpus')
          + (f', nested (each seed its own documents) on {", ".join(nested)}' if nested else '')
          + '; degrees of freedom by Welch–Satterthwaite (4 when 5 seeds\' spread dominates)')


def seeded_tables(runs_by_corpus):
  """(first seed's results, first seed's rows, every seed's rows): rows as {table key: rows} of Table 2 and every
  evaluation."""
  first = {c: runs[0].results() for c, runs in runs_by_corpus.items()}
  return first, single_seed_rows(first), seeded_rows(runs_by_corpus)


def single_seed_rows(results: dict) -> dict:
  """{table key: rows} of Table 2 and every evaluation, each cell one run's with its example-bootstrap CI."""
  return {'table2': study.table2_rows(results), **{e: study.comparison_rows(results, e) for e in study.evaluation_names()}}


def counts_section(first, single, seeded, before=None):
  """The closeness counts per corpus, first seed (example CI) beside every seed (two-level CI), and where
  `before` ({corpus: results} of an earlier reproduction) is given, that reproduction's counts first."""
  close = evaluated_runs.CLOSE
  header = ['corpus', 'seeds', 'cells', f'within {close} (seed {seeds()[0]})', f'inside CI (seed {seeds()[0]})',
            f'within {close} (all seeds)', 'inside CI (all seeds)']
  if before:
    header[3:3] = [f'within {close} (before)', 'inside CI (before)']
    before_rows = single_seed_rows(before)
  rows = []
  for corpus in [*first, None]:
    pick = lambda tables: [r for rs in tables.values() for r in rs if corpus in (None, r['corpus'])]
    then, now = evaluated_runs.closeness_counts(pick(single)), evaluated_runs.closeness_counts(pick(seeded))
    count = next(r['seeds'] for r in seeded['table2'] if r['corpus'] == corpus) if corpus else '—'
    row = [display(first, corpus) if corpus else 'all', count, now['cells'], then['within_05'],
           then['inside_ci'], now['within_05'], now['inside_ci']]
    if before:
      earlier = evaluated_runs.closeness_counts(pick(before_rows))
      row[3:3] = [earlier['within_05'], earlier['inside_ci']]
    rows.append(row)
  return report.markdown_table(header, rows)


def before_runs(first):
  """--before's runs ({corpus: results}) of the corpora in `first`, or None."""
  if not FLAGS.before:
    return None
  runs = io.read_json(FLAGS.before)
  return {c: runs[c] for c in first if c in runs} or None


def before_note(before):
  if not before:
    return []
  return [f'"Before": the single-seed reproduction `{FLAGS.before}` (its seed 0 with example-bootstrap CIs, over '
          'the same cells of the corpora it has), which this one replaces.', '']


def departure_records():
  """{name: record} of every experiments.departures result in --out (departures_<name>.json)."""
  paths = sorted(glob.glob(os.path.join(FLAGS.out, 'departures_*.json')))
  return {os.path.basename(p)[len('departures_'):-len('.json')]: io.read_json(p) for p in paths}


def not_reproduced_section(first, seeded, variants):
  """The cells not reproduced, largest gap first, each with how far every --variants reproduction (all its seeds)
  and every single-seed departure measurement in --out moves it."""
  missed = evaluated_runs.not_reproduced(seeded)
  cells = evaluated_runs.closeness_counts([r for rows in seeded.values() for r in rows])['cells']
  lines = ['## Not reproduced, and what moves it', '',
           f'{len(missed)} of the {cells} cells the paper reports lie more than {evaluated_runs.CLOSE} from it with an '
           'interval that excludes it: these are not reproduced here. Largest gap first.']
  if variants:
    lines[-1] += (' Each variant column is another reproduction of this preset over its own seeds (its archives, '
                  'the settings it changes named in the header): variant − ours [95% CI of the difference of the two '
                  'independent two-level bootstraps], and whether that brings the cell closer to the paper.')
  header = ['corpus', 'cell', 'map', 'ours', 'paper', 'ours − paper']
  header += [f'`{v}` ({changed}, {max(len(r) for r in by_corpus.values())} seeds) − ours'
             for v, (changed, by_corpus) in variants.items()]
  # Each variant's own bootstrap draws (seed i + 1): independent of this reproduction's (seed 0).
  variant_rows = {v: {(evaluated_runs.cell_name(t, r), r['corpus']): r
                      for t, rs in seeded_rows(by_corpus, i + 1).items() for r in rs}
                  for i, (v, (_, by_corpus)) in enumerate(variants.items())}
  rows, records, measured = [], departure_records(), []
  for table, row in missed:
    cell = evaluated_runs.cell_name(table, row)
    key = (cell, row['corpus'])
    moves = [evaluated_runs.variant_move(row, variant_rows[v][key]) if key in variant_rows[v] else None
             for v in variants]
    rows.append([display(first, row['corpus']), *cell, f'{row["ours"]:.3f}', f'{row["paper"]:.3f}',
                 f'{row["diff"]:+.3f}', *('—' if m is None else
                                          f'{report.signed_with_ci(m["move"], m["low"], m["high"])} → {m["variant"]:.3f}, {m["direction"]}'
                                          for m in moves)])
    found = evaluated_runs.departure_moves(row['corpus'], cell, row['diff'], records)
    measured.append([display(first, row['corpus']), *cell, f'{row["diff"]:+.3f}',
                     *('; '.join(f'{d} {report.signed_with_ci(*m)} ({name})' for name, d, *m, way in found if way == w)
                       or '—' for w in ('closer', 'further'))])
  lines += ['', report.markdown_table(header, rows), '']
  if records:
    lines += ['Single-seed measurements of the protocol departures (`experiments.departures`, '
              f'{", ".join(f"departures_{n}.json" for n in records)} in this folder; each at its own baseline, named '
              'in its .md: mostly the `reduced` preset with a 64-d BiLSTM, not this preset) that move these cells, '
              'variant − baseline [paired 95% CI], by whether they bring the cell closer to the paper:', '',
              report.markdown_table(['corpus', 'cell', 'map', 'ours − paper', 'closer', 'further'], measured), '']
  return lines


def render_seeded(first, single, seeded, variants):
  prov = next(iter(first.values()))['provenance']
  options, before = run_options(), before_runs(first)
  lines = [f'# Reproduction of the study over up to {len(seeds())} seeds' + (f' (`{options.strip()}`)' if options else ''), '',
           f'Preset `{FLAGS.preset}`; command `python -m experiments.reproduce --preset={FLAGS.preset}{options} '
           f'--corpora={",".join(first)} --seeds={",".join(FLAGS.seeds)}'
           + (f' --before={FLAGS.before}' if FLAGS.before else '')
           + (f' --variants={",".join(FLAGS.variants)}' if FLAGS.variants else '') + f'`; rendered {provenance.now()} on '
           f'{prov["device"]["kind"]} ({prov["device"]["platform"]}, {prov["device"]["processor"]}); '
           + provenance.versions_text(prov) + '.', '',
           'Each cell: the mean over the classifier seeds that finished (the count per corpus is below; seed = '
           'initialisation, batch order and '
           f'explainer randomness; one data split) [95% CI: {design_text(seeded)}] (sd over seeds) | paper | '
           'ours − paper. Weak-learner and classifier cells are F1 / accuracy per seed, then averaged.', '',
           '## How close to the paper', '',
           f'Cells the paper reports, within {evaluated_runs.CLOSE} of it, and whose interval contains it: for the first seed alone '
           f'with its example-bootstrap CI (what every table was before seeds), and over all seeds.', '',
           *before_note(before), counts_section(first, single, seeded, before), '',
           '## Settings that produced these numbers (first seed)', '', settings_section(first), '',
           '## Table 2: classifier on test', '', comparison_table(first, seeded['table2'], 'metric'), '']
  for evaluation in study.evaluation_names():
    lines += [f'## {study.title(evaluation)}', '', comparison_table(first, seeded[evaluation], 'map'), '']
  lines += not_reproduced_section(first, seeded, variants)
  return '\n'.join(lines)


def write_seeded(out):
  runs = seeded_runs()
  first, single, seeded = seeded_tables(runs)
  stem = os.path.join(out, f'reproduction_{FLAGS.preset}{suffix()}_seeds')
  io.write_text(stem + '.md', render_seeded(first, single, seeded, variant_runs(runs)))
  write_csv(stem + '.csv', [dict(table=t, **{k: v for k, v in r.items() if k != 'boot'})
                            for t, rows in seeded.items() for r in rows])
  print(f'wrote {stem}.md')


def main(argv):
  del argv
  if cli.config_overrides(PER_RUN) and not FLAGS.suffix:
    raise FaithjaxError(f'the RunConfig flags --{", --".join(cli.config_overrides(PER_RUN))} make runs other than '
                        "the preset's: name them with --suffix (e.g. --suffix=_lstm)")
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  if not FLAGS.tables_only:
    run_corpora()
  os.makedirs(FLAGS.out, exist_ok=True)
  archive_finished_seeds()  # a single seed too: it is the first seed of a later --seeds call
  if len(seeds()) > 1:
    write_seeded(FLAGS.out)
    return
  if seeds()[0] != 0:  # the single-seed tables are seed 0's; another seed counts in the seed-aware ones
    print(f'archived seed {seeds()[0]}; its tables: --seeds=0,{seeds()[0]} --tables_only')
    return
  runs = finished_runs()
  figure_path = figure5(runs, FLAGS.out)
  io.write_text(os.path.join(FLAGS.out, f'reproduction_{FLAGS.preset}{suffix()}.md'), render(runs, figure_path))
  rows = [dict(table=e, **r) for e in study.evaluation_names() for r in study.comparison_rows(runs, e)]
  write_csv(os.path.join(FLAGS.out, f'reproduction_{FLAGS.preset}{suffix()}.csv'), rows)
  io.write_json(os.path.join(FLAGS.out, f'reproduction_{FLAGS.preset}{suffix()}_runs.json'),
                {c: {'config': r['config'], 'stages': r['stages'], 'provenance': r['provenance']}
                 for c, r in runs.items()})
  print(f'wrote {FLAGS.out}/reproduction_{FLAGS.preset}{suffix()}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
