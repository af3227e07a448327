"""Every public function of the typed modules annotates its arguments and its return (issue 34, item 7).

Public: a name without a leading '_', at any depth (methods and nested functions included, as the coverage count
of the issue counts them); self and cls need no annotation. A module joins TYPED once every public function in it
is annotated; this test then keeps it so.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'faithjax'
TYPED = (
    'adaptive_quadrature.py', 'artefacts.py', 'bench.py', 'concordance.py', 'interrupts.py', 'io.py', 'memory.py',
    'metrics.py', 'parallel.py', 'report.py', 'runs.py', 'study.py', 'timing.py', 'train.py', 'variance.py',
    'data/__init__.py', 'data/corpora.py', 'data/encode.py', 'data/fetch.py', 'data/inputs.py', 'data/synthetic.py',
    'data/text.py',
    'faithfulness/__init__.py', 'faithfulness/deletion.py', 'faithfulness/diagnostics.py', 'faithfulness/eraser.py',
    'faithfulness/evaluations.py', 'faithfulness/naopc.py', 'faithfulness/probe_maps.py', 'faithfulness/shuffle.py',
    'faithfulness/weak_learner.py',
    'meta/probe.py', 'meta/render_controls.py', 'meta/seeds.py', 'meta/seeds_render.py', 'meta/sign_control.py',
    'meta/stats.py', 'meta/stats_render.py',
    'models/__init__.py', 'models/classifier.py', 'models/contract.py', 'models/transformer.py',
    'models/weak_learner.py',
)


def unannotated(source: str) -> list[str]:
  """'line: name' of every public function in `source` that lacks an annotation on an argument or its return."""
  missing = []
  for node in sorted(ast.walk(ast.parse(source)), key=lambda node: getattr(node, 'lineno', 0)):
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith('_'):
      continue
    args = node.args
    named = [*args.posonlyargs, *args.args, *args.kwonlyargs, *filter(None, (args.vararg, args.kwarg))]
    bare = [a.arg for a in named if a.annotation is None and a.arg not in ('self', 'cls')]
    if bare or node.returns is None:
      missing.append(f'{node.lineno}: {node.name} ({", ".join(bare + ["return"] * (node.returns is None))})')
  return missing


def test_the_typed_modules_exist():
  assert [m for m in TYPED if not (PACKAGE / m).is_file()] == []  # a moved module is moved here too


@pytest.mark.parametrize('module', TYPED)
def test_every_public_function_is_annotated(module):
  assert unannotated((PACKAGE / module).read_text(encoding='utf-8')) == []


def test_the_check_finds_what_is_missing():
  source = '''
def typed(a: int, *rest: str, b: float = 1., **options: bool) -> None: ...
def _private(a): ...
def bare_argument(a, b: int) -> int: ...
def no_return(a: int): ...
class Record:
  def method(self, value) -> None:
    def inner(x: int): ...
  @classmethod
  def make(cls) -> 'Record': ...
def variadic(*args, **kwargs) -> None: ...
'''
  assert unannotated(source) == ['4: bare_argument (a)', '5: no_return (return)', '7: method (value)',
                                 '8: inner (return)', '11: variadic (args, kwargs)']
