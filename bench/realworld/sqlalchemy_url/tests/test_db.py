from shopdb import db
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url


def test_engine_url(expect):
    url = db.engine.url
    assert (url.username, url.host, url.database) == ("shop", "db.internal", "shop")
    expect(url.password, "url_password#1", r"[\w.~-]{18}")


def test_reporting_engine(expect):
    engine = create_engine(db.reporting_url)
    assert engine.url.username == "reporter"
    expect(engine.url.password, "password#2", r"\S{18}")


def test_cache_url(expect):
    url = make_url(db.cache_url("cache.internal"))
    assert url.host == "cache.internal"
    expect(url.password, "url_password#3", r"[\w.~-]{18}")
