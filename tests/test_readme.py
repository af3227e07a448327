"""README.md stays short, opens with its two commands, and its Python examples run as written."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
MAX_BYTES = 15 * 1024
COMMANDS = ("python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python run.py",
            '.venv/bin/python -m pytest -q')


def read():
  with open(README, encoding='utf-8') as f:
    return f.read()


def python_blocks(text):
  """Every ```python block of a Markdown text, in order."""
  return re.findall(r'^```python\n(.*?)^```$', text, flags=re.M | re.S)


def test_readme_is_at_most_15_kb():
  assert os.path.getsize(README) <= MAX_BYTES, f'README.md is {os.path.getsize(README)} bytes'


def test_readme_opens_with_the_two_commands():
  text = read()
  first = re.search(r'^```(\w*)\n(.*?)^```$', text, flags=re.M | re.S)
  assert first and first.group(1) == 'bash'
  assert tuple(first.group(2).splitlines()) == COMMANDS
  assert text[:first.start()].strip() == '# faithjax'  # nothing before them but the title


def test_readme_has_python_examples():
  assert python_blocks(read())


@pytest.mark.parametrize('index', range(len(python_blocks(read()))))
def test_readme_python_block_runs_as_written(index, tmp_path):
  """Each block runs on its own in a fresh interpreter, from a temp dir, with this checkout importable."""
  code = python_blocks(read())[index]
  script = tmp_path / f'readme_block_{index}.py'
  script.write_text(code, encoding='utf-8')
  env = {**os.environ, 'PYTHONPATH': os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep)}
  done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=300)
  assert done.returncode == 0, f'README python block {index} failed:\n{code}\n{done.stdout}\n{done.stderr}'
