"""Self-blending artefact detector (Face X-ray / Self-Blended Images style)."""
