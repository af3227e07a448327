"""The layering contracts of pyproject.toml ([tool.importlinter]): an upward import fails the suite."""

import os

from importlinter import cli  # the test extra: pip install -e .[test]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_imports_only_go_down_the_layers():
  status = cli.lint_imports(config_filename=os.path.join(ROOT, 'pyproject.toml'), no_cache=True, no_logo=True)
  assert status == cli.EXIT_STATUS_SUCCESS  # the contracts and what broke them are printed above
