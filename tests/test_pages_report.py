"""The model report page through AppTest: it shows what the model folder recorded (command, epochs,
wall time, accuracy, macro F1, per-class recall, confusion, training curves) and stays useful for a
folder that recorded less."""
from __future__ import annotations

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from fer.config import REPO_ROOT
from fer.faces.detection import DetectorSettings
from fer.report import format_duration, metric_sets, read_history, relative_command, speed_rows, training_stages
from ui.sidebar import AppSettings

PAGE = str(REPO_ROOT / "pages" / "model_report.py")


def _page(model: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if model is not None:
        at.session_state["_fer_app_settings"] = AppSettings(model, DetectorSettings())
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_report_shows_the_models_metadata_and_figures(classifier):
    meta = classifier.info.metadata
    at = _page(classifier.info.name)
    m = _metrics(at)
    assert m["Epochs run"] == str(meta["epochs_run"])
    assert m["Training wall time"] == format_duration(meta["train_wall_seconds"])
    assert [c.value for c in at.code] == ["\n".join(s.commands) for s in training_stages(meta)]
    sets = metric_sets(meta)
    assert sets, "the model under test records no evaluation"
    headline = sets[0]
    assert m[f"{headline.split.capitalize()} accuracy"] == f"{headline.metrics['accuracy']:.1%}"
    assert m["Macro F1"] == f"{headline.metrics['macro_f1']:.3f}"
    key = f"report_set:{classifier.info.path}"
    assert at.selectbox(key=key).options == [s.label for s in sets]
    keys = {el.key for el in at.get("plotly_chart")}
    assert {"report_recall", "report_cm"} <= keys
    if read_history(classifier.info.path):
        assert "report_curves" in keys
    for i, s in enumerate(sets):
        at.selectbox(key=key).set_value(i)
        at.run()
        assert _metrics(at)[f"{s.split.capitalize()} accuracy"] == f"{s.metrics['accuracy']:.1%}"


def test_the_shipped_model_is_reported_on_the_test_split_of_the_runtime_that_serves(classifier):
    meta = classifier.info.metadata
    if "litert_test" not in meta.get("metrics", {}):
        pytest.skip(f"{classifier.info.name} has no LiteRT test figures (a model shipped without --test)")
    at = _page(classifier.info.name)
    assert metric_sets(meta)[0].key == "litert_test"
    assert _metrics(at)["Test accuracy"] == f"{meta['metrics']['litert_test']['plain']['accuracy']:.1%}"
    assert not [w.value for w in at.warning if not w.value.startswith("**Licence")]  # no caveat on the figures


def test_a_model_folder_that_recorded_little_still_gets_a_report(classifier, tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    meta = {k: v for k, v in classifier.info.metadata.items()
            if k not in ("metrics", "command", "commands", "stages", "train_wall_seconds")}
    (folder / "metadata.json").write_text(json.dumps(meta))
    shutil.copy(classifier.info.path / "model.tflite", folder / "model.tflite")
    at = _page(str(folder))
    assert _metrics(at)["Training wall time"] == "not recorded"
    assert [c.value for c in at.code] == ["not recorded"]
    warnings = [w.value for w in at.warning]
    assert any("holds no evaluation" in w for w in warnings), warnings
    assert any("training curves were not recorded" in i.value for i in at.info)


def test_the_report_shows_the_speed_figures_a_benchmark_recorded(classifier, tmp_path):
    """bench/latency.py --record measures the model and writes its figures into the model's metadata;
    the report then shows them, with the command that measured them."""
    import sys
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    import latency
    import make_frame

    folder = tmp_path / "timed"
    shutil.copytree(classifier.info.path, folder, ignore=shutil.ignore_patterns("checkpoints"))
    meta = json.loads((folder / "metadata.json").read_text())
    meta.pop("benchmarks", None)  # the shipped model's own recorded figures
    (folder / "metadata.json").write_text(json.dumps(meta))
    frame = tmp_path / "frame.png"
    assert make_frame.main([str(frame)]) == 0
    assert "No speed figures" in " ".join(i.value for i in _page(str(folder)).info)
    assert latency.main([str(frame), "--model", str(folder), "--runs", "20", "--video-seconds", "1",
                         "--record", "--json"]) == 0
    recorded = json.loads((folder / "metadata.json").read_text())["benchmarks"]["latency"]
    assert recorded["faces"] == 1 and 0 < recorded["median_ms"] < 1000 and recorded["video_frames"] == 30
    at = _page(str(folder))
    rows = speed_rows(json.loads((folder / "metadata.json").read_text()))
    assert [r["ours (ms)"] for r in rows][:2] == [round(recorded["median_ms"], 3),
                                                   round(recorded["classifier_ms_per_face"], 3)]
    shown = next(d.value for d in at.dataframe if "ours (ms)" in d.value.columns)
    assert list(shown["ours (ms)"]) == [r["ours (ms)"] for r in rows]
    assert any("latency.py" in c.value and "--record" in c.value for c in at.caption), [c.value for c in at.caption]


def test_a_missing_model_is_an_error_not_a_traceback(tmp_path):
    at = _page(str(tmp_path / "nowhere"))
    assert at.error and "No model to report on" in at.error[0].value


def test_durations_read_like_a_person_wrote_them():
    assert format_duration(5025) == "1 h 23 min 45 s"
    assert format_duration(89.5) == "1 min 30 s"
    assert format_duration(7) == "7 s"
    assert format_duration(None) == "not recorded"


def test_history_rows_parse_and_bad_values_are_dropped(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,accuracy,loss,val_accuracy\n0,0.5,1.2,0.4\n1,0.6,,0.45\n")
    assert read_history(tmp_path) == [{"epoch": 0, "accuracy": 0.5, "loss": 1.2, "val_accuracy": 0.4},
                                      {"epoch": 1, "accuracy": 0.6, "val_accuracy": 0.45}]
    assert read_history(tmp_path / "missing") == []


def test_every_training_stage_is_shown_with_paths_relative_to_the_repository(classifier):
    """Every stage of a model built in several fine-tunes is listed, its paths relative to the repository
    (not absolute paths from the training machine)."""
    meta = classifier.info.metadata
    stages = training_stages(meta)
    assert len(stages) == len(meta.get("stages") or [None])
    at = _page(classifier.info.name)
    shown = [c.value for c in at.code]
    assert len(shown) == len(stages)
    for stage, text in zip(stages, shown):
        for word in text.split():
            assert not word.startswith("/"), f"absolute path in the report: {word}"
    recorded = [c for st in meta.get("stages", []) for c in st.get("commands", [])] or meta.get("commands", [])
    assert [c for t in shown for c in t.splitlines()] == [relative_command(c) for c in recorded]
    assert any(f"**{i}. {s.name}**" in m.value for i, s in enumerate(stages, 1) for m in at.markdown)


def test_relative_command_keeps_relative_paths_and_rewrites_absolute_ones(tmp_path):
    root = tmp_path / "work" / "main"
    cmd = f"python -m fer train --data ../shared/data/x --out {tmp_path}/work/runs/v2 --init-from {root}/models/a/model.keras"
    assert relative_command(cmd, root) == ("python -m fer train --data ../shared/data/x --out ../runs/v2 "
                                           "--init-from models/a/model.keras")


def test_the_data_table_includes_the_test_split(classifier):
    meta = classifier.info.metadata
    at = _page(classifier.info.name)
    table = next(d.value for d in at.dataframe if "split" in d.value.columns)
    assert list(table["split"]) == ["train", "val", "test"], table
    test = table[table["split"] == "test"].iloc[0]
    assert test["images"] == f"{meta['metrics']['litert_test']['plain']['n']:,}" and "fer2013/test" in test["roots"]


def test_the_speed_tables_never_show_an_empty_cell(classifier):
    at = _page(classifier.info.name)
    speed = [d.value for d in at.dataframe if "figure" in d.value.columns]
    assert speed, "no speed table"
    for df in speed:
        assert not df.isna().any().any(), df
        assert "None" not in df.astype(str).to_string()


def test_figures_on_starts_at_the_headline_after_switching_model(classifier, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(classifier.info.path, other, ignore=shutil.ignore_patterns("checkpoints", "*.keras"))
    at = _page(classifier.info.name)
    sets = metric_sets(classifier.info.metadata)
    at.selectbox(key=f"report_set:{classifier.info.path}").set_value(len(sets) - 1)
    at.run()
    assert at.selectbox(key=f"report_set:{classifier.info.path}").value == len(sets) - 1
    at.session_state["_fer_app_settings"] = AppSettings(str(other), DetectorSettings())
    at.run()
    assert not at.exception
    assert at.selectbox(key=f"report_set:{other}").value == 0, "the previous model's choice was carried over"
    assert _metrics(at)["Test accuracy"] == f"{sets[0].metrics['accuracy']:.1%}"


def test_evaluations_on_few_images_are_flagged(classifier, tmp_path):
    folder = tmp_path / "smoke"
    folder.mkdir()
    meta = json.loads(json.dumps(classifier.info.metadata))
    small = meta["metrics"]["litert_test"]["plain"]
    small["n"] = 42
    (folder / "metadata.json").write_text(json.dumps(meta))
    shutil.copy(classifier.info.path / "model.tflite", folder / "model.tflite")
    at = _page(str(folder))
    table = next(d.value for d in at.dataframe if "evaluation" in d.value.columns)
    flagged = table[table["images"] == 42]
    assert len(flagged) == 1 and "only 42 images" in flagged.iloc[0]["note"]
    assert (table[table["images"] > 42]["note"] == "").all()
    assert any("only 42 images" in w.value for w in at.warning), [w.value for w in at.warning]


def test_the_report_opens_with_a_model_card_whose_figures_match_the_sidebar():
    from fer.classify.model import list_models
    from fer.report import data_set_figures
    models = {m.name: m for m in list_models()}
    blend = next((m for m in models.values() if m.licence and (m.metadata.get("stages") or [])), None)
    if blend is None:
        pytest.skip("needs a staged model with research-licensed data in models/")
    at = _page(blend.name)
    headers = [h.value for h in at.subheader]
    assert headers[0] == "Model card" and headers.index("Training history") > headers.index("All recorded evaluations")
    assert any("non-commercial research use only" in w.value for w in at.warning)
    card = next(d.value for d in at.dataframe if "data set" in d.value.columns)
    for label, fig in blend.headline_figures().items():  # the sidebar's figures, read from the same record
        assert card[card["data set"] == label].iloc[0]["accuracy"] == f"{fig['accuracy']:.1%}"
    figures = data_set_figures(blend.metadata)
    key = f"report_card_set:{blend.path}"
    for i, f in enumerate(figures):
        at.selectbox(key=key).set_value(i)
        at.run()
        charts = {el.key: json.loads(el.proto.spec) for el in at.get("plotly_chart")}
        recall = charts["report_card_recall"]["data"][0]
        assert [round(v, 6) for v in recall["y"]] == [round(f.recall[c] * 100, 6) for c in recall["x"]]
        assert charts["report_card_cm"]["data"][0]["x"] == f.classes
    metrics = _metrics(at)
    assert metrics["Best epoch (val)"] not in ("n/a", "not recorded")
    history = read_history(blend.path)
    if history and len(history) != blend.metadata.get("epochs_run"):
        assert any(f"{len(history)} epochs" in c.value and f"{blend.metadata['epochs_run']} epochs run" in c.value
                   for c in at.caption)
    assert any("test, pooled" in c.value for c in at.caption)  # the mixed test figure says what it is


def test_best_epoch_comes_from_the_record_the_stages_or_the_history():
    from fer.report import BestEpoch, best_epoch
    assert best_epoch({"best_epoch": 9}) == BestEpoch(9)
    assert best_epoch({"stages": [{"stage": "a", "best_epoch": 3}, {"stage": "blend"}]}) == BestEpoch(3, "stage 'a'")
    history = [{"epoch": 0, "val_accuracy": 0.5}, {"epoch": 1, "val_accuracy": 0.7}, {"epoch": 2, "val_accuracy": 0.6}]
    assert best_epoch({}, history).epoch == 2
    assert best_epoch({}) is None


def test_the_default_ensemble_is_reported_with_its_members_and_weight_sweep():
    """The default model is an ensemble with no network file: the card names its members and their
    weights, and the validation sweep that chose the weight is shown."""
    from fer.classify.model import resolve_model
    info = resolve_model(None)
    assert "ensemble" in info.metadata, "the default is expected to be an ensemble"
    at = _page()
    text = " ".join(m.value for m in at.markdown)
    for member in info.metadata["ensemble"]["members"]:
        assert f"`{member['model']}`" in text and f"{member['weight']:.0%}" in text
    sweep = next(d.value for d in at.dataframe if "weight of the first" in d.value.columns)
    assert len(sweep) == len(info.metadata["metrics"]["val_sweep"])
