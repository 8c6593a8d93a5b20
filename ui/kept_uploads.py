"""A file uploader whose files survive switching pages.

Streamlit forgets a widget's value once a run doesn't draw it, so going to another page and back
emptied the still-image page's uploader. The files are kept in session state (not a widget key),
updated only when the user changes the uploader; on the way back they are offered again beside a
fresh, empty uploader until the user forgets them.
"""
from __future__ import annotations

import streamlit as st

_KEPT = "_kept_uploads"


def _store(key: str) -> dict:
    return st.session_state.setdefault(f"{_KEPT}:{key}", {"files": {}, "carried": []})


def kept_file_uploader(label: str, key: str, **kwargs) -> list[tuple[str, bytes]]:
    """``st.file_uploader(label, accept_multiple_files=True, key=key, **kwargs)`` whose files outlive a page
    switch; returns (name, bytes) for every file, the carried-over ones first."""
    store = _store(key)
    if key not in st.session_state:  # first draw since the page was left (or ever): keep what we had
        store["carried"] = list(store["files"])

    def changed() -> None:
        current = {f.file_id: (f.name, f.getvalue()) for f in st.session_state[key] or []}
        carried = {i: store["files"][i] for i in store["carried"] if i in store["files"]}
        store["files"] = {**carried, **current}

    st.file_uploader(label, accept_multiple_files=True, key=key, on_change=changed, **kwargs)
    carried = [store["files"][i] for i in store["carried"] if i in store["files"]]
    if carried:
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.caption("Still here from before you switched pages: " + ", ".join(n for n, _ in carried))
        if right.button("Forget them", key=f"{key}-forget"):
            for i in store["carried"]:
                store["files"].pop(i, None)
            store["carried"] = []
            st.rerun()
    return list(store["files"].values())
