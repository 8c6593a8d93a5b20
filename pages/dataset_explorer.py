"""Data set explorer: what a folder-per-class data set holds (counts per split, sizes, colour modes,
corrupt files, duplicates and train/test leakage), a paged thumbnail grid, and where the selected
model disagrees with the labels (the quickest way to find mislabeled images).

Reads only inside the configured roots (every data set of the data folder, plus
``FER_EXPLORER_ROOTS``), named by data set and path relative to the data folder, never by this
machine's absolute path; the logic lives in ``fer.train.audit``, the figures in ``ui.charts``.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import streamlit as st

from fer.train.audit import (ROOTS_ENV, SINGLE_SPLIT, AuditReport, DataSetIndex, PathRefused, SplitPredictions, audit,
                             confine, configured_roots, index_dataset, index_signature, predict_split, root_label,
                             thumbnail)
from fer.classes import class_view, fold_predictions
from fer.classify.model import ModelError
from ui.charts import class_counts, confusion_heatmap, counter_bars
from ui.resources import get_classifier
from ui.sidebar import current_settings
from ui.text import breakable_file_name

THUMB_SIDE = 96
PAGE_SIZES = (24, 48, 96)
#: Results of the long runs (content scan, model over a split) kept per process, newest last.
STORE_ENTRIES = 8


@st.cache_resource
def _store() -> tuple[OrderedDict, threading.Lock]:
    """Long results shared by every session. Not ``st.cache_data``: these runs draw a progress bar,
    and a cached function would replay its elements on every hit."""
    return OrderedDict(), threading.Lock()


def _remember(key: tuple, value) -> None:
    store, lock = _store()
    with lock:
        store[key] = value
        store.move_to_end(key)
        while len(store) > STORE_ENTRIES:
            store.popitem(last=False)


def _recall(key: tuple):
    store, lock = _store()
    with lock:
        return store.get(key)


@st.cache_data(max_entries=16, show_spinner="Listing files ...")
def _index(folder: str, signature: tuple) -> DataSetIndex:
    """File names only (no decoding): fast even for 30,000+ files; re-listed when a folder changes."""
    return index_dataset(folder)


def _progress_bar(label: str):
    bar = st.progress(0.0, text=label)
    return bar, (lambda done, total: bar.progress(done / max(total, 1), text=f"{label} {done:,} / {total:,}"))


def overview(index: DataSetIndex) -> None:
    counts = index.counts()
    # A folder of class folders (e.g. the sub-folder "test") has no splits: its one pseudo-split "all"
    # would show as "Splits: all" and as an "all" column equal to "total".
    single = index.splits == [SINGLE_SPLIT]
    c1, c2, c3 = st.columns(3)
    c1.metric("Images", f"{index.total():,}")
    c2.metric("Splits", "none" if single else ", ".join(index.splits),
              help="Class folders straight under the chosen folder: no train/val/test split" if single else None)
    c3.metric("Classes", len(index.classes()))
    if single:
        st.caption(f"One folder of classes ({index.root.name}), without splits.")
    st.plotly_chart(class_counts(counts), key="ex_counts_chart")
    if single:
        table = [{"class": c, "images": counts[SINGLE_SPLIT].get(c, 0)} for c in index.classes()]
    else:
        table = [{"class": c, **{s: counts[s].get(c, 0) for s in index.splits},
                  "total": sum(counts[s].get(c, 0) for s in index.splits)} for c in index.classes()]
    st.dataframe(table, hide_index=True, key="ex_counts_table")
    if index.refused:
        st.warning(f"{len(index.refused)} symlink(s) point outside the data set and were ignored: "
                   + ", ".join(index.refused[:10]))
    if index.other_files:
        st.caption(f"{index.other_files} non-image file(s) in class folders were ignored.")


def audit_section(index: DataSetIndex, signature: tuple) -> None:
    st.subheader("Content audit")
    key = ("audit", str(index.root), signature)
    report: AuditReport | None = _recall(key)
    if report is None:
        st.caption(f"Reads, hashes and decodes all {index.total():,} files to find image sizes, colour modes, "
                   "corrupt files and exact duplicates (FER2013's 35,887 files take about 10-15 s).")
        if not st.button("Scan every file", key="ex_scan"):
            return
        bar, progress = _progress_bar("Scanning")
        report = audit(index, progress=progress)
        bar.empty()
        _remember(key, report)
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Corrupt files", len(report.corrupt))
    c2.metric("Duplicate groups", len(report.duplicates))
    c3.metric("Redundant copies", report.redundant_files())
    c4.metric("Shared across splits", len(report.cross_split),
              help="Groups of identical images found in more than one split: leakage between train and test.")
    c5.metric("Conflicting labels", len(report.conflicting),
              help="Identical images filed under different classes: at least one label is wrong.")
    left, right = st.columns(2)
    sizes = [(f"{w}x{h}", n) for (w, h), n in report.sizes.most_common(12)]
    left.plotly_chart(counter_bars(sizes, "Image sizes (most common)", "width x height"), key="ex_sizes")
    right.plotly_chart(counter_bars(report.modes.most_common(), "Colour modes", "PIL mode"), key="ex_modes")
    if report.corrupt:
        st.error(f"{len(report.corrupt)} corrupt or unreadable file(s):")
        st.dataframe([{"file": f, "problem": why} for f, why in report.corrupt], hide_index=True, key="ex_corrupt")
    else:
        st.success("Every file decodes.")
    for title, groups, k in (("Duplicates shared across splits (leakage)", report.cross_split, "ex_cross"),
                             ("Duplicates with conflicting labels", report.conflicting, "ex_conflict"),
                             ("All exact duplicates", report.duplicates, "ex_dups")):
        with st.expander(f"{title}: {len(groups)} group(s)", expanded=k == "ex_cross" and bool(groups)):
            rows = [{"group": i + 1, "copies": len(g.files), "splits": ", ".join(sorted(set(g.splits))),
                     "classes": ", ".join(sorted(set(g.classes))), "files": " | ".join(g.files)}
                    for i, g in enumerate(groups[:1000])]
            if rows:
                st.dataframe(rows, hide_index=True, key=f"{k}_table")
                g = groups[st.number_input("Show group", 1, len(rows), 1, key=f"{k}_pick") - 1]
                _grid([index.root / f for f in g.files], [f"{s}/{c}" for s, c in zip(g.splits, g.classes)])


def _grid(paths: list[Path], captions: list[str], columns: int = 8) -> None:
    """Thumbnails in rows of ``columns``; unreadable files get a text placeholder instead."""
    for start in range(0, len(paths), columns):
        cols = st.columns(columns)
        for col, p, cap in zip(cols, paths[start:start + columns], captions[start:start + columns]):
            img = thumbnail(p, THUMB_SIDE)
            if img is None:
                col.caption(f"unreadable: {breakable_file_name(p.name)}")
            else:
                col.image(img, caption=cap, width=THUMB_SIDE)


def browse_section(index: DataSetIndex) -> None:
    st.subheader("Browse")
    c1, c2, c3, c4 = st.columns(4)
    split = (SINGLE_SPLIT if index.splits == [SINGLE_SPLIT]
             else c1.selectbox("Split", index.splits, key="ex_browse_split"))
    classes = index.classes(split)
    if not classes:
        st.info("This split has no class folders.")
        return
    cls = c2.selectbox("Class", classes, key="ex_browse_class")
    per_page = c3.selectbox("Per page", PAGE_SIZES, key="ex_browse_per_page")
    pages = index.pages(split, cls, per_page)
    page = c4.number_input(f"Page (of {pages})", 1, pages, 1, key=f"ex_browse_page_{split}_{cls}_{per_page}")
    paths = index.page(split, cls, page - 1, per_page)
    where = index.root.name if split == SINGLE_SPLIT else split
    st.caption(f"{index.count(split, cls):,} images of {cls} in {where}; showing "
               f"{(page - 1) * per_page + 1:,}-{(page - 1) * per_page + len(paths):,}.")
    _grid(paths, [breakable_file_name(p.name) for p in paths])


def _model_key(classifier) -> tuple:
    f = classifier.info.path / "model.tflite"
    f = f if f.exists() else classifier.info.path / "metadata.json"  # an ensemble has no network file
    return str(classifier.info.path.resolve()), f.stat().st_mtime_ns if f.exists() else 0


def disagreement_section(index: DataSetIndex, signature: tuple) -> None:
    st.subheader("Where the model disagrees")
    settings = current_settings()
    try:
        clf = get_classifier(settings.model_name)
    except ModelError as e:
        st.error(f"Could not load the model: {e}")
        return
    c1, c2 = st.columns(2)
    splits = index.splits
    split = (SINGLE_SPLIT if splits == [SINGLE_SPLIT] else
             c1.selectbox("Split", splits, index=splits.index("test") if "test" in splits else 0, key="ex_dis_split"))
    flip = c2.checkbox("Flip test-time augmentation", key="ex_dis_flip")
    key = ("predict", _model_key(clf), str(index.root), signature, split, flip)
    preds: SplitPredictions | None = _recall(key)
    if preds is None:
        n = sum(index.count(split, c) for c in index.classes(split))
        where = index.root.name if split == SINGLE_SPLIT else split
        if not st.button(f"Run {clf.info.name} over {where} ({n:,} images)", key="ex_run_model"):
            return
        bar, progress = _progress_bar("Classifying")
        preds = predict_split(index, split, clf, flip=flip, progress=progress)
        bar.empty()
        _remember(key, preds)
    preds = fold_predictions(preds, class_view(settings.class_view, clf.classes))  # the sidebar's seven or five
    if not preds.paths:
        st.warning("No readable images of the model's classes in this split.")
        return
    rep = preds.report()
    c1, c2, c3 = st.columns(3)
    c1.metric("Accuracy", f"{rep.accuracy:.1%}")
    c2.metric("Macro F1", f"{rep.macro_f1:.3f}")
    c3.metric("Images", f"{rep.n:,}")
    if preds.skipped:
        st.caption("Not classified (classes the model doesn't know, or folded out of the five-class view): "
                   + ", ".join(f"{c} ({n})" for c, n in preds.skipped.items()))
    event = st.plotly_chart(confusion_heatmap(rep.confusion, rep.classes, clickable=True), key="ex_cm",
                            on_select="rerun", selection_mode="points")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if points:  # a click chooses the cell; the selectboxes below follow it
        click = (points[0].get("y"), points[0].get("x"))
        if click != st.session_state.get("_ex_last_click") and all(c in preds.classes for c in click):
            st.session_state["_ex_last_click"] = click
            st.session_state["ex_true"], st.session_state["ex_pred"] = click
    st.caption("Click a cell (or choose it below) to see its images, most confident prediction first: "
               "off-diagonal cells the model is sure about are the likeliest mislabels.")
    c1, c2, c3 = st.columns(3)
    true_cls = c1.selectbox("True class", preds.classes, key="ex_true")
    default_pred = [c for c in preds.classes if c != true_cls][0]
    if "ex_pred" not in st.session_state:
        st.session_state["ex_pred"] = default_pred
    pred_cls = c2.selectbox("Predicted as", preds.classes, key="ex_pred")
    members = preds.cell(true_cls, pred_cls)
    if not members:
        st.info(f"No {true_cls} image was predicted as {pred_cls}.")
        return
    per_page = 24
    pages = -(-len(members) // per_page)
    page = c3.number_input(f"Page (of {pages})", 1, pages, 1, key=f"ex_cell_page_{true_cls}_{pred_cls}")
    chosen = members[(page - 1) * per_page:page * per_page]
    t, p = preds.classes.index(true_cls), preds.classes.index(pred_cls)
    st.markdown(f"**{len(members):,} image(s) labelled {true_cls}, predicted {pred_cls}**")
    _grid([index.root / preds.paths[i] for i in chosen],
          [f"{pred_cls} {preds.probabilities[i, p]:.0%} · {true_cls} {preds.probabilities[i, t]:.0%}" for i in chosen])
    with st.expander("Probabilities of these images"):
        st.dataframe([{"file": preds.paths[i], **{c: round(float(v), 4) for c, v in
                                                  zip(preds.classes, preds.probabilities[i])}} for i in chosen],
                     hide_index=True, key="ex_cell_table")


def main() -> None:
    st.title("Data set explorer")
    roots = configured_roots()
    if not roots:
        st.warning(f"No data set folder configured: FER2013 was not found and {ROOTS_ENV} is empty. "
                   f"Set {ROOTS_ENV} to one or more folder-per-class data sets.")
        return
    root = st.selectbox("Data set", roots, format_func=root_label, key="ex_root",
                        help=f"Every data set in the data folder, plus the folders listed in {ROOTS_ENV}; "
                             "each named by its path relative to the data folder.")
    sub = st.text_input("Sub-folder (optional)", key="ex_sub",
                        help="A folder inside the chosen data set, e.g. `test`; paths outside it are refused.")
    try:
        folder = confine(root, sub.strip()) if sub.strip() else root
    except PathRefused as e:
        st.error(f"Refused: {e}")
        return
    shown = root_label(root) + (f" / {sub.strip()}" if sub.strip() else "")
    if not folder.is_dir():
        st.error(f"Not a folder: {shown}")
        return
    signature = index_signature(folder)
    try:
        index = _index(str(folder), signature)
    except OSError as e:
        st.error(f"Could not list {shown}: {e.strerror or type(e).__name__}")
        return
    if index.total() == 0:
        st.warning(f"No images found under {shown} (expected <split>/<class>/*.jpg or <class>/*.jpg).")
        return
    overview(index)
    audit_section(index, signature)
    browse_section(index)
    disagreement_section(index, signature)


main()
