"""Which replica serves this browser session, and whether the viewer was moved here from another.

Behind deploy/serve.py's nginx, each replica knows its own address (``FER_REPLICA_ADDR``) and the
browser carries the address of the replica that served it the page (cookie ``fer_page_from``, set by
nginx on the page's own response only). When a replica stops, Streamlit's frontend reconnects through
nginx to another replica, which starts a fresh session: the two addresses then differ, and the page
says so instead of silently showing an idle player. A reload fetches the page from the new replica,
the cookie follows, and the notice goes away.
"""
from __future__ import annotations

import os

import streamlit as st

ENV = "FER_REPLICA_ADDR"
COOKIE = "fer_page_from"


def moved_from() -> str | None:
    """The replica this browser's page came from, if it is not this one (else None)."""
    here = os.environ.get(ENV)
    if not here:
        return None
    try:
        came_from = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser context (e.g. AppTest)
        return None
    return came_from if came_from and came_from != here else None


def notice_if_moved() -> None:
    """Tell a viewer whose replica stopped what happened and what to do."""
    old = moved_from()
    if old:
        st.warning(f"The server that was running your session ({old}) stopped, so your stream ended. "
                   "This page is now served by another server: press START to stream again, "
                   "or reload the page.", icon=":material/swap_horiz:")
