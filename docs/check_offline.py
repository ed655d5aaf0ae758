"""The built site shows its mathematics with no network (the docs tox env runs this after the build).

1. Every page's scripts and stylesheets are local: no ``http(s)://`` or protocol-relative ``src``/``href``
   for a script or stylesheet, and the MathJax entry point exists under ``_static/mathjax``.
2. With headless Chromium on the PATH (Debian: ``apt-get install chromium``) and ``unshare`` allowed, a guide
   page is rendered in a network namespace with no interface but loopback, and MathJax must have typeset its
   formulas (``<mjx-container>`` elements in the DOM); ``--screenshot PATH`` keeps a picture of it. Without
   Chromium this step says so and is skipped; step 1 still runs.

Usage: ``python docs/check_offline.py docs/_build/html [--page user_guide/hippo.html] [--screenshot out.png]``
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

REMOTE = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"(?:https?:)?//[^\"]*\"", re.IGNORECASE)


def remote_assets(site: Path) -> list[str]:
    """``page: tag`` for every script or stylesheet a page would fetch from the network."""
    found = []
    for page in sorted(site.rglob("*.html")):
        for match in REMOTE.finditer(page.read_text(encoding="utf-8")):
            tag = match.group(0)
            if "<link" in tag.lower() and "stylesheet" not in tag.lower() and "preload" not in tag.lower():
                continue  # links to other sites (canonical, prev/next) load nothing
            found.append(f"{page.relative_to(site)}: {tag}")
    return found


def rendered_formulas(page: Path, screenshot: Path | None) -> int | None:
    """``<mjx-container>`` count of ``page`` rendered offline, or None when no browser/namespace is available."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    unshare = shutil.which("unshare")
    if browser is None or unshare is None:
        return None
    base = [unshare, "--net", "--", browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    base += ["--virtual-time-budget=10000"]
    url = page.resolve().as_uri()
    try:
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True)
    except (subprocess.CalledProcessError, OSError) as exc:  # unshare refused (no privileges): cannot isolate
        print(f"check_offline: cannot run chromium without network here ({exc}); browser step skipped")
        return None
    if screenshot is not None:
        subprocess.run(
            [*base, "--window-size=1100,1400", f"--screenshot={screenshot}", url],
            capture_output=True,
            timeout=120,
            check=True,
        )
    return dom.stdout.count("<mjx-container")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built HTML folder")
    parser.add_argument("--page", default="user_guide/hippo.html", help="a page with formulas")
    parser.add_argument("--screenshot", type=Path, help="write a PNG of the page rendered offline")
    args = parser.parse_args(argv)
    failures = remote_assets(args.site)
    for failure in failures:
        print(f"check_offline: remote asset {failure}")
    if not (args.site / "_static" / "mathjax" / "tex-chtml.js").is_file():
        failures.append("_static/mathjax/tex-chtml.js missing")
        print("check_offline: MathJax is not in the site (_static/mathjax/tex-chtml.js)")
    count = rendered_formulas(args.site / args.page, args.screenshot)
    if count is None:
        print("check_offline: chromium not found; the browser step is skipped (assets checked)")
    elif count == 0:
        failures.append("no formula typeset")
        print(f"check_offline: MathJax typeset no formula on {args.page} with the network off")
    else:
        print(f"check_offline: {count} formulas typeset on {args.page} with the network off")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
