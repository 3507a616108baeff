"""Films in and out, through PyAV (an optional extra: `pip install 'pic2emoji[video]'`).

A film is read one frame at a time (Film) and written one frame at a time (write_film), so converting
one needs the memory of a few frames, whatever its length. The frame rate is kept; an animation made
into a film keeps each frame's own duration. The audio is not carried over (a mosaic film is silent),
which `infer` says in a note.
"""
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

from .errors import ImageError, OutputError, first_line
from .files import write_atomically
from .formats import VIDEO_SUFFIXES, format_named

# The encoders look this many frames ahead (x264's default, 40, held ~700 MB of 2304×1728 frames for a
# file of the same size: docs/BENCHMARKS.md).
LOOKAHEAD = {"libx264": {"rc-lookahead": "8"}, "libvpx-vp9": {"lag-in-frames": "8"}}
MS = Fraction(1, 1000)  # the time base of a film made from an animation: its frames' durations are in ms


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _av():
    try:
        import av
    except ImportError:
        raise OutputError("video needs PyAV, an optional part of pic2emoji: pip install 'pic2emoji[video]'") from None
    return av


class Film:
    """A video file opened for reading: its frames as RGB PIL images, decoded one at a time; its frame
    rate, its frame count where the file says (else None), and whether it has sound."""
    def __init__(self, source):
        self.source, av = source, _av()
        try:
            self._file = av.open(str(source))
        except (av.error.FFmpegError, OSError) as e:
            raise ImageError(f"{source}: not a readable video ({first_line(e, 100)}); check the file") from None
        if not self._file.streams.video:
            self._file.close()
            raise ImageError(f"{source}: holds no video stream; give a video, or a photo with an image output")
        self._stream = self._file.streams.video[0]
        self.rate = self._stream.average_rate or Fraction(25)
        self.width, self.height = self._stream.width, self._stream.height
        self.count = self._stream.frames or None
        self.has_audio = bool(self._file.streams.audio)

    def __iter__(self):
        av = _av()
        try:
            for frame in self._file.decode(self._stream):
                yield frame.to_image()
        except av.error.FFmpegError as e:
            raise ImageError(f"{self.source}: could not be decoded ({first_line(e, 100)})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def write_film(out: Path, fmt: str, mosaics, rate, overwrite: bool = False, durations=None) -> None:
    """Encode the mosaics (PIL images, lazily) as a film in `fmt` (a video format), atomically: at
    `rate` frames a second, or each shown for its duration in ms where `durations` are given. A frame is
    encoded on a thread of its own while the next is made (the encoder lets go of the GIL)."""
    av = _av()
    container, codec = format_named(fmt).container

    def write(temp):
        with av.open(temp, "w", format=container) as film, ThreadPoolExecutor(1) as encoding:
            encoder, start, times, last = None, 0, iter(durations) if durations is not None else None, None
            for mosaic in mosaics:
                mosaic = mosaic.crop((0, 0, mosaic.width // 2 * 2, mosaic.height // 2 * 2))  # even, for 4:2:0
                if encoder is None:
                    encoder = film.add_stream(codec, rate=rate, options=LOOKAHEAD[codec])
                    encoder.width, encoder.height, encoder.pix_fmt = mosaic.width, mosaic.height, "yuv420p"
                    if times is not None:
                        encoder.time_base = MS
                frame = av.VideoFrame.from_image(mosaic)
                if times is not None:  # each frame at its own time: an animation's durations differ
                    frame.pts, frame.time_base = start, MS
                    start += next(times)
                if last is not None:
                    last.result()  # one frame in the encoder's hands at a time
                last = encoding.submit(lambda frame: film.mux(encoder.encode(frame)), frame)
            if encoder is None:
                raise ImageError(f"{out}: no frames to write; the input has none")
            last.result()
            film.mux(encoder.encode())  # flush what the encoder holds back

    try:
        write_atomically(out, write, replace=overwrite)
    except av.error.FFmpegError as e:
        raise ImageError(f"{out}: could not be encoded ({first_line(e, 100)})") from None
