from urllib.parse import parse_qs, urlsplit

from botocore.stub import Stubber
from storage import queue, s3


def test_presigned_link_is_signed_with_the_access_key(expect):
    query = parse_qs(urlsplit(s3.download_link("2024/07/inv-1.pdf")).query)
    expect(query["X-Amz-Credential"][0].split("/")[0], "aws_access_key_id#1", r"AKIA[A-Z2-7]{16}")
    assert query["X-Amz-Expires"] == ["300"]


def test_session_credentials(expect):
    creds = s3.session.get_credentials()
    expect(creds.secret_key, "aws_secret_key#1", r"[A-Za-z0-9/+]{40}")


def test_enqueue_uses_the_configured_credentials(expect):
    with Stubber(queue.sqs) as stub:
        stub.add_response("send_message", {"MessageId": "m-1"})
        assert queue.enqueue(7) == "m-1"
    creds = queue.sqs._request_signer._credentials
    expect(creds.access_key, "aws_access_key_id#1", r"AKIA[A-Z2-7]{16}")
    expect(creds.secret_key, "aws_secret_key#1", r"[A-Za-z0-9/+]{40}")
