"""Attacked video, before and after: frames in → attacked frames → a before|after video out, streaming.

The seed's headline was two animations, a classifier labelling frames ("before") and the same frames attacked with
FGSM ("after"). :func:`attack_video` does that for real on any video PyAV decodes (MP4/H.264, WebM, MOV, animated
GIF) or a folder of frames, a batch of frames at a time so memory stays bounded on a long clip:

    decode a batch → attack it (the same attack functions as images; or one perturbation shared by a window of
    frames; or a patch pasted on every frame) → quantise to 8 bits → re-classify what will be written → caption
    before | after → encode (H.264 at the input's frame rate) → next batch

and then measures what a person sharing the video would get: the attacked video is written as a normal H.264 MP4,
decoded again and every frame re-classified, at several encoder qualities (CRF). Outputs are written under temporary
names and renamed at the end, so an error or Ctrl-C leaves nothing half-written at an output name.

The attack runs on the *full-resolution* frame: the model's resize (area-averaged) and centre crop are part of the
differentiated function, so the perturbation is made for exactly the pixels that are written.

One module per part: :mod:`~camo.video.source` (reading), :mod:`~camo.video.view` (the model seen from
frames), :mod:`~camo.video.perturb` (window and patch modes), :mod:`~camo.video.encode` (MP4 in and out),
:mod:`~camo.video.compose` (before | after and the GIF), :mod:`~camo.video.records` (settings and results, plain
data), :mod:`~camo.video.job` (:func:`attack_video`, which runs them) and :mod:`~camo.video.clips` (synthetic clips
for bench and demo). Every public name is importable from this package.

Shape: frames are (H, W, 3) uint8 arrays; batches are (N, 3, H, W) float32 in [0, 1].
"""

from camo.video.clips import pan_zoom_frames, write_frames
from camo.video.compose import (
    DISPLAY_MAX_WIDTH,
    DISPLAY_MIN_HEIGHT,
    GIF_FPS,
    GIF_MAX_FRAMES,
    GIF_WIDTH,
    caption,
    side_by_side,
)
from camo.video.encode import Mp4Writer, decode_file
from camo.video.job import BATCH_PIXELS, PLACES, Progress, attack_video, output_names
from camo.video.perturb import CUT_PEAK, METHODS, shared_perturbation, track_shift
from camo.video.records import FrameRecord, VideoResult, VideoSettings
from camo.video.source import FOLDER_FPS, MAX_FRAME_PIXELS, VideoSource, iter_frames, open_video
from camo.video.view import Geometry, frame_classifier

__all__ = [
    "BATCH_PIXELS",
    "CUT_PEAK",
    "DISPLAY_MAX_WIDTH",
    "DISPLAY_MIN_HEIGHT",
    "FOLDER_FPS",
    "GIF_FPS",
    "GIF_MAX_FRAMES",
    "GIF_WIDTH",
    "MAX_FRAME_PIXELS",
    "METHODS",
    "PLACES",
    "FrameRecord",
    "Geometry",
    "Mp4Writer",
    "Progress",
    "VideoResult",
    "VideoSettings",
    "VideoSource",
    "attack_video",
    "caption",
    "decode_file",
    "frame_classifier",
    "iter_frames",
    "open_video",
    "output_names",
    "pan_zoom_frames",
    "shared_perturbation",
    "side_by_side",
    "track_shift",
    "write_frames",
]
