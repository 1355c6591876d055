"""The peer of ``benchmarks/speed.py``: face_recognition (dlib HOG detector + 5-point landmarks + ResNet encoding),
run in its own virtual environment (it must not share ours) as a line-protocol worker.

Reads one image path per line on stdin; answers one JSON line per path: the seconds taken by
``face_recognition.load_image_file`` + ``face_recognition.face_encodings`` (decode, detect, landmarks, encode —
what ``Guard.check_path`` is compared with), the number of faces encoded, and the peak RSS so far. An empty line
ends it. Set up its environment with ``python benchmarks/speed.py --setup-peer`` (see benchmarks/README.md).
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main() -> int:
    import face_recognition

    print(json.dumps({"ready": True, "version": getattr(face_recognition, "__version__", "?")}), flush=True)
    for line in sys.stdin:
        path = line.strip()
        if not path:
            break
        start = time.perf_counter()
        image = face_recognition.load_image_file(path)
        encodings = face_recognition.face_encodings(image)
        seconds = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "faces": len(encodings), "peak_mb": peak_mb}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
