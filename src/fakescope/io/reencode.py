"""Re-encode a video with H.264 (libx264): every frame, its timestamp and the display rotation
kept, audio dropped, optionally downscaled; written to a temp file, then renamed into place."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CorruptVideoError

__all__ = ["PRESETS", "h264_slug", "reencode_video"]

PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
)  # fmt: skip


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def h264_slug(crf: int, preset: str = "medium") -> str:
    """The folder name of H.264 copies at ``crf``/``preset`` (``h264-32``, ``h264-32-veryfast``),
    the same as robustness's slug of the perturbation ``h264:CRF[:PRESET]``."""
    return f"h264-{crf}" if preset == "medium" else f"h264-{crf}-{preset}"


def reencode_video(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    crf: int,
    *,
    short_side: int = 0,
    preset: str = "medium",
) -> Path:
    """Re-encode the video stream of ``src`` with libx264 at ``crf`` into ``dst`` (MP4, yuv420p),
    downscaled to ``short_side`` when it is larger; written to a temp file, then renamed."""
    import av

    from .video import _open, _video_stream  # the reader's own one-line input errors

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp.mp4")
    try:
        with _open(src) as inp, av.open(str(tmp), "w") as out:
            ist = _video_stream(inp, os.fspath(src))
            ist.thread_type = "AUTO"
            w, h = ist.codec_context.width, ist.codec_context.height
            scale = short_side / min(w, h) if short_side and min(w, h) > short_side else 1.0
            ow, oh = (_even(w * scale), _even(h * scale)) if scale != 1.0 else (_even(w), _even(h))
            rate = ist.average_rate or ist.guessed_rate or 25
            ost = out.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": preset})
            ost.width, ost.height, ost.pix_fmt = ow, oh, "yuv420p"
            tb = ist.time_base
            if tb is not None:
                ost.time_base = tb
                ost.codec_context.time_base = tb
            rotated = False
            n, last_pts = 0, None
            for frame in inp.decode(ist):
                if not rotated:
                    rotation = round(getattr(frame, "rotation", 0) or 0) % 360
                    if rotation:
                        ost.set_display_rotation(rotation)
                    rotated = True
                pts = frame.pts
                if pts is None or (last_pts is not None and pts <= last_pts):
                    pts = (last_pts + 1) if last_pts is not None else 0
                last_pts = pts
                new = frame.reformat(width=ow, height=oh, format="yuv420p")
                new.pts, new.time_base = pts, tb
                for packet in ost.encode(new):
                    out.mux(packet)
                n += 1
            for packet in ost.encode():
                out.mux(packet)
            if n == 0:
                raise CorruptVideoError(src, "no frame decoded")
        os.replace(tmp, dst)
    except av.FFmpegError as exc:
        raise CorruptVideoError(src, f"re-encoding failed: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dst
