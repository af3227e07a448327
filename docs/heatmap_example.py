"""Renders docs/heatmap_example.png from a made-up review: `python -m docs.heatmap_example`."""

import os

import numpy as np

from faithjax import heatmap

HERE = os.path.dirname(os.path.abspath(__file__))
REVIEW = ("i expected a dull remake but the acting is superb and the score is wonderful , although the "
          "middle drags a little and one subplot is pointless ; still the ending is moving and i would "
          "happily watch it again with friends on a rainy sunday afternoon because it never feels cheap "
          "or lazy and the director clearly loves these characters more than the studio did")


def made_up_maps(tokens):
  """Plausible-looking scores: positive on praise, negative on criticism, small noise elsewhere."""
  rng = np.random.default_rng(0)
  praise = {'superb': 1.0, 'wonderful': 0.9, 'moving': 0.7, 'happily': 0.6, 'loves': 0.5}
  blame = {'dull': -0.8, 'drags': -0.6, 'pointless': -0.7, 'cheap': -0.4, 'lazy': -0.4}
  signal = np.array([praise.get(t, blame.get(t, 0.0)) for t in tokens])
  noise = rng.normal(0, 0.08, len(tokens))
  attention = np.exp(4 * np.abs(signal) + noise)
  return {
      'Saliency': np.abs(signal + 3 * noise) + 0.2,
      'Input×Gradient': signal + noise,
      'Integrated Gradients': 1.2 * signal + 0.5 * noise,
      'Attention': attention / attention.sum(),
  }


def main():
  tokens = REVIEW.split()
  maps = made_up_maps(tokens)
  meta = {'label': 'positive', 'prediction': 'positive (p = 0.94)'}
  title = 'Made-up IMDB-style review'
  heatmap.render_png(tokens, maps, os.path.join(HERE, 'heatmap_example.png'), title, meta)


if __name__ == '__main__':
  main()
