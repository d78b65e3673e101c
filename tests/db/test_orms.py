"""The ORMs applications use, as the application's role, across every stage of a migration: SQLAlchemy 2
(with_for_update, SKIP LOCKED, one long-lived connection whose statements are all prepared on the server) and
Django 5.2 (select_for_update, update_or_create, get_or_create, the sequence reset of sqlsequencereset). In
0.2.0 the row locks failed with 42501 from the read cutover on, and the sequence reset did nothing."""

import pytest
import sqlalchemy as sa

from tests.db.helpers import STAGES, scalar, walk

SCHEMA = """
CREATE TABLE app.jobs (id serial PRIMARY KEY, state text NOT NULL DEFAULT 'queued', ssn text, note text);
INSERT INTO app.jobs (ssn) SELECT 'ssn-' || g::text FROM generate_series(1, 40) AS g;
"""


@pytest.fixture
def jobs(roles):
    with roles.connect(roles.owner) as owner:
        owner.execute(SCHEMA)
        owner.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON app.jobs TO "{roles.app}";'
                      f' GRANT USAGE, SELECT, UPDATE ON SEQUENCE app.jobs_id_seq TO "{roles.app}"')
    return roles


def test_sqlalchemy_row_locks_and_a_long_lived_prepared_session(db, conn, jobs):
    url = sa.engine.URL.create("postgresql+psycopg", username=jobs.app, database=db.name,
                               query={"host": str(db.cluster.root), "port": str(db.cluster.port)})
    engine = sa.create_engine(url, connect_args={"prepare_threshold": 0})  # every statement prepared
    table = sa.Table("jobs", sa.MetaData(schema="app"), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("state", sa.Text), sa.Column("ssn", sa.Text), sa.Column("note", sa.Text))
    long_lived = engine.connect()  # crosses every switch, with its prepared statements

    def at(stage: str) -> None:
        n = STAGES.index(stage) + 1
        with engine.begin() as worker, engine.begin() as other:
            first = worker.execute(sa.select(table).where(table.c.state == "queued").order_by(table.c.id)
                                   .limit(1).with_for_update(skip_locked=True)).one()
            second = other.execute(sa.select(table.c.id).where(table.c.state == "queued").order_by(table.c.id)
                                   .limit(1).with_for_update(skip_locked=True)).scalar_one()
            assert second == first.id + 1, stage
            worker.execute(table.update().where(table.c.id == first.id).values(state="done", note=stage))
        with long_lived.begin():
            row = long_lived.execute(sa.select(table.c.ssn).where(table.c.id == 40).with_for_update()).scalar_one()
            assert row == "ssn-40", stage
            new = long_lived.execute(table.insert().values(ssn=f"new {stage}").returning(table.c.id)).scalar_one()
            long_lived.execute(table.update().where(table.c.id == new).values(note=stage))
            assert long_lived.execute(sa.select(table.c.ssn).where(table.c.id == new)).scalar_one() == f"new {stage}"
        assert scalar(conn, "SELECT note FROM app.jobs WHERE id = %s", (n,)) == stage

    walk(conn, "app.jobs", ["ssn"], at)
    long_lived.close()
    engine.dispose()


@pytest.fixture(scope="module")
def django_models():
    """Django set up once for the module (its settings are the process's), with a model of app.jobs."""
    import django
    from django.conf import settings

    settings.configure(DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "unset"}},
                       INSTALLED_APPS=[], USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.AutoField")
    django.setup()
    from django.db import models

    class Job(models.Model):
        state = models.TextField(default="queued")
        ssn = models.TextField(null=True)
        note = models.TextField(null=True)

        class Meta:
            app_label = "colcrypt_tests"
            db_table = "jobs"
            managed = False

    return Job


def test_django_select_for_update_update_or_create_and_sequence_reset(db, conn, jobs, django_models):
    from django.core.management.color import no_style
    from django.db import connection, transaction

    Job = django_models
    connection.close()
    connection.settings_dict.update(NAME=db.name, USER=jobs.app, HOST=str(db.cluster.root),
                                    PORT=str(db.cluster.port), OPTIONS={"options": "-c search_path=app"})

    def at(stage: str) -> None:
        n = STAGES.index(stage)
        with transaction.atomic():
            job = Job.objects.select_for_update(skip_locked=True).filter(state="queued").order_by("id").first()
            job.state, job.note = "done", stage
            job.save(update_fields=["state", "note"])
        job, created = Job.objects.update_or_create(id=1, defaults={"note": f"updated at {stage}"})
        assert not created and Job.objects.get(id=1).note == f"updated at {stage}"
        job, created = Job.objects.get_or_create(ssn=f"made at {stage}", defaults={"note": "new"})
        assert created and Job.objects.get(pk=job.pk).ssn == f"made at {stage}"
        Job.objects.bulk_create([Job(id=1000 + 10 * n + i, ssn=f"loaded {i}") for i in range(3)])  # explicit keys
        with connection.cursor() as cursor:  # manage.py sqlsequencereset, run
            for sql in connection.ops.sequence_reset_sql(no_style(), [Job]):
                cursor.execute(sql)
        assert Job.objects.create(ssn="after the reset").pk == 1000 + 10 * n + 3, stage  # no 23505
        Job.objects.filter(pk__gte=1000).delete()
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Job]):
                cursor.execute(sql)

    walk(conn, "app.jobs", ["ssn"], at)
    connection.close()
