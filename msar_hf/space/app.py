"""Hugging Face Space entry point for the msar app.

Upload this file as ``app.py`` together with ``requirements.txt`` (beside it) and the
``msar_hf`` package folder (or add ``msar-hf`` to the requirements). Limits and models are
configured with the Space's variables: MSAR_APP_REPAIR_MODEL (a Hub id such as org/msar-repair),
MSAR_APP_SYNTHESIS_MODEL, MSAR_APP_MAX_FILE_SIZE, MSAR_APP_MAX_DURATION_S,
MSAR_APP_CONCURRENCY_LIMIT, MSAR_APP_QUEUE_SIZE, MSAR_APP_REQUEST_TIMEOUT_S.
"""

import os

from msar_hf.app import AppConfig, launch_app

if __name__ == "__main__":
    # Spaces route traffic to 0.0.0.0:7860; locally this serves on every interface too.
    launch_app(AppConfig.from_env(), host=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
               port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
