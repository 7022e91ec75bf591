"""The render network: ONNX matches PyTorch, a neutral frame is the portrait, the motion shows, and
``facecast render`` writes a playable, labelled mp4 with the speech."""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time

import numpy as np
import pytest
from counting import CountingRenderer
from pictures import psnr

from facecast import face_topology as ft
from facecast.avatar import default_pack_path, load_pack
from facecast.cli_render import add_commands, load_portrait, run
from facecast.cuda_graphs import VERTEX_STEP, CudaGraphs, padded_avatars, power_of_two
from facecast.errors import FacecastError, ModelError
from facecast.lipsync import shipped_models
from facecast.motion_frame import BLENDSHAPE_INDEX, FIELDS, FRAME_SIZE, neutral_frames
from facecast.motion_frame import frame_from as motion
from facecast.prepare import prepare_portrait
from facecast.render import (
    CELL,
    INPUT_NAMES,
    Renderer,
    avatar_tensors,
    default_model_path,
    rasterise,
    sealed_image,
    stack_avatars,
)
from facecast.retime import retime


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(threads=2)


@pytest.fixture(scope="module")
def pack():
    return load_pack(default_pack_path())


@pytest.fixture(scope="module")
def avatar(pack):
    return avatar_tensors(pack, 256)


def render(renderer, avatar, *frames) -> np.ndarray:
    return renderer.render(avatar, np.stack(frames))


def teeth_like(pixels: np.ndarray, floor: int = 150, spread: int = 45) -> int:
    """How many of ``pixels`` (..., 3) look like teeth: every channel above ``floor``, nearly grey."""
    rgb = pixels.astype(int)
    return int(((rgb.min(-1) > floor) & (rgb.max(-1) - rgb.min(-1) < spread)).sum())


def mouth_box(avatar, margin: float = 0.6) -> tuple[slice, slice]:
    lm = avatar.tensors["vertices"][0]
    corners = lm[[61, 291], :2]
    centre = lm[[13, 14], :2].mean(0)
    half = np.abs(corners[1, 0] - corners[0, 0]) / 2 * (1 + margin)
    return (slice(int(centre[1] - half * 0.6), int(centre[1] + half * 1.2)),
            slice(int(centre[0] - half), int(centre[0] + half)))


def test_onnx_matches_pytorch(pack):
    torch = pytest.importorskip("torch")
    from facecast.export.render_export import check_motion
    from facecast.export.render_model import RenderNet

    one = avatar_tensors(pack, 128)
    feed = {**stack_avatars([one, one]), "motion": check_motion(4), "avatar": np.array([0, 1, 1, 0])}
    with torch.no_grad():
        expected = RenderNet()(*(torch.from_numpy(np.array(feed[n])) for n in INPUT_NAMES)).numpy()
    got = Renderer(threads=2).session.run(None, feed)[0]
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert got.shape == (4, 128, 128, 3) and got.dtype == np.uint8
    assert (diff > 1).mean() < 1e-3  # nearest-texel ties may round either way on a handful of pixels


def test_the_network_for_cuda_graphs_renders_the_shipped_networks_frames(pack):
    """``render_gpu.onnx`` (no boxes, for CUDA graphs) and ``render.onnx`` are one network: on the CPU, where
    both run, they render the same frames from speech-like motion on two avatars stacked."""
    rng = np.random.default_rng(1)
    frames = np.stack([motion(jawOpen=rng.uniform(0, 0.9), mouthFunnel=rng.uniform(0, 0.6), yaw=rng.uniform(-20, 20),
                              eyeBlinkRight=rng.uniform(0, 1), gaze_yaw=rng.uniform(-20, 20)) for _ in range(4)])
    inputs = stack_avatars([avatar_tensors(pack, 128)] * 2)
    index = np.array([0, 1, 1, 0])
    boxed = Renderer(threads=2).run(inputs, frames, index)
    whole = Renderer(default_model_path(whole_frame=True), threads=2).run(inputs, frames, index)
    np.testing.assert_array_equal(boxed, whole)


def test_cuda_graphs_pad_a_call_to_a_power_of_two_frames():
    assert [power_of_two(n) for n in (1, 2, 3, 4, 5, 8, 9)] == [1, 2, 4, 4, 8, 8, 16]


@pytest.mark.parametrize("whole_frame", [False, True])
def test_avatars_padded_for_a_cuda_graph_render_the_same_frames(pack, whole_frame):
    """CUDA graphs pad the avatars stacked in a call (to a power of two, with copies of the first) and their
    meshes (to a multiple of VERTEX_STEP, with vertices no triangle uses): no frame may change, in either
    network."""
    one = avatar_tensors(pack, 96)
    vertices = one.tensors["vertices"].shape[1]
    frames = np.stack([motion(jawOpen=0.7, yaw=15), motion(mouthSmileLeft=0.8, pitch=-10, eyeBlinkLeft=1),
                       motion(mouthFunnel=0.6, roll=8)])
    renderer = Renderer(default_model_path(whole_frame), threads=2)
    for inputs, index in [(one.tensors, np.zeros(3, np.int64)), (stack_avatars([one] * 3), np.array([2, 0, 1]))]:
        grown = padded_avatars(inputs, 4, vertices + VERTEX_STEP)
        assert grown["vertices"].shape == (4, vertices + VERTEX_STEP, 3) and grown["texture"].shape[0] == 4
        np.testing.assert_array_equal(renderer.run(grown, frames, index), renderer.run(inputs, frames, index))


def test_cuda_graphs_logic_on_the_cpu_renders_the_plain_sessions_frames(pack):
    """CudaGraphs with the CPU provider (its sessions, buffers, padding and uploads, without the capture):
    calls of 1, 3 and 5 frames, another avatar of the same shape, two stacked, back to the first, and a
    writeable picture edited in place between calls (uploaded again) give the plain session's frames."""
    plain = Renderer(threads=2)
    graphs = CudaGraphs(default_model_path(whole_frame=True), device="cpu")
    one = avatar_tensors(pack, 96)
    negative = {**one.tensors, "texture": 255 - one.tensors["texture"]}  # writeable: uploaded every call
    rng = np.random.default_rng(2)
    frames = np.stack([motion(jawOpen=rng.uniform(0, 1), yaw=rng.uniform(-20, 20), eyeBlinkLeft=rng.uniform(0, 1))
                       for _ in range(5)]).astype(np.float32)
    calls = [(one.tensors, 1), (one.tensors, 3), (negative, 3), (one.tensors, 5), (stack_avatars([one, one]), 3),
             (one.tensors, 3)]
    try:
        for inputs, n in calls:
            index = np.arange(n) % len(inputs["vertices"])
            np.testing.assert_array_equal(graphs.run(inputs, frames[:n], index), plain.run(inputs, frames[:n], index))
        negative["texture"][:] = one.tensors["texture"] // 2
        np.testing.assert_array_equal(graphs.run(negative, frames[:3], np.zeros(3, np.int64)),
                                      plain.run(negative, frames[:3], np.zeros(3, np.int64)))
        # One graph per padded (frames, avatars), the most recently used last
        assert [shape[:2] for shape in graphs._graphs] == [(1, 1), (8, 1), (4, 2), (4, 1)]
    finally:
        graphs.close()


def _until_captured(graphs: CudaGraphs) -> None:
    deadline = time.monotonic() + 60
    while graphs.capturing:
        assert time.monotonic() < deadline, "the capture never ended"
        time.sleep(0.01)


def test_cuda_graphs_a_caller_does_not_wait_for_are_captured_while_it_renders_elsewhere(pack, caplog):
    """With ``wait_for_capture=False`` (a server's calls) the first call of a padded shape only starts its
    capture and returns None, as does any call while a capture runs; once captured, the shape's calls
    render."""
    plain = Renderer(threads=2)
    graphs = CudaGraphs(default_model_path(whole_frame=True), device="cpu")
    one = avatar_tensors(pack, 96)
    frames = np.stack([motion(jawOpen=0.6), motion(yaw=12), motion(eyeBlinkLeft=1)]).astype(np.float32)

    def run(rows: np.ndarray) -> np.ndarray | None:
        return graphs.run(one.tensors, rows, np.zeros(len(rows), np.int64), wait_for_capture=False)

    try:
        with caplog.at_level("INFO", logger="facecast.cuda_graphs"):
            for n in (1, 3, 2):
                assert run(frames[:n]) is None  # a new shape: 1, 4, 2 frames
                _until_captured(graphs)
                expected = plain.run(one.tensors, frames[:n], np.zeros(n, np.int64))
                np.testing.assert_array_equal(run(frames[:n]), expected)
            # Four frames are the shape of three: captured already, so rendered at the first call.
            four = np.tile(frames[:2], (2, 1))
            np.testing.assert_array_equal(run(four), plain.run(one.tensors, four, np.zeros(4, np.int64)))
            # While a capture runs (of eight frames, held back here until the check is done), no call runs on
            # the worker, a captured shape's neither.
            release = threading.Event()
            graphs._worker.submit(release.wait)
            try:
                assert run(np.tile(frames[:1], (8, 1))) is None
                assert graphs.capturing and run(frames[:1]) is None
            finally:
                release.set()  # or close() in the finally below would wait behind it for ever
            _until_captured(graphs)
        assert sorted(shape[0] for shape in graphs._graphs) == [1, 2, 4, 8]
        # Each capture is logged with its time, as its frames came from elsewhere meanwhile.
        captured = [r.fields for r in caplog.records if getattr(r, "event", None) == "cuda_graph_captured"]
        assert [(c["frames"], c["avatars"], c["size"]) for c in captured] == [(1, 1, 96), (4, 1, 96), (2, 1, 96),
                                                                               (8, 1, 96)]
        assert all(c["took_s"] >= 0 for c in captured)
    finally:
        graphs.close()
    with pytest.raises(RuntimeError, match="closed"):
        run(frames[:1])


def test_a_renderer_with_a_stand_in_renders_every_call_at_once_while_its_graphs_capture(pack, tmp_path, caplog):
    """Given a stand-in (on the CPU), a call never waits for a capture: the stand-in renders it. A capture
    that fails is logged when it fails; the next call renders on the stand-in too, and the graphs are
    dropped, with the usual warning."""
    avatar = avatar_tensors(pack, 96)
    frames = np.stack([motion(jawOpen=0.5), motion(yaw=10)])
    index = np.zeros(2, np.int64)
    renderer, stand_in = Renderer(threads=2), CountingRenderer(threads=2)
    expected = renderer.run(avatar.tensors, frames, index)
    renderer.graphs = graphs = CudaGraphs(default_model_path(whole_frame=True), device="cpu")
    try:
        np.testing.assert_array_equal(renderer.run(avatar.tensors, frames, index, stand_in=stand_in), expected)
        assert stand_in.calls == 1
        _until_captured(graphs)
        np.testing.assert_array_equal(renderer.run(avatar.tensors, frames, index, stand_in=stand_in), expected)
        assert stand_in.calls == 1 and list(graphs._graphs)[0][:2] == (2, 1)  # the graph's frames
    finally:
        graphs.close()
    renderer.graphs = broken = CudaGraphs(tmp_path / "missing.onnx", device="cpu")
    with caplog.at_level("INFO", logger="facecast"):
        np.testing.assert_array_equal(renderer.run(avatar.tensors, frames, index, stand_in=stand_in), expected)
        _until_captured(broken)
        assert [r.event for r in caplog.records if r.levelname == "WARNING"] == ["cuda_graph_capture_failed"]
        assert renderer.graphs is broken  # the failure is met at the next call
        np.testing.assert_array_equal(renderer.run(avatar.tensors, frames, index, stand_in=stand_in), expected)
    assert renderer.graphs is None and stand_in.calls == 3
    assert [r.event for r in caplog.records if r.levelname == "WARNING"] == ["cuda_graph_capture_failed",
                                                                             "cuda_graphs_dropped"]


def test_avatar_inputs_are_read_only_so_no_edit_goes_unseen(pack):
    one = avatar_tensors(pack, 96)
    for inputs in (one.tensors, stack_avatars([one, one])):
        assert all(value.flags.owndata for value in inputs.values())  # no writeable base behind them
        with pytest.raises(ValueError, match="read-only"):
            inputs["colours"][0] = 0


def test_avatar_inputs_the_network_cannot_take_are_refused_in_words(pack):
    one = avatar_tensors(pack, 96).tensors
    frames, index = np.stack([motion(jawOpen=0.5)]), np.zeros(1, np.int64)
    renderer = Renderer(threads=2)
    wrong = [({k: v for k, v in one.items() if k != "colours"}, "colours missing"),
             ({**one, "vertices": one["vertices"].astype(np.float64)}, "vertices: float64"),
             ({**one, "texture": np.concatenate([one["texture"]] * 2)}, "one row per avatar"),
             ({**one, "basis": one["basis"][:, :, :-1]}, "different avatars or sizes")]
    for inputs, words in wrong:
        with pytest.raises(FacecastError, match=words):
            renderer.run(inputs, frames, index)
    assert renderer.run(one, frames[:0], index[:0]).shape == (0, 96, 96, 3)


def test_a_renderer_whose_cuda_graphs_cannot_run_renders_without_them(pack, tmp_path, caplog):
    """Graphs that fail (here: their network missing) hand each call to the plain session, and are dropped
    once with one message, even when several threads meet the failure at once."""
    import threading

    avatar = avatar_tensors(pack, 96)
    frames = np.stack([motion(jawOpen=0.5), motion(yaw=10)])
    renderer = Renderer(threads=2)
    expected = renderer.run(avatar.tensors, frames, np.zeros(2, np.int64))
    renderer.graphs = CudaGraphs(tmp_path / "missing.onnx", device="cpu")
    results: list[np.ndarray] = []

    def call() -> None:
        results.append(renderer.run(avatar.tensors, frames, np.zeros(2, np.int64)))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and all(np.array_equal(r, expected) for r in results)
    assert renderer.graphs is None
    [record] = [r for r in caplog.records if r.name.startswith("facecast")]
    assert record.levelname == "WARNING" and record.event == "cuda_graphs_dropped"
    assert record.getMessage().startswith("CUDA graphs cannot run")


@pytest.mark.parametrize("size", [96, 128, 256])
def test_layers_worked_out_in_their_boxes_are_those_worked_out_everywhere(pack, size):
    """The mouth and each eye are worked out only in the cells about their lips and lids (``box``), the lids'
    per-pixel pass only about them, and the layers blended only in the box that holds them (``span``). That
    must change no pixel: the network with every box opened to the whole frame (``whole_frame``, the variant
    CUDA graphs run) renders random motion (any blendshape, head turns to 35 deg, moves, gaze to 40 deg) to
    the same frames, also at small sizes, where the margins are thinnest."""
    torch = pytest.importorskip("torch")
    import facecast.export.render_model as rm

    rng = np.random.default_rng(size)
    frames = neutral_frames(6)
    shapes = FIELDS["blendshapes"].slice
    count = shapes.stop - shapes.start
    frames[:, shapes] = rng.uniform(0, 1, (6, count)) * (rng.uniform(0, 1, (6, count)) < 0.3)
    frames[:, FIELDS["headRotation"].slice] = rng.uniform(-35, 35, (6, 3))
    frames[:, FIELDS["headTranslation"].slice] = rng.uniform(-0.08, 0.08, (6, 3))
    frames[:, FIELDS["gaze"].slice] = rng.uniform(-40, 40, (6, 4))
    one = avatar_tensors(pack, size)
    feed = {**stack_avatars([one, one]), "motion": frames.astype(np.float32), "avatar": np.array([0, 1, 1, 0, 0, 1])}

    def rendered(whole_frame: bool) -> np.ndarray:
        net = rm.RenderNet(whole_frame)
        with torch.no_grad():
            return net(*(torch.from_numpy(np.array(feed[n])) for n in INPUT_NAMES)).numpy()

    np.testing.assert_array_equal(rendered(whole_frame=False), rendered(whole_frame=True))


def test_a_layers_edge_blends_into_the_picture_over_two_pixels():
    """The mouth and eye layers are made once per 4x4 cell; cut where their alpha passes 1/2 their rim
    would be a staircase, so the network blends them with the picture across EDGE_PIXELS instead."""
    torch = pytest.importorskip("torch")
    from facecast.export.render_model import CELL, EDGE_PIXELS, RenderNet
    from facecast.export.render_ops import ramp

    size, edge = 64, 30.3  # a vertical edge between cell centres
    cells = size // CELL
    centres = (torch.arange(cells, dtype=torch.float32) + 0.5) * CELL - 0.5
    gy, gx = (g[None] for g in torch.meshgrid(centres, centres, indexing="ij"))
    alpha = ramp(gx - edge)  # as the layers make their masks
    texture = torch.full((1, 2, 2 * size - 1, 2 * size - 1, 3), 100, dtype=torch.uint8)
    still = torch.zeros_like(alpha)
    frame = RenderNet()._compose(texture, torch.zeros(1, dtype=torch.int64), gx, RenderNet._offsets((gx, gy), gx, gy),
                                 (still, still), still, [alpha, alpha, alpha, alpha], still, size)[0].numpy()
    row = frame[size // 2, :, 0].astype(int)
    assert (frame == frame[:1]).all() and (frame == frame[..., :1]).all()  # rows alike, colours alike
    assert (row[: int(edge) - 2] == 100).all() and (row[int(edge) + 3:] == 255).all()
    mixed = np.flatnonzero((row > 100) & (row < 255))
    assert 2 <= len(mixed) <= EDGE_PIXELS + 2  # a cut would mix none
    assert (np.diff(row) >= 0).all()
    halfway = np.interp(177.5, row, np.arange(size))  # where the blend is half picture, half layer
    assert abs(halfway - edge) < 1


def test_the_camera_sees_head_motion_in_perspective():
    """The head's motion is seen by a camera CAMERA_DISTANCE in front, looking at the frame's middle: what
    it brings nearer grows about that middle by the distance over the distance less the approach; what
    does not follow the head (weight 0) does not move at all, and a neutral pose moves nothing."""
    torch = pytest.importorskip("torch")
    from facecast.export.render_model import RenderNet, rotation_matrix

    points = torch.tensor([[[100.0, 80.0, 5.0], [300.0, 260.0, -20.0], [40.0, 400.0, 0.0]]])
    weight = torch.tensor([[1.0, 1.0, 0.0]])
    pivot, centre, distance = torch.tensor([[200.0, 300.0, -60.0]]), 255.5, torch.tensor([1000.0])
    still = rotation_matrix(torch.zeros(1), torch.zeros(1), torch.zeros(1))
    moved = RenderNet._head(points, weight, still, pivot, torch.zeros(1, 3), centre, distance)
    assert torch.allclose(moved, points)
    toward = RenderNet._head(points, weight, still, pivot, torch.tensor([[0.0, 0.0, 100.0]]), centre, distance)
    grown = centre + (points[0, :2, :2] - centre) * 1000 / 900
    assert torch.allclose(toward[0, :2, :2], grown) and torch.allclose(toward[0, 2], points[0, 2])
    nod = RenderNet._head(points, weight, rotation_matrix(torch.tensor([20.0]), torch.zeros(1), torch.zeros(1)),
                          pivot, torch.zeros(1, 3), centre, distance)
    # Looking down (+ pitch) about a pivot below and behind brings the upper point nearer: it spreads out.
    assert nod[0, 0, 2] > points[0, 0, 2] and abs(nod[0, 0, 0] - centre) > abs(points[0, 0, 0] - centre)


def test_the_jaw_parts_own_teeth_along_a_straight_line_per_pixel():
    """Below the line where a portrait's own upper teeth end, the picture moves with the jaw. The line comes
    per cell (every 4 pixels) but is drawn per pixel: tilted with the head, it stays straight. Picked per
    cell it was a staircase, and the teeth beside it looked jumbled."""
    torch = pytest.importorskip("torch")
    from facecast.export.render_model import CELL, RenderNet

    size, drop = 64, 8.0
    cells = size // CELL
    centres = (torch.arange(cells, dtype=torch.float32) + 0.5) * CELL - 0.5
    gy, gx = (g[None] for g in torch.meshgrid(centres, centres, indexing="ij"))

    def line(x):  # where the teeth end, tilted as a head rolled by 17 deg tilts it
        return 30.3 + 0.3 * (x - 32)

    rows = torch.arange(2 * size - 1, dtype=torch.float32)  # picture entries are half pixels
    texture = (rows[:, None] * 2).clamp(max=255).to(torch.uint8)[None, None, :, :, None].expand(
        1, 2, -1, 2 * size - 1, 3).contiguous()  # brightness 4 per pixel down the picture
    still = torch.zeros_like(gx)
    frame = RenderNet()._compose(texture, torch.zeros(1, dtype=torch.int64), gx, RenderNet._offsets((gx, gy), gx, gy),
                               (still, still - drop),
                               gy - line(gx), [still] * 4, still, size)[0, ..., 0].numpy().astype(int)
    y = np.arange(size)
    for x in range(8, size - 8):
        kept = frame[:, x] == 4 * y
        moved = frame[:, x] == 4 * (y - drop)  # shows what lay `drop` pixels above
        above, below = int(np.floor(line(x))), int(np.ceil(line(x)))
        assert kept[:above].all() and moved[below + 1:].all(), x  # a pixel's width of blend on the line
        assert (kept | moved).sum() >= size - 1, x


@pytest.mark.parametrize("size", [256, 512])
def test_neutral_frame_reproduces_the_portrait(renderer, pack, size):
    avatar = avatar_tensors(pack, size)
    frame = render(renderer, avatar, motion())[0]
    assert psnr(frame, avatar.reference) >= 40


def test_jaw_open_opens_the_mouth_and_nothing_else_moves(renderer, avatar):
    frames = render(renderer, avatar, motion(), *(motion(jawOpen=j) for j in (0.25, 0.5, 0.75, 1.0)))
    rows, cols = mouth_box(avatar)
    lum = frames[..., :3].astype(float) @ np.array([0.299, 0.587, 0.114])
    dark = (lum[:, rows, cols] < 80).sum(axis=(1, 2))  # the mouth cavity between the teeth
    # This portrait smiles with its teeth apart: a slight opening first shifts its own dark mouth
    # corners, then the new cavity grows with the jaw.
    assert (np.diff(dark[1:]) > 0).all() and dark[-1] > dark[0] + 200
    changed = (frames[1:] != frames[0]).any(-1).sum(axis=(1, 2))
    assert (np.diff(changed) >= 0).all()  # the wider the jaw opens, the more of the face moves
    corners = [(slice(0, 40), slice(0, 40)), (slice(0, 40), slice(-40, None)),
               (slice(-40, None), slice(0, 40)), (slice(-40, None), slice(-40, None))]
    for r, c in corners:
        assert (frames[:, r, c] == frames[0, r, c]).all()


def test_an_open_mouth_keeps_its_own_teeth(renderer, pack):
    """The bundled portrait smiles with its upper teeth showing: opening the jaw keeps them in place."""
    avatar = avatar_tensors(pack, 512)
    teeth = float(avatar.tensors["own_teeth"][0])
    assert teeth > 2
    neutral, opened = render(renderer, avatar, motion(), motion(jawOpen=0.6))
    lm = avatar.tensors["vertices"][0]
    x, y = lm[13, :2]
    band = (slice(int(np.ceil(y + 1)), int(y + teeth - 2)), slice(int(x - 8), int(x + 9)))
    assert np.abs(opened[band].astype(int) - neutral[band]).mean() < 8
    assert opened[band].mean() > 150  # still bright teeth, not cavity


def test_a_dropped_lower_lip_uncovers_the_lower_teeth_then_the_gum(renderer, pack):
    """The bundled portrait shows only her upper teeth. With the lower lip dropped by its full reach and the
    jaw a little open, the mouth's middle shows, from the top: her own upper teeth, the new lower teeth
    (a lower incisor's crown, about 9 mm), and the pink gum above the lower lip, far redder than the
    teeth (R - G: a median of about 76 against 26 levels). Teeth that ran all the way down to the lip drew a grey band
    there instead."""
    avatar = avatar_tensors(pack, 512)
    frame = render(renderer, avatar, motion(mouthLowerDownLeft=1, mouthLowerDownRight=1, jawOpen=0.2))[0]
    verts, face = avatar.tensors["vertices"][0], float(avatar.tensors["face_scale"][0])
    x, top = np.round(verts[ft.LIPS_UPPER_INNER[5], :2] + [5, 0]).astype(int)  # a central incisor's middle
    column = frame[top : top + int(0.45 * face), x].astype(int)
    redness = column[:, 0] - column[:, 1]
    lum = column @ np.array([0.299, 0.587, 0.114])
    lip = int(np.argmax((np.arange(len(column)) > 0.25 * face) & (redness > 50) & (lum > 150)))  # lower lip
    assert lip > 0
    teeth = redness[(lum > 150) & (np.arange(len(column)) < lip) & (np.arange(len(column)) > 0.1 * face)]
    gum = redness[lip - int(0.04 * face) : lip - 1]  # the last row blends into the lip
    assert len(teeth) and teeth.mean() < 40
    assert np.median(gum) > teeth.mean() + 25


def test_lips_closed_over_the_jaw_cover_the_smiles_own_teeth(renderer, pack):
    """A /p b m/ (mouthClose = jawOpen) brings the bundled portrait's parted, smiling lips together."""
    avatar = avatar_tensors(pack, 512)
    lm = avatar.tensors["vertices"][0]
    band = (slice(int(lm[13, 1] - 25), int(lm[13, 1] + 25)), slice(int(lm[81, 0]), int(lm[311, 0])))

    def teeth(frame: np.ndarray) -> int:  # between the lips' middles
        return teeth_like(frame[band])

    neutral, sealed, jaw_only, half = render(renderer, avatar, motion(), motion(jawOpen=0.1, mouthClose=0.1),
                                             motion(jawOpen=0.1), motion(jawOpen=0.3, mouthClose=0.15))
    assert teeth(sealed) < 0.6 * teeth(neutral)
    assert teeth(jaw_only) > teeth(neutral)  # the jaw alone parts the lips further
    assert teeth(sealed) < teeth(half)  # half sealed over a wider jaw: in between

    # Where the lips meet, no line of the smile's teeth is left between them.
    meet = (lm[list(ft.LIPS_UPPER_INNER), :2] + lm[list(ft.LIPS_LOWER_INNER), :2]) / 2
    xs = np.arange(int(meet[0, 0]) + 3, int(meet[-1, 0]) - 2)
    ys = np.round(np.interp(xs, meet[:, 0], meet[:, 1])).astype(int)
    rows = ys[:, None] + np.arange(-3, 4)[None]

    def teeth_on_the_line(frame: np.ndarray) -> int:
        return teeth_like(frame[rows, xs[:, None]])

    assert teeth_on_the_line(neutral) > 150
    assert teeth_on_the_line(sealed) < 0.15 * teeth_on_the_line(neutral)


def test_puckered_or_pressed_lips_cover_the_smiles_own_teeth(renderer, pack):
    """An "oo" on a portrait that smiles with its teeth: pressed forward and together, the lips close over
    them, and only what the jaw opens stays open. Lips pressed together close over them too."""
    avatar = avatar_tensors(pack, 512)
    lm = avatar.tensors["vertices"][0]
    band = (slice(int(lm[13, 1] - 25), int(lm[13, 1] + 25)), slice(int(lm[81, 0]), int(lm[311, 0])))
    neutral, pucker, press, oo, unrounded = render(renderer, avatar, motion(), motion(mouthPucker=1.0),
                                                   motion(mouthPressLeft=1.0, mouthPressRight=1.0),
                                                   motion(jawOpen=0.15, mouthPucker=0.75, mouthFunnel=0.4),
                                                   motion(jawOpen=0.15, mouthFunnel=0.4))
    assert teeth_like(pucker[band]) < 0.3 * teeth_like(neutral[band])
    assert teeth_like(press[band]) < 0.3 * teeth_like(neutral[band])
    assert teeth_like(oo[band]) < 0.7 * teeth_like(unrounded[band])


def test_an_f_tucks_the_lower_lip_under_the_smiles_upper_teeth(renderer, pack):
    """An /f/ on a portrait that smiles with its teeth: the lower lip rolls in and rises to the upper
    teeth, from wherever the jaw put it, covering the lower teeth; the upper teeth still show."""
    avatar = avatar_tensors(pack, 512)
    lm = avatar.tensors["vertices"][0]
    x = slice(int(lm[81, 0]), int(lm[311, 0]))
    top, bottom = lm[13, 1], lm[14, 1]
    middle = int((top + bottom) / 2)
    upper, lower = (slice(int(top) - 3, middle), x), (slice(middle, int(bottom) + 6), x)
    unrolled = dict(jawOpen=0.1, mouthClose=0.02, mouthUpperUpLeft=0.2, mouthUpperUpRight=0.2)
    neutral, f, without_roll = render(renderer, avatar, motion(), motion(**unrolled, mouthRollLower=0.45),
                                      motion(**unrolled))
    assert teeth_like(f[lower]) < 0.75 * teeth_like(without_roll[lower])
    assert teeth_like(f[upper]) > 0.9 * teeth_like(neutral[upper]) > 100

    # Over a wide-open jaw a lip cannot reach the upper teeth: rolled in, it leaves the mouth open.
    mouth = (slice(int(top) - 10, int(bottom) + 60), slice(int(lm[61, 0]), int(lm[291, 0])))
    wide, wide_rolled = render(renderer, avatar, motion(jawOpen=0.8), motion(jawOpen=0.8, mouthRollLower=0.5))

    def dark(frame: np.ndarray) -> int:
        return int((frame[mouth].astype(int).sum(-1) < 150).sum())

    assert dark(wide_rolled) > 0.9 * dark(wide) > 500


def test_each_warp_cell_takes_the_weights_of_the_last_triangle_under_its_centre(pack, monkeypatch):
    """The rig's mesh drawn onto the warp's grid: a cell whose centre lies in a triangle gets that
    triangle's corners and barycentric weights (the last one drawn, where triangles share an edge), a
    cell outside every triangle none; as a plain triangle-by-triangle drawing over the whole grid gives."""
    def drawn_one_by_one(vertices, triangles, size, cells):
        centres = (np.arange(cells) + 0.5) * (size / cells) - 0.5
        px, py = np.meshgrid(centres, centres)
        index, weight = np.zeros((cells, cells, 3), np.int64), np.zeros((cells, cells, 3), np.float32)
        for corners in triangles:
            (ax, ay), (bx, by), (cx, cy) = vertices[corners, :2].astype(np.float64)
            det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
            if abs(det) < 1e-9:
                continue
            l1 = ((by - cy) * (px - cx) + (cx - bx) * (py - cy)) / det
            l2 = ((cy - ay) * (px - cx) + (ax - cx) * (py - cy)) / det
            l3 = 1 - l1 - l2
            inside = (l1 >= -1e-6) & (l2 >= -1e-6) & (l3 >= -1e-6)
            index[inside], weight[inside] = corners, np.stack([l1, l2, l3], -1)[inside]
        return index, weight

    # Two triangles sharing a diagonal through cell centres, one flat, one beyond the frame.
    square = np.array([[1.5, 1.5], [13.5, 1.5], [13.5, 13.5], [1.5, 13.5], [5.5, 5.5], [20, 20], [40, 20], [30, 40]])
    triangles = np.array([[0, 1, 2], [0, 2, 3], [0, 4, 2], [5, 6, 7]])
    index, weight = rasterise(square, triangles, 16, 8)
    assert np.array_equal(index, drawn_one_by_one(square, triangles, 16, 8)[0])
    assert (index[np.arange(1, 7), np.arange(1, 7)] == [0, 2, 3]).all()  # the diagonal: the second triangle's
    assert (index[7, 0] == 0).all() and (weight[7, 0] == 0).all()  # outside both

    avatar = avatar_tensors(pack, 256)
    vertices = avatar.tensors["vertices"][0].astype(np.float64)
    index, weight = rasterise(vertices, pack.rig.triangles, 256, 256 // CELL)
    expected = drawn_one_by_one(vertices, pack.rig.triangles, 256, 256 // CELL)
    assert np.array_equal(index, expected[0]) and np.array_equal(weight, expected[1])
    monkeypatch.setattr("facecast.render.RASTER_CELLS", 50)  # the boxes tested a few triangles at a time
    small_runs = rasterise(vertices, pack.rig.triangles, 256, 256 // CELL)
    assert np.array_equal(small_runs[0], index) and np.array_equal(small_runs[1], weight)
    covered = weight.sum(-1) > 0
    centres = (np.arange(256 // CELL) + 0.5) * CELL - 0.5
    at = (weight[..., None] * vertices[index, :2]).sum(-2)  # the weights put each cell back at its centre
    assert np.abs(at[covered] - np.stack(np.meshgrid(centres, centres), -1)[covered]).max() < 1e-3
    assert covered.mean() > 0.99  # the rig covers the whole frame


def test_the_sealed_picture_fills_only_the_mouth_opening_with_lips(pack):
    """The avatar's second picture, used where parted lips close, differs from the portrait only between
    its inner lips, and shows lips there, not the smile's teeth."""
    avatar = avatar_tensors(pack, 512)
    portrait, sealed = avatar.tensors["texture"][0, :, ::2, ::2]  # whole pixels of the two pictures
    np.testing.assert_array_equal(portrait, avatar.reference)
    lips = avatar.tensors["vertices"][0, list(ft.LIPS_UPPER_INNER + ft.LIPS_LOWER_INNER), :2]
    (x0, y0), (x1, y1) = np.floor(lips.min(0)).astype(int) - 2, np.ceil(lips.max(0)).astype(int) + 3
    changed = (portrait != sealed).any(-1)
    assert changed.sum() > 200 and changed[y0:y1, x0:x1].sum() == changed.sum()

    def teeth(picture: np.ndarray) -> int:
        return teeth_like(picture[y0:y1, x0:x1], floor=170, spread=40)

    # What stays bright and pale is the lower lip's own highlight (40 of 274 pixels when written).
    assert teeth(portrait) > 200 and teeth(sealed) < 0.2 * teeth(portrait)


def test_a_beard_does_not_darken_the_new_teeth(pack):
    # The light the mouth interior is lit by is read on the upper face: a dark beard over the lower face
    # (simulated here by darkening everything below the nose tip) leaves the teeth as they were.
    from dataclasses import replace

    from facecast.render import _colours

    bearded = pack.image.copy()
    below_nose = int(pack.landmarks[ft.NOSE_TIP, 1]) + 1
    bearded[below_nose:] //= 4
    clean, dark = _colours(pack, None), _colours(replace(pack, image=bearded), None)
    np.testing.assert_allclose(dark[1], clean[1], atol=0.02)


def test_eyes_blink_and_gaze_inside_the_eyes_only(renderer, avatar):
    neutral, blink, gaze = render(renderer, avatar, motion(), motion(eyeBlinkLeft=1, eyeBlinkRight=1),
                                  motion(gaze_yaw=20))
    lm = avatar.tensors["vertices"][0]
    eyes = lm[[33, 133, 263, 362, 159, 145, 386, 374], :2]
    top, bottom = int(eyes[:, 1].min() - 20), int(eyes[:, 1].max() + 20)
    for frame in (blink, gaze):
        moved = (frame != neutral).any(-1)
        assert moved[top:bottom].sum() > 20
        assert moved[:top].sum() + moved[bottom + 20:].sum() == 0
    # Closed lids hide the dark iris: the eye region gets brighter (skin) where it was iris.
    iris = lm[468, :2].astype(int)
    patch = (slice(iris[1] - 2, iris[1] + 3), slice(iris[0] - 2, iris[0] + 3))
    assert blink[patch].mean() > neutral[patch].mean() + 20


def test_a_full_blink_closes_the_eye(renderer, pack):
    """Each eye opening painted pure green (one pixel in from FaceMesh's eye contour) is hidden by a full
    blink, the head frontal or turned. The warp alone, which cannot fold, left a slit of 38-45 % of it."""
    import dataclasses

    from PIL import Image, ImageDraw
    from scipy.ndimage import binary_erosion

    painted = Image.new("L", pack.image.shape[1::-1])
    for upper, lower in ((ft.RIGHT_EYE_UPPER, ft.RIGHT_EYE_LOWER), (ft.LEFT_EYE_UPPER, ft.LEFT_EYE_LOWER)):
        contour = pack.landmarks[list(upper) + list(lower)[::-1], :2]
        ImageDraw.Draw(painted).polygon([tuple(p) for p in contour], fill=255)
    image = pack.image.copy()
    image[binary_erosion(np.asarray(painted) > 0)] = (0, 255, 0)
    green = avatar_tensors(dataclasses.replace(pack, image=image, image_bytes=None), 256)
    frames = render(renderer, green, motion(), motion(eyeBlinkLeft=1, eyeBlinkRight=1),
                    motion(eyeBlinkLeft=1, eyeBlinkRight=1, yaw=15)).astype(int)
    shown = ((frames[..., 1] - np.maximum(frames[..., 0], frames[..., 2])) > 60).sum(axis=(1, 2))
    assert shown[0] > 50  # the painted eyes, open
    assert shown[1] <= 0.05 * shown[0] and shown[2] <= 0.05 * shown[0], shown


def test_raised_brows_leave_the_lash_line_where_it_is(renderer, pack):
    """Raised brows lift the forehead and stretch the lid skin below them; the upper lid's margin and its
    lashes stay (eyeWide is what opens the eye). Moved with the brows, the lash line smeared upward into
    a dark band over each eye: the 0.8 eye heights above the margin changed by 48 and 37 levels on
    average, against 16 and 14 now."""
    avatar = avatar_tensors(pack, 512)
    verts = avatar.tensors["vertices"][0]
    frames = render(renderer, avatar, motion(), motion(browInnerUp=1, browOuterUpLeft=1, browOuterUpRight=1))
    neutral, raised = frames.astype(float) @ np.array([0.299, 0.587, 0.114])
    for upper, lower, brow in ((ft.RIGHT_EYE_UPPER, ft.RIGHT_EYE_LOWER, ft.RIGHT_BROW),
                               (ft.LEFT_EYE_UPPER, ft.LEFT_EYE_LOWER, ft.LEFT_BROW)):
        lid, low = verts[list(upper), :2], verts[list(lower), :2]
        height = float(low[:, 1].max() - lid[:, 1].min())
        xs = np.arange(int(lid[:, 0].min()) + 2, int(lid[:, 0].max()) - 1)
        margin = np.interp(xs, *lid[np.argsort(lid[:, 0])].T)
        change = np.mean([np.abs(neutral - raised)[int(y - 0.8 * height) : int(y) + 1, x].mean()
                          for x, y in zip(xs, margin, strict=True)])
        assert change < 20
        brows = verts[list(brow), :2]
        y, x0, x1 = int(brows[:, 1].mean()), int(brows[:, 0].min()), int(brows[:, 0].max())
        assert np.abs(neutral - raised)[y - 6 : y + 6, x0:x1].mean() > 20  # the brows did go up


def test_an_iris_that_looks_away_uncovers_eye_white(renderer, pack):
    # Where the iris was, the eye white shows: nearly as bright as the brightest white beside the iris on
    # that side (0.81 and 0.90 of it; the layer is made per 4x4 cell, a few pixels across here), not a
    # grey disc of one colour as before (0.72).
    avatar = avatar_tensors(pack, 512)
    neutral, away = render(renderer, avatar, motion(), motion(gaze_yaw=25))
    lm = avatar.tensors["vertices"][0]
    right = avatar.tensors["axes"][0][0, :2]  # the face's x axis: + gaze yaw moves the irises along it
    for iris in (ft.RIGHT_IRIS, ft.LEFT_IRIS):
        centre = lm[iris[0], :2]
        radius = np.linalg.norm(lm[list(iris[1:]), :2] - centre, axis=1).mean()
        x, y = np.round(centre - 0.6 * radius * right).astype(int)
        was = neutral[y - 1:y + 2, x - 1:x + 2].mean()
        now = away[y - 1:y + 2, x - 1:x + 2].mean()
        beside = [neutral[y, int(round(centre[0] - d * right[0]))].mean() for d in np.arange(1.2, 2.0, 0.1) * radius]
        assert was < 0.5 * max(beside)  # it was iris
        assert now > 0.77 * max(beside)


def test_the_gaze_turns_with_the_head(renderer, pack):
    """Gaze is relative to the head: with the head rolled, a sideways look moves each iris along its
    tilted eye, not along the picture's rows. Between roll -20 and +20 the direction in which the irises
    move turns by 38-41 deg (the eye is taken through the head's tilt); irises that moved along the
    picture's rows turned by 18-22 (the eyelids, tilted, clipping them)."""
    avatar = avatar_tensors(pack, 512)
    ys, xs = np.mgrid[:512, :512]

    def centroid(weight: np.ndarray) -> np.ndarray:
        return np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()

    def iris_directions(roll: float) -> list[float]:
        still, blink, look = (frame.astype(float).mean(-1) for frame in render(
            renderer, avatar, motion(roll=roll), motion(roll=roll, eyeBlinkLeft=1, eyeBlinkRight=1),
            motion(roll=roll, gaze_yaw=25)))
        # Where each eye is in the rolled frame: where closing the lids changes the picture.
        lids = np.abs(blink - still)
        middle = centroid(lids)[0]
        angles = []
        for side in (xs < middle, xs >= middle):
            eye = centroid(lids * side)
            near = ((xs - eye[0]) ** 2 + (ys - eye[1]) ** 2 < 30**2).astype(float)
            # From where the eye got lighter (the iris left) to where it got darker (the iris came).
            darker = still - look
            move = centroid(np.clip(darker, 0, None) * near) - centroid(np.clip(-darker, 0, None) * near)
            angles.append(np.degrees(np.arctan2(move[1], move[0])))
        return angles

    turned = np.subtract(iris_directions(20.0), iris_directions(-20.0))
    assert (np.abs(turned) > 30).all(), turned


def test_head_turn_moves_the_face_but_not_the_frame_edges(renderer, avatar):
    neutral, left, right = render(renderer, avatar, motion(), motion(yaw=20), motion(yaw=-20))
    nose = avatar.tensors["vertices"][0, 1, :2].astype(int)
    for frame in (left, right):
        diff = np.abs(frame.astype(int) - neutral).max(-1)
        # The frame's corners are pinned; its sides and bottom (background, shoulders) stay put. This
        # portrait's hair reaches the top edge, and hair follows the head.
        for corner in (diff[:16, :16], diff[:16, -16:], diff[-16:, :16], diff[-16:, -16:]):
            assert corner.max() == 0
        for edge in (diff[:, :8], diff[:, -8:], diff[-8:]):
            assert edge.mean() < 0.5
        assert (frame[nose[1] - 10:nose[1] + 10, nose[0] - 10:nose[0] + 10] != neutral[
            nose[1] - 10:nose[1] + 10, nose[0] - 10:nose[0] + 10]).any()
    # Turning to its left (+ yaw) carries the nose toward the image's right, and back for - yaw.
    lm = avatar.tensors["vertices"][0]
    rows = slice(int(lm[6, 1]), int(lm[2, 1]))  # nose bridge to nose base
    cols = slice(int(lm[234, 0]), int(lm[454, 0]))
    ref = neutral[rows, cols].astype(float)

    def shift(frame: np.ndarray) -> int:
        errs = {d: np.abs(frame[rows, cols.start + d:cols.stop + d].astype(float) - ref).mean() for d in range(-25, 26)}
        return min(errs, key=errs.get)

    assert shift(left) >= 3 and shift(right) <= -3


def test_deterministic_and_batch_independent(renderer, avatar):
    frames = np.stack([motion(jawOpen=0.4, yaw=10), motion(mouthSmileLeft=1, pitch=-8), motion(eyeBlinkLeft=0.5)])
    a = renderer.render(avatar, frames, batch=3)
    b = renderer.render(avatar, frames, batch=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, renderer.render(avatar, frames, batch=3))
    from facecast.motion_frame import MotionTrack

    np.testing.assert_array_equal(a, renderer.render(avatar, MotionTrack(frames, 30)))  # a track as it is


def test_extreme_motion_stays_whole(renderer, avatar):
    frame = neutral_frames(1)
    frame[0, FIELDS["blendshapes"].slice] = 1.0
    frame[0, FIELDS["headRotation"].slice] = [25, -30, 15]
    frame[0, FIELDS["headTranslation"].slice] = [0.05, -0.05, 0.2]
    frame[0, FIELDS["gaze"].slice] = 40
    out = renderer.render(avatar, frame)[0]
    black = (out.max(-1) < 8).mean()
    assert black <= (avatar.reference.max(-1) < 8).mean() + 0.02  # no holes opened to black
    assert out.std() > 20


def test_several_avatars_in_one_call(renderer, pack, avatar):
    other = avatar_tensors(pack, 256)
    other.tensors["texture"] = other.tensors["texture"][..., ::-1].copy()  # a second look: BGR swapped
    frames = np.stack([motion(jawOpen=0.5), motion(yaw=15), motion()])
    together = renderer.run(stack_avatars([avatar, other]), frames, np.array([0, 1, 1]))
    np.testing.assert_array_equal(together[0], renderer.render(avatar, frames[:1])[0])
    np.testing.assert_array_equal(together[1:], renderer.render(other, frames[1:]))


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="facecast")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def _probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:format_tags:stream=codec_name,"
                          "codec_type,width,height,avg_frame_rate", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_render_command_writes_a_labelled_synthetic_mp4(tmp_path, speech_wav):
    out = tmp_path / "talk.mp4"
    run(_cli("render", "--audio", str(speech_wav), "-o", str(out), "--size", "128", "--fps", "25", "-q", "--label",
             "--device", "cpu"))
    info = _probe(out)
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["video"]["width"] == 128
    assert streams["video"]["avg_frame_rate"] == "25/1" and streams["audio"]["codec_name"] == "aac"
    import soundfile as sf

    assert abs(float(info["format"]["duration"]) - sf.info(speech_wav).duration) < 0.15
    tags = info["format"]["tags"]
    assert "facecast" in tags["comment"] and "astronaut.png" in tags["comment"] and "ynthetic" in tags["title"]
    first = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                            "rgb24", "-"], check=True, capture_output=True).stdout
    frame = np.frombuffer(first, np.uint8).reshape(128, 128, 3)
    assert frame[-12:, -60:].std() > 25  # white text on a dark box in the corner
    assert not list(tmp_path.glob(".*tmp*"))


def test_render_command_user_errors(tmp_path, speech_wav):
    with pytest.raises(FacecastError, match="mp4"):
        run(_cli("render", "--audio", str(speech_wav), "-o", str(tmp_path / "x.avi")))
    with pytest.raises(FacecastError, match="no such file"):
        run(_cli("render", "--audio", str(tmp_path / "none.wav"), "-o", str(tmp_path / "x.mp4")))
    with pytest.raises(FacecastError, match="no such avatar pack"):
        run(_cli("render", "--portrait", str(tmp_path / "none.facecast"), "--audio", str(speech_wav),
                 "-o", str(tmp_path / "x.mp4")))
    with pytest.raises(SystemExit):
        _cli("render", "--audio", str(speech_wav), "-o", "x.mp4", "--size", "130")
    assert list(tmp_path.iterdir()) == []


def test_a_pack_renamed_without_its_suffix_is_still_a_pack(tmp_path, speech_wav, capsys):
    """A pack saved by a browser without its extension, or renamed, was read as a picture: "not a picture
    facecast can read", with no hint that it is a pack."""
    renamed = tmp_path / "my avatar"
    renamed.write_bytes(default_pack_path().read_bytes())
    assert np.array_equal(load_portrait(renamed).image, load_pack(default_pack_path()).image)
    with pytest.raises(FacecastError, match="an avatar pack, not a picture: a pack renders as it is"):
        prepare_portrait(renamed)
    with pytest.raises(SystemExit) as exited:  # as for a pack named as one
        run(_cli("render", "--audio", str(speech_wav), "-o", str(tmp_path / "x.mp4"), "--face", "2",
                 "--portrait", str(renamed)))
    assert exited.value.code == 2 and "an avatar pack holds one face" in capsys.readouterr().err
    (tmp_path / "junk.facecast").write_bytes(b"not a zip archive at all")
    with pytest.raises(FacecastError, match="junk.facecast: damaged avatar pack .not a zip archive, as a pack is.; "
                                            "make it again with facecast prepare$"):
        load_portrait(tmp_path / "junk.facecast")
    import zipfile

    with zipfile.ZipFile(default_pack_path()) as src, zipfile.ZipFile(tmp_path / "part.facecast", "w") as dst:
        for item in src.infolist():
            if item.filename != "meta.json":
                dst.writestr(item, src.read(item))
    with pytest.raises(FacecastError, match=r"damaged avatar pack \(There is no item named 'meta.json' in the "
                                            r"archive\); make it again"):
        load_portrait(tmp_path / "part.facecast")


@pytest.mark.parametrize("portrait, reason", [([], "the bundled portrait has one face"),
                                              (["--portrait", "a.facecast"], "an avatar pack holds one face")])
def test_face_without_a_picture_is_a_usage_error(tmp_path, speech_wav, capsys, portrait, reason):
    with pytest.raises(SystemExit) as exited:  # usage and status 2, as every contradictory flag
        run(_cli("render", "--audio", str(speech_wav), "-o", str(tmp_path / "x.mp4"), "--face", "2", *portrait))
    assert exited.value.code == 2 and reason in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _decoded(path, size: int) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size, size, 3).astype(np.int16)


def test_render_command_renders_a_motion_file_as_it_is(tmp_path, speech_wav, capsys):
    """Motion edited by an animator, or a Live Link Face take, is rendered as it is, at its own frame rate;
    without --audio the video is silent."""
    from facecast.motion_frame import MotionTrack
    from facecast.writers import write_motion

    still = MotionTrack.neutral(50, fps=25)
    opening = MotionTrack.neutral(50, fps=25)
    opening.blendshape("jawOpen")[:] = np.linspace(0, 1, 50)
    write_motion(still, tmp_path / "still.json")
    write_motion(opening, tmp_path / "opening.csv")
    run(_cli("render", "--motion", str(tmp_path / "still.json"), "-o", str(tmp_path / "still.mp4"), "--size", "128",
             "-q", "--device", "cpu"))
    run(_cli("render", "--motion", str(tmp_path / "opening.csv"), "--audio", str(speech_wav), "-o",
             str(tmp_path / "opening.mp4"), "--size", "128", "--device", "cpu"))
    assert "2.0 s of motion for" in capsys.readouterr().err  # the speech is longer: said, and cut
    silent = {s["codec_type"]: s for s in _probe(tmp_path / "still.mp4")["streams"]}
    spoken = {s["codec_type"]: s for s in _probe(tmp_path / "opening.mp4")["streams"]}
    assert set(silent) == {"video"} and silent["video"]["avg_frame_rate"] == "25/1"
    assert set(spoken) == {"video", "audio"} and spoken["video"]["avg_frame_rate"] == "25/1"
    assert abs(float(_probe(tmp_path / "opening.mp4")["format"]["duration"]) - 2.0) < 0.05
    a, b = _decoded(tmp_path / "still.mp4", 128), _decoded(tmp_path / "opening.mp4", 128)
    assert len(a) == len(b) == 50
    # Each video frame is the network's frame for the file's motion, within H.264's error (about 2.5 levels
    # on average at this size; x264 spends its bits on a first frame by how much later ones reuse it, so
    # the two videos' first frames differ by that much from each other).
    renderer = Renderer(device="cpu")
    avatar = renderer.avatar(load_pack(default_pack_path()), 128)
    for decoded, track in ((a, still), (b, opening)):
        expected = renderer.render(avatar, np.asarray(track.data)).astype(np.int16)
        assert np.abs(decoded - expected).mean(axis=(1, 2, 3)).max() < 4
    assert np.abs(a[-1] - a[0]).mean() < 1  # the still face stays still
    assert np.abs(b[-1] - b[0]).max() > 100  # the file's jaw opens
    # --fps resamples a file at another rate, as motion made from speech is resampled.
    run(_cli("render", "--motion", str(tmp_path / "opening.csv"), "-o", str(tmp_path / "fifty.mp4"), "--size", "64",
             "--fps", "50", "--device", "cpu"))
    assert "opening.csv: 25 fps motion resampled to 50 fps" in capsys.readouterr().err
    assert _probe(tmp_path / "fifty.mp4")["streams"][0]["avg_frame_rate"] == "50/1"
    fifty = _decoded(tmp_path / "fifty.mp4", 64)
    expected = renderer.render(renderer.avatar(load_pack(default_pack_path()), 64), retime(opening, 50).data)
    assert len(fifty) == len(expected) == 100  # the 2 s its 50 frames at 25 fps cover, each shown 1/25 s
    assert np.abs(fifty - expected.astype(np.int16)).mean(axis=(1, 2, 3)).max() < 4
    # Usage errors, which exit 2 as argparse's do: controls that only shape motion made from speech,
    # neither --audio nor --motion.
    for flags in (["--motion", str(tmp_path / "still.json"), "--emotion", "happy"], []):
        with pytest.raises(SystemExit) as usage:
            run(_cli("render", *flags, "-o", str(tmp_path / "x.mp4")))
        assert usage.value.code == 2
    assert "--emotion shapes motion made from speech" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
    write_motion(MotionTrack.neutral(15, fps=29.97), tmp_path / "ntsc.json")
    run(_cli("render", "--motion", str(tmp_path / "ntsc.json"), "-o", str(tmp_path / "ntsc.mp4"), "--size", "64",
             "-q", "--device", "cpu"))
    assert _probe(tmp_path / "ntsc.mp4")["streams"][0]["avg_frame_rate"] == "30000/1001"  # as players know it


def test_the_small_bundled_portrait_is_said_to_be_enlarged_only_past_the_default_size(tmp_path, capsys):
    from facecast.motion_frame import MotionTrack
    from facecast.writers import write_motion

    still = write_motion(MotionTrack.neutral(2, fps=25), tmp_path / "still.json")
    for size in ("512", "1024"):
        run(_cli("render", "--motion", str(still), "-o", str(tmp_path / f"{size}.mp4"), "--size", size, "-q",
                 "--device", "cpu"))
    err = capsys.readouterr().err
    assert err.count("enlarged") == 1 and "the bundled portrait: the frame shows" in err
    assert "enlarged to 1024 px with no more detail" in err and "give one with --portrait" in err


def test_a_pack_whose_mouth_lies_beyond_its_picture_still_renders():
    """prepare now refuses such a face, but a pack made before it did may hold one: its sealed picture is
    the picture itself (nothing of the mouth to fill), where making it failed with a traceback."""
    pack = load_pack(default_pack_path())
    image = pack.image
    below = pack.landmarks.copy()
    below[:, 1] += image.shape[0]  # every landmark past the bottom edge
    assert sealed_image(image, below) is image


def test_the_renderer_refuses_what_would_fail_deep_in_the_network_in_one_line(renderer, avatar):
    """NaN motion, and an avatar index of the wrong length or beyond the avatars stacked, gave
    onnxruntime's errors about a gather deep in the network."""
    good = np.stack([motion(), motion(jawOpen=0.5)])
    bad = good.copy()
    bad[1, FIELDS["blendshapes"].offset] = np.nan
    with pytest.raises(FacecastError, match="not numbers"):
        renderer.render(avatar, bad)
    with pytest.raises(FacecastError, match="one integer per motion frame .2."):
        renderer.run(avatar.tensors, good, np.zeros(3, np.int64))
    with pytest.raises(FacecastError, match="within 0..0"):
        renderer.run(avatar.tensors, good, np.array([0, 1]))
    assert renderer.run(avatar.tensors, good, np.zeros(2, np.int64)).shape == (2, 256, 256, 3)
    # Motion in other units tore the face; read_motion refuses it in files, and so does the renderer.
    with pytest.raises(FacecastError, match="motion frame 1: jawOpen is 50, and blendshapes run 0 to 1"):
        renderer.render(avatar, np.stack([motion(), motion(jawOpen=50)]))
    with pytest.raises(FacecastError, match=r"headPitch is 1000, and headRotation run within ±90°"):
        renderer.render(avatar, np.stack([motion(pitch=1000)]))
    # A curve editor's overshoot is taken, and clamped as read_motion clamps it in a file (a jawOpen of 1.1 had
    # opened the mouth further, and a blink of -0.1 the eye wider); the caller's frames are left as they are.
    overshot = np.stack([motion(jawOpen=1.1, eyeBlinkLeft=-0.1)])
    np.testing.assert_array_equal(renderer.render(avatar, overshot), renderer.render(avatar, motion(jawOpen=1)[None]))
    assert overshot[0, FIELDS["blendshapes"].offset + BLENDSHAPE_INDEX["jawOpen"]] == np.float32(1.1)
    # No frame needs no index: [] (float to numpy) is taken.
    assert renderer.run(avatar.tensors, np.zeros((0, FRAME_SIZE)), []).shape == (0, 256, 256, 3)


def test_mistaken_arguments_are_refused_with_the_way_to_do_it(pack):
    renderer = Renderer(threads=1)
    with pytest.raises(TypeError, match="load_pack reads a .facecast file"):
        renderer.avatar("me.facecast", 64)
    with pytest.raises(TypeError, match=r"Renderer.avatar\(pack, size\) makes one"):
        renderer.frames(pack, neutral_frames(1))  # at the call, though frames is an iterator
    avatar = renderer.avatar(pack, 64)
    with pytest.raises(FacecastError, match=r"got \(80,\); one frame of shape \(80,\) is motion\[None\]"):
        renderer.render(avatar, motion(jawOpen=1))
    with pytest.raises(FacecastError, match=r"got \(5, 79\)"):  # the whole array's shape, not a batch's
        renderer.render(avatar, np.zeros((5, 79), np.float32))
    assert renderer.render(avatar, motion(jawOpen=1)[None]).shape == (1, 64, 64, 3)
    assert avatar_tensors(pack, 64.0).size == avatar_tensors(pack, np.float32(64)).size == 64  # arithmetic's floats
    with pytest.raises(TypeError, match="whole number of pixels, got 64.5"):
        renderer.avatar(pack, 64.5)
    with pytest.raises(TypeError, match="load_pack reads a .facecast file"):
        avatar_tensors("me.facecast", 64)
    with pytest.raises(TypeError, match=r"avatar.tensors for one Avatar, stack_avatars\(\[...\]\) for several"):
        renderer.run(avatar, motion()[None], np.zeros(1, np.int64))
    for wrong in ([avatar.tensors], avatar.tensors):
        with pytest.raises(TypeError, match=r"takes a list of Avatar \(Renderer.avatar makes one\), got dict"):
            stack_avatars(wrong)
    with pytest.raises(ValueError, match="at least one avatar"):
        stack_avatars([])
    with pytest.raises(ValueError, match="threads must be a whole number of at least 1"):
        Renderer(threads=0)
    with pytest.raises(ModelError, match="not a render network .its inputs are audio, state"):
        Renderer(next(iter(shipped_models().values())))
