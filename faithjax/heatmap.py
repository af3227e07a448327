"""Token heatmaps: one row of tokens per explainer, coloured by score (the paper's Figure 1).

A feature map gives one score per token. Each explainer's row is normalised by
its own max |score| over the whole document, so rows are comparable in shape,
not in scale. Colours come from one diverging map: red positive, white zero,
blue negative (Attention and Saliency are non-negative, so their rows are red
only).

`render_html` gives a standalone page (no external resources; the raw score of
each token in its tooltip); `render_png` a matplotlib figure that wraps long
documents and shows at most `max_tokens` tokens, ending in '…' when cut.
"""

import html
import os
from typing import Any, Mapping, Sequence
import unicodedata
import warnings

import matplotlib

matplotlib.use('Agg')  # files only; never a window
import matplotlib.figure
import matplotlib.patches
import matplotlib.pyplot as plt
from matplotlib.colors import to_hex
import numpy as np
import PIL.Image

from faithjax import FaithjaxError
from faithjax import io

CMAP = matplotlib.colormaps['RdBu_r']
MAX_TOKENS = 80    # render_png: tokens shown per document; the rest is replaced by '…'
LINE_CHARS = 90    # render_png: characters per wrapped line of tokens
ELLIPSIS = '…'


# ----------------------------------------------------------------------------- scores and colours

def check_maps(tokens: Sequence[str], maps: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """{name: <float64>[len(tokens)]}; a FaithjaxError when a map does not fit the tokens."""
  if not maps:
    raise FaithjaxError('no feature maps to draw: pass {explainer name: one score per token}')
  out = {}
  for name, scores in maps.items():
    scores = np.asarray(scores, np.float64)
    if scores.shape != (len(tokens),):
      raise FaithjaxError(f'feature map {name!r} has shape {scores.shape} for {len(tokens)} tokens: '
                          'pass exactly one score per token')
    if not np.isfinite(scores).all():
      raise FaithjaxError(f'feature map {name!r} holds NaN or infinite scores: fix the explainer that made it')
    out[str(name)] = scores
  return out


def normalise(scores: np.ndarray) -> np.ndarray:
  """`scores` / max |scores|, in [-1, 1]; an all-zero (or empty) row stays zero."""
  peak = np.abs(scores).max(initial=0.0)
  return scores / peak if peak > 0 else np.zeros_like(scores)


def colour(value: float) -> tuple[float, float, float, float]:
  """RGBA of a normalised score in [-1, 1]: red positive, white 0, blue negative."""
  return CMAP(0.5 + 0.5 * float(value))


def ink(rgba: Sequence[float]) -> str:
  """Text colour readable on `rgba`: white on dark backgrounds, near-black otherwise."""
  r, g, b = rgba[:3]
  return '#ffffff' if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else '#111111'


def info_line(info: Mapping[str, Any] | None) -> str:
  """'label: pos · prediction: neg (0.91)' from a {key: value} mapping."""
  return ' · '.join(f'{k}: {v}' for k, v in (info or {}).items())


# ----------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #111; }
h1 { font-size: 1.2em; margin-bottom: .2em; }
.info { color: #444; margin-bottom: 1em; }
.row { display: grid; grid-template-columns: 11em 1fr; border-top: 1px solid #ddd; padding: .4em 0; }
.name { font-weight: bold; }
.tok { padding: .1em .15em; border-radius: 3px; line-height: 1.9; white-space: pre; }
.empty { color: #888; font-style: italic; }
.legend { margin-top: 1em; color: #444; font-size: .9em; }
.bar { display: inline-block; width: 12em; height: .9em; vertical-align: middle;
       background: linear-gradient(to right, %s, %s, %s); }
"""


def _html_row(name, tokens, scores):
  """One explainer: its name, then every token on its colour, the raw score in the tooltip."""
  cells = []
  for token, score, value in zip(tokens, scores, normalise(scores)):
    rgba = colour(value)
    cells.append(f'<span class="tok" style="background:{to_hex(rgba)};color:{ink(rgba)}" '
                 f'title="{html.escape(name)}: {score:.4g}">{html.escape(token)}</span>')
  body = ' '.join(cells) or '<span class="empty">(empty document)</span>'  # spaces: lines may wrap between tokens
  return f'<div class="row"><div class="name">{html.escape(name)}</div><div>{body}</div></div>'


def render_html(tokens: Sequence[str], maps: Mapping[str, Any], title: str = '',
                info: Mapping[str, Any] | None = None) -> str:
  """A standalone HTML page: one row of `tokens` per explainer in `maps`.

  tokens: list of str. maps: {explainer name: <float>[len(tokens)] scores}.
  info: optional {key: value} shown under the title (e.g. label, prediction).
  Every string is escaped; each token's raw score is in its `title=` tooltip.
  """
  tokens = [str(t) for t in tokens]
  maps = check_maps(tokens, maps)
  css = _CSS % tuple(to_hex(colour(v)) for v in (-1, 0, 1))
  rows = '\n'.join(_html_row(name, tokens, scores) for name, scores in maps.items())
  return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f'<title>{html.escape(title or "faithjax heatmap")}</title><style>{css}</style></head>\n<body>\n'
          f'<h1>{html.escape(title)}</h1>\n<div class="info">{html.escape(info_line(info))}</div>\n'
          f'{rows}\n'
          '<div class="legend">−1 <span class="bar"></span> +1 &nbsp; score / max |score| of the row '
          '(raw score in each token\'s tooltip)</div>\n</body></html>\n')


# ----------------------------------------------------------------------------- PNG

FONT_PT = 10
CHAR_IN = 0.602 * FONT_PT / 72   # advance of one DejaVu Sans Mono character, in inches
LINE_IN = 1.9 * FONT_PT / 72     # height of one line of tokens, in inches
MONO = 'DejaVu Sans Mono'        # ships with matplotlib; fixed width makes the wrapping exact
NAME_MAX = 24                    # explainer names longer than this are cut with '…'


def shown(tokens: list[str], max_tokens: int = MAX_TOKENS) -> tuple[list[str], bool]:
  """(the tokens drawn, whether the document was cut): at most `max_tokens`."""
  return tokens[:max_tokens], len(tokens) > max_tokens


def wrap(widths: Sequence[int], line_chars: int = LINE_CHARS) -> list[tuple[int, int]]:
  """(line, column) of each item of `widths` characters, one space apart, lines of `line_chars`."""
  places, line, column = [], 0, 0
  for w in widths:
    if column and column + w > line_chars:
      line, column = line + 1, 0
    places.append((line, column))
    column += w + 1
  return places


def width(label: str) -> int:
  """Columns `label` takes in the monospace font: East Asian wide characters 2, others 1.

  (matplotlib draws a combining mark as a character of its own, so it takes 1.)
  """
  return sum(2 if unicodedata.east_asian_width(c) in 'WF' else 1 for c in label)


def _label(token, line_chars):
  """`token` as drawn: unprintable characters as '·', at least one column, cut with '…' to fit a line."""
  token = ''.join(c if c.isprintable() else '·' for c in token) or ' '
  if width(token) <= line_chars:
    return token
  kept, used = [], 1  # the '…'
  for c in token:
    used += width(c)
    if used > line_chars:
      break
    kept.append(c)
  return ''.join(kept) + ELLIPSIS


def _draw_token(ax, x, y, label, rgba):
  ax.add_patch(matplotlib.patches.Rectangle((x - 0.15, y + 0.15), width(label) + 0.3, 0.72,
                                            facecolor=rgba, edgecolor='none'))
  ax.text(x, y + 0.52, label, color=ink(rgba), va='center', ha='left', family=MONO, fontsize=FONT_PT,
          parse_math=False)  # tokens are text: '$' must not start mathtext


def _draw_row(ax, top, left, name, labels, places, values, cut):
  """One explainer's block of lines from line `top`, tokens from column `left`; returns its line count.

  values: the normalised scores of the drawn tokens.
  """
  ax.text(left - 2, top + 0.52, name, ha='right', va='center', family=MONO, fontsize=FONT_PT, weight='bold',
          parse_math=False)
  if not labels:
    ax.text(left, top + 0.52, '(empty document)', va='center', fontsize=FONT_PT, style='italic',
            color='#888888', parse_math=False)
    return 1
  for label, (line, column), value in zip(labels, places, values):
    _draw_token(ax, left + column, top + line, label, colour(value))
  if cut:  # wrap() placed the '…' after the last token
    line, column = places[-1]
    ax.text(left + column, top + line + 0.52, ELLIPSIS, va='center', fontsize=FONT_PT, parse_math=False)
  return places[-1][0] + 1


def _colourbar(fig, left_in, bottom_in, height_in):
  """A horizontal −1..+1 legend of the colours, its corner at (`left_in`, `bottom_in`) inches."""
  w, h = fig.get_size_inches()
  ax = fig.add_axes([left_in / w, bottom_in / h, 2.5 / w, height_in / h])
  ax.imshow(np.linspace(-1, 1, 256)[None], cmap=CMAP, vmin=-1, vmax=1, aspect='auto', extent=(-1, 1, 0, 1))
  ax.set_yticks([])
  ax.set_xticks([-1, 0, 1], ['−1', '0', '+1'], fontsize=FONT_PT - 2)
  ax.set_xlabel('score / max |score| of the row', fontsize=FONT_PT - 2)


def figure(tokens: Sequence[str], maps: Mapping[str, Any], title: str = '', info: Mapping[str, Any] | None = None,
           max_tokens: int = MAX_TOKENS, line_chars: int = LINE_CHARS, dpi: int = 110) -> matplotlib.figure.Figure:
  """The matplotlib Figure that `render_png` saves (the caller closes it)."""
  tokens = [str(t) for t in tokens]
  drawn, cut = shown(tokens, max_tokens)
  # a list, not a dict: two long names may be cut to the same label
  rows = [(_label(name, NAME_MAX), normalise(scores)[:len(drawn)])
          for name, scores in check_maps(tokens, maps).items()]
  labels = [_label(t, line_chars) for t in drawn]
  places = wrap([width(label) for label in labels] + [1] * cut, line_chars)
  notes = [s for s in (info_line(info), f'first {len(drawn)} of {len(tokens)} tokens shown' if cut else '') if s]
  left = max(width(name) for name, _ in rows) + 3  # columns: the names, then the tokens
  columns = left + line_chars + 1
  lines = 0.25 + bool(title) + len(notes) + len(rows) * ((places[-1][0] + 1 if places else 1) + 0.5) + 0.25
  legend_in = 0.75
  fig = plt.figure(figsize=(columns * CHAR_IN, lines * LINE_IN + legend_in), dpi=dpi, facecolor='white')
  ax = fig.add_axes([0, 1 - lines * LINE_IN / fig.get_figheight(), 1, lines * LINE_IN / fig.get_figheight()])
  ax.set_xlim(0, columns)
  ax.set_ylim(lines, 0)
  ax.axis('off')
  top = 0.25
  if title:
    ax.text(1, top + 0.5, title, va='center', fontsize=FONT_PT + 2, weight='bold', parse_math=False)
    top += 1
  for note in notes:
    ax.text(1, top + 0.5, note, va='center', fontsize=FONT_PT, color='#444444', parse_math=False)
    top += 1
  for name, values in rows:
    ax.axhline(top + 0.1, color='#dddddd', lw=0.8)
    top += 0.5 + _draw_row(ax, top + 0.25, left, name, labels, places, values, cut)
  _colourbar(fig, left * CHAR_IN, legend_in - 0.3, 0.13)
  return fig


def render_png(tokens: Sequence[str], maps: Mapping[str, Any], path: str, title: str = '',
               info: Mapping[str, Any] | None = None, max_tokens: int = MAX_TOKENS, line_chars: int = LINE_CHARS,
               dpi: int = 110) -> None:
  """Writes a PNG heatmap of `tokens` to `path` (atomically): one block of lines per explainer.

  tokens, maps, title, info: as `render_html`. Only the first `max_tokens`
  tokens are drawn (default 80: a figure stays readable), followed by '…' when
  the document is longer; colours are still normalised over the whole document.
  Lines wrap at `line_chars` characters; `dpi` sets the pixel size. The image
  is saved with a 256-colour palette: it looks the same and is about 3 times
  smaller.
  """
  fig = figure(tokens, maps, title, info, max_tokens, line_chars, dpi)
  try:
    with warnings.catch_warnings():  # a glyph the font lacks is drawn as a box; one warning each would flood the log
      warnings.filterwarnings('ignore', 'Glyph .* missing from font')
      fig.canvas.draw()
    rgb = np.array(fig.canvas.buffer_rgba())[..., :3]  # a copy: the buffer goes with the figure
  finally:
    plt.close(fig)
  image = PIL.Image.fromarray(rgb).quantize(256, method=PIL.Image.Quantize.MAXCOVERAGE)
  with io.atomic_path(path) as tmp:
    image.save(tmp, format='png', optimize=True)


# ----------------------------------------------------------------------------- files

def write_heatmaps(workdir: str, examples: Sequence[tuple[Sequence[str], Mapping[str, Any], Mapping | None]],
                   stem: str) -> list[str]:
  """Writes `workdir`/heatmaps/<stem>_<i>.html and .png for each example; returns the paths.

  examples: list of (tokens, maps, meta); meta is a dict whose optional
  'title' heads the figure and whose other entries (label, prediction, ...)
  are shown under it.
  """
  paths = []
  for i, (tokens, maps, meta) in enumerate(examples):
    meta = dict(meta or {})
    title = meta.pop('title', f'{stem} {i}')
    base = os.path.join(workdir, 'heatmaps', f'{stem}_{i}')
    io.write_text(base + '.html', render_html(tokens, maps, title, meta))
    render_png(tokens, maps, base + '.png', title, meta)
    paths += [base + '.html', base + '.png']
  return paths
