"""Video in, video out, through PyAV (an optional extra: `pip install 'pic2emoji[video]'`).

Frames are streamed: each one is decoded, turned into its mosaic and encoded before the next is read,
so a film of any length needs the memory of one frame. The frame rate is kept; the audio is not
carried over (a mosaic film is silent), which `infer` says in a note.
"""
from pathlib import Path

from tqdm import tqdm

from .errors import ImageError, OutputError, first_line
from .files import write_atomically
from .formats import VIDEO_SUFFIXES, format_named


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _av():
    try:
        import av
    except ImportError:
        raise OutputError("video needs PyAV, an optional part of pic2emoji: pip install 'pic2emoji[video]'") from None
    return av


def convert_video(converter, source, out: Path, options, overwrite: bool = False, progress: bool = False,
                  on_note=lambda message: None) -> list[Path]:
    """A video to a video of mosaics at the same frame rate, written atomically; returns [out]."""
    av = _av()
    container, codec = format_named(options.fmt).container
    try:
        video = av.open(str(source))
    except (av.error.FFmpegError, OSError) as e:
        raise ImageError(f"{source}: not a readable video ({first_line(e, 100)}); check the file") from None
    with video:
        if not video.streams.video:
            raise ImageError(f"{source}: holds no video stream; give a video, or a photo with an image output")
        if video.streams.audio:
            on_note(f"{source}: its audio is not carried over; the mosaic film is silent")
        stream = video.streams.video[0]

        def write(temp):
            with av.open(temp, "w", format=container) as film:
                encoder, grid, background = None, None, options.background  # AUTO: chosen on the first frame
                for frame in tqdm(video.decode(stream), total=stream.frames or None, desc="frames", unit="frame",
                                  disable=not progress):
                    grid, colours, background = converter.cells(frame.to_image(), options.cols, options.rows,
                                                                options.palette, options.method, grid, background)
                    backgrounds = converter.renderer.backgrounds(grid, colours) if options.cell_colour else None
                    mosaic = converter.renderer.image(grid, options.tile_px, backgrounds, background)
                    mosaic = mosaic.crop((0, 0, mosaic.width // 2 * 2, mosaic.height // 2 * 2))  # even, for 4:2:0
                    if encoder is None:
                        encoder = film.add_stream(codec, rate=stream.average_rate or 25)
                        encoder.width, encoder.height, encoder.pix_fmt = mosaic.width, mosaic.height, "yuv420p"
                    film.mux(encoder.encode(av.VideoFrame.from_image(mosaic)))
                if encoder is None:
                    raise ImageError(f"{source}: has no frames")
                film.mux(encoder.encode())  # flush what the encoder holds back

        try:
            write_atomically(out, write, replace=overwrite)
        except av.error.FFmpegError as e:
            raise ImageError(f"{source}: could not be decoded or encoded ({first_line(e, 100)})") from None
    return [out]
