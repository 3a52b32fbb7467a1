"""Reading a zip (or a plain folder) of item pictures without trusting it.

Nothing is extracted to disk: entries are read into memory one at a time. Still, an archive
whose names try to leave the folder (``..``, absolute paths, drive letters) or that holds
symlinks is refused as a whole, because such an archive is either broken or hostile and a
user should know. Zip bombs are stopped before any decompression by limits on the entry
count and on the declared uncompressed size (total and per file); zipfile itself stops a
file whose data outgrows its declared size. Files that are not pictures (by extension) and
macOS metadata are skipped and reported, not fatal.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from motor.errors import MotorError
from motor.features.hints import CLI_HINTS, Hints

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

# Defaults: far above a real poster set (3,872 posters are 54 MB), far below a bomb.
MAX_FILES = 200_000
MAX_TOTAL_BYTES = 4 * 1024**3
MAX_FILE_BYTES = 64 * 1024**2

_DRIVE = re.compile(r"^[A-Za-z]:")


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB"


@dataclass
class ImageSource:
    """The pictures found in a folder or zip.

    ``names`` are relative POSIX paths of the accepted picture files; ``skipped`` lists
    ``(name, reason)`` for everything else that was not a folder.
    """

    path: Path
    kind: str  # "zip" or "dir"
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    max_file_bytes: int = MAX_FILE_BYTES
    _zip: zipfile.ZipFile | None = None

    def read(self, name: str) -> bytes:
        """The bytes of one picture. Raises OSError/ValueError if it cannot be read."""
        if self._zip is not None:
            with self._zip.open(name) as f:
                data = f.read(self.max_file_bytes + 1)
        else:
            with open(self.path / name, "rb") as f:
                data = f.read(self.max_file_bytes + 1)
        if len(data) > self.max_file_bytes:
            raise ValueError(f"larger than the {_mb(self.max_file_bytes)} per-file limit")
        return data

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _skip_reason(name: str) -> str | None:
    """Why a (safe) file name is not a picture we read, or None if it is one."""
    parts = PurePosixPath(name).parts
    if parts and parts[0] == "__MACOSX" or PurePosixPath(name).name.startswith("._") or PurePosixPath(name).name == ".DS_Store":
        return "macOS metadata"
    if PurePosixPath(name).suffix.lower() not in IMAGE_EXTENSIONS:
        return f"not a picture (extension not one of {' '.join(sorted(IMAGE_EXTENSIONS))})"
    return None


def check_entry_name(name: str) -> str:
    """The entry name as a clean relative POSIX path; MotorError if it could escape the folder."""
    fixed = name.replace("\\", "/")
    if "\0" in fixed:
        raise MotorError(f"zip entry {name!r} has a NUL character in its name; the archive is damaged or hostile, rebuild it.")
    if fixed.startswith("/"):
        raise MotorError(f"zip entry {name!r} is an absolute path; the archive is refused. Rebuild it with relative paths (zip -r from inside the folder).")
    if _DRIVE.match(fixed):
        raise MotorError(f"zip entry {name!r} starts with a drive letter; the archive is refused. Rebuild it with relative paths.")
    parts = [p for p in fixed.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise MotorError(f"zip entry {name!r} contains '..' (path traversal); the archive is refused. Rebuild it with plain relative paths.")
    return "/".join(parts)


def open_zip(
    path: str | os.PathLike,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_file_bytes: int = MAX_FILE_BYTES,
    hints: Hints = CLI_HINTS,
) -> ImageSource:
    """Check every entry of a zip before reading any, and list its pictures. ``hints``: how a zip that cannot be
    read is given again (the app takes a .zip only, and no path)."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise MotorError(f"{str(path)!r} is not a readable zip file ({e}); {hints.bad_zip}") from None
    try:
        infos = zf.infolist()
        if len(infos) > max_files:
            raise MotorError(
                f"zip {path.name!r} has {len(infos):,} entries, over the limit of {max_files:,} files; "
                f"split it{hints.more_files}."
            )
        names: list[str] = []
        skipped: list[tuple[str, str]] = []
        seen: set[str] = set()
        total = 0
        for info in infos:
            clean = check_entry_name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise MotorError(f"zip entry {info.filename!r} is a symbolic link; archives with links are refused. Zip the files themselves (zip without -y).")
            if info.is_dir() or not clean:
                continue
            total += info.file_size
            if total > max_total_bytes:
                raise MotorError(
                    f"zip {path.name!r} unpacks to more than the limit of {_mb(max_total_bytes)} "
                    f"(a zip bomb, or a set too large); use smaller pictures{hints.more_bytes}."
                )
            if info.file_size > max_file_bytes:
                skipped.append((clean, f"{_mb(info.file_size)} unpacked, over the per-file limit of {_mb(max_file_bytes)}"))
                continue
            if info.flag_bits & 0x1:
                skipped.append((clean, "encrypted"))
                continue
            if clean in seen:
                skipped.append((clean, "duplicate entry name"))
                continue
            seen.add(clean)
            why = _skip_reason(clean)
            if why:
                skipped.append((clean, why))
            else:
                names.append(clean)
    except BaseException:
        zf.close()
        raise
    return ImageSource(path=path, kind="zip", names=names, skipped=skipped, max_file_bytes=max_file_bytes, _zip=zf)


def open_dir(
    path: str | os.PathLike,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_file_bytes: int = MAX_FILE_BYTES,
    hints: Hints = CLI_HINTS,
) -> ImageSource:
    """List the pictures under a folder (recursively). Symlinks are skipped, not followed."""
    root = Path(path)
    names: list[str] = []
    skipped: list[tuple[str, str]] = []
    count = 0
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root)
        for d in list(dirnames):
            if (Path(dirpath) / d).is_symlink():
                skipped.append(((rel_dir / d).as_posix(), "symbolic link (not followed)"))
                dirnames.remove(d)
        dirnames.sort()
        for fn in sorted(filenames):
            rel = (rel_dir / fn).as_posix()
            full = Path(dirpath) / fn
            count += 1
            if count > max_files:
                raise MotorError(f"folder {str(root)!r} holds more than the limit of {max_files:,} files; point at a smaller folder{hints.more_files}.")
            try:
                st = full.lstat()
            except OSError as e:
                skipped.append((rel, f"unreadable ({e.strerror})"))
                continue
            if stat.S_ISLNK(st.st_mode):
                skipped.append((rel, "symbolic link (not followed)"))
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append((rel, "not a regular file"))
                continue
            why = _skip_reason(rel)
            if why:
                skipped.append((rel, why))
                continue
            if st.st_size > max_file_bytes:
                skipped.append((rel, f"{_mb(st.st_size)}, over the per-file limit of {_mb(max_file_bytes)}"))
                continue
            total += st.st_size
            if total > max_total_bytes:
                raise MotorError(f"the pictures in {str(root)!r} add up to more than the limit of {_mb(max_total_bytes)}; use smaller pictures{hints.more_bytes}.")
            names.append(rel)
    return ImageSource(path=root, kind="dir", names=names, skipped=skipped, max_file_bytes=max_file_bytes)


def open_images(
    path: str | os.PathLike,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_file_bytes: int = MAX_FILE_BYTES,
    hints: Hints = CLI_HINTS,
) -> ImageSource:
    """A folder or a ``.zip`` of pictures, checked as described in this module's docstring."""
    p = Path(path)
    if p.is_dir():
        return open_dir(p, max_files, max_total_bytes, max_file_bytes, hints)
    if p.is_file():
        if zipfile.is_zipfile(p):
            return open_zip(p, max_files, max_total_bytes, max_file_bytes, hints)
        raise MotorError(f"{str(p)!r} is neither a folder nor a zip file; pass a folder of pictures or a .zip of them.")
    raise MotorError(f"pictures path {str(p)!r} does not exist; pass a folder of pictures or a .zip of them.")
