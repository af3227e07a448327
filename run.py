"""faithjax command line, from a checkout: the same command as the installed `faithjax` (faithjax/command.py).

  python run.py                                  # the whole pipeline on the embedded synthetic corpus
  python run.py --corpus=sst --workdir=runs/sst  # a real corpus from ../shared/datasets
  python run.py --helpfull                       # every flag
"""

from faithjax import command

if __name__ == '__main__':
  command.entry()
