"""Shared test set-up: a persistent compile cache so re-traced programs are not recompiled."""

import os
import tempfile

from faithjax import config

config.enable_compile_cache(os.environ.get('FAITHJAX_TEST_CACHE',
                                           os.path.join(tempfile.gettempdir(), 'faithjax-test-jax-cache')))
