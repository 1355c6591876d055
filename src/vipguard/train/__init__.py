"""Training apps and their data builders (artefact detector, MLLM stages); imported only by the training commands."""
