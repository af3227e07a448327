"""Every public function of the package annotates its arguments and its return (issue 34, item 7).

Public: a name without a leading '_', at any depth (methods and nested functions included, as the coverage count
of the issue counts them); self and cls need no annotation. Every module of the package is checked, a new one too.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'faithjax'
MODULES = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob('*.py'))


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


def test_the_walk_finds_the_modules():
  # a moved package would leave nothing to check, and every check below would pass
  assert {'__init__.py', 'explain.py', 'data/encode.py', 'faithfulness/deletion.py', 'meta/measure.py',
          'models/contract.py'} <= set(MODULES)


@pytest.mark.parametrize('module', MODULES)
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
