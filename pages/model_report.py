"""Model report: the selected model's card first (what it is, its licence, its accuracy on each data
set with per-class recall and confusion, its speed), then every recorded evaluation and how it was
trained, from what training, evaluation and shipping recorded in its folder (metadata.json,
history.csv). Nothing is re-measured here."""
from __future__ import annotations

import streamlit as st

from fer.classify.model import ModelError, ModelInfo, resolve_model
from fer.report import (FEW_IMAGES, DataSetFigures, best_epoch, data_set_figures, data_summary, evaluation_rows,
                        format_duration, metric_sets, read_history, relative_path, speed_sources, speed_tables,
                        test_split_description, trained_on, training_stages)
from ui.charts import confusion_heatmap, per_class_recall, training_curves
from ui.sidebar import current_settings


@st.cache_data(ttl=60, show_spinner=False)
def _history(model_dir: str, mtime: float) -> list[dict]:
    return read_history(model_dir)


def main() -> None:
    st.title("Model report")
    settings = current_settings()
    try:
        info = resolve_model(settings.model_name)
    except ModelError as e:
        st.error(f"No model to report on: {e}")
        return
    meta = info.metadata
    st.caption(f"Model **{info.name}** in `{relative_path(str(info.path))}`")
    hist_file = info.path / "history.csv"
    history = _history(str(info.path), hist_file.stat().st_mtime if hist_file.is_file() else 0.0)
    model_card(info)

    st.subheader("All recorded evaluations")
    sets = metric_sets(meta)
    if not sets:
        st.warning("This model's metadata holds no evaluation. Run `python -m fer export` (or "
                   "`python -m fer evaluate`) to measure it.")
    else:
        if not any(s.split == "test" for s in sets):
            st.warning("No test-split figures recorded: the numbers below are on the validation split, "
                       "which was used to choose the model, so they flatter it.")
        # Keyed by model: another model's list of evaluations is another choice, starting at its headline.
        pick = st.selectbox("Figures on", range(len(sets)), format_func=lambda i: sets[i].label,
                            key=f"report_set:{info.path}",
                              help="LiteRT is the runtime the app serves; flip TTA averages each face "
                                   "with its mirror image.")
        chosen = sets[pick]
        m = chosen.metrics
        c1, c2, c3 = st.columns(3)
        c1.metric(f"{chosen.split.capitalize()} accuracy", f"{m['accuracy']:.1%}")
        c2.metric("Macro F1", f"{m['macro_f1']:.3f}")
        c3.metric("Images", f"{m.get('n', 0):,}")
        if chosen.split == "test":
            st.caption(f"Measured at shipping on {test_split_description(meta)}"
                       + (": the model card's figures above are each data set alone." if "pooled"
                          in test_split_description(meta) else "."))
        if m.get("n", 0) < FEW_IMAGES:
            st.warning(f"Measured on only {m.get('n', 0)} images: the accuracy is uncertain by "
                       f"{evaluation_rows([chosen])[0]['95 % margin']} points or more (95 %).")
        left, right = st.columns(2)
        with left:
            st.plotly_chart(per_class_recall(m["per_class"]), key="report_recall")
        with right:
            st.plotly_chart(confusion_heatmap(m["confusion"], m.get("classes") or info.classes), key="report_cm")
        table = evaluation_rows(sets)
        st.dataframe(table, hide_index=True)
        if any(r["note"] for r in table):
            st.caption(f"Rows on fewer than {FEW_IMAGES} images are flagged: compare them with care against "
                       "rows on thousands.")

    st.subheader("Speed in detail")
    alone, compared = speed_tables(meta)
    if alone or compared:
        if alone:
            st.dataframe(alone, hide_index=True)
        if compared:
            st.markdown("Against the `fer` library, measured in the same run:")
            st.dataframe(compared, hide_index=True)
        st.caption("Medians on the machine named, measured by " + "; ".join(f"`{s}`" for s in speed_sources(meta)))
    else:
        st.info("No speed figures recorded for this model: run `python bench/latency.py FRAME --record` "
                "or `python bench/compare_fer.py --record`.")

    training_history(info, history)


def training_history(info: ModelInfo, history: list[dict]) -> None:
    """How the model was trained: epochs, stages and their commands, data, curves."""
    meta = info.metadata
    st.subheader("Training history")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Epochs run", meta.get("epochs_run", "not recorded"),
              help="Over every training stage (a blend: over the stages of the models it averages)")
    best = best_epoch(meta, history)
    c2.metric("Best epoch (val)", best.epoch if best else "not recorded",
              help=f"From {best.source}" if best and best.source else None)
    c3.metric("Training wall time", format_duration(meta.get("train_wall_seconds")))
    params = (meta.get("architecture") or {}).get("params")
    c4.metric("Parameters", f"{params:,}" if isinstance(params, int) else "n/a")
    if history:
        st.plotly_chart(training_curves(history), key="report_curves")
        runs = meta.get("epochs_run")
        if isinstance(runs, int) and runs != len(history):
            st.caption(f"history.csv holds the last trained stage's {len(history)} epochs; the model's "
                       f"{runs} epochs run are over all its stages (listed below).")
    else:
        st.info("No history.csv in the model folder: training curves were not recorded.")

    stages = training_stages(meta)
    if not stages:
        st.markdown("Training command:")
        st.code("not recorded", language="bash", wrap_lines=True)
    else:
        with st.expander(f"How it was trained: {len(stages)} stage{'s' if len(stages) != 1 else ''}, with commands",
                         expanded=len(stages) == 1):
            training_commands(info, stages)
    rows = data_summary(meta)
    if rows:
        st.dataframe(rows, hide_index=True)
    with st.expander("Full metadata"):
        st.json(meta, expanded=False)


def training_commands(info: ModelInfo, stages: list) -> None:
    """Every training stage, oldest first, with its figures, note and commands."""
    st.markdown(f"Training, {len(stages)} stage{'s' if len(stages) != 1 else ''} (each from the one before; "
                "paths relative to the repository):")
    for i, stage in enumerate(stages, start=1):
        figures = [f"{stage.epochs} epochs" if stage.epochs else "",
                   f"best epoch {stage.best_epoch}" if stage.best_epoch else "",
                   f"val {stage.val_accuracy:.1%}" if isinstance(stage.val_accuracy, float) else "",
                   f"LiteRT test {stage.test_accuracy:.1%}" if isinstance(stage.test_accuracy, float) else ""]
        st.markdown(f"**{i}. {stage.name}**" + "".join(f" · {f}" for f in figures if f))
        if stage.note:
            st.caption(stage.note)
        st.code("\n".join(stage.commands), language="bash", wrap_lines=True)
    if len(stages) > 1:
        st.caption(f"The last stage's result is this model, `{relative_path(str(info.path))}`.")


def model_card(info: ModelInfo) -> None:
    """What the model is, its licence, its accuracy on each data set (per-class recall and confusion)
    and its speed: the figures a user choosing a model needs, from its metadata."""
    meta = info.metadata
    st.subheader("Model card")
    arch = meta.get("architecture") or {}
    params = arch.get("params")
    size = info.input_size
    sources = trained_on(meta)
    crop = "colour face crop lined up by the eyes" if info.channels == 3 else "gray face crop"
    ensemble = meta.get("ensemble") or {}
    if ensemble:
        members = ensemble.get("members") or []
        what = (f"An ensemble: the weighted average of {len(members)} models' probabilities, "
                + " + ".join(f"{float(m.get('weight', 0)):.0%} `{_model_name(m)}`" for m in members)
                + f", for a {size}x{size} {crop} ({', '.join(info.classes)}); each member's own card is in the "
                "sidebar's model list.")
    else:
        what = (f"A convolutional network (`{arch.get('name', 'architecture not recorded')}`"
                + (f", {params:,} parameters" if isinstance(params, int) else "") + f") that reads a {size}x{size} "
                f"{crop} and gives the probabilities of {len(info.classes)} expressions "
                f"({', '.join(info.classes)}).")
        if sources:
            what += f" Trained on {', '.join(sources)}."
    blend = meta.get("blend") or {}
    if blend:
        alpha = float(blend.get("alpha", 0))
        what += (f" A weight-space blend: {1 - alpha:.0%} `{_model_name(blend.get('base'))}` + "
                 f"{alpha:.0%} `{_model_name(blend.get('tuned'))}`.")
    runtime = meta.get("runtime") or {}
    if runtime.get("bytes"):
        what += f" Served as a {runtime.get('format', 'LiteRT')} file of {runtime['bytes'] / 1e6:.1f} MB."
    st.markdown(what)
    if info.licence:
        st.warning("**Licence: non-commercial research use only**, inherited from its training data:\n"
                   + "\n".join(f"- {term}" for term in info.licence))
    else:
        st.success("**Licence**: no research-only terms: none of its training data carries them.")

    figures = data_set_figures(meta)
    if not figures:
        st.info("No per-data-set evaluation recorded: run `python -m fer evaluate ../shared/data/fer2013/test "
                f"--model {info.name} --no-flip --record` (and likewise for the other data sets).")
    else:
        st.markdown("**Accuracy on each data set** (test splits, each alone, single pass on the served model):")
        st.dataframe([{"data set": f.label, "accuracy": f"{f.accuracy:.1%}", "macro F1": f"{f.macro_f1:.3f}",
                       "images": f"{f.n:,}"} for f in figures], hide_index=True)
        pick = st.selectbox("Per class on", range(len(figures)), format_func=lambda i: figures[i].label,
                            key=f"report_card_set:{info.path}")
        chosen = figures[pick]
        left, right = st.columns(2)
        with left:
            st.plotly_chart(per_class_recall(_per_class(chosen)), key="report_card_recall")
        with right:
            if chosen.confusion:
                st.plotly_chart(confusion_heatmap(chosen.confusion, chosen.classes), key="report_card_cm")
            else:
                st.info(f"No confusion matrix recorded for {chosen.label}: `{chosen.command}` records it.")
        st.caption(f"Measured by `{chosen.command}`")

    sweep = (meta.get("metrics") or {}).get("val_sweep") or []
    if ensemble and sweep:
        st.markdown(f"**How the weight was chosen** (validation sets only): {meta.get('selection', '')}.")
        st.dataframe([{"weight of the first": r["weight_first"],
                       **{name: f"{r[key]['accuracy']:.1%}" for key, name in
                          (("rafdb_holdout", "RAF-DB held-out"), ("affectnet_val", "AffectNet val"),
                           ("fer2013_val", "FER2013 val")) if key in r}} for r in sweep], hide_index=True)
    lat = (meta.get("benchmarks") or {}).get("latency") or {}
    if lat:
        c1, c2, c3 = st.columns(3)
        if isinstance(lat.get("video_median_ms"), (int, float)):
            c1.metric("Live video, per frame", f"{lat['video_median_ms']:.1f} ms", help="median, live path")
        if isinstance(lat.get("median_ms"), (int, float)):
            c2.metric("Still frame", f"{lat['median_ms']:.0f} ms",
                      help=f"median, {'x'.join(map(str, lat.get('size') or []))}, detect + classify + draw")
        if isinstance(lat.get("classifier_ms_per_face"), (int, float)):
            c3.metric("Classifier, per face", f"{lat['classifier_ms_per_face']:.1f} ms")
        st.caption(f"Speed on {lat.get('machine', 'the recording machine')}, measured by `{lat.get('command', '')}`")
    else:
        st.info("No speed figures recorded for this model: run `python bench/latency.py FRAME --record`.")


def _model_name(entry) -> str:
    """A blend's parent as recorded (a name, or {"model": "models/x", ...}) -> "x"."""
    name = entry.get("model", "?") if isinstance(entry, dict) else str(entry or "?")
    return name.rstrip("/").rsplit("/", 1)[-1]


def _per_class(f: DataSetFigures) -> dict:
    """``per_class_recall``'s input: recall per class, with its image count when the confusion has it."""
    support = {c: int(sum(row)) for c, row in zip(f.classes, f.confusion)} if f.confusion else {}
    return {c: {"recall": r, "support": support.get(c, 0)} for c, r in f.recall.items()}


main()
