"""nvc_gui as a quantitative analyzer, without coding (made-up records): colour scales and their lock,
NLAM masks on their own range, compare mode's shared scale and B's numbers, resetting views, the
latent grid's frame edge, pixel values at high zoom, playback at the clip's frame rate."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor

from nvc_core.analysis import FrameRecord
from nvc_gui.encoding import CodingRequest, Encoding
from nvc_gui.plots import PlotsView
from nvc_gui.timeline import FrameTable, Timeline
from nvc_gui.views.attention_view import AttentionView
from nvc_gui.views.base import FrameContext
from nvc_gui.views.bitmap_view import BitMapView
from nvc_gui.views.compare_view import BITS, CompareView
from nvc_gui.views.flow_view import FlowView
from nvc_gui.views.image_view import ImageView
from nvc_gui.views.latent_grid import LatentGridControls
from nvc_gui.views.scale import ScaleMode
from nvc_gui.views.stream_table import StreamTable

pg.setConfigOptions(imageAxisOrder="row-major")


def _clip(peaks: list[float], quality: int = 3, size: tuple[int, int] = (144, 176)) -> Encoding:
    """I-frames of a 176x144 clip whose intra ŷ map has one hot cell (row 1, column 2) of `peaks[i]`
    bits in frame i and a cell of 1 bit elsewhere; one NLAM mask with values 0.016..0.066."""
    height, width = size
    records = []
    for i, peak in enumerate(peaks):
        bits = np.full((1, 12, 12), 1.0 / 144, np.float32)
        bits[0, 0, 0] = 1.0
        bits[0, 1, 2] = peak
        mask = np.linspace(0.016, 0.066, 12 * 12, dtype=np.float32).reshape(12, 12)
        records.append(FrameRecord(
            index=i, frame_type="I", temporal_prior=False, height=height, width=width,
            reconstruction=np.full((height, width, 3), 60 + 40 * i, np.uint8),
            original=np.full((height, width, 3), 70 + 40 * i, np.uint8),
            bit_maps={"intra.y": bits, "intra.z": np.full((1, 3, 3), 0.5, np.float32)},
            attention={"intra.main_enc": mask},
            bits_by_stream={"intra.y": float(bits.sum()), "intra.z": 4.5}, bits=int(bits.sum()) + 100 * quality,
            psnr_rgb=30.0 + quality + i, ms_ssim=0.9 + 0.01 * quality))
    return Encoding(CodingRequest(Path("clip.y4m"), quality, 12, len(peaks), True, "random", "cpu"),
                    quality=quality, records=records)


def _shown(widget, qtbot, size=(500, 500)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _screen_colour(view: ImageView, x: float, y: float) -> QColor:
    image = view._graphics.grab().toImage()
    point = view._graphics.mapFromScene(view.view.mapViewToScene(QPointF(x, y)))
    return QColor(image.pixel(point))


def test_bit_map_scale_auto_clip_typed_and_lock_across_frames_and_clips(qtbot):
    bitmap = _shown(BitMapView(), qtbot)
    clip = _clip([50.0, 35.0])
    scale = bitmap.scale
    bitmap.show_frame(FrameContext(clip, 0, True))
    assert bitmap.image.levels() == (0.0, 50.0)                # auto per frame (the issue: 0–50 ...
    bitmap.show_frame(FrameContext(clip, 1, True))
    assert bitmap.image.levels() == (0.0, 35.0)                # ... then 0–35)
    assert "scale 0…35 bits (auto per frame)" in bitmap.image.title_text()
    scale.set_mode(ScaleMode.CLIP)                             # over the coded frames
    assert bitmap.image.levels() == (0.0, 50.0)
    assert "(fixed over the clip)" in bitmap.image.title_text()
    scale.type_levels(0.0, 20.0)
    assert bitmap.image.levels() == (0.0, 20.0)
    scale.set_mode(ScaleMode.FRAME)
    bitmap.show_frame(FrameContext(clip, 0, True))
    scale.lock.setChecked(True)                                # holds 0–50 from now on
    hot_first = _screen_colour(bitmap.image, 40, 24)          # cell (1, 2): 50 bits
    one_bit_first = _screen_colour(bitmap.image, 8, 8)        # cell (0, 0): 1 bit
    bitmap.show_frame(FrameContext(clip, 1, True))
    assert bitmap.image.levels() == (0.0, 50.0) and "(locked)" in bitmap.image.title_text()
    assert _screen_colour(bitmap.image, 8, 8) == one_bit_first             # same bits, same colour
    assert _screen_colour(bitmap.image, 40, 24).lightness() < hot_first.lightness()   # 35 < 50 bits
    bitmap.show_frame(FrameContext(_clip([5.0]), 0, True))      # another clip: still locked
    assert bitmap.image.levels() == (0.0, 50.0)
    scale.lock.setChecked(False)
    assert bitmap.image.levels() == (0.0, 5.0)


def test_nlam_mask_is_drawn_on_its_own_range(qtbot):
    attention = _shown(AttentionView(), qtbot)
    attention.show_frame(FrameContext(_clip([1.0]), 0, True))
    low, high = attention.image.levels()
    assert low == pytest.approx(0.016) and high == pytest.approx(0.066)   # not 0..1: not flat
    image = attention.image.native_image().astype(int)
    assert np.abs(image[0, 0] - image[-1, -1]).sum() > 200               # full colour range


def test_compare_shares_one_scale_and_shows_both_sides_numbers(qtbot):
    compare = _shown(CompareView(), qtbot, (900, 700))
    a, b = _clip([50.0, 35.0], quality=3), _clip([20.0, 10.0], quality=1)
    compare.show_pair(FrameContext(a, 0, True), FrameContext(b, 0, False))
    compare.layer.choose(BITS + "intra.y")
    assert compare.a.levels() == compare.b.levels() == (0.0, 50.0)       # one scale for A and B
    assert _screen_colour(compare.a, 8, 8) == _screen_colour(compare.b, 8, 8)   # 1 bit = 1 bit
    assert compare.scale.low.value() == 0.0 and compare.scale.high.value() == 50.0   # the scale's boxes
    ra, rb = a.records[0], b.records[0]
    assert f"{ra.bits} bits, {ra.psnr_rgb:.2f} dB" in compare.a.title_text()
    assert f"{rb.bits} bits" in compare.b.title_text()
    assert f"B − A: {rb.bits - ra.bits:+d} bits, {rb.psnr_rgb - ra.psnr_rgb:+.2f} dB" in compare.b.title_text()
    compare.scale.lock.setChecked(True)
    compare.show_pair(FrameContext(a, 1, True), FrameContext(b, 1, False))   # lock holds across frames
    assert compare.a.levels() == compare.b.levels() == (0.0, 50.0)
    low, high = compare.diff.levels()
    assert low == -high and high == pytest.approx(25.0)    # B − A: its own, symmetric (10 − 35)


def test_table_plots_and_sub_streams_show_b_and_b_minus_a(qtbot):
    a, b = _clip([50.0, 35.0], quality=3), _clip([20.0, 10.0], quality=1)
    table = FrameTable()
    qtbot.addWidget(table)
    table.show_encoding(a, b)
    assert table.cell_text(1, "B bits") == str(b.records[1].bits)
    assert table.cell_text(1, "Δbits") == f"{b.records[1].bits - a.records[1].bits:+d}"
    assert table.cell_text(1, "ΔPSNR") == "-2.00"
    table.show_encoding(a)                                     # compare mode off: no B columns
    with pytest.raises(ValueError):
        table.cell_text(1, "B bits")
    plots = PlotsView()
    qtbot.addWidget(plots)
    plots.show_encoding(a, b)
    frames, bits = plots.series("B bits")
    assert list(frames) == [0, 1] and list(bits) == [r.bits for r in b.records]
    assert list(plots.series("Δpsnr")[1]) == [-2.0, -2.0]
    assert list(plots.series("B psnr_rgb")[1]) == [r.psnr_rgb for r in b.records]
    plots.show_encoding(a)
    assert len(plots.series("B bits")[0]) == 0
    assert plots.delta.vb.viewRange()[1] == [-1.0, 1.0]          # no B − A axis left from compare mode
    streams = StreamTable()
    qtbot.addWidget(streams)
    streams.show_frame(FrameContext(a, 0, True), FrameContext(b, 0, True))
    cells = streams.row_cells("frame in the file")
    assert cells == ["frame in the file", f"{a.records[0].bits:.1f}", f"{b.records[0].bits:.1f}",
                     f"{b.records[0].bits - a.records[0].bits:+.1f}"]


def test_reset_restores_titles_read_outs_and_histogram(qtbot):
    flows = _shown(FlowView(), qtbot)
    flow = np.zeros((16, 16, 2), np.float32)
    flow[..., 0] = 7.0
    record = FrameRecord(index=1, frame_type="P", temporal_prior=True, height=64, width=64,
                         reconstruction=np.zeros((64, 64, 3), np.uint8),
                         flows=[flow[:16 >> s, :16 >> s] for s in range(5)])
    flows.show_frame(FrameContext(Encoding(_clip([1.0]).request, records=[record, record]), 1, True))
    assert "max" in flows.scales[0].title_text()
    flows.reset()
    assert [v.title_text() for v in flows.scales] == [f"f^{s}" for s in range(5)]
    assert all(v.native_image() is None and v.readout() == "" for v in flows.scales)
    assert flows.histogram.getPlotItem().vb.autoRangeEnabled()[0]


def test_latent_grid_draws_the_frame_edge_and_keeps_numbers_inside_the_frame(qtbot):
    view = _shown(ImageView("reconstruction"), qtbot, (600, 520))
    clip = _clip([50.0])
    context = FrameContext(clip, 0, True)
    view.set_rgb(context.record.reconstruction, context.frame_size)
    controls = LatentGridControls()
    qtbot.addWidget(controls)
    controls.enabled.setChecked(True)
    controls.latent.choose("intra.z")                         # 64x64 cells: the last row reaches y = 192
    controls.apply(context, [view])
    assert view.grid.edge_rect() == QRectF(0, 0, 176, 144)
    numbers = view.grid.shown_numbers()
    assert len(numbers) == 9
    assert all(0 < p.x() < 176 and 0 < p.y() < 144 for p, _text in numbers)   # none cut by the edge
    edge = _screen_colour(view, 100, 144)                     # the edge line is drawn (yellow)
    assert edge.red() > 200 and edge.green() > 200 and edge.blue() < 80


def test_a_padded_latent_map_is_shown_whole(qtbot):
    bitmap = _shown(BitMapView(), qtbot)
    bitmap.show_frame(FrameContext(_clip([50.0]), 0, True))
    (x0, x1), (y0, y1) = bitmap.image.view.viewRange()
    assert x1 >= 192 - 0.5 and y1 >= 192 - 0.5                 # the 12th column of cells is on screen
    graphics = bitmap.image._graphics
    right = graphics.mapFromScene(bitmap.image.view.mapViewToScene(QPointF(191, 100))).x()
    bar_left = graphics.mapFromScene(bitmap.image.colorbar.sceneBoundingRect()).boundingRect().left()
    assert right < bar_left                                     # not under the colour bar


def test_pixel_values_are_written_in_the_pixels_at_high_zoom(qtbot):
    view = _shown(ImageView("reconstruction"), qtbot, (400, 400))
    image = np.zeros((64, 64, 3), np.uint8)
    image[2, 3] = (200, 100, 7)
    view.set_rgb(image, (64, 64))
    assert not view.values.shown()                               # 64x64 in 400 px: 6 px a pixel...
    view.view.setRange(QRectF(0, 0, 4, 4), padding=0)            # 100 px a pixel
    texts = {tuple(p.toTuple()): t for p, t in view.values.shown()}
    assert texts[(3.5, 2.5)] == "200\n100\n7"
    view.fit()
    assert not view.values.shown()


def test_playback_keeps_the_clips_frame_rate_when_drawing_is_slow(qtbot):
    timeline = Timeline()
    qtbot.addWidget(timeline)
    timeline.set_frames(1000, 50.0)
    advanced = []

    def slow_draw(frames: int) -> None:
        advanced.append(frames)
        qtbot.wait(45)                                           # a frame takes 45 ms to draw, 20 ms due

    timeline.step_requested.connect(slow_draw)
    timeline.play.setChecked(True)
    qtbot.wait(1000)
    timeline.play.setChecked(False)
    assert max(advanced) > 1                                     # frames skipped...
    assert 35 <= sum(advanced) <= 60                             # ... to play about 50 frames in 1 s


def test_frame_views_show_single_y_cb_cr_planes_with_the_streams_matrix(qtbot):
    from nvc_core.color import rgb_to_yuv444
    from nvc_gui.views.frame_views import RecordImageView
    view = _shown(RecordImageView("Reconstruction", lambda r: r.reconstruction, ""), qtbot)
    clip = _clip([1.0])
    clip.records[0].reconstruction[10, 20] = (200, 100, 50)
    for matrix in ("bt709", "bt601"):
        clip.matrix = matrix
        planes = rgb_to_yuv444(clip.records[0].reconstruction, matrix)
        for plane, expected in zip(("Y'", "Cb", "Cr"), planes):
            view.plane = plane
            view.show_frame(FrameContext(clip, 0, True))
            view.view.scene().sigMouseMoved.emit(view.view.mapViewToScene(QPointF(20.5, 10.5)))
            assert view.readout().endswith(f"[20,10]: {expected[10, 20]} {plane}")
            assert f"{plane} ({matrix}" in view.title_text()
    assert rgb_to_yuv444(np.array([[[200, 100, 50]]], np.uint8), "bt709")[0] != \
        rgb_to_yuv444(np.array([[[200, 100, 50]]], np.uint8), "bt601")[0]     # the matrix matters here
    view.plane = "R'G'B'"
    view.show_frame(FrameContext(clip, 0, True))
    assert np.array_equal(view.native_image(), clip.records[0].reconstruction)


def test_bitstream_structure_has_every_chunk_with_its_offset(tmp_path, small_clip, random_model):
    from nvc_core.bitstream import read_stream
    from nvc_core.codec import encode_video
    from nvc_gui.views.bitstream_view import stream_layout
    path = tmp_path / "clip.nvc"
    encode_video(small_clip, path, random_model, quality=0, gop=2, frames=3)
    rows = stream_layout(path)
    header, chunks = read_stream(path)
    chunks = list(chunks)
    assert [r[0] for r in rows] == ["header", "frame 0", "frame 1", "CRC frames 0-1", "frame 2", "CRC frames 2-2"]
    assert [r[3] for r in rows if r[0].startswith("frame")] == [c.frame_type for c in chunks] == ["I", "P", "I"]
    for before, after in zip(rows, rows[1:]):                    # the parts follow one another
        assert int(after[1]) == int(before[1]) + int(before[2])
    assert int(rows[-1][1]) + int(rows[-1][2]) == path.stat().st_size
    assert rows[1][6] == chunks[0].recon_hash.hex()
    truncated = tmp_path / "truncated.nvc"
    truncated.write_bytes(path.read_bytes()[:-10])
    rows = stream_layout(truncated)
    assert [r[0] for r in rows] == ["header", "frame 0", "frame 1", "CRC frames 0-1", "error"] and "truncated" in rows[-1][6]


def test_a_flat_difference_is_drawn_at_the_middle_of_its_symmetric_scale(qtbot):
    compare = _shown(CompareView(), qtbot, (900, 700))
    a = _clip([50.0])
    compare.show_pair(FrameContext(a, 0, True), FrameContext(a, 0, True))      # B − A = 0 everywhere
    low, high = compare.diff.levels()
    assert low == -high and high > 0
