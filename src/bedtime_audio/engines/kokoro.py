"""The neural engine: Kokoro-82M (int8 ONNX) through kokoro-onnx. Natural; 1.8× real time a core.

The model and voices come from `make setup` (see assets.py); nothing is downloaded here.
kokoro_onnx and onnxruntime are imported on first synthesis, so listing voices is cheap.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from typing import Any, Literal

import numpy as np

from ..assets import MODEL_SHA256, VOICES_PACKAGE, kokoro_paths
from ..audio import Audio
from ..errors import DependencyError, EngineError
from ..model import Voice
from ..text import normalize_text, split_sentences
from . import VoiceInfo, package_version

RATE_HZ = 24_000
SPIN = "0"
"""No busy-waiting pool threads: as fast on an idle machine, and on one busy with other work
two spinning threads fell to 1.2× real time, below one thread's 1.8×."""
MAX_PIECE_CHARS = 100
"""Longest text per model call at speed 1; at speed s, s times as many characters, six or
seven seconds of speech. A longer sentence is cut at a comma (or a space). A call holds about
30 MB for each second of speech it makes, and a render's two units speak side by side: two
sentences of 8.1 s (93 characters at 0.76) held 480 MB. At 110 characters the five stories
peaked at 911 MB, at 100 at 873 MB; the shorter pieces cost 2% more time.
"""
SENTENCE_PAUSE_S = 0.35
"""Silence between the sentences of one line."""
CLAUSE_PAUSE_S = 0.12
"""Silence where an over-long sentence was cut at a comma or a space."""
SPEED_RANGE = (0.5, 2.0)
"""The speeds kokoro-onnx accepts."""

VOICE_IDS = (
    *("af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore"),
    *("af_nicole", "af_nova", "af_river", "af_sarah", "af_sky"),
    *("am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael"),
    *("am_onyx", "am_puck", "am_santa"),
    *("bf_alice", "bf_emma", "bf_isabella", "bf_lily"),
    *("bm_daniel", "bm_fable", "bm_george", "bm_lewis"),
)
"""The English voices that assets.py packs into voices-en.npz."""
_ACCENTS = {"a": ("en-us", "American English"), "b": ("en-gb", "British English")}
_GENDERS: dict[str, Literal["female", "male"]] = {"f": "female", "m": "male"}


class KokoroEngine:
    name = "kokoro"

    def __init__(self, threads: int | None = None) -> None:
        """threads: ONNX Runtime intra-op threads, all CPUs by default. A render's P units
        share the engine, each speaking with cpu_count // P of them: two units on one
        one-thread session speak nearly as fast as two processes, in far less memory (see
        bench/kokoro_threads.py)."""
        self._threads = threads or os.cpu_count() or 1
        self._kokoro: Any = None
        self._lock = threading.Lock()
        self.version = (
            f"kokoro-onnx-{package_version('kokoro-onnx')}"
            f"+kokoro-v1.0-int8-{MODEL_SHA256[:12]}+{VOICES_PACKAGE}+pieces-{MAX_PIECE_CHARS}"
        )

    def voices(self) -> tuple[VoiceInfo, ...]:
        """The 28 English voices; id prefixes give accent (a/b) and gender (f/m)."""
        return tuple(_voice_info(voice_id) for voice_id in VOICE_IDS)

    def synthesize(self, text: str, voice: Voice) -> Audio:
        """Speak text sentence by sentence, pausing between; ids may blend: 'af_sky+af_bella:2'."""
        if not any(ch.isalnum() for ch in text):
            raise EngineError(f"kokoro: nothing to say in {text!r}")
        pieces = _pieces(text, voice.speed)
        blend = parse_blend(voice.voice_id)
        _check_speed(voice.speed)
        kokoro = self._model()
        style = _style(kokoro, blend)
        language = _ACCENTS[blend[0][0][0]][0]
        clips = [self._speak(kokoro, piece, style, voice.speed, language) for piece in pieces]
        return Audio(_join(pieces, clips), RATE_HZ)

    def phonemes(self, text: str, voice: Voice) -> str:
        """Kokoro's phonemes: eSpeak NG's IPA, as kokoro-onnx makes them, with the lexicon's
        /IPA/ in place of its words."""
        language = _ACCENTS[parse_blend(voice.voice_id)[0][0][0]][0]
        pieces = _pieces(text, voice.speed)
        return " ".join(_phonemized(piece, language) for piece in pieces)

    def _speak(
        self, kokoro: Any, piece: str, style: np.ndarray, speed: float, lang: str
    ) -> np.ndarray:
        ipa = _IPA.search(piece) is not None
        text = _phonemized(piece, lang) if ipa else piece
        try:
            samples, rate_hz = kokoro.create(
                text, voice=style, speed=speed, lang=lang, is_phonemes=ipa
            )
        except (ValueError, RuntimeError) as exc:
            raise EngineError(f"kokoro: could not speak {piece[:60]!r}: {exc}") from None
        if rate_hz != RATE_HZ:
            raise EngineError(f"kokoro: model spoke at {rate_hz} Hz, expected {RATE_HZ}")
        return np.asarray(samples, dtype=np.float32)

    def _model(self) -> Any:
        with self._lock:
            if self._kokoro is None:
                self._kokoro = _load(self._threads)
            return self._kokoro


def _pieces(text: str, speed: float) -> list[str]:
    return split_sentences(normalize_text(text), max(1, round(MAX_PIECE_CHARS * speed)))


_IPA = re.compile(r"/([^/\s][^/]*)/")
"""A lexicon's phonemes in the text: /ɹˈoʊʃən/."""
_SPACE_BEFORE_MARK = re.compile(r" +(?=[,.;:!?])")
_POSSESSIVE = re.compile(r"/([^/\s][^/]*)/'s\b")


def _possessive(match: re.Match[str]) -> str:
    """Roshan's: /ɹˈoʊʃən/'s → /ɹˈoʊʃənz/ (s after a voiceless sound, ɪz after a hiss)."""
    ipa = match[1]
    ending = "ɪz" if ipa[-1] in "szʃʒ" else "s" if ipa[-1] in "ptkfθ" else "z"
    return f"/{ipa}{ending}/"


def _phonemized(piece: str, lang: str) -> str:
    """The piece in phonemes: the text around any /IPA/ phonemized by eSpeak NG as kokoro-onnx
    does it, the IPA kept as written."""
    parts = _IPA.split(_POSSESSIVE.sub(_possessive, piece))  # text, IPA, text, ...
    phonemes = [
        part.strip() if index % 2 else _tokenizer().phonemize(part, lang) if part.strip() else ""
        for index, part in enumerate(parts)
    ]
    return _SPACE_BEFORE_MARK.sub("", " ".join(p for p in phonemes if p))


@functools.cache
def _tokenizer() -> Any:
    try:
        from kokoro_onnx.tokenizer import Tokenizer
    except ImportError as exc:
        raise DependencyError(f"kokoro needs kokoro-onnx ({exc}); run 'make setup'") from None
    return Tokenizer()


def parse_blend(voice_id: str) -> list[tuple[str, float]]:
    """'af_heart*0.6 + af_bella*0.4' (or 'af_heart:0.6+af_bella:0.4') →
    [('af_heart', 0.6), ('af_bella', 0.4)]; weight 1 if omitted."""
    blend = [_weighted(part.strip(), voice_id) for part in voice_id.split("+")]
    if sum(weight for _, weight in blend) <= 0:
        raise EngineError(f"kokoro: voice '{voice_id}' has no positive weight")
    return blend


def _weighted(part: str, voice_id: str) -> tuple[str, float]:
    name, _, weight = part.replace("*", ":").partition(":")
    name, weight = name.strip(), weight.strip()
    if name not in VOICE_IDS:
        raise EngineError(
            f"kokoro: unknown voice '{name}' in '{voice_id}' (voices: {', '.join(VOICE_IDS)})"
        )
    try:
        value = float(weight) if weight else 1.0
    except ValueError:
        raise EngineError(f"kokoro: weight '{weight}' in '{voice_id}' is not a number") from None
    if value < 0:
        raise EngineError(f"kokoro: weight {value} in '{voice_id}' is negative")
    return name, value


def _style(kokoro: Any, blend: list[tuple[str, float]]) -> np.ndarray:
    """The voice's style vectors, a weighted mean for a blend."""
    total = sum(weight for _, weight in blend)
    vectors = [kokoro.get_voice_style(name) * (weight / total) for name, weight in blend]
    return np.asarray(np.sum(vectors, axis=0), dtype=np.float32)


def _join(pieces: list[str], clips: list[np.ndarray]) -> np.ndarray:
    """Clips end to end, with a sentence or clause pause after each but the last."""
    parts: list[np.ndarray] = []
    for piece, clip in zip(pieces, clips, strict=True):
        ends_sentence = piece.rstrip("\"')]").endswith((".", "!", "?"))
        pause_s = SENTENCE_PAUSE_S if ends_sentence else CLAUSE_PAUSE_S
        parts += [clip, np.zeros(round(pause_s * RATE_HZ), np.float32)]
    return np.concatenate(parts[:-1])


def _check_speed(speed: float) -> None:
    low, high = SPEED_RANGE
    if not low <= speed <= high:
        raise EngineError(f"kokoro: speed {speed} is outside {low}–{high}")


def _voice_info(voice_id: str) -> VoiceInfo:
    language, accent = _ACCENTS[voice_id[0]]
    gender = _GENDERS[voice_id[1]]
    return VoiceInfo(voice_id, gender, language, f"{accent}, {gender}")


def _load(threads: int) -> Any:
    """A kokoro_onnx.Kokoro on a CPU session with the given thread count."""
    model_path, voices_path = kokoro_paths()
    try:
        import onnxruntime as ort
        from kokoro_onnx import Kokoro
    except ImportError as exc:
        raise DependencyError(f"kokoro needs kokoro-onnx ({exc}); run 'make setup'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", SPIN)
    try:
        session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return Kokoro.from_session(_Shrinking(session, ort.RunOptions()), str(voices_path))
    except Exception as exc:  # onnxruntime raises its own types; espeak-ng raises RuntimeError
        raise EngineError(
            f"kokoro: could not load {model_path} ({exc}); run 'make setup'"
        ) from None


class _Shrinking:
    """The session, handing back after every run what its memory arena no longer uses. The
    speech is the same and as fast, but a worker between sentences (mixing a chapter, say)
    held about 390 MB after dream-standard's first 60 sentences instead of 780 MB."""

    def __init__(self, session: Any, options: Any) -> None:
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._session, self._options = session, options

    def run(self, output_names: Any, inputs: Any) -> Any:
        return self._session.run(output_names, inputs, self._options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)
