# MathJax 3.2.2 for the book, served by the site itself so math renders offline (see _config.yml).
# Sourced by scripts/build-book.sh, and by scripts/install.sh in test mode. Fetched from the npm
# registry without node, sha512-checked, into the git-ignored _mathjax/mathjax/; only the parts
# the tex-mml-chtml component loads. Does nothing when already there.
.venv/bin/python scripts/install.d/npm_fetch.py mathjax 3.2.2 _mathjax/mathjax \
  es5/tex-mml-chtml.js es5/input/ es5/output/chtml/ es5/a11y/ es5/ui/
