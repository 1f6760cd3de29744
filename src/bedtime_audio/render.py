"""The pipeline, top to bottom: gather and validate everything first, then write."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .cache import AudioCache, Store
from .casting import Casting, Plan, cast, load_voices
from .engines import SpeechEngine, load_engine
from .errors import BedtimeError, ScriptErrors
from .export import STEMS, Mastered, Section, StoryInfo, export, is_current, require_ffmpeg
from .master import TARGET_LUFS, limiter_gain, loudness_lufs, master, master_to_target
from .mix import HANDOFF_S, TailPiece, Timeline, mix_chapter, mix_tail, plan_chapter, tail_pieces
from .script import parse_script
from .soundscape import synthetic_share
from .synth import SpeechBank, synthesize

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
    jobs: int = 2
    """Lines synthesized at once."""
    stems: bool = False
    """Also write the voice and the bed as FLAC stems."""

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
    engine = load_engine(engine_name)
    plans = prepare(paths, voices_path, engine)
    require_ffmpeg()
    for plan in plans:
        for notice in plan.notices:
            report(f"notice: {notice}")
    return [render_story(plan, engine, options, report) for plan in plans]


@dataclass(frozen=True)
class Rendered:
    """Where a story went, and where the time went."""

    folder: Path
    duration_s: float
    spoken: int
    """Lines synthesized in this render; the rest came from the cache."""
    cached: int
    synth_s: float
    mix_s: float
    """Mixing and mastering, wall seconds."""
    encode_s: float


def render_story(
    plan: Plan, engine: SpeechEngine, options: RenderOptions, report: Report
) -> Rendered:
    script = plan.script
    started = time.perf_counter()
    bank = synthesize(plan, engine, options.lines, options.jobs, report)
    spoken_at = time.perf_counter()
    story = StoryInfo(script.slug, script.title, script.author, script.description, engine.name)
    folder = options.out_dir / script.slug
    planned = _plan_sections(plan, bank, options)
    sections = [section for section, _timeline in planned]
    inputs = _digest(
        [engine.name, engine.version, options.target_lufs, CODE_VERSION, *(s.key for s in sections)]
    )
    if is_current(folder, script.slug, inputs, options.stems):
        report(f"{script.slug}: up to date")
        duration_s = sum(s.length_s for s in sections) + sections[-1].handoff_s
        return Rendered(folder, duration_s, 0, bank.cached, spoken_at - started, 0.0, 0.0)
    report(
        f"{script.slug}: {bank.synthesized} sentences spoken, {bank.cached} from the cache; "
        "mixing and encoding"
    )
    mixer = _Mixer(plan, options, {s.key: t for s, t in planned}, report)
    duration_s = export(
        sections,
        mixer.load,
        story,
        out_dir=options.out_dir,
        inputs=inputs,
        encoded=options.encoded,
        stems=options.stems,
    )
    done_at = time.perf_counter()
    report(f"{script.slug}: done, {duration_s / 60:.1f} min of audio")
    return Rendered(
        folder,
        duration_s,
        bank.synthesized,
        bank.cached,
        spoken_at - started,
        mixer.mix_s,
        done_at - spoken_at - mixer.mix_s,
    )


def _plan_sections(
    plan: Plan, bank: SpeechBank, options: RenderOptions
) -> list[tuple[Section, Timeline | TailPiece]]:
    """The story's sections in order, each with its chapter's timeline or its piece of the tail.
    A section's key is everything that decides how it sounds: the chapter-cache key."""
    script, chapters = plan.script, plan.script.chapters
    sections: list[tuple[Section, Timeline | TailPiece]] = []
    for index, chapter in enumerate(chapters):
        timeline = plan_chapter(chapter, index, len(chapters), script.pacing, bank)
        key = _digest(
            [
                script.slug,
                CODE_VERSION,
                options.target_lufs,
                repr(timeline.beds),
                index,
                timeline.length_s,
                *(
                    (
                        p.start_s,
                        p.least_pause_s,
                        p.clip.gain_db,
                        *p.offsets_s,
                        *(x.key for x in p.clip.sentences),
                    )
                    for p in timeline.lines
                ),
            ]
        )
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


class _Mixer:
    """Each section mixed and mastered on its own — or found in the chapter cache — when the
    export comes to it: one section is in memory at a time, and each is kept as soon as it
    is mixed, so a render killed part-way resumes from there.

    Every chapter is mastered to the target, so the story lands there too; the tail carries
    on at the last chapter's gain."""

    def __init__(
        self,
        plan: Plan,
        options: RenderOptions,
        timelines: dict[str, Timeline | TailPiece],
        report: Report,
    ) -> None:
        self.plan, self.options, self.timelines, self.report = plan, options, timelines, report
        self.gain_db = 0.0
        """The last chapter's mastering gain, for the tail."""
        self.mix_s = 0.0

    def load(self, section: Section) -> Mastered:
        found = self._cached(section)
        if found is None:
            return self._mix(section)
        self.report(f"{self.plan.script.slug}: {self._named(section)} unchanged")
        return found

    def _named(self, section: Section) -> str:
        piece = self.timelines[section.key]
        part = f", part {piece.index + 1}" if isinstance(piece, TailPiece) and piece.index else ""
        return f"'{section.title}'{part}"

    def _keys(self, section: Section) -> dict[str, str]:
        stems = STEMS if self.options.stems else ()
        key = section.audio_key
        return {"mix": key} | {stem: f"{key}-{stem}" for stem in stems}

    def _cached(self, section: Section) -> Mastered | None:
        tracks = {}
        meta: dict[str, float] = {}
        for name, key in self._keys(section).items():
            entry = self.options.chapters.entry(key)
            if entry is None:
                return None
            tracks[name] = entry.audio
            meta |= entry.meta
        self.gain_db = meta["gain_db"]
        return Mastered(tracks, meta["loudness_lufs"])

    def _mix(self, section: Section) -> Mastered:
        started = time.perf_counter()
        slug, options = self.plan.script.slug, self.options
        timeline = self.timelines[section.key]
        ceiling = section.ceiling_dbtp
        if isinstance(timeline, TailPiece):
            mixed = mix_tail(timeline, slug)
            gain_db = self.gain_db
            audio = master(mixed.mixed, gain_db, ceiling)
        else:
            mixed = mix_chapter(timeline, options.lines, slug)
            audio, gain_db = master_to_target(mixed.mixed, options.target_lufs, ceiling)
        tracks = {"mix": audio}
        keys = self._keys(section)
        if options.stems:  # the stems take the limiter's gain too, so they add up to the mix
            curve = limiter_gain(mixed.mixed.gain(gain_db), ceiling)
            for stem in STEMS:
                tracks[stem] = getattr(mixed, stem).gain(gain_db).scaled(curve)
                options.chapters.put(keys[stem], tracks[stem])
        loudness = loudness_lufs(audio)
        options.chapters.put(keys["mix"], audio, {"gain_db": gain_db, "loudness_lufs": loudness})
        self.gain_db = gain_db
        self.mix_s += time.perf_counter() - started
        self.report(f"{slug}: mixed {self._named(section)}")
        return Mastered(tracks, loudness)


_SOUND_MODULES = (
    "audio.py",
    "mix.py",
    "master.py",
    "synth.py",
    "render.py",
    "export.py",
    "measure.py",
    "soundscape",
)


def _fingerprint() -> str:
    """The source of the modules that shape the sound: a change to any of them invalidates
    every cached chapter and finished story."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _SOUND_MODULES:
        for path in (
            sorted((package / name).rglob("*.py")) if name == "soundscape" else [package / name]
        ):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


CODE_VERSION = _fingerprint()


def _digest(parts: list[object]) -> str:
    return hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()
