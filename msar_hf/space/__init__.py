"""Files of the msar Hugging Face Space (``app.py``, ``requirements.txt``); see ``msar push app``."""
