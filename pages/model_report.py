"""Model report: how the selected model was trained and how well it does, from what training and
shipping recorded in its folder (metadata.json, history.csv). Nothing is re-measured here."""
from __future__ import annotations

import streamlit as st

from fer.classify.model import ModelError, resolve_model
from fer.report import (FEW_IMAGES, data_summary, evaluation_rows, format_duration, metric_sets, read_history,
                        relative_path, speed_sources, speed_tables, training_stages)
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

    st.subheader("Training")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Epochs run", meta.get("epochs_run", "n/a"))
    c2.metric("Best epoch (val)", meta.get("best_epoch") or "n/a")
    c3.metric("Training wall time", format_duration(meta.get("train_wall_seconds")))
    params = (meta.get("architecture") or {}).get("params")
    c4.metric("Parameters", f"{params:,}" if isinstance(params, int) else "n/a")
    stages = training_stages(meta)
    if not stages:
        st.markdown("Training command:")
        st.code("not recorded", language="bash", wrap_lines=True)
    else:
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
    rows = data_summary(meta)
    if rows:
        st.dataframe(rows, hide_index=True)
    with st.expander("Full metadata"):
        st.json(meta, expanded=False)

    st.subheader("Accuracy")
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

    st.subheader("Speed")
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

    st.subheader("Training curves")
    hist_file = info.path / "history.csv"
    history = _history(str(info.path), hist_file.stat().st_mtime if hist_file.is_file() else 0.0)
    if history:
        st.plotly_chart(training_curves(history), key="report_curves")
    else:
        st.info("No history.csv in the model folder: training curves were not recorded.")


main()
