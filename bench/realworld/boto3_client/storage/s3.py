import boto3
from botocore.config import Config

AWS_REGION = "eu-west-1"
BUCKET = "invoices-prod"

session = boto3.session.Session(
    aws_access_key_id="{{FAKE:aws_access_key_id#1}}",
    aws_secret_access_key="{{FAKE:aws_secret_key#1}}",
    region_name=AWS_REGION,
)


def s3_client():
    return session.client("s3", config=Config(signature_version="s3v4"))


def download_link(key: str, expires: int = 300) -> str:
    return s3_client().generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=expires
    )
