"""Still images: upload photos (or take one), see every face's expression, its probabilities and
where the model looked; download the results as JSON and the annotated image.

Thin on purpose: decoding, detection and drawing live in ``fer.offline.still``, heat maps in ``fer.classify.explain``,
figures in ``ui.charts``. TensorFlow is only imported when a Grad-CAM-family heat map is requested
(the default, occlusion sensitivity, runs on the served LiteRT model).
"""
from __future__ import annotations

# A fresh server reached straight at this page's URL runs it without app.py (Streamlit's pages/
# folder mode), and this page may load TensorFlow, after which aiortc can no longer be imported.
import streamlit_webrtc  # noqa: F401  isort: skip
import streamlit as st

from fer.config import STILL_FLIP
from fer.faces.detectors import DetectorSettings, detector_label
from fer.classify.explain import DEFAULT_METHOD, HOW_TO_READ, METHOD_NOTES, METHODS, OCCLUSION, Explanation, explain_face
from fer.imageio import ImageError
from fer.classify.model import ModelError
from fer.offline.still import StillResult, analyse_still, encode_png, error_entry, results_json
from ui.charts import probability_bars
from ui.kept_uploads import kept_file_uploader
from ui.resources import get_classifier, get_pipeline
from ui.sidebar import current_settings

#: What the uploader offers; anything else still reaches the decoder via the camera or a renamed file.
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]


@st.cache_data(max_entries=32, show_spinner=False)
def analyse(data: bytes, name: str, model_name: str | None, detector: DetectorSettings, flip: bool,
            whole: bool, classes: str) -> StillResult:
    """One image's faces; cached on the bytes and every setting that changes the answer."""
    return analyse_still(data, name, get_pipeline(model_name, detector, flip, classes), whole=whole)


@st.cache_data(max_entries=256, show_spinner=False)
def explain(crop, class_index: int, model_name: str | None, flip: bool, method: str) -> Explanation:
    """One face crop's heat map (a CAM method's first call imports TensorFlow: a few seconds)."""
    return explain_face(get_classifier(model_name), crop, class_index, flip=flip, method=method)


def _probability_line(probabilities: dict[str, float]) -> str:
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
    return " · ".join(f"{c} {p:.1%}" for c, p in ranked)


def show_result(res: StillResult, model_name: str | None, flip: bool, heatmap_method: str | None, key: str) -> None:
    """The annotated image, then one row per face: heat map | probability chart."""
    w, h = res.original_size
    note = f"{w}x{h} px" + (f", shown downscaled to {res.annotated.shape[1]}x{res.annotated.shape[0]}"
                            if res.downscaled else "")
    # "content": a small photo keeps its own size instead of being blown up to the page width.
    st.image(res.annotated, channels="BGR", caption=f"{res.name} ({note})", width="content")
    if res.detector:
        st.caption(f"Faces found by {detector_label(res.detector)}")
    if not res.faces:
        st.warning(f"No face found in {res.name}. If the picture is already a cropped face, tick "
                   "**Treat the whole image as one face**; otherwise try a smaller *Min face size* or "
                   "another detector in the sidebar.")
        return
    st.markdown(f"**{len(res.faces)} face{'s' if len(res.faces) != 1 else ''} found**")
    model_classes = get_classifier(model_name).classes
    for i, face in enumerate(res.faces):
        left, right = st.columns([1, 2])
        with left:
            st.markdown(f"**Face {i + 1}: {face.label}** ({face.score:.0%})")
            if heatmap_method:
                try:
                    with st.spinner("Computing the heat map" + (" ..." if heatmap_method == OCCLUSION else
                                                                " (the first one loads TensorFlow) ...")):
                        ex = explain(res.crops[i], model_classes.index(face.label), model_name, flip, heatmap_method)
                    st.image(ex.overlay, channels="BGR", width="stretch",
                             caption=f"{METHOD_NOTES[ex.method]} for '{ex.label}'")
                    if ex.fallback:
                        st.warning(f"**{heatmap_method} could not explain this face**: {ex.fallback}. "
                                   f"Shown instead: {METHOD_NOTES[ex.method]}. {OCCLUSION} works for every face.")
                except (ModelError, ImportError, ValueError) as e:
                    st.info(f"No heat map: {e}")
        with right:
            st.plotly_chart(probability_bars(face.probabilities), key=f"{key}-face{i}",
                            config={"displayModeBar": False})
            st.caption(_probability_line(face.probabilities))
    if heatmap_method:
        st.caption(HOW_TO_READ)
    st.download_button("Download the annotated image (PNG)", encode_png(res.annotated),
                       file_name=f"{res.name.rsplit('.', 1)[0]}_annotated.png", mime="image/png",
                       key=f"{key}-png")


def main() -> None:
    st.title("Still images")
    st.caption("Upload photos (or take one with the camera): every face is found and classified, "
               "with its probabilities (seven expressions, or five: see the sidebar) and a heat map of what "
               "drove the prediction.")
    settings = current_settings()
    c1, c2, c3 = st.columns(3)
    whole = c1.checkbox("Treat the whole image as one face", key="still_whole",
                        help="For pictures that are already cropped to one face (like FER2013's): "
                             "skips face detection.")
    flip = c2.checkbox("Flip test-time augmentation", value=STILL_FLIP, key="still_flip",
                       help="Average the prediction of each face and its mirror image: a little "
                            "more accurate (FER2013 test 70.8 % instead of 69.5 %) for twice the classifier's "
                            "work, well under a millisecond a face. The live page runs single passes.")
    with_heatmaps = c3.checkbox("Show heat maps", value=True, key="still_heatmaps",
                                help="Where the model looked: which parts of the face its answer depends on.")
    method = st.selectbox("Heat map method", METHODS, index=METHODS.index(DEFAULT_METHOD), key="still_heat_method",
                          format_func=METHOD_NOTES.get, disabled=not with_heatmaps,
                          help="Occlusion sensitivity greys out each patch of the face and measures how much the "
                               "answer drops, on the model that serves: the most faithful of the three on "
                               "FER2013 val (docs/models.md, 'Heat maps'). HiResCAM and Grad-CAM read the network's "
                               "gradients instead; the first one loads TensorFlow (a few seconds).")
    inputs = kept_file_uploader("Images", type=UPLOAD_TYPES, key="still_uploads",
                                help="jpg, png, webp, bmp, tiff or gif; phone photos are turned upright "
                                     "using their EXIF orientation. They stay here when you visit another page.")
    if st.toggle("Use the camera", key="still_camera"):
        shot = st.camera_input("Take a picture", key="still_camera_input")
        if shot is not None:
            inputs.append(("camera.jpg", shot.getvalue()))
    if not inputs:
        st.info("Upload one or more images to start.")
        return
    try:
        get_classifier(settings.model_name)
    except ModelError as e:
        st.error(f"Could not load the model: {e}")
        return
    entries = []
    for n, (name, data) in enumerate(inputs):
        st.subheader(name)
        try:
            res = analyse(data, name, settings.model_name, settings.detector, flip, whole, settings.class_view)
        except ImageError as e:
            st.error(f"Could not read this file: {e}")
            entries.append(error_entry(name, str(e)))
            continue
        entries.append(res.to_dict())
        show_result(res, settings.model_name, flip, method if with_heatmaps else None, key=f"img{n}")
    st.divider()
    st.download_button("Download all results (JSON)", results_json(entries), file_name="faces.json",
                       mime="application/json", key="still_json",
                       help="The same format as `python -m fer predict --json`.")


main()
