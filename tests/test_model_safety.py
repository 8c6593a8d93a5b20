"""Loading a model never runs code from the model file.

A model folder is ``metadata.json`` (read with ``json``), ``model.tflite`` (a flatbuffer, read by the
LiteRT interpreter) and ``model.keras`` (a zip of JSON config + HDF5 weights, read by
``keras.saving.load_model(..., safe_mode=True)``). None of these formats can carry pickled Python,
and the Keras loader refuses the two ways a ``.keras`` file can carry code: a ``Lambda`` layer holding
marshalled Python bytecode, and a layer whose config names a module outside Keras to import.

Every malicious file here writes a marker file when its code runs; the controls show the marker does
appear when the code is (deliberately, in a throwaway process) allowed to run, so its absence proves
the product's loaders did not run it.
"""
from __future__ import annotations

import ast
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from fer.config import REPO_ROOT
from fer.classify.model import Classifier, ModelError, list_models, load_classifier, resolve_model

#: The product's code: everything that serves, trains or shows a model.
PRODUCT_SOURCES = sorted([*(REPO_ROOT / "fer").rglob("*.py"), *(REPO_ROOT / "ui").rglob("*.py"),
                          *(REPO_ROOT / "pages").rglob("*.py"), REPO_ROOT / "app.py"])

# A child process that imports TensorFlow gets aiortc first (their native libraries clash the other
# way round; see fer/classify/explain.py). TensorFlow is never imported into the pytest process itself.
_PRELUDE = textwrap.dedent("""
    import sys
    try:
        import aiortc  # noqa: F401
    except ImportError:
        pass
    sys.path[:0] = [{repo!r}]
""").format(repo=str(REPO_ROOT))


def _run(script: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _PRELUDE + textwrap.dedent(script), *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def shipped() -> Path:
    """A shipped folder with a network file and its Keras twin (the default ensemble has neither:
    its members have, and ``tests/test_ensemble.py`` covers a damaged ensemble folder)."""
    info = resolve_model(os.environ.get("FER_TEST_MODEL") or "multisource_blend")
    if not (info.path / "model.keras").is_file():
        pytest.skip(f"{info.path} has no model.keras")
    return info.path


@pytest.fixture(scope="module")
def evil(tmp_path_factory, shipped) -> dict[str, Path]:
    """Malicious Keras files (built in a child process so TensorFlow stays out of this one):

    - ``lambda.keras``: a Lambda layer whose (marshalled) code writes ``lambda.ran``;
    - ``lambda.h5``: the same in the legacy HDF5 format (``--init-from`` accepts any path);
    - ``module.keras``: a clean model whose Dense layer's config was edited to name the module
      ``fer_evil_module`` (on the path, writes ``module.ran`` when imported) and its class.
    """
    d = tmp_path_factory.mktemp("evil")
    (d / "evil_path").mkdir()
    (d / "evil_path" / "fer_evil_module.py").write_text(
        f"from pathlib import Path\nPath({str(d / 'module.ran')!r}).write_text('imported')\n"
        "class Evil:\n    pass\n")
    out = _run("""
        import sys
        from pathlib import Path
        import keras
        d = Path(sys.argv[1])
        code = "lambda x: (__import__('pathlib').Path(%r).write_text('ran'), x)[1]" % str(d / "lambda.ran")
        inp = keras.Input((48, 48, 1))
        x = keras.layers.Lambda(eval(code), name="payload")(inp)
        x = keras.layers.Flatten()(x)
        out = keras.layers.Dense(7, activation="softmax")(x)
        m = keras.Model(inp, out)
        m.save(d / "lambda.keras")
        m.save(d / "lambda.h5")
        inp = keras.Input((48, 48, 1))
        out = keras.layers.Dense(7, activation="softmax", name="head")(keras.layers.Flatten()(inp))
        keras.Model(inp, out).save(d / "clean.keras")
        print("built")
    """, str(d))
    assert out.returncode == 0 and "built" in out.stdout, out.stderr[-3000:]
    (d / "lambda.ran").unlink()  # building the functional graph ran the lambda once: start clean
    with zipfile.ZipFile(d / "clean.keras") as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    layers = config["config"]["layers"]
    head = next(la for la in layers if la["config"]["name"] == "head")
    head.update(module="fer_evil_module", class_name="Evil", registered_name="Evil")
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(d / "module.keras", "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    files = {k: d / f for k, f in (("lambda", "lambda.keras"), ("h5", "lambda.h5"), ("module", "module.keras"))}
    files.update(dir=d, lambda_marker=d / "lambda.ran", module_marker=d / "module.ran", module_path=d / "evil_path")
    assert not files["lambda_marker"].exists() and not files["module_marker"].exists()
    return files


def _model_folder(root: Path, shipped: Path, keras_file: Path | None = None, tflite: bytes | None = None) -> Path:
    """A model folder with the shipped metadata and the given model.keras / model.tflite."""
    root.mkdir(parents=True)
    shutil.copy(shipped / "metadata.json", root / "metadata.json")
    if tflite is None:
        shutil.copy(shipped / "model.tflite", root / "model.tflite")
    else:
        (root / "model.tflite").write_bytes(tflite)
    if keras_file is not None:
        shutil.copy(keras_file, root / "model.keras")
    return root


def test_the_malicious_files_do_run_their_code_when_loaded_unsafely(evil):
    """Control: with Keras's safety off (in a throwaway process) the Lambda file's code does run, and
    the module named in module.keras writes its marker as soon as anything imports it, so the
    markers' absence in the other tests means something. (Keras >= 3.9 never imports a module outside
    its own packages, even unsafely; older Keras 3 did: CVE-2025-1550.)"""
    out = _run("""
        import sys
        import keras
        keras.saving.load_model(sys.argv[1], safe_mode=False, compile=False)
        sys.path.insert(0, sys.argv[2])
        import fer_evil_module  # noqa: F401
    """, str(evil["lambda"]), str(evil["module_path"]))
    assert out.returncode == 0, out.stderr[-3000:]
    assert evil["lambda_marker"].read_text() == "ran"
    assert evil["module_marker"].read_text() == "imported"
    evil["lambda_marker"].unlink()
    evil["module_marker"].unlink()


@pytest.mark.parametrize("which", ["lambda", "module"])
def test_classifier_keras_model_refuses_code_in_model_keras(evil, shipped, tmp_path, which):
    """``resolve_model`` -> ``Classifier`` -> ``keras_model()`` (the explanations' path) and
    ``python -m fer export`` (``fer.train.shipping.ship``) on a folder whose model.keras carries code."""
    folder = _model_folder(tmp_path / "m", shipped, evil[which])
    marker = evil[f"{which}_marker"]
    out = _run("""
        import sys
        from fer.classify.model import Classifier, resolve_model
        from fer.train.shipping import ship
        sys.path.insert(0, sys.argv[2])  # the evil module is importable: only Keras's refusal stops it
        info = resolve_model(sys.argv[1])
        clf = Classifier(info)
        for name, load in (("keras_model", clf.keras_model), ("ship", lambda: ship(sys.argv[1], [], []))):
            try:
                load()
                print(name, "LOADED")
            except Exception as e:
                print(name, "REFUSED", type(e).__name__, str(e).replace("\\n", " "))
    """, str(folder), str(evil["module_path"]))
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(("keras_model", "ship"))]
    assert len(lines) == 2 and all(" REFUSED " in ln for ln in lines), out.stdout
    expected = "lambda" if which == "lambda" else "could not locate class 'evil'"
    for ln in lines:
        assert expected in ln.lower(), ln
    # the pages catch ModelError (the still-image page shows "No heat map: ..."), whatever Keras raised
    assert next(ln for ln in lines if ln.startswith("keras_model")).startswith("keras_model REFUSED ModelError"), lines
    assert not marker.exists(), f"code from the model file ran: {marker.read_text()!r}"


@pytest.mark.parametrize("which", ["lambda", "h5", "module"])
def test_training_init_from_refuses_code_in_the_model_file(evil, fer_root, tmp_path, which):
    """``python -m fer train --init-from FILE``: refused with an error before any training."""
    data = tmp_path / "data"
    for c in ("happy", "sad"):
        (data / c).mkdir(parents=True)
        for f in sorted((fer_root / "test" / c).iterdir())[:3]:
            shutil.copy(f, data / c / f.name)
    env = dict(os.environ, PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{evil['module_path']}")
    out = subprocess.run([sys.executable, "-c", _PRELUDE + "from fer.cli.main import main; sys.exit(main())",
                          "train", "--data", str(data), "--val", str(data), "--out", str(tmp_path / "out"),
                          "--epochs", "1", "--init-from", str(evil[which])],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    marker = evil["module_marker" if which == "module" else "lambda_marker"]
    assert out.returncode != 0, out.stdout[-2000:]
    assert not marker.exists(), f"code from the model file ran: {marker.read_text()!r}"
    err = out.stderr.lower()
    assert ("lambda" in err and "safe_mode" in err) if which != "module" else "could not locate class 'evil'" in err, \
        out.stderr[-3000:]
    assert not (tmp_path / "out" / "model.keras").exists()


def test_every_keras_load_in_the_product_is_in_safe_mode():
    """Every ``load_model`` call passes ``safe_mode=True`` literally; nothing turns safety off."""
    calls = 0
    for path in PRODUCT_SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name.endswith(("load_model", "model_from_json", "deserialize_keras_object", "from_config")):
                calls += 1
                kw = {k.arg: k.value for k in node.keywords}
                safe = kw.get("safe_mode")
                assert isinstance(safe, ast.Constant) and safe.value is True, \
                    f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {ast.unparse(node)} must pass safe_mode=True"
            assert "enable_unsafe_deserialization" not in name and "SafeModeScope" not in name, \
                f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {ast.unparse(node)}"
    assert calls >= 3  # model.py (explanations), training.py (--init-from, best epoch), shipping.py (export)


#: Loaders that can execute code from the data they read.
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "torch"}
UNSAFE_CALLS = ("pickle.load", "pickle.loads", "joblib.load", "torch.load", "marshal.loads", "yaml.load",
                "yaml.unsafe_load", "tf.saved_model.load", "tensorflow.saved_model.load", "eval", "exec")


def test_the_product_never_unpickles_or_evaluates_loaded_data():
    findings = []
    for path in PRODUCT_SOURCES:
        rel = path.relative_to(REPO_ROOT)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                findings += [f"{rel}:{node.lineno}: import {a.name}" for a in node.names
                             if a.name.split(".")[0] in UNSAFE_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
                findings.append(f"{rel}:{node.lineno}: from {node.module} import ...")
            elif isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name in UNSAFE_CALLS:
                    findings.append(f"{rel}:{node.lineno}: {ast.unparse(node)[:120]}")
                if name.endswith(("np.load", "numpy.load")):
                    kw = {k.arg: k.value for k in node.keywords}
                    if not (isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False) \
                            and "allow_pickle" in kw:
                        findings.append(f"{rel}:{node.lineno}: {ast.unparse(node)[:120]}")
                if name.endswith("read_pickle"):
                    findings.append(f"{rel}:{node.lineno}: {ast.unparse(node)[:120]}")
    assert not findings, "code-executing loaders in the product:\n" + "\n".join(findings)


def test_the_shipped_model_folder_holds_only_non_executable_formats(shipped):
    """model.keras is config JSON + HDF5 weights (no pickle, no bytecode); metadata.json is JSON."""
    with zipfile.ZipFile(shipped / "model.keras") as z:
        names = set(z.namelist())
        config = z.read("config.json").decode()
    assert names <= {"config.json", "metadata.json", "model.weights.h5", "model.weights.npz"}, names
    assert '"__lambda__"' not in config and '"Lambda"' not in config
    modules = {m for m in _values(json.loads(config), "module")}
    assert all(m == "keras" or m.startswith("keras.") or m == "builtins" for m in modules), modules
    json.loads((shipped / "metadata.json").read_text())
    assert (shipped / "model.tflite").read_bytes()[4:8] == b"TFL3"


def _values(obj, key):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key and isinstance(v, str):
                yield v
            yield from _values(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from _values(v, key)


def test_garbage_metadata_gives_a_clear_model_error(tmp_path, shipped):
    folder = _model_folder(tmp_path / "bad_meta", shipped)
    for text in ("{not json", '{"classes": ["a"]}', "[]", "null", '{"__class__": "os.system", "input": 1}'):
        (folder / "metadata.json").write_text(text)
        with pytest.raises(ModelError, match="not valid model metadata"):
            resolve_model(folder)
    assert "bad_meta" not in [m.name for m in list_models(tmp_path)]


def _bad_tflites(real: bytes) -> dict[str, bytes]:
    rng = random.Random(5)
    out = {"empty": b"", "text": b"this is not a model\n" * 50,
           "random": bytes(rng.randrange(256) for _ in range(4096)),
           "header only": real[:64], "truncated half": real[: len(real) // 2], "truncated 1 KB": real[:1024],
           "wrong magic": real[:4] + b"XXXX" + real[8:], "keras zip renamed": b"PK\x03\x04" + real[4:2000]}
    for i in range(6):  # flips in the flatbuffer's tables (the first 4 KB: offsets, vtables, schema)
        b = bytearray(real)
        for _ in range(8):
            b[rng.randrange(8, 4096)] = rng.randrange(256)
        out[f"flipped header bytes {i}"] = bytes(b)
    return out


def test_a_garbage_tflite_gives_a_clear_model_error_not_a_crash(tmp_path, shipped):
    """Loaded in a child process, so a native crash (segfault) in LiteRT would show as a failure
    here instead of killing pytest."""
    real = (shipped / "model.tflite").read_bytes()
    cases = _bad_tflites(real)
    folders = {}
    for i, (label, data) in enumerate(cases.items()):
        folders[label] = str(_model_folder(tmp_path / f"m{i}", shipped, tflite=data))
    out = _run("""
        import json, sys
        import numpy as np
        from fer.classify.model import Classifier, ModelError, resolve_model
        folders = json.loads(sys.argv[1])
        for label, folder in folders.items():
            try:
                clf = Classifier(resolve_model(folder))
                p = clf.predict(np.zeros((2, clf.input_size, clf.input_size), np.uint8))
                res = ["loaded", bool(np.isfinite(p).all()) and p.shape == (2, len(clf.classes))]
            except ModelError as e:
                res = ["ModelError", str(e)]
            except Exception as e:
                res = ["OTHER " + type(e).__name__, str(e)]
            print(json.dumps([label, res]), flush=True)
    """, json.dumps(folders))
    assert out.returncode == 0, \
        f"LiteRT crashed the process (code {out.returncode}):\n{out.stdout}\n{out.stderr[-2000:]}"
    results = dict(json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("["))
    assert set(results) == set(cases), results
    for label, (kind, detail) in results.items():
        if label.startswith("flipped"):
            # a flip may land in weights or padding and leave a loadable model: then it must still work
            assert kind == "ModelError" or (kind == "loaded" and detail is True), (label, kind, detail)
        else:
            assert kind == "ModelError", (label, kind, detail)
        if kind == "ModelError":
            assert "model.tflite" in detail and "could not load" in detail, detail
    assert sum(k == "ModelError" for k, _ in results.values()) >= 8


def test_load_classifier_raises_model_error_for_a_garbage_tflite(tmp_path, shipped):
    folder = _model_folder(tmp_path / "junk", shipped, tflite=b"\x00" * 100)
    with pytest.raises(ModelError, match=r"could not load .*model\.tflite"):
        load_classifier(folder)
    with pytest.raises(ModelError, match="could not load"):
        Classifier(resolve_model(folder))
