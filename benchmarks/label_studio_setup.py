"""Runs inside Label Studio's own virtualenv (benchmarks/queue_vs_label_studio.py starts it):
migrates its database, makes an organisation with legacy API tokens enabled, a project
asking one text answer per task from one annotator, N tasks and the annotators; prints
the project id and the annotators' tokens as JSON on its last line.

    <venv>/bin/python benchmarks/label_studio_setup.py --tasks 100000 --annotators 64
"""

import argparse
import json
import os
import sys
from pathlib import Path

# A text answer per question: what a demonstration is on the platform.
LABEL_CONFIG = """<View>
  <Text name="question" value="$question"/>
  <TextArea name="answer" toName="question" maxSubmissions="1"/>
</View>"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--annotators", type=int, required=True)
    args = parser.parse_args()

    import label_studio

    sys.path.insert(0, str(Path(label_studio.__file__).parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from organizations.models import Organization
    from projects.models import Project
    from rest_framework.authtoken.models import Token
    from tasks.models import Task
    from users.models import User

    owner = User.objects.create_user(email="owner@bench.local", password="bench-owner-pass")
    organization = Organization.create_organization(
        created_by=owner, title="Benchmark", legacy_api_tokens_enabled=True
    )
    owner.active_organization = organization
    owner.save(update_fields=["active_organization"])
    project = Project.objects.create(
        title="Queue benchmark",
        label_config=LABEL_CONFIG,
        created_by=owner,
        organization=organization,
        maximum_annotations=1,
        sampling=Project.SEQUENCE,
    )
    batch = 10_000
    for start in range(0, args.tasks, batch):
        Task.objects.bulk_create(
            [
                Task(
                    project=project,
                    data={"question": f"Benchmark question number {i}?"},
                    inner_id=i + 1,
                )
                for i in range(start, min(start + batch, args.tasks))
            ]
        )
    tokens = []
    for i in range(args.annotators):
        user = User.objects.create_user(email=f"annotator-{i}@bench.local", password="bench-pass")
        organization.add_user(user)
        user.active_organization = organization
        user.save(update_fields=["active_organization"])
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    print(json.dumps({"project": project.pk, "tokens": tokens}))


if __name__ == "__main__":
    main()
