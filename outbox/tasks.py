from django_tasks import task

from .services import outbox_send_due


@task()
def outbox_send() -> int:
    """Send what the outbox has due. The outbox is the truth: running this twice, or not at
    all (the periodic `outbox_send` command catches up), sends each message once."""
    return outbox_send_due()
