"""The map-property probe (issue 15, item 3): what does each evaluation reward?

  python -m experiments.probe --seeds=0,1,2,3,4 --preset=smoke

On the synthetic corpus, per seed: the classifier is trained (in
<runs_dir>/seed<N>) and every evaluation scores the constructed maps of
faithjax/faithfulness/probe_maps.py and the baselines (in
<runs_dir>/seed<N>/probe; a killed run resumes); maps that differ in one
property are contrasted over the seeds (faithjax/meta/probe.py).

Writes <out>/probe_synthetic.json (the Probe record), probe_synthetic.md and one
response-curve figure per evaluation, probe_synthetic_<evaluation>.png
(faithjax/meta/render_controls.py).
"""

import dataclasses
import os

from absl import flags
from absl import logging

from faithjax import cli
from faithjax import config as config_lib
from faithjax import io
from faithjax.meta import probe
from faithjax.meta import render_controls

FLAGS = flags.FLAGS
config_lib.define_compile_cache_flag()
flags.DEFINE_list('seeds', ['0', '1', '2', '3', '4'], 'One classifier (and one draw of the random maps) per seed.')
config_lib.define_preset_flag('smoke', of=' per seed')
flags.DEFINE_string('runs_dir', 'runs/probe/synthetic', 'Parent of the per-seed workdirs.')
flags.DEFINE_string('out', 'experiments/results', 'Where the report goes.')
flags.DEFINE_bool('summary_only', False, 'Only rebuild probe_synthetic.md from the probe_synthetic.json in --out.')

STEM = 'probe_synthetic'


def main(argv):
  del argv
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  stem = os.path.join(FLAGS.out, STEM)
  if not FLAGS.summary_only:
    os.makedirs(FLAGS.out, exist_ok=True)
    io.write_json(stem + '.json', dataclasses.asdict(probe.probe(list(map(int, FLAGS.seeds)), FLAGS.preset,
                                                                 FLAGS.runs_dir)))
  record = probe.load(io.read_json(stem + '.json'))
  for score in dict.fromkeys(s.score for s in record.scores):
    render_controls.probe_figure(record, score, f'{stem}_{score}.png')
  io.write_text(stem + '.md', render_controls.probe_markdown(record, STEM))
  print(f'wrote {stem}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
