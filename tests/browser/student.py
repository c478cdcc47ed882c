"""What a student does with the notebook in JupyterLab, as Playwright calls on one page.

Selectors are JupyterLab 4's and nbgrader 0.9's own class names and command ids
(``runmenu:restart-and-run-all``, ``.validate-button``, ``#validation-message``), so a test
clicks the same menu entries and buttons a student clicks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CELLS = ".jp-NotebookPanel .jp-Notebook .jp-Cell"
KERNEL_IDLE = "#jp-main-statusbar >> text=| Idle"
# JupyterLab renders error tracebacks and stderr streams with this MIME type.
ERROR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


@dataclass
class Validation:
    """What nbgrader's Validate dialog said."""

    outcome: str  # success, failed, changed, type-changed, or error (nbgrader's own classes)
    failed_sources: list[str] = field(default_factory=list)  # the cells it lists as failed
    errors: list[str] = field(default_factory=list)  # the traceback shown under each
    text: str = ""


class StudentNotebook:
    """One notebook open in JupyterLab: read it, run it, validate it, photograph it."""

    def __init__(self, page: Page, url: str, timeout_s: float = 600):
        self.page = page
        self.timeout_ms = timeout_s * 1000
        page.goto(url)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
        page.wait_for_selector(KERNEL_IDLE, timeout=90_000)

    @property
    def cells(self):
        return self.page.locator(CELLS)

    def cell(self, index: int):
        return self.cells.nth(index)

    def _per_cell(self, function: str, arg=None) -> list:
        """``function(cell, arg)`` (JavaScript) evaluated on every cell of the notebook, in order."""
        return self.cells.evaluate_all(f"(cells, arg) => cells.map(cell => ({function})(cell, arg))", arg)

    def headings(self, level: int = 2) -> list[str]:
        texts = self.page.locator(f".jp-NotebookPanel .jp-RenderedMarkdown h{level}").all_text_contents()
        return [t.replace("\u00b6", "").strip() for t in texts]  # ¶ is JupyterLab's anchor link

    def wait_for_maths(self, indices: list[int]) -> None:
        """Wait until MathJax has typeset every one of these markdown cells."""
        self.page.wait_for_function(
            """([selector, indices]) => { const cells = document.querySelectorAll(selector);
                                          return indices.every(i => cells[i] && cells[i].querySelector('mjx-container')); }""",
            arg=[CELLS, indices], timeout=60_000)

    def maths_problems(self) -> list[str]:
        """MathJax errors, and dollar signs left in the rendered text (maths that was not typeset)."""
        problems = [f"MathJax error: {t}" for t in self.page.locator("mjx-merror").all_text_contents()]
        leftovers = self.page.evaluate(
            """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-MarkdownCell .jp-RenderedMarkdown')]
                 .map(el => { const c = el.cloneNode(true);
                              c.querySelectorAll('code, pre, mjx-container').forEach(n => n.remove());
                              return c.textContent; })
                 .filter(t => t.includes('$'))""")
        return problems + [f"untypeset maths in: {t.strip()[:120]}" for t in leftovers]

    def restart_and_run_all(self) -> None:
        """Run > Restart Kernel and Run All Cells, confirm, and wait until every queued cell has run."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator('li[data-command="runmenu:restart-and-run-all"]').click()
        self.page.locator(".jp-Dialog .jp-mod-accept").click()
        prompts = "[...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')].map(e => e.textContent)"
        self.page.wait_for_function(f"() => {prompts}.some(t => t.includes('*'))", timeout=60_000)
        self.page.wait_for_function(f"() => !{prompts}.some(t => t.includes('*'))", timeout=self.timeout_ms)
        self.page.wait_for_selector(KERNEL_IDLE, timeout=60_000)

    def run_cell(self, index: int) -> str:
        """Select one cell, run it (Ctrl+Enter, as a student does), wait for its result; return its output's text."""
        cell = self.cell(index)
        cell.evaluate("element => element.scrollIntoView({block: 'center'})")
        cell.locator(".jp-InputPrompt").first.click()
        self.page.keyboard.press("Control+Enter")
        self.page.wait_for_function(
            """([selector, i]) => { const p = document.querySelectorAll(selector)[i].querySelector('.jp-InputPrompt');
                                    return /\\[\\d+\\]/.test(p.textContent); }""", arg=[CELLS, index], timeout=self.timeout_ms)
        self.page.wait_for_selector(KERNEL_IDLE, timeout=60_000)
        return cell.locator(".jp-OutputArea").inner_text() if cell.locator(".jp-OutputArea").count() else ""

    def collapsed_inputs(self) -> list[int]:
        """Indices of the cells whose source is collapsed (JupyterLab shows a placeholder bar instead)."""
        collapsed = self._per_cell("""cell => !!cell.querySelector('.jp-InputPlaceholder')""")
        return [i for i, flag in enumerate(collapsed) if flag]

    def expand(self, index: int) -> None:
        """Open a collapsed cell by clicking its placeholder bar, as a reader does."""
        placeholder = self.cell(index).locator(".jp-InputPlaceholder")
        placeholder.scroll_into_view_if_needed()
        placeholder.click()
        placeholder.wait_for(state="detached", timeout=10_000)

    def unexecuted_code_cells(self) -> list[int]:
        """Indices of code cells without an execution count (run-all stops at the first error)."""
        unexecuted = self._per_cell("""cell => cell.classList.contains('jp-CodeCell')
                                         && !/\\[\\d+\\]/.test(cell.querySelector('.jp-InputPrompt').textContent)""")
        return [i for i, flag in enumerate(unexecuted) if flag]

    def error_outputs(self) -> dict[int, str]:
        """Cell index -> the start of each error or stderr output shown."""
        shown = self._per_cell("""(cell, selector) => [...cell.querySelectorAll(selector)]
                                     .map(o => o.textContent.slice(0, 300)).join(' | ')""", ERROR_OUTPUT)
        return {i: text for i, text in enumerate(shown) if text}

    def images_per_cell(self) -> dict[int, int]:
        """Cell index -> number of decoded (non-empty) images in its outputs, for cells with any."""
        counts = self._per_cell("""cell => [...cell.querySelectorAll('.jp-OutputArea-output img')]
                                     .filter(img => img.complete && img.naturalWidth > 0).length""")
        return {i: n for i, n in enumerate(counts) if n}

    def validate(self) -> Validation:
        """Click nbgrader's Validate button, wait for its dialog (nbgrader runs the whole notebook), read it."""
        self.page.locator(".jp-NotebookPanel .validate-button").click()
        # nbgrader's results dialog, or one of its other dialogs ("Validation failed", "Version Mismatch").
        self.page.locator("#validation-message, .jp-Dialog-header").first.wait_for(timeout=self.timeout_ms)
        message = self.page.locator("#validation-message")
        try:
            message.wait_for(timeout=5_000)  # the results' body comes with its header
        except PlaywrightTimeout:
            return Validation("error", text=self.page.locator(".jp-Dialog").inner_text())
        classes = message.get_attribute("class") or ""
        outcome = next((name for name in ("success", "failed", "changed", "type-changed")
                        if f"validation-{name}" in classes.split()), "error")
        blocks = message.locator(".jp-RenderedText pre").all_inner_texts()
        return Validation(outcome, failed_sources=blocks[0::2] if outcome == "failed" else [],
                          errors=blocks[1::2] if outcome == "failed" else [], text=message.inner_text())

    def close_dialog(self) -> None:
        self.page.locator(".jp-Dialog .jp-mod-accept").click()
        self.page.locator(".jp-Dialog").wait_for(state="detached")

    def screenshot(self, path: Path, top=None) -> Path:
        """Save what the student sees; with ``top`` (a locator), scrolled so that it starts the view."""
        if top is not None:
            top.evaluate("element => element.scrollIntoView({block: 'start'})")
            self.page.wait_for_timeout(300)  # let images and maths paint after the scroll
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path
