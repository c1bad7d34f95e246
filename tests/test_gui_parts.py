"""nvc_gui pieces on their own: flow colours, which bits are shown, frame cache, settings, key
choice, image view read-out and linked zoom."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import re
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF, QRectF, QSettings, Qt
from PySide6.QtGui import QColor

from nvc_core.analysis import FrameRecord
from nvc_core.codec import MotionCost
from nvc_gui.encoding import CodingRequest, Encoding
from nvc_gui.flow_colour import colour_wheel, flow_to_colour, wheel_legend
from nvc_gui.frame_cache import FrameCache
from nvc_gui.settings import Settings
from nvc_gui.views.base import FrameContext, KeyChooser
from nvc_gui.views.bitmap_view import BitMapView
from nvc_gui.views.flow_view import FlowView
from nvc_gui.views.image_view import ImageView, ViewLink, bits_text
from nvc_gui.views.latent_grid import LatentGridControls
from nvc_gui.views.pixel_view import pixel_values

pg.setConfigOptions(imageAxisOrder="row-major")
REPO = Path(__file__).resolve().parents[1]


def _request(quality: int = 3) -> CodingRequest:
    return CodingRequest(Path("clip.y4m"), quality, 12, 2, True, "random", "cpu")


def _record(index: int, frame_type: str, pixels: int = 16) -> FrameRecord:
    """A record with made-up numbers: 100 bits per y latent, 10 per z, 8 bits of framing."""
    coders = ["intra"] if frame_type == "I" else ["motion", "residual"]
    bits = {f"{c}.{latent}": n for c in coders for latent, n in (("y", 100), ("z", 10))}
    return FrameRecord(index=index, frame_type=frame_type, temporal_prior=True, height=pixels, width=pixels,
                       reconstruction=np.zeros((pixels, pixels, 3), np.uint8),
                       bit_maps={k: np.full((2, 1, 1), v / 2, np.float32) for k, v in bits.items()},
                       bits_by_stream=bits, bits=sum(bits.values()) + 8)


def _clip(quality: int = 3, pixels: int = 16) -> Encoding:
    """An I- and a P-frame coded with the temporal prior; re-costed at 90 bits with, 120 without."""
    encoding = Encoding(_request(quality), records=[_record(0, "I", pixels), _record(1, "P", pixels)])
    encoding.motion_costs = {tp: [None, MotionCost(bits, np.full((2, 1, 1), bits / 2, np.float32))]
                             for tp, bits in ((True, 90.0), (False, 120.0))}
    return encoding


def test_flow_colours_follow_the_middlebury_wheel():
    assert colour_wheel().shape == (55, 3)
    colours = flow_to_colour(np.array([[[1, 0], [0, 0], [2, 0]]], np.float32), max_magnitude=1.0)
    assert tuple(colours[0, 0]) == (255, 0, 0)            # rightwards: red, fully saturated
    assert tuple(colours[0, 1]) == (255, 255, 255)        # no motion: white
    assert tuple(colours[0, 2]) == (191, 0, 0)            # beyond the maximum: darkened
    legend = wheel_legend(33)
    assert legend.shape == (33, 33, 3) and tuple(legend[0, 0]) == (255, 255, 255)


def test_bits_in_the_file_and_estimates_never_mix():
    clip = _clip()
    assert clip.stream_bits(1) == {"intra": 0, "motion": 100, "residual": 100, "hyper": 20, "other": 8}
    assert clip.frame_bits(1) == 228                                   # the file's bits, whatever is shown
    assert clip.motion_estimate(1, True) == 90.0 and clip.motion_estimate(1, False) == 120.0
    assert clip.bit_map(1, "motion.y", False).sum() == 120.0            # recost_motion's map, both ways
    assert clip.bit_map(1, "motion.y", True).sum() == 90.0
    assert clip.bit_map(1, "residual.y", False).sum() == 100.0          # not affected by the prior
    assert clip.bits_saved(1) == 30.0 and clip.bits_saved_map(1).sum() == 30.0
    assert clip.bits_saved(0) is None and clip.bit_map(0, "motion.y", True) is None
    clip.motion_costs = {}                          # still coding: only the coded setting has a map
    assert clip.bit_map(1, "motion.y", True).sum() == 100.0 and clip.bit_map(1, "motion.y", False) is None


def test_frame_cache_drops_least_recently_used_unpinned_clips():
    one = _clip(1).nbytes()
    cache = FrameCache(limit_bytes=2 * one)
    first, second, third = _clip(1), _clip(2), _clip(3)
    assert cache.put(first) == [] and cache.put(second) == []
    assert cache.get(first.request.cache_key) is first          # first is now the most recent
    assert cache.put(third) == [second]
    assert cache.put(_clip(4), pinned={first.request.cache_key, third.request.cache_key}) == []
    assert len(cache) == 3                                      # over the limit: all pinned
    assert cache.get(_request(2).cache_key) is None
    without_prior = CodingRequest(Path("clip.y4m"), 3, 12, 2, False, "random", "cpu")
    assert _request(3).cache_key == without_prior.cache_key      # same reconstructions


def test_settings_round_trip(tmp_path):
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings = Settings.load(store)
    assert settings == Settings.defaults()
    settings.quality, settings.temporal_prior, settings.device = 1, False, "cuda"
    for path in ("a.y4m", "b.y4m", "a.y4m"):
        settings.add_recent(path)
    settings.save(store)
    again = Settings.load(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert (again.quality, again.temporal_prior, again.device) == (1, False, "cuda")
    assert again.recent_files == ["a.y4m", "b.y4m"]


def test_key_chooser_keeps_the_users_choice(qtbot):
    chooser = KeyChooser("motion.y")
    qtbot.addWidget(chooser)
    chooser.offer(["residual.y", "motion.z", "motion.y"])
    assert [chooser.itemText(i) for i in range(chooser.count())] == ["motion.y", "motion.z", "residual.y"]
    assert chooser.currentText() == "motion.y"
    chooser.offer(["intra.z", "intra.y"])                 # I-frame: the same latent of the intra coder
    assert chooser.currentText() == "intra.y"
    chooser.offer(["motion.y", "residual.y"])
    assert chooser.currentText() == "motion.y"


def test_key_chooser_keeps_a_pick_whose_listener_offers_the_keys_again(qtbot):
    """The latent grid redraws (and re-offers the keys) on every change of its chooser."""
    chooser = KeyChooser("motion.y")
    qtbot.addWidget(chooser)
    keys = ["motion.y", "residual.y"]
    chooser.offer(keys)
    chooser.currentTextChanged.connect(lambda _: chooser.offer(keys))
    qtbot.keyClick(chooser, Qt.Key.Key_Down)              # the user picks the next latent
    assert chooser.currentText() == "residual.y"
    chooser.offer(["intra.y"])
    chooser.offer(keys)
    assert chooser.currentText() == "residual.y"


def test_image_view_reads_out_latent_values_under_frame_coordinates(qtbot):
    view = ImageView("bits")
    qtbot.addWidget(view)
    view.resize(300, 240)
    view.show()
    qtbot.waitExposed(view)
    bits = np.arange(6, dtype=np.float32).reshape(2, 3)      # a latent of a 32x48 frame
    view.set_scalar(bits, (32, 48), levels=(0, 5), unit="bits")
    assert view.frame_to_pixel(47.0, 31.0) == (1, 2)
    assert view.frame_to_pixel(0.0, 17.0) == (1, 0)
    assert view.frame_to_pixel(48.5, 0.0) is None
    assert view.native_image().shape == (2, 3, 3)
    view.view.scene().sigMouseMoved.emit(view.view.mapViewToScene(QPointF(40.0, 20.0)))
    assert view.readout().endswith("[2,1]: 5 bits")
    view.set_scalar(bits * 10, (32, 48), levels=(0, 50), unit="bits")   # next frame, cursor kept
    assert view.readout().endswith("[2,1]: 50 bits")


def test_linked_views_share_centre_and_zoom(qtbot):
    link, views = ViewLink(), []
    for width, height in ((300, 200), (200, 300)):
        view = ImageView("v")
        qtbot.addWidget(view)
        view.resize(width, height)
        view.show()
        view.set_rgb(np.zeros((64, 96, 3), np.uint8), (64, 96))
        link.add(view)
        views.append(view)
    qtbot.waitExposed(views[1])
    source = views[0].view
    source.setRange(QRectF(10, 10, 20, 20), padding=0)
    source.sigRangeChangedManually.emit([True, True])     # as after a mouse zoom
    ranges = [np.array(v.view.viewRange()) for v in views]
    centres = [r.mean(axis=1) for r in ranges]
    scales = [(r[0, 1] - r[0, 0]) / v.view.width() for r, v in zip(ranges, views)]
    assert np.allclose(centres[0], centres[1], atol=0.5)
    assert scales[0] == pytest.approx(scales[1], rel=0.02)


def _hot_cell_clip() -> Encoding:
    """A 176x144 P-frame (padded to 192x192: 12x12 motion ŷ cells of 16 px) whose only bits are in
    cell row 7, column 10, i.e. frame pixels x 160..176, y 112..128."""
    bits = np.zeros((2, 12, 12), np.float32)
    bits[:, 7, 10] = 2.5
    record = FrameRecord(index=1, frame_type="P", temporal_prior=True, height=144, width=176,
                         reconstruction=np.full((144, 176, 3), 90, np.uint8),
                         bit_maps={"motion.y": bits, "motion.z": np.zeros((2, 3, 3), np.float32)},
                         bits_by_stream={"motion.y": 5.0, "motion.z": 0.0}, bits=100)
    return Encoding(_request(), records=[_record(0, "I", 144), record])


def _screen_colour(view: ImageView, x: float, y: float) -> QColor:
    """The colour the view shows at frame coordinates (x, y)."""
    image = view._graphics.grab().toImage()
    point = view._graphics.mapFromScene(view.view.mapViewToScene(QPointF(x, y)))
    return QColor(image.pixel(point))


def test_a_latent_cell_is_drawn_at_its_true_pixels(qtbot):
    bitmap = BitMapView()
    qtbot.addWidget(bitmap)
    bitmap.resize(500, 500)
    bitmap.show()
    qtbot.waitExposed(bitmap)
    bitmap.show_frame(FrameContext(_hot_cell_clip(), 1, True))
    view = bitmap.image
    assert view.frame_to_pixel(171, 138) == (8, 10)           # the read-out, now right
    assert view.frame_to_pixel(168, 120) == (7, 10)
    assert view.frame_to_pixel(176.5, 10) is None             # outside the frame
    assert _screen_colour(view, 168, 120).lightness() > 200   # the hot cell, where it is in the frame
    for x, y in ((168, 100), (150, 120), (168, 135)):         # stretched over the frame, it was here
        assert _screen_colour(view, x, y).lightness() < 80


def test_latent_grid_overlay_cells_and_numbers(qtbot):
    clip = _hot_cell_clip()
    view = ImageView("reconstruction")
    qtbot.addWidget(view)
    view.resize(220, 200)
    view.show()
    qtbot.waitExposed(view)
    context = FrameContext(clip, 1, True)
    view.set_rgb(context.record.reconstruction, context.frame_size)
    controls = LatentGridControls()
    qtbot.addWidget(controls)
    controls.enabled.setChecked(True)
    controls.apply(context, [view])
    assert view.grid.cell_bits().shape == (9, 11)             # the cells that touch the 176x144 frame
    assert view.grid.cell_bits()[7, 10] == 5.0 and view.grid.cell_bits().sum() == 5.0
    assert view.grid.cell_rect(7, 10) == QRectF(160, 112, 16, 16)
    assert not view.grid.shown_numbers()                      # 16 px cells are too small at this zoom
    view.view.setRange(QRectF(144, 96, 48, 48), padding=0)
    numbers = dict((tuple(p.toTuple()), text) for p, text in view.grid.shown_numbers())
    assert numbers[(168.0, 120.0)] == "5" and numbers[(152.0, 104.0)] == "0"
    assert [bits_text(b) for b in (0.0017, 0.26, 5.0, 5.44, 45.803, 1234.4)] == ["0", "0.3", "5", "5.4", "46", "1234"]
    assert _screen_colour(view, 168, 116).red() > _screen_colour(view, 152, 100).red()
    controls.latent.choose("motion.z")                        # 64x64 cells
    controls.apply(context, [view])
    assert view.grid.cell_bits().shape == (3, 3) and view.grid.cell_rect(1, 2) == QRectF(128, 64, 64, 64)
    controls.enabled.setChecked(False)
    controls.apply(context, [view])
    assert view.grid.cell_bits() is None


def test_pixel_read_out_gives_rgb_and_ycbcr_of_every_image():
    clip = _hot_cell_clip()
    record = clip.records[1]
    record.original = np.full((144, 176, 3), (200, 100, 50), np.uint8)
    record.prediction = np.full((144, 176, 3), 0.5, np.float32)
    values = pixel_values(FrameContext(clip, 1, True), 10, 20)
    assert list(values["original"][:3]) == [200, 100, 50]
    assert list(values["reconstruction"]) == [90, 90, 90, 93, 128, 128]    # grey: Cb = Cr = 128
    assert list(values["prediction"][:3]) == [128, 128, 128]              # rounded as the codec rounds
    assert list(values["error (orig − rec)"]) == list(values["original"] - values["reconstruction"])
    record.original = None
    assert pixel_values(FrameContext(clip, 1, True), 10, 20)["original"] is None


def test_readme_apt_line_has_the_xcb_libraries_of_ci():
    ci = (REPO / ".ci" / "run").read_text()
    ci = ci[ci.index("apt-get install"):ci.index("> /dev/null")]
    readme = " ".join((REPO / "README.md").read_text().split())
    apt_line = readme[readme.index("apt-get install lib"):].split("`")[0]
    for package in re.findall(r"\blib[\w.+-]+", ci):
        assert package in apt_line.split(), package


def test_flow_view_fixed_scale_near_zero_hint_and_histogram(qtbot):
    flows = FlowView()
    qtbot.addWidget(flows)
    clip = _hot_cell_clip()
    record = clip.records[1]
    f0 = np.zeros((144, 176, 2), np.float32)
    f0[..., 0] = 0.2                                          # 0.2 px to the right everywhere
    record.flows = [f0[::2 ** s, ::2 ** s] / 2 ** s for s in range(5)]
    flows.show_frame(FrameContext(clip, 1, True))
    assert flows.hint.full_text() == "flow ≈ 0: longest vector of f^0 0.2 px"
    assert flows._bars.getData()[1].sum() == 144 * 176
    per_scale = flows.scales[0].native_image()
    assert tuple(per_scale[0, 0]) == (255, 0, 0)              # per scale: 0.2 px looks like strong motion
    flows.fixed_scale.setValue(4.0)                           # 4 frame px saturate: 0.2 px is pale
    assert tuple(flows.scales[0].native_image()[0, 0]) == (255, 242, 242)
    assert tuple(flows.scales[4].native_image()[0, 0]) == (255, 242, 242)   # same scale at every level
    f0[..., 0] = 3.0
    record.flows = [f0[::2 ** s, ::2 ** s] / 2 ** s for s in range(5)]
    flows.show_frame(FrameContext(clip, 1, True))
    assert flows.hint.full_text() == ""
