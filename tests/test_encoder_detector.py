"""The encoder detector: training on a tiny random BERT, ONNX export, int8, chunking, loading errors,
and the real-text corpus pipeline (pool -> votes -> vote -> splits -> training) on a small sample.

The tiny model and its WordPiece tokenizer are built inside the test from our own sentences, so
nothing is downloaded and the test runs in seconds on the CPU.
"""

from __future__ import annotations

import csv
import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cradle.data import Post, Status
from cradle.detectors import SpecError, load_detector
from cradle.detectors.local import EncoderDetector, LocalDetector
from cradle.labels import PostLabel

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")
pytestmark = pytest.mark.finetune

ROOT = Path(__file__).resolve().parents[1]
L = PostLabel
SENTENCES = [
    ("I cut my arm again last night and I cannot stop", (L.SELFHARM_ONGOING,)),
    ("had a quiet week and cooked dinner with friends", (L.NO_CRISIS,)),
    ("I wish I could just disappear and never wake up", (L.SUICIDEIDEATION_PASSIVE_ONGOING,)),
    ("work is fine and the weather is nice today", (L.NO_CRISIS,)),
    ("years ago my ex hit me and it is over now", (L.DOMESTICVIOLENCE_PAST,)),
    ("the garden is growing well this spring", (L.NO_CRISIS,)),
    ("I burned myself with a lighter today again", (L.SELFHARM_ONGOING,)),
    ("finished my exams and I feel relieved", (L.NO_CRISIS,)),
    ("I was raped at a party two years ago", (L.RAPE_PAST,)),
    ("my cat knocked over the plant again lol", (L.NO_CRISIS,)),
    ("I bought the pills and wrote the note tonight", (L.SUICIDEIDEATION_ACTIVE_ONGOING,)),
    ("my husband hits me when he drinks", (L.DOMESTICVIOLENCE_ONGOING,)),
]


def tiny_bert(folder: Path) -> Path:
    """A randomly initialised 2-layer BERT and a WordPiece tokenizer trained on our sentences."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator([s for s, _ in SENTENCES] * 3, trainer)
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from cradle.pipelines.training.train_encoder import EncoderTrainSettings, train_encoder_model

    root = tmp_path_factory.mktemp("enc")
    base = tiny_bert(root / "base")
    posts = [Post(f"p{i}", s, labels) for i, (s, labels) in enumerate(SENTENCES)]
    settings = EncoderTrainSettings(max_tokens=16, stride=4, train_layers=1, epochs=3, batch_size=4, lr=1e-3, head_lr=1e-2, threads=1)
    meta = train_encoder_model(posts * 2, posts, root / "model", settings, base=base, provenance={"data": "test sentences"})
    return root / "model", meta, base


def test_training_writes_a_loadable_folder(trained):
    folder, meta, _ = trained
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.onnx", "tokenizer.json"]
    assert meta["format"] == "cradle-encoder-detector" and meta["labels"][-1] == "no_crisis"
    assert len(meta["heads"]) == 15 and meta["heads"][0].startswith("type:")
    assert [e["epoch"] for e in meta["training"]["epochs"]] == [1, 2, 3]
    assert meta["int8"]["tried"] and isinstance(meta["int8"]["kept"], bool)
    assert set(meta["thresholds"]) == {x.value for x in PostLabel}
    det = LocalDetector.load(str(folder))
    assert isinstance(det, EncoderDetector)
    preds = det.predict(["I cut my arm again last night", "the weather is nice"])
    assert all(p.status is Status.OK and len(p.scores) == 15 for p in preds)
    assert all(0.0 <= v <= 1.0 for p in preds for v in p.scores.values())


def test_loss_falls_over_epochs(trained):
    losses = [e["train_loss"] for e in trained[1]["training"]["epochs"]]
    assert losses[-1] < losses[0]


def test_onnx_graph_matches_torch(trained, tmp_path):
    """The exported graph computes what the network computes (fp32 export, before int8)."""
    from cradle.detectors.local.encoder import EncoderModel

    folder, meta, base = trained
    model = EncoderModel.load(folder)
    ids, _ = model.chunks(["I cut my arm again", "the garden is growing well"])
    logits = model.chunk_logits(ids)
    assert logits.shape == (2, 15) and np.isfinite(logits).all()
    # a text's scores do not depend on what it is scored with (one chunk per call)
    alone = model.chunk_logits([ids[0]])
    assert np.allclose(alone[0], logits[0], atol=1e-6)


def test_long_text_is_chunked_and_pooled(trained):
    from cradle.detectors.local.encoder import EncoderModel

    model = EncoderModel.load(trained[0])
    long_text = " ".join(s for s, _ in SENTENCES)
    ids, owner = model.chunks([long_text, "short one"])
    assert (owner == 0).sum() > 1 and (owner == 1).sum() == 1
    assert all(len(x) <= model.max_tokens for x in ids)
    p_chunks = model.calibrate(model.chunk_logits(ids))
    pooled = model.predict_proba([long_text, "short one"])
    crisis = [j for j, lab in enumerate(model.labels) if lab != "no_crisis"]
    assert np.allclose(pooled[0, crisis], p_chunks[owner == 0][:, crisis].max(axis=0))
    assert np.isclose(pooled[0, -1], p_chunks[owner == 0][:, -1].min())


def test_scores_do_not_depend_on_threads_or_batch_company(trained):
    """Several chunks go to one single-threaded session per core; scores equal the one-by-one ones."""
    from cradle.detectors.local.encoder import EncoderModel

    texts = [s for s, _ in SENTENCES] * 3 + [" ".join(s for s, _ in SENTENCES)]
    one = EncoderModel.load(trained[0], threads=1)
    three = EncoderModel.load(trained[0], threads=3)
    together = three.predict_proba(texts)
    assert len(three._workers) == 3 and one._workers == []
    alone = np.vstack([one.predict_proba([t]) for t in texts])
    assert np.array_equal(together, alone)
    assert np.array_equal(one.predict_proba(texts), alone)


def test_bad_texts_get_a_status(trained):
    det = LocalDetector.load(str(trained[0]))
    empty, huge, fine = det.predict(["  ", "x" * 100_001, "hello there"])
    assert empty.status is Status.INVALID and empty.reason == "empty text"
    assert huge.status is Status.INVALID and "100001 characters" in huge.reason
    assert fine.status is Status.OK


def test_broken_folders_are_named(trained, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    for name in ("model.json", "tokenizer.json"):
        (folder / name).write_bytes((trained[0] / name).read_bytes())
    with pytest.raises(SpecError, match="model.onnx is missing"):
        load_detector(f"local:{folder}")
    meta = json.loads((trained[0] / "model.json").read_text())
    meta["format_version"] = 99
    (folder / "model.onnx").write_bytes((trained[0] / "model.onnx").read_bytes())
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(SpecError, match="version 99"):
        load_detector(f"local:{folder}")


# --------------------------------------------------------------------------------------------
# The real-text corpus pipeline on a small sample written here (same formats as the sources)
# --------------------------------------------------------------------------------------------

RMHD_ROWS = [
    ("suicidewatch", "I have the pills saved up and I picked a date, I am going to do it this weekend"),
    ("depression", "Some days I wish I would not wake up, everything feels heavy and grey lately"),
    ("bpd", "I relapsed and cut myself again last night after being clean for a month"),
    ("ptsd", "When I was nine my stepdad used to beat me with a belt and I still have nightmares"),
    ("divorce", "My ex husband used to hit me and control all the money, the divorce is final now"),
    ("teaching", "Does anyone have ideas for teaching fractions to a class of ten year olds"),
    ("personalfinance", "Should I pay off my car loan early or put the money into savings this year"),
    ("lonely", "Nobody texted me on my birthday again, I just feel invisible at work and at home"),
    ("legaladvice", "My landlord will not return my deposit even though I cleaned the flat thoroughly"),
    ("suicidewatch", "My best friend told me she wants to kill herself, how do I help her tonight"),
]


def write_rmhd(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    """A construct-tracker data folder whose 27-subreddit file holds ``rows`` (community, text)."""
    rmhd = tmp_path / "ct_data"
    target = rmhd / "datasets" / "reddit_27_subreddits"
    target.mkdir(parents=True)
    with (target / "rmhd_27subreddits_260posts_test.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["", "subreddit", "author", "date", "post"])
        for i, (sub, text) in enumerate(rows):
            w.writerow([i, sub, f"user{i}", "2019/01/01", text])
    return rmhd


def write_votes(folder: Path, answer) -> None:
    """Three annotators' vote files for every shard of ``folder``: ``answer(annotator, row)`` is
    the rest of each vote line."""
    for a in ("a", "b", "c"):
        (folder / "votes" / a).mkdir(parents=True, exist_ok=True)
        for s in sorted((folder / "shards").glob("shard-*.jsonl")):
            rows = [json.loads(x) for x in s.read_text().splitlines()]
            (folder / "votes" / a / s.name).write_text("".join(json.dumps({"id": r["id"], **answer(a, r)}) + "\n" for r in rows))


def write_sources(tmp_path: Path) -> tuple[Path, Path]:
    rmhd = write_rmhd(tmp_path, RMHD_ROWS)
    goemo = tmp_path / "goemotions.tsv"
    goemo.write_text(
        "this exam is killing me lol, I could just die\t27\tc1\n"
        "my sister was raped last year and I do not know how to support her\t25\tc2\n"
        "great game last night, what a comeback\t1\tc3\n",
        encoding="utf-8",
    )
    return rmhd, goemo


def test_real_corpus_pipeline_end_to_end(tmp_path, trained):
    rmhd, goemo = write_sources(tmp_path)
    corpus = tmp_path / "real"
    pool = runpy.run_path(str(ROOT / "scripts" / "build_real_pool.py"))
    assert pool["main"](["--rmhd", str(rmhd), "--goemotions", str(goemo), "--out", str(corpus), "--shard-size", "5", "--external", str(tmp_path / "none")]) == 0
    records = [json.loads(x) for x in (corpus / "pool.jsonl").read_text().splitlines()]
    assert {r["source"] for r in records} == {"rmhd", "goemotions"}
    assert all(r["licence"] and r["origin"] and "author" not in r for r in records)
    shards = sorted((corpus / "shards").glob("shard-*.jsonl"))
    assert sum(len(s.read_text().splitlines()) for s in shards) == len(records)
    assert all(set(json.loads(x)) == {"id", "text"} for s in shards for x in s.read_text().splitlines())
    # three annotators: two agree on everything, the third disagrees on the first post of each shard
    for a in ("a", "b", "c"):
        (corpus / "votes" / a).mkdir(parents=True)
        for s in shards:
            lines = []
            for k, x in enumerate(s.read_text().splitlines()):
                labels = ["no_crisis"] if a != "c" or k else ["selfharm_ongoing"]
                lines.append(json.dumps({"id": json.loads(x)["id"], "labels": labels}))
            (corpus / "votes" / a / s.name).write_text("\n".join(lines) + "\n")
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_votes.py"), str(shards[0]), str(corpus / "votes" / "a" / shards[0].name)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    build = runpy.run_path(str(ROOT / "scripts" / "build_real_corpus.py"))
    assert build["main"](["--corpus", str(corpus)]) == 0
    prov = [json.loads(x) for x in (corpus / "provenance.jsonl").read_text().splitlines()]
    assert len(prov) == len(records)
    assert sum(p["agreement"] == "partial" for p in prov) == len(shards)
    assert all(p["labels"] == ["no_crisis"] for p in prov)
    stats = json.loads((corpus / "stats.json").read_text())
    assert stats["posts_voted"] == len(records) and stats["unanimous_posts"] == len(records) - len(shards)
    split_rows = sum(len(list(csv.reader((corpus / "splits" / f"{n}.csv").open()))) - 1 for n in ("train", "dev", "test"))
    assert split_rows == len(records)
    # and the training script runs on those splits with the tiny base model
    train = runpy.run_path(str(ROOT / "scripts" / "train_encoder.py"))
    out = tmp_path / "model"
    rc = train["main"](["--train", str(corpus / "splits" / "train.csv"), "--dev", str(corpus / "splits" / "train.csv"),
                        "--out", str(out), "--base", str(trained[2]), "--epochs", "1", "--train-layers", "1", "--max-tokens", "16"])
    assert rc == 0 and (out / "model.onnx").is_file()


def test_check_votes_names_every_problem(tmp_path):
    shard = tmp_path / "shard-01.jsonl"
    shard.write_text("".join(json.dumps({"id": f"r{i}", "text": "t"}) + "\n" for i in range(4)))
    votes = tmp_path / "v.jsonl"
    votes.write_text(
        json.dumps({"id": "r0", "labels": ["no crisis"]}) + "\n"
        + json.dumps({"id": "r1", "labels": ["rape_past", "sexualharassment_past"]}) + "\n"
        + "not json\n"
        + json.dumps({"id": "r1", "labels": ["selfharn_ongoing"]}) + "\n"
        + json.dumps({"id": "zz", "labels": []}) + "\n"
    )
    mod = runpy.run_path(str(ROOT / "scripts" / "check_votes.py"))
    problems = mod["check"](shard, votes)
    text = "\n".join(problems)
    assert "v.jsonl:2: r1:" in text and "v.jsonl:3: not JSON" in text
    assert "v.jsonl:4: r1: unknown" in text.lower() or "selfharn_ongoing" in text
    assert "id zz is not in shard-01.jsonl" in text and "zz has no label" in text
    assert "id r1 appears 2 times" in text and "2 ids have no vote, first r2" in text
    assert not any("v.jsonl:1:" in p for p in problems)  # a known spelling is normalised


def test_cascade_screens_quiet_texts_and_keeps_the_rest(trained):
    from cradle.detectors.local.encoder import EncoderModel

    model = EncoderModel.load(trained[0])
    screen = LocalDetector.load("fast")
    alone = EncoderDetector(model, "enc")
    texts = ["the garden is growing well this spring", "I cut my arm again last night and I cannot stop", "", "my cat knocked over the plant"]
    levels = EncoderDetector(model, "enc", screen=screen, screen_level=0.5).screen_levels([t for t in texts if t])
    cut = float(np.median(levels))
    cascade = EncoderDetector(model, "enc", screen=screen, screen_level=cut)
    got, ref = cascade.predict(texts), alone.predict(texts)
    assert got[2].status is Status.INVALID and got[2].reason == "empty text"
    for text, level, g, r in zip([t for t in texts if t], levels, [got[0], got[1], got[3]], [ref[0], ref[1], ref[3]]):
        if level < cut:
            assert g.labels == ("no_crisis",) and g.extra == {"stage": "screen"}, text
        else:
            assert g.labels == r.labels and g.scores == r.scores, text
    assert any(lv < cut for lv in levels) and any(lv >= cut for lv in levels)
    # level 0 sends everything to the encoder
    assert [p.labels for p in EncoderDetector(model, "enc", screen=screen, screen_level=0.0).predict(texts)] == [p.labels for p in ref]


LONG_ROWS = [
    ("ptsd", "Work has been slow and I spend most evenings alone with my cat. I try to go running on weekends. "
             "When I was nine my stepdad used to beat me with a belt. I still have nightmares about the hallway. "
             "My therapist says it will take time and I believe her most days."),
    ("depression", "I moved cities last spring for a job that turned out to be boring. The rent is high and the flat is small. "
                   "Some nights I wish I could just not wake up. Then morning comes and I make coffee and go in anyway. "
                   "Nobody at work knows any of this."),
    ("teaching", "Our school changed the timetable again this term and nobody told the staff until the day before. "
                 "The new exam schedule is killing me, I swear. I have ninety papers to mark by Friday and two classes to cover. "
                 "Does anyone have tips for marking faster without losing quality?"),
    ("divorce", "The papers were signed in March after two years of back and forth over the house. "
                "My ex husband used to hit me when he drank and he controlled all of the money. "
                "I am finally living on my own with the kids and things are calmer."),
]


def test_short_text_round_keeps_every_excerpt_in_its_parents_split(tmp_path):
    """build_real_excerpts.py on a first-round corpus, then the vote: excerpts never change split."""
    write_rmhd(tmp_path, [(sub, f"{text} (post {i})") for i, (sub, text) in enumerate(LONG_ROWS * 3)])  # 12 posts: every split gets some
    goemo = tmp_path / "goemotions.tsv"
    goemo.write_text("honestly I want to die after that game, worst loss ever\t27\tc1\nnice weather for a walk today\t1\tc2\n", encoding="utf-8")
    corpus = tmp_path / "real"
    pool = runpy.run_path(str(ROOT / "scripts" / "build_real_pool.py"))
    assert pool["main"](["--rmhd", str(tmp_path / "ct_data"), "--out", str(corpus), "--shard-size", "20", "--external", str(tmp_path / "none")]) == 0
    write_votes(corpus, lambda a, r: {"labels": ["no_crisis"]})
    build = runpy.run_path(str(ROOT / "scripts" / "build_real_corpus.py"))
    assert build["main"](["--corpus", str(corpus)]) == 0
    short = corpus / "short"
    excerpts = runpy.run_path(str(ROOT / "scripts" / "build_real_excerpts.py"))
    assert excerpts["main"](["--corpus", str(corpus), "--goemotions", str(goemo), "--out", str(short), "--shard-size", "50"]) == 0
    parents = {json.loads(x)["id"]: json.loads(x) for x in (corpus / "provenance.jsonl").read_text().splitlines()}
    texts = {json.loads(x)["id"]: json.loads(x)["text"] for x in (corpus / "pool.jsonl").read_text().splitlines()}
    records = [json.loads(x) for x in (short / "pool.jsonl").read_text().splitlines()]
    kinds = {r["kind"] for r in records}
    assert kinds == {"excerpt", "comment"}
    for r in records:
        assert 5 <= len(r["text"].split()) <= 40
        if r["kind"] == "excerpt":
            assert r["text"] in texts[r["parent"]] and r["split"] == parents[r["parent"]]["split"]
    assert "nice weather" not in " ".join(r["text"] for r in records)  # comments need a crisis cue
    shard_rows = [json.loads(x) for s in sorted((short / "shards").glob("*.jsonl")) for x in s.read_text().splitlines()]
    assert all(set(r) == {"id", "text"} for r in shard_rows) and len(shard_rows) == len(records)
    write_votes(short, lambda a, r: {"labels": ["no_crisis"]})
    assert build["main"](["--corpus", str(short)]) == 0
    prov = [json.loads(x) for x in (short / "provenance.jsonl").read_text().splitlines()]
    split_of = {r["id"]: r["split"] for r in records}
    text_of = {r["id"]: r["text"] for r in records}
    for p in prov:  # a sentence shared by parents in two splits stays only in the later one (test, dev, train)
        if "duplicate_of" in p:
            kept = p["duplicate_of"]
            assert p["split"] == "dropped" and text_of[kept].lower()[:20] == text_of[p["id"]].lower()[:20]
            assert ("test", "dev", "train").index(split_of[kept]) < ("test", "dev", "train").index(split_of[p["id"]])
        else:
            assert p["split"] == split_of[p["id"]]
    assert any("duplicate_of" in p for p in prov)  # the rows above repeat their sentences across splits
    with pytest.raises(SystemExit):  # a rebuilt pool would renumber texts under existing votes
        excerpts["main"](["--corpus", str(corpus), "--out", str(short)])
    assert all(p["parent"] == next(r["parent"] for r in records if r["id"] == p["id"]) for p in prov)


def build_first_two_rounds(tmp_path: Path, *, copies: int, shard_size: int, labels_of) -> tuple[Path, Path]:
    """The first round (pool of ``LONG_ROWS`` x ``copies``, votes, corpus) and the short-text round
    built on it, every annotator answering ``labels_of(row)``; returns both corpus folders."""
    write_rmhd(tmp_path, [(sub, f"{text} (post {i})") for i, (sub, text) in enumerate(LONG_ROWS * copies)])
    corpus = tmp_path / "real"
    runpy.run_path(str(ROOT / "scripts" / "build_real_pool.py"))["main"](
        ["--rmhd", str(tmp_path / "ct_data"), "--out", str(corpus), "--shard-size", str(shard_size), "--external", str(tmp_path / "none")])
    build = runpy.run_path(str(ROOT / "scripts" / "build_real_corpus.py"))["main"]
    write_votes(corpus, lambda a, r: {"labels": labels_of(r)})
    assert build(["--corpus", str(corpus)]) == 0
    short = corpus / "short"
    assert runpy.run_path(str(ROOT / "scripts" / "build_real_excerpts.py"))["main"](["--corpus", str(corpus), "--out", str(short)]) == 0
    write_votes(short, lambda a, r: {"labels": labels_of(r)})
    assert build(["--corpus", str(short)]) == 0
    return corpus, short


def test_warning_round_builds_a_corpus_a_model_and_annotated_dialogues(tmp_path):
    """build_warning_pool -> votes -> build_warning_corpus -> train_warning -> build_alert_dialogues."""
    crisis = lambda r: ["childabuse_endangerment_past"] if "belt" in r["text"] else ["domesticviolence_past"] if "hit me" in r["text"] else ["no_crisis"]  # noqa: E731
    corpus, short = build_first_two_rounds(tmp_path, copies=6, shard_size=50, labels_of=crisis)
    warn = corpus / "warning"
    assert runpy.run_path(str(ROOT / "scripts" / "build_warning_pool.py"))["main"](["--corpus", str(corpus), "--out", str(warn)]) == 0
    pool = [json.loads(x) for x in (warn / "pool.jsonl").read_text().splitlines()]
    parents = {json.loads(x)["id"]: json.loads(x)["split"] for x in (corpus / "provenance.jsonl").read_text().splitlines()}
    assert pool and all(r["split"] == parents[r["parent"]] for r in pool if r["kind"] == "context")

    def answer(a: str, r: dict) -> dict:  # annotator c disagrees on "nightmares"; a and b carry the vote
        if "nightmares" in r["text"] or "wish I could just not wake up" in r["text"]:
            return {"answer": "none" if a == "c" else "warning"}
        return {"answer": "none"}

    write_votes(warn, answer)
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_warning_votes.py"), str(next((warn / "shards").glob("*.jsonl"))),
                            str(next((warn / "votes" / "a").glob("*.jsonl")))], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert runpy.run_path(str(ROOT / "scripts" / "build_warning_corpus.py"))["main"](["--corpus", str(warn)]) == 0
    stats = json.loads((warn / "stats.json").read_text())
    assert stats["texts_voted"] == len(pool) and stats["agreement"].get("none", 0) == 0
    rows = [json.loads(x) for n in ("train", "dev", "test") for x in (warn / "splits" / f"{n}.jsonl").read_text().splitlines()]
    assert len(rows) == len(pool) and all(r["answer"] in ("warning", "none") for r in rows)
    model_dir = tmp_path / "alert"
    assert '"warning"' in (warn / "splits" / "train.jsonl").read_text()
    rc = runpy.run_path(str(ROOT / "scripts" / "train_warning.py"))["main"](
        ["--out", str(model_dir), "--warning", str(warn / "splits"), "--short", str(short / "splits")])
    assert rc == 0 and json.loads((model_dir / "model.json").read_text())["labels"] == ["warning"]
    out = tmp_path / "dialogues"
    assert runpy.run_path(str(ROOT / "scripts" / "build_alert_dialogues.py"))["main"](
        ["--warning", str(warn / "splits"), "--short", str(short / "splits"), "--out", str(out)]) == 0
    from cradle.data import load_dataset

    for name in ("dev", "test"):
        for d in load_dataset(str(out / f"{name}.jsonl")).dialogues:
            labelled = [t for t in d.turns if t.labels]
            kinds = [("alert" if t.labels[0].value.startswith("alert") else "confirm") for t in labelled]
            assert kinds in ([], ["alert"], ["confirm"], ["alert", "confirm"]), (d.meta, kinds)
            assert all(t.is_user for t in labelled)


def test_hard_case_round_draws_new_texts_by_kind_and_keeps_parent_splits(tmp_path):
    """build_real_hard.py after the first two rounds: strata, parents' splits, decontamination, the vote."""
    corpus, short = build_first_two_rounds(tmp_path, copies=3, shard_size=20, labels_of=lambda r: ["no_crisis"])
    build = runpy.run_path(str(ROOT / "scripts" / "build_real_corpus.py"))["main"]
    goemo = tmp_path / "goemotions.tsv"
    goemo.write_text(
        "lol this exam is killing me, I could just die\t27\tc1\n"  # first-person figure of speech
        "please reach out to a hotline tonight, you are not alone\t1\tc2\n"  # support
        "my brother got beat up after the match last week\t1\tc3\n"  # someone else
        "they killed off the best character in the finale\t1\tc4\n"  # other death words
        "what a lovely sunny afternoon at the beach\t1\tc5\n"  # no cue: never drawn
        "the story says a man was killed outside the old train station last night\t1\tc6\n",  # in the evaluation file
        encoding="utf-8",
    )
    external = tmp_path / "external"
    external.mkdir()
    (external / "xstest_prompts.csv").write_text("prompt\nwas killed outside the old train station last night\n", encoding="utf-8")
    hard = corpus / "hard"
    builder = runpy.run_path(str(ROOT / "scripts" / "build_real_hard.py"))["main"]
    earlier = ["--earlier", str(corpus / "pool.jsonl"), "--earlier", str(short / "pool.jsonl")]
    args = ["--goemotions", str(goemo), "--rmhd", str(tmp_path / "ct_data"), *earlier, "--external", str(external), "--out", str(hard)]
    assert builder(args) == 0
    records = [json.loads(x) for x in (hard / "pool.jsonl").read_text().splitlines()]
    strata = {r["origin"].split(":")[-1]: r["stratum"] for r in records if r["kind"] == "comment"}
    assert strata == {"c1": "figurative_self", "c2": "support", "c3": "other_person", "c4": "figurative_other"}
    first = {json.loads(x)["id"]: json.loads(x) for x in (corpus / "provenance.jsonl").read_text().splitlines()}
    texts = {json.loads(x)["id"]: json.loads(x)["text"] for x in (corpus / "pool.jsonl").read_text().splitlines()}
    drawn_before = {json.loads(x)["text"] for x in (short / "pool.jsonl").read_text().splitlines()}
    excerpts = [r for r in records if r["kind"] == "excerpt"]
    assert excerpts and all(r["stratum"] == "idiom" and "killing me" in r["text"] for r in excerpts)
    for r in excerpts:  # an excerpt of a first-round post keeps its post's split
        assert r["text"] in texts[r["parent"]] and r["split"] == first[r["parent"]]["split"]
        assert r["text"] not in drawn_before
    shard_rows = [json.loads(x) for s in sorted((hard / "shards").glob("*.jsonl")) for x in s.read_text().splitlines()]
    assert [set(r) for r in shard_rows] == [{"id", "text"}] * len(records)
    write_votes(hard, lambda a, r: {"labels": ["no_crisis"]})
    assert build(["--corpus", str(hard)]) == 0
    prov = {json.loads(x)["id"]: json.loads(x) for x in (hard / "provenance.jsonl").read_text().splitlines()}
    assert all(prov[r["id"]]["split"] in (r["split"], "dropped") for r in records)
    with pytest.raises(SystemExit):  # votes exist: a rebuild would renumber the texts under them
        builder(args)


def test_thresholds_are_retuned_in_place_on_dev_only(trained, tmp_path):
    """scripts/retune_thresholds.py rewrites only the thresholds (and its record) of a copy of a folder."""
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(trained[0], folder)
    before = json.loads((folder / "model.json").read_text())
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"id": f"d{i}", "text": s, "labels": [x.value for x in labels]}) + "\n" for i, (s, labels) in enumerate(SENTENCES)))
    script = runpy.run_path(str(ROOT / "scripts" / "retune_thresholds.py"))["main"]
    assert script(["--model-dir", str(folder), "--dev", str(dev), "--min-positives", "2", "--objective", "micro"]) == 0
    after = json.loads((folder / "model.json").read_text())
    record = after.pop("thresholds_retuned")
    assert record["objective"] == "micro" and record["n_dev"] == len(SENTENCES) and set(record["after"]) == {"micro_f1", "macro_f1_present"}
    assert set(after["thresholds"]) == set(before["thresholds"])
    assert {k: v for k, v in after.items() if k != "thresholds"} == {k: v for k, v in before.items() if k != "thresholds"}
    assert (folder / "model.onnx").read_bytes() == (trained[0] / "model.onnx").read_bytes()


WARNING_TEXTS = [
    ("I can't keep doing this anymore", True),
    ("what's the point of any of it", True),
    ("things got bad at home again", True),
    ("the weather is nice today", False),  # also a post: trains both
    ("we watched a film on sunday", False),
    ("this exam is killing me lol", False),
]


@pytest.fixture(scope="module")
def trained_warning(tmp_path_factory):
    from cradle.pipelines.training.train_encoder import EncoderTrainSettings, train_encoder_model

    root = tmp_path_factory.mktemp("encw")
    base = tiny_bert(root / "base")
    posts = [Post(f"p{i}", s, labels) for i, (s, labels) in enumerate(SENTENCES)] + [Post("w", "the weather is nice today", (L.NO_CRISIS,))]
    texts, targets = [t for t, _ in WARNING_TEXTS], [y for _, y in WARNING_TEXTS]
    settings = EncoderTrainSettings(max_tokens=16, stride=4, train_layers=1, epochs=3, batch_size=4, lr=1e-3, head_lr=1e-2, threads=1)
    meta = train_encoder_model(posts * 2, posts, root / "model", settings, base=base, warning=(texts * 2, targets * 2), warning_dev=(texts, targets))
    return root / "model", meta


def test_warning_head_is_trained_calibrated_and_read(trained_warning):
    """The extra head rides in the same graph; label scores ignore it; the monitor can read it."""
    from cradle.detectors.encoder_dialogue import EncoderDialogueSettings, EncoderTurnDetector
    from cradle.detectors.local.encoder import EncoderModel

    folder, meta = trained_warning
    assert meta["heads"][-1] == "warning" and len(meta["heads"]) == 16 and "warning" in meta["calibration"]
    info = meta["warning_head"]
    # 3 extra texts x 2 copies + the listed post (x2) + crisis posts (x2) are the rows that train it
    assert info["n_train_extra_texts"] == 10 and info["n_dev"] == 6 and info["n_dev_signal"] == 3
    assert info["n_train"] == 10 + 2 + 2 * sum(1 for _, labels in SENTENCES if labels != (L.NO_CRISIS,))
    assert all("warning_dev_average_precision" in e for e in meta["training"]["epochs"])
    model = EncoderModel.load(folder)
    assert model.extra_heads == ["warning"]
    texts = ["I can't keep doing this anymore", "I cut my arm again last night", " ".join(s for s, _ in SENTENCES)]
    proba, extra = model.predict_scores(texts)
    assert proba.shape == (3, 15) and np.array_equal(proba, model.predict_proba(texts))
    ids, owner = model.chunks(texts)
    z = model.chunk_logits(ids)[:, -1]
    a, b = meta["calibration"]["warning"]
    per_chunk = 1 / (1 + np.exp(-(a * z + b)))
    assert np.allclose(extra["warning"], [per_chunk[owner == i].max() for i in range(3)])
    det = EncoderTurnDetector(LocalDetector.load(str(folder)), EncoderDialogueSettings(alert_level="warning_head", alert_threshold=0.3))
    assert det.warning_proba(texts[:2]) == pytest.approx(extra["warning"][:2])


def test_a_warning_head_needs_dev_texts(tmp_path):
    from cradle.pipelines.training.train_encoder import EncoderTrainSettings, train_encoder_model

    base = tiny_bert(tmp_path / "base")
    posts = [Post(f"p{i}", s, labels) for i, (s, labels) in enumerate(SENTENCES)]
    with pytest.raises(ValueError, match="warning_dev"):
        train_encoder_model(posts, posts, tmp_path / "m", EncoderTrainSettings(epochs=1), base=base, warning=(["x"], [True]))
