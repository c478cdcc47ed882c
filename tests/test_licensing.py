"""Can the lab be reused and cited: a licence for every part, a valid citation file, the papers linked?"""

import yaml

from inn_course.paths import REPO_ROOT


def _citation() -> dict:
    return yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())


def test_every_licence_named_has_its_text():
    """Is each SPDX id of CITATION.cff in LICENSES/, and does LICENSE point to every text there?"""
    citation = _citation()
    texts = {p.stem for p in (REPO_ROOT / "LICENSES").glob("*.txt")}
    assert set(citation["license"]) == texts == {"CC-BY-4.0", "MIT"}
    summary = (REPO_ROOT / "LICENSE").read_text()
    assert all(f"LICENSES/{name}.txt" in summary for name in texts)
    assert "Attribution 4.0 International" in (REPO_ROOT / "LICENSES" / "CC-BY-4.0.txt").read_text()
    assert "Apache License" in (REPO_ROOT / "inn_course" / "vendor" / "mathjax" / "LICENSE").read_text()


def test_citation_file_has_what_cff_requires_and_the_papers_are_linked():
    """cff-version 1.2.0 with its required keys; each reference's URL linked from the README."""
    citation = _citation()
    assert citation["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(citation) and citation["authors"]
    readme = (REPO_ROOT / "README.md").read_text()
    lab = (REPO_ROOT / "lab" / "invertible_networks.py").read_text()
    urls = [ref["url"] for ref in citation["references"]]
    assert len(urls) == 3 and all(url in readme and url in lab for url in urls)
    for ref in citation["references"]:
        assert ref["title"] and ref["year"] and all("family-names" in a for a in ref["authors"])
