"""Infrastructure: image and video I/O, model weights, plugin registries, the VIP registry and index."""
