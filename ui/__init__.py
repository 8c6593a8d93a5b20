"""Streamlit glue shared by the pages: the sidebar, cached engine objects, Plotly figure builders."""
