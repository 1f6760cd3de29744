"""The pipeline, top to bottom: gather and validate everything first, then write."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import AudioCache, Planar, Store, scratch
from .casting import Casting, Plan, cast, load_voices
from .engines import ENGINE_CREDITS, SpeechEngine, load_engine
from .errors import BedtimeError, ExportError, ScriptErrors
from .executors import FINISHING, Executor, default_jobs, open_executor, stop_point
from .export import (
    Outputs,
    Section,
    StoryInfo,
    export,
    is_current,
    require_ffmpeg,
    section_keys,
    write_library,
)
from .master import TARGET_LUFS, HopMeter, LimitedLoudness, Read, mastered_blocks
from .mix import (
    BLOCK_FRAMES,
    HANDOFF_S,
    RATE_HZ,
    TailPiece,
    Timeline,
    chapter_blocks,
    chapter_frames,
    plan_chapter,
    tail_blocks,
    tail_frames,
    tail_pieces,
)
from .script import parse_script
from .soundscape import synthetic_share
from .synth import Speaking, SpeechBank, start_speaking

Report = Callable[[str], None]
TAIL_TITLE = "Drift off"


@dataclass(frozen=True)
class RenderOptions:
    out_dir: Path
    cache_dir: Path
    """Holds lines/ (synthesized speech), chapters/ (mixed, mastered chapters) and encoded/
    (stretches of AAC)."""
    tail_s: float = 600.0
    """Ambience after the last line; 0 for none."""
    target_lufs: float = TARGET_LUFS
    jobs: int = field(default_factory=default_jobs)
    """Units run at once: sentences spoken, sections mixed, stretches encoded."""
    executor: str = "local"
    """Where the units run: "local" (this machine) or "dask"."""
    scheduler: str | None = None
    """The Dask scheduler's address; None for a LocalCluster on this machine."""
    outputs: Outputs = Outputs()
    """The files a story gets besides the M4B, MP3 and what goes with them."""

    @property
    def lines(self) -> AudioCache:
        return AudioCache(self.cache_dir / "lines")

    @property
    def chapters(self) -> AudioCache:
        return AudioCache(self.cache_dir / "chapters")

    @property
    def encoded(self) -> Store:
        return Store(self.cache_dir / "encoded")


def prepare(paths: list[Path], voices_path: Path | None, engine: SpeechEngine) -> list[Plan]:
    """Parse and cast every script; all problems of all files are reported together."""
    casting: Casting = load_voices(voices_path)
    plans: list[Plan] = []
    problems: list[BedtimeError] = []
    for path in paths:
        try:
            plans.append(cast(parse_script(path), casting, engine.name, engine.voices()))
        except ScriptErrors as exc:
            problems.extend(exc.errors)
        except BedtimeError as exc:
            problems.append(exc)
    if problems:
        raise BedtimeError("\n".join(str(p) for p in problems))
    return plans


def render(
    paths: list[Path],
    voices_path: Path | None,
    engine_name: str,
    options: RenderOptions,
    report: Report,
) -> list[Rendered]:
    """Render the stories through one executor: every story's speech is queued at once, and
    each story is mixed and encoded, in order, as soon as it is spoken."""
    engine = load_engine(engine_name)
    plans = prepare(paths, voices_path, engine)
    require_ffmpeg()
    for plan in plans:
        for notice in plan.notices:
            report(f"notice: {notice}")
    with open_executor(options.executor, options.jobs, options.scheduler) as executor:
        speaking = [
            start_speaking(plan, engine, options.lines, executor, priority=-index)
            for index, plan in enumerate(plans)
        ]
        rendered = []
        for spoken in speaking:
            rendered.append(render_story(spoken, engine, options, executor, report))
            write_library(options.out_dir)
        return rendered


@dataclass(frozen=True)
class Rendered:
    """Where a story went, and how long it plays."""

    folder: Path
    duration_s: float


def render_story(
    speaking: Speaking,
    engine: SpeechEngine,
    options: RenderOptions,
    executor: Executor,
    report: Report,
) -> Rendered:
    plan = speaking.plan
    script = plan.script
    bank = speaking.bank(report)
    story = StoryInfo(
        script.slug,
        script.title,
        script.author,
        script.description,
        engine.name,
        script.narrator or narrator_credit(plan),
        script.year,
        str(Path(script.path).resolve()),
    )
    folder = options.out_dir / script.slug
    planned = _plan_sections(plan, bank, options)
    sections = [section for section, _timeline in planned]
    inputs = _digest(
        [
            *(engine.name, engine.version, options.target_lufs, CODE_VERSION, PUBLISHING_VERSION),
            repr(story),
            *((s.title, s.key) for s in sections),
        ]
    )
    if is_current(folder, script.slug, inputs, options.outputs):
        report(f"{script.slug}: up to date")
        duration_s = sum(s.length_s for s in sections) + sections[-1].handoff_s
        return Rendered(folder, duration_s)
    report(
        f"{script.slug}: {bank.synthesized} sentences spoken, {bank.cached} from the cache; "
        "mixing and encoding"
    )
    mixer = _Mixer(plan, options, {s.key: t for s, t in planned}, executor, report)
    duration_s = export(
        sections,
        story,
        out_dir=options.out_dir,
        inputs=inputs,
        mix=mixer.mix,
        chapters=options.chapters,
        encoded=options.encoded,
        executor=executor,
        outputs=options.outputs,
        progress=report,
    )
    report(f"{script.slug}: done, {duration_s / 60:.1f} min of audio")
    return Rendered(folder, duration_s)


def narrator_credit(plan: Plan) -> str:
    """The voice of whoever speaks most of the story, as the players' narrator."""
    speakers = Counter(speech.speaker for speech in plan.script.speeches)
    voice = plan.voices[speakers.most_common(1)[0][0]]
    return f"{ENGINE_CREDITS.get(voice.engine, voice.engine)} voice {voice.voice_id}"


def _plan_sections(
    plan: Plan, bank: SpeechBank, options: RenderOptions
) -> list[tuple[Section, Timeline | TailPiece]]:
    """The story's sections in order, each with its chapter's timeline or its piece of the tail.
    A section's key is everything that decides how it sounds: the chapter-cache key."""
    script, chapters = plan.script, plan.script.chapters
    sections: list[tuple[Section, Timeline | TailPiece]] = []
    for index, chapter in enumerate(chapters):
        timeline = plan_chapter(chapter, index, len(chapters), script.pacing, bank)
        key = _digest([script.slug, CODE_VERSION, options.target_lufs, *_sound_of(timeline)])
        share = sum(
            (bed.end_s - bed.start_s) * synthetic_share(bed.soundscape) for bed in timeline.beds
        ) / (timeline.length_s + HANDOFF_S)
        section = Section(chapter.title, key, timeline.length_s, HANDOFF_S, timeline.lines, share)
        sections.append((section, timeline))
    if options.tail_s > 0:
        bed = chapters[-1].scenes[-1].soundscape
        last_chapter = sections[-1][0].key
        for piece in tail_pieces(bed, max(options.tail_s, HANDOFF_S)):
            key = _digest([last_chapter, "tail", piece.tail_s, piece.index, repr(bed)])
            section = Section(
                TAIL_TITLE,
                key,
                piece.length_s,
                piece.handoff_s,
                (),
                synthetic_share(bed),
                continues=piece.index > 0,
            )
            sections.append((section, piece))
    return sections


def _sound_of(timeline: Timeline) -> list[object]:
    """Everything on a chapter's timeline that shapes its sound (and not, say, the script line
    numbers that move when a line is added above)."""
    return [
        timeline.index,
        timeline.length_s,
        repr(timeline.beds),
        repr(timeline.cues),
        *(
            (p.start_s, p.least_pause_s, p.duck_db, p.offsets_s, repr(p.clip.sentences))
            + (p.clip.gain_db, p.clip.lifts_db)
            for p in timeline.lines
        ),
    ]


class _Mixer:
    """Mixes and masters the sections missing from the chapter cache, each a unit of its own,
    and keeps it there as soon as it is mixed, so a render killed part-way resumes from there.

    Every chapter is mastered to the target, so the story lands there too; the tail carries
    on at the last chapter's gain, so its pieces are mixed once the chapters are."""

    def __init__(
        self,
        plan: Plan,
        options: RenderOptions,
        timelines: dict[str, Timeline | TailPiece],
        executor: Executor,
        report: Report,
    ) -> None:
        self.plan, self.options, self.executor, self.report = plan, options, executor, report
        self.timelines = timelines

    def mix(self, sections: Sequence[Section]) -> None:
        slug = self.plan.script.slug
        chapters = [s for s in sections if not isinstance(self.timelines[s.key], TailPiece)]
        tail = [s for s in sections if isinstance(self.timelines[s.key], TailPiece)]
        self._run(chapters, None)
        if tail:
            with self.options.chapters.reader(chapters[-1].audio_key) as last:
                if last is None:
                    raise ExportError(f"{slug}: the last chapter vanished from the chapter cache")
                gain_db = last.meta["gain_db"]
            self._run(tail, gain_db)

    def _run(self, sections: list[Section], gain_db: float | None) -> None:
        slug = self.plan.script.slug
        stems = self.options.outputs.stems
        missing = [
            section
            for section in sections
            if not all(
                self.options.chapters.holds(k) for k in section_keys(section, stems).values()
            )
        ]
        for section in sections:
            if section not in missing:
                self.report(f"{slug}: {self._named(section)} unchanged")
        units = {
            self.executor.submit(
                mix_section,
                slug,
                section,
                self.timelines[section.key],
                self.options,
                gain_db,
                self.executor.unit_threads,
                priority=FINISHING,
            ): section
            for section in missing
        }
        for unit in as_completed(units):
            unit.result()
            self.report(f"{slug}: mixed {self._named(units[unit])}")

    def _named(self, section: Section) -> str:
        piece = self.timelines[section.key]
        part = f", part {piece.index + 1}" if isinstance(piece, TailPiece) and piece.index else ""
        return f"'{section.title}'{part}"


def mix_section(
    slug: str,
    section: Section,
    timeline: Timeline | TailPiece,
    options: RenderOptions,
    gain_db: float | None,
    threads: int = 1,
) -> None:
    """The unit of mixing: one section mixed and mastered into the chapter cache — a chapter
    to the target loudness, a piece of the tail at `gain_db`, the last chapter's gain. Its
    bed is made in `threads` threads.

    It is mixed a block at a time into a scratch file (measured on the way when it is a
    chapter), and mastered a block at a time from there into the cache: a section's memory is
    a few blocks however long it runs. A chapter's master is measured as it is made, and made
    again in the rare case that its limiter took more than 0.1 dB of loudness away."""
    chapters, stems = options.chapters, options.outputs.stems
    if isinstance(timeline, TailPiece):
        frames, blocks = tail_frames(timeline), tail_blocks(timeline, slug, threads)
    else:
        frames = chapter_frames(timeline)
        blocks = chapter_blocks(timeline, options.lines, slug, threads)
    meter = HopMeter(frames, RATE_HZ)
    with scratch(chapters.root, 4 if stems else 2, frames, RATE_HZ) as held:
        for voice, bed in blocks:
            stop_point()
            if stems:
                held.write(np.concatenate([voice, bed]))
                bed += voice
            else:
                bed += voice
                held.write(bed)
            if gain_db is None:
                meter.add(bed)

        def read(lo: int, hi: int) -> np.ndarray:
            tracks = held.read(lo, hi)
            return tracks[:2] + tracks[2:] if stems else tracks

        heard = None
        if gain_db is None:  # a chapter
            gain_db = meter.gain_to(options.target_lufs)
            heard = LimitedLoudness(meter, gain_db)
        try:
            _master_into(section, held, read, gain_db, options, threads, heard)
        except _Uncorrected as missed:
            _master_into(section, held, read, gain_db + missed.correction_db, options, threads)


class _Uncorrected(Exception):
    """A chapter's master that the limiter left more than 0.1 dB off its target."""

    def __init__(self, correction_db: float) -> None:
        super().__init__(f"{correction_db:+.2f} dB from the target")
        self.correction_db = correction_db


def _master_into(
    section: Section,
    held: Planar,
    read: Read,
    gain_db: float,
    options: RenderOptions,
    threads: int,
    heard: LimitedLoudness | None = None,
) -> None:
    """Master the mixed section in `held` into the chapter cache at gain_db, a block at a time.
    With `heard`, each block is measured as it is made, and nothing is kept if the master wants
    a correction (`_Uncorrected`)."""
    stems = options.outputs.stems
    keys = section_keys(section, stems)
    with contextlib.ExitStack() as kept:
        out = {}
        for name, key in keys.items():  # the mix first in, last out: it completes the section
            meta = {"gain_db": gain_db} if name == "mix" else {}
            out[name] = kept.enter_context(
                options.chapters.writer(key, 2, held.frames, RATE_HZ, meta)
            )
        gain = np.float32(10 ** (gain_db / 20))
        mastered = mastered_blocks(
            read, held.frames, RATE_HZ, gain_db, section.ceiling_dbtp, BLOCK_FRAMES, threads
        )
        for lo, audio, curve in mastered:
            stop_point()
            if heard is not None:
                heard.add(lo, audio, curve)
            out["mix"].write(audio)
            if stems:  # at the master's gain and its limiter's, so they add up to the mix
                tracks = held.read(lo, lo + audio.shape[1])
                tracks *= gain * curve
                out["voice"].write(tracks[:2])
                out["bed"].write(tracks[2:])
        if heard is not None and (correction_db := heard.correction_db(options.target_lufs)):
            raise _Uncorrected(correction_db)  # leaves the writers: their entries are dropped


_SOUND_MODULES = (
    "audio.py",
    "sounds.py",
    "mix.py",
    "master.py",
    "synth.py",
    "render.py",
    "export.py",
    "measure.py",
    "soundscape",
)


def _fingerprint(names: tuple[str, ...]) -> str:
    """The source of the named modules (and packages)."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for name in names:
        for path in (
            sorted((package / name).rglob("*.py")) if name == "soundscape" else [package / name]
        ):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


CODE_VERSION = _fingerprint(_SOUND_MODULES)
"""A change to any module that shapes the sound invalidates every cached chapter."""
PUBLISHING_VERSION = _fingerprint(("artifacts.py", "cover.py", "tags.py"))
"""A change to the files that go with the audio re-makes every finished story."""


def _digest(parts: list[object]) -> str:
    return hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()
