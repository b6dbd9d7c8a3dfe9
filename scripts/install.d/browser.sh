# Sourced by scripts/install.sh in test mode (it defines apt_install and as_root).
# The browser tests (tests/test_site.py) drive Debian's Chromium through Playwright, launched with
# executable_path=/usr/bin/chromium: never `playwright install` (it downloads its own browser).
apt_install chromium fonts-dejavu-core
# axe-core (accessibility rules, injected into each page), sha512-checked from the npm registry
# into the git-ignored node_modules/axe-core/.
.venv/bin/python scripts/install.d/npm_fetch.py axe-core 4.14.1 node_modules/axe-core axe.min.js
