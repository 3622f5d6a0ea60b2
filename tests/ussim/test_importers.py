import numpy as np
import pytest
from PIL import Image

from ussim import imageset, importers, raster
from ussim.errors import UsageError

PALETTE = "0,0,0=background;255,0,0=ovary;0,255,0=follicle"
COLOURS = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)


def _scan(rng, h, w, doppler=False):
    """An RGB 'scanner export': gray speckle, optionally with a red/blue colour-flow patch."""
    gray = rng.integers(0, 200, (h, w), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    if doppler:
        rgb[: h // 2, : w // 2] = [200, 30, 30]
    return rgb


def _label(h, w, shift=0):
    label = np.zeros((h, w), np.uint8)
    label[h // 4: 3 * h // 4, w // 4 + shift: 3 * w // 4] = 1
    label[h // 3: h // 2, w // 3: w // 2] = 2
    return label


@pytest.fixture
def folders(tmp_path):
    """images/*.jpg (RGB) with masks/*_mask.png as index PNGs, palette PNGs and P-mode PNGs."""
    rng = np.random.default_rng(0)
    images, index, colour, pmode = (tmp_path / n for n in ("images", "index", "colour", "pmode"))
    for folder in (images, index, colour, pmode):
        folder.mkdir()
    for i, stem in enumerate(["a01", "a02", "b07"]):
        Image.fromarray(_scan(rng, 48, 64, doppler=stem == "b07")).save(images / f"{stem}.png")
        label = _label(48, 64, shift=i)
        Image.fromarray(label).save(index / f"{stem}_mask.png")
        Image.fromarray(COLOURS[label]).save(colour / f"{stem}_mask.png")
        p = Image.fromarray(label, mode="P")
        p.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
        p.save(pmode / f"{stem}_mask.png")
    return tmp_path


def test_index_masks_with_class_names(folders):
    ds = importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask",
                                 class_names=["background", "ovary", "follicle"], organ="ovary")
    assert ds["sample_id"].values.tolist() == ["a01", "a02", "b07"]
    assert imageset.class_names_of(ds) == ["background", "ovary", "follicle"]
    np.testing.assert_array_equal(ds["label"].values[1], _label(48, 64, shift=1))
    with Image.open(folders / "images" / "a02.png") as img:
        expected = np.asarray(img.convert("L"), dtype=np.int16)  # PIL's ITU-R 601 luma
    assert np.abs(ds["image"].values[1].astype(np.int16) - expected).max() <= 1
    assert ds.attrs["method"] == f"real:{folders.name}/images" and (ds["seed"].values == -1).all()
    assert np.isnan(ds["seconds"].values).all()


def test_palette_masks_give_the_same_labels(folders):
    by_index = importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask",
                                       class_names=["background", "ovary", "follicle"])
    for folder in ("colour", "pmode"):
        ds = importers.import_folder(folders / "images", folders / folder, mask_suffix="_mask", palette=PALETTE)
        assert imageset.class_names_of(ds) == ["background", "ovary", "follicle"]
        np.testing.assert_array_equal(ds["label"].values, by_index["label"].values)


def test_p_mode_masks_without_palette_are_indices(folders):
    ds = importers.import_folder(folders / "images", folders / "pmode", mask_suffix="_mask")
    assert imageset.class_names_of(ds) == ["class_0", "class_1", "class_2"]
    np.testing.assert_array_equal(ds["label"].values[0], _label(48, 64))


def test_colour_overlay_exclusion(folders):
    ds = importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask",
                                 max_color_fraction=0.01)
    assert ds["sample_id"].values.tolist() == ["a01", "a02"]
    assert imageset.params_of(ds)["excluded_color"] == ["b07"]


def test_letterbox_keeps_aspect_and_records_millimetres(folders):
    ds = importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask",
                                 size=(32, 32), pixel_mm=0.1)
    # 48x64 -> scale 0.5 -> 24x32, padded by 4 rows above and below with class 0 / black.
    assert ds["label"].values[:, :4].max() == 0 and ds["label"].values[:, -4:].max() == 0
    assert ds["image"].values[:, :4].max() == 0
    np.testing.assert_array_equal(ds["label"].values[0, 4:28], raster.resample_label(_label(48, 64), (24, 32)))
    np.testing.assert_allclose(np.diff(ds["y_mm"].values), 0.2)
    assert ds["y_mm"].values[4] == pytest.approx(0.1) and ds["x_mm"].values[0] == pytest.approx(0.1)


def test_resize_stretches(folders):
    ds = importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask",
                                 size=(32, 32), fit="resize", pixel_mm=0.1)
    assert ds.sizes["y"] == 32 and ds["label"].values[:, :4].max() == 0
    assert ds["label"].values[:, 12:20, 12:20].min() > 0  # the inclusion now reaches the middle rows
    np.testing.assert_allclose(np.diff(ds["y_mm"].values), 0.15)
    np.testing.assert_allclose(np.diff(ds["x_mm"].values), 0.2)


def test_sources_of_different_sizes_need_size(folders):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(folders / "images" / "c01.png")
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(folders / "index" / "c01_mask.png")
    with pytest.raises(UsageError, match="differ in size.*--size"):
        importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask")
    ds = importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask", size=(32, 32),
                                 pixel_mm=0.1)
    assert ds.sizes["sample"] == 4 and "y_mm" not in ds.coords  # no common physical grid


def test_resample_image_antialiases_when_shrinking():
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small = raster.resample_image(checker, (16, 16))
    assert abs(float(small.mean()) - 127.5) < 3 and small.std() < 10  # no aliased pattern survives


@pytest.mark.parametrize("make_problem, message", [
    (lambda f: (f / "images" / "a01.png").write_bytes(b"not a png"), "cannot read image"),
    (lambda f: (f / "index" / "zz9_mask.png").write_bytes((f / "index" / "a01_mask.png").read_bytes()),
     "without a matching image"),
    (lambda f: (f / "images" / "a01.png").rename(f / "images" / "renamed.png"), "without a matching image"),
    (lambda f: (f / "index" / "b07_mask.png").unlink(), "image.* without a mask"),
])
def test_folder_errors(folders, make_problem, message):
    make_problem(folders)
    with pytest.raises(UsageError, match=message):
        importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask")


def test_folder_errors_on_labels_and_empty_folders(folders, tmp_path):
    with pytest.raises(UsageError, match="label value 2 is outside"):
        importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask",
                                class_names=["background", "ovary"])
    with pytest.raises(UsageError, match="colour-coded: pass --palette"):
        importers.import_folder(folders / "images", folders / "colour", mask_suffix="_mask")
    with pytest.raises(UsageError, match=r"colour \(255, 0, 0\).*not in --palette"):
        importers.import_folder(folders / "images", folders / "colour", mask_suffix="_mask",
                                palette="0,0,0=background;0,255,0=follicle")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        importers.import_folder(tmp_path / "empty", folders / "index")
    with pytest.raises(UsageError, match="does not exist"):
        importers.import_folder(tmp_path / "absent", folders / "index")


@pytest.mark.parametrize("text", ["0,0,0", "0,0=bg", "0,0,300=bg", "0,0,0=bg;0,0,0=fg", "a,b,c=bg", ""])
def test_bad_palettes(text):
    with pytest.raises(UsageError, match="palette"):
        importers.parse_palette(text)


@pytest.fixture
def archive(tmp_path):
    rng = np.random.default_rng(1)
    n = 8
    masks = np.zeros((n, 32, 32), np.uint8)
    image_class = np.array([1, 2, 1, 2, 1, 2, 1, 2])
    for i in range(n):
        masks[i, 8:20, 8:20] = image_class[i]
    path = tmp_path / "set_256.npz"
    np.savez(path, images=rng.integers(0, 256, (n, 32, 32), dtype=np.uint8), masks=masks,
             class_names=np.array(["background", "cyst", "normal_ovary", "unused"]),
             image_class=image_class, split=np.array(["train"] * 6 + ["validation"] * 2),
             ids=np.array([f"id{i}" for i in range(n)]), chroma_frac=np.array([0, 0.5] + [0] * 6, np.float32),
             pixel_mm=np.float32(0.05), orig_hw=np.array([[530, 960], [530, 480]] * 4))
    return path


def test_npz_with_selection_and_class_remapping(archive):
    ds = importers.import_npz(archive, organ="ovary", split="train", image_class="normal_ovary",
                              max_color_fraction=0.01, drop_unused_classes=True, rename={"normal_ovary": "ovary"})
    assert ds["sample_id"].values.tolist() == ["id3", "id5"]  # id1 excluded as colour, id7 is validation
    assert imageset.class_names_of(ds) == ["background", "ovary"]
    assert set(np.unique(ds["label"].values)) == {0, 1}
    assert ds.attrs["method"] == "real:set_256" and ds.attrs["organ"] == "ovary"
    params = imageset.params_of(ds)
    assert params["excluded_color"] == ["id1"] and len(params["source_sha256"]) == 64
    np.testing.assert_allclose(ds["y_mm"].values[:2], [0.025, 0.075])


def test_npz_selects_by_the_source_aspect_before_the_resize(archive):
    """The archive's images are all 32 x 32: the selection reads the original shapes (orig_hw)."""
    wide = importers.import_npz(archive, source_aspect=(1.5, 3))
    assert wide["sample_id"].values.tolist() == ["id0", "id2", "id4", "id6"]
    params = imageset.params_of(wide)
    assert params["source_aspect"] == [1.5, 3] and params["excluded_aspect"] == ["id1", "id3", "id5", "id7"]
    narrow = importers.import_npz(archive, source_aspect=(0.5, 1.0), split="train")
    assert narrow["sample_id"].values.tolist() == ["id1", "id3", "id5"]
    with pytest.raises(UsageError, match="no images left to import after selection .2 excluded by their source's"):
        importers.import_npz(archive, source_aspect=(3, 4), split="validation")
    with pytest.raises(UsageError, match="not a range of width/height ratios"):
        importers.import_npz(archive, source_aspect=(2, 1))


def test_source_aspect_needs_the_original_shapes(tmp_path, folders):
    path = tmp_path / "plain.npz"
    np.savez(path, images=np.zeros((2, 8, 8), np.uint8), masks=np.zeros((2, 8, 8), np.uint8), class_names=np.array(["bg"]))
    with pytest.raises(UsageError, match="archive without 'orig_hw', so --source-aspect cannot be applied"):
        importers.import_npz(path, source_aspect=(1, 2))
    np.savez(path, images=np.zeros((2, 8, 8), np.uint8), masks=np.zeros((2, 8, 8), np.uint8), class_names=np.array(["bg"]),
             orig_hw=np.array([[10, 0], [10, 20]]))
    with pytest.raises(UsageError, match="'orig_hw' must hold a positive height and width per image"):
        importers.import_npz(path)
    # a folder's images are their own source: 48 x 64 px, width/height 1.33
    kept = importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask", source_aspect=(1.3, 1.4))
    assert kept.sizes["sample"] == 3
    with pytest.raises(UsageError, match="3 excluded by their source's aspect ratio"):
        importers.import_folder(folders / "images", folders / "index", mask_suffix="_mask", source_aspect=(0.5, 1.3))


def test_npz_keeps_everything_by_default_and_resizes(archive):
    ds = importers.import_npz(archive, size=(16, 16))
    assert ds.sizes == {"sample": 8, "y": 16, "x": 16}
    assert imageset.class_names_of(ds)[-1] == "unused"
    np.testing.assert_allclose(np.diff(ds["x_mm"].values), 0.1)


def test_npz_image_class_from_masks_when_archive_lacks_it(tmp_path):
    masks = np.zeros((3, 8, 8), np.uint8)
    masks[1, 2:4, 2:4] = 1
    path = tmp_path / "plain.npz"
    np.savez(path, images=np.zeros((3, 8, 8), np.uint8), masks=masks, class_names=np.array(["bg", "x"]))
    assert importers.import_npz(path, image_class="x")["sample_id"].values.tolist() == ["000001"]


@pytest.mark.parametrize("arrays, message", [
    (dict(images=np.zeros((3, 8, 8), np.uint8), masks=np.zeros((3, 8, 9), np.uint8), class_names=np.array(["a"])),
     "wrong shapes"),
    (dict(images=np.zeros((2, 8, 8), np.uint8), masks=np.full((2, 8, 8), 3, np.uint8),
          class_names=np.array(["a", "b"])), "label value 3 is outside"),
    (dict(images=np.zeros((2, 8, 8), np.uint8), masks=np.zeros((2, 8, 8), np.uint8)), "lacks class_names"),
    (dict(images=np.zeros((2, 8, 8), np.uint8), masks=np.zeros((2, 8, 8), np.float32),
          class_names=np.array(["a"])), "integer class indices"),
])
def test_npz_errors(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(UsageError, match=message):
        importers.import_npz(path)


def test_npz_selection_errors(archive, tmp_path):
    with pytest.raises(UsageError, match="unknown split"):
        importers.import_npz(archive, split="test")
    with pytest.raises(UsageError, match="unknown image class"):
        importers.import_npz(archive, image_class="liver")
    with pytest.raises(UsageError, match="--rename names unknown"):
        importers.import_npz(archive, rename={"liver": "x"})
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(UsageError, match="not a readable .npz"):
        importers.import_npz(tmp_path / "junk.npz")


# Pixel values of every numeric type: one rule for both importers (raster.PIXEL_RULE).

def _archive_with(tmp_path, images):
    path = tmp_path / "values.npz"
    np.savez(path, images=images, masks=np.zeros(images.shape[:3], np.uint8), class_names=np.array(["bg"]),
             ids=np.array([f"s{i}" for i in range(len(images))]))
    return path


@pytest.mark.parametrize("values, dtype, expected", [
    ([0.0, 0.5, 1.0, 0.002], np.float32, [0, 128, 255, 1]),          # float: round(255 v)
    ([0, 257, 65535, 128], np.uint16, [0, 1, 255, 0]),               # uint16: round(v / 257)
    ([-32768, 0, 32767, -32640], np.int16, [0, 128, 255, 0]),        # int16: round((v + 32768) / 257)
    ([0, 7, 255, 100], np.int64, [0, 7, 255, 100]),                  # other integers within 0..255: kept
])
def test_npz_pixel_values_are_scaled_by_their_type(tmp_path, values, dtype, expected):
    images = np.broadcast_to(np.array(values, dtype).reshape(1, 2, 2), (2, 2, 2)).copy()
    ds = importers.import_npz(_archive_with(tmp_path, images))
    assert ds["image"].dtype == np.uint8 and ds["image"].values[1].ravel().tolist() == expected


@pytest.mark.parametrize("bad, message", [
    (np.nan, r"sample 's1': 1 NaN or infinite pixel value\(s\), the first at \(y=1, x=0\); allowed: finite"),
    (np.inf, r"sample 's1': 1 NaN or infinite pixel value"),
    (1.5, r"sample 's1': float pixel values span 0.5..1.5; allowed: 0..1 \(scaled to 0..255 by round\(255\*v\)\)"),
    (-0.25, r"sample 's1': float pixel values span -0.25..0.5; allowed: 0..1"),
])
def test_npz_refuses_nan_inf_and_floats_outside_0_1(tmp_path, bad, message):
    images = np.full((2, 2, 2), 0.5, np.float32)
    images[1, 1, 0] = bad
    with pytest.raises(UsageError, match=message):
        importers.import_npz(_archive_with(tmp_path, images))


def test_npz_refuses_wide_integers_outside_0_255(tmp_path):
    images = np.zeros((1, 2, 2), np.int32)
    images[0, 0, 0] = 4000
    with pytest.raises(UsageError, match=r"sample 's0': int32 pixel values span 0..4000; allowed: 0..255"):
        importers.import_npz(_archive_with(tmp_path, images))


def _folder_of(tmp_path, pixels, write):
    images, masks = tmp_path / "img", tmp_path / "msk"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    write(pixels, images)
    Image.fromarray(np.zeros(pixels.shape, np.uint8)).save(masks / "a.png")
    return images, masks


def test_folder_16_bit_png_and_tiff_and_float_tiff(tmp_path):
    import tifffile  # writes the signed 16-bit and float TIFFs that scanners and pipelines export
    cases = [
        (np.array([[0, 257], [65535, 32896]], np.uint16), lambda p, d: Image.fromarray(p).save(d / "a.png"),
         [[0, 1], [255, 128]]),
        (np.array([[0, 257], [65535, 32896]], np.uint16), lambda p, d: tifffile.imwrite(d / "a.tif", p),
         [[0, 1], [255, 128]]),
        (np.array([[-32768, 0], [32767, -32511]], np.int16), lambda p, d: tifffile.imwrite(d / "a.tif", p),
         [[0, 128], [255, 1]]),
        (np.array([[0.0, 0.5], [1.0, 0.25]], np.float32), lambda p, d: tifffile.imwrite(d / "a.tif", p),
         [[0, 128], [255, 64]]),
    ]
    for index, (pixels, write, expected) in enumerate(cases):
        images, masks = _folder_of(tmp_path / str(index), pixels, write)
        ds = importers.import_folder(images, masks, class_names=["bg"])
        assert ds["image"].values[0].tolist() == expected, (index, pixels.dtype)


def test_folder_refuses_nan_and_out_of_range_float_tiffs(tmp_path):
    import tifffile
    for index, (bad, message) in enumerate([(np.nan, "NaN or infinite pixel value"),
                                            (2.0, "float pixel values span 0..2; allowed: 0..1")]):
        pixels = np.array([[0.0, 0.5], [bad, 1.0]], np.float32)
        images, masks = _folder_of(tmp_path / str(index), pixels, lambda p, d: tifffile.imwrite(d / "a.tif", p))
        with pytest.raises(UsageError, match=f"image {images / 'a.tif'}: .*{message}"):
            importers.import_folder(images, masks, class_names=["bg"])
