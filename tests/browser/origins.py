"""What a page can reach of another user's server: the probe a hostile student would serve.

``reach(page, at, target)`` makes the browser of a logged-in user open a page served at ``at``
(an address on some user's server; Playwright answers it, standing in for whatever a student gets
served there: a file, an HTML output, an extension) and returns what the page's script could do
to the server at ``target`` with that user's cookies: fetch a file through its contents API, read
it in a frame, read it in a window it opened; and whether the frame showed it at all. Each answer
is "read: <what>" or "blocked: <why>".
"""

from __future__ import annotations

import json

from playwright.sync_api import Page

PROBE = """<!doctype html><title>probe</title><body><script>
const target = %(target)s, file = %(file)s, results = {};
const reading = (doc) => doc.body.innerText.length + " characters: " + doc.body.innerText.slice(0, 60);
async function probe() {
  try {
    // with the XSRF token JupyterLab sends, as any script that can read the page's cookies would
    const xsrf = decodeURIComponent((document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "");
    const response = await fetch(target + "/api/contents/" + file, {credentials: "include",
                                                                     headers: {"X-XSRFToken": xsrf}});
    const text = await response.text();
    results.fetch = response.ok ? "read: " + text.length + " characters" + (text.includes("BEGIN SOLUTION") ?
      ", with the solutions" : "") : "blocked: HTTP " + response.status;
  } catch (e) { results.fetch = "blocked: " + e; }
  results.frame = await new Promise((done) => {
    const frame = document.createElement("iframe");
    frame.src = target + "/api/contents/" + file;
    frame.onload = () => { try { done("read: " + reading(frame.contentDocument)); }
                           catch (e) { done("blocked: " + e); } };
    document.body.appendChild(frame);
    setTimeout(() => done("blocked: nothing loaded in 20 s"), 20000);
  });
  results.window = await new Promise((done) => {
    const opened = window.open(target + "/api/contents/" + file);
    if (!opened) { done("blocked: no window"); return; }
    const started = Date.now();
    const poll = setInterval(() => {
      try {
        if (opened.document.readyState === "complete" && opened.location.href !== "about:blank") {
          clearInterval(poll); done("read: " + reading(opened.document)); opened.close();
        }
      } catch (e) { clearInterval(poll); done("blocked: " + e); opened.close(); }
      if (Date.now() - started > 20000) { clearInterval(poll); done("blocked: nothing loaded in 20 s"); }
    }, 200);
  });
  window.probed = results;
}
probe();
</script></body>"""


def _text(frame) -> str:
    try:
        return frame.content()
    except Exception as error:  # a frame Chromium replaced by its error page
        return f"({error})"


def reach(page: Page, at: str, target: str, file: str) -> dict[str, str]:
    """Serve the probe at ``at`` in ``page``'s browser context, open it, return what it could read."""
    html = PROBE % {"target": json.dumps(target), "file": json.dumps(file)}
    page.context.route(at, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    try:
        page.goto(at)
        page.wait_for_function("() => window.probed !== undefined", timeout=90_000)
        results = page.evaluate("() => window.probed")
        # What the frame showed on the screen (the browser's view, which no page script has): a page
        # that can frame the server can make its user click there, without reading anything.
        shown = [frame for frame in page.main_frame.child_frames if "BEGIN SOLUTION" in _text(frame)]
        results["shown in a frame"] = "read: the solutions" if shown else "blocked: nothing shown"
        return results
    finally:
        page.context.unroute(at)
