"""The PQ tokenizer: similar content -> shared tokens, the id layout, validation, files."""

import json
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

import motor  # noqa: F401  (OpenMP policy before faiss/torch)
from motor.config import from_dict
from motor.errors import MotorError
from motor.tokenizer import ModalityPQConfig, Tokenizer, TokenizerConfig, fit_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def clustered(n=400, d=32, clusters=8, noise=0.05, seed=0):
    """``clusters`` well separated Gaussian blobs; returns features and cluster labels."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    labels = rng.integers(0, clusters, n)
    return (centres[labels] + noise * rng.standard_normal((n, d))).astype(np.float32), labels


@pytest.fixture(scope="module")
def two_modalities():
    """Two modalities with different M and K: image M=4 K=16 (32-d), text M=2 K=8 (12-d)."""
    img, labels = clustered()
    txt, _ = clustered(d=12, seed=1)
    cfg = TokenizerConfig(m=4, k=16, per_modality={"text": ModalityPQConfig(m=2, k=8)})
    return {"image": img, "text": txt}, cfg, fit_tokenizer({"image": img, "text": txt}, cfg)


def test_items_of_a_cluster_share_tokens():
    x, labels = clustered()
    calls = []
    tok = fit_tokenizer({"a": x}, TokenizerConfig(m=4, k=16), progress=lambda f, msg: calls.append((f, msg)))
    assert [f for f, _ in calls] == [0.0, 1.0] and "a" in calls[0][1]
    shared = np.stack([tok.shared_token_counts(i) for i in range(len(x))])
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    other = labels[:, None] != labels[None, :]
    assert (shared[same] >= tok.n_tokens / 2).mean() > 0.6
    assert shared[other].mean() / tok.n_tokens < 0.1
    assert tok.report()["modalities"]["a"]["recon_error"] < 0.05
    first = tok.most_sharing(0, 5)
    assert all(labels[i] == labels[0] and i != 0 for i, _ in first)


def test_token_id_layout(two_modalities):
    _, _, tok = two_modalities
    assert tok.modalities == ["image", "text"]
    assert tok.m == {"image": 4, "text": 2} and tok.k == {"image": 16, "text": 8}
    assert tok.token_ids.shape == (400, 6) and tok.token_ids.dtype == np.int64
    assert tok.vocab_size == 4 * 16 + 2 * 8
    assert tok.slot_offset.tolist() == [0, 16, 32, 48, 64, 72]
    assert tok.slot_modality.tolist() == [0, 0, 0, 0, 1, 1]
    assert tok.slot_subspace.tolist() == [0, 1, 2, 3, 0, 1]
    slot_k = np.array([16, 16, 16, 16, 8, 8])
    assert ((tok.codes >= 0) & (tok.codes < slot_k)).all()
    np.testing.assert_array_equal(tok.token_ids, tok.codes + tok.slot_offset)
    assert ((tok.token_ids >= tok.slot_offset) & (tok.token_ids < tok.slot_offset + slot_k)).all()
    assert tok.token_ids.min() >= 0 and tok.token_ids.max() < tok.vocab_size
    assert tok.token_label(66) == "text s0 c2" and tok.token_label(17) == "image s1 c1"
    tid = int(tok.token_ids[5, 4])
    assert 5 in tok.items_with_token(tid) and (tok.token_ids[tok.items_with_token(tid), 4] == tid).all()
    with pytest.raises(MotorError, match="0..79"):
        tok.token_label(80)
    for bad in ("3", 3.0, None, True):  # "3" was a TypeError from comparing it with 0
        with pytest.raises(MotorError, match=f"token ids are whole numbers from 0 to 79, got {bad!r}"):
            tok.token_label(bad)
    assert tok.token_label(np.int64(66)) == "text s0 c2"


def test_most_sharing_needs_a_positive_k(two_modalities):
    _, _, tok = two_modalities
    assert len(tok.most_sharing(0, 3)) == 3
    for bad in (-1, 0, 2.5, "3"):  # k=-1 returned every item but the last
        with pytest.raises(MotorError, match="k must be a whole number of at least 1"):
            tok.most_sharing(0, bad)


def test_report_is_json_and_consistent(two_modalities):
    _, _, tok = two_modalities
    r = json.loads(json.dumps(tok.report()))
    assert r["tokens_per_item"] == 6 and r["vocab_size"] == 80 and r["n_items"] == 400
    img = r["modalities"]["image"]
    assert img["dims"] == "32 divisible by 4: unchanged" and img["d_used"] == 32 and img["normalize"] == "l2"
    assert len(img["codewords_used"]) == 4 and img["unused_tokens"] == 64 - sum(img["codewords_used"])
    assert img["items_per_token"]["mean"] == pytest.approx(400 * 4 / sum(img["codewords_used"]))
    assert 0 <= r["collision_rate"] <= img["code_collision_rate"] <= 1
    text = tok.format_report()
    assert "image" in text and "text" in text and "V = 80" in text


def test_seeded_fit_is_deterministic(two_modalities):
    feats, cfg, tok = two_modalities
    again = fit_tokenizer(feats, cfg)
    np.testing.assert_array_equal(tok.token_ids, again.token_ids)
    other = fit_tokenizer(feats, TokenizerConfig(m=4, k=16, seed=1, per_modality=cfg.per_modality))
    assert not np.array_equal(tok.codebooks["image"], other.codebooks["image"])


def test_codes_agree_with_faiss():
    x, _ = clustered()
    tok = fit_tokenizer({"a": x}, TokenizerConfig(m=4, k=256, normalize="none"))
    codec = tok.codecs[0]
    pq = faiss.ProductQuantizer(32, 4, 8)
    faiss.copy_array_to_vector(codec.codebook.ravel(), pq.centroids)
    np.testing.assert_array_equal(pq.compute_codes(x).astype(np.int64), tok.codes)


def test_encode_reproduces_fitted_ids_and_handles_new_items(two_modalities):
    feats, _, tok = two_modalities
    np.testing.assert_array_equal(tok.encode(feats), tok.token_ids)
    rng = np.random.default_rng(5)
    near = {k: v[:10] + 1e-4 * rng.standard_normal(v[:10].shape).astype(np.float32) for k, v in feats.items()}
    np.testing.assert_array_equal(tok.encode(near), tok.token_ids[:10])
    with pytest.raises(MotorError, match="'image', 'text'"):
        tok.encode({"image": feats["image"]})
    with pytest.raises(MotorError, match="fitted on 12"):
        tok.encode({"image": feats["image"], "text": feats["image"]})


@pytest.mark.parametrize("dim_fix, d_used, note", [("pad", 32, "padded 30 -> 32"), ("pca", 24, "PCA 30 -> 24")])
def test_dimension_not_divisible_by_m(dim_fix, d_used, note):
    x, _ = clustered(d=30)
    tok = fit_tokenizer({"a": x}, TokenizerConfig(m=8, k=16, dim_fix=dim_fix))
    r = tok.report()["modalities"]["a"]
    assert r["d_in"] == 30 and r["d_used"] == d_used and r["dims"].startswith(note)
    assert tok.codebooks["a"].shape == (8, 16, d_used // 8)
    assert r["recon_error"] < 0.1
    np.testing.assert_array_equal(tok.encode({"a": x}), tok.token_ids)


def test_opq_path():
    # All variance in the first 8 of 48 dims, i.e. in one of 4 sub-spaces: plain PQ wastes 3 of
    # its sub-quantizers, a learned rotation spreads the variance (about 0.56 -> 0.11 error).
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((400, 48)) * np.r_[np.full(8, 3.0), np.full(40, 0.1)]).astype(np.float32)
    cfg = TokenizerConfig(m=4, k=16, normalize="none", opq=True)
    plain = fit_tokenizer({"a": x}, TokenizerConfig(m=4, k=16, normalize="none"))
    tok = fit_tokenizer({"a": x}, cfg)
    rot = tok.codecs[0].projection
    np.testing.assert_allclose(rot.T @ rot, np.eye(48), atol=1e-4)
    r = tok.report()["modalities"]["a"]
    assert r["opq"] is True and r["d_used"] == 48
    assert r["recon_error"] < 0.5 * plain.report()["modalities"]["a"]["recon_error"]
    np.testing.assert_array_equal(tok.encode({"a": x}), tok.token_ids)
    np.testing.assert_array_equal(fit_tokenizer({"a": x}, cfg).token_ids, tok.token_ids)


def test_opq_reduces_large_dimensions_by_pca(monkeypatch):
    monkeypatch.setattr("motor.tokenizer.OPQ_MAX_DIM", 16)
    x, _ = clustered(d=40)
    tok = fit_tokenizer({"a": x}, TokenizerConfig(m=4, k=16, opq=True))
    r = tok.report()["modalities"]["a"]
    assert r["d_used"] == 16 and r["dims"].startswith("PCA 40 -> 16 for OPQ")
    np.testing.assert_array_equal(tok.encode({"a": x}), tok.token_ids)


def test_chunked_steps_give_the_whole_matrix_results(monkeypatch):
    """Encoding, the reconstruction error and PCA's covariance go a chunk of rows at a time (so a large
    catalogue needs no extra full-size copies); with chunks of 7 rows the results match one chunk."""
    from motor.tokenizer import _pca

    x, _ = clustered(n=300, d=40)
    x[5] = 0.0  # a zero row: normalising must not divide by zero
    cfg = TokenizerConfig(m=4, k=16)
    whole = fit_tokenizer({"a": x}, cfg)
    y = (np.random.default_rng(0).standard_normal((300, 40)) * np.linspace(3, 0.1, 40)).astype(np.float32)
    pca_whole = _pca(y, 16)  # distinct variances, so the eigenvectors are well defined
    monkeypatch.setattr("motor.tokenizer.CHUNK", 7)
    chunked = fit_tokenizer({"a": x}, cfg)
    np.testing.assert_array_equal(chunked.token_ids, whole.token_ids)
    assert chunked.codecs[0].recon_error == pytest.approx(whole.codecs[0].recon_error, rel=1e-5)
    np.testing.assert_array_equal(chunked.encode({"a": x}), whole.token_ids)
    basis, kept = _pca(y, 16)
    assert kept == pytest.approx(pca_whole[1], rel=1e-4)
    np.testing.assert_allclose(basis, pca_whole[0], atol=1e-3)  # signs are fixed, so the same vectors
    centred = y - y.mean(0)  # and they are the covariance's top eigenvectors
    top = np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :16]
    np.testing.assert_allclose(np.abs(basis.T @ top).max(0), 1.0, atol=1e-3)


def test_large_catalogues_learn_codebooks_from_a_seeded_sample_and_tokenize_every_item(tmp_path):
    x, labels = clustered(n=300, d=32)
    cfg = TokenizerConfig(m=4, k=16, fit_per_codeword=4)  # 4 x 16 = 64 of the 300 items
    tok = fit_tokenizer({"a": x}, cfg)
    assert tok.codecs[0].learnt_from == 64 and tok.report()["modalities"]["a"]["learnt_from_items"] == 64
    np.testing.assert_array_equal(tok.encode({"a": x}), tok.token_ids)  # every item, the same path as encode
    np.testing.assert_array_equal(fit_tokenizer({"a": x}, cfg).token_ids, tok.token_ids)  # seeded
    same = labels[:, None] == labels[None, :]  # the sample still separates the clusters: items of one cluster
    shared = (tok.token_ids[:, None, :] == tok.token_ids[None, :, :]).mean(-1)  # share more tokens than others
    assert shared[same].mean() > 3 * shared[~same].mean()
    everyone = fit_tokenizer({"a": x}, TokenizerConfig(m=4, k=16, fit_per_codeword=0))
    assert everyone.codecs[0].learnt_from == 0 and everyone.report()["modalities"]["a"]["learnt_from_items"] == 300
    assert fit_tokenizer({"a": x}, TokenizerConfig(m=4, k=16)).codecs[0].learnt_from == 0  # 300 <= 256 x 16
    assert Tokenizer.load(tok.save(tmp_path / "t")).codecs[0].learnt_from == 64


def test_save_load_round_trip(two_modalities, tmp_path):
    feats, _, tok = two_modalities
    pca = fit_tokenizer({"a": clustered(d=30)[0]}, TokenizerConfig(m=8, k=16, dim_fix="pca", opq=True))
    for t, f in [(tok, feats), (pca, {"a": clustered(d=30)[0]})]:
        back = Tokenizer.load(t.save(tmp_path / t.modalities[0]))
        np.testing.assert_array_equal(back.token_ids, t.token_ids)
        for name in t.modalities:
            np.testing.assert_array_equal(back.codebooks[name], t.codebooks[name])
        np.testing.assert_array_equal(back.encode(f), t.encode(f))
        assert back.report() == t.report() and back.config == t.config
    with np.load(tmp_path / "a" / "tokenizer.npz", allow_pickle=False) as z:
        assert "projection_0" in z.files
    with pytest.raises(MotorError, match="no tokenizer"):
        Tokenizer.load(tmp_path / "missing")


def test_a_damaged_or_foreign_tokenizer_folder_is_named_on_loading(two_modalities, tmp_path):
    # these were a JSONDecodeError, "'list' object has no attribute 'get'" and a KeyError from the .npz
    _, _, tok = two_modalities
    for text in ("{", "[]", '{"version": "1.0", "model": {"type": "WordPiece"}}'):
        folder = tok.save(tmp_path / f"t{len(text)}")
        (folder / "tokenizer.json").write_text(text)
        with pytest.raises(MotorError, match="tokenizer.json was not written by Tokenizer.save"):
            Tokenizer.load(folder)
    folder = tok.save(tmp_path / "npz")
    np.savez(folder / "tokenizer.npz", codes=tok.codes)  # the codebooks lost
    with pytest.raises(MotorError, match="tokenizer.npz does not match tokenizer.json or is damaged"):
        Tokenizer.load(folder)
    (folder / "tokenizer.npz").write_bytes(b"not a zip")
    with pytest.raises(MotorError, match="tokenizer.npz does not match tokenizer.json or is damaged"):
        Tokenizer.load(folder)


def test_save_refuses_to_overwrite_files_it_did_not_write(two_modalities, tmp_path):
    _, _, tok = two_modalities
    hf = tmp_path / "bert"  # a Hugging Face model folder holds a tokenizer.json of its own
    hf.mkdir()
    (hf / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "WordPiece"}}')
    (hf / "config.json").write_text("{}")
    with pytest.raises(MotorError, match=r"bert already holds tokenizer.json that a motor-lab tokenizer did not"):
        tok.save(hf)
    assert (hf / "tokenizer.json").read_text().startswith('{"version"') and not (hf / "tokenizer.npz").exists()
    (tmp_path / "stray").mkdir()
    (tmp_path / "stray" / "tokenizer.npz").write_bytes(b"x")
    with pytest.raises(MotorError, match="tokenizer.npz that a motor-lab tokenizer did not write"):
        tok.save(tmp_path / "stray")
    (tmp_path / "a-file").write_text("mine")
    with pytest.raises(MotorError, match="a-file is a file, not a folder"):
        tok.save(tmp_path / "a-file")
    assert (tmp_path / "a-file").read_text() == "mine"
    with pytest.raises(MotorError, match="inside .*a-file, which is a file, not a folder"):  # was NotADirectoryError
        tok.save(tmp_path / "a-file" / "deeper" / "tok")
    assert (tmp_path / "a-file").read_text() == "mine"
    # its own files are replaced, and other files in the folder are left alone
    own = tmp_path / "own"
    tok.save(own)
    (own / "notes.txt").write_text("keep")
    np.testing.assert_array_equal(Tokenizer.load(tok.save(own)).token_ids, tok.token_ids)
    assert (own / "notes.txt").read_text() == "keep"


@pytest.mark.parametrize("features, cfg, message", [
    ({"a": clustered(n=40)[0]}, TokenizerConfig(m=4, k=64), "k=64 codewords exceed the 40 items.*32"),
    ({"a": clustered(d=6)[0]}, TokenizerConfig(m=8, k=16), "m=8 sub-vectors exceed its 6 dims.*1, 2, 3, 6"),
    ({"a": clustered()[0]}, TokenizerConfig(m=4, k=100), "k=100.*power of two.*64 or 128"),
    ({"a": clustered()[0]}, TokenizerConfig(m=0, k=16), "m=0"),
    ({"a": np.where(np.arange(32) == 3, np.nan, clustered()[0])}, TokenizerConfig(m=4, k=16), "NaN.*400 rows"),
    ({"a": clustered()[0], "b": clustered(n=300)[0]}, TokenizerConfig(m=4, k=16), "different numbers of rows"),
    ({"a": clustered()[0]}, TokenizerConfig(m=4, k=16, per_modality={"image": ModalityPQConfig(m=2)}),
     "'image'.*available modalities: 'a'"),
    ({}, TokenizerConfig(), "no modalities"),
    ({"a": np.zeros((400, 0), np.float32)}, TokenizerConfig(), "non-empty"),
    ({"a": clustered()[0]}, TokenizerConfig(m=4, k=16, per_modality={"a": ModalityPQConfig(k=12)}),
     r"per_modality\['a'\]: k=12.*8 or 16"),
])
def test_validation_errors(features, cfg, message):
    with pytest.raises(MotorError, match=message):
        fit_tokenizer(features, cfg)


def test_config_from_dict():
    cfg = from_dict(TokenizerConfig, {"m": 4, "opq": True, "per_modality": {"text": {"m": 2, "dim_fix": "pca"}}})
    assert cfg.for_modality("text") == ModalityPQConfig(m=2, k=64, normalize="l2", opq=True, dim_fix="pca")
    assert cfg.for_modality("image") == ModalityPQConfig(m=4, k=64, normalize="l2", opq=True, dim_fix="pad")
    with pytest.raises(MotorError, match="did you mean 'opq'"):
        from_dict(TokenizerConfig, {"opqq": True})
    with pytest.raises(MotorError, match="unknown setting 'nbits'"):
        from_dict(TokenizerConfig, {"per_modality": {"text": {"nbits": 6}}})
    with pytest.raises(MotorError, match="power of two"):
        from_dict(TokenizerConfig, {"k": 48})


def test_torch_and_faiss_share_openmp_in_one_process():
    """torch matmul, faiss PQ fit, torch again: no hang or crash from the shared libgomp."""
    script = (
        "import motor, torch, numpy as np\n"
        "from motor.tokenizer import TokenizerConfig, fit_tokenizer\n"
        "a = torch.randn(512, 512); s = float((a @ a).sum())\n"
        "x = np.random.default_rng(0).standard_normal((2000, 64)).astype('float32')\n"
        "tok = fit_tokenizer({'a': x}, TokenizerConfig(m=8, k=64))\n"
        "assert torch.allclose(a @ a, a @ a) and tok.token_ids.shape == (2000, 8)\n"
        "print('ok', torch.get_num_threads())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


# --- items without a modality's content: the missing token ------------------------------------------------


@pytest.fixture(scope="module")
def with_missing():
    img, _ = clustered(seed=3)
    txt, _ = clustered(d=12, seed=4)
    present = np.ones(len(img), bool)
    present[::3] = False  # a third of the items have no image
    img = img.copy()
    img[~present] = 0.0  # the loader's zero fill
    cfg = TokenizerConfig(m=4, k=16, per_modality={"text": ModalityPQConfig(m=2, k=8)})
    return img, txt, present, cfg, fit_tokenizer({"image": img, "text": txt}, cfg, present={"image": present})


def test_missing_items_get_a_reserved_token_per_image_slot(with_missing):
    *_, present, _cfg, tok = with_missing
    assert tok.vocab_size == 4 * (16 + 1) + 2 * 8  # one extra id per image slot, none for complete text
    image_slots = np.flatnonzero(tok.slot_modality == 0)
    missing_ids = tok.slot_offset[image_slots] + 16
    assert (tok.token_ids[~present][:, image_slots] == missing_ids).all()
    assert not np.isin(tok.token_ids[present][:, image_slots], missing_ids).any()
    assert (tok.missing_items()["image"] == ~present).all()
    missing_item = int(np.flatnonzero(~present)[0])
    assert [tok.token_label(int(t)) for t in tok.token_ids[missing_item, image_slots]] == [
        f"image s{s} missing" for s in range(len(image_slots))]  # named, not shown as a codeword 'c16'
    assert tok.token_label(int(tok.token_ids[int(np.flatnonzero(present)[0]), image_slots[0]])).startswith("image s0 c")
    r = tok.report()["modalities"]
    assert r["image"]["missing_items"] == int((~present).sum()) and r["text"]["missing_items"] == 0
    assert all(u <= 16 for u in r["image"]["codewords_used"])


def test_codebook_usage_does_not_count_the_missing_token_as_a_codeword(with_missing):
    """The app's 'Codewords in use' read '516 of 512' on the long-tail demo: the reserved missing token of
    each image slot was counted as a used codeword. It is none; its items are counted on their own."""
    from motor.explore import tokens

    *_, present, _cfg, tok = with_missing
    usage = tokens.codebook_usage(tok)
    assert (usage["codewords used"] <= usage["K"]).all(), usage
    image = usage[usage["modality"] == "image"]
    report = tok.report()["modalities"]["image"]
    assert image["codewords used"].tolist() == report["codewords_used"]  # as metrics.json says
    assert (image["missing items"] == int((~present).sum())).all()
    assert (usage[usage["modality"] == "text"]["missing items"] == 0).all()
    assert (image["largest token (items)"] <= int(present.sum())).all()  # the missing token is not a codeword
    assert (image["perplexity"] <= image["K"]).all()


def test_pq_is_fitted_on_present_rows_only(with_missing):
    img, _txt, present, _cfg, tok = with_missing
    alone = fit_tokenizer({"image": img[present]}, TokenizerConfig(m=4, k=16))
    assert np.array_equal(tok.codecs[0].codebook, alone.codecs[0].codebook)
    assert np.array_equal(tok.codes[present][:, :4], alone.codes)
    assert tok.codecs[0].recon_error == pytest.approx(alone.codecs[0].recon_error)


def test_missing_token_encode_save_load_and_codebook_init(with_missing, tmp_path):
    import torch

    from motor.encoders.token_encoder import MotorEncoder, MotorEncoderConfig

    img, txt, present, cfg, tok = with_missing
    assert np.array_equal(tok.encode({"image": img, "text": txt}, present={"image": present}), tok.token_ids)
    back = Tokenizer.load(tok.save(tmp_path / "tok"))
    assert back.vocab_size == tok.vocab_size and np.array_equal(back.token_ids, tok.token_ids)
    assert np.array_equal(back.encode({"image": img, "text": txt}, present={"image": present}), tok.token_ids)
    with pytest.raises(MotorError, match="no missing token"):
        fit_tokenizer({"image": img, "text": txt}, cfg).encode({"image": img, "text": txt}, present={"image": present})
    # the codebooks handed to the encoder line up with the ids (missing row included)
    assert [b.shape[1] for b in tok.codebooks.values()] == [17, 8]
    enc = MotorEncoder(tok.n_items, 16, tok.token_ids, tok.vocab_size, MotorEncoderConfig(init="codebook"),
                       slot_modality=list(tok.slot_modality), codebooks=list(tok.codebooks.values()))
    assert enc(torch.arange(5)).shape == (5, 16)


def test_present_mask_must_match_items(with_missing):
    img, txt, present, cfg, _ = with_missing
    with pytest.raises(MotorError, match="one per item"):
        fit_tokenizer({"image": img, "text": txt}, cfg, present={"image": present[:-1]})
    with pytest.raises(MotorError, match="not among the modalities"):
        fit_tokenizer({"image": img, "text": txt}, cfg, present={"audio": present})


def test_tokenizer_settings_from_python_are_checked_and_a_mapping_is_taken(two_modalities):
    """tokenize(ds, {"m": 4}) raised AttributeError, TokenizerConfig(m=np.int64(2)) a faiss SWIG TypeError."""
    from motor.experiment import tokenize

    feats = {"image": two_modalities[0]["image"]}
    as_map = fit_tokenizer(feats, {"m": 2, "k": 8})
    assert np.array_equal(as_map.token_ids, fit_tokenizer(feats, TokenizerConfig(m=np.int64(2), k=8)).token_ids)
    for cfg, says in (({"mm": 2}, "unknown setting 'mm' for tokenizer"), ("m=2", "must be a TokenizerConfig")):
        with pytest.raises(MotorError, match=says):
            fit_tokenizer(feats, cfg)
    with pytest.raises(MotorError, match="tokenize takes a Dataset"):
        tokenize("demo", TokenizerConfig())
