"""Dashboard entrypoint (``streamlit run dashboard.py``)."""
import streamlit as st

st.set_page_config(page_title="CLIP neuron explorer", layout="wide")
st.title("CLIP neuron explorer")
st.write("The dashboard pages are being built; see README.md.")
