"""Mixer arithmetic on synthesized clips: sines stand in for speech, the bed is real."""

import itertools
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from bedtime_audio import mix
from bedtime_audio.audio import Audio, equal_power
from bedtime_audio.cache import AudioCache
from bedtime_audio.master import loudness_lufs
from bedtime_audio.mix import (
    DUCK_DB,
    GRID_FRAMES,
    HANDOFF_S,
    LEAD_IN_S,
    LEAD_OUT_S,
    RATE_HZ,
    line_audio,
    mix_chapter,
    place_line,
    plan_chapter,
    widened,
)
from bedtime_audio.model import Chapter, Layer, Pacing, Pause, Scene, Speech, Voice
from bedtime_audio.synth import (
    SPEECH_LUFS,
    Clip,
    Sentence,
    SpeechBank,
    level_gain_db,
    loudness_blocks,
    pauses_in,
)

RAIN = (Layer("rain"),)
WIND = (Layer("wind"),)


def bank_of(lines: list[Speech], cache: AudioCache, seconds: float = 2.0) -> SpeechBank:
    """Each line a sine tone of the given length, stored in a real cache, levelled like speech."""
    clips = {}
    for index, line in enumerate(lines):
        t = np.arange(round(seconds * 22050)) / 22050
        audio = Audio(0.3 * np.sin(2 * np.pi * (200 + 50 * index) * t), 22050)
        key = f"{index:064x}"
        cache.put(key, audio)
        sentence = Sentence(key, audio.duration_s, pauses_in(audio))
        gain_db = level_gain_db(loudness_blocks(audio))
        clips[line] = Clip(Voice("test", "v"), line.text, (sentence,), gain_db)
    return SpeechBank(MappingProxyType(clips), len(lines), 0)


def chapter_of(*scenes: tuple) -> Chapter:
    return Chapter("C", scenes[0][0], tuple(Scene(None, bed, lines, 1) for bed, lines in scenes), 1)


def test_timeline_places_lines_with_pauses(tmp_path: Path) -> None:
    a, b, c = Speech("n", "a", 1), Speech("n", "b", 2), Speech("n", "c", 3)
    chapter = chapter_of((RAIN, (a, b, Pause(4.0, 3))), (WIND, (c,)))
    pacing = Pacing(line_pause_s=1.0, scene_pause_s=3.0)
    timeline = plan_chapter(chapter, 0, 1, pacing, bank_of([a, b, c], AudioCache(tmp_path)))
    starts = [p.start_s for p in timeline.lines]
    assert starts == pytest.approx([LEAD_IN_S, LEAD_IN_S + 3.0, LEAD_IN_S + 3.0 + 2 + 4 + 3])
    # the lead-out, rounded up so the next chapter starts on the grid
    grid_s = GRID_FRAMES / RATE_HZ
    assert 0 <= timeline.length_s - (starts[-1] + 2.0 + LEAD_OUT_S) < grid_s
    assert round(timeline.length_s * RATE_HZ) % GRID_FRAMES == 0
    boundary = LEAD_IN_S + 3.0 + 2 + 4 + 1.5
    assert [(bed.soundscape, bed.start_s) for bed in timeline.beds] == [
        (RAIN, 0.0),
        (WIND, pytest.approx(boundary)),
    ]


def test_pauses_grow_chapter_by_chapter(tmp_path: Path) -> None:
    a, b = Speech("n", "a", 1), Speech("n", "b", 2)
    chapter = chapter_of((RAIN, (a, b)))
    bank = bank_of([a, b], AudioCache(tmp_path))
    pacing = Pacing(line_pause_s=1.0, final_pause_scale=2.5)
    gaps = [
        (lambda lines: lines[1].start_s - lines[0].end_s)(
            plan_chapter(chapter, i, 3, pacing, bank).lines
        )
        for i in range(3)
    ]
    assert gaps == pytest.approx([1.0, 1.75, 2.5])
    assert pacing.speed(0, 3) == 0.9 and pacing.speed(2, 3) == pytest.approx(0.8)


def _spoken(seconds: list[float], gap_s: float = 0.0) -> Audio:
    """Tones of the given lengths, each followed (but the last) by gap_s of silence."""
    parts = []
    for index, length_s in enumerate(seconds):
        t = np.arange(round(length_s * 24000)) / 24000
        parts.append(0.3 * np.sin(2 * np.pi * (180 + 40 * index) * t))
        parts.append(np.zeros(round(gap_s * 24000)))
    return Audio(np.concatenate(parts[:-1]).astype(np.float32), 24000)


def test_a_pause_inside_a_sentence_is_found_and_widened() -> None:
    audio = _spoken([1.0, 0.8], gap_s=0.25)
    ((middle_s, length_s),) = pauses_in(audio)
    assert (middle_s, length_s) == pytest.approx((1.125, 0.25), abs=0.011)
    assert pauses_in(_spoken([1.0, 0.8], gap_s=0.1)) == ()  # a consonant's closure, not a pause
    wide = widened(audio, pauses_in(audio), 0.75)
    assert wide.duration_s == pytest.approx(audio.duration_s + 0.5, abs=0.011)
    assert pauses_in(wide)[0][1] == pytest.approx(0.75, abs=0.011)
    assert widened(audio, pauses_in(audio), 0.2) is audio  # long enough already


def test_sentences_of_a_line_are_placed_with_the_chapter_s_pauses(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    one, two = _spoken([1.0, 0.8], gap_s=0.25), _spoken([0.5])
    cache.put("a" * 64, one)
    cache.put("b" * 64, two)
    sentences = tuple(
        Sentence(k, a.duration_s, pauses_in(a)) for k, a in (("a" * 64, one), ("b" * 64, two))
    )
    clip = Clip(Voice("test", "v"), "x", sentences, 0.0)
    pacing = Pacing(sentence_pause_s=0.6, clause_pause_s=0.4, final_pause_scale=2.0)
    first = place_line(Speech("n", "x", 1), clip, 5.0, pacing)
    last = place_line(Speech("n", "x", 1), clip, 5.0, pacing, scale=2.0)
    assert first.offsets_s == pytest.approx((0.0, one.duration_s + 0.15 + 0.6), abs=0.011)
    assert last.offsets_s == pytest.approx((0.0, one.duration_s + 0.55 + 1.2), abs=0.011)
    heard = line_audio(last, cache)
    assert heard.duration_s == pytest.approx(last.end_s - last.start_s, abs=0.001)
    # silence where the pauses were placed, sound where the sentences are
    level = np.abs(heard.samples[0])
    inside = slice(round((one.duration_s + 0.6) * RATE_HZ), round((one.duration_s + 1.7) * RATE_HZ))
    assert level[inside].max() < 1e-3
    assert (
        level[round(0.5 * RATE_HZ)] > 1e-3
        or level[round(0.5 * RATE_HZ) - 10 : round(0.5 * RATE_HZ) + 10].max() > 1e-2
    )


def test_equal_power_crossfade_keeps_power_constant() -> None:
    frames = RATE_HZ * 4
    fade_out = equal_power(frames, 0, frames)
    fade_in = equal_power(frames, frames, 0)
    np.testing.assert_allclose(fade_out**2 + fade_in**2, 1.0, atol=1e-5)


def test_bed_ducks_under_speech_and_rises_between(tmp_path: Path) -> None:
    a = Speech("n", "a", 1)
    chapter = chapter_of((RAIN, (a,)))
    timeline = plan_chapter(chapter, 0, 1, Pacing(), bank_of([a], AudioCache(tmp_path), 6.0))
    mixed = mix_chapter(timeline, AudioCache(tmp_path), "s")
    bed = mixed.bed
    during = bed.slice_s(LEAD_IN_S + 1, LEAD_IN_S + 5)
    before = bed.slice_s(HANDOFF_S, LEAD_IN_S - 0.5)
    depth_db = loudness_lufs(before) - loudness_lufs(during)
    assert depth_db == pytest.approx(DUCK_DB, abs=1.0)
    voice_lufs = loudness_lufs(mixed.voice.slice_s(LEAD_IN_S + 1, LEAD_IN_S + 5))
    assert voice_lufs == pytest.approx(SPEECH_LUFS, abs=0.5)
    assert voice_lufs - loudness_lufs(during) >= 18.0, "the bed sits 18 LU under speech"


def test_each_scene_s_bed_plays_in_its_own_place(tmp_path: Path) -> None:
    """Three scenes mixed block by block: rain, then wind (darker), then rain again, each heard
    where its scene is, and the bed never silent."""
    lines = [Speech("n", text, 1) for text in "abc"]
    cache = AudioCache(tmp_path)
    bank = bank_of(lines, cache, 12.0)
    chapter = chapter_of((RAIN, (lines[0],)), (WIND, (lines[1],)), (RAIN, (lines[2],)))
    timeline = plan_chapter(chapter, 0, 1, Pacing(), bank)
    bed = mix_chapter(timeline, cache, "s").bed
    assert [part.soundscape for part in timeline.beds] == [RAIN, WIND, RAIN]

    def centroid_hz(part: mix.Bed) -> float:
        heard = bed.slice_s(part.start_s + 3.0, part.end_s - 3.0).samples[0]
        power = np.abs(np.fft.rfft(heard)) ** 2
        return float((np.fft.rfftfreq(heard.size, 1 / RATE_HZ) * power).sum() / power.sum())

    rain, wind, rain_again = map(centroid_hz, timeline.beds)
    assert min(rain, rain_again) > 1.5 * wind
    seconds = bed.samples[:, : bed.frames // RATE_HZ * RATE_HZ].reshape(2, -1, RATE_HZ)
    assert np.sqrt(np.mean(seconds[:, 1:-1] ** 2, axis=(0, 2))).min() > 1e-3, "never silent"


def test_chapter_audio_runs_a_handoff_past_its_end(tmp_path: Path) -> None:
    a = Speech("n", "a", 1)
    cache = AudioCache(tmp_path)
    bank = bank_of([a], cache)
    timeline = plan_chapter(chapter_of((RAIN, (a,))), 0, 1, Pacing(), bank)
    mixed = mix_chapter(timeline, cache, "s").mixed
    assert mixed.duration_s == pytest.approx(timeline.length_s + HANDOFF_S, abs=1e-3)
    assert mixed.channels == 2 and mixed.rate_hz == RATE_HZ
    assert np.abs(mixed.samples[:, -10:]).max() < 1e-3, "the bed fades out in the handoff"


def test_tail_pieces_overlap_add_into_one_steady_fading_tail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mix, "TAIL_PIECE_FRAMES", 96 * GRID_FRAMES)  # 20 s pieces
    pieces = mix.tail_pieces(RAIN, 125.0)
    assert [round(p.length_s) for p in pieces] == [20, 20, 20, 20, 20, 25]
    assert [p.handoff_s for p in pieces] == [HANDOFF_S] * 5 + [0.0]
    story = np.zeros((2, round(125.0 * RATE_HZ)), np.float32)
    for piece in pieces:
        audio = mix.mix_tail(piece, "tail-test").mixed.samples
        start = round(piece.start_s * RATE_HZ)
        story[:, start : start + audio.shape[1]] += audio
        assert audio.shape[1] == round((piece.length_s + piece.handoff_s) * RATE_HZ)
    second = RATE_HZ
    levels_db = [
        20 * np.log10(np.sqrt(np.mean(story[:, i : i + second] ** 2)))
        for i in range(0, story.shape[1] - second + 1, second)
    ]
    steady = levels_db[int(HANDOFF_S) : 93]  # after the fade-in, before the last quarter's fade
    assert max(steady) - min(steady) < 1.5, "no dip or bump where the pieces crossfade"
    fading = levels_db[94:]
    assert all(b < a + 0.5 for a, b in itertools.pairwise(fading))
    assert fading[-1] < steady[0] - 20


def test_mixing_and_mastering_a_longer_chapter_needs_no_more_memory(tmp_path: Path) -> None:
    """A chapter is mixed a block at a time into a scratch file, and mastered a block at a time
    from there into the chapter cache: three times as long, it holds no more."""
    import tracemalloc

    from bedtime_audio.export import Section
    from bedtime_audio.render import RenderOptions, mix_section

    bed = (Layer("server-hum"), Layer("rain"))  # both families: the bed's arc is worked too
    options = RenderOptions(tmp_path, tmp_path)

    def peak_mb(minutes: float) -> float:
        length_s = minutes * 60
        scene = mix.Bed(bed, 0.0, length_s + HANDOFF_S, 0)
        timeline = mix.Timeline(0, chapter_of((bed, ())), (), (scene,), length_s)
        section = Section("memory", f"memory-{minutes}", length_s, HANDOFF_S, (), 0.5)
        tracemalloc.start()
        try:
            mix_section("memory", section, timeline, options, None)
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
            mixed = options.chapters.get(section.key)
            assert mixed is not None
            assert mixed.duration_s == pytest.approx(length_s + HANDOFF_S, abs=1e-3)

    chapter_mb_per_minute = 60 * RATE_HZ * 2 * 4 / 2**20  # float32 stereo
    growth = (peak_mb(6.0) - peak_mb(2.0)) / (4 * chapter_mb_per_minute)
    assert growth <= 0.05, f"{growth:.2f} chapters held at once"


@pytest.mark.parametrize("stems", [False, True])
def test_a_chapter_the_limiter_quiets_is_mastered_again_at_the_corrected_gain(
    tmp_path: Path, stems: bool
) -> None:
    """A chapter is mastered while it is measured; where the limiter took more than 0.1 dB,
    it is mastered again, and the cache holds only the corrected master (and its stems), as
    mastering the whole chapter gives it."""
    from bedtime_audio.export import Outputs, Section, section_keys
    from bedtime_audio.master import master_to_target
    from bedtime_audio.render import RenderOptions, mix_section

    bed = (Layer("server-hum"), Layer("rain"))
    length_s = 30.0
    scene = mix.Bed(bed, 0.0, length_s + HANDOFF_S, 0)
    timeline = mix.Timeline(0, chapter_of((bed, ())), (), (scene,), length_s)
    ceiling = -24.0  # far under the bed's peaks at -20 LUFS: the limiter takes loudness away
    section = Section("loud", "loud", length_s, HANDOFF_S, (), 0.5, ceiling)
    options = RenderOptions(tmp_path, tmp_path, outputs=Outputs(stems=stems))
    mix_section("loud", section, timeline, options, None, threads=2)

    whole = mix.mix_chapter(timeline, options.lines, "loud")
    expected, gain_db = master_to_target(whole.mixed, options.target_lufs, ceiling)
    assert gain_db > master_to_target(whole.mixed, options.target_lufs)[1] + 0.1  # corrected
    keys = section_keys(section, stems)
    with options.chapters.reader(keys["mix"]) as mixed:
        assert mixed is not None
        assert mixed.meta["gain_db"] == gain_db
        np.testing.assert_allclose(mixed.read(0, mixed.frames), expected.samples, atol=1e-6)
    kept = sorted(path.name for path in options.chapters.root.rglob("*") if path.is_file())
    assert kept == sorted(f"{key}.clip" for key in keys.values())  # nothing of the first master
    if stems:
        voice, bed_stem = options.chapters.get(keys["voice"]), options.chapters.get(keys["bed"])
        assert voice is not None and bed_stem is not None
        np.testing.assert_allclose(voice.samples + bed_stem.samples, expected.samples, atol=1e-6)


def test_a_chapter_being_mixed_stops_at_its_next_block_when_the_render_leaves(
    tmp_path: Path,
) -> None:
    """Ctrl-C (or another unit's error) closes the executor: a running unit's mix stops at its
    next block rather than running to the chapter's end, and keeps nothing."""
    import threading

    from bedtime_audio.executors import LocalExecutor, stop_point
    from bedtime_audio.export import Section
    from bedtime_audio.render import RenderOptions, mix_section

    bed = (Layer("rain"),)
    length_s = 600.0
    scene = mix.Bed(bed, 0.0, length_s + HANDOFF_S, 0)
    timeline = mix.Timeline(0, chapter_of((bed, ())), (), (scene,), length_s)
    section = Section("long", "long", length_s, HANDOFF_S, (), 0.5)
    options = RenderOptions(tmp_path, tmp_path)
    started = threading.Event()

    def unit() -> None:
        started.set()
        while True:  # until the executor closes
            try:
                stop_point()
            except InterruptedError:
                break
            threading.Event().wait(0.01)
        mix_section("long", section, timeline, options, None)

    executor = LocalExecutor(1)
    running = executor.submit(unit)
    assert started.wait(10)
    executor.close()
    with pytest.raises(InterruptedError):
        running.result()
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []
