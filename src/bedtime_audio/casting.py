"""Stage 2: voices.yaml + Script → which voice speaks each line, on the chosen engine."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

from .engines import BLENDING_ENGINES, ENGINES, VoiceInfo
from .errors import ScriptError
from .model import Script, Voice
from .text import is_phonemes
from .yamlnodes import Problems, StructureError, compose_file, mapping, number, scalar, text

GENDERS = ("female", "male")
SPEED_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class Role:
    """What voices.yaml says of one speaker: a voice per engine, and a gender hint."""

    voices: Mapping[str, Voice]
    gender: str | None
    line: int


@dataclass(frozen=True)
class Casting:
    """A parsed voices.yaml."""

    path: str
    lexicon: Mapping[str, Mapping[str, str]]
    """Word → engine → how that engine should say it ('' for every engine)."""

    def lexicon_for(self, engine: str) -> Mapping[str, str]:
        """Word → respelling or phonemes, for one engine."""
        found = {word: forms.get(engine, forms.get("")) for word, forms in self.lexicon.items()}
        return MappingProxyType({word: form for word, form in found.items() if form})

    defaults: Mapping[str, Role]
    """Roles shared by every story, such as the narrator."""
    stories: Mapping[str, Mapping[str, Role]]
    """Story slug → speaker → role."""


@dataclass(frozen=True)
class Plan:
    """Every speaker of one story resolved to a voice on one engine."""

    script: Script
    engine: str
    voices: Mapping[str, Voice]
    lexicon: Mapping[str, str]
    notices: tuple[str, ...]
    """One line per speaker that voices.yaml did not cast."""


EMPTY_CASTING = Casting(
    "voices.yaml", MappingProxyType({}), MappingProxyType({}), MappingProxyType({})
)


def load_voices(path: Path | None) -> Casting:
    """Read voices.yaml; a missing default file means every speaker is auto-cast."""
    if path is None:
        return EMPTY_CASTING
    shown = str(path)
    root = compose_file(path, shown)
    problems = Problems(shown)
    casting = None
    try:
        casting = _casting(root, shown, problems)
    except StructureError:
        pass
    problems.raise_if_any()
    assert casting is not None
    return casting


def _casting(root: yaml.Node, shown: str, problems: Problems) -> Casting:
    top = mapping(root, "", problems, optional=("lexicon", "defaults", "stories"))
    lexicon: dict[str, Mapping[str, str]] = {}
    if "lexicon" in top:
        for word, (_key, node) in mapping(top["lexicon"][1], "lexicon", problems).items():
            with contextlib.suppress(StructureError):  # reported; go on to the next entry
                lexicon[word] = _entry(node, f"lexicon.{word}", problems)
    defaults = _roles(top["defaults"][1], "defaults", problems) if "defaults" in top else {}
    stories: dict[str, Mapping[str, Role]] = {}
    if "stories" in top:
        for slug, (_key, node) in mapping(top["stories"][1], "stories", problems).items():
            stories[slug] = MappingProxyType(_roles(node, f"stories.{slug}", problems))
    return Casting(
        shown, MappingProxyType(lexicon), MappingProxyType(defaults), MappingProxyType(stories)
    )


_PHONEMES = {"kokoro": ("/", "/", "IPA"), "pyttsx3": ("[[", "]]", "mnemonics")}
"""How each engine takes phonemes in a lexicon entry."""


def _entry(node: yaml.Node, where: str, problems: Problems) -> Mapping[str, str]:
    """A respelling for every engine, or a form per engine: a respelling or its phonemes."""
    if not isinstance(node, yaml.MappingNode):
        form = text(node, where, problems)
        if is_phonemes(form):
            engine = "kokoro" if form.startswith("/") else "pyttsx3"
            problems.add(
                node, where, f"'{form}' is {engine} phonemes: give them as {{{engine}: {form}}}"
            )
        return MappingProxyType({"": form})
    forms = {}
    for engine, (_key, value) in mapping(node, where, problems, optional=tuple(ENGINES)).items():
        form = text(value, f"{where}.{engine}", problems)
        opening, closing, name = _PHONEMES[engine]
        if is_phonemes(form) and not (form.startswith(opening) and form.endswith(closing)):
            problems.add(
                value,
                f"{where}.{engine}",
                f"{engine} takes phonemes as {opening}{name}{closing}, not '{form}'",
            )
        forms[engine] = form
    return MappingProxyType(forms)


def _roles(node: yaml.Node, where: str, problems: Problems) -> dict[str, Role]:
    roles = {}
    for speaker, (key_node, value) in mapping(node, where, problems).items():
        try:
            roles[speaker] = _role(value, f"{where}.{speaker}", problems, key_node.start_mark.line)
        except StructureError:
            continue
    return roles


def _role(node: yaml.Node, where: str, problems: Problems, line0: int) -> Role:
    keys = mapping(node, where, problems, optional=(*ENGINES, "gender"))
    gender = None
    if "gender" in keys:
        gender = str(scalar(keys["gender"][1], f"{where}.gender", problems))
        if gender not in GENDERS:
            problems.add(
                keys["gender"][1], f"{where}.gender", f"must be one of: {', '.join(GENDERS)}"
            )
    voices = {}
    for engine in ENGINES:
        if engine in keys:
            voices[engine] = _voice(engine, keys[engine][1], f"{where}.{engine}", problems)
    return Role(MappingProxyType(voices), gender, line0 + 1)


def _voice(engine: str, node: yaml.Node, where: str, problems: Problems) -> Voice:
    keys = mapping(node, where, problems, required=("voice",), optional=("speed", "pitch"))
    if "voice" not in keys:
        raise StructureError()
    voice_id = text(keys["voice"][1], f"{where}.voice", problems)
    speed = number(keys["speed"][1], f"{where}.speed", problems) if "speed" in keys else 1.0
    if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
        problems.add(keys["speed"][1], f"{where}.speed", "must be 0.5 to 2.0")
    pitch = None
    if "pitch" in keys:
        pitch = round(number(keys["pitch"][1], f"{where}.pitch", problems))
        if not 0 <= pitch <= 100:
            problems.add(keys["pitch"][1], f"{where}.pitch", "must be 0 to 100")
    return Voice(engine, voice_id, speed, pitch)


def cast(script: Script, casting: Casting, engine: str, offered: tuple[VoiceInfo, ...]) -> Plan:
    """Resolve every speaker of the script to a voice on the engine, auto-casting the rest."""
    story_roles = casting.stories.get(script.slug, MappingProxyType({}))
    roles = {s: story_roles.get(s) or casting.defaults.get(s) for s in script.cast}
    problems = Problems(casting.path)
    for speaker, listed in story_roles.items():
        if speaker not in script.cast:
            problems.errors.append(
                ScriptError(
                    casting.path,
                    listed.line,
                    f"stories.{script.slug}.{speaker}: '{speaker}' is not in the cast of "
                    f"{script.path} (cast: {', '.join(sorted(script.cast))})",
                )
            )
    known = {info.voice_id for info in offered}
    voices: dict[str, Voice] = {}
    for speaker, role in roles.items():
        voice = role.voices.get(engine) if role else None
        if role and voice and not is_offered(voice.voice_id, known):
            problems.errors.append(
                ScriptError(
                    casting.path,
                    role.line,
                    f"{speaker}: {engine} has no voice '{voice.voice_id}'"
                    f" (see 'bedtime voices --engine {engine}')",
                )
            )
        elif voice:
            voices[speaker] = voice
    problems.raise_if_any()
    notices = []
    for speaker, role in roles.items():
        if speaker not in voices:
            voices[speaker] = _auto_voice(script.slug, speaker, engine, offered, voices, role)
            notices.append(
                f"{script.slug}: '{speaker}' has no {engine} voice in "
                f"{casting.path}; auto-cast as {voices[speaker].voice_id}"
            )
    ordered = {speaker: voices[speaker] for speaker in script.cast}
    lexicon = casting.lexicon_for(engine)
    return Plan(script, engine, MappingProxyType(ordered), lexicon, tuple(notices))


def is_offered(voice_id: str, known: set[str]) -> bool:
    """A voice the engine lists, or a blend of them such as 'af_heart*0.6 + af_bella*0.4'."""
    parts = [re.split(r"[*:]", part)[0].strip() for part in voice_id.split("+")]
    return voice_id in known or all(part in known for part in parts)


def _auto_voice(
    slug: str,
    speaker: str,
    engine: str,
    offered: tuple[VoiceInfo, ...],
    taken: Mapping[str, Voice],
    role: Role | None,
) -> Voice:
    """A deterministic voice for the speaker, distinct from the story's other voices. Once a
    big cast has taken every voice, Kokoro blends two of one accent half and half."""
    used = {voice.voice_id for voice in taken.values()}
    pool = [info for info in offered if role is None or role.gender in (None, info.gender)]
    free = [info.voice_id for info in pool if info.voice_id not in used]
    if not free and engine in BLENDING_ENGINES:
        free = [
            f"{one.voice_id}*0.5 + {other.voice_id}*0.5"
            for one, other in itertools.combinations(pool or offered, 2)
            if one.language == other.language
        ]
        free = [voice_id for voice_id in free if voice_id not in used]
    free = free or [info.voice_id for info in pool or offered]
    digest = int.from_bytes(hashlib.sha256(f"{slug}/{speaker}".encode()).digest()[:8], "big")
    return Voice(engine, free[digest % len(free)])
