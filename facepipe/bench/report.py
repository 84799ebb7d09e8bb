"""The bench report: one typed model, one section per module (README "Benchmark" lists the keys).

- ``machine``, ``cold_start_s``, ``cold_worker_rss_mb``, ``worker_peak_rss_mb``, ``warm_pool_start_s``:
  :mod:`.process`
- ``accuracy``: :mod:`.accuracy` (on the clips of :mod:`.clips`)
- ``recognize``, ``encoder``, ``detectors``: :mod:`.recognition`
- ``latency_s``, ``stages_s_p50``: :mod:`.latency` (through :mod:`.runner`)
- ``throughput``, ``soak``: :mod:`.throughput`
- ``camera`` (a device at 2 clips/s from a cold start, as the demo runs): :mod:`.camera`
- ``videos`` (`--videos DIR`: recognition on real video, per appearance): :mod:`.videos`
- ``cost`` (a camera-day in AWS from the measured stage times): :mod:`.cost`
- ``scale`` (`--scale DIR`: open-set identification with thousands enrolled, grades by source, a gallery's cost):
  :mod:`.scale`
- ``classroom`` (`--classroom DIR`: thirty students and ten visitors in 1280x720 and 1080p clips through the local
  stack): :mod:`.classroom`
- the terminal summary and the plot: :mod:`.output`; the command: :mod:`.command`
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from facepipe.bench.cost import CostModel


class Machine(BaseModel):
    cores: int | None
    cpu: str
    python: str
    platform: str
    libraries: dict[str, str]


class BenchSettings(BaseModel):
    frames_per_clip: int
    detect_max_side: int
    match_tolerance: float


class ClipScore(BaseModel):
    key: str
    expected: list[str]
    reported: list[str]
    unknown_expected: int
    unknown_reported: int | None


class Accuracy(BaseModel):
    precision: float
    recall: float
    per_frame_precision: float
    per_frame_recall: float
    unknown_faces_expected: int
    unknown_faces_reported_as_unknown: int
    clips: list[ClipScore]


class Recognition(BaseModel):
    frames: int
    frame_size: list[int]
    p50_ms: float
    p95_ms: float
    default_p50_ms: float
    default_p95_ms: float
    ratio_to_default: float
    same_answers: int
    same_answers_ratio: float


class Encoder(BaseModel):
    """The ONNX encoder against dlib's own on the same faces, one thread each."""

    faces: int
    onnx_ms_per_face: float
    onnx_batch_ms_per_face: float
    dlib_ms_per_face: float
    speedup: float
    max_distance_drift: float


class CnnDetector(BaseModel):
    """dlib's CNN face detector in ONNX Runtime against dlib's own (whole frames), and a face followed."""

    frames: int
    onnx_frame_ms: float  # p50, the whole pyramid of a frame
    dlib_frames: int  # dlib's own is slow: timed on the first few frames only
    dlib_frame_ms: float
    same_faces: int  # of dlib_frames, frames where both found the same faces (centres within a fifth of a face)
    follows: int
    follow_ms: float  # p50, a face's neighbourhood (facepipe.vision.tracking.follow_near)
    follow_ms_p95: float
    followed: int  # follows that found the face


class DetectorBench(BaseModel):
    """One face detector's small-face search on the same frames (facepipe.bench.recognition.bench_detectors)."""

    model: str
    upsample: int
    frames: int
    frame_ms_p50: float
    faces: int
    smallest_face_px: int | None


class Latency(BaseModel):
    clips: int
    missing: int
    p50: float
    p95: float
    max: float | None
    overhead_p50: float


class Camera(BaseModel):
    """A device at 2 clips/s against a stack started cold, in one process, as `make demo` runs."""

    clips: int
    answered: int
    missing: int
    stack_ready_s: float
    first_clip_s: float | None
    p50: float
    p95: float
    max: float | None


class VideoScore(BaseModel):
    """Person-appearances in one group of clips: how many were named, wrong names, strangers named."""

    clips: int
    appearances: int
    named: int
    recall: float
    precision: float
    wrong_names: int
    stranger_clips: int
    stranger_clips_named: int


class CameraViewBench(BaseModel):
    """`--videos DIR`: people enrolled only by labelling their unknown faces (facepipe.bench.camera_view),
    beside the portraits' gallery, on the same test clips."""

    seen_before_clips: int
    labelled: dict[str, int]  # person -> crops labelled into the gallery
    camera_view: dict[str, VideoScore]
    portraits: dict[str, VideoScore]


class VideoBench(BaseModel):
    """`--videos DIR`: ours and the plain library's defaults on the same clips, by version of the clips."""

    ours: dict[str, VideoScore]
    plain_library: dict[str, VideoScore]
    ours_clip_ms_p50: float  # clips with a face (as the reference)
    ours_clip_ms_p95: float
    plain_library_clip_ms_p50: float
    reference_clip_ms_p50: float
    misses: list[str]
    wrong: list[str]
    camera_view: CameraViewBench | None = None


class ThroughputLevel(BaseModel):
    concurrency: int
    clips: int
    missing: int
    clips_per_s: float


class Soak(BaseModel):
    clips: int
    answered: int
    missing: int
    unique_keys: int
    backlog_first_tenth: float
    backlog_last_tenth: float
    backlog_grows: bool
    latency_p50_s: float
    latency_p95_s: float


from facepipe.bench.classroom import ClassroomReport  # noqa: E402
from facepipe.bench.erase import EraseBench  # noqa: E402 (the erase section's own models)
from facepipe.bench.scale import ScaleReport  # noqa: E402
from facepipe.bench.strangers import StrangerCurve  # noqa: E402


class BenchReport(BaseModel):
    machine: Machine
    settings: BenchSettings
    recognize: Recognition | None = None
    encoder: Encoder | None = None
    cnn_detector: CnnDetector | None = None
    detectors: list[DetectorBench] = Field(default_factory=list)
    accuracy: Accuracy | None = None
    latency_s: Latency | None = None
    stages_s_p50: dict[str, float] = Field(default_factory=dict)
    throughput: list[ThroughputLevel] = Field(default_factory=list)
    camera: Camera | None = None
    videos: VideoBench | None = None
    cost: CostModel | None = None
    # The same camera-day with the device's change gate, a classroom still 90% of the time (bench.cost).
    cost_change_gate: CostModel | None = None
    soak: Soak | None = None
    erase: EraseBench | None = None
    strangers: StrangerCurve | None = None
    scale: ScaleReport | None = None
    classroom: ClassroomReport | None = None
    worker_peak_rss_mb: float | None = None
    warm_pool_start_s: float | None = None
    cold_start_s: float | None = None
    cold_start_max_s: float | None = None
    cold_worker_rss_mb: float | None = None
    duplicates: int = 0
    # Every clip's latency in the latency run, for the plot: not part of the JSON report.
    latencies: list[float] = Field(default_factory=list, exclude=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
