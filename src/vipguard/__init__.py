"""vipguard: identity-aware deepfake detection for protected people (VIPGuard), offline on a CPU."""

__version__ = "0.1.0"
