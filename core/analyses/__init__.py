"""The article's analyses over a loaded model and an artifact: zero-shot neuron search (``search``, ``zeroshot``),
the neuron card (``neuron_card``), conditional probability (``condprob``), typographic attacks (``attacks``,
``attack_lab``, ``stroop``), concept codes (``concepts``), interventions (``interventions``), rastered words
(``words``, ``raster``), the paper check (``paper``) and the demo model's evaluation (``evaluate``)."""
