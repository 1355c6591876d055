"""Applications on the Guard: folder scans, video checks, HTML reports."""
