"""Print the size of the deployable package and check it against Lambda's limits.

    python -m streaming.tools.package_report <unzipped dir> <zip>

Lambda quotas: 250 MB for the unzipped deployment package (with layers); a zip
over 50 MB cannot be uploaded directly and goes through S3 (``sam deploy`` does).
"""

from __future__ import annotations

import sys
from pathlib import Path

UNZIPPED_LIMIT = 250 * 1000 * 1000
DIRECT_UPLOAD_LIMIT = 50 * 1000 * 1000


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    folder, archive = (Path(a) for a in (argv or sys.argv[1:]))
    unzipped, zipped = tree_size(folder), archive.stat().st_size
    top = sorted(
        ((tree_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in folder.iterdir()),
        reverse=True,
    )[:6]
    print(
        f"{archive}: {zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped "
        f"(Lambda limit {UNZIPPED_LIMIT / 1e6:.0f} MB)"
    )
    print("largest parts: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for size, name in top))
    if zipped > DIRECT_UPLOAD_LIMIT:
        print("over 50 MB zipped: upload through S3 (sam deploy --resolve-s3 does)")
    if unzipped > UNZIPPED_LIMIT:
        print("TOO LARGE for a zip function: use the container image (Dockerfile)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
