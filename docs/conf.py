"""Sphinx configuration for the aiosonic documentation."""

project = "aiosonic"
author = "aiosonic developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "alabaster"
exclude_patterns = ["_build"]
napoleon_use_ivar = True  # "Attributes:" as fields: no second description of a property
