"""CLIP neuron explorer core: a UI-free package (no streamlit imports outside resources.py / ui.py).

Public entry points: ``core.models.load_model``, ``core.hooks.capture`` / ``list_layers``,
``core.extract.run_extraction``, ``core.store.open_artifact``, ``core.search``; CLI ``python -m core``.
"""
