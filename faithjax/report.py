"""report.md: the run's tables in markdown, rendered from results.json's content."""

from faithjax import provenance
from faithjax.data.encode import SPLITS


def markdown_table(header, rows):
  """header: column names; rows: lists of cells (floats shown with 3 decimals)."""
  cell = lambda v: f'{v:.3f}' if isinstance(v, float) else str(v)
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(cell(v) for v in row) + ' |' for row in rows]
  return '\n'.join(lines)


def _corpus_section(encode):
  rows = [[s, encode['sizes'][s], encode['truncated'].get(s, 0)] for s in SPLITS]
  return [f'## Corpus: {encode["display_name"]}', '',
          f'Protocol: {encode["protocol"]}.', '',
          f'Vocabulary: {encode["vocab_size"]} ids (PAD 0, UNK 1); maximum length: {encode["max_len"]} tokens.', '',
          markdown_table(['split', 'examples', 'truncated'], rows), '']


def _train_section(trained):
  test = trained['test']
  history = [[h['epoch'], h['train_loss'], h['valid_loss'], h['valid_accuracy'], h['valid_roc_auc']]
             for h in trained['history']]
  return ['## Classifier (Table 2)', '',
          markdown_table(['accuracy', 'F1 (positive)', 'F1 (macro)', 'ROC-AUC'],
                         [[test['accuracy'], test['f1'], test['macro_f1'], test['roc_auc']]]), '',
          f'Selected epoch {trained["selected_epoch"]} by validation ROC-AUC.', '',
          markdown_table(['epoch', 'train loss', 'valid loss', 'valid accuracy', 'valid ROC-AUC'], history), '']


SECTIONS = {'encode': _corpus_section, 'train': _train_section}


def render(results):
  config, stages = results['config'], results['stages']
  prov = results['provenance']
  lines = [f'# faithjax run: {config["corpus"]}', '',
           f'Rendered {provenance.now()} by `{prov["command"]}` on {prov["device"]["kind"]} '
           f'({prov["device"]["platform"]}).', '']
  for stage, section in SECTIONS.items():
    if stage in stages:
      lines += section(stages[stage])
  lines += ['## Config', '', markdown_table(['field', 'value'], sorted(config.items())), '',
            '## Versions', '', markdown_table(['library', 'version'], sorted(prov['versions'].items())), '']
  return '\n'.join(lines)
