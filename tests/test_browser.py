"""The listening pages in a real headless Chromium: chapters seek, the transcript follows the
voice, the sleep timer fades out and resumes, the stems stay together, the library leads to
the story; served by `bedtime serve`, and opened straight from the disk."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BEDTIME

from bedtime_audio.page import story_page

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = Path("/tmp/bedtime-page.png")

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        f"needs Chromium and its driver ({CHROMIUM}, {CHROMEDRIVER}): apt install chromium "
        "chromium-driver",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PLAYER = "document.getElementById('player')"


def _with_stems(folder: Path, stems: Path) -> None:
    """A copy of the story with a voice and a bed beside the mix, as `--stems` leaves them."""
    shutil.copytree(folder, stems)
    (stems / "index.html").unlink(missing_ok=True)
    for stem in ("voice", "bed"):
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(folder / "tiny.mp3"),
             str(stems / f"tiny.{stem}.flac")],
            check=True,
        )  # fmt: skip
    report = json.loads((stems / "render.json").read_text())
    names = sorted(path.name for path in stems.iterdir())
    (stems / "index.html").write_text(story_page(report, names))


@pytest.fixture(scope="module")
def site(tiny_render: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "out"
    shutil.copytree(tiny_render.parent, out)  # the story, its page, and the library
    _with_stems(out / "tiny", out / "stems")
    return out


@pytest.fixture(scope="module")
def url(site: Path) -> Iterator[str]:
    server = subprocess.Popen(
        [BEDTIME, "serve", str(site), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    first = server.stdout.readline().strip()
    try:
        assert first.startswith("http://127.0.0.1:"), first
        yield first
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    browser.set_script_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(autouse=True)
def quiet_console(driver: webdriver.Chrome) -> Iterator[None]:
    """No page may log an error: a script that failed, a file that was not there."""
    driver.get_log("browser")
    yield
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


@pytest.fixture(scope="module")
def report(site: Path) -> dict:
    return json.loads((site / "tiny" / "render.json").read_text())


def until(driver: webdriver.Chrome, script: str, timeout: float = 10) -> Any:
    """Wait for a script's answer to be truthy, and return it."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(script), message=script
    )


def open_story(driver: webdriver.Chrome, address: str) -> None:
    driver.get(address)
    until(driver, f"return {PLAYER}.readyState >= 1 && window.bedtime !== undefined")


def play(driver: webdriver.Chrome) -> None:
    driver.execute_script(f"return {PLAYER}.play()")
    until(driver, f"return !{PLAYER}.paused && {PLAYER}.currentTime > 0")


def current_line(driver: webdriver.Chrome) -> str | None:
    return driver.execute_script(
        "const line = document.querySelector('#transcript .line.current .text');"
        "return line && line.textContent;"
    )


def test_a_chapter_click_seeks_to_the_chapter(
    driver: webdriver.Chrome, url: str, report: dict
) -> None:
    open_story(driver, url + "tiny/index.html")
    second = report["chapters"][1]
    button = driver.find_elements(By.CSS_SELECTOR, "#chapters .chapter")[1]
    assert button.text.startswith(second["title"])
    button.click()
    start = second["start_s"]
    until(driver, f"return Math.abs({PLAYER}.currentTime - {start}) < 0.5")
    until(driver, "return document.querySelectorAll('#chapters .chapter')[1]"
                  ".classList.contains('current')")  # fmt: skip


def test_the_transcript_follows_the_voice(driver: webdriver.Chrome, url: str, report: dict) -> None:
    open_story(driver, url + "tiny/index.html")
    lines = report["lines"]
    for line in (lines[1], lines[-2]):
        middle = (line["start_s"] + line["end_s"]) / 2
        driver.execute_script(f"{PLAYER}.currentTime = {middle}; {PLAYER}.play();")
        WebDriverWait(driver, 10, poll_frequency=0.05).until(
            lambda d, text=line["text"]: current_line(d) == text,
            message=f"highlighted {current_line(driver)!r}, not {line['text']!r}",
        )
    clicked = lines[2]
    driver.find_elements(By.CSS_SELECTOR, "#transcript .line")[2].click()
    until(driver, f"return Math.abs({PLAYER}.currentTime - {clicked['start_s']}) < 0.5")
    WebDriverWait(driver, 10, poll_frequency=0.05).until(
        lambda d: current_line(d) == clicked["text"]
    )


SAMPLE_THE_FADE = """
const done = arguments[arguments.length - 1];
const player = document.getElementById('player'), bed = document.getElementById('bed');
const samples = [];
window.bedtime.startTimer(1, 3);
const sampling = setInterval(() => {
  const state = window.bedtime.state();
  samples.push({volume: player.volume, bed: bed ? bed.volume : null, paused: player.paused,
                fading: state.fading, fadeStart: state.fadeStart, time: player.currentTime});
  if (state.done || samples.length > 200) { clearInterval(sampling); done(samples); }
}, 50);
"""


def fade_out(driver: webdriver.Chrome) -> tuple[list[dict], float]:
    """Start a 1 s timer with a 3 s fade; the samples, and where playback was as it faded."""
    samples = driver.execute_async_script(SAMPLE_THE_FADE)
    assert len(samples) < 200, "the fade never finished"
    volumes = [s["volume"] for s in samples]
    assert all(after <= before for before, after in zip(volumes, volumes[1:], strict=False))
    assert volumes[0] == pytest.approx(1) and volumes[-1] == pytest.approx(0, abs=0.01)
    assert len({round(v, 2) for v in volumes}) > 10, "a ramp, not a step"
    first = next(s for s in samples if s["fading"])
    assert first["fadeStart"] == pytest.approx(first["time"], abs=0.3)
    until(driver, f"return {PLAYER}.paused")
    return samples, first["fadeStart"]


def resume(driver: webdriver.Chrome) -> float:
    """Resume as the page offers it; where the player landed."""
    assert driver.find_element(By.ID, "resume").is_displayed()
    driver.execute_script(
        f"{PLAYER}.addEventListener('seeked', () => {{ window.landed = {PLAYER}.currentTime; }},"
        " {once: true}); window.bedtime.resume();"
    )
    landed = until(driver, "return window.landed")
    until(driver, f"return !{PLAYER}.paused && {PLAYER}.volume === 1")
    assert not driver.find_element(By.ID, "resume").is_displayed()
    return landed


def test_the_sleep_timer_fades_out_and_resumes_where_the_fade_began(
    driver: webdriver.Chrome, url: str
) -> None:
    open_story(driver, url + "tiny/index.html")
    driver.execute_script(f"{PLAYER}.currentTime = 20")
    play(driver)
    _, fade_start = fade_out(driver)
    assert 20 < fade_start < 24
    assert driver.execute_script("return window.bedtime.state().paused")
    assert resume(driver) == pytest.approx(fade_start, abs=0.5)
    until(driver, f"return {PLAYER}.currentTime > {fade_start} + 0.2")


def test_the_sleep_timer_can_end_with_the_chapter(
    driver: webdriver.Chrome, url: str, report: dict
) -> None:
    open_story(driver, url + "tiny/index.html")
    end = report["chapters"][0]["end_s"]
    driver.execute_script(f"{PLAYER}.currentTime = {end - 3.5}")
    play(driver)
    driver.execute_script("window.bedtime.startTimerAtChapterEnd(2)")
    assert driver.execute_script("return window.bedtime.state().mode") == "chapter"
    until(driver, "return window.bedtime.state().done", timeout=15)
    state = driver.execute_script("return window.bedtime.state()")
    assert state["fadeStart"] == pytest.approx(end - 2, abs=0.5)
    assert state["paused"] and state["volume"] == 0
    assert state["currentTime"] == pytest.approx(end, abs=0.5)


def test_stems_play_together_and_fade_together(driver: webdriver.Chrome, url: str) -> None:
    open_story(driver, url + "stems/index.html")
    assert driver.find_element(By.ID, "bed-volume").is_enabled()
    bed = "document.getElementById('bed')"
    play(driver)
    until(driver, f"return !{bed}.paused")
    driver.execute_script(f"{PLAYER}.currentTime = 50")
    until(driver, f"return Math.abs({bed}.currentTime - {PLAYER}.currentTime) < 0.25 && "
                  f"{PLAYER}.currentTime > 50")  # fmt: skip
    driver.execute_script(
        "const slider = document.getElementById('bed-volume'); slider.value = '0.4';"
        "slider.dispatchEvent(new Event('input'));"
    )
    assert driver.execute_script(f"return [{PLAYER}.volume, {bed}.volume]") == [1, 0.4]
    samples, fade_start = fade_out(driver)
    beds = [s["bed"] for s in samples]
    assert all(after <= before for before, after in zip(beds, beds[1:], strict=False))
    assert beds[0] == pytest.approx(0.4) and beds[-1] == pytest.approx(0, abs=0.01)
    until(driver, f"return {bed}.paused")
    assert resume(driver) == pytest.approx(fade_start, abs=0.5)
    until(driver, f"return !{bed}.paused && {bed}.volume === 0.4")
    driver.execute_script(f"{PLAYER}.pause()")
    until(driver, f"return {bed}.paused")


def test_the_library_leads_to_the_story(driver: webdriver.Chrome, url: str, report: dict) -> None:
    driver.get(url + "index.html")
    link = driver.find_element(By.CSS_SELECTOR, "a.card")
    assert link.get_attribute("href") == url + "tiny/index.html"
    assert report["title"] in link.text
    until(driver, "const img = document.querySelector('a.card img');"
                  "return img.complete && img.naturalWidth > 0")  # fmt: skip
    link.click()
    until(driver, f"return document.title === {json.dumps(report['title'])}")


def test_the_page_plays_from_the_disk_too(driver: webdriver.Chrome, site: Path) -> None:
    open_story(driver, (site / "tiny" / "index.html").as_uri())
    driver.find_elements(By.CSS_SELECTOR, "#chapters .chapter")[1].click()
    until(driver, f"return !{PLAYER}.paused && {PLAYER}.currentTime > 1")
    until(driver, "const img = document.querySelector('img.cover');"
                  "return img.complete && img.naturalWidth > 0")  # fmt: skip


def test_a_screenshot_of_the_page(
    driver: webdriver.Chrome, url: str, report: dict, tmp_path: Path
) -> None:
    driver.set_window_size(1280, 1000)
    open_story(driver, url + "tiny/index.html")
    line = report["lines"][3]
    driver.execute_script(f"{PLAYER}.currentTime = {line['start_s'] + 0.2}; {PLAYER}.play();")
    WebDriverWait(driver, 10).until(lambda d: current_line(d) == line["text"])
    driver.find_element(By.CSS_SELECTOR, "[data-sleep='30']").click()
    driver.execute_script(f"{PLAYER}.pause()")
    time.sleep(0.3)  # the last scroll settles
    shot = tmp_path / "page.png"
    assert driver.save_screenshot(str(shot))
    shutil.copyfile(shot, SCREENSHOT)
    print(f"screenshot: {shot} and {SCREENSHOT}")
