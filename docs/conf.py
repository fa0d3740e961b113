"""Sphinx settings for asynchttp's documentation.

Build: ``pip install '.[docs]'`` then ``sphinx-build -W -b html docs docs/_build/html``
(CI runs the same, warnings as errors).
"""

import os
import sys

# The checkout's packages, for autodoc (docs/api.rst), whether or not they are installed.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

project = "asynchttp"
author = "the asynchttp authors"
copyright = "the asynchttp authors, MIT licence"
release = "0.1.0"
version = release

extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
root_doc = "index"
html_theme = "alabaster"
html_static_path: list = []
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Type hints stay in the signatures; the prose says what each argument means.
autodoc_typehints = "signature"
