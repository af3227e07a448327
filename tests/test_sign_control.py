"""The sign control's |X| maps (pipeline.store_absolute_maps) against the explainers' own `.abs` transform."""

import numpy as np

from faithjax import config as config_lib
from faithjax import explain
from faithjax import io
from faithjax import pipeline
from faithjax import workdir as workdir_lib


def test_stored_absolute_maps_equal_the_abs_transform_and_skip_unsigned_maps(trained_synthetic, tmp_path):
  model, params, test = trained_synthetic.model, trained_synthetic.params, trained_synthetic.corpus.splits['test']
  ids = test.padded(np.arange(len(test)), int(test.lengths.max()))  # test_explain's batch: its program is reused
  mask = ids != 0
  explained = lambda name: np.asarray(explain.make_explainer(name, model)(params, ids, mask))[mask]  # ragged order
  work = workdir_lib.Workdir(str(tmp_path))
  signed = explained('input_x_gradient')
  io.save_npz(work.maps('input_x_gradient'), test=signed)
  io.save_npz(work.maps('positive'), test=np.abs(signed) + 1.)
  stored = pipeline.store_absolute_maps(config_lib.make_config('synthetic'), trained_synthetic.corpus, work,
                                       ('input_x_gradient', 'positive'))
  assert stored == ['input_x_gradient']
  np.testing.assert_array_equal(io.load_npz(work.maps('input_x_gradient.abs'))['test'],
                                explained('input_x_gradient.abs'))
  assert not (tmp_path / 'maps' / 'positive.abs.npz').exists()  # no negative value: |X| is X
