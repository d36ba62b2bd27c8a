"""Face detection, landmarks and differentiable warps to face chips (dlib's chip, the ArcFace 5-point crop).

Detection and landmarks run in dlib on the uint8 image (they are not differentiable and need not be). The chip
geometry is dlib's own (``get_face_chip_details(shape, 150, 0.25)``: a similarity transform to dlib's mean face).
:func:`warp_to_chip` then resamples a float image tensor to the chip with ``grid_sample`` so gradients reach every
original pixel. Like dlib's ``extract_image_chip`` it first shrinks large faces with a 5-tap Gaussian pyramid (one
halving per level, as many levels as dlib would use) and then samples bilinearly, so chips of big faces match dlib's
instead of aliasing.

Recognizers trained on ArcFace-style crops (SFace, most ONNX face models) take a similarity transform of five
points (eye centres, nose tip, mouth corners; from dlib's 68-point predictor) onto a fixed 112×112 template, sampled
like OpenCV's ``warpAffine`` (plain bilinear, black outside): :func:`arcface_points` and :func:`similarity_geometry`
build that geometry, and the same :func:`warp_to_chip` resamples it (``ChipGeometry.resampling == "bilinear"``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from camo.errors import InputError, ModelError
from camo.face.network import dlib_model_path

__all__ = [
    "ARCFACE_TEMPLATE",
    "Box",
    "ChipGeometry",
    "arcface_points",
    "box_geometry",
    "chip_crop_box",
    "chip_geometry",
    "detect_faces",
    "face_landmarks",
    "face_landmarks68",
    "similarity_geometry",
    "union_crop_box",
    "warp_to_chip",
]

Box = tuple[int, int, int, int]
"""(left, top, right, bottom) in pixels, right and bottom inclusive as dlib reports them; may reach past the image."""

CHIP_SIZE = 150
CHIP_PADDING = 0.25

ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
"""The standard ArcFace 112×112 template (insightface, OpenCV's ``FaceRecognizerSF``): the eye on the image's left,
the other eye, the nose tip, the mouth corner on the image's left, the other mouth corner."""


def _dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise ModelError("dlib is not installed: pip install dlib-bin") from exc
    return dlib


@functools.lru_cache(maxsize=1)
def _detector() -> Any:
    return _dlib().get_frontal_face_detector()


@functools.lru_cache(maxsize=1)
def _shape_predictor() -> Any:
    return _dlib().shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))


@functools.lru_cache(maxsize=1)
def _shape_predictor68() -> Any:
    return _dlib().shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))


def _check_uint8(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"expected an RGB uint8 array (H, W, 3); got {got}")


def detect_faces(image: np.ndarray, *, upsample: int = 1) -> list[Box]:
    """Finds frontal faces with dlib's HOG detector.

    Every detection is returned, largest box first (ties keep dlib's order). The HOG detector has false positives
    (faces in posters, textures) and misses small or turned faces; callers that want one person should take the
    first box, the largest, which is the usual subject of a photo.

    Args:
        image: RGB uint8 pixels.
        upsample: how many times dlib doubles the image before detecting (1 finds faces down to ≈40 px).

    Returns:
        Face boxes, largest first; empty when there is no face.

    Raises:
        InputError: the image is not RGB uint8 or ``upsample`` is negative.
        ModelError: dlib is not installed.

    Shape: image (H, W, 3).
    """
    _check_uint8(image)
    if upsample < 0:
        raise InputError(f"upsample must be >= 0; got {upsample}")
    rects = _detector()(image, upsample)
    boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]
    return sorted(boxes, key=lambda b: -(b[2] - b[0] + 1) * (b[3] - b[1] + 1))


def face_landmarks(image: np.ndarray, box: Box) -> np.ndarray:
    """Predicts dlib's 5 landmarks (eye corners and the base of the nose) inside a face box.

    Args:
        image: RGB uint8 pixels.
        box: a face box from :func:`detect_faces`.

    Returns:
        (x, y) pixel positions, in dlib's order: right eye outer, right eye inner, left eye outer, left eye inner,
        nose.

    Raises:
        InputError: the image is not RGB uint8.
        ModelError: dlib or its model files are missing.

    Shape: image (H, W, 3) -> (5, 2) float64 (integral values).
    """
    return _predict_points(_shape_predictor(), image, box)


def _predict_points(predictor: Any, image: np.ndarray, box: Box) -> np.ndarray:
    """One dlib shape predictor's points inside a face box. Shape: (H, W, 3) uint8 -> (P, 2) float64."""
    _check_uint8(image)
    shape = predictor(image, _dlib().rectangle(*box))
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def face_landmarks68(image: np.ndarray, box: Box) -> np.ndarray:
    """Predicts dlib's 68 iBUG landmarks inside a face box (loads the 100 MB predictor on first use).

    Args:
        image: RGB uint8 pixels.
        box: a face box from :func:`detect_faces`.

    Returns:
        (x, y) pixel positions in the iBUG 300-W order (jaw 0–16, brows, nose 27–35, eyes 36–47, mouth 48–67).

    Raises:
        InputError: the image is not RGB uint8.
        ModelError: dlib or its model files are missing.

    Shape: image (H, W, 3) -> (68, 2) float64 (integral values).
    """
    return _predict_points(_shape_predictor68(), image, box)


def arcface_points(landmarks68: np.ndarray) -> np.ndarray:
    """The five ArcFace points from dlib's 68: eye centres (mean of each eye's six points), nose tip, mouth corners.

    Ordered as :data:`ARCFACE_TEMPLATE`: image-left eye, image-right eye, nose tip, image-left and image-right mouth
    corner.

    Raises:
        InputError: ``landmarks68`` is not 68 points.

    Shape: (68, 2) -> (5, 2).
    """
    points = np.asarray(landmarks68, dtype=np.float64)
    if points.shape != (68, 2):
        raise InputError(f"landmarks must have shape (68, 2); got {points.shape}")
    return np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30], points[48], points[54]])


@dataclass(frozen=True)
class ChipGeometry:
    """Where a face chip lies in an image: the affine map from chip pixels to image pixels, plus dlib's details.

    Attributes:
        chip_to_image: rows of the 2×3 matrix ``A`` with ``(x, y) = A @ (col, row, 1)``; pixel centres are integers.
        size: chip side in pixels (150).
        levels: how many pyramid halvings dlib uses before bilinear sampling (0 unless the face is large).
        rect: dlib's chip rectangle (left, top, right, bottom) in image pixels, before rotation.
        angle: dlib's rotation of that rectangle about its centre, radians.
        pyramid_origin: the image pixel where dlib's pyramid starts (its crop's corner); halvings are taken on
            this grid so that samples match dlib's exactly.
        resampling: ``"dlib"`` (dlib's ``extract_image_chip``: pyramid, black unless all four neighbours are inside,
            its rounding bias) or ``"bilinear"`` (OpenCV's ``warpAffine``: plain bilinear, zeros outside; levels 0).
    """

    chip_to_image: tuple[tuple[float, float, float], tuple[float, float, float]]
    size: int
    levels: int
    rect: tuple[float, float, float, float]
    angle: float
    pyramid_origin: tuple[int, int] = (0, 0)
    resampling: str = "dlib"

    @property
    def matrix(self) -> np.ndarray:
        """The chip-to-image map as a (2, 3) float64 array."""
        return np.array(self.chip_to_image, dtype=np.float64)

    @property
    def scale(self) -> float:
        """Image pixels per chip pixel (> 1 means the face is shrunk)."""
        return float(math.hypot(self.chip_to_image[0][0], self.chip_to_image[1][0]))

    def corners(self) -> np.ndarray:
        """The chip's four corner pixel centres in image coordinates. Shape: (4, 2)."""
        last = self.size - 1
        grid = np.array([[0, 0, 1], [last, 0, 1], [last, last, 1], [0, last, 1]], dtype=np.float64)
        corners: np.ndarray = grid @ self.matrix.T
        return corners

    def translated(self, dx: float, dy: float) -> ChipGeometry:
        """The same chip in an image whose origin moved: use ``translated(-left, -top)`` for a crop at (left, top)."""
        (a, b, c), (d, e, f) = self.chip_to_image
        left, top, right, bottom = self.rect
        return ChipGeometry(
            chip_to_image=((a, b, c + dx), (d, e, f + dy)),
            size=self.size,
            levels=self.levels,
            rect=(left + dx, top + dy, right + dx, bottom + dy),
            angle=self.angle,
            pyramid_origin=(self.pyramid_origin[0] + round(dx), self.pyramid_origin[1] + round(dy)),
            resampling=self.resampling,
        )


def _pyramid_levels(rect: tuple[float, float, float, float], size: int) -> int:
    """dlib's rule: halve while the halved chip rectangle still has more pixels than the chip."""
    width, height = rect[2] - rect[0], rect[3] - rect[1]
    levels = 0
    # dlib's drectangle area is (right − left + 1)·(bottom − top + 1); a halving halves right − left.
    while (width / 2 + 1) * (height / 2 + 1) > size * size:
        width, height, levels = width / 2, height / 2, levels + 1
    return levels


def chip_geometry(
    box: Box, landmarks: np.ndarray, *, size: int = CHIP_SIZE, padding: float = CHIP_PADDING
) -> ChipGeometry:
    """dlib's face chip for 5 landmarks (``get_face_chip_details``) as a plain, picklable geometry.

    Args:
        box: the face box the landmarks were predicted in.
        landmarks: the 5 points from :func:`face_landmarks`.
        size: chip side in pixels (150 for the recognizer).
        padding: margin around dlib's mean face, as a fraction of it (0.25 for the recognizer).

    Returns:
        The chip geometry.

    Raises:
        InputError: landmarks are not 5 points, or size/padding are out of range.
        ModelError: dlib is not installed.

    Shape: landmarks (5, 2).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise InputError(f"landmarks must have shape (5, 2); got {points.shape}")
    if size < 1 or padding < 0:
        raise InputError(f"size must be >= 1 and padding >= 0; got size={size}, padding={padding}")
    dlib = _dlib()
    # dlib's points are integers; landmarks from face_landmarks are integral, so this round trip is exact.
    parts = [dlib.point(round(x), round(y)) for x, y in points]
    details = dlib.get_face_chip_details(dlib.full_object_detection(dlib.rectangle(*box), parts), size, padding)
    r = details.rect
    rect = (float(r.left()), float(r.top()), float(r.right()), float(r.bottom()))
    angle = float(details.angle)
    rows, cols = int(details.rows), int(details.cols)
    # dlib maps chip (0,0), (cols−1,0), (0,rows−1) to the rect's corners rotated by `angle` about its centre.
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    cos, sin = math.cos(angle), math.sin(angle)

    def rotate(x: float, y: float) -> tuple[float, float]:
        return cx + cos * (x - cx) - sin * (y - cy), cy + sin * (x - cx) + cos * (y - cy)

    tl, tr, bl = rotate(rect[0], rect[1]), rotate(rect[2], rect[1]), rotate(rect[0], rect[3])
    br = rotate(rect[2], rect[3])
    ux = ((tr[0] - tl[0]) / (cols - 1), (tr[1] - tl[1]) / (cols - 1))
    uy = ((bl[0] - tl[0]) / (rows - 1), (bl[1] - tl[1]) / (rows - 1))
    levels = _pyramid_levels(rect, size)
    # dlib builds its pyramid on a crop: the rotated rect grown by 2, 6, 14... px (0, 1, 2... levels), clipped to
    # the image and rounded. The crop's corner fixes the phase of every halving, so remember it.
    grow = 2
    for _ in range(levels):
        grow = 2 * grow + 2
    origin = tuple(max(0, math.floor(min(p[i] for p in (tl, tr, bl, br)) - grow + 0.5)) for i in (0, 1))
    return ChipGeometry(
        chip_to_image=((ux[0], uy[0], tl[0]), (ux[1], uy[1], tl[1])),
        size=size,
        levels=levels,
        rect=rect,
        angle=angle,
        pyramid_origin=(origin[0], origin[1]),
    )


def _umeyama_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift; no reflection) taking ``source`` onto ``target``.

    Umeyama, "Least-squares estimation of transformation parameters between two point patterns", TPAMI 1991: the
    estimate insightface and OpenCV's ``FaceRecognizerSF.alignCrop`` use. Shape: (K, 2), (K, 2) -> (2, 3).
    """
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - src_mean, target - dst_mean
    covariance = dst.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(covariance) < 0:
        sign[1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum() / src.var(axis=0).sum())
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def _affine_geometry(chip_to_image: np.ndarray, size: int) -> ChipGeometry:
    corners = np.array([[0, 0, 1], [size - 1, 0, 1], [size - 1, size - 1, 1], [0, size - 1, 1]], float)
    points = corners @ chip_to_image.T
    (a, b, c), (d, e, f) = (tuple(float(v) for v in row) for row in chip_to_image)
    return ChipGeometry(
        chip_to_image=((a, b, c), (d, e, f)),
        size=size,
        levels=0,
        rect=(float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()),
              float(points[:, 1].max())),
        angle=math.atan2(d, a),
        resampling="bilinear",
    )


def similarity_geometry(
    points: np.ndarray, *, size: int = 112, template: np.ndarray = ARCFACE_TEMPLATE
) -> ChipGeometry:
    """The ArcFace crop: the similarity transform of five face points onto the template, sampled bilinearly.

    Args:
        points: five (x, y) image points in the template's order (see :func:`arcface_points`).
        size: chip side; the template (defined for 112) is scaled by ``size / 112``.
        template: the points' places in a 112×112 chip.

    Returns:
        A geometry with ``resampling="bilinear"`` (what OpenCV's ``warpAffine`` does with the same matrix).

    Raises:
        InputError: the points or the template are not (5, 2), or ``size`` < 1.

    Shape: points (5, 2).
    """
    source = np.asarray(points, dtype=np.float64)
    target = np.asarray(template, dtype=np.float64) * (size / 112.0)
    if source.shape != (5, 2) or target.shape != (5, 2) or size < 1:
        raise InputError(f"need 5 points, a (5, 2) template and size >= 1; got {source.shape}, {target.shape}, {size}")
    image_to_chip = np.vstack([_umeyama_similarity(source, target), [0.0, 0.0, 1.0]])
    return _affine_geometry(np.linalg.inv(image_to_chip)[:2], size)


def box_geometry(box: Box, *, size: int, margin: float) -> ChipGeometry:
    """A square-pixel crop of a face box grown by ``margin`` (a fraction of its size), resized to ``size``×``size``.

    The box (right/bottom inclusive) is widened to ``(1 + margin)`` times its width and height about its centre, as
    FaceNet's ``crop = box ± margin/2`` does; sampling is bilinear without anti-aliasing.

    Raises:
        InputError: ``size`` < 2 or ``margin`` < 0.
    """
    if size < 2 or margin < 0:
        raise InputError(f"size must be >= 2 and margin >= 0; got size={size}, margin={margin}")
    left, top, right, bottom = box
    width, height = (right - left + 1) * (1 + margin), (bottom - top + 1) * (1 + margin)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0, y0 = cx - width / 2 + 0.5 * width / size, cy - height / 2 + 0.5 * height / size
    matrix = np.array([[width / size, 0.0, x0], [0.0, height / size, y0]])
    return _affine_geometry(matrix, size)


def chip_crop_box(geometry: ChipGeometry, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The part of an image that :func:`warp_to_chip` reads for this chip, so work can stay near the face.

    ``warp_to_chip(x[..., top:bottom, left:right], geometry.translated(-left, -top))`` equals
    ``warp_to_chip(x, geometry)`` up to float rounding: the box covers the chip plus the pyramid filter's reach,
    and its origin sits on the pyramid's grid.

    Args:
        geometry: the chip.
        image_size: (height, width) of the full image.

    Returns:
        (left, top, right, bottom) with right and bottom exclusive, clipped to the image; may be empty
        (right <= left) when the chip lies wholly outside the image.
    """
    height, width = image_size
    if geometry.resampling == "bilinear":
        corners = geometry.corners()
        left, top = math.floor(corners[:, 0].min()) - 1, math.floor(corners[:, 1].min()) - 1
        right, bottom = math.ceil(corners[:, 0].max()) + 2, math.ceil(corners[:, 1].max()) + 2
        return max(0, left), max(0, top), min(width, right), min(height, bottom)
    step = 2**geometry.levels
    corners = geometry.corners()
    # Reach beyond the chip's corners, in image px: each level's 5-tap filter 2·(2**levels − 1) in all, the bilinear
    # neighbour one pyramid pixel (2**levels), dlib's sampling offset 0.5·(2**levels − 1); rounded up.
    margin = 2 + 4 * step
    left = math.floor(corners[:, 0].min()) - margin
    top = math.floor(corners[:, 1].min()) - margin
    right = math.ceil(corners[:, 0].max()) + margin + 1
    bottom = math.ceil(corners[:, 1].max()) + margin + 1
    # Starting on dlib's pyramid grid makes crop and full image sample the very same pyramid pixels.
    ox, oy = geometry.pyramid_origin
    left, top = max(0, left - (left - ox) % step), max(0, top - (top - oy) % step)
    left, top = left + (ox - left) % step, top + (oy - top) % step
    return left, top, min(width, right), min(height, bottom)


def union_crop_box(geometries: Sequence[ChipGeometry], image_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """One crop that serves several chips of the same face (an ensemble of recognizers): the union of their
    :func:`chip_crop_box`. Each box's corner lies on its own chip's pyramid grid and the warp keeps that grid's phase
    in any crop, so every chip samples the same pixels from the union as from the full image.

    Raises:
        InputError: no geometries.

    Returns:
        (left, top, right, bottom), right and bottom exclusive, clipped to the image.
    """
    if not geometries:
        raise InputError("union_crop_box needs at least one chip geometry")
    boxes = [chip_crop_box(g, image_size) for g in geometries]
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _pyramid_down(x: torch.Tensor) -> torch.Tensor:
    """One dlib pyramid level: separable [1 4 6 4 1]/16 filter, keep every other pixel; output j ↔ input 2j + 2."""
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device) / 16.0
    channels = x.shape[1]
    if x.shape[2] < 5 or x.shape[3] < 5:
        raise InputError(f"image region {tuple(x.shape[2:])} is too small to shrink for the face chip")
    x = F.conv2d(x, taps.view(1, 1, 1, 5).expand(channels, 1, 1, 5), stride=(1, 2), groups=channels)
    return F.conv2d(x, taps.view(1, 1, 5, 1).expand(channels, 1, 5, 1), stride=(2, 1), groups=channels)


def _warp_bilinear(x: torch.Tensor, geometry: ChipGeometry) -> torch.Tensor:
    """OpenCV's ``warpAffine(..., INTER_LINEAR, BORDER_CONSTANT 0)`` with the inverse map, differentiably."""
    matrix = torch.tensor(geometry.chip_to_image, dtype=torch.float64)
    n, _, height, width = x.shape
    size = geometry.size
    idx = torch.arange(size, dtype=torch.float64)
    rows, cols = torch.meshgrid(idx, idx, indexing="ij")
    px = matrix[0, 0] * cols + matrix[0, 1] * rows + matrix[0, 2]
    py = matrix[1, 0] * cols + matrix[1, 1] * rows + matrix[1, 2]
    grid = torch.stack((2.0 * px / max(width - 1, 1) - 1.0, 2.0 * py / max(height - 1, 1) - 1.0), dim=-1)
    grid = grid.to(dtype=x.dtype, device=x.device).unsqueeze(0).expand(n, size, size, 2)
    # Zeros padding blends a border sample with black, as OpenCV's constant border does.
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _warp_one(x: torch.Tensor, geometry: ChipGeometry) -> torch.Tensor:
    if geometry.resampling == "bilinear":
        return _warp_bilinear(x, geometry)
    matrix = torch.tensor(geometry.chip_to_image, dtype=torch.float64)
    step = 2**geometry.levels
    if geometry.levels:
        # Start the pyramid on dlib's grid (same phase as its crop corner), then work in that sub-image's frame.
        ox, oy = geometry.pyramid_origin[0] % step, geometry.pyramid_origin[1] % step
        x = x[:, :, oy:, ox:]
        matrix[0, 2] -= ox
        matrix[1, 2] -= oy
    # dlib maps rectangles down a level as p/2 − (1.25, 0.75) while its filter centres output j on input 2j + 2;
    # the net effect is that its samples land (−0.5, +0.5)·(2**levels − 1) image pixels off. Reproduce that.
    matrix[0, 2] -= 0.5 * (step - 1)
    matrix[1, 2] += 0.5 * (step - 1)
    for _ in range(geometry.levels):
        x = _pyramid_down(x)
        matrix = (matrix - torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 2.0]], dtype=torch.float64)) / 2.0
    n, _, height, width = x.shape
    size = geometry.size
    idx = torch.arange(size, dtype=torch.float64)
    rows, cols = torch.meshgrid(idx, idx, indexing="ij")
    px = matrix[0, 0] * cols + matrix[0, 1] * rows + matrix[0, 2]
    py = matrix[1, 0] * cols + matrix[1, 1] * rows + matrix[1, 2]
    # align_corners=True: −1 and +1 are the centres of the first and last pixels, as in dlib's integer grid.
    grid = torch.stack((2.0 * px / max(width - 1, 1) - 1.0, 2.0 * py / max(height - 1, 1) - 1.0), dim=-1)
    grid = grid.to(dtype=x.dtype, device=x.device).unsqueeze(0).expand(n, size, size, 2)
    chip = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    # dlib leaves a chip pixel black unless all four bilinear neighbours lie inside the (pyramid) image.
    inside = (px >= 0) & (py >= 0) & (px.floor() + 1 < width) & (py.floor() + 1 < height)
    # dlib truncates to uint8 after each pyramid level and after sampling, darkening by half a level each time
    # on average; model that bias so chips match dlib's in the mean (differentiable, unlike the truncation).
    bias = 0.5 * (geometry.levels + 1) / 255.0
    return (chip - bias) * inside.to(dtype=x.dtype, device=x.device)


def warp_to_chip(x: torch.Tensor, geometry: ChipGeometry | Sequence[ChipGeometry]) -> torch.Tensor:
    """Resamples images to face chips, differentiably (gradients flow to every pixel of ``x`` that is read).

    A ``resampling="bilinear"`` geometry (ArcFace crop, box crop) is sampled as OpenCV's ``warpAffine`` does:
    bilinear, zeros outside. A dlib geometry reproduces dlib's ``extract_image_chip``: the same pyramid levels on
    the same pixel grid, bilinear sampling, black where a sample's neighbours leave the image, and dlib's mean
    rounding loss (half a grey level per uint8 truncation) subtracted, so values may dip 1/255 below 0. Chips
    differ from dlib's by about 0.25/255 on average.

    Args:
        x: images, RGB in [0, 1] (any float range works; the warp is linear).
        geometry: one chip for every image, or one chip per face: with K geometries, ``x`` holds 1 image (K chips
            of it) or K images (chip k of image k).

    Returns:
        The chips.

    Raises:
        InputError: ``x`` is not (N, 3, H, W) float, or the number of geometries fits neither rule.

    Shape: (N, 3, H, W) -> (N, 3, S, S) for one geometry; (1 or K, 3, H, W) -> (K, 3, S, S) for K geometries.
    """
    if x.dim() != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise InputError(f"images must be a float tensor (N, 3, H, W); got {x.dtype} {tuple(x.shape)}")
    if isinstance(geometry, ChipGeometry):
        return _warp_one(x, geometry)
    geometries = list(geometry)
    if not geometries:
        raise InputError("no chip geometry given")
    if x.shape[0] == 1:
        return torch.cat([_warp_one(x, g) for g in geometries])
    if x.shape[0] == len(geometries):
        return torch.cat([_warp_one(x[i : i + 1], g) for i, g in enumerate(geometries)])
    raise InputError(
        f"{len(geometries)} geometries for a batch of {x.shape[0]} images: give 1 image or {len(geometries)}"
    )
