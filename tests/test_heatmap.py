"""Token heatmaps: PNG and HTML output, colours, escaping, long and empty documents, errors."""

import html
import os
import re
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from faithjax import FaithjaxError
from faithjax import heatmap

TOKENS = ['the', 'acting', 'is', 'superb', 'but', 'dull']
MAPS = {
    'Saliency': [0.1, 0.3, 0.0, 1.0, 0.2, 0.6],
    'Integrated Gradients': [0.0, 0.2, -0.1, 0.9, -0.3, -0.8],
}


def backgrounds(page):
  """The background colour of every token span in an HTML page, in order, as RGB in [0, 1]."""
  return [np.array([int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)])
          for h in re.findall(r'class="tok" style="background:#([0-9a-f]{6})', page)]


def token_patches(fig):
  """Face colours (RGB) of the token boxes of a heatmap figure, in drawing order."""
  return [np.array(p.get_facecolor()[:3]) for p in fig.axes[0].patches]


def test_png_reads_back_with_the_size_of_its_layout(tmp_path):
  path = tmp_path / 'h.png'
  heatmap.render_png(TOKENS, MAPS, path, 'A review', {'label': 'positive'}, dpi=80)
  image = plt.imread(path)
  fig = heatmap.figure(TOKENS, MAPS, 'A review', {'label': 'positive'}, dpi=80)
  expected = fig.canvas.get_width_height()[::-1]
  plt.close(fig)
  assert image.shape[:2] == expected and image.shape[2] in (3, 4)
  assert image.std() > 0.05  # not a blank page
  assert not list(tmp_path.glob('.*.tmp'))  # written atomically


def height(tokens, maps, **kwargs):
  fig = heatmap.figure(tokens, maps, **kwargs)
  plt.close(fig)
  return fig.get_figheight()


def test_long_documents_wrap_and_stop_at_max_tokens():
  words = lambda n: [f'word{i}' for i in range(n)]
  zeros = lambda n: {'Saliency': np.zeros(n)}
  assert height(words(10), zeros(10)) < height(words(60), zeros(60))  # wrapped over more lines
  cut = height(words(heatmap.MAX_TOKENS + 1), zeros(heatmap.MAX_TOKENS + 1))
  assert height(words(1000), zeros(1000)) == cut  # both show MAX_TOKENS tokens
  fig = heatmap.figure(words(1000), zeros(1000), max_tokens=30)
  texts = [t.get_text() for t in fig.axes[0].texts]
  plt.close(fig)
  assert texts.count(heatmap.ELLIPSIS) == 1 and 'first 30 of 1000 tokens shown' in texts
  assert 'word29' in texts and 'word30' not in texts


def test_each_explainer_is_one_block_of_rows():
  one = height(TOKENS, {'Saliency': MAPS['Saliency']})
  assert height(TOKENS, MAPS) > one


def test_wrapped_lines_fit_their_width():
  widths = [3, 10, 1, 7, 7, 7, 20, 2, 2]
  places = heatmap.wrap(widths, line_chars=20)
  assert all(column + w <= 20 for w, (_, column) in zip(widths, places))
  assert [line for line, _ in places] == sorted(line for line, _ in places)
  assert places[0] == (0, 0) and places[6] == (places[5][0] + 1, 0)


def test_a_token_longer_than_a_line_is_cut():
  fig = heatmap.figure(['x' * 200, '語' * 100], {'IG': [1, 2]}, line_chars=30)
  labels = [t.get_text() for t in fig.axes[0].texts][1:]  # after the explainer's name
  plt.close(fig)
  assert labels == ['x' * 29 + heatmap.ELLIPSIS, '語' * 14 + heatmap.ELLIPSIS]
  assert heatmap.width('語' * 14 + heatmap.ELLIPSIS) == 29  # a wide character takes 2 columns


def test_html_escapes_every_token_and_name():
  tokens = ['<script>alert(1)</script>', 'a&b', '"quoted"', "it's", 'plain']
  maps = {'<b>Saliency</b>': np.arange(5.0)}
  page = heatmap.render_html(tokens, maps, title='<i>t</i>', info={'label': '<pos>'})
  assert '<script>' not in page and '<b>' not in page and '<i>' not in page and '<pos>' not in page
  for token in tokens:
    assert f'>{html.escape(token)}</span>' in page
  assert page.count('class="tok"') == len(tokens)
  assert 'title="&lt;b&gt;Saliency&lt;/b&gt;: 4"' in page  # the raw score in the tooltip
  assert 'http' not in page and '<link' not in page  # standalone


def test_colours_follow_the_sign():
  page = heatmap.render_html(TOKENS, {'IG': [2.0, -2.0, 0.0, 1.0, -0.5, 0.0]})
  fig = heatmap.figure(TOKENS, {'IG': [2.0, -2.0, 0.0, 1.0, -0.5, 0.0]})
  for rgb in (backgrounds(page), token_patches(fig)):
    (r0, _, b0), (r1, _, b1), white = rgb[0], rgb[1], rgb[2]
    assert r0 > 2 * b0 and b1 > 2 * r1  # red positive, blue negative
    assert white.min() > 0.9  # zero is (near) white
    assert rgb[0].sum() < rgb[3].sum()  # the larger |score|, the darker
  plt.close(fig)


def test_each_row_is_normalised_by_its_max_abs_score():
  small = heatmap.render_html(TOKENS, {'a': [0.1, 0.2, 0.0, 0.4, -0.2, 0.3]})
  large = heatmap.render_html(TOKENS, {'a': [10, 20, 0, 40, -20, 30]})
  assert np.allclose(backgrounds(small), backgrounds(large))
  np.testing.assert_allclose(backgrounds(small)[3], heatmap.colour(1.0)[:3], atol=1 / 255)


def test_non_negative_maps_are_red_only():
  page = heatmap.render_html(TOKENS, {'Attention': [0.1, 0.3, 0.05, 0.4, 0.05, 0.1]})
  assert all(r >= b for r, _, b in backgrounds(page))


def test_empty_document(tmp_path):
  maps = {'Saliency': [], 'Attention': np.zeros(0)}
  page = heatmap.render_html([], maps)
  assert page.count('(empty document)') == 2
  heatmap.render_png([], maps, tmp_path / 'empty.png')
  assert plt.imread(tmp_path / 'empty.png').shape[0] > 0


@pytest.mark.parametrize('maps, match', [
    ({'Saliency': [0.1, 0.2]}, r"'Saliency' has shape \(2,\) for 6 tokens: pass exactly one score per token"),
    ({'Saliency': np.zeros((6, 2))}, r'shape \(6, 2\) for 6 tokens'),
    ({'IG': [0, 0, np.nan, 0, 0, 0]}, 'NaN or infinite'),
    ({}, 'no feature maps'),
])
def test_maps_that_do_not_fit_raise_a_clear_error(tmp_path, maps, match):
  with pytest.raises(FaithjaxError, match=match):
    heatmap.render_html(TOKENS, maps)
  with pytest.raises(FaithjaxError, match=match):
    heatmap.render_png(TOKENS, maps, tmp_path / 'x.png')
  assert not os.listdir(tmp_path)


def test_odd_tokens_render_as_text_without_warnings(tmp_path):
  tokens = ['$x$', '\\frac{', '日本語', 'tab\there', '', '_', 'é']
  with warnings.catch_warnings():
    warnings.simplefilter('error')  # mathtext errors, missing glyphs, ...
    heatmap.render_png(tokens, {'IG': np.linspace(-1, 1, len(tokens))}, tmp_path / 'odd.png', '$100 & <b>')
  fig = heatmap.figure(tokens, {'IG': np.zeros(len(tokens))})
  texts = [t.get_text() for t in fig.axes[0].texts]
  plt.close(fig)
  assert '$x$' in texts and 'tab·here' in texts  # unprintable characters shown as '·'


def test_write_heatmaps_writes_one_html_and_png_per_example(tmp_path):
  examples = [(TOKENS, MAPS, {'title': 'first', 'label': 'pos', 'prediction': 'pos (0.9)'}),
              (TOKENS[:2], {'Saliency': [1, 2]}, {})]
  paths = heatmap.write_heatmaps(tmp_path, examples, 'test')
  expected = [tmp_path / 'heatmaps' / f'test_{i}.{ext}' for i in (0, 1) for ext in ('html', 'png')]
  assert [str(p) for p in expected] == paths
  assert sorted(os.listdir(tmp_path / 'heatmaps')) == sorted(p.name for p in expected)
  first = (tmp_path / 'heatmaps' / 'test_0.html').read_text(encoding='utf-8')
  assert '<h1>first</h1>' in first and 'label: pos · prediction: pos (0.9)' in first
  assert '<h1>test 1</h1>' in (tmp_path / 'heatmaps' / 'test_1.html').read_text(encoding='utf-8')
