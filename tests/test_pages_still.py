"""The still-image page through Streamlit's AppTest: real FER2013 faces pasted on a photo-sized
canvas go in through the file uploader; the page must show each face's label, its seven
probabilities (as the engine computes them) in a Plotly chart, and a heat map; bad files must give a
clear message while the rest of the page keeps working."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

if "tensorflow" not in sys.modules:  # aiortc first: importing it after TensorFlow segfaults (fer/classify/explain.py)
    try:
        import aiortc  # noqa: F401
    except ImportError:
        pass

from streamlit.testing.v1 import AppTest

from fer.config import MAX_IMAGE_PIXELS, REPO_ROOT, STILL_FLIP
from fer.train.clips import real_background
from fer.faces.detectors import DETECTORS, DetectorSettings, make_detector
from fer.classify.explain import METHOD_NOTES
from fer.pipeline import FramePipeline
from fer.offline.still import MAX_ANALYSIS_SIDE, analyse_still
from ui.sidebar import AppSettings

PAGE = str(REPO_ROOT / "pages" / "still_image.py")
CANVAS = (480, 640)  # height, width
FACE_SIDE = 220


def photo_of(face: np.ndarray, canvas: tuple[int, int] = CANVAS, side: int = FACE_SIDE) -> np.ndarray:
    """A 48x48 gray FER2013 face upscaled onto the middle of a flat gray canvas: a BGR 'photo'."""
    h, w = canvas
    out = np.full((h, w), 110, np.uint8)
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    y0, x0 = (h - side) // 2, (w - side) // 2
    out[y0:y0 + side, x0:x0 + side] = big
    return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)


def jpeg(bgr: np.ndarray, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def detectable_faces(root: Path, cls: str, n: int, scan: int = 300) -> list[np.ndarray]:
    """The first ``n`` test faces of ``cls`` that the default detector finds exactly once in a photo
    (chosen by the detector only, so the choice doesn't depend on the model under test)."""
    det = make_detector()
    out = []
    for f in sorted((root / "test" / cls).iterdir())[:scan]:
        face = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if face is not None and len(det.detect(photo_of(face))) == 1:
            out.append(face)
            if len(out) == n:
                return out
    raise RuntimeError(f"only {len(out)} {cls} faces in the first {scan} were detected")


@pytest.fixture(scope="module")
def face_jpg(fer_root) -> bytes:
    return jpeg(photo_of(detectable_faces(fer_root, "happy", 1)[0]))


def run_page(files: list[tuple[str, bytes, str]] | None = None, **checks: bool) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.run()
    for key, value in checks.items():
        at.checkbox(key=f"still_{key}").set_value(value)
    if files:
        at.file_uploader(key="still_uploads").set_value(files)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def chart_values(at: AppTest) -> list[dict[str, float]]:
    """Each probability chart's bars as {class: percent}, read from the Plotly spec sent to the browser."""
    out = []
    for el in at.get("plotly_chart"):
        bar = json.loads(el.proto.spec)["data"][0]
        out.append(dict(zip(bar["y"], bar["x"])))
    return out


def test_an_uploaded_face_photo_shows_its_label_probabilities_and_heat_map(face_jpg, default_classifier):
    at = run_page([("face.jpg", face_jpg, "image/jpeg")])
    expected = analyse_still(face_jpg, "face.jpg", FramePipeline(default_classifier, make_detector(), flip=STILL_FLIP))
    assert len(expected.faces) == 1
    face = expected.faces[0]
    assert f"**Face 1: {face.label}** ({face.score:.0%})" in [m.value for m in at.markdown]
    (bars,) = chart_values(at)
    assert list(bars) == default_classifier.classes
    for c, p in face.probabilities.items():
        assert bars[c] == pytest.approx(p * 100, abs=1e-6)
    line = next(c.value for c in at.caption if f"{face.label} {face.score:.1%}" in c.value)
    assert all(f"{c} {p:.1%}" in line for c, p in face.probabilities.items())
    captions = [cap for img in at.get("image") for cap in img.captions]
    assert any(cap.startswith("face.jpg (640x480 px") for cap in captions), captions
    assert any(cap.startswith(tuple(METHOD_NOTES.values())) for cap in captions), captions
    assert f"Faces found by {DETECTORS['blazeface'].label}" in [c.value for c in at.caption]  # the default
    assert not at.error and not at.warning


def test_the_page_says_which_detector_found_the_faces(face_jpg):
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.session_state["_fer_app_settings"] = AppSettings(None, DetectorSettings(name="haar"))
    at.run()
    at.checkbox(key="still_heatmaps").set_value(False)
    at.file_uploader(key="still_uploads").set_value([("face.jpg", face_jpg, "image/jpeg")])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Faces found by Haar cascades (the seed's)" in [c.value for c in at.caption]


def test_a_camera_picture_is_analysed_like_an_upload(face_jpg):
    at = run_page(heatmaps=False)
    at.toggle(key="still_camera").set_value(True)
    at.run()
    at.camera_input(key="still_camera_input").upload("snapshot.jpg", face_jpg)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [h.value for h in at.subheader] == ["camera.jpg"]
    assert any(m.value.startswith("**Face 1:") for m in at.markdown) and len(chart_values(at)) == 1


def test_garbage_gets_a_clear_error_and_the_other_images_are_still_analysed(face_jpg):
    data = face_jpg
    at = run_page([("notes.jpg", b"these are my notes, not a picture" * 20, "image/jpeg"),
                   ("broken.jpg", data[: len(data) // 3], "image/jpeg"),
                   ("face.jpg", data, "image/jpeg")], heatmaps=False)
    errors = [e.value for e in at.error]
    assert len(errors) == 2, errors
    assert "notes.jpg: not an image file" in errors[0]
    assert "broken.jpg: corrupt or truncated image" in errors[1]
    assert any(m.value.startswith("**Face 1:") for m in at.markdown)
    assert len(chart_values(at)) == 1


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 100
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, "PNG")  # ~50 MP of zeros: a few kB on disk
    assert len(buf.getvalue()) < 100_000
    at = run_page([("bomb.png", buf.getvalue(), "image/png")])
    (err,) = [e.value for e in at.error]
    assert f"{side}x{side} pixels is over the limit" in err


def test_a_huge_photo_is_downscaled_for_display_and_boxes_are_reported_in_its_own_pixels(fer_root, classifier):
    face = detectable_faces(fer_root, "happy", 1)[0]
    small = photo_of(face)
    huge = cv2.resize(small, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)  # 3840x2880, 11 MP
    at = run_page([("huge.jpg", jpeg(huge), "image/jpeg")], heatmaps=False)
    captions = [cap for img in at.get("image") for cap in img.captions]
    shown = f"shown downscaled to {MAX_ANALYSIS_SIDE}x{round(2880 * MAX_ANALYSIS_SIDE / 3840)}"
    assert any(cap.startswith("huge.jpg (3840x2880 px") and shown in cap for cap in captions), captions
    res = analyse_still(jpeg(huge), "huge.jpg", FramePipeline(classifier, make_detector(DetectorSettings(name="haar")), flip=STILL_FLIP))
    ref = analyse_still(jpeg(small), "small.jpg", FramePipeline(classifier, make_detector(DetectorSettings(name="haar")), flip=STILL_FLIP))
    assert res.downscaled and len(res.faces) == len(ref.faces) == 1
    # The two images are scanned on different scale grids, and Haar's box sides come in steps of the
    # scale factor: the boxes may differ by one step, where a box left in the shown pixels is 6x off.
    one_step = (DetectorSettings().scale_factor - 1) * ref.faces[0].box.w
    np.testing.assert_allclose(np.asarray(res.faces[0].box) / 6, np.asarray(ref.faces[0].box), atol=one_step)


def test_an_image_without_a_face_says_so_and_the_whole_image_option_classifies_it(fer_root):
    # A real room with nobody in it (the wall and a shirt of a shared clip).
    room = real_background(320, 240)
    at = run_page([("room.png", cv2.imencode(".png", room)[1].tobytes(), "image/png")])
    (warning,) = [w.value for w in at.warning]
    assert "No face found in room.png" in warning and "Treat the whole image as one face" in warning
    at.checkbox(key="still_whole").check()
    at.run()
    assert not at.warning and len(chart_values(at)) == 1
    assert not any(c.value.startswith("Faces found by") for c in at.caption)  # no detector ran

def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(fer_root, classifier):
    upright = photo_of(detectable_faces(fer_root, "happy", 1)[0])
    sideways = Image.fromarray(upright[..., ::-1]).rotate(90, expand=True)  # stored as a phone would
    plain, tagged = io.BytesIO(), io.BytesIO()
    sideways.save(plain, "JPEG", quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    sideways.save(tagged, "JPEG", quality=92, exif=exif)
    at = run_page([("sideways.jpg", plain.getvalue(), "image/jpeg"), ("phone.jpg", tagged.getvalue(), "image/jpeg")],
                  heatmaps=False)
    captions = [cap for img in at.get("image") for cap in img.captions]
    assert any(cap.startswith("phone.jpg (640x480 px") for cap in captions), captions
    assert any(cap.startswith("sideways.jpg (480x640 px") for cap in captions), captions
    pipe = FramePipeline(classifier, make_detector(), flip=STILL_FLIP)
    phone = analyse_still(tagged.getvalue(), "phone.jpg", pipe)
    ref = analyse_still(jpeg(upright), "upright.jpg", pipe)
    assert phone.original_size == ref.original_size == (640, 480)
    assert len(phone.faces) == len(ref.faces) == 1
    np.testing.assert_allclose(phone.faces[0].box, ref.faces[0].box, atol=0.05 * FACE_SIDE)


def test_the_json_download_has_the_shape_of_the_cli_predict_json(face_jpg, default_classifier, tmp_path):
    photo = tmp_path / "face.jpg"
    photo.write_bytes(face_jpg)
    cli = subprocess.run([sys.executable, "-m", "fer", "predict", "--json", str(photo)], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr[-2000:]
    (entry,) = json.loads(cli.stdout)
    ours = analyse_still(face_jpg, str(photo), FramePipeline(default_classifier, make_detector(), flip=STILL_FLIP)).to_dict()
    assert ours.keys() == entry.keys() and ours["path"] == entry["path"] and len(ours["faces"]) == len(entry["faces"])
    for a, b in zip(ours["faces"], entry["faces"]):
        assert a.keys() == b.keys() and a["box"] == b["box"] and a["label"] == b["label"]
        assert list(a["probabilities"]) == list(b["probabilities"])
        np.testing.assert_allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-5)


def test_several_clear_happy_faces_are_labelled_happy(fer_root, classifier):
    """The shipped model, not the plumbing: four of five clear happy faces must read as happy."""
    meta = classifier.info.metadata
    if (meta.get("config") or {}).get("limit_per_class") or (meta.get("epochs_run") or 0) < 5:
        pytest.skip(f"{classifier.info.name} is a smoke-run model; this checks the shipped one")
    faces = detectable_faces(fer_root, "happy", 5)
    at = run_page([(f"happy{i}.jpg", jpeg(photo_of(f)), "image/jpeg") for i, f in enumerate(faces)], heatmaps=False)
    labels = [m.value.split(":")[1].split("**")[0].strip() for m in at.markdown if m.value.startswith("**Face 1:")]
    assert len(labels) == 5 and labels.count("happy") >= 4, labels


def test_opening_the_pages_does_not_import_tensorflow():
    """TensorFlow must not load before the live page's aiortc; our pages only load it for heat maps."""
    code = textwrap.dedent(f"""
        import sys
        from streamlit.testing.v1 import AppTest
        for page in ("still_image.py", "dataset_explorer.py", "model_report.py"):
            at = AppTest.from_file({str(REPO_ROOT / "pages")!r} + "/" + page, default_timeout=120)
            at.run()
            assert not at.exception, (page, [e.message for e in at.exception])
            assert "tensorflow" not in sys.modules and "keras" not in sys.modules, page
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_each_face_that_the_chosen_heat_map_method_cannot_explain_says_why_on_the_page(fer_root):
    from fer.classify.explain import GRAD_CAM, SMOOTHGRAD
    faces = detectable_faces(fer_root, "happy", 3) + detectable_faces(fer_root, "sad", 3)
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.session_state["_fer_app_settings"] = AppSettings("multisource_blend", DetectorSettings())  # a Keras twin
    at.run()
    at.selectbox(key="still_heat_method").set_value(GRAD_CAM)
    at.file_uploader(key="still_uploads").set_value(
        [(f"face{i}.jpg", jpeg(photo_of(f)), "image/jpeg") for i, f in enumerate(faces)])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    captions = [cap for img in at.get("image") for cap in img.captions if " for '" in cap]
    assert len(captions) == len(faces)
    fallbacks = sum(cap.startswith(METHOD_NOTES[SMOOTHGRAD]) for cap in captions)
    if not fallbacks:
        pytest.skip("Grad-CAM explained every face here: no fallback to report")
    warnings = [w.value for w in at.warning if f"{GRAD_CAM} could not explain this face" in w.value]
    assert len(warnings) == fallbacks, (captions, warnings)
    assert all("found no evidence for" in w for w in warnings)


def test_a_cam_asked_of_the_default_ensemble_says_occlusion_explains_it(face_jpg):
    """The default averages two networks: a Grad-CAM heat map has no one network to read, and the page
    says so (occlusion, the default method, explains it)."""
    from fer.classify.explain import GRAD_CAM
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.run()
    at.selectbox(key="still_heat_method").set_value(GRAD_CAM)
    at.file_uploader(key="still_uploads").set_value([("face.jpg", face_jpg, "image/jpeg")])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    notes = [i.value for i in at.info if i.value.startswith("No heat map")]
    assert len(notes) == 1 and "occlusion" in notes[0], [i.value for i in at.info]
