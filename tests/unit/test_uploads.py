"""Saving an uploaded collection (``core.pipeline.uploads``) from real zip archives built here: sub-folders become
labels, nothing leaves the upload's folder (``..``, absolute names, symbolic links), non-images are skipped, zip
bombs and corrupt archives are refused with one line, and names are safe and unique."""
from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from core.errors import BadInputError
from core.pipeline.collection import read_collection
from core.pipeline.uploads import UploadLimits, extract_zip, save_upload

MB = 1024 * 1024
LIMITS = UploadLimits(total_bytes=50 * MB)


def png(color=(200, 30, 30), size=(24, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(entries: dict[str, bytes] | list[tuple[str | zipfile.ZipInfo, bytes]],
             compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in (entries.items() if isinstance(entries, dict) else entries):
            zf.writestr(name, data)
    return buf.getvalue()


def mark_encrypted(data: bytes, name: bytes) -> bytes:
    """The archive with entry ``name`` flagged as encrypted (bit 0 of its flags, in both headers)."""
    out = bytearray(data)
    for sig, name_len, name_at, flags in ((b"PK\x03\x04", 26, 30, 6), (b"PK\x01\x02", 28, 46, 8)):
        at = 0
        while (at := out.find(sig, at)) != -1:
            n = int.from_bytes(out[at + name_len:at + name_len + 2], "little")
            if bytes(out[at + name_at:at + name_at + n]) == name:
                out[at + flags] |= 0x1
            at += 4
    return bytes(out)


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink())


def test_sub_folders_become_labels_and_non_images_are_skipped(tmp_path):
    data = make_zip({"animals/cat/1.png": png(), "animals/cat/2.png": png((0, 0, 0)), "animals/dog/a.PNG": png(),
                     "animals/dog/notes.txt": b"hello", "animals/dog/fake.jpg": b"not a picture",
                     "animals/.DS_Store": b"x", "__MACOSX/animals/cat/._1.png": b"x", "animals/empty/": b""})
    saved = save_upload([("My Animals!.zip", io.BytesIO(data))], tmp_path / "uploads", LIMITS)
    assert saved.name == "My-Animals" and saved.path == tmp_path / "uploads" / "My-Animals" and saved.images == 3
    assert files_under(saved.path) == ["cat/1.png", "cat/2.png", "dog/a.PNG"]  # the single top folder unwrapped
    assert sorted((s["name"], s["reason"]) for s in saved.skipped) == [
        ("animals/dog/fake.jpg", "not an image Pillow can read"), ("animals/dog/notes.txt", "not an image file")]
    coll = read_collection(saved.path)  # indexed like any folder: the first sub-folder is the label
    assert coll.labels == ["cat", "cat", "dog"]
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == ["My-Animals"]  # no temporary folder left


def test_images_in_the_zip_root_have_no_labels(tmp_path):
    saved = save_upload([("flat.zip", make_zip({"a.png": png(), "b.png": png()}))], tmp_path, LIMITS)
    assert files_under(saved.path) == ["a.png", "b.png"] and read_collection(saved.path).labels is None


@pytest.mark.parametrize("name, reason", [
    ("../evil.png", "a path leaving the archive (..)"), ("cat/../../evil.png", "a path leaving the archive (..)"),
    ("..\\evil.png", "a path leaving the archive (..)"), ("/tmp/evil.png", "an absolute path"),
    ("C:/evil.png", "an absolute path"), ("C:evil.png", "an absolute path")])
def test_no_entry_is_written_outside_the_upload(tmp_path, name, reason):
    data = make_zip([("cat/ok.png", png()), ("dog/ok.png", png()), (name, png((0, 255, 0)))])
    saved = save_upload([("trav.zip", data)], tmp_path / "up", LIMITS)
    assert saved.images == 2 and saved.skipped == [{"name": name, "reason": reason}]
    assert files_under(tmp_path) == ["up/trav/cat/ok.png", "up/trav/dog/ok.png"]  # evil.png nowhere (tmp_path, its parent, /tmp)
    assert not Path("/tmp/evil.png").exists() or Path("/tmp/evil.png").read_bytes() != png((0, 255, 0))


def test_symbolic_links_and_special_entries_are_never_created(tmp_path):
    link = zipfile.ZipInfo("cat/link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    fifo = zipfile.ZipInfo("cat/pipe.png")
    fifo.create_system = 3
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    data = mark_encrypted(make_zip([(link, b"/etc/passwd"), (fifo, png()), ("cat/secret.png", png()),
                                    ("cat/ok.png", png()), ("dog/ok.png", png())]), b"cat/secret.png")
    saved = save_upload([("links.zip", data)], tmp_path, LIMITS)
    assert {s["name"]: s["reason"] for s in saved.skipped} == {
        "cat/link.png": "a symbolic link", "cat/pipe.png": "not a regular file", "cat/secret.png": "encrypted"}
    assert files_under(saved.path) == ["cat/ok.png", "dog/ok.png"]
    assert not any(p.is_symlink() for p in saved.path.rglob("*"))


def test_too_many_images_or_entries_are_refused(tmp_path):
    data = make_zip({f"cat/{i}.png": png() for i in range(6)})
    with pytest.raises(BadInputError, match="holds 6 images; an upload may hold at most 5"):
        save_upload([("many.zip", data)], tmp_path, UploadLimits(total_bytes=50 * MB, files=5))
    with pytest.raises(BadInputError, match="has 6 entries; an upload may have at most 4"):
        save_upload([("many.zip", data)], tmp_path, UploadLimits(total_bytes=50 * MB, entries=4))
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    zeros = b"\0" * (3 * MB)  # compresses to a few KB each
    data = make_zip({f"cat/{i}.png": zeros for i in range(4)})
    assert len(data) < 100_000
    with pytest.raises(BadInputError, match=r"unpacks to 12\.0 MB of images; the limit is 10 MB in all"):
        save_upload([("bomb.zip", data)], tmp_path, UploadLimits(total_bytes=10 * MB))
    assert list(tmp_path.iterdir()) == []
    big = make_zip({"cat/huge.png": b"\0" * (9 * MB), "cat/ok.png": png()})  # over the per-image limit: skipped
    saved = save_upload([("big.zip", big)], tmp_path, LIMITS)
    assert saved.images == 1 and saved.skipped == [{"name": "cat/huge.png", "reason": "over 8 MB"}]


def test_sizes_that_lie_are_caught(tmp_path):
    """An entry whose declared size is smaller than its data: zipfile stops at the declared size and its checksum
    fails; the archive is refused as corrupt."""
    data = bytearray(make_zip({"cat/a.png": png(), "cat/b.png": png((1, 2, 3), (400, 400))}))
    for sig, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):  # central and local headers: uncompressed size
        at = 0
        while (at := data.find(sig, at)) != -1:
            data[at + offset:at + offset + 4] = (100).to_bytes(4, "little")
            at += 4
    with pytest.raises(BadInputError, match="is not a readable zip archive"):
        save_upload([("liar.zip", bytes(data))], tmp_path, LIMITS)
    assert list(tmp_path.iterdir()) == []


def test_pixels_over_the_limit_are_skipped(tmp_path):
    data = make_zip({"a/big.png": png(size=(300, 300)), "a/small.png": png(size=(20, 20))})
    saved = save_upload([("px.zip", data)], tmp_path, UploadLimits(total_bytes=MB, pixels=10_000))
    assert files_under(saved.path) == ["small.png"]
    assert saved.skipped == [{"name": "a/big.png", "reason": "300x300 is over 0.01 MP"}]


@pytest.mark.parametrize("data", [b"this is not a zip", b"PK\x03\x04" + b"\0" * 50, None])
def test_a_corrupt_archive_is_refused_with_one_line(tmp_path, data):
    if data is None:  # a real archive cut in half
        whole = make_zip({f"cat/{i}.png": png((i, i, i)) for i in range(5)})
        data = whole[:len(whole) // 2]
    with pytest.raises(BadInputError) as err:
        save_upload([("broken.zip", data)], tmp_path, LIMITS)
    assert "broken.zip is not a readable zip archive" in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_entry_is_refused(tmp_path):
    data = bytearray(make_zip({"cat/a.png": png()}, compression=zipfile.ZIP_STORED))
    start = data.find(b"\x89PNG")
    data[start + 30:start + 40] = b"\xff" * 10  # the stored picture changed: its checksum fails
    with pytest.raises(BadInputError, match="not a readable zip archive.*CRC"):
        extract_zip(bytes(data), tmp_path, LIMITS, name="crc.zip")


def test_an_upload_without_images_is_refused(tmp_path):
    with pytest.raises(BadInputError, match=r"holds no image that can be indexed \(1 skipped, e.g. readme.txt"):
        save_upload([("docs.zip", make_zip({"readme.txt": b"hi"}))], tmp_path, LIMITS)
    with pytest.raises(BadInputError, match="no image.*empty"):
        save_upload([("empty.zip", make_zip({}))], tmp_path, LIMITS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_the_same_name_twice_keeps_the_first(tmp_path):
    data = make_zip([("cat/a.png", png()), ("cat/a.png", png((0, 0, 255))), ("cat/A.png", png())])
    saved = save_upload([("dup.zip", data)], tmp_path, LIMITS)
    assert files_under(saved.path) == ["a.png"] and [s["reason"] for s in saved.skipped] == ["the same name twice"] * 2


def test_names_are_safe_and_unique(tmp_path):
    data = make_zip({"a.png": png()})
    names = [save_upload([("../../Cats & Dogs.zip", data)], tmp_path, LIMITS).name for _ in range(3)]
    assert names == ["Cats-Dogs", "Cats-Dogs-2", "Cats-Dogs-3"]
    assert save_upload([("x.zip", data)], tmp_path, LIMITS, taken=lambda n: n in ("x", "x-2")).name == "x-3"
    assert save_upload([("....zip", data)], tmp_path, LIMITS).name == "upload"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Cats-Dogs", "Cats-Dogs-2", "Cats-Dogs-3", "upload", "x-3"]


def test_image_files_are_saved_flat_with_safe_unique_names(tmp_path):
    files = [("cat.png", png()), ("sub/cat.PNG", png((1, 1, 1))), ("../../evil.jpg", png()),
             ("notes.txt", b"hi"), ("fake.png", b"nope")]
    saved = save_upload(files, tmp_path, LIMITS)
    assert saved.name == "images" and saved.images == 3
    assert files_under(saved.path) == ["cat-2.png", "cat.png", "evil.jpg"]
    assert {s["name"]: s["reason"] for s in saved.skipped} == {"notes.txt": "not an image file",
                                                              "fake.png": "not an image Pillow can read"}
    one = save_upload([("Holiday photo.JPG", png())], tmp_path, LIMITS)
    assert one.name == "Holiday-photo" and files_under(one.path) == ["Holiday-photo.jpg"]


def test_the_total_size_and_mixing_a_zip_with_images_are_refused(tmp_path):
    with pytest.raises(BadInputError, match=r"The upload is 1\.5 MB; the limit is 1 MB in all"):
        save_upload([("a.png", b"\0" * (MB // 2)), ("b.png", b"\0" * MB)], tmp_path, UploadLimits(total_bytes=MB))
    with pytest.raises(BadInputError, match="one zip, or image files, not both"):
        save_upload([("a.zip", make_zip({"a.png": png()})), ("b.png", png())], tmp_path, LIMITS)
    with pytest.raises(BadInputError, match="Nothing was uploaded"):
        save_upload([], tmp_path, LIMITS)
    assert list(tmp_path.iterdir()) == []


def test_an_uploads_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(BadInputError, match="cannot be saved on the server: .* is not a writable folder"):
        save_upload([("a.zip", make_zip({"a.png": png()}))], tmp_path / "file" / "uploads", LIMITS)
