"""What a loaded CLIP is and how to address its units: loading (``loading.load_model``, the one front door),
layers and hooks (``hooks``), text and image embeddings (``embed``), the int8 text tower for queries
(``fast_text``)."""
