"""The capstone's job functions: RQ imports them from this module."""

from rq import Retry, get_current_job

from stream_or_queue.durable import DurableRun
from stream_or_queue.jobs import Inbox, Message, report_progress
from stream_or_queue.research import check_question, run_research

INBOX = "capstone"


def notify(job_id, question, result, key):
    """Tell the user the answer is ready: one message per idempotency key."""
    body = f"Your question: {question}\nThe answer is ready: /r/{job_id}"
    message = Message(subject="Your research answer is ready", body=body, job_id=job_id,
                      idempotency_key=key)
    Inbox(INBOX).append(message)


def submit(queue, question):
    """Check the question, enqueue research_job with retries, return the job id."""
    ### BEGIN SOLUTION
    question = check_question(question)
    job = queue.enqueue(research_job, question, retry=Retry(max=3))
    return job.id
    ### END SOLUTION


def research_job(question):
    """Answer `question` durably: checkpoints, progress, one notification."""
    job = get_current_job()
    ### BEGIN SOLUTION
    def progress(event):
        report_progress(event["percent"], event["step"], event["message"])

    with DurableRun.current() as run:
        result = run_research(question, progress=progress, steps=run)
        data = result.as_dict()
        run.once("notify", notify, job.id, question, data, run.key("notify"))
        return data
    ### END SOLUTION
