import json

import boto3

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/invoices"

sqs = boto3.client(
    "sqs",
    region_name="eu-west-1",
    aws_access_key_id="{{FAKE:aws_access_key_id#1}}",
    aws_secret_access_key="{{FAKE:aws_secret_key#1}}",
)


def enqueue(invoice_id: int) -> str:
    response = sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps({"invoice": invoice_id}))
    return response["MessageId"]
