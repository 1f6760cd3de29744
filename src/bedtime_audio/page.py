"""The listening pages: a dim, low-light HTML page per story (cover, player, chapters, the
transcript following the voice, a sleep timer that fades the story out, separate voice and
ambience volumes when the story was rendered with stems) and a library page of every story.

Each page is one self-contained HTML string, a pure function of render.json: its style, its
script and its data are inline, and it asks nothing of any network, so it plays the same opened
from the disk as served by `bedtime serve`."""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

from .artifacts import speaker_name

STYLE = """
:root {
  color-scheme: dark;
  --bg: #0b1026;
  --panel: #10163a;
  --edge: #1d2550;
  --text: #cbbd9f;
  --bright: #e2d2b0;
  --muted: #8c836f;
  --accent: #c49a5f;
  --accent-soft: rgba(196, 154, 95, 0.13);
  --radius: 14px;
  --touch: 48px;
}
* { box-sizing: border-box; }
html { background: var(--bg); scrollbar-color: #28305c var(--bg); }
body {
  margin: 0;
  background: var(--bg);
  color: var(--text);
  font: 1.0625rem/1.55 system-ui, -apple-system, "Segoe UI", sans-serif;
  -webkit-text-size-adjust: 100%;
}
.page { max-width: 76rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1, h2, h3 { font-family: ui-serif, Georgia, "DejaVu Serif", serif; font-weight: 500; }
h1 { color: var(--bright); font-size: clamp(1.6rem, 4.5vw, 2.4rem); line-height: 1.2; margin: 0; }
h2 { color: var(--muted); font-size: 0.95rem; letter-spacing: 0.08em; text-transform: uppercase;
  margin: 0 0 0.75rem; }
a { color: var(--accent); }
button, input, select { font: inherit; color: inherit; }
button {
  min-height: var(--touch);
  border: 1px solid var(--edge);
  border-radius: 999px;
  background: transparent;
  padding: 0 1.1rem;
  cursor: pointer;
}
button:hover { border-color: var(--accent); }
button:focus-visible, input:focus-visible, a:focus-visible, .transcript:focus-visible {
  outline: 2px solid var(--accent); outline-offset: 2px;
}
button[aria-pressed="true"] { background: var(--accent-soft); border-color: var(--accent);
  color: var(--bright); }
input[type="range"] { accent-color: var(--accent); width: 100%; min-height: var(--touch);
  margin: 0; }
input[type="number"] { width: 4.5rem; min-height: var(--touch); padding: 0 0.6rem;
  background: var(--bg); border: 1px solid var(--edge); border-radius: 10px; }
.kicker { color: var(--muted); margin: 0 0 0.35rem; font-size: 0.9rem; letter-spacing: 0.08em;
  text-transform: uppercase; }
.meta { color: var(--muted); margin: 0.5rem 0 0; }
.cover { display: block; width: 100%; aspect-ratio: 1; object-fit: cover;
  border-radius: var(--radius); background: linear-gradient(180deg, #0e1433, #1a2248);
  filter: brightness(0.82) saturate(0.9); }
.hero { display: grid; grid-template-columns: minmax(6rem, 9rem) 1fr; gap: 1.25rem;
  align-items: end; margin-bottom: 1.5rem; }
.columns { display: grid; gap: 1rem; }
.controls { display: grid; gap: 1rem; align-content: start; }
.panel { background: var(--panel); border: 1px solid var(--edge); border-radius: var(--radius);
  padding: 1rem 1.1rem; }
.transport { display: flex; gap: 0.75rem; align-items: center; justify-content: center; }
.play { width: 4.25rem; height: 4.25rem; padding: 0; display: grid; place-items: center;
  border-color: var(--accent); color: var(--accent); }
.play svg { width: 1.6rem; height: 1.6rem; fill: currentColor; }
.play .pause-icon, .play.playing .play-icon { display: none; }
.play.playing .pause-icon { display: block; }
.times { display: flex; justify-content: space-between; color: var(--muted);
  font-variant-numeric: tabular-nums; font-size: 0.95rem; }
.now { text-align: center; color: var(--muted); margin: 0.5rem 0 0; min-height: 1.5em; }
audio { width: 100%; }
.choices { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.row { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: center; margin-top: 0.9rem; }
.status { color: var(--muted); margin: 0.75rem 0 0; font-variant-numeric: tabular-nums; }
.resume { margin-top: 0.75rem; border-color: var(--accent); color: var(--bright); width: 100%; }
.slider { display: grid; grid-template-columns: 6.5rem 1fr; align-items: center; gap: 0.75rem; }
.slider + .slider { margin-top: 0.25rem; }
.slider:has(input:disabled) { color: var(--muted); }
.note { color: var(--muted); font-size: 0.9rem; margin: 0.25rem 0 0; }
code { font-size: 0.9em; }
ol { list-style: none; margin: 0; padding: 0; }
.chapter, .line { display: flex; width: 100%; text-align: left; border-radius: 10px;
  border-color: transparent; background: transparent; }
.chapter { justify-content: space-between; gap: 1rem; align-items: center; }
.chapter-time { color: var(--muted); font-variant-numeric: tabular-nums; }
.chapter.current, .line.current { background: var(--accent-soft); color: var(--bright); }
.chapter.current .chapter-time { color: var(--accent); }
.transcript-panel { display: flex; flex-direction: column; min-height: 0; }
.transcript { position: relative; overflow-y: auto; max-height: 70vh; padding-right: 0.25rem;
  overscroll-behavior: contain; }
.transcript h3 { color: var(--muted); font-size: 1.05rem; margin: 1.25rem 0 0.5rem; }
.transcript h3:first-child { margin-top: 0; }
.line { flex-direction: column; align-items: flex-start; padding: 0.55rem 0.85rem;
  color: var(--muted);
  font-family: ui-serif, Georgia, "DejaVu Serif", serif; font-size: 1.1rem; line-height: 1.6; }
.line .speaker { font-family: system-ui, sans-serif; font-size: 0.8rem; letter-spacing: 0.08em;
  text-transform: uppercase; color: var(--muted); }
.line.current .speaker { color: var(--accent); }
.downloads { color: var(--muted); font-size: 0.95rem; margin: 0; }
.downloads a { margin-right: 0.9rem; white-space: nowrap; }
.grid { display: grid; gap: 1rem;
  grid-template-columns: repeat(auto-fill, minmax(min(14rem, 42vw), 1fr)); }
.grid > li { display: flex; }
.card { display: block; flex: 1; text-decoration: none; color: var(--text);
  background: var(--panel);
  border: 1px solid var(--edge); border-radius: var(--radius); padding: 0.75rem; }
.card:hover { border-color: var(--accent); }
.card h2 { color: var(--bright); text-transform: none; letter-spacing: 0; font-size: 1.15rem;
  margin: 0.75rem 0 0.25rem; }
.card p { color: var(--muted); margin: 0; }
.library-head { margin: 0.5rem 0 1.5rem; }
[hidden] { display: none !important; }
@media (min-width: 960px) {
  .page { padding: 2rem 2rem 3rem; }
  .hero { grid-template-columns: 11rem 1fr; }
  .columns { grid-template-columns: minmax(21rem, 26rem) 1fr; align-items: start; }
  .transcript-panel { position: sticky; top: 1rem; max-height: calc(100vh - 2rem); }
  .transcript { max-height: none; flex: 1; }
}
@media (prefers-reduced-motion: reduce) {
  html, .transcript { scroll-behavior: auto; }
}
"""

SCRIPT = r"""
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const story = JSON.parse($("story-data").textContent);
  const player = $("player");
  const bed = $("bed");
  const transcript = $("transcript");
  const chapterButtons = Array.from(document.querySelectorAll("#chapters .chapter"));
  const lineButtons = Array.from(document.querySelectorAll("#transcript .line"));
  const calm = window.matchMedia("(prefers-reduced-motion: reduce)");
  const levels = { voice: 1, bed: 1 };
  let gain = 1;  // the sleep fade's share of each volume: only ever goes down while fading

  const clamp01 = (x) => Math.min(1, Math.max(0, x));
  const pad = (n) => String(n).padStart(2, "0");
  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
  }
  function lastStarted(items, t) {
    let lo = 0, hi = items.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (items[mid].start_s <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }
  function applyVolume() {
    player.volume = clamp01(levels.voice * gain);
    if (bed) bed.volume = clamp01(levels.bed * gain);
  }
  function play() {
    const started = player.play();
    if (started) started.catch(() => {});
  }
  function seek(t) {
    player.currentTime = Math.max(0, t);
    if (player.paused) play();
  }

  /* Where the story is: the chapter and the line being read. */
  let lineNow = -1, chapterNow = -1, heldUntil = 0;
  function mark(elements, index, previous) {
    if (index === previous) return false;
    const before = elements[previous], now = elements[index];
    if (before) { before.classList.remove("current"); before.removeAttribute("aria-current"); }
    if (now) { now.classList.add("current"); now.setAttribute("aria-current", "true"); }
    return true;
  }
  function reveal(element) {
    if (!element || performance.now() < heldUntil) return;
    const top = element.offsetTop - transcript.clientHeight / 3;
    transcript.scrollTo({ top: Math.max(0, top), behavior: calm.matches ? "auto" : "smooth" });
  }
  function follow() {
    const t = player.currentTime;
    const line = lastStarted(story.lines, t);
    if (mark(lineButtons, line, lineNow)) { lineNow = line; reveal(lineButtons[line]); }
    const chapter = lastStarted(story.chapters, t);
    if (mark(chapterButtons, chapter, chapterNow)) {
      chapterNow = chapter;
      $("now").textContent = chapter >= 0 ? story.chapters[chapter].title : "";
    }
  }
  for (const gesture of ["wheel", "touchmove", "keydown"]) {
    transcript.addEventListener(gesture, () => { heldUntil = performance.now() + 8000; },
      { passive: true });
  }
  for (const button of [...chapterButtons, ...lineButtons]) {
    button.addEventListener("click", () => { heldUntil = 0; seek(Number(button.dataset.start)); });
  }

  /* The transport: play and pause, thirty seconds either way, the position. */
  const playButton = $("play"), position = $("position");
  let dragging = false;
  function showTransport() {
    playButton.classList.toggle("playing", !player.paused);
    playButton.setAttribute("aria-label", player.paused ? "Play" : "Pause");
    if (!dragging) position.value = String(player.currentTime);
    $("elapsed").textContent = clock(dragging ? Number(position.value) : player.currentTime);
  }
  function length() {
    return Number.isFinite(player.duration) ? player.duration : story.duration_s;
  }
  playButton.addEventListener("click", () => (player.paused ? play() : player.pause()));
  $("back").addEventListener("click", () => {
    player.currentTime = Math.max(0, player.currentTime - 30);
  });
  $("forward").addEventListener("click", () => {
    player.currentTime = Math.min(length(), player.currentTime + 30);
  });
  position.addEventListener("input", () => { dragging = true; showTransport(); });
  position.addEventListener("change", () => {
    dragging = false;
    player.currentTime = Number(position.value);
  });
  player.addEventListener("loadedmetadata", () => {
    position.max = String(length());
    $("total").textContent = clock(length());
  });

  /* Volumes: the voice (or the whole story) and, with stems, the ambience. */
  $("voice-volume").addEventListener("input", (event) => {
    levels.voice = Number(event.target.value);
    applyVolume();
  });
  $("bed-volume").addEventListener("input", (event) => {
    levels.bed = Number(event.target.value);
    applyVolume();
  });

  /* With stems the ambience plays beside the voice, following it: the voice keeps the time. */
  if (bed) {
    const align = (always) => {
      if (always || Math.abs(bed.currentTime - player.currentTime) > 0.25) {
        bed.currentTime = player.currentTime;
      }
    };
    const start = () => {
      align(false);
      const started = bed.play();
      if (started) started.catch(() => {});
    };
    player.addEventListener("play", start);
    player.addEventListener("playing", start);
    player.addEventListener("pause", () => bed.pause());
    player.addEventListener("waiting", () => bed.pause());
    player.addEventListener("ended", () => bed.pause());
    player.addEventListener("seeked", () => align(true));
    player.addEventListener("timeupdate", () => { if (!player.paused) align(false); });
    player.addEventListener("ratechange", () => { bed.playbackRate = player.playbackRate; });
  }

  /* The sleep timer: counts down while the story plays, then fades it out and pauses. */
  const timer = {
    mode: "off",  // off | counting | chapter | fading | done
    choice: "off", remaining: null, fadeSeconds: 120, fadeStart: null, fadeBegan: 0,
    last: 0, ticking: null,
  };
  function chapterEnd() {
    const chapter = story.chapters[lastStarted(story.chapters, player.currentTime)];
    return chapter ? chapter.end_s : length();
  }
  function stopTicking() {
    if (timer.ticking !== null) clearInterval(timer.ticking);
    timer.ticking = null;
  }
  function arm(mode, remaining, fadeSeconds) {
    cancelTimer();
    timer.mode = mode;
    timer.choice = null;  // a choice of the page's own sets it after
    timer.remaining = remaining;
    timer.fadeSeconds = Math.max(0.1, Number(fadeSeconds) || 120);
    timer.last = performance.now();
    timer.ticking = setInterval(tick, 100);
    tick();
  }
  function startTimer(afterSeconds, fadeSeconds) {
    arm("counting", Math.max(0, Number(afterSeconds) || 0), fadeSeconds);
  }
  function startTimerAtChapterEnd(fadeSeconds) {
    arm("chapter", null, fadeSeconds);
  }
  function cancelTimer() {
    stopTicking();
    timer.mode = "off";
    timer.choice = "off";
    timer.remaining = null;
    gain = 1;
    applyVolume();
    describe();
  }
  function beginFade() {
    timer.mode = "fading";
    timer.fadeStart = player.currentTime;
    timer.fadeBegan = performance.now();
    $("resume").hidden = true;
  }
  function endFade() {
    stopTicking();
    gain = 0;
    applyVolume();
    timer.mode = "done";
    player.pause();
    $("resume-at").textContent = clock(timer.fadeStart);
    $("resume").hidden = false;
  }
  function tick() {
    const now = performance.now();
    const elapsed = (now - timer.last) / 1000;
    timer.last = now;
    if (timer.mode === "counting") {
      if (!player.paused) timer.remaining -= elapsed;
      if (timer.remaining <= 0) beginFade();
    } else if (timer.mode === "chapter" && !player.paused) {
      if (player.currentTime >= chapterEnd() - timer.fadeSeconds) beginFade();
    }
    if (timer.mode === "fading") {
      const progress = clamp01((now - timer.fadeBegan) / 1000 / timer.fadeSeconds);
      gain = Math.min(gain, (1 - progress) * (1 - progress));
      applyVolume();
      if (progress >= 1) endFade();
    }
    describe();
  }
  function resume() {
    if (timer.fadeStart === null) return;
    const from = timer.fadeStart;
    cancelTimer();
    $("resume").hidden = true;
    player.currentTime = from;
    play();
  }
  player.addEventListener("pause", () => {
    if (timer.mode === "fading") cancelTimer();  // paused by hand: the listener is awake
  });
  player.addEventListener("play", () => {
    if (timer.mode === "done") { cancelTimer(); $("resume").hidden = true; }
  });
  player.addEventListener("ended", () => {
    if (timer.mode !== "done") cancelTimer();
  });

  const choices = Array.from(document.querySelectorAll("#sleep-choices [data-sleep]"));
  const fadeInput = $("fade-minutes");
  const fadeChosen = () => Math.max(1, Number(fadeInput.value) || 2) * 60;
  for (const button of choices) {
    button.addEventListener("click", () => {
      const choice = button.dataset.sleep;
      if (choice === "off") cancelTimer();
      else if (choice === "chapter") startTimerAtChapterEnd(fadeChosen());
      else startTimer(Number(choice) * 60, fadeChosen());
      timer.choice = choice;
      describe();
    });
  }
  fadeInput.addEventListener("change", () => {
    if (Number(fadeInput.value) < 1) fadeInput.value = "1";
    if (timer.mode === "counting" || timer.mode === "chapter") timer.fadeSeconds = fadeChosen();
  });
  let said = "";
  function describe() {
    for (const button of choices) {
      button.setAttribute("aria-pressed", String(button.dataset.sleep === timer.choice));
    }
    let text = "Off";
    if (timer.mode === "counting") {
      const left = clock(Math.ceil(timer.remaining));
      text = player.paused ? `Fades out after ${left} more listening` : `Fades out in ${left}`;
    } else if (timer.mode === "chapter") {
      text = "Fades out as this chapter ends";
    } else if (timer.mode === "fading") {
      text = "Fading out\u2026";
    } else if (timer.mode === "done") {
      text = `Faded out at ${clock(timer.fadeStart)}`;
    }
    if (text !== said) { $("sleep-status").textContent = text; said = text; }
  }
  $("resume").addEventListener("click", resume);

  /* The phone's lock screen and headphone buttons. */
  if ("mediaSession" in navigator) {
    try {
      const served = location.protocol === "http:" || location.protocol === "https:";
      const cover = story.cover && served ? new URL(story.cover, document.baseURI).href : null;
      const artwork = cover ? [{ src: cover }] : [];  // a lock screen shows no file: picture
      navigator.mediaSession.metadata = new MediaMetadata({ title: story.title, artwork });
      const actions = {
        play: () => play(),
        pause: () => player.pause(),
        seekbackward: () => { player.currentTime = Math.max(0, player.currentTime - 30); },
        seekforward: () => { player.currentTime = Math.min(length(), player.currentTime + 30); },
      };
      for (const [action, handler] of Object.entries(actions)) {
        navigator.mediaSession.setActionHandler(action, handler);
      }
    } catch (ignored) { /* an older browser: the page plays without it */ }
  }

  for (const event of ["timeupdate", "seeking", "seeked"]) {
    player.addEventListener(event, () => { follow(); showTransport(); });
  }
  for (const event of ["play", "pause", "ended"]) player.addEventListener(event, showTransport);

  player.removeAttribute("controls");
  $("transport").hidden = false;
  applyVolume();
  follow();
  showTransport();
  describe();

  window.bedtime = {
    startTimer, startTimerAtChapterEnd, cancelTimer, resume,
    state: () => ({
      mode: timer.mode,
      fading: timer.mode === "fading",
      done: timer.mode === "done",
      remaining: timer.remaining,
      fadeStart: timer.fadeStart,
      paused: player.paused,
      currentTime: player.currentTime,
      volume: player.volume,
      gain,
      stems: Boolean(bed),
    }),
  };
})();
"""

_PLAY_ICON = (
    '<svg class="play-icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M8 5v14l11-7z"/></svg>'
)
_PAUSE_ICON = (
    '<svg class="pause-icon" viewBox="0 0 24 24" aria-hidden="true">'
    '<path d="M7 5h4v14H7zM13 5h4v14h-4z"/></svg>'
)
_SLEEP_CHOICES = (
    ("off", "Off"),
    ("15", "15 min"),
    ("30", "30"),
    ("45", "45"),
    ("60", "60"),
    ("chapter", "End of chapter"),
)


def clock(seconds: float) -> str:
    """A duration as h:mm:ss, or m:ss under an hour."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _url(name: str) -> str:
    """A file name as a relative URL, escaped for an attribute."""
    return _e(urllib.parse.quote(name))


def _json_script(element_id: str, data: object) -> str:
    """Data for the page's script, inert however the story's text reads."""
    text = json.dumps(data, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _document(title: str, body: str, script: str = "") -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="dark">\n'
        '<meta name="theme-color" content="#0b1026">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n{script}</body>\n</html>\n"
    )


def _slug(report: dict, files: Sequence[str]) -> str:
    if report.get("slug"):
        return str(report["slug"])
    mp3 = next((name for name in files if name.endswith(".mp3")), "story.mp3")
    return mp3.removesuffix(".mp3")


def has_stems(slug: str, files: Sequence[str]) -> bool:
    """Whether the voice and the bed lie beside the mix, each as its own file."""
    return f"{slug}.voice.flac" in files and f"{slug}.bed.flac" in files


def _sources(slug: str, files: Sequence[str]) -> list[tuple[str, str]]:
    """The mix's files, in the order a browser should try them."""
    kinds = ((".mp3", "audio/mpeg"), (".m4b", "audio/mp4"), (".opus", "audio/ogg; codecs=opus"))
    return [(slug + ext, kind) for ext, kind in kinds if slug + ext in files]


def _audio(element_id: str, sources: list[tuple[str, str]], attributes: str) -> str:
    tags = "".join(f'<source src="{_url(name)}" type="{_e(kind)}">' for name, kind in sources)
    return f'<audio id="{element_id}" {attributes}>{tags}</audio>'


def _players(slug: str, files: Sequence[str]) -> str:
    """The story's player (its script swaps the browser's controls for the page's own) and,
    with stems, the voice as the player and the ambience beside it, following it."""
    if not has_stems(slug, files):
        return _audio("player", _sources(slug, files), 'controls preload="metadata"')
    voice = _audio("player", [(f"{slug}.voice.flac", "audio/flac")], 'controls preload="auto"')
    bed = _audio("bed", [(f"{slug}.bed.flac", "audio/flac")], 'preload="auto" hidden')
    return voice + bed


def _transport(duration_s: float) -> str:
    return (
        '<div id="transport" hidden>'
        '<div class="transport">'
        '<button id="back" type="button" aria-label="Back 30 seconds">&minus;30 s</button>'
        f'<button id="play" class="play" type="button" aria-label="Play">{_PLAY_ICON}'
        f"{_PAUSE_ICON}</button>"
        '<button id="forward" type="button" aria-label="Forward 30 seconds">+30 s</button>'
        "</div>"
        f'<input id="position" type="range" min="0" max="{duration_s:.3f}" step="1" value="0" '
        'aria-label="Position">'
        f'<div class="times"><span id="elapsed">0:00</span><span id="total">{clock(duration_s)}'
        "</span></div>"
        '<p id="now" class="now" aria-live="polite"></p>'
        "</div>"
    )


def _player_panel(slug: str, files: Sequence[str], duration_s: float) -> str:
    return (
        '<section class="panel" aria-label="Player">'
        f"{_players(slug, files)}{_transport(duration_s)}</section>"
    )


def _sleep_panel() -> str:
    choices = "".join(
        f'<button type="button" data-sleep="{value}" aria-pressed="false">{label}</button>'
        for value, label in _SLEEP_CHOICES
    )
    return (
        '<section class="panel" aria-labelledby="sleep-heading">'
        '<h2 id="sleep-heading">Sleep timer</h2>'
        f'<div id="sleep-choices" class="choices">{choices}</div>'
        '<div class="row"><label for="fade-minutes">Fade out over</label>'
        '<input id="fade-minutes" type="number" min="1" max="30" step="1" value="2"> minutes</div>'
        '<p id="sleep-status" class="status">Off</p>'
        '<button id="resume" class="resume" type="button" hidden>'
        'Resume from where the fade began (<span id="resume-at"></span>)</button>'
        "</section>"
    )


def _slider(element_id: str, label: str, enabled: bool) -> str:
    disabled = "" if enabled else " disabled"
    return (
        f'<div class="slider"><label for="{element_id}">{label}</label>'
        f'<input id="{element_id}" type="range" min="0" max="1" step="0.01" value="1"{disabled}>'
        "</div>"
    )


def _volume_panel(stems: bool) -> str:
    note = (
        ""
        if stems
        else '<p class="note">Render with <code>--stems</code> for a separate ambience volume.</p>'
    )
    return (
        '<section class="panel" aria-labelledby="volume-heading">'
        '<h2 id="volume-heading">Volume</h2>'
        f"{_slider('voice-volume', 'Voice' if stems else 'Story', True)}"
        f"{_slider('bed-volume', 'Ambience', stems)}{note}</section>"
    )


def _chapter_panel(chapters: list[dict]) -> str:
    items = "".join(
        f'<li><button class="chapter" type="button" data-start="{float(c["start_s"]):.3f}">'
        f'<span class="chapter-title">{_e(c.get("title", ""))}</span>'
        f'<span class="chapter-time">{clock(float(c["start_s"]))}</span></button></li>'
        for c in chapters
    )
    return (
        '<section class="panel" aria-labelledby="chapters-heading">'
        f'<h2 id="chapters-heading">Chapters</h2><ol id="chapters">{items}</ol></section>'
    )


def _chapter_of(chapters: list[dict], start_s: float) -> int:
    """The chapter a moment of the story falls in (-1 before the first)."""
    found = -1
    for index, chapter in enumerate(chapters):
        if float(chapter["start_s"]) <= start_s:
            found = index
    return found


def _line(line: dict) -> str:
    return (
        f'<li><button class="line" type="button" data-start="{float(line["start_s"]):.3f}" '
        f'data-end="{float(line["end_s"]):.3f}">'
        f'<span class="speaker">{_e(speaker_name(str(line.get("speaker", ""))))}</span>'
        f'<span class="text">{_e(line.get("text", ""))}</span></button></li>'
    )


def _transcript_panel(chapters: list[dict], lines: list[dict]) -> str:
    parts: list[str] = []
    chapter_now: int | None = None
    for line in lines:
        chapter = _chapter_of(chapters, float(line["start_s"]))
        if chapter != chapter_now:
            if chapter_now is not None:
                parts.append("</ol>")
            if chapter >= 0:
                parts.append(f"<h3>{_e(chapters[chapter].get('title', ''))}</h3>")
            parts.append("<ol>")
            chapter_now = chapter
        parts.append(_line(line))
    if chapter_now is not None:
        parts.append("</ol>")
    return (
        '<section class="panel transcript-panel" aria-labelledby="transcript-heading">'
        '<h2 id="transcript-heading">Transcript</h2>'
        f'<div id="transcript" class="transcript" tabindex="0">{"".join(parts)}</div></section>'
    )


def _downloads(slug: str, files: Sequence[str]) -> str:
    kinds = ((".m4b", "Audiobook (M4B)"), (".mp3", "MP3"), (".vtt", "Transcript (WebVTT)"))
    links = [
        f'<a href="{_url(slug + ext)}" download>{label}</a>'
        for ext, label in kinds
        if slug + ext in files
    ]
    return f'<p class="downloads">{"".join(links)}</p>' if links else ""


def _cover(files: Sequence[str]) -> str:
    if "cover.jpg" not in files:
        return '<div class="cover" aria-hidden="true"></div>'
    return '<img class="cover" src="cover.jpg" alt="" width="176" height="176">'


def _page_data(report: dict, slug: str, files: Sequence[str]) -> dict[str, Any]:
    """What the page's script reads: the story's times, nothing it does not need."""
    return {
        "title": str(report.get("title") or slug),
        "slug": slug,
        "duration_s": _duration(report),
        "cover": "cover.jpg" if "cover.jpg" in files else None,
        "stems": has_stems(slug, files),
        "chapters": [
            {"title": c.get("title", ""), "start_s": c["start_s"], "end_s": c["end_s"]}
            for c in report.get("chapters", [])
        ],
        "lines": [
            {
                "speaker": speaker_name(str(line.get("speaker", ""))),
                "text": line.get("text", ""),
                "start_s": line["start_s"],
                "end_s": line["end_s"],
            }
            for line in report.get("lines", [])
        ],
    }


def _duration(report: dict) -> float:
    if "duration_s" in report:
        return float(report["duration_s"])
    chapters = report.get("chapters") or [{"end_s": 0.0}]
    return float(chapters[-1]["end_s"])


def _summary(report: dict) -> str:
    count = len(report.get("chapters", []))
    return f"{clock(_duration(report))} · {count} chapter{'' if count == 1 else 's'}"


def story_page(report: dict, files: Sequence[str]) -> str:
    """The listening page of one story. `report` is the story's render.json as a dict; `files`
    the names of the files in its folder (the mix as .mp3, .m4b and maybe .opus; with stems
    <slug>.voice.flac and <slug>.bed.flac; cover.jpg; the .vtt transcript)."""
    slug = _slug(report, files)
    title = str(report.get("title") or slug)
    chapters = list(report.get("chapters", []))
    lines = list(report.get("lines", []))
    header = (
        f'<header class="hero">{_cover(files)}<div>'
        '<p class="kicker">Bedtime story</p>'
        f'<h1>{_e(title)}</h1><p class="meta">{_e(_summary(report))}</p></div></header>'
    )
    controls = (
        '<div class="controls">'
        f"{_player_panel(slug, files, _duration(report))}{_sleep_panel()}"
        f"{_volume_panel(has_stems(slug, files))}{_chapter_panel(chapters)}"
        f"{_downloads(slug, files)}</div>"
    )
    body = (
        f'<main class="page">{header}<div class="columns">{controls}'
        f"{_transcript_panel(chapters, lines)}</div></main>"
    )
    script = _json_script("story-data", _page_data(report, slug, files))
    return _document(title, body, f"{script}\n<script>{SCRIPT}</script>\n")


def _card(folder: str, report: dict) -> str:
    href = urllib.parse.quote(folder)
    title = str(report.get("title") or folder)
    return (
        f'<li><a class="card" href="{_e(href)}/index.html">'
        f'<img class="cover" src="{_e(href)}/cover.jpg" alt="" loading="lazy" '
        "onerror=\"this.style.visibility='hidden'\">"
        f"<h2>{_e(title)}</h2><p>{_e(_summary(report))}</p></a></li>"
    )


def library_page(stories: Sequence[tuple[str, dict]]) -> str:
    """The library (output/index.html): every story (its folder's name and its render.json)
    as a card with its cover, title and length, leading to the story's own page."""
    cards = "".join(_card(folder, report) for folder, report in stories)
    count = len(stories)
    body = (
        '<main class="page"><header class="library-head"><p class="kicker">Bedtime stories</p>'
        f'<h1>Library</h1><p class="meta">{count} stor{"y" if count == 1 else "ies"}</p></header>'
        f'<ol class="grid">{cards}</ol></main>'
    )
    return _document("Bedtime stories", body)
