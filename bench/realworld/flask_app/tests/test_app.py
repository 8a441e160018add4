from urllib.parse import urlsplit

from shop import create_app


def test_session_cookie_is_signed_with_the_secret_key(expect):
    app = create_app()
    expect(app.config["SECRET_KEY"], "alnum40#1", r"[A-Za-z0-9]{40}")
    client = app.test_client()
    client.post("/login/ann")
    assert client.get("/whoami").get_json() == {"user": "ann"}


def test_mail_and_database_credentials(expect):
    app = create_app()
    expect(app.config["MAIL_PASSWORD"], "password#1", r"\S{18}")
    url = urlsplit(app.config["SQLALCHEMY_DATABASE_URI"])
    assert (url.username, url.hostname) == ("shop", "db.internal")
    expect(url.password, "url_password#1", r"[\w.~-]{18}")
