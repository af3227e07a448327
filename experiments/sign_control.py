"""The sign control (issue 15, item 2): which evaluation rewards a signed map, and by how much?

  python -m experiments.sign_control --corpus=synthetic --preset=smoke
  python -m experiments.sign_control --corpus=sst --preset=cpu --emb_dim=64 --hidden=64 --att_hidden=64 \
      --epochs=2 --explainer.integrated_gradients.steps=10 --weak_epochs=2 --test_subset=500 --permutations=50 \
      --explainers=saliency,input_x_gradient,integrated_gradients,attention,gradient_shap

Every RunConfig flag of run.py applies. The pipeline runs to its explain stage
in --workdir (default runs/sign_control/<corpus>/seed<seed>); then every
explainer's map X and |X| go through every evaluation, the weak learner and the
shuffle test under L2 and L1 (faithjax/meta/sign_control.py, in
<workdir>/sign_control/<norm>; a killed run resumes).

Writes <out>/sign_control_<corpus>.json (the SignControl record) and .md
(faithjax/meta/render_controls.py): per evaluation and explainer, signed and
|·| scores and the oriented difference with a paired bootstrap 95% CI and its
Benjamini–Hochberg-corrected p.
"""

import dataclasses
import os
import sys

from absl import flags
from absl import logging

from faithjax import cli
from faithjax import config as config_lib
from faithjax import io
from faithjax.meta import render_controls
from faithjax.meta import sign_control

FLAGS = flags.FLAGS
config_lib.define_compile_cache_flag()
config_lib.define_preset_flag('full')
flags.DEFINE_string('workdir', None, 'The run (default runs/sign_control/<corpus>/seed<seed>). Re-running resumes.')
flags.DEFINE_string('out', 'experiments/results', 'Where the report goes.')
flags.DEFINE_bool('summary_only', False, 'Only rebuild sign_control_<corpus>.md from its JSON in --out.')
cli.define_config_flags()


def main(argv):
  del argv  # flags only
  config_lib.enable_compile_cache(FLAGS.compile_cache)
  config = cli.config_from_flags(FLAGS.preset)
  stem = os.path.join(FLAGS.out, f'sign_control_{config.corpus}')
  if not FLAGS.summary_only:
    root = FLAGS.workdir or os.path.join('runs', 'sign_control', config.corpus, f'seed{config.seed}')
    record = sign_control.sign_control(config, root, FLAGS.preset, sys.argv[1:])
    os.makedirs(FLAGS.out, exist_ok=True)
    io.write_json(stem + '.json', dataclasses.asdict(record))
  io.write_text(stem + '.md', render_controls.sign_control_markdown(sign_control.load(io.read_json(stem + '.json'))))
  print(f'wrote {stem}.md')


if __name__ == '__main__':
  logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
  cli.run(main)
