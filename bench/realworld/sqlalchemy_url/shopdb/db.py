from sqlalchemy import URL, create_engine
from sqlalchemy.orm import sessionmaker

DATABASE_URL = "postgresql+psycopg://shop:{{FAKE:url_password#1}}@db.internal:5432/shop"

engine = create_engine(DATABASE_URL, pool_pre_ping=True)
SessionLocal = sessionmaker(bind=engine)

reporting_url = URL.create(
    "postgresql+psycopg",
    username="reporter",
    password="{{FAKE:password#2}}",
    host="replica.internal",
    database="shop",
)


def cache_url(host: str) -> str:
    return f"redis://:{{FAKE:url_password#3}}@{host}:6379/0"
