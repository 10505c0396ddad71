"""A Streamlit app with one title and nothing else, for ``bench_browser.py --plain``: Streamlit's own first-load
floor on this machine."""
import streamlit as st

st.title("Empty app")
