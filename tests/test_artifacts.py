"""The text artifacts, pinned whole: ffmpeg's chapter file and the WebVTT transcript."""

from bedtime_audio.artifacts import StoryInfo, Written, ffmetadata, transcript
from bedtime_audio.mix import Placed
from bedtime_audio.model import Speech, Voice
from bedtime_audio.synth import Clip, Sentence

STORY = StoryInfo(
    "night", "A Night; Again", "Ann = Author", None, "kokoro", "Kokoro voice af_heart", 2026
)


def placed(speaker: str, text: str, start_s: float, end_s: float) -> Placed:
    sentence = Sentence("k", end_s - start_s, ())
    clip = Clip(Voice("pyttsx3", "en-us"), text, (sentence,), 0.0)
    return Placed(Speech(speaker, text, 1), clip, start_s, end_s, (0.0,), 0.0)


WRITTEN = [
    Written("One", 0.0, 61.5, ((placed("narrator", "It was late.", 7.0, 8.25), 0.0),), -20.0, 1.0),
    Written(
        "Two # two",
        61.5,
        125.0,
        ((placed("old_sam", "Rest <now> & sleep", 7.0, 9.5), 61.5),),
        -20.0,
        0.0,
    ),
]


def test_ffmetadata_escapes_and_counts_in_milliseconds() -> None:
    assert ffmetadata(STORY, WRITTEN) == (
        ";FFMETADATA1\n"
        "title=A Night\\; Again\nalbum=A Night\\; Again\nartist=Ann \\= Author\n"
        "album_artist=Ann \\= Author\ncomposer=Kokoro voice af_heart\n"
        "narrator=Kokoro voice af_heart\ngenre=Audiobook\n"
        "date=2026\ntrack=1/1\n"
        "\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=61500\ntitle=One\n"
        "\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=61500\nEND=125000\ntitle=Two \\# two\n"
    )


def test_transcript_cues_carry_speakers_and_story_time() -> None:
    assert transcript(WRITTEN) == (
        "WEBVTT\n\n"
        "1\n00:00:07.000 --> 00:00:08.250\n<v Narrator>It was late.\n\n"
        "2\n00:01:08.500 --> 00:01:11.000\n<v Old Sam>Rest &lt;now&gt; &amp; sleep\n"
    )
