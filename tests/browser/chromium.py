"""Which Chromium the browser tests drive, and how (Debian's, headless, no network chatter)."""

import os
import shutil

CHROMIUM = os.environ.get("INN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for headless Chromium on a machine without a display, GPU or internet: the
# background-networking ones stop it from calling Google's services at every start.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MISSING = ("no Chromium on this machine: install Debian's chromium (apt-get install chromium), "
           "as .ci/run does, or set INN_CHROMIUM to a Chromium binary")
