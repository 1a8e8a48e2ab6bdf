"""The verification page in a real headless Chromium: decide, save, re-open, import, write."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from rewardmine.buildbench import benchmark_rows, import_annotations, write_page
from rewardmine.buildbench.verify import export_lists


def consensus_rows():
    rows = []
    for number, (principle, prompt) in enumerate([
        ("Be concise.", "What is 2+2?"),
        ("Explain step by step.", [{"role": "user", "content": "Why is the sky blue? </script>"}]),
        ("Answer formally.", "Say hello."),
    ]):
        responses = {"a": f"answer A{number}", "b": f"answer B{number} <b>bold?</b>",
                     "c": f"answer C{number}"}
        rows.append({"id": f"list-{number}", "principle": principle, "dimension": "style",
                     "domain": "chat", "prompt": prompt, "responses": responses,
                     "ranking": ["b", "a", "c"], "scores": {"a": 0.5, "b": 0.9, "c": 0.1},
                     "judges": ["j1", "j2"], "filter": {"k": 2, "m": 2}, "keep": True})
    rows.append({**rows[0], "id": "list-dropped", "keep": False, "reason": "too few"})
    return rows


def find_browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    binary = find_browser()
    if binary is None or shutil.which("chromedriver") is None:
        pytest.skip("needs Chromium and chromedriver: apt-get install chromium chromium-driver")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.downloads = downloads
    yield driver
    driver.quit()


def wait_for_file(folder: Path, name: str) -> Path:
    target = folder / name
    for _ in range(100):
        if target.exists() and target.stat().st_size:
            return target
        time.sleep(0.1)
    raise AssertionError(f"{name} never appeared in {folder}: {list(folder.iterdir())}")


def test_decide_save_reopen_import(browser, tmp_path):
    from selenium.webdriver.common.by import By

    rows = consensus_rows()
    page = tmp_path / "verify.html"
    write_page(rows, page)
    text = page.read_text()
    assert "http" not in text.replace('http-equiv', ''), "the page must not reference the network"
    browser.get(page.as_uri())

    def section(lid):
        return browser.find_element(By.CSS_SELECTOR, f'section[data-id="{lid}"]')

    assert len(browser.find_elements(By.CSS_SELECTOR, "section.list")) == 3
    shown = [li.get_attribute("data-response")
             for li in section("list-1").find_elements(By.CSS_SELECTOR, "li")]
    assert shown == ["b", "a", "c"]
    assert "</script>" in section("list-1").text  # the prompt is shown as text, page intact
    browser.find_element(By.ID, "annotator").send_keys("ann one")
    section("list-0").find_element(By.CSS_SELECTOR, "input[value=accept]").click()
    # list-1: move "c" up twice to the top, then accept
    for _ in range(2):
        section("list-1").find_elements(By.CSS_SELECTOR, "button.up")[-1 if _ == 0 else 1].click()
    assert "Order corrected" in section("list-1").text
    section("list-1").find_element(By.CSS_SELECTOR, "input[value=accept]").click()
    section("list-2").find_element(By.CSS_SELECTOR, "input[value=reject]").click()
    assert "3 of 3 decided" in browser.find_element(By.ID, "progress").text
    browser.find_element(By.ID, "save").click()
    first = wait_for_file(browser.downloads, "annotations-ann_one.json")
    saved = json.loads(first.read_text())
    assert saved["decisions"]["list-0"] == {"decision": "accept", "note": "", "ranking": None}
    assert saved["decisions"]["list-1"]["ranking"] == ["c", "b", "a"]
    assert saved["decisions"]["list-2"]["decision"] == "reject"

    # a second annotator re-opens the first file, changes one decision and saves as themself
    browser.get(page.as_uri())
    browser.find_element(By.ID, "load").send_keys(str(first))
    for _ in range(50):
        if "Loaded 3" in browser.find_element(By.ID, "message").text:
            break
        time.sleep(0.1)
    assert "Order corrected" in section("list-1").text
    assert section("list-2").find_element(By.CSS_SELECTOR, "input[value=reject]").is_selected()
    section("list-2").find_element(By.CSS_SELECTOR, "input[value=accept]").click()
    name = browser.find_element(By.ID, "annotator")
    name.clear()
    name.send_keys("ann two")
    browser.find_element(By.ID, "save").click()
    second = wait_for_file(browser.downloads, "annotations-ann_two.json")

    verification = import_annotations(rows, [first, second])
    assert verification.annotators == ["ann one", "ann two"]
    assert verification.labels == {"list-0": ["accept", "accept"], "list-1": ["correct", "correct"],
                                   "list-2": ["reject", "accept"]}
    assert verification.agreement["keep_all_agree"] == pytest.approx(2 / 3)
    # keep/reject: ann one keeps 2 of 3, ann two keeps 3: po = 2/3, pe = 2/3 * 1 + 1/3 * 0
    assert verification.agreement["keep_cohens_kappa"]["ann one vs ann two"] == pytest.approx(0.0)
    bench = benchmark_rows(rows, verification)
    assert [row["id"] for row in bench] == ["list-0", "list-1"]
    assert bench[0]["ranking"] == ["b", "a", "c"]
    assert bench[0]["provenance"]["verified"] == "accepted"
    assert bench[1]["ranking"] == ["c", "b", "a"]
    assert bench[1]["provenance"]["verified"] == "corrected"
    assert bench[1]["scores"]["c"] == pytest.approx(1.0)
    # with two annotators "more than half" is both of them
    majority = benchmark_rows(rows, verification, require="majority")
    assert [row["id"] for row in majority] == ["list-0", "list-1"]


def test_import_rejects_files_of_another_export(tmp_path):
    rows = consensus_rows()
    _, export_id = export_lists(rows)
    good = {"format": "rewardmine-annotations", "version": 1, "export": export_id,
            "annotator": "x", "decisions": {}}
    (tmp_path / "x.json").write_text(json.dumps(good))
    (tmp_path / "y.json").write_text(json.dumps({**good, "annotator": "y", "export": "other"}))
    with pytest.raises(ValueError, match="saved from export other"):
        import_annotations(rows, [tmp_path / "x.json", tmp_path / "y.json"])
    (tmp_path / "y.json").write_text(json.dumps({**good, "annotator": "y",
                                                 "decisions": {"list-0": {"decision": "maybe"}}}))
    with pytest.raises(ValueError, match="decision 'maybe'; use accept or reject"):
        import_annotations(rows, [tmp_path / "x.json", tmp_path / "y.json"])
    with pytest.raises(ValueError, match="agreement needs at least 2"):
        import_annotations(rows, [tmp_path / "x.json"])
