"""From images to an artifact: reading a collection (``collection``, ``images``), extraction with resume
(``extract``, ``partial``, ``merge``; ``ray_engine`` / ``ray_worker`` on a cluster), the manifest-stamped store
(``store``), the FAISS index (``index``), and the shipped demo corpus (``demo``)."""
