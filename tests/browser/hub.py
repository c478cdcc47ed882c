"""What a user of the course's JupyterHub does, as Playwright calls: log in, the Assignments tab, the formgrader.

Selectors are nbgrader 0.9's own (``#released_assignments_list``, ``#fetched_assignments_list``,
``#submitted_assignments_list`` and their buttons, the formgrader's pages) and JupyterHub's login
form (``#username_input``), so a test clicks what a student or an instructor clicks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import Browser, Frame

from .student import StudentNotebook

MENU = ".lm-MenuBar-itemLabel"
SUBMITTED_ROWS = "#submitted_assignments_list .nested_list_item"


class HubUser:
    """One user in their own browser context (their own cookies), on the course's hub."""

    def __init__(self, browser: Browser, url: str, user: str, password: str, artifacts: Path):
        self.url, self.user, self.password, self.artifacts = url, user, password, artifacts
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.origin = ""  # the user's server's origin, as the hub sent the browser there (known after login)

    @property
    def server(self) -> str:
        return f"{self.origin}/user/{self.user}"

    def login(self) -> None:
        """The hub's login form; then the user's own JupyterLab, started by the hub as this Linux user."""
        self.page.goto(f"{self.url}/hub/login")
        self.page.fill("#username_input", self.user)
        self.page.fill("#password_input", self.password)
        self.page.click("#login_submit")
        self.page.wait_for_url(re.compile(rf"/user/{re.escape(self.user)}/lab"), timeout=120_000)
        self.page.locator(MENU, has_text=re.compile(r"^Nbgrader$")).wait_for(timeout=120_000)
        self.origin = re.match(r"https?://[^/]+", self.page.url).group(0)

    def nbgrader_menu(self, item: str) -> None:
        self.page.locator(MENU, has_text=re.compile(r"^Nbgrader$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()

    # ------------------------------------------------------------------ the Assignments tab
    def assignments(self) -> None:
        """Nbgrader > Assignment List, loaded."""
        self.nbgrader_menu("Assignment List")
        self.page.wait_for_selector("#released_assignments_list_loading", state="hidden")
        self.page.wait_for_selector("#fetched_assignments_list_loading", state="hidden")
        self.page.wait_for_selector("#submitted_assignments_list_loading", state="hidden")

    def refresh_assignments(self) -> None:
        self.page.locator("#refresh_assignments_list, button[title='Refresh assignments list']").first.click()
        self.page.wait_for_selector("#submitted_assignments_list_loading", state="hidden")

    def released(self) -> list[str]:
        return self.page.locator("#released_assignments_list .list_item .item_name").all_inner_texts()

    def fetch(self, assignment: str) -> None:
        row = self.page.locator("#released_assignments_list .list_item", has_text=assignment)
        row.locator("button", has_text="Fetch").click()
        self.page.locator("#fetched_assignments_list .list_item", has_text=assignment).first.wait_for()

    def submissions(self) -> list[str]:
        """The timestamps of this user's submissions, as the Assignments tab lists them."""
        return [t.replace("(view feedback)", "").strip() for t in self.page.locator(SUBMITTED_ROWS).all_inner_texts()]

    def submit(self, assignment: str) -> str:
        before = len(self.submissions())
        row = self.page.locator("#fetched_assignments_list .list_item", has_text=assignment).first
        row.locator("button", has_text="Submit").click()
        self.page.wait_for_function(
            "([selector, before]) => document.querySelectorAll(selector).length > before", arg=[SUBMITTED_ROWS, before])
        return self.submissions()[-1]

    def fetch_feedback(self, assignment: str) -> None:
        row = self.page.locator("#submitted_assignments_list .list_item", has_text=assignment).first
        row.locator("button", has_text="Fetch Feedback").click()
        self.page.locator(SUBMITTED_ROWS, has_text="(view feedback)").first.wait_for()

    def open_feedback(self) -> str:
        """Click the newest "(view feedback)" link (the file browser goes to the feedback's folder), open the
        feedback page from there (JupyterLab shows it in a tab); return its text."""
        self.page.locator(SUBMITTED_ROWS, has_text="(view feedback)").last.locator("a").click()
        self.page.locator(".jp-DirListing-item", has_text=".html").first.dblclick()
        viewer = self.page.locator(".jp-HTMLViewer iframe, .jp-MainAreaWidget iframe").last
        viewer.wait_for()
        frame = viewer.element_handle().content_frame()
        frame.wait_for_selector("text=Score")
        return frame.locator("body").inner_text()

    # ------------------------------------------------------------------ files and notebooks
    def put_notebook(self, path: str, nb: dict) -> None:
        """Save a notebook through the user's own server (JupyterLab's contents API), from the user's page,
        as JupyterLab itself saves it (the page's origin, its cookies and XSRF token)."""
        status = self.page.evaluate("""async ([url, body]) => {
            const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "";
            const response = await fetch(url, {method: "PUT", body, headers: {
                "X-XSRFToken": decodeURIComponent(xsrf), "Content-Type": "application/json"}});
            return response.status + " " + (response.ok ? "" : (await response.text()).slice(0, 300));
        }""", [f"{self.server}/api/contents/{path}", json.dumps({"type": "notebook", "format": "json", "content": nb})])
        assert status.startswith("20"), f"saving {path} as {self.user}: {status}"

    def open_notebook(self, path: str) -> StudentNotebook:
        return StudentNotebook(self.page, f"{self.server}/lab/tree/{path}")

    # ------------------------------------------------------------------ the formgrader
    def formgrader(self) -> Frame:
        """Nbgrader > Formgrader: the formgrader's frame inside JupyterLab, loaded."""
        self.nbgrader_menu("Formgrader")
        frame_element = self.page.locator("iframe").last
        frame_element.wait_for()
        frame = frame_element.element_handle().content_frame()
        frame.wait_for_selector("text=Manage Assignments")
        return frame

    def screenshot(self, name: str, page=None) -> Path:
        path = self.artifacts / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        (page or self.page).screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.context.close()
