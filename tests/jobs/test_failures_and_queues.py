"""A job's failure reaches the rows of its domain (an export is never "pending" forever), job
kinds wait on their own queues, and the job page estimates the time left."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.contamination import service as contamination
from app.diversity import service as diversity
from app.exports import service as exports
from app.exports.schemas import ExportCreate
from app.jobs import repository, service
from app.jobs.registry import queue_for
from app.models import Example, ExportSnapshot, Job, JobState, Project, User
from app.models.base import utcnow
from tests.factories import RecordingDispatcher, bearer


def _export(db: Session, project: Project, user: User) -> ExportSnapshot:
    snapshot = exports.create(db, project, user, ExportCreate(format="messages"))
    db.commit()
    return snapshot


def test_a_crashed_export_says_failed_with_its_reason(
    db: Session,
    project: Project,
    engineer: User,
    client: TestClient,
    run_jobs: Callable[[], list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device", "/srv/trellis/exports/1.partial")

    monkeypatch.setattr(exports, "write_files", crash)
    snapshot = _export(db, project, engineer)
    run_jobs()
    db.expire_all()
    job = db.get(Job, snapshot.job_id)
    assert job is not None and job.state is JobState.failed
    assert job.error is not None and "No space left" in job.error
    assert "/srv/trellis" not in job.error, "server paths never reach users"
    stored = db.get(ExportSnapshot, snapshot.id)
    assert stored is not None and stored.state == "failed"
    assert stored.error == job.error

    headers = bearer(client, db, engineer)
    api = client.get(f"/api/projects/{project.slug}/exports/{snapshot.id}", headers=headers)
    assert api.json()["state"] == "failed" and "No space left" in api.json()["error"]


def test_an_export_cancelled_before_a_worker_took_it_is_not_pending(
    db: Session, project: Project, engineer: User, run_jobs: Callable[[], list[int]]
) -> None:
    snapshot = _export(db, project, engineer)
    job = db.get(Job, snapshot.job_id)
    assert job is not None
    service.cancel(db, job, engineer)
    db.commit()
    run_jobs()  # the message still reaches a worker, which finds the job cancelled
    db.expire_all()
    stored = db.get(ExportSnapshot, snapshot.id)
    assert stored is not None and stored.state == "failed"
    assert stored.error == "the job was cancelled"


def test_an_export_whose_worker_kept_dying_fails_when_the_reaper_gives_up(
    db: Session, project: Project, engineer: User, dispatcher: RecordingDispatcher
) -> None:
    snapshot = _export(db, project, engineer)
    assert snapshot.job_id is not None
    long_ago = utcnow() - timedelta(hours=1)
    assert repository.claim(db, snapshot.job_id, long_ago)
    job = db.get(Job, snapshot.job_id)
    assert job is not None
    job.attempts = 3
    db.commit()
    service.reap(db, stale_after_s=60, max_attempts=3)
    db.commit()
    db.expire_all()
    stored = db.get(ExportSnapshot, snapshot.id)
    assert stored is not None and stored.state == "failed"
    assert stored.error is not None and "stopped responding" in stored.error


def test_short_and_long_kinds_wait_on_their_own_queues(
    db: Session, project: Project, engineer: User, dispatcher: RecordingDispatcher
) -> None:
    snapshot = _export(db, project, engineer)
    assert dispatcher.queues[snapshot.job_id] == "short"
    for kind in (contamination.CHUNK_JOB, contamination.CHECK_JOB, contamination.INDEX_JOB,
                 diversity.EMBED_JOB, diversity.SCORE_JOB, diversity.PLAN_JOB):  # fmt: skip
        assert queue_for(kind) == "long", kind
    for kind in (exports.EXPORT_JOB, "import", "review_bulk"):
        assert queue_for(kind) == "short", kind


def test_a_claimed_job_no_longer_says_it_waits_for_a_worker(
    db: Session, project: Project, engineer: User, dispatcher: RecordingDispatcher
) -> None:
    snapshot = _export(db, project, engineer)
    assert snapshot.job_id is not None
    job = db.get(Job, snapshot.job_id)
    assert job is not None and job.message == "waiting for a worker"
    assert repository.claim(db, job.id, utcnow())
    db.commit()
    db.expire_all()
    assert db.get(Job, job.id).message == "started"  # type: ignore[union-attr]


def test_time_left_is_extrapolated_once_there_is_enough_to_go_on() -> None:
    now = utcnow()
    job = Job(kind="export", state=JobState.running, progress=0.25,
              started_at=now - timedelta(seconds=30))  # fmt: skip
    assert service.time_left(job, now) == "about 90 s left"
    job.progress = 0.1
    assert service.time_left(job, now) == "about 4 min left"
    job.progress = 0.01
    assert service.time_left(job, now) is None  # too early to say
    job.progress, job.started_at = 0.5, now - timedelta(seconds=1)
    assert service.time_left(job, now) is None
    job.state = JobState.succeeded
    assert service.time_left(job, now) is None


def test_bulk_approval_over_500_items_runs_as_a_job_in_batches(
    db: Session,
    project: Project,
    engineer: User,
    client: TestClient,
    run_jobs: Callable[[], list[int]],
    tmp_path: Path,
) -> None:
    from app.imports.schemas import ImportOptions
    from app.imports.service import import_file
    from app.models import ItemStatus, Role
    from tests.factories import SHARED_DATA, make_user

    import_file(
        db, project_id=project.id, path=SHARED_DATA / "alpaca_5000.json", user_id=None,
        options=ImportOptions(status=ItemStatus.submitted), rejects_path=tmp_path / "r.jsonl",
    )  # fmt: skip
    db.commit()
    reviewer = make_user(db, "rev@example.com", Role.reviewer)
    from tests.factories import add_member

    add_member(db, project, reviewer, Role.reviewer)
    headers = bearer(client, db, reviewer)
    url = f"/api/projects/{project.slug}/review/bulk"
    body = {"action": "approve", "filter": {"kind": "example"}}
    count = client.post(url, json=body, headers=headers).json()["count"]
    assert count > 500
    started = client.post(url, json={**body, "expected_count": count}, headers=headers)
    assert started.status_code == 200, started.text
    answer = started.json()
    assert answer["job_id"] is not None and answer["applied"] == 0
    assert db.query(Example).filter(Example.status == ItemStatus.approved).count() == 0
    run_jobs()
    db.expire_all()
    job = db.get(Job, answer["job_id"])
    assert job is not None and job.state is JobState.succeeded, job.error
    assert job.result is not None and job.result["applied"] == count
    assert job.progress == 1.0
    assert db.query(Example).filter(Example.status == ItemStatus.approved).count() == count


def test_a_cancelled_import_leaves_no_upload_behind(
    db: Session,
    project: Project,
    engineer: User,
    run_jobs: Callable[[], list[int]],
    tmp_path: Path,
) -> None:
    from app.imports.schemas import ImportOptions
    from app.imports.uploads import start_import

    upload = tmp_path / "uploads" / "rows.jsonl"
    upload.parent.mkdir()
    upload.write_text('{"instruction": "a", "output": "b"}\n')
    job = start_import(db, project, engineer, upload, "rows.jsonl", ImportOptions())
    db.commit()
    service.cancel(db, job, engineer)
    db.commit()
    run_jobs()
    assert not upload.exists(), "the upload of a cancelled import is deleted"
