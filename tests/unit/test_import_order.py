"""Every pure-domain module imports first, on its own, in a fresh interpreter: the CLI's commands import them
in an order no test process does (``photostream rebuild`` once failed on a circular import that every test
passed: ``photostream.domain.unread`` → ``producers`` → ``producers.events`` → ``photostream.domain.unread``)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import photostream.domain

MODULES = sorted(f"photostream.domain.{m.name}" for m in pkgutil.iter_modules(photostream.domain.__path__))


@pytest.mark.parametrize("module", MODULES)
def test_a_domain_module_imports_first(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
