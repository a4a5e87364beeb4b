"""Main flows of each page, offscreen (pytest-qt): import, teachers, labelling, review,
training plots, compare, and a screenshot of every page."""

from __future__ import annotations

import json
import threading
import time

import pytest
from PySide6.QtCore import Qt

from tests.gui_helpers import (  # noqa: F401 - fixtures
    SCREENSHOTS,
    add_labels,
    add_queries,
    async_loop,
    image_colours,
    settings,
)
from twt_backend.store import Project, utcnow

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, settings, tmp_path):  # noqa: F811
    from twt_gui.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.session.close()


def open_project(window, root, task="math", queries=0, teachers=()):
    project = Project.create(root, task, "gui-test")
    if queries:
        add_queries(project, queries)
    if teachers:
        add_labels(project, list(teachers))
    project.close()
    window.page("Projects").controller.open(root)


# ---- Projects ----------------------------------------------------------------------------------
def test_create_project_and_import_with_mapping(window, qtbot, tmp_path):
    from twt_gui.pages.import_dialog import ImportDialog

    projects = window.show_page("Projects")
    assert projects.panel.is_empty  # no project: says what to do
    projects.controller.create(tmp_path / "new", "math", "fresh")
    assert projects.panel.is_empty and "No queries" in projects.panel.empty.title.text()

    data = tmp_path / "problems.jsonl"
    data.write_text(
        "".join(
            json.dumps({"prompt_text": f"What is {i} + 1?", "gold": str(i + 1)}) + "\n"
            for i in range(12)
        )
    )
    dialog = ImportDialog(window.session, projects)
    qtbot.addWidget(dialog)
    dialog.set_file(data)
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()  # unmapped
    dialog.mapping["question"].setCurrentText("prompt_text")
    dialog.mapping["reference"].setCurrentText("gold")
    assert dialog.preview.rowCount() == 12
    dialog.do_import()
    assert dialog.result is not None and dialog.result.added == 12
    projects.refresh()
    assert not projects.panel.is_empty
    assert projects.model.rowCount() == 12
    assert projects.model.row(0)["text"] == "What is 0 + 1?"
    assert str(tmp_path / "new") in projects.controller.recent()[0]


def test_queries_table_loads_lazily(window, tmp_path):
    open_project(window, tmp_path / "p", queries=650)
    projects = window.show_page("Projects")
    assert projects.model.rowCount() == 200
    assert projects.model.canFetchMore()
    while projects.model.canFetchMore():
        projects.model.fetchMore()
    assert projects.model.rowCount() == 650
    projects.split.setCurrentText("test")
    assert projects.model.rowCount() == 130


# ---- Setup -------------------------------------------------------------------------------------
def test_teacher_form_validates_beside_fields(window, tmp_path):
    open_project(window, tmp_path / "p", queries=3)
    setup = window.show_page("Setup")
    form = setup.teacher_form
    form.set_raw("name", "t1")
    form.set_raw("model", "m")
    form.set_raw("concurrency", "0")
    form.set_raw("temperature", "hot")
    assert not setup.save_teacher()
    errors = form.error_texts()
    assert "below the minimum" in errors["concurrency"]
    assert errors["temperature"] == "enter a number"
    assert set(errors) == {"concurrency", "temperature"}


def test_add_teacher_and_test_connection(window, qtbot, async_loop, tmp_path):  # noqa: F811
    from tests.fake_openai import FakeOpenAIServer

    open_project(window, tmp_path / "p", queries=3)
    setup = window.show_page("Setup")
    with FakeOpenAIServer() as server:
        form = setup.teacher_form
        form.set_raw("name", "fake-gpt")
        form.set_raw("model", "fake-model")
        form.set_raw("base_url", server.base_url)
        setup.key_source.setCurrentIndex(2)
        assert setup.save_teacher()
        stored = json.loads(window.session.project.scalar("SELECT config FROM teachers"))
        assert stored["base_url"] == server.base_url and stored["name"] == "fake-gpt"

        qtbot.mouseClick(setup.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: setup.test_result.toPlainText().startswith(("OK", "Failed")), timeout=120_000
        )
    text = setup.test_result.toPlainText()
    assert text.startswith("OK"), text
    assert "parse status: ok" in text and "confidence: 0.9" in text


def test_selection_options_saved_to_project(window, tmp_path):
    from twt_backend.config import SelectionConfig
    from twt_backend.settings import load_config

    open_project(window, tmp_path / "p", queries=3)
    setup = window.show_page("Setup")
    setup.selection_form.set_raw("threshold", "0.9")
    assert setup.save_configs([setup.selection_form])
    assert load_config(window.session.project, SelectionConfig).threshold == 0.9
    setup.selection_form.set_raw("threshold", "1.5")
    assert not setup.save_configs([setup.selection_form])
    assert "above the maximum" in setup.selection_form.error_texts()["threshold"]


def test_inference_engine_and_padding_free_are_project_settings(window, tmp_path):
    from twt_backend.config import GenerationConfig, TrainingConfig
    from twt_backend.settings import load_config

    open_project(window, tmp_path / "p", queries=3)
    setup = window.show_page("Setup")
    assert load_config(window.session.project, GenerationConfig).engine == "auto"
    setup.generation_form.set_raw("engine", "vllm")
    setup.training_form.set_raw("padding_free", "no")
    assert setup.save_configs([setup.training_form, setup.generation_form])
    assert load_config(window.session.project, GenerationConfig).engine == "vllm"
    assert load_config(window.session.project, TrainingConfig).padding_free == "no"


# ---- Labelling -----------------------------------------------------------------------------------
def test_labelling_job_progress_is_shown(window, qtbot, tmp_path):
    from tests.fake_openai import FakeOpenAIServer
    from twt_backend import jobs
    from twt_backend.config import TeacherConfig
    from twt_gui.pages.setup_ctl import SetupController

    open_project(window, tmp_path / "p", queries=10)
    labelling = window.show_page("Labelling")
    assert labelling.panel.is_empty and "No teachers" in labelling.panel.empty.title.text()
    with FakeOpenAIServer(latency_s=0.05) as server:
        SetupController(window.session.project).save_teacher(
            TeacherConfig(name="fake", model="m", base_url=server.base_url)
        )
        labelling = window.show_page("Labelling")
        assert not labelling.panel.is_empty
        labelling.split.setCurrentText("all")
        job_id = labelling.start()
        assert job_id is not None
        qtbot.waitUntil(
            lambda: "fake" in labelling.bars and labelling.bars["fake"].bar.value() == 10,
            timeout=600_000,  # a worker process starts and labels: slow on a busy machine
        )
        qtbot.waitUntil(lambda: labelling.start_button.isEnabled(), timeout=120_000)
    job = jobs.get_job(window.session.project, job_id)
    assert job["status"] == "finished", job
    assert "10 / 10" in labelling.bars["fake"].bar.text()
    assert "10 ok" in labelling.totals.text()


# ---- Review ------------------------------------------------------------------------------------
def test_review_override_with_keys_and_bulk(window, qtbot, async_loop, tmp_path):  # noqa: F811
    open_project(window, tmp_path / "p", queries=20, teachers=("a", "b", "c"))
    review = window.show_page("Review")
    assert review.model.rowCount() == 60
    assert review.detail.cards.count() == 3
    assert sorted(review.detail.highlighted_cells()) == [(0, 1), (1, 0)]  # the kept pair

    review.table.setFocus()
    review.table.selectRow(2)  # teacher c, rejected automatically
    generation_id = review.current_id()
    qtbot.keyClick(review.table, Qt.Key.Key_A)
    project = window.session.project
    assert (
        project.scalar("SELECT override FROM selections WHERE generation_id=?", (generation_id,))
        == "accept"
    )
    assert review.current_id() == generation_id + 1  # moved to the next row
    assert project.scalar("SELECT COUNT(*) FROM audit_log WHERE action='override'") == 1

    review.teacher.setCurrentText("b")
    review.apply_filter()
    assert review.filtered == 20
    review.model.batch_size = 5  # only a page loaded: bulk must still cover the whole filter
    review.apply_filter()
    assert review.model.rowCount() == 5
    future = async_loop.create_task(review.bulk_apply(review.current_filter(), "reject"))
    qtbot.waitUntil(future.done, timeout=120_000)
    assert future.result() == 20
    rejected = project.scalar(
        "SELECT COUNT(*) FROM selections s JOIN generations g ON g.id=s.generation_id"
        " JOIN teachers t ON t.id=g.teacher_id WHERE t.name='b' AND s.override='reject'"
    )
    assert rejected == 20


def test_review_filters_and_edit_history(window, tmp_path):
    from twt_gui.pages.review_ctl import ReviewFilter

    open_project(window, tmp_path / "p", queries=10, teachers=("a", "b", "c"))
    review = window.show_page("Review")
    ctl = review.controller
    assert ctl.count(ReviewFilter(status="kept")) == 20
    assert ctl.count(ReviewFilter(status="not kept")) == 10
    high = ctl.count(ReviewFilter(min_confidence=0.9))
    assert 0 < high < 30
    assert ctl.count(ReviewFilter(search="query 7.")) == 3
    generation_id = review.current_id()
    ctl.edit(generation_id, "shorter reasoning", "9", "fixed")
    history = ctl.history(generation_id)
    assert [v["version"] for v in history] == [0, 1]
    assert history[1]["rationale"] == "shorter reasoning"


# ---- Training ----------------------------------------------------------------------------------
def test_training_loss_plot_grows_live(window, qtbot, tmp_path):
    from twt_backend import jobs

    open_project(window, tmp_path / "p", queries=3)
    project = window.session.project
    job_id = jobs.create_job(project, "train", {"stage": 1}, name="stage1")
    training = window.show_page("Training")
    assert training.series is not None and training.series.job_id == job_id
    stop = threading.Event()
    shown = threading.Event()  # the plot showed the first rows: the writer goes on

    def writer():
        with Project.open(project.root) as own:
            for step in range(1, 41):
                if step == 6:
                    shown.wait()
                if stop.is_set():
                    return
                with own.transaction() as conn:
                    conn.executemany(
                        "INSERT INTO metrics(job_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)",
                        [
                            (job_id, step, "loss", 3.0 / step, time.time()),
                            (job_id, step, "learning_rate", 1e-5, time.time()),
                            (job_id, step, "tokens_per_s", 500.0, time.time()),
                        ],
                    )
                time.sleep(0.02)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        qtbot.waitUntil(lambda: training.points("loss") >= 5, timeout=120_000)
        seen = training.points("loss")
        shown.set()
        qtbot.waitUntil(lambda: training.points("loss") == 40, timeout=120_000)
    finally:
        stop.set()
        shown.set()
        thread.join()
    assert seen < 40
    # learning rate and throughput are redrawn every 5 ticks (twt_gui.live_plot): they catch up
    qtbot.waitUntil(
        lambda: training.points("learning_rate") == 40 and training.points("tokens_per_s") == 40,
        timeout=5000,
    )
    assert training.curves["loss"].yData[-1] == pytest.approx(3.0 / 40)


def test_training_start_builds_the_train_job(window, tmp_path, monkeypatch):
    from tests.training_helpers import seed_samples
    from twt_backend import jobs
    from twt_gui.pages import training as training_page

    open_project(window, tmp_path / "p", queries=3)
    seed_samples(window.session.project, 3)
    started, warnings = [], []
    monkeypatch.setattr(jobs, "start_detached", lambda project, job_id: started.append(job_id))
    monkeypatch.setattr(
        training_page.QMessageBox, "warning", lambda parent, title, text: warnings.append(text)
    )
    training = window.show_page("Training")
    training.what.setCurrentIndex(1)  # stage 2: refused before stage 1 is trained, no job
    assert training.start() is None
    assert len(warnings) == 1 and "train stage 1 first" in warnings[0]
    assert jobs.list_jobs(window.session.project) == []
    training.what.setCurrentIndex(0)  # stage 1
    training.launcher.setCurrentIndex(1)  # torchrun
    training.nproc.setValue(2)
    job_id = training.start()
    job = jobs.get_job(window.session.project, job_id)
    assert started == [job_id]
    assert job["kind"] == "train" and job["config"]["stage"] == 1
    assert job["config"]["launch"]["launcher"] == "torchrun"
    assert job["config"]["launch"]["nproc"] == 2
    assert job["config"]["lora"]["rank"] == 8 and job["config"]["training"]["lr"] == 1e-5


# ---- Compare -----------------------------------------------------------------------------------
def test_compare_shows_stored_numbers(window, qtbot, async_loop, tmp_path):  # noqa: F811
    open_project(window, tmp_path / "p", queries=5)
    project = window.session.project
    outcomes = {"stage0": ([1, 0, 0, 0], 200), "stage3": ([1, 1, 1, 0], 12)}
    with project.transaction() as conn:
        for method, (correct, tokens) in outcomes.items():
            for qid, ok in enumerate(correct, start=1):
                conn.execute(
                    "INSERT INTO eval_results(method, query_id, output, answer, tokens, correct,"
                    " created_at) VALUES (?, ?, 'out', '1', ?, ?, ?)",
                    (method, qid, tokens, ok, utcnow()),
                )
        conn.execute(  # a query only stage 3 answered: left out of the comparison
            "INSERT INTO eval_results(method, query_id, output, answer, tokens, correct,"
            " created_at) VALUES ('stage3', 5, 'out', '1', 99, 1, ?)",
            (utcnow(),),
        )
    compare = window.show_page("Compare")
    assert not compare.panel.is_empty
    assert compare.summary_cells() == [
        ["Vanilla student ★", "baseline", "4", "1", "25.0%", "4.6%–69.9%", "—", "best baseline",
         "—", "200.0", "200 / 200", "", "1 100%"],
        ["TwT stage 3 (reasoning-free)", "twt", "4 of 5", "3", "75.0%", "30.1%–95.4%", "—",
         "+50.0 pts", "p=0.500", "12.0", "12 / 12", "-94.0%", "1 100%"],
    ]  # fmt: skip
    import pyqtgraph as pg

    bars = [i for i in compare.accuracy_plot.items() if isinstance(i, pg.ErrorBarItem)]
    assert len(bars) == 1  # the intervals drawn over the accuracy bars
    assert list(bars[0].opts["y"] + bars[0].opts["top"]) == pytest.approx([0.699, 0.954], abs=1e-3)
    assert "4 test queries every method answered" in compare.common.text()
    assert "stage3 answered more" in compare.common.text()
    assert compare.model.rowCount() == 5
    compare.queries.selectRow(0)
    text = compare.answers.toPlainText()
    assert "TwT stage 3 (reasoning-free) [stage3] (correct, 12 tokens)" in text
    assert text.index("Vanilla student") < text.index("TwT stage 3")
    future = async_loop.create_task(compare.export(tmp_path / "report"))
    qtbot.waitUntil(future.done, timeout=120_000)
    html = future.result()
    assert html is not None and html.name == "report.html" and html.is_file()
    assert (tmp_path / "report" / "comparison.csv").read_text().count("\n") == 3
    assert str(html) in compare.export_status.text()


def test_compare_marks_stale_rows_the_majority_class_and_answer_shares(
    window,
    tmp_path,  # noqa: F811
):
    open_project(window, tmp_path / "c", task="choice")
    project = window.session.project
    adapter = project.artifacts / "stages" / "stage1" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"retrained weights")
    with project.transaction() as conn:
        for qid, ref in enumerate(["A", "A", "B", "C"], start=1):
            conn.execute(
                "INSERT INTO queries(id, source_id, split, payload, reference, content_hash, "
                "created_at) VALUES (?, ?, 'test', ?, ?, ?, ?)",
                (qid, f"q{qid}", json.dumps({"question": f"q{qid}"}), ref, f"c{qid}", utcnow()),
            )
            for method, answer, sha in (("stage0", "C", None), ("stage1", "A", "old-adapter")):
                conn.execute(
                    "INSERT INTO eval_results(method, query_id, output, answer, tokens, correct,"
                    " adapter_sha256, created_at) VALUES (?, ?, 'o', ?, 3, ?, ?, ?)",
                    (method, qid, answer, int(answer == ref), sha, utcnow()),
                )
    compare = window.show_page("Compare")
    cells = {row[0]: row for row in compare.summary_cells()}
    majority = cells["Majority class (always the most frequent gold answer)"]
    assert majority[2:5] == ["4", "2", "50.0%"] and majority[-1] == "A 100%"
    assert cells["Vanilla student ★"][-1] == "C 100%"  # a constant answer shows as such
    # the majority class writes no tokens: a level line in the scatter, not a point at 0
    import pyqtgraph as pg

    lines = [i for i in compare.scatter_plot.items() if isinstance(i, pg.InfiniteLine)]
    assert [(line.value(), line.label.format) for line in lines] == [(0.5, "majority")]
    stale = cells["Full-reasoning SFT (stage 1) ⚠ stale"]
    assert stale[2] == "4" and stale[6] == "—" and stale[8] == "—"  # compared with nothing
    assert "Stale (made by an older adapter" in compare.common.text()
    assert "Splits: test 4." in compare.common.text()
    compare.queries.selectRow(0)
    assert "stale: not of its current adapter" in compare.answers.toPlainText()


# ---- Screenshots ---------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshot_every_page(window, qapp, tmp_path, theme):
    from twt_gui.smoke import visit_pages

    open_project(
        window, tmp_path / "p", queries=30, teachers=("gpt-4o-mini", "mistral-large", "llama")
    )
    project = window.session.project
    with project.transaction() as conn:
        for method, acc, tokens in (
            ("stage0", 0.3, 180),
            ("stage1", 0.6, 150),
            ("stage3", 0.7, 15),
        ):
            for qid in range(1, 11):
                conn.execute(
                    "INSERT INTO eval_results(method, query_id, output, answer, tokens, correct,"
                    " created_at) VALUES (?, ?, 'o', '1', ?, ?, ?)",
                    (method, qid, tokens, int(qid <= acc * 10), utcnow()),
                )
    window.set_theme(theme)
    try:
        saved = visit_pages(window, SCREENSHOTS / theme)
    finally:
        window.set_theme("light")
    assert len(saved) == len(window.pages)
    for path in saved:
        assert image_colours(path) > 8
