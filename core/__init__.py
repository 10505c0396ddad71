"""CLIP neuron explorer core: a UI-free library (it never imports streamlit or ``ui``).

    model/       load_model (model/loading.py), hooks and layers, embeddings, the fast text tower
    pipeline/    collections and images -> extraction -> the artifact store and its FAISS index
    analyses/    search, neuron card, conditional probability, attacks, concepts, interventions, words, paper
    featurevis/  feature visualization: parametrizations, transforms, objectives, render
    charts.py    Altair chart builders;  config.py settings;  errors.py the error types
    cli.py + commands/   ``python -m core``
"""
