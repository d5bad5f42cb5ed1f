"""Desktop integration files under packaging/: desktop entry, AppStream metainfo, icons, install.sh.

The freedesktop validators (desktop-file-validate, appstreamcli) are run when they are installed;
the structural checks below run everywhere.
"""
import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attnviewer.media.images import IMAGE_SUFFIXES

APP_ID = "io.github.attnviewer.AttnViewer"
PACKAGING = Path(__file__).resolve().parents[1] / "packaging"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
SVG = PACKAGING / "icons" / f"{APP_ID}.svg"
PNG_SIZES = (16, 32, 48, 64, 128, 256)
MIME_OF_SUFFIX = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".bmp": "image/bmp",
    ".tif": "image/tiff", ".tiff": "image/tiff", ".webp": "image/webp",
}
# desktop-file-validate's main categories: at least one is required
MAIN_CATEGORIES = {"AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics",
                   "Network", "Office", "Science", "Settings", "System", "Utility"}


def png_path(size, root=PACKAGING / "icons" / "hicolor"):
    return root / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def quiet_env(**extra):
    return {**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen", **extra}


@pytest.fixture(scope="module")
def entry():
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    assert parser.sections()[0] == "Desktop Entry"
    return parser["Desktop Entry"]


@pytest.fixture(scope="module")
def component():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component"
    return root


def split_list(value):
    assert value.endswith(";"), f"list value must end with ';': {value!r}"
    return value[:-1].split(";")


# --- the freedesktop validators, when present ------------------------------------------------


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate not installed (desktop-file-utils)")
def test_desktop_file_validate_accepts_the_entry():
    run = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "error:" not in run.stdout + run.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli not installed (appstream)")
def test_appstreamcli_validates_the_metainfo():
    run = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli not installed (appstream)")
def test_appstreamcli_validates_the_installed_tree(tmp_path):
    """validate-tree also checks that the metainfo, desktop entry and icon find each other."""
    install(tmp_path)
    run = subprocess.run(["appstreamcli", "validate-tree", "--no-net", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


# --- desktop entry ---------------------------------------------------------------------------


def test_desktop_entry_required_keys(entry):
    assert entry["Type"] == "Application"
    assert entry["Name"] == "attnviewer"
    assert entry["GenericName"] and entry["Comment"]
    assert entry["Exec"] == "attnviewer gui %F"
    assert entry["Terminal"] == "false"
    assert entry["StartupNotify"] in ("true", "false")
    assert entry["StartupWMClass"]
    keywords = split_list(entry["Keywords"])
    assert "attention" in keywords and all(keywords)


def test_desktop_entry_icon_names_the_icon_files(entry):
    assert entry["Icon"] == APP_ID == SVG.stem
    assert all(png_path(size).stem == entry["Icon"] for size in PNG_SIZES)


def test_desktop_entry_categories(entry):
    categories = split_list(entry["Categories"])
    assert all(categories) and len(set(categories)) == len(categories)
    assert MAIN_CATEGORIES & set(categories)


def test_desktop_entry_mime_types_cover_every_image_the_app_opens(entry):
    mime_types = split_list(entry["MimeType"])
    assert all(m.startswith("image/") for m in mime_types)
    assert {MIME_OF_SUFFIX[s] for s in IMAGE_SUFFIXES} == set(mime_types)


def test_desktop_file_is_named_after_the_app_id():
    assert DESKTOP.name == f"{APP_ID}.desktop"
    text = DESKTOP.read_text(encoding="utf-8")
    assert "\t" not in text and not any(line != line.rstrip() for line in text.splitlines())


# --- AppStream metainfo ----------------------------------------------------------------------


def test_metainfo_identity(component):
    assert component.get("type") == "desktop-application"
    assert component.findtext("id") == DESKTOP.stem == APP_ID
    assert component.findtext("metadata_license") == "CC0-1.0"
    assert component.findtext("project_license") == "MIT"
    assert component.findtext("name") == "attnviewer"
    summary = component.findtext("summary")
    assert summary and len(summary) <= 80 and not summary.endswith(".")


def test_metainfo_launchable_points_to_the_desktop_file(component):
    launchable = component.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id"
    assert launchable.text == DESKTOP.name


def test_metainfo_description_says_what_the_app_does(component):
    description = component.find("description")
    assert description is not None and description.find("p") is not None
    text = " ".join("".join(description.itertext()).split()).lower()
    for phrase in ("attention", "word", "caption", "compare", "export"):
        assert phrase in text


def test_metainfo_provides_and_releases(component, entry):
    provides = component.find("provides")
    assert provides.findtext("binary") == "attnviewer" == entry["Exec"].split()[0]
    assert {m.text for m in provides.findall("mediatype")} == set(split_list(entry["MimeType"]))
    assert component.find("content_rating").get("type", "").startswith("oars-")
    releases = component.find("releases").findall("release")
    assert releases and releases[0].get("version") == "0.1.0"
    assert releases[0].get("date") == "2026-11-23"


def test_metainfo_release_matches_the_package_version(component):
    pyproject = (PACKAGING.parent / "pyproject.toml").read_text(encoding="utf-8")
    version = component.find("releases").find("release").get("version")
    assert f'version = "{version}"' in pyproject


# --- icons ----------------------------------------------------------------------------------


def test_svg_icon_is_square_xml_with_a_viewbox():
    root = ET.parse(SVG).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    x, y, w, h = (float(v) for v in root.get("viewBox").replace(",", " ").split())
    assert w == h > 0


@pytest.mark.parametrize("size", PNG_SIZES)
def test_png_icon_has_its_declared_size(size):
    path = png_path(size)
    assert path.is_file()
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (size, size)
        assert img.mode == "RGBA"
        alpha = np.asarray(img.getchannel("A"))
    assert alpha[size // 2, size // 2] == 255  # the icon itself is opaque ...
    assert alpha[0, 0] < 128  # ... and its rounded corners are see-through


def test_committed_pngs_match_the_svg(tmp_path):
    """The PNGs are regenerated from the SVG (packaging/render_icons.py) and not stale."""
    pytest.importorskip("PySide6.QtSvg")
    run = subprocess.run([sys.executable, str(PACKAGING / "render_icons.py"), str(tmp_path)],
                         capture_output=True, text=True, env=quiet_env(), timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    for size in PNG_SIZES:
        with Image.open(png_path(size)) as committed, Image.open(png_path(size, tmp_path)) as fresh:
            a = np.asarray(committed.convert("RGBA"), dtype=np.int16)
            b = np.asarray(fresh.convert("RGBA"), dtype=np.int16)
        assert a.shape == b.shape
        assert np.abs(a - b).mean() < 2.0, f"{size}px PNG is stale: run packaging/render_icons.py"


# --- install.sh ------------------------------------------------------------------------------


def install(prefix):
    run = subprocess.run(["bash", str(PACKAGING / "install.sh")], capture_output=True, text=True,
                         env=quiet_env(PREFIX=str(prefix)), timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return prefix / "share"


def expected_files(share):
    files = {
        share / "applications" / DESKTOP.name: DESKTOP,
        share / "metainfo" / METAINFO.name: METAINFO,
        share / "icons" / "hicolor" / "scalable" / "apps" / SVG.name: SVG,
    }
    for size in PNG_SIZES:
        files[png_path(size, share / "icons" / "hicolor")] = png_path(size)
    return files


def test_install_puts_every_file_where_it_belongs(tmp_path):
    share = install(tmp_path)
    for installed, source in expected_files(share).items():
        assert installed.is_file(), installed
        assert installed.read_bytes() == source.read_bytes()
        assert installed.stat().st_mode & 0o777 == 0o644


def test_install_is_idempotent_and_touches_only_share(tmp_path):
    share = install(tmp_path)
    first = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    install(tmp_path)
    again = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert first == again
    assert [p.name for p in tmp_path.iterdir()] == ["share"]
    assert set(expected_files(share)) <= {tmp_path / p for p in again}
